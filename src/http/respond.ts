import { ERRORS, type ErrorCode, errorBody, PREBUILT } from '../errors'
import type { HttpRequest, HttpResponse } from '../uws'

/**
 * Writing answers. Pre-encoded bodies for the answers a storm repeats; every write after async
 * work goes through res.cork (one syscall) and checks that the client has not gone.
 */
export const JSON_TYPE = 'application/json; charset=utf-8'

/** A response answered after async work; `aborted`: the client went away, or it was answered. */
export interface TrackedResponse extends HttpResponse {
  aborted?: boolean
}

const PREBUILT_BUFFERS = Object.fromEntries(
  Object.entries(PREBUILT).map(([k, v]) => [k, Buffer.from(v)]),
) as Record<ErrorCode, Buffer>

/** Mark the response aborted when the client goes; needed before any async work (uWS rule). */
export function track(res: HttpResponse): TrackedResponse {
  const r = res as TrackedResponse
  r.aborted = false
  r.onAborted(() => {
    r.aborted = true
  })
  return r
}

/**
 * Write an error answer, synchronously (inside the handler or a cork); `close` ends the
 * connection after it.
 */
export function writeError(
  res: HttpResponse,
  code: ErrorCode,
  detail?: string,
  close = false,
): void {
  res.writeStatus(ERRORS[code].status).writeHeader('Content-Type', JSON_TYPE)
  if (code === 'rate_limited') res.writeHeader('Retry-After', '1')
  res.end(detail === undefined ? PREBUILT_BUFFERS[code] : errorBody(code, detail), close)
}

export function writeJson(
  res: HttpResponse,
  status: string,
  body: string,
  cacheControl?: string,
): void {
  res.writeStatus(status).writeHeader('Content-Type', JSON_TYPE)
  if (cacheControl) res.writeHeader('Cache-Control', cacheControl)
  res.end(body)
}

/**
 * Answer after async work: corked, and not at all if the client has gone. The response is then
 * marked done, so a second answer can never be written to it.
 */
export function later(res: TrackedResponse, write: (res: HttpResponse) => void): void {
  if (res.aborted) return
  res.aborted = true
  res.cork(() => write(res))
}

/** Answer an error after async work. */
export function laterError(
  res: TrackedResponse,
  code: ErrorCode,
  detail?: string,
  close = false,
): void {
  later(res, (r) => writeError(r, code, detail, close))
}

/**
 * Run `act` (a change in Redis) on the next turn of the loop, and only if the client still waits
 * for the answer. A request pipelined behind this one makes uWS close the connection, and uWS
 * says so (onAborted) in the same read, after the handler and its microtasks: acting from inside
 * the handler would change state for a client who can never be told.
 */
export function whenStillWaiting(res: TrackedResponse, act: () => void): void {
  setImmediate(() => {
    if (!res.aborted) act()
  })
}

/** 503 outcome_unknown after a change that may have run (a timeout, a connection lost). */
export function laterUnknown(res: TrackedResponse, detail: string, orderId?: string): void {
  const body = JSON.stringify({ error: 'outcome_unknown', detail, ...(orderId ? { orderId } : {}) })
  later(res, (r) => writeJson(r, '503 Service Unavailable', body))
}

export const MAX_BODY = 4096

/**
 * How much of a too-large body is read and thrown away so that the client gets its 413. Closing
 * a socket that still has unread bytes makes the kernel answer with a reset, and a client that
 * sends its whole body before it reads (most do) then loses the 413 it was sent. Past this bound
 * the bandwidth is not worth it: answer and close (that client may see a reset).
 */
export const DISCARD_MAX = 16 * 1024 * 1024

/**
 * Read a JSON body of at most MAX_BODY bytes. Calls `done` with the parsed value, or answers the
 * 4xx itself and never calls `done`. `res` must be tracked (onAborted) already.
 */
export function readJson(
  res: TrackedResponse,
  req: HttpRequest,
  done: (value: unknown) => void,
): void {
  const declared = req.getHeader('content-length')
  if (declared !== '' && Number(declared) > MAX_BODY) {
    // Answer at once, and keep the connection: uWS knows the length and skips the rest of the
    // body itself, so the client's upload goes on and the connection stays in step. The framing
    // check has made sure this is the only Content-Length, of at most 9 digits.
    writeError(res, 'too_large', undefined, Number(declared) > DISCARD_MAX)
    res.aborted = true
    return
  }
  // null once the body passed MAX_BODY (or was answered): the rest is counted and dropped.
  let chunks: Buffer[] | null = []
  let size = 0
  res.onData((ab, isLast) => {
    size += ab.byteLength
    if (chunks === null || size > MAX_BODY) {
      chunks = null
      // Only a chunked body gets here (no length known ahead). Answering now would leave uWS
      // skipping the rest without bound: read it to its end and answer then (the connection
      // stays in step), or answer and close once it passes DISCARD_MAX.
      if (isLast) laterError(res, 'too_large')
      else if (size > DISCARD_MAX) laterError(res, 'too_large', undefined, true)
      return
    }
    // uWS lends the ArrayBuffer only for this call: copy it.
    chunks.push(Buffer.from(ab.slice(0)))
    if (!isLast) return
    const text =
      chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8')
    chunks = null
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch (err) {
      laterError(res, 'bad_request', `malformed JSON: ${(err as Error).message}`)
      return
    }
    done(value)
  })
}
