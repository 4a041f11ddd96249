import t from 'tap'
import { ownRedis } from '../helpers/own-redis'
import { runToExit, startServer } from '../helpers/server'

/**
 * Redis holds orders until PostgreSQL has them, so its persistence is part of I4. The start
 * says plainly what a Redis restart would lose, and refuses when the operator asked for more.
 */

async function sample(port: number, name: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`)
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(await res.text())
  return m ? Number(m[1]) : Number.NaN
}

t.test('on a Redis without AOF the node starts, and says what a restart would lose', async (t) => {
  const redis = await ownRedis(t)
  const srv = await startServer(t, { workers: 1, redisUrl: redis.url })
  t.match(srv.output(), /Redis keeps no AOF: a Redis restart loses sales and orders not yet in/)
  t.equal(await sample(srv.port, 'seckill_redis_aof'), 0, '/metrics: seckill_redis_aof 0')
  const ready = await (await fetch(`http://127.0.0.1:${srv.port}/readyz`)).json()
  t.match(ready, { durability: /^no aof/ }, '/readyz names the weak durability')
})

t.test('REDIS_DURABILITY=aof refuses a Redis without AOF, naming the fix', async (t) => {
  const redis = await ownRedis(t)
  const { code, out } = await runToExit({ REDIS_URL: redis.url, REDIS_DURABILITY: 'aof' })
  t.equal(code, 2, 'exit code 2')
  t.match(out, /REDIS_DURABILITY=aof but Redis runs with appendonly no/)
  t.match(out, /CONFIG SET appendonly yes/)
})

t.test('REDIS_DURABILITY=aof starts on appendfsync everysec', async (t) => {
  const redis = await ownRedis(t, ['--appendonly', 'yes', '--appendfsync', 'everysec'])
  const srv = await startServer(t, {
    workers: 1,
    redisUrl: redis.url,
    env: { REDIS_DURABILITY: 'aof' },
  })
  t.match(srv.output(), /"durability":"aof, appendfsync everysec"/)
  t.notMatch(srv.output(), /keeps no AOF/)
  t.equal(await sample(srv.port, 'seckill_redis_aof'), 1, '/metrics: seckill_redis_aof 1')
  t.equal(await sample(srv.port, 'seckill_redis_fsync_always'), 0)
})

t.test('REDIS_DURABILITY=aof-always refuses everysec and starts on always', async (t) => {
  const everysec = await ownRedis(t, ['--appendonly', 'yes', '--appendfsync', 'everysec'])
  const refused = await runToExit({ REDIS_URL: everysec.url, REDIS_DURABILITY: 'aof-always' })
  t.equal(refused.code, 2)
  t.match(refused.out, /appendfsync everysec: a power loss would lose up to a second of orders/)
  const always = await ownRedis(t, ['--appendonly', 'yes', '--appendfsync', 'always'])
  const srv = await startServer(t, {
    workers: 1,
    redisUrl: always.url,
    env: { REDIS_DURABILITY: 'aof-always' },
  })
  t.equal(await sample(srv.port, 'seckill_redis_fsync_always'), 1)
})
