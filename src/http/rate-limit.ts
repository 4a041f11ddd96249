/**
 * Per-user request rate, per worker, in fixed one-second windows. The map is dropped whole each
 * second, so a million distinct users cost one second of entries, not a growing table.
 */
export class RateLimiter {
  private counts = new Map<string, number>()
  private readonly timer: NodeJS.Timeout | null

  constructor(private readonly perSecond: number) {
    this.timer = perSecond > 0 ? setInterval(() => this.counts.clear(), 1000) : null
    this.timer?.unref()
  }

  /** true when `userId` is over its rate and must get 429. */
  over(userId: string): boolean {
    if (this.perSecond === 0 || userId === '') return false
    const n = (this.counts.get(userId) ?? 0) + 1
    this.counts.set(userId, n)
    return n > this.perSecond
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
  }
}
