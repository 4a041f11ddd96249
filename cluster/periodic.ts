import { log } from '../src/log'

/**
 * Runs `task` every `everyMs`, never two at once (a run that outlasts the interval skips the
 * next tick); a failed run is logged and the next tick tries again. `stop` waits for a running
 * one. `everyMs` 0 never runs.
 */
export class Periodic {
  private timer: NodeJS.Timeout | null = null
  private running: Promise<void> | null = null

  constructor(
    private readonly everyMs: number,
    private readonly what: string,
    private readonly task: () => Promise<unknown>,
  ) {}

  start(): void {
    if (this.everyMs === 0) return
    this.timer = setInterval(() => {
      if (this.running) return
      this.running = this.task()
        .then(() => {})
        .catch((err: Error) => log.warn({ err: err.message }, `${this.what} failed; retrying`))
        .finally(() => {
          this.running = null
        })
    }, this.everyMs)
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    await this.running
  }
}
