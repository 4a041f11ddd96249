/**
 * A growable ring buffer FIFO (undici's fixed-queue idea): O(1) push and shift with no
 * Array#shift copying, so a parked storm costs no quadratic work.
 */
export class FixedQueue<T> {
  private buf: (T | undefined)[]
  private head = 0
  private tail = 0
  private count = 0

  constructor(capacity = 1024) {
    this.buf = new Array(capacity)
  }

  get length(): number {
    return this.count
  }

  push(item: T): void {
    if (this.count === this.buf.length) this.grow()
    this.buf[this.tail] = item
    this.tail = (this.tail + 1) % this.buf.length
    this.count++
  }

  peek(): T | undefined {
    return this.count === 0 ? undefined : this.buf[this.head]
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined
    const item = this.buf[this.head]
    this.buf[this.head] = undefined
    this.head = (this.head + 1) % this.buf.length
    this.count--
    return item
  }

  private grow(): void {
    const next = new Array<T | undefined>(this.buf.length * 2)
    for (let i = 0; i < this.count; i++) next[i] = this.buf[(this.head + i) % this.buf.length]
    this.buf = next
    this.head = 0
    this.tail = this.count
  }
}
