import Redis from 'ioredis'
import { bellPattern, saleIdOfBell } from './keys'

/**
 * A node's ear on its sales: the scripts that change a sale or append to its order stream
 * publish on the sale's bell channel in the same atomic call (reserve-6.lua, settleOrder-5.lua,
 * expireOrders-5.lua, createSale-1.lua, setSaleState-1.lua, adjustStock-1.lua) on whichever
 * node ran them, and this one subscriber tells the primary's parts which sale rang, and whether
 * urgently (`isUrgent`): the order writer reads the sale's stream, the sale watch re-reads the
 * sale, the expiry sweep looks at its deadlines again, the reconciliation audits it again on its
 * next pass. A node with nothing going on then costs nothing: no stream and no sale is polled at
 * speed.
 *
 * Pub/sub delivers at most once: a message published while this connection is down is lost. So
 * after every (re)connection, once the subscription is back in place, every listener is told to
 * look at everything (`resync`); each part also keeps a slow safety-net read of its own for what
 * nobody can see (a connection that died without a word, a subscriber dropped by Redis).
 */
export interface BellListener {
  /**
   * `urgent`: the sale changed in a way every worker must hear at once (created, started,
   * closed, its stock changed, sold out, units returned); otherwise only orders were appended
   */
  ring(saleId: string, urgent: boolean): void
  /** the subscription is (back) in place: bells may have been missed before it */
  resync(): void
}

export class SaleBell {
  private readonly sub: Redis
  private readonly listeners: BellListener[] = []
  private stopped = false

  constructor(
    redisUrl: string,
    private readonly prefix: string,
    /** CLIENT SETNAME, to find (and, in the fault tests, kill) this connection */
    name: string,
  ) {
    this.sub = new Redis(redisUrl, {
      connectionName: name,
      lazyConnect: true,
      // Subscribed again by hand on every 'ready' (below), so that the resync follows the
      // subscription's reply and no message can fall between the two.
      autoResubscribe: false,
      maxRetriesPerRequest: 1,
      retryStrategy: (times) => Math.min(times * 50, 1000),
    })
    // Failed reconnects emit 'error' each time; the listeners' safety nets cover the outage.
    this.sub.on('error', () => {})
    this.sub.on('pmessage', (_pattern: string, channel: string, message: string) => {
      const saleId = saleIdOfBell(prefix, channel)
      if (saleId === null) return
      const urgent = isUrgent(message)
      for (const l of this.listeners) l.ring(saleId, urgent)
    })
    this.sub.on('ready', () => {
      this.subscribe()
    })
  }

  listen(listener: BellListener): void {
    this.listeners.push(listener)
  }

  /** Connect and subscribe; a Redis that is down now is retried in the background. */
  start(): void {
    this.sub.connect().catch(() => {})
  }

  stop(): void {
    this.stopped = true
    this.sub.disconnect()
  }

  private subscribe(): void {
    if (this.stopped) return
    this.sub.psubscribe(bellPattern(this.prefix)).then(
      () => {
        for (const l of this.listeners) l.resync()
      },
      // The connection dropped again: the next 'ready' subscribes again.
      () => {},
    )
  }
}

/**
 * What the scripts publish: the number of order stream entries they appended ("12": a purchase
 * batch, a payment), that number and what it did to the sale ("12 sold-out", "3 returned"), or
 * "sale" (createSale-1, setSaleState-1, adjustStock-1). Anything but a bare number changed what
 * a worker refuses at once.
 */
export function isUrgent(message: string): boolean {
  return !/^[0-9]+$/.test(message)
}
