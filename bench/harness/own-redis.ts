import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Redis from 'ioredis'
import { waitFor } from './poll'
import { type Child, freePort, launch } from './spawn'
import type { Teardown } from './teardown'

/**
 * A private redis-server on a free port, for tests that measure the whole server's command
 * counts or change its configuration (never the shared instance on 6379), and for a benchmark
 * in a network namespace of its own, where the machine's Redis cannot be reached.
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
  let server: Child = launch('redis-server', args)
  const client = new Redis({
    port,
    host: '127.0.0.1',
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => 50,
  })
  // Refused connections are expected while the server starts (and after kill()); answering()
  // says when it does not come up. Without a listener ioredis prints each one to stderr.
  client.on('error', () => {})
  // Up once the data set is loaded: a Redis restarted on its AOF answers LOADING until then.
  const answering = () =>
    waitFor(
      `own redis-server on ${port} to answer PING`,
      async () => {
        if (client.status === 'wait' || client.status === 'end') await client.connect()
        return (await client.ping()) === 'PONG'
      },
      10_000,
    )
  t.teardown(async () => {
    client.disconnect()
    server.proc.kill('SIGCONT')
    await server.stop('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })
  await answering()
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    client,
    async kill() {
      await server.stop('SIGKILL')
    },
    async start() {
      server = launch('redis-server', args)
      await answering()
    },
    pause() {
      server.proc.kill('SIGSTOP')
    },
    resume() {
      server.proc.kill('SIGCONT')
    },
  }
}
