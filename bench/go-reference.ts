import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Redis from 'ioredis'
import { launch, ROOT } from './harness/spawn'

/**
 * The Go reference server (bench/go-reference/main.go, the 12306 article's design) as the
 * runner's target: built once with Debian's Go and redigo, started per scenario with the
 * scenario's stock, its own Redis key and log file, and stopped after.
 */
const BINARY = join(ROOT, 'dist', 'go-reference')
const GOPATH = '/usr/share/gocode'
export const GO_REFERENCE = 'Go reference (bench/go-reference)'
/** It starts in milliseconds; the bound only turns a hang into an error. */
const READY_MS = 20_000

/** Build the binary; an error message fit to print when Go or redigo is missing. */
export function buildGoReference(): string | null {
  const r = spawnSync('go', ['build', '-o', BINARY, './bench/go-reference'], {
    cwd: ROOT,
    env: { ...process.env, GO111MODULE: 'off', GOPATH },
    encoding: 'utf8',
  })
  if (r.error)
    return 'go is not installed (apt-get install golang-go golang-github-gomodule-redigo-dev)'
  if (r.status !== 0)
    return `building bench/go-reference failed (is golang-github-gomodule-redigo-dev installed?):\n${r.stderr}`
  return null
}

export interface GoReference {
  readonly origin: string
  /** the unified stock's sold counter in Redis */
  sold(): Promise<number>
  close(): Promise<void>
}

export async function startGoReference(
  port: number,
  redisUrl: string,
  stock: number,
): Promise<GoReference> {
  const tag = randomBytes(4).toString('hex')
  const key = `bench:${tag}:ticket_hash_key`
  const logFile = join(tmpdir(), `go-reference-${tag}.log`)
  const url = new URL(redisUrl)
  const args = [
    '-host',
    '127.0.0.1',
    '-port',
    String(port),
    '-redis',
    `${url.hostname}:${url.port || 6379}`,
  ]
  // Local and unified stock both the scenario's: one node, as seckill runs one node.
  args.push('-key', key, '-local-stock', String(stock), '-total', String(stock), '-log', logFile)
  const go = launch(BINARY, args)
  await go.printed('go-reference serving', READY_MS)
  const redis = new Redis(redisUrl)
  return {
    origin: `http://127.0.0.1:${port}`,
    sold: async () => Number(await redis.hget(key, 'ticket_sold_nums')),
    async close() {
      await go.stop()
      await redis.del(key)
      redis.disconnect()
      rmSync(logFile, { force: true })
    },
  }
}
