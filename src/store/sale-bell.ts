import { Redis, type RedisOptions } from 'ioredis'
import { bellPattern, dashboardKeys, saleIdOfBell } from './keys'
import { clusterSeeds, credentials, type RedisTarget } from './redis'

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
 *
 * On a Redis Cluster a classic PUBLISH is broadcast to every node over the cluster bus, so one
 * subscription on any node hears every sale of every shard. The bell holds one plain connection
 * to one node (ioredis's Cluster would also move a subscription to another node, but says nothing
 * when it does, and the resync must follow each new subscription). When that connection ends the
 * next node is tried: the seeds of REDIS_URL and every node the last one listed (CLUSTER SLOTS).
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
  private sub: Redis | null = null
  private readonly listeners: BellListener[] = []
  private onWatch: (() => void) | null = null
  private stopped = false
  /** on a cluster: the nodes to try, in turn ("host:port"), seeds first */
  private readonly nodes: string[]
  private next = 0
  private failures = 0
  private timer: NodeJS.Timeout | null = null

  constructor(
    private readonly target: RedisTarget,
    private readonly prefix: string,
    /** CLIENT SETNAME, to find (and, in the fault tests, kill) this connection */
    private readonly name: string,
  ) {
    this.nodes =
      target.REDIS_CLUSTER === 'on'
        ? clusterSeeds(target.REDIS_URL).map((n) => `${n.host}:${n.port}`)
        : []
  }

  listen(listener: BellListener): void {
    this.listeners.push(listener)
  }

  /**
   * Call `onWatch` whenever some node says it has a dashboard open (cluster/dashboard-fleet.ts):
   * on this same connection, so a node with nobody watching sends Redis nothing for it.
   */
  listenForDashboards(onWatch: () => void): void {
    this.onWatch = onWatch
  }

  /** Connect and subscribe; a Redis that is down now is retried in the background. */
  start(): void {
    this.open()
  }

  stop(): void {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    this.sub?.disconnect()
  }

  private open(): void {
    if (this.stopped) return
    const options: RedisOptions = {
      connectionName: this.name,
      lazyConnect: true,
      // Subscribed again by hand on every 'ready' (below), so that the resync follows the
      // subscription's reply and no message can fall between the two.
      autoResubscribe: false,
      maxRetriesPerRequest: 1,
      retryStrategy: (times) => Math.min(times * 50, 1000),
    }
    let sub: Redis
    if (this.nodes.length === 0) {
      sub = new Redis(this.target.REDIS_URL, options)
    } else {
      // One node at a time: when its connection ends, open() moves to the next one.
      const node = this.nodes[this.next++ % this.nodes.length]!
      const at = node.lastIndexOf(':')
      sub = new Redis({
        ...options,
        ...credentials(new URL(this.target.REDIS_URL.split(',')[0]!.trim())),
        host: node.slice(0, at),
        port: Number(node.slice(at + 1)),
        retryStrategy: () => null,
      })
      sub.once('end', () => {
        this.failures++
        const delay = Math.min(this.failures * 50, 1000)
        if (!this.stopped) this.timer = setTimeout(() => this.open(), delay)
      })
    }
    this.sub = sub
    // Failed reconnects emit 'error' each time; the listeners' safety nets cover the outage.
    sub.on('error', () => {})
    sub.on('pmessage', (_pattern: string, channel: string, message: string) => {
      const saleId = saleIdOfBell(this.prefix, channel)
      if (saleId === null) return
      const urgent = isUrgent(message)
      for (const l of this.listeners) l.ring(saleId, urgent)
    })
    sub.on('message', (channel: string) => {
      if (channel === dashboardKeys(this.prefix).watch) this.onWatch?.()
    })
    sub.on('ready', () => {
      this.subscribe(sub)
    })
    sub.connect().catch(() => {})
  }

  private async subscribe(sub: Redis): Promise<void> {
    if (this.stopped) return
    try {
      if (this.nodes.length > 0) await this.learnNodes(sub)
      await sub.psubscribe(bellPattern(this.prefix))
      await sub.subscribe(dashboardKeys(this.prefix).watch)
    } catch {
      // The connection dropped again: the next 'ready' (or node) subscribes again.
      return
    }
    this.failures = 0
    for (const l of this.listeners) l.resync()
  }

  /** Every node of the cluster, masters and replicas: each hears every PUBLISH. */
  private async learnNodes(sub: Redis): Promise<void> {
    const slots = await sub.cluster('SLOTS')
    for (const [, , ...nodes] of slots) {
      for (const [host, port] of nodes) {
        const key = `${host}:${port}`
        if (host && !this.nodes.includes(key)) this.nodes.push(key)
      }
    }
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
