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

/** Write an error answer, synchronously (inside the handler or a cork). */
export function writeError(res: HttpResponse, code: ErrorCode, detail?: string): void {
  res.writeStatus(ERRORS[code].status).writeHeader('Content-Type', JSON_TYPE)
  if (code === 'rate_limited') res.writeHeader('Retry-After', '1')
  // A body that was too large may still be arriving: close rather than read it all.
  res.end(
    detail === undefined ? PREBUILT_BUFFERS[code] : errorBody(code, detail),
    code === 'too_large',
  )
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
export function laterError(res: TrackedResponse, code: ErrorCode, detail?: string): void {
  later(res, (r) => writeError(r, code, detail))
}

export const MAX_BODY = 4096

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
    writeError(res, 'too_large')
    res.aborted = true
    return
  }
  let chunks: Buffer[] | null = []
  let size = 0
  res.onData((ab, isLast) => {
    if (chunks === null) return
    size += ab.byteLength
    if (size > MAX_BODY) {
      chunks = null
      laterError(res, 'too_large')
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
