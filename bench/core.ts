import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import Redis from 'ioredis'

/**
 * The core engine's numbers, measured against a bare uWS server in the same run:
 *   refuse  - keep-alive GET /buy/ticket on a sold-out sale (the common case of a rush)
 *   sell    - keep-alive GET /buy/ticket where every request wins (huge stock, anonymous),
 *             once with the Piscina thread (RESERVE_MODE=piscina) and once inline
 * Load generator: autocannon, in this process, on the same cores as the servers.
 *
 *   npm run bench:core -- [--duration 10] [--connections 100] [--workers 2]
 */
const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '100' },
    workers: { type: 'string', default: '2' },
    redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
  },
})
const DURATION = Number(args.duration)
const CONNECTIONS = Number(args.connections)
const WORKERS = Number(args.workers)
const ROOT = join(__dirname, '..', '..')
const TOKEN = 'bench-admin-token-0123456789'
const PORT = 3071

interface Row {
  scenario: string
  reqPerSec: number
  p50: number
  p99: number
  non2xx: number
  errors: number
  note: string
}

function start(
  script: string,
  env: Record<string, string>,
  readyText: string,
): Promise<ChildProcess> {
  const proc = spawn(process.execPath, [join(ROOT, 'dist', script)], {
    env: {
      ...process.env,
      PORT: String(PORT),
      HOST: '127.0.0.1',
      WORKERS: String(WORKERS),
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d
      if (out.includes(readyText)) resolve(proc)
    }
    proc.stdout?.on('data', onData)
    proc.stderr?.on('data', onData)
    proc.once('exit', (code) => reject(new Error(`${script} exited ${code}: ${out}`)))
  })
}

async function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null) return
  proc.removeAllListeners('exit')
  const exited = new Promise((r) => proc.once('exit', r))
  proc.kill('SIGTERM')
  await exited
}

async function load(path: string): Promise<autocannon.Result> {
  return autocannon({
    url: `http://127.0.0.1:${PORT}${path}`,
    connections: CONNECTIONS,
    duration: DURATION,
  })
}

function row(scenario: string, r: autocannon.Result, note = ''): Row {
  return {
    scenario,
    reqPerSec: Math.round(r.requests.average),
    p50: r.latency.p50,
    p99: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors + r.timeouts,
    note,
  }
}

async function admin(method: string, path: string, body?: unknown): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${PORT}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`)
}

async function batchNote(): Promise<string> {
  const text = await (await fetch(`http://127.0.0.1:${PORT}/metrics`)).text()
  const count = Number(/seckill_batch_size_count (\d+)/.exec(text)?.[1] ?? 0)
  const sum = Number(/seckill_batch_size_sum (\d+)/.exec(text)?.[1] ?? 0)
  const buckets = [...text.matchAll(/seckill_batch_size_bucket\{le="([^"]+)"\} (\d+)/g)].map(
    ([, le, n]) => [le, Number(n)] as const,
  )
  // The smallest bucket holding half the batches: a median batch size bound.
  const median = buckets.find(([, n]) => n >= count / 2)?.[0] ?? '?'
  return `${count} batches, mean ${(sum / Math.max(1, count)).toFixed(1)} attempts, median <= ${median}`
}

async function seckill(
  redisPrefix: string,
  env: Record<string, string>,
  scenario: (p: ChildProcess) => Promise<Row>,
): Promise<Row> {
  const proc = await start(
    'cluster/primary.js',
    { REDIS_URL: args.redis!, REDIS_PREFIX: redisPrefix, SECKILL_ADMIN_TOKEN: TOKEN, ...env },
    'seckill is serving',
  )
  try {
    return await scenario(proc)
  } finally {
    await stop(proc)
  }
}

async function main(): Promise<void> {
  const step = (s: string) => process.stderr.write(`bench: ${s}\n`)
  const redis = new Redis(args.redis!)
  const prefix = `bench:${randomBytes(4).toString('hex')}:`
  const rows: Row[] = []
  try {
    step('baseline')
    const bare = await start('bench/bare-uws.js', {}, 'bare uWS serving')
    rows.push(row('bare uWS (baseline)', await load('/buy/ticket')))
    await stop(bare)
    step('refuse')

    rows.push(
      await seckill(`${prefix}r:`, {}, async () => {
        await admin('POST', '/api/v1/sales', { id: 'gone', name: 'gone', stock: 1 })
        await admin('POST', '/api/v1/sales/gone/start')
        await fetch(`http://127.0.0.1:${PORT}/buy/ticket`)
        await new Promise((r) => setTimeout(r, 300))
        return row('refuse (sold out)', await load('/buy/ticket'))
      }),
    )
    for (const mode of ['piscina', 'inline'] as const) {
      step(`sell ${mode}`)
      rows.push(
        await seckill(`${prefix}${mode}:`, { RESERVE_MODE: mode }, async () => {
          await admin('POST', '/api/v1/sales', { id: 'big', name: 'big', stock: 1e9 })
          await admin('POST', '/api/v1/sales/big/start')
          const r = await load('/buy/ticket')
          return row(`sell (${mode})`, r, await batchNote())
        }),
      )
    }
  } finally {
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
      if (keys.length) await redis.del(...keys)
      cursor = next
    } while (cursor !== '0')
    redis.disconnect()
  }

  const base = rows[0]!.reqPerSec
  console.log(
    `\nseckill core benchmark: ${availableParallelism()} cores, ${WORKERS} workers, autocannon ` +
      `${CONNECTIONS} connections x ${DURATION} s, keep-alive, GET /buy/ticket\n`,
  )
  console.table(
    rows.map((r) => ({
      scenario: r.scenario,
      'req/s': r.reqPerSec,
      'x baseline': (r.reqPerSec / base).toFixed(2),
      'p50 ms': r.p50,
      'p99 ms': r.p99,
      non2xx: r.non2xx,
      errors: r.errors,
      batches: r.note,
    })),
  )
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
