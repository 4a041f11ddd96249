import type { RateKind, ToPrimary } from '../ipc'
import type { HttpResponse } from '../uws'

/**
 * Node-wide request rates (RATE_LIMIT_PER_USER, RATE_LIMIT_PER_IP) with no IPC or Redis call per
 * request. Windows are wall-clock seconds, so every process of the node agrees on them. A worker
 * counts each key itself and refuses past the full limit at once; every tick it sends the primary
 * the counts of the keys it saw in that tick (cluster/rate-board.ts sums them), and the primary
 * answers with the keys over the limit node-wide, refused here until the window ends.
 *
 * Overshoot: a key's requests are seen node-wide one tick (plus two IPC hops) late, so beyond the
 * limit a key gets at most what the workers accept for it in about one tick (and never more than
 * workers × limit). Memory: one window of keys, dropped whole when the next window starts.
 */
export type RateReport = Extract<ToPrimary, { t: 'rate' }>

/**
 * How often counts go to the primary: short against the one-second window (the overshoot is one
 * tick's worth), long enough that a storm's keys travel in a few dozen messages a second.
 */
export const RATE_TICK_MS = 20

interface Entry {
  /** requests this window, on this worker */
  n: number
  /** requests since the last tick */
  d: number
  /** the primary says this key is over, node-wide */
  blocked: boolean
}

/** The two limits a worker applies on the purchase routes. */
export interface RateLimits {
  readonly user: RateLimiter
  readonly ip: RateLimiter
}

/**
 * The client address the per-IP limit counts (uWS's text form). Behind a proxy it is the proxy's
 * address. Read it inside the handler or before any await (uWS rule).
 */
export function addressOf(res: HttpResponse): string {
  return Buffer.from(res.getRemoteAddressAsText()).toString('latin1')
}

export interface RateLimiterOptions {
  readonly kind: RateKind
  /** requests per second per key; 0: off */
  readonly perSecond: number
  /** where tick reports go (the primary); null: local limit only */
  readonly report: ((msg: RateReport) => void) | null
  /** epoch ms */
  readonly now?: () => number
}

export class RateLimiter {
  readonly enabled: boolean
  private readonly kind: RateKind
  private readonly perSecond: number
  private readonly report: ((msg: RateReport) => void) | null
  private readonly now: () => number
  private window = 0
  private entries = new Map<string, Entry>()
  /** keys seen since the last tick, each once */
  private seen: string[] = []
  private timer: NodeJS.Timeout | null = null
  private started = false

  constructor(opts: RateLimiterOptions) {
    this.kind = opts.kind
    this.perSecond = opts.perSecond
    this.enabled = opts.perSecond > 0
    this.report = opts.report
    this.now = opts.now ?? Date.now
  }

  /**
   * Report to the primary from now on (only when enabled and reporting). The tick is armed by the
   * first key counted after the last one and runs once: a worker nobody asks costs no wake-ups.
   */
  start(): void {
    this.started = this.enabled && this.report !== null
  }

  stop(): void {
    this.started = false
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
  }

  /** Keys held this window (for tests and metrics). */
  get size(): number {
    return this.entries.size
  }

  /** Count one request of `key`; true when it is over its rate and must get 429. */
  over(key: string): boolean {
    if (!this.enabled || key === '') return false
    const w = Math.floor(this.now() / 1000)
    if (w !== this.window) this.roll(w)
    let e = this.entries.get(key)
    if (e === undefined) {
      e = { n: 0, d: 0, blocked: false }
      this.entries.set(key, e)
    }
    if (e.d++ === 0) {
      this.seen.push(key)
      if (this.timer === null && this.started) this.arm()
    }
    return ++e.n > this.perSecond || e.blocked
  }

  /** The primary's list of keys over the limit node-wide in `window`. */
  block(window: number, keys: readonly string[]): void {
    if (window > this.window) this.roll(window)
    if (window !== this.window) return
    for (const key of keys) {
      const e = this.entries.get(key)
      if (e === undefined) this.entries.set(key, { n: 0, d: 0, blocked: true })
      else e.blocked = true
    }
  }

  /** Send the counts of the keys seen since the last tick; start a new window when it is due. */
  tick(): void {
    const w = Math.floor(this.now() / 1000)
    if (w !== this.window) {
      // The old window's last counts would only be dropped by the primary: not sent.
      this.roll(w)
      return
    }
    if (this.seen.length === 0 || this.report === null) return
    const keys = this.seen
    const counts = new Array<number>(keys.length)
    for (let i = 0; i < keys.length; i++) {
      const e = this.entries.get(keys[i]!)!
      counts[i] = e.d
      e.d = 0
    }
    this.seen = []
    this.report({ t: 'rate', kind: this.kind, window: w, keys, counts })
  }

  private arm(): void {
    this.timer = setTimeout(() => {
      this.timer = null
      this.tick()
    }, RATE_TICK_MS)
    this.timer.unref()
  }

  private roll(window: number): void {
    this.window = window
    this.entries = new Map()
    this.seen = []
  }
}
