import t, { type Test } from 'tap'
import { Buyers, checkAtRest } from '../helpers/live-sale'
import { type OwnPg, ownPg } from '../helpers/own-pg'
import { type OwnRedis, ownRedis } from '../helpers/own-redis'
import { freshSchema } from '../helpers/pg'
import { type Server, startServer } from '../helpers/server'

/**
 * The fault suite (issue: no lost order under faults). Each fault is injected FAULT_REPEAT times
 * (default 5) into one live sale on a private Redis with AOF (and, for the PostgreSQL fault, a
 * private PostgreSQL), with buyers asking all along; then, without restarting the node (except
 * where the node itself is the fault), every order a buyer was told about must reach PostgreSQL
 * exactly once within a bounded time, nothing is oversold, nobody refused has an order, and the
 * sale's GET agrees with PostgreSQL. `bash bench/faults.sh` runs it with more repetitions.
 */
// Three times each in `npm test`: the whole CI must stay under 15 minutes, and each repetition of
// the 3 s stop or the PostgreSQL restart costs seconds; bench/faults.sh repeats each 10 times.
const REPEAT = Number(process.env.FAULT_REPEAT ?? 3)
// The 40 s stop costs 40 s a time: once in CI, more from the script.
const LONG_STOP_REPEAT = Number(process.env.FAULT_LONG_STOP_REPEAT ?? 1)
// The whole file runs several minutes (the 40 s stop alone is 45 s): past the default 120 s.
t.setTimeout(15 * 60_000)
const STOCK = 1_000_000
const PARK_TIMEOUT_MS = 2000
const PURCHASE_TIMEOUT_MS = 500
// The longest a buyer may wait for an answer while Redis hangs: a parked attempt's wait for
// quota, then its batch's wait for Redis, and slack for a 2-core machine under load.
const ANSWER_BOUND_MS = PARK_TIMEOUT_MS + PURCHASE_TIMEOUT_MS + 1500

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

interface Rig {
  srv: Server
  env: Record<string, string>
  redis: OwnRedis
  pg: OwnPg | null
  buyers: Buyers
}

interface Fault {
  readonly name: string
  readonly repeat: number
  /** a private PostgreSQL (the fault stops it) */
  readonly ownPg?: boolean
  /** the fault cuts connections: some buyers get no answer, which is allowed */
  readonly drops?: boolean
  /** inject the fault once and end it; may replace rig.srv (a restarted node) */
  inject(rig: Rig, t: Test): Promise<void>
}

/** Kill the Redis connections whose client name starts with `name` (CLIENT LIST / KILL ID). */
async function killClients(r: OwnRedis, name: string): Promise<number> {
  const list = (await r.client.client('LIST')) as string
  let n = 0
  for (const line of list.split('\n')) {
    const id = /\bid=(\d+)/.exec(line)?.[1]
    const cname = /\bname=(\S*)/.exec(line)?.[1] ?? ''
    if (id && cname.startsWith(name)) n += Number(await r.client.client('KILL', 'ID', id))
  }
  return n
}

const faults: Fault[] = [
  {
    name: "the order writer's Redis connection is killed",
    repeat: REPEAT,
    async inject(rig, t) {
      const n = await killClients(rig.redis, 'seckill-writer-')
      t.ok(n >= 1, `killed ${n} writer connection(s)`)
    },
  },
  {
    name: 'every Redis client connection is killed',
    repeat: REPEAT,
    async inject(rig, t) {
      const n = Number(await rig.redis.client.client('KILL', 'TYPE', 'normal', 'SKIPME', 'yes'))
      t.ok(n >= 4, `killed ${n} connections (primary, writer, workers)`)
    },
  },
  {
    name: 'Redis is killed with SIGKILL and restarted on its AOF',
    repeat: REPEAT,
    async inject(rig) {
      await rig.redis.kill()
      await sleep(300)
      await rig.redis.start()
    },
  },
  {
    name: 'Redis is stopped for 3 s',
    repeat: REPEAT,
    async inject(rig) {
      rig.redis.pause()
      await sleep(3000)
      rig.redis.resume()
    },
  },
  {
    name: 'Redis is stopped for 40 s',
    repeat: LONG_STOP_REPEAT,
    async inject(rig) {
      rig.redis.pause()
      await sleep(40000)
      rig.redis.resume()
    },
  },
  {
    name: 'PostgreSQL is stopped and started again',
    repeat: REPEAT,
    ownPg: true,
    async inject(rig) {
      await rig.pg!.stop()
      await sleep(1000)
      await rig.pg!.start()
    },
  },
  {
    name: 'a worker is killed with SIGKILL',
    repeat: REPEAT,
    drops: true,
    async inject(rig, t) {
      const killed = rig.srv.workers()[0]!
      process.kill(killed, 'SIGKILL')
      // Until the killed pid is gone too: pgrep still lists it while it is a zombie not yet reaped.
      const replaced = () => {
        const now = rig.srv.workers()
        return now.length === 2 && !now.includes(killed)
      }
      for (let i = 0; i < 100 && !replaced(); i++) await sleep(50)
      t.ok(replaced(), 'the primary replaced the killed worker')
    },
  },
  {
    name: 'the whole node is killed with SIGKILL and started again',
    repeat: REPEAT,
    drops: true,
    async inject(rig, t) {
      const old = rig.srv
      for (const pid of old.workers()) process.kill(pid, 'SIGKILL')
      process.kill(old.proc.pid!, 'SIGKILL')
      await old.stop()
      rig.srv = await startServer(t, {
        workers: 2,
        redisUrl: rig.redis.url,
        port: old.port,
        prefix: old.prefix,
        pg: old.pg,
        env: rig.env,
      })
    },
  },
]

for (const f of faults) {
  t.test(`${f.name}, ${f.repeat} times in a live sale: no order lost`, async (t) => {
    const redis = await ownRedis(t, ['--appendonly', 'yes', '--appendfsync', 'everysec'])
    const pg = f.ownPg ? await ownPg(t) : null
    const env: Record<string, string> = {
      PARK_TIMEOUT_MS: String(PARK_TIMEOUT_MS),
      PURCHASE_TIMEOUT_MS: String(PURCHASE_TIMEOUT_MS),
      ...(pg ? { DATABASE_URL: pg.url } : {}),
    }
    const srv = await startServer(t, {
      workers: 2,
      redisUrl: redis.url,
      env,
      ...(pg ? { pg: freshSchema(t, pg.url) } : {}),
    })
    await srv.sale('live', { stock: STOCK, perUserLimit: 1 })
    const buyers = new Buyers({ port: srv.port, saleId: 'live' })
    const rig: Rig = { srv, env, redis, pg, buyers }
    buyers.start()
    await sleep(500)
    for (let i = 0; i < f.repeat; i++) {
      await f.inject(rig, t)
      await sleep(800)
    }
    const lastFaultEnded = Date.now()
    await sleep(700)
    await buyers.stop()

    const a = buyers.answers
    t.comment(
      `${a.length} attempts: ${buyers.count('won')} won, ${buyers.count('unknown')} unknown, ` +
        `${buyers.count('unavailable')} unavailable, ${buyers.count('refused')} refused, ` +
        `${buyers.count('dropped')} without an answer`,
    )
    const refusals = new Map<string, number>()
    for (const x of a)
      if (x.told === 'refused') refusals.set(x.body, (refusals.get(x.body) ?? 0) + 1)
    if (refusals.size > 0) t.comment(`refusals: ${JSON.stringify([...refusals])}`)
    const wonAfter = a.filter((x) => x.told === 'won' && x.at >= lastFaultEnded).length
    t.ok(wonAfter > 0, `the sale went on by itself after the last fault (${wonAfter} won since)`)
    if (!f.drops) {
      t.equal(buyers.count('dropped'), 0, 'every buyer got an answer')
      // A loop, not Math.max(...): a long stop leaves hundreds of thousands of answers.
      const slowest = a.reduce((m, x) => (x.ms > m ? x.ms : m), 0)
      t.ok(slowest <= ANSWER_BOUND_MS, `within ${ANSWER_BOUND_MS} ms (slowest ${slowest} ms)`)
    }
    t.equal(buyers.count('refused'), 0, 'nobody was refused: the sale never sold out or closed')
    await checkAtRest(
      t,
      { port: rig.srv.port, prefix: rig.srv.prefix, redis: rig.srv.redis, pg: rig.srv.pg.pool },
      'live',
      buyers,
      STOCK,
    )
    // The sale goes on after the fault: a new buyer still wins.
    const after = await rig.srv.http.request('POST', '/api/v1/sales/live/orders', {
      userId: 'after-the-faults',
    })
    t.equal(after.status, 201, 'a buyer after the faults wins')
    if (!t.passing()) t.comment(rig.srv.output().slice(-6000))
  })
}
