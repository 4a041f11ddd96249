import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { SERVING } from '../../bench/harness/servers'
import { freePort, launchNode } from '../../bench/harness/spawn'
import { client } from '../helpers/http'
import { DATABASE_URL, freshSchema } from '../helpers/pg'
import { deleteUnder, openRedis } from '../helpers/redis'
import { CLI } from '../helpers/server'

/** Configuration from a JSON file as well as the environment (the environment wins). */
function tempFile(t: { teardown(fn: () => void): void }, content: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'seckill-config-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'seckill.config.json')
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content))
  return file
}

/** `seckill config` with only the variables given (none of this process's SECKILL_ / REDIS_...). */
function seckillConfig(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, 'config', ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    encoding: 'utf8',
    timeout: 20000,
  })
  return { code: r.status, out: r.stdout + r.stderr }
}

t.test('seckill config shows every value with its source, and never a secret', async (t) => {
  const file = tempFile(t, {
    PORT: 3100,
    WORKERS: 3,
    DATABASE_URL: 'postgres://app:db-password@db:5432/shop',
    SECKILL_ADMIN_TOKEN: 'file-token-0123456789abcdef',
  })
  const r = seckillConfig(['--config', file, '--json'], { PORT: '3200' })
  t.equal(r.code, 0, r.out)
  const { file: read, variables: v } = JSON.parse(r.out)
  t.equal(read, file)
  t.same(v.PORT, { value: 3200, source: 'env' }, 'the environment wins over the file')
  t.same(v.WORKERS, { value: 3, source: 'file' })
  t.same(v.BATCH_MAX, { value: 128, source: 'default' })
  t.same(v.DATABASE_URL, { value: 'postgres://app:***@db:5432/shop', source: 'file' })
  t.same(v.SECKILL_ADMIN_TOKEN, { value: '(redacted)', source: 'file' })
  t.notMatch(r.out, /db-password|file-token/, 'no secret in the output')

  const text = seckillConfig(['--config', file])
  t.equal(text.code, 0)
  t.match(text.out, new RegExp(`config file: ${file}`))
  t.match(text.out, /PORT\s+3100\s+\[file\]/, 'a line a person reads')
  const none = seckillConfig([])
  t.match(none.out, /SECKILL_ADMIN_TOKEN\s+\(generated at start\)\s+\[default\]/)
})

t.test('a bad config file stops the command with the variable it names (exit 2)', async (t) => {
  const cases: [string, string[], RegExp][] = [
    ['a typo', ['--config', tempFile(t, { PROT: 1 })], /unknown variable PROT/],
    ['a value out of range', ['--config', tempFile(t, { PORT: 0 })], /PORT must be an integer/],
    ['not JSON', ['--config', tempFile(t, '{PORT')], /not JSON/],
    ['a missing file', ['--config', '/nonexistent/seckill.json'], /not found/],
  ]
  for (const [what, args, message] of cases) {
    const r = seckillConfig(args)
    t.equal(r.code, 2, `${what}: exit 2`)
    t.match(r.out, message, `${what}: says why`)
  }
})

t.test('a node started with --config serves where the file says', async (t) => {
  const redis = openRedis(t)
  const pg = freshSchema(t)
  const port = await freePort()
  const prefix = `t:cfg${port}:`
  t.teardown(() => deleteUnder(redis, prefix))
  const file = tempFile(t, {
    PORT: port,
    HOST: '127.0.0.1',
    WORKERS: 1,
    REDIS_PREFIX: prefix,
    DATABASE_URL,
    PG_SCHEMA: pg.schema,
    SECKILL_ADMIN_TOKEN: 'file-token-0123456789abcdef',
  })
  const node = launchNode('cluster/primary.js', {}, ['--config', file])
  t.teardown(() => node.stop())
  await node.printed(SERVING, 20000)
  t.match(node.output(), /configuration file read/, 'the start says which file it read')
  const http = client(port)
  t.teardown(() => http.close())
  const created = await http.request(
    'POST',
    '/api/v1/sales',
    { id: 'cfg', name: 'cfg', stock: 1 },
    { authorization: 'Bearer file-token-0123456789abcdef' },
  )
  t.equal(created.status, 201, 'the admin token of the file is the token')
  t.equal(await redis.exists(`${prefix}{cfg}:sale`), 1, 'the key prefix of the file is used')
})
