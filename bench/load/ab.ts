import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { nginxInstalled } from '../harness/nginx'
import type { LoadResult, LoadSpec } from './load-spec'

/**
 * ApacheBench as the load generator of the `ab` scenarios: the 12306 article's own command,
 * `ab -n N -c C <url>` (`-k` only in `ab-k`). ab speaks HTTP/1.0 only, which uWebSockets.js does
 * not answer, so the runner points it at nginx in front of each server. ab reads no bodies: it
 * tells answers apart only by their length.
 */
// ab's own per-response timeout (-s) is 30 s; a counted run that hangs this long has lost requests.
const RUN_CAP_MS = 600_000

export function abInstalled(): boolean {
  return spawnSync('ab', ['-V']).error === undefined
}

/** Why the ab scenarios cannot run here, naming the Debian packages; null when they can. */
export function abToolsMissing(): string | null {
  const absent = [
    ...(abInstalled() ? [] : ['ab (apt-get install apache2-utils)']),
    ...(nginxInstalled() ? [] : ['nginx (apt-get install nginx-light)']),
  ]
  return absent.length === 0
    ? null
    : `the ab scenarios run ApacheBench through nginx; not installed: ${absent.join(', ')}`
}

/** ab's own summary, as it prints it: what a benchmarker compares with the article's figure. */
export interface AbSummary {
  /** the command line, as run (`-e` only adds the CSV of percentiles; it changes no request) */
  readonly command: string
  readonly complete: number
  /** ab's "Failed requests" ... */
  readonly failed: number
  /** ... by kind. `length`: bodies of another length than the first answer's, not errors */
  readonly failedBy: {
    readonly connect: number
    readonly receive: number
    readonly length: number
    readonly exceptions: number
  }
  readonly writeErrors: number
  readonly non2xx: number
  /** answers on a kept connection (-k); 0 without */
  readonly keepAlive: number
  /** bytes of the first answer's body, against which ab counts the Length failures */
  readonly documentLength: number
  readonly requestsPerSecond: number
  /** ms, "Time per request (mean)": concurrency × time taken / complete */
  readonly timePerRequest: number
  /** ms, "(mean, across all concurrent requests)": time taken / complete */
  readonly timePerRequestAcross: number
  /** "Percentage of the requests served within a certain time": percent → whole ms */
  readonly served: Readonly<Record<string, number>>
  /** everything ab printed on stdout, to hold beside the article's */
  readonly output: string
}

export interface AbResult extends LoadResult {
  readonly ab: AbSummary
}

export function isAb(r: LoadResult): r is AbResult {
  return r.tool === 'ab' && 'ab' in r
}

function field(out: string, label: string): number | null {
  const m = new RegExp(`^${label}:\\s+([\\d.]+)`, 'm').exec(out)
  return m ? Number(m[1]) : null
}

function required(out: string, label: string): number {
  const n = field(out, label)
  if (n === null) throw new Error(`ab printed no "${label}":\n${out}`)
  return n
}

/** `-e`'s CSV: percent served (0..100) → ms, to the microsecond. */
function percentiles(csv: string): Map<number, number> {
  const at = new Map<number, number>()
  for (const line of csv.split('\n')) {
    const m = /^(\d+),([\d.]+)$/.exec(line.trim())
    if (m) at.set(Number(m[1]), Number(m[2]))
  }
  return at
}

/**
 * ab's text output and its `-e` CSV as a LoadResult. The latencies come from the CSV (its
 * percentiles to the microsecond; the printed table rounds to whole ms); ab has no p99.9, so that
 * one is null. The mean is ab's "Time per request (mean)".
 */
export function parseAbOutput(out: string, csv: string, command: string): AbResult {
  const complete = required(out, 'Complete requests')
  const failed = required(out, 'Failed requests')
  const by = /\(Connect: (\d+), Receive: (\d+), Length: (\d+), Exceptions: (\d+)\)/.exec(out)
  if (failed > 0 && !by) throw new Error(`ab counted ${failed} failed requests but not by kind`)
  const failedBy = {
    connect: Number(by?.[1] ?? 0),
    receive: Number(by?.[2] ?? 0),
    length: Number(by?.[3] ?? 0),
    exceptions: Number(by?.[4] ?? 0),
  }
  const served: Record<string, number> = {}
  for (const m of out.matchAll(/^\s+(\d+)%\s+(\d+)/gm)) served[m[1]!] = Number(m[2])
  const at = percentiles(csv)
  const p = (percent: number) => {
    const ms = at.get(percent)
    if (ms === undefined) throw new Error(`ab's percentile CSV has no ${percent} %:\n${csv}`)
    return ms
  }
  const ab: AbSummary = {
    command,
    complete,
    failed,
    failedBy,
    writeErrors: field(out, 'Write errors') ?? 0,
    non2xx: field(out, 'Non-2xx responses') ?? 0,
    keepAlive: field(out, 'Keep-Alive requests') ?? 0,
    documentLength: required(out, 'Document Length'),
    requestsPerSecond: required(out, 'Requests per second'),
    timePerRequest: required(out, 'Time per request'),
    timePerRequestAcross: Number(
      /^Time per request:\s+([\d.]+) \[ms\] \(mean, across/m.exec(out)?.[1] ?? Number.NaN,
    ),
    served,
    output: out,
  }
  // Length "failures" are answers, only of another length (a sale beside refusals); the others
  // are requests that got no answer.
  const unanswered = failedBy.connect + failedBy.receive + failedBy.exceptions
  return {
    tool: 'ab',
    requests: complete - unanswered,
    seconds: required(out, 'Time taken for tests'),
    reqPerSec: ab.requestsPerSecond,
    latency: {
      p50: p(50),
      p90: p(90),
      p99: p(99),
      p999: null,
      max: p(100),
      mean: ab.timePerRequest,
    },
    coCorrected: false,
    // ab counts the answers that are not 2xx, not each status
    statuses: null,
    wins: null,
    non2xx: ab.non2xx,
    errors: unanswered + ab.writeErrors,
    closes: null,
    ab,
  }
}

/** `ab -n amount -c connections [-k] <origin><path>`: `close` false is ab's -k. */
export function runAb(spec: LoadSpec): Promise<AbResult> {
  if (spec.amount === undefined) throw new Error('ab runs a count of requests (-n), not a duration')
  if (spec.method !== 'GET' || spec.body !== undefined || spec.distinctUsers)
    throw new Error('ab here sends one GET, the same for every request')
  const dir = mkdtempSync(join(tmpdir(), 'seckill-ab-'))
  const csv = join(dir, 'percentiles.csv')
  const args = ['-n', String(spec.amount), '-c', String(spec.connections)]
  if (!spec.close) args.push('-k')
  const url = spec.origin + spec.path
  const command = ['ab', ...args, url].join(' ')
  const proc = spawn('ab', [...args, '-e', csv, url], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let progress = ''
  proc.stdout.on('data', (d: Buffer) => {
    out += d
  })
  // ab's own progress ("Completed 1000 requests"), every tenth of the run, on stderr.
  proc.stderr.on('data', (d: Buffer) => {
    progress += d
    if (!process.stderr.isTTY) return
    for (const line of String(d).split('\n'))
      if (line.trim()) process.stderr.write(`${spec.label}: ${line.trim()}\n`)
  })
  const timer = setTimeout(() => proc.kill('SIGKILL'), RUN_CAP_MS)
  const cleanup = () => {
    clearTimeout(timer)
    rmSync(dir, { recursive: true, force: true })
  }
  return new Promise<AbResult>((resolve, reject) => {
    proc.once('error', (err) => {
      cleanup()
      reject(err)
    })
    proc.once('exit', (code, signal) => {
      try {
        if (code !== 0)
          throw new Error(`${command} exited ${code ?? signal}:\n${out}${progress.slice(-2000)}`)
        resolve(parseAbOutput(out, readFileSync(csv, 'utf8'), command))
      } catch (err) {
        reject(err)
      } finally {
        cleanup()
      }
    })
  })
}
