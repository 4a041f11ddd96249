/**
 * What crosses the thread boundary between the writer loop (main thread) and a write step (a
 * Piscina thread): the job, its plain-value result, and the options each thread is started with.
 */
export type ReadFrom =
  /** this consumer's own pending entries (after a start or a failed step) */
  | 'pending'
  /** entries never delivered to any consumer */
  | 'new'
  /** entries idle for claimIdleMs in another (dead) consumer's pending list: XAUTOCLAIM */
  | 'claim'

export interface WriteJob {
  readonly saleId: string
  readonly consumer: string
  readonly from: ReadFrom
  /** for 'claim': the XAUTOCLAIM cursor ('0-0' to start) */
  readonly cursor?: string
}

/**
 * An entry moved to the dead-letter stream, for the main thread's log: a writer thread's own
 * logger writes to stdout, where a node logging to LOG_FILE would lose the line.
 */
export interface DeadLetterNote {
  readonly stream: string
  readonly entry: string
  readonly deadLetter: string
  readonly deliveries: number
  readonly err: string
}

/** The outcome of one step: a plain value (it crosses a thread boundary). */
export interface WriteResult {
  readonly read: number
  /** rows inserted or moved to a final state (0 for entries PostgreSQL already held) */
  readonly written: number
  readonly deadLettered: number
  /** what was dead-lettered, one note per entry */
  readonly deadLetterNotes: readonly DeadLetterNote[]
  /** entries left pending after a data error, to be retried from 'pending' */
  readonly leftPending: number
  /**
   * call again at once: the step's last read was a full batch, or it read ahead (entries may
   * have come while it wrote), or XAUTOCLAIM has more
   */
  readonly more: boolean
  readonly cursor: string
  /**
   * set when PostgreSQL or Redis failed as a whole: whatever the step had not acked waits in the
   * pending list, retry later (a draining step may have committed and acked transactions before
   * the failure: `written` counts them)
   */
  readonly error: string | null
  /** stream length after the step: entries not yet in PostgreSQL (the backlog); -1 unknown */
  readonly backlog: number
  /** Redis-clock ms of the oldest entry still in the stream, or null when it is empty */
  readonly oldestMs: number | null
}

export interface WriterOptions {
  readonly prefix: string
  readonly batch: number
  readonly claimIdleMs: number
  readonly maxDeliveries: number
  /** test hook: the step at which this process kills itself (SIGKILL), once */
  readonly crashAt: CrashPoint | null
  /** test hook: ... once this thread has read at least this many entries (0: at the first) */
  readonly crashAfterReads?: number
}

export type CrashPoint = 'after-read' | 'after-insert' | 'after-commit'

/** Entries this thread has read, for SECKILL_CRASH_AFTER. */
let entriesRead = 0

/** Count what a step read (the crash hook's trigger). */
export function countRead(n: number): void {
  entriesRead += n
}

/**
 * The SECKILL_CRASH_AT hook: the crash tests kill the primary exactly here, once the thread has
 * read `after` entries (the fleet test kills a node holding entries a third into a sale).
 */
export function crashIf(at: CrashPoint | null, point: CrashPoint, after = 0): void {
  if (at === point && entriesRead >= after) process.kill(process.pid, 'SIGKILL')
}

/** A step that read nothing (also the base of a failed one). */
export function emptyResult(cursor: string): Omit<WriteResult, 'backlog' | 'oldestMs'> {
  return {
    read: 0,
    written: 0,
    deadLettered: 0,
    deadLetterNotes: [],
    leftPending: 0,
    more: false,
    cursor,
    error: null,
  }
}

/** A step that failed as a whole, before any measurement of the stream. */
export function failedResult(cursor: string, read: number, err: unknown): WriteResult {
  return { ...emptyResult(cursor), read, backlog: -1, oldestMs: null, error: errorText(err) }
}

export function errorText(err: unknown): string {
  return (err as Error)?.message || String(err)
}
