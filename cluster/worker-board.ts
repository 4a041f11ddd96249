import type { WorkerStats } from '../src/ipc'

/**
 * The workers' last two reports (src/ipc.ts `stats`, one a second each): what `seckill status`
 * shows per worker, with CPU and requests turned into rates over the interval between them.
 */
export interface WorkerLoad {
  readonly rssBytes: number
  /** CPU of one core, in percent, over the last interval (0 until two reports came) */
  readonly cpuPercent: number
  readonly requestsPerSecond: number
  readonly quota: number
  readonly inflight: number
  readonly parked: number
}

interface Sample {
  readonly at: number
  readonly stats: WorkerStats
}

const NO_LOAD: WorkerLoad = {
  rssBytes: 0,
  cpuPercent: 0,
  requestsPerSecond: 0,
  quota: 0,
  inflight: 0,
  parked: 0,
}

export class WorkerBoard {
  private readonly last = new Map<number, [Sample | null, Sample]>()

  report(workerId: number, stats: WorkerStats, at: number): void {
    const prev = this.last.get(workerId)?.[1] ?? null
    this.last.set(workerId, [prev, { at, stats }])
  }

  forget(workerId: number): void {
    this.last.delete(workerId)
  }

  load(workerId: number): WorkerLoad {
    const pair = this.last.get(workerId)
    if (!pair) return NO_LOAD
    const [prev, cur] = pair
    const s = cur.stats
    let cpuPercent = 0
    let requestsPerSecond = 0
    const ms = prev ? cur.at - prev.at : 0
    if (prev && ms > 0) {
      cpuPercent = ((s.cpuMicros - prev.stats.cpuMicros) / 1000 / ms) * 100
      requestsPerSecond = ((s.requests - prev.stats.requests) * 1000) / ms
    }
    return {
      rssBytes: s.rssBytes,
      cpuPercent: round1(cpuPercent),
      requestsPerSecond: Math.round(requestsPerSecond),
      quota: s.quota,
      inflight: s.inflight,
      parked: s.parked,
    }
  }
}

function round1(x: number): number {
  return Math.round(x * 10) / 10
}
