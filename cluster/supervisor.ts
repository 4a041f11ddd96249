import cluster, { type Worker } from 'node:cluster'
import { log } from '../src/log'

/**
 * Forks the uWS workers and keeps WORKERS of them alive. A replacement is forked only after the
 * old worker's 'exit', so two never hold the same slot; crash loops back off exponentially.
 */
const BACKOFF_BASE_MS = 100
const BACKOFF_MAX_MS = 10000
/** a worker that lived this long was healthy: its next crash restarts at once */
const HEALTHY_AFTER_MS = 10000

export interface SupervisorEvents {
  onMessage(worker: Worker, msg: unknown): void
  onExit(worker: Worker): void
  /** a worker died before it ever served during the first start: the start has failed */
  onStartFailure(code: number | null, signal: string | null): void
}

/** The workers of this primary that have not died. */
export function liveWorkers(): Worker[] {
  return Object.values(cluster.workers ?? {}).filter(
    (w): w is Worker => w !== undefined && !w.isDead(),
  )
}

export class Supervisor {
  private stopping = false
  private everReady = false
  private readonly crashes = new Map<number, number>()

  constructor(
    private readonly count: number,
    exec: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly events: SupervisorEvents,
  ) {
    cluster.setupPrimary({ exec })
  }

  start(): void {
    for (let slot = 0; slot < this.count; slot++) this.fork(slot)
  }

  markReady(): void {
    this.everReady = true
  }

  live(): Worker[] {
    return liveWorkers()
  }

  private fork(slot: number): void {
    const born = Date.now()
    const worker = cluster.fork(this.env)
    worker.on('message', (msg) => this.events.onMessage(worker, msg))
    // A message sent while the worker dies fails with EPIPE, emitted as 'error' on the worker;
    // unheard, it would throw and take the primary, and every other worker, down with it. The
    // message is moot: the worker's 'exit' follows, and its quota is forgotten there.
    worker.on('error', (err) =>
      log.warn({ pid: worker.process.pid, err: err.message }, 'message to a dying worker lost'),
    )
    worker.on('exit', (code, signal) => {
      this.events.onExit(worker)
      if (this.stopping) return
      if (!this.everReady) return this.events.onStartFailure(code, signal)
      const healthy = Date.now() - born >= HEALTHY_AFTER_MS
      const n = healthy ? 0 : (this.crashes.get(slot) ?? 0) + 1
      this.crashes.set(slot, n)
      const delay = n === 0 ? 0 : Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (n - 1))
      log.error(
        { pid: worker.process.pid, code, signal, restartInMs: delay },
        'worker died; restarting',
      )
      setTimeout(() => {
        if (!this.stopping) this.fork(slot)
      }, delay)
    })
  }

  /** SIGTERM every worker (they finish in-flight requests) and wait for all to exit. */
  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true
    const workers = this.live()
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            const kill = setTimeout(() => w.process.kill('SIGKILL'), timeoutMs)
            w.once('exit', () => {
              clearTimeout(kill)
              resolve()
            })
            w.process.kill('SIGTERM')
          }),
      ),
    )
  }
}
