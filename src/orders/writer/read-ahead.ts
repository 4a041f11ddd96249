import type { Entry, StreamSide } from './stream-side'

/**
 * The reading half of a draining step (write-step.ts): new entries of one sale's stream read
 * back to back, each read WRITER_BATCH entries, while the step writes what was read before. It
 * stops when a read comes back short (the writer has caught up), when the step's time is spent,
 * or when it is told to; it pauses while `max` entries wait, so a slow PostgreSQL is never met
 * with an unbounded pile. Every entry it reads is pending with the consumer from then on: the
 * step must write all of them (take() until it returns []), or fail and let the loop re-read its
 * pending entries.
 */
export class ReadAhead {
  private waiting: Entry[]
  private full: boolean
  private over = false
  private stopped = false
  private failure: unknown = null
  private readonly reading: Promise<void>
  /** the taker, waiting for entries */
  private arrived: (() => void) | null = null
  /** the reader, waiting for room */
  private taken: (() => void) | null = null

  constructor(
    private readonly stream: StreamSide,
    private readonly saleId: string,
    private readonly consumer: string,
    /** what the step read first */
    first: Entry[],
    /** performance.now() after which no new read starts */
    private readonly deadline: number,
    /** most entries one take() returns, and most that wait before the reader pauses */
    private readonly max: number,
  ) {
    this.waiting = first
    this.full = first.length === stream.batch
    this.reading = this.run()
  }

  /** The last read was a full batch: more entries are likely waiting in the stream. */
  get more(): boolean {
    return this.full
  }

  /** The error a read failed with, once the reading is over; null when none did. */
  get error(): unknown {
    return this.failure
  }

  /** Up to `max` entries read and not yet taken; waits for a read when none are; [] when over. */
  async take(): Promise<Entry[]> {
    while (this.waiting.length === 0 && !this.over) {
      await new Promise<void>((resolve) => {
        this.arrived = resolve
      })
    }
    const out = this.waiting.length <= this.max ? this.waiting : this.waiting.slice(0, this.max)
    this.waiting = out === this.waiting ? [] : this.waiting.slice(this.max)
    wake(this.taken)
    this.taken = null
    return out
  }

  /** Start no new read; resolves once the read in flight (if any) is in. */
  async stop(): Promise<void> {
    this.stopped = true
    wake(this.taken)
    this.taken = null
    await this.reading
  }

  private async run(): Promise<void> {
    try {
      while (this.full && !this.stopped && performance.now() < this.deadline) {
        if (this.waiting.length >= this.max) {
          await new Promise<void>((resolve) => {
            this.taken = resolve
          })
          continue
        }
        const { entries } = await this.stream.read(this.saleId, this.consumer, 'new')
        for (const e of entries) this.waiting.push(e)
        this.full = entries.length === this.stream.batch
        wake(this.arrived)
        this.arrived = null
      }
    } catch (err) {
      this.failure = err
      // Whether more waits is unknown: the loop re-reads the pending entries first anyway.
      this.full = false
    } finally {
      this.over = true
      wake(this.arrived)
      this.arrived = null
    }
  }
}

function wake(resolve: (() => void) | null): void {
  if (resolve) resolve()
}
