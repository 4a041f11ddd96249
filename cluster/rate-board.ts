import type { RateKind, ToPrimary, ToWorker } from '../src/ipc'

/**
 * The primary's half of the node-wide rate limits (src/http/rate-limit.ts): it sums the per-tick
 * counts every worker reports for the current wall-clock second and, the moment a key's node-wide
 * total passes its limit, tells every worker (once per key and window) to refuse it until the
 * window ends. One window of sums is kept; the next window starts from nothing.
 */
type Report = Extract<ToPrimary, { t: 'rate' }>
export type OverList = Extract<ToWorker, { t: 'rate-over' }>

interface Tally {
  window: number
  sums: Map<string, number>
}

export class RateBoard {
  private readonly tallies: Record<RateKind, Tally> = {
    user: { window: 0, sums: new Map() },
    ip: { window: 0, sums: new Map() },
  }

  constructor(
    private readonly limits: Readonly<Record<RateKind, number>>,
    private readonly broadcast: (msg: OverList) => void,
  ) {}

  /** Keys summed in the current windows (both kinds). */
  get size(): number {
    return this.tallies.user.sums.size + this.tallies.ip.sums.size
  }

  report(msg: Report): void {
    const limit = this.limits[msg.kind]
    if (!(limit > 0)) return
    const tally = this.tallies[msg.kind]
    if (msg.window > tally.window) {
      tally.window = msg.window
      tally.sums = new Map()
    }
    // A worker's last report of a window that is over: nothing left to refuse in it.
    if (msg.window < tally.window) return
    const over: string[] = []
    const { keys, counts } = msg
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!
      const before = tally.sums.get(key) ?? 0
      const after = before + (counts[i] ?? 0)
      tally.sums.set(key, after)
      // Named once, when it crosses: the workers keep refusing it for the rest of the window.
      if (before <= limit && after > limit) over.push(key)
    }
    if (over.length > 0)
      this.broadcast({ t: 'rate-over', kind: msg.kind, window: msg.window, keys: over })
  }
}
