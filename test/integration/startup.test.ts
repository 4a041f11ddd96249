import t from 'tap'
import { ownRedis } from '../helpers/own-redis'
import { freePort, runToExit, startServer } from '../helpers/server'

t.test(
  'the server refuses to start on a Redis that may evict keys, and says how to fix it',
  async (t) => {
    const redis = await ownRedis(t, ['--maxmemory-policy', 'allkeys-lru'])
    const { code, out } = await runToExit({ REDIS_URL: redis.url })
    t.not(code, 0, 'non-zero exit')
    t.match(out, /maxmemory-policy is "allkeys-lru"; seckill needs "noeviction"/)
    t.match(out, /CONFIG SET maxmemory-policy noeviction/)
  },
)

t.test('an unreachable Redis stops the start with a message that says what to do', async (t) => {
  const port = await freePort()
  const { code, out } = await runToExit({ REDIS_URL: `redis://127.0.0.1:${port}` })
  t.not(code, 0)
  t.match(out, new RegExp(`Redis is not reachable at redis://127.0.0.1:${port}`))
  t.match(out, /set REDIS_URL/)
  t.match(
    out,
    new RegExp(`Start Redis on 127\\.0\\.0\\.1:${port} \\(redis-server --port ${port}\\)`),
    "the start hint names the URL's host and port",
  )
  t.notMatch(out, /\b6379\b/, 'not the default port')
})

t.test('bad configuration stops the start naming the variable and its range', async (t) => {
  const { code, out } = await runToExit({
    PORT: 'abc',
    BATCH_MAX: '5000',
    SECKILL_ADMIN_TOKEN: 'short',
  })
  t.equal(code, 2)
  t.match(out, /PORT: PORT must be an integer in 1\.\.65535/)
  t.match(out, /BATCH_MAX: BATCH_MAX must be an integer in 1\.\.1000/)
  t.match(out, /SECKILL_ADMIN_TOKEN must be at least 16 characters/)
})

t.test(
  'SIGTERM lets an attempt already collected in a batch get its answer, then exits 0',
  async (t) => {
    // A 100 ms batch window holds the attempt in the worker while the signal arrives.
    const srv = await startServer(t, { workers: 1, env: { BATCH_WINDOW_US: '100000' } })
    await srv.sale('last', { stock: 5 })
    const pending = srv.http.request('POST', '/api/v1/sales/last/orders', { userId: 'late' })
    await new Promise((r) => setTimeout(r, 30))
    const exit = srv.stop('SIGTERM')
    const reply = await pending
    t.equal(reply.status, 201, 'the in-flight purchase was answered')
    t.equal(await exit, 0, 'clean exit')
    t.equal((await srv.state('last')).orders, 1)
  },
)

t.test(
  'the server refuses to start when PostgreSQL is unreachable, and says how to fix it',
  async (t) => {
    // A free port: nothing listens there, so the connection is refused at once.
    const port = await freePort()
    const { code, out } = await runToExit({
      DATABASE_URL: `postgres://seckill:hunter2secret@127.0.0.1:${port}/shop`,
    })
    t.not(code, 0, 'non-zero exit')
    t.not(code, null, 'it exited by itself, not by the 15 s kill')
    t.match(
      out,
      new RegExp(
        `PostgreSQL is not reachable at postgres://seckill:\\*\\*\\*@127\\.0\\.0\\.1:${port}/shop`,
      ),
      'names PostgreSQL and where it looked',
    )
    t.match(out, /Start it or set DATABASE_URL/, 'says what to do')
    t.notMatch(out, /hunter2secret/, 'never prints the password')
    t.notMatch(out, /seckill is serving/, 'never served')
  },
)
