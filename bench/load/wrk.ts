import { spawn, spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { ROOT } from '../harness/spawn'
import type { LoadResult, LoadSpec } from './load-spec'
import { timeBar } from './progress'

/**
 * wrk as the load generator: a C event loop costs far less CPU than autocannon on a machine
 * whose two cores the servers and Redis also need. Counted runs (`amount`) use the script's
 * per-thread quota and an interrupt once every thread has its share (see bench/load/wrk.lua).
 */
const SCRIPT = join(ROOT, 'bench', 'load', 'wrk.lua')
// wrk needs a -d even in a counted run; the run ends long before this unless requests are lost.
const COUNTED_RUN_CAP_S = 600

export function wrkInstalled(): boolean {
  return spawnSync('wrk', ['--version']).error === undefined
}

interface WrkSummary {
  requests: number
  durationUs: number
  connect: number
  read: number
  write: number
  status: number
  timeout: number
  p50: number
  p90: number
  p99: number
  p999: number
  max: number
  mean: number
  statuses: Record<string, number> | null
  wins: number | null
}

/** The `wrk-result` line of wrk.lua's done(), as a LoadResult (latencies µs → ms). */
export function parseWrkOutput(out: string, close: boolean): LoadResult {
  const line = out.split('\n').find((l) => l.startsWith('wrk-result '))
  if (!line) throw new Error(`wrk printed no result line:\n${out}`)
  const s = JSON.parse(line.slice('wrk-result '.length)) as WrkSummary
  const seconds = s.durationUs / 1e6
  // wrk counts a server's close after a response as a read error; with `close` every request
  // ends that way, so those are the expected closes, not errors.
  return {
    tool: 'wrk',
    requests: s.requests,
    seconds,
    reqPerSec: s.requests / seconds,
    latency: {
      p50: s.p50 / 1000,
      p90: s.p90 / 1000,
      p99: s.p99 / 1000,
      p999: s.p999 / 1000,
      max: s.max / 1000,
      mean: s.mean / 1000,
    },
    coCorrected: false,
    statuses: s.statuses,
    wins: s.wins,
    non2xx: s.status,
    errors: s.connect + s.write + s.timeout + (close ? 0 : s.read),
    closes: close ? s.read : 0,
  }
}

export function runWrk(spec: LoadSpec, threads: number): Promise<LoadResult> {
  if (spec.rate !== undefined) throw new Error('wrk has no fixed-rate mode; use open-loop')
  const connections = Math.max(spec.connections, threads)
  const seconds = spec.amount ? COUNTED_RUN_CAP_S : (spec.duration ?? 10)
  const args = ['-t', String(threads), '-c', String(connections), '-d', `${seconds}s`]
  args.push('--timeout', '10s', '-s', SCRIPT)
  if (spec.close) args.push('-H', 'Connection: close')
  // The path goes to the script, not the URL: wrk's URL parser refuses the [<id>] placeholder.
  args.push(spec.origin)
  const proc = spawn('wrk', args, {
    env: {
      ...process.env,
      WRK_METHOD: spec.method,
      WRK_PATH: spec.path,
      WRK_BODY: spec.body ?? '',
      WRK_DISTINCT: spec.distinctUsers ? '1' : '0',
      WRK_AMOUNT: String(spec.amount ?? 0),
      WRK_THREADS: String(threads),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const stopBar = timeBar(spec.label, spec.amount ? null : seconds)
  let out = ''
  let finished = 0
  proc.stdout.on('data', (d: Buffer) => {
    out += d
    // Count thread completions as they arrive; one interrupt once all threads are done.
    const now = out.split('wrk-thread-done').length - 1
    if (now === threads && finished < threads) proc.kill('SIGINT')
    finished = now
  })
  proc.stderr.on('data', (d: Buffer) => {
    out += d
  })
  return new Promise((resolve, reject) => {
    proc.once('error', (err) => {
      stopBar()
      reject(err)
    })
    proc.once('exit', (code) => {
      stopBar()
      if (code !== 0) return reject(new Error(`wrk exited ${code}: ${out}`))
      try {
        resolve(parseWrkOutput(out, spec.close === true))
      } catch (err) {
        reject(err)
      }
    })
  })
}
