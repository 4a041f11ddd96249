import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Redis from 'ioredis'
import { freePort, type Teardown } from './server'

/**
 * A private redis-server on a free port, for tests that measure the whole server's command
 * counts or change its configuration: never the shared instance on 6379.
 */
export interface OwnRedis {
  readonly url: string
  readonly port: number
  readonly client: Redis
  /** SIGKILL the server and wait until it is gone (the data dir stays: AOF, if on, survives) */
  kill(): Promise<void>
  /** start it again on the same port, directory and arguments; resolves when it answers PING */
  start(): Promise<void>
  /** SIGSTOP: the process hangs with its sockets open (what a swapping or frozen Redis does) */
  pause(): void
  /** SIGCONT after pause() */
  resume(): void
}

export async function ownRedis(t: Teardown, extraArgs: string[] = []): Promise<OwnRedis> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'seckill-redis-'))
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
    ...extraArgs,
  ]
  let proc: ChildProcess = spawn('redis-server', args, { stdio: 'ignore' })
  const client = new Redis({
    port,
    host: '127.0.0.1',
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => 50,
  })
  // Up once the data set is loaded: a Redis restarted on its AOF answers LOADING until then.
  const answering = async () => {
    const deadline = Date.now() + 10000
    for (;;) {
      try {
        if (client.status === 'wait' || client.status === 'end') await client.connect()
        await client.ping()
        return
      } catch (err) {
        if (Date.now() > deadline)
          throw new Error(`own redis-server on ${port} did not start: ${(err as Error).message}`)
        await new Promise((r) => setTimeout(r, 50))
      }
    }
  }
  await answering()
  const gone = (p: ChildProcess) =>
    p.exitCode !== null || p.signalCode !== null
      ? Promise.resolve()
      : new Promise<void>((r) => p.once('exit', () => r()))
  t.teardown(async () => {
    client.disconnect()
    proc.kill('SIGCONT')
    proc.kill('SIGKILL')
    await gone(proc)
    rmSync(dir, { recursive: true, force: true })
  })
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    client,
    async kill() {
      proc.kill('SIGKILL')
      await gone(proc)
    },
    async start() {
      proc = spawn('redis-server', args, { stdio: 'ignore' })
      await answering()
    },
    pause() {
      proc.kill('SIGSTOP')
    },
    resume() {
      proc.kill('SIGCONT')
    },
  }
}

/** INFO commandstats as {command: calls}. */
export async function commandCalls(client: Redis): Promise<Record<string, number>> {
  const info = await client.info('commandstats')
  const calls: Record<string, number> = {}
  for (const line of info.split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line)
    if (m) calls[m[1]!] = Number(m[2])
  }
  return calls
}
