import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { until } from '../../bench/harness/poll'
import { freePort, launchNode } from '../../bench/harness/spawn'
import { DATABASE_URL, freshSchema } from '../helpers/pg'
import { deleteUnder, openRedis } from '../helpers/redis'
import { childPids } from '../helpers/server'

/** Logs for people (one start line, readable lines) and for machines (JSON, a file logrotate can move). */
const HUMAN = 'serving on http://'

/** The files under `dir` that process `pid` holds open (its log file, by path). */
function openUnder(pid: number, dir: string): string[] {
  const fds = `/proc/${pid}/fd`
  return readdirSync(fds)
    .map((fd) => {
      try {
        return readlinkSync(join(fds, fd))
      } catch {
        return ''
      }
    })
    .filter((path) => path.startsWith(dir))
}

async function node(t: Test, env: Record<string, string>) {
  const redis = openRedis(t)
  const pg = freshSchema(t)
  const port = await freePort()
  const prefix = `t:log${port}:`
  t.teardown(() => deleteUnder(redis, prefix))
  const n = launchNode('cluster/primary.js', {
    PORT: String(port),
    HOST: '127.0.0.1',
    WORKERS: '2',
    REDIS_PREFIX: prefix,
    DATABASE_URL,
    PG_SCHEMA: pg.schema,
    SECKILL_ADMIN_TOKEN: '',
    ...env,
  })
  t.teardown(() => n.stop())
  await n.printed(HUMAN, 20000)
  return { n, port }
}

t.test('a node says once, in words, where it serves and the token it generated', async (t) => {
  const { n, port } = await node(t, { LOG_FORMAT: 'json' })
  const out = n.output()
  t.match(out, new RegExp(`seckill: serving on http://127\\.0\\.0\\.1:${port} with 2 workers`))
  const token = /seckill: admin token, generated for this run: (\S+)/.exec(out)?.[1]
  t.ok(token && token.length >= 16, 'the generated token, on a line of its own')
  t.equal(out.split(HUMAN).length, 2, 'the start line is written once')
  // The JSON line goes through pino's own stream: it may reach the pipe just after the start line.
  await n.printed('"msg":"seckill is serving"', 5000)
  t.match(n.output(), /^\{"level":30,.*"msg":"seckill is serving"/m, 'and JSON lines for machines')
})

t.test('LOG_FORMAT=pretty: readable lines, no JSON', async (t) => {
  const { n } = await node(t, { LOG_FORMAT: 'pretty', SECKILL_ADMIN_TOKEN: 'x'.repeat(20) })
  // The pretty printer runs in a thread: its lines may follow the start line by a moment.
  await until(() => /INFO.*seckill is serving/.test(n.output()), { timeoutMs: 5000 })
  t.match(n.output(), /INFO.*seckill is serving/, 'a level word and the message on one line')
  t.notMatch(n.output(), /^\{"level"/m, 'no JSON line')
  t.notMatch(n.output(), /admin token, generated/, 'a configured token is never printed')
})

t.test(
  'LOG_FILE: JSON lines in the file, reopened on SIGUSR2 after logrotate moved it',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'seckill-logs-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const file = join(dir, 'seckill.log')
    const { n } = await node(t, { LOG_FILE: file, LOG_LEVEL: 'info' })
    await until(() => existsSync(file) && /seckill is serving/.test(readFileSync(file, 'utf8')), {
      timeoutMs: 5000,
    })
    t.match(readFileSync(file, 'utf8'), /"msg":"seckill is serving"/, 'the log is in the file')
    t.notMatch(n.output(), /"msg":"seckill is serving"/, 'not on stdout')
    const pids = [n.proc.pid!, ...childPids(n.proc.pid!)]
    t.equal(pids.length, 3, 'the primary and its 2 workers')
    for (const pid of pids) t.same(openUnder(pid, dir), [file], `pid ${pid} writes the log file`)
    renameSync(file, `${file}.1`)
    n.proc.kill('SIGUSR2')
    const reopened = () => pids.every((pid) => openUnder(pid, dir).join() === file)
    await until(reopened, { timeoutMs: 5000 })
    for (const pid of pids) {
      t.same(openUnder(pid, dir), [file], `pid ${pid} reopened the log file at its path`)
    }
    t.same(childPids(n.proc.pid!), pids.slice(1), 'the workers took SIGUSR2 and live on')
    await n.stop()
    t.match(readFileSync(file, 'utf8'), /stopping: workers drain/, 'later lines go to the new file')
    t.notMatch(readFileSync(`${file}.1`, 'utf8'), /stopping/, 'none to the moved one')
  },
)
