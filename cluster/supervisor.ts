import cluster, { type Worker } from 'node:cluster'
import { log } from '../src/log'

/**
 * Forks the uWS workers and keeps WORKERS of them alive, one per slot. A crashed worker's
 * replacement is forked only after its 'exit', so two never hold the same slot; crash loops back
 * off exponentially. A worker can also be replaced on purpose (reload, recycling): the new one is
 * forked first and takes the slot once it listens, and only then is the old one stopped, so the
 * port never has fewer listeners than slots.
 */
const BACKOFF_BASE_MS = 100
const BACKOFF_MAX_MS = 10000
/** a worker that lived this long was healthy: its next crash restarts at once */
const HEALTHY_AFTER_MS = 10000
/** A new worker connects to Redis and loads every sale before it listens: seconds at most. */
const READY_TIMEOUT_MS = 30000

export interface SupervisorEvents {
  onMessage(worker: Worker, msg: unknown): void
  onExit(worker: Worker): void
  /** a worker died before it ever served during the first start: the start has failed */
  onStartFailure(code: number | null, signal: string | null): void
}

/** A worker in its slot, as `seckill status` shows it. */
export interface SlotWorker {
  readonly slot: number
  readonly worker: Worker
  readonly born: number
  /** crash restarts of this slot since the node started */
  readonly restarts: number
}

/** A worker replaced on purpose: the pid that went and the one that took its slot. */
export interface Replacement {
  readonly slot: number
  readonly old: number
  readonly new: number
}

/** The workers of this primary that have not died. */
export function liveWorkers(): Worker[] {
  return Object.values(cluster.workers ?? {}).filter(
    (w): w is Worker => w !== undefined && !w.isDead(),
  )
}

interface Held {
  readonly worker: Worker
  readonly born: number
  ready: boolean
}

export class Supervisor {
  private stopping = false
  private everReady = false
  private readonly crashes = new Map<number, number>()
  private readonly restarts: number[]
  /** the worker that serves each slot */
  private readonly slots: (Held | null)[]
  /** a replacement forked for a slot and not yet listening */
  private readonly pending = new Map<number, Held>()
  private readonly readyWaiters = new Map<number, (ready: boolean) => void>()

  constructor(
    private readonly count: number,
    exec: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly events: SupervisorEvents,
    private readonly stopTimeoutMs: number,
  ) {
    cluster.setupPrimary({ exec })
    this.slots = Array.from({ length: count }, () => null)
    this.restarts = Array.from({ length: count }, () => 0)
  }

  start(): void {
    for (let slot = 0; slot < this.count; slot++) this.slots[slot] = this.fork(slot)
  }

  /** A worker said it listens. */
  markReady(worker: Worker): void {
    this.everReady = true
    for (const held of [...this.slots, ...this.pending.values()]) {
      if (held?.worker === worker) held.ready = true
    }
    this.readyWaiters.get(worker.id)?.(true)
  }

  live(): Worker[] {
    return liveWorkers()
  }

  /** The worker serving each slot (a slot whose worker is being restarted is left out). */
  slotWorkers(): SlotWorker[] {
    const out: SlotWorker[] = []
    this.slots.forEach((held, slot) => {
      if (held && !held.worker.isDead()) {
        out.push({ slot, worker: held.worker, born: held.born, restarts: this.restarts[slot] ?? 0 })
      }
    })
    return out
  }

  /** The slot `worker` serves, or -1. */
  slotOf(worker: Worker): number {
    return this.slots.findIndex((held) => held?.worker === worker)
  }

  /**
   * Replace the worker of `slot`: fork a new one, wait until it listens, then SIGTERM the old one
   * (it stops accepting, drains its connections, answers what it admitted) and wait for its exit.
   * Throws, leaving the old worker serving, when the new one dies or is not ready in time.
   */
  async replace(slot: number): Promise<Replacement> {
    if (this.stopping) throw new Error('the node is stopping')
    if (this.pending.has(slot)) throw new Error(`slot ${slot} is already being replaced`)
    const fresh = this.fork(slot)
    this.pending.set(slot, fresh)
    const ready = await this.whenReady(fresh.worker)
    this.pending.delete(slot)
    if (!ready || this.stopping) {
      fresh.worker.process.kill('SIGKILL')
      // The old worker may have died meanwhile, and its slot waited for this one.
      if (!this.stopping && !this.slots[slot]) this.slots[slot] = this.fork(slot)
      throw new Error(`the new worker (pid ${fresh.worker.process.pid}) did not start listening`)
    }
    const old = this.slots[slot]
    this.slots[slot] = fresh
    if (old && !old.worker.isDead()) await this.retire(old.worker)
    return { slot, old: old?.worker.process.pid ?? 0, new: fresh.worker.process.pid ?? 0 }
  }

  private whenReady(worker: Worker): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const done = (ready: boolean) => {
        clearTimeout(timer)
        this.readyWaiters.delete(worker.id)
        worker.off('exit', died)
        resolve(ready)
      }
      const died = () => done(false)
      const timer = setTimeout(() => done(false), READY_TIMEOUT_MS)
      this.readyWaiters.set(worker.id, done)
      worker.once('exit', died)
    })
  }

  /** SIGTERM, and SIGKILL when it has not exited after the stop timeout. */
  private retire(worker: Worker): Promise<void> {
    return new Promise<void>((resolve) => {
      if (worker.isDead()) return resolve()
      const kill = setTimeout(() => worker.process.kill('SIGKILL'), this.stopTimeoutMs)
      worker.once('exit', () => {
        clearTimeout(kill)
        resolve()
      })
      worker.process.kill('SIGTERM')
    })
  }

  private fork(slot: number): Held {
    const born = Date.now()
    const worker = cluster.fork(this.env)
    const held: Held = { worker, born, ready: false }
    worker.on('message', (msg) => this.events.onMessage(worker, msg))
    // A message sent while the worker dies fails with EPIPE, emitted as 'error' on the worker;
    // unheard, it would throw and take the primary, and every other worker, down with it. The
    // message is moot: the worker's 'exit' follows, and its quota is forgotten there.
    worker.on('error', (err) =>
      log.warn({ pid: worker.process.pid, err: err.message }, 'message to a dying worker lost'),
    )
    worker.on('exit', (code, signal) => {
      this.events.onExit(worker)
      // Only the slot's own worker is restarted: a replaced one, or a replacement that failed,
      // leaves the slot to the worker that holds it.
      if (this.stopping || this.slots[slot] !== held) return
      if (!this.everReady) return this.events.onStartFailure(code, signal)
      this.slots[slot] = null
      this.restarts[slot] = (this.restarts[slot] ?? 0) + 1
      if (this.pending.has(slot)) {
        log.error(
          { pid: worker.process.pid, code, signal },
          'worker died; its replacement is starting',
        )
        return
      }
      const healthy = Date.now() - born >= HEALTHY_AFTER_MS
      const n = healthy ? 0 : (this.crashes.get(slot) ?? 0) + 1
      this.crashes.set(slot, n)
      const delay = n === 0 ? 0 : Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (n - 1))
      log.error(
        { pid: worker.process.pid, code, signal, restartInMs: delay },
        'worker died; restarting',
      )
      setTimeout(() => {
        if (!this.stopping && !this.slots[slot] && !this.pending.has(slot)) {
          this.slots[slot] = this.fork(slot)
        }
      }, delay)
    })
    return held
  }

  /** SIGTERM every worker (they drain and finish in-flight requests) and wait for all to exit. */
  async stop(): Promise<void> {
    this.stopping = true
    await Promise.all(this.live().map((w) => this.retire(w)))
  }
}
