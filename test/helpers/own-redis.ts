import { spawn } from 'node:child_process'
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
}

export async function ownRedis(t: Teardown, extraArgs: string[] = []): Promise<OwnRedis> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'seckill-redis-'))
  const proc = spawn(
    'redis-server',
    [
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
    ],
    { stdio: 'ignore' },
  )
  const client = new Redis({
    port,
    host: '127.0.0.1',
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => 50,
  })
  const deadline = Date.now() + 5000
  for (;;) {
    try {
      await client.connect()
      await client.ping()
      break
    } catch (err) {
      if (Date.now() > deadline)
        throw new Error(`own redis-server on ${port} did not start: ${(err as Error).message}`)
      client.disconnect()
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  t.teardown(async () => {
    client.disconnect()
    proc.kill('SIGKILL')
    await new Promise((r) => proc.once('exit', r))
    rmSync(dir, { recursive: true, force: true })
  })
  return { url: `redis://127.0.0.1:${port}`, port, client }
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
