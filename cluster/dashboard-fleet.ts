import { log } from '../src/log'
import { dashboardKeys } from '../src/store/keys'
import type { RedisClient } from '../src/store/redis-client'
import { type DashboardFeed, SNAPSHOT_MS } from './dashboard-feed'

/**
 * Every node of the fleet on one dashboard, through Redis. While some node has a dashboard open
 * it publishes on `dashboard:watch` every second; every primary hears that on its bell's
 * connection (src/store/sale-bell.ts) and, for a few seconds after, writes its own snapshot to
 * `dashboard:node:<WRITER_NAME>` (same TTL) and its name in the `dashboard:nodes` sorted set.
 * A node with a listener reads the others' snapshots back and adds them to what it pushes.
 * While nobody watches, no node sends Redis anything for this (an idle node and the refusal
 * path stay free of Redis commands). Single-key commands only, so it works on a Redis Cluster;
 * a node that stops simply ages out.
 */

/** A snapshot older than this is gone: a node that stopped leaves the dashboard within it. */
const TTL_MS = 5 * SNAPSHOT_MS
/** Names not written for this long leave the sorted set (the TTL already hid their snapshot). */
const FORGET_MS = 60_000

export class DashboardFleet {
  private timer: NodeJS.Timeout | null = null
  private running = false
  /** the last step failed: said once, not every second of a Redis outage */
  private failing = false
  private readonly keys: ReturnType<typeof dashboardKeys>
  /** until when (ms) some node was last heard to watch */
  private watchedUntil = 0

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
    private readonly node: string,
    private readonly feed: DashboardFeed,
  ) {
    this.keys = dashboardKeys(prefix)
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), SNAPSHOT_MS)
    this.timer.unref()
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
  }

  /** Some node of the fleet has a dashboard open (its message on `dashboard:watch`). */
  watched(): void {
    this.watchedUntil = Date.now() + TTL_MS
  }

  private tick(): void {
    if (this.running) return
    this.running = true
    this.once()
      .then(() => {
        this.failing = false
      })
      .catch((err: Error) => {
        if (!this.failing) log.warn({ err: err.message }, 'the fleet dashboard step failed')
        this.failing = true
      })
      .finally(() => {
        this.running = false
      })
  }

  /** One second's step. */
  async once(): Promise<void> {
    const redis = this.redis
    const keys = this.keys
    const local = this.feed.listened
    if (local) await redis.publish(keys.watch, this.node)
    else if (Date.now() > this.watchedUntil) return
    // With a listener here the feed builds every second anyway; otherwise build for the fleet.
    const own = local ? this.feed.latestOwn : JSON.stringify(await this.feed.build())
    if (own === null) return
    const now = Date.now()
    await redis.set(keys.node(this.node), own, 'PX', TTL_MS)
    await redis.zadd(keys.nodes, now, this.node)
    if (!local) return
    await redis.zremrangebyscore(keys.nodes, '-inf', now - FORGET_MS)
    const names = (await redis.zrange(keys.nodes, 0, -1)).filter((n) => n !== this.node)
    const others: unknown[] = []
    for (const name of names.sort()) {
      const json = await redis.get(keys.node(name))
      if (json !== null) others.push(JSON.parse(json))
    }
    this.feed.fleet = others
  }
}
