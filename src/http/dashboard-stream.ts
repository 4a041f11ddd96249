import type { HttpRequest, HttpResponse } from '../uws'
import { isAdmin } from './admin-auth'
import { writeError } from './respond'

/**
 * GET /api/v1/dashboard/events: the live dashboard's push channel, server-sent events.
 *
 * Why SSE read with fetch(), not EventSource and not a WebSocket: the admin token must travel in
 * the Authorization header, never in a URL (API.md "Pages"), and EventSource cannot send
 * headers; fetch() can, and reads the text/event-stream body as a stream. A WebSocket would have
 * to authenticate by its first message, so an unauthenticated socket would sit open until then,
 * and it needs a second protocol (upgrade, ws handlers) in every worker for data that only flows
 * one way. SSE is one plain GET that a 401 refuses before anything streams, and it passes nginx
 * with `X-Accel-Buffering: no`.
 *
 * Cost: the primary builds one snapshot per second only while some worker has a listener
 * (cluster/dashboard-feed.ts); a worker tells it when its first listener comes and its last one
 * goes, and relays the same string to each of its listeners. Nothing here runs per purchase.
 */

/**
 * A listener whose socket refused this many snapshots in a row (write() buffered them: the
 * client reads slower than one small message a second) is dropped rather than buffered forever.
 */
const MAX_STUCK_WRITES = 30

export class DashboardStream {
  /** each listener, with how many writes in a row it left buffered */
  private readonly listeners = new Map<HttpResponse, number>()
  private readonly token: Buffer
  /** the worker is draining: no new stream here (the client retries, reaching another worker) */
  private closed = false

  constructor(
    token: string,
    /** tell the primary this worker has (true) or no longer has (false) a listener */
    private readonly watch: (on: boolean) => void,
  ) {
    this.token = Buffer.from(token)
  }

  get size(): number {
    return this.listeners.size
  }

  readonly route = (res: HttpResponse, req: HttpRequest): void => {
    if (!isAdmin(req, this.token)) return writeError(res, 'unauthorized')
    if (this.closed) return writeError(res, 'unavailable', 'this worker is stopping; retry')
    res.onAborted(() => this.drop(res))
    res
      .writeStatus('200 OK')
      .writeHeader('Content-Type', 'text/event-stream; charset=utf-8')
      .writeHeader('Cache-Control', 'no-store')
      // nginx would otherwise buffer the stream and deliver seconds of snapshots at once.
      .writeHeader('X-Accel-Buffering', 'no')
    // A comment line: the client sees the headers (and that it is let in) before the first data.
    res.write(': connected\n\n')
    this.listeners.set(res, 0)
    if (this.listeners.size === 1) this.watch(true)
  }

  /** Relay the primary's snapshot (a JSON string, one line) to every listener. */
  relay(json: string): void {
    const frame = `data: ${json}\n\n`
    for (const [res, stuck] of this.listeners) {
      let sent = true
      res.cork(() => {
        sent = res.write(frame)
      })
      if (sent) {
        if (stuck > 0) this.listeners.set(res, 0)
      } else if (stuck + 1 < MAX_STUCK_WRITES) this.listeners.set(res, stuck + 1)
      else {
        this.drop(res)
        res.close()
      }
    }
  }

  /**
   * End every stream and its connection (the worker is draining): the client reconnects, on a
   * new connection, to a worker that stays.
   */
  close(): void {
    this.closed = true
    for (const res of this.listeners.keys()) res.cork(() => res.end(undefined, true))
    if (this.listeners.size > 0) this.watch(false)
    this.listeners.clear()
  }

  private drop(res: HttpResponse): void {
    if (this.listeners.delete(res) && this.listeners.size === 0) this.watch(false)
  }
}
