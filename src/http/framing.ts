import { ERRORS, type ErrorCode, errorBody } from '../errors'
import type { HttpRequest, HttpResponse } from '../uws'
import { JSON_TYPE } from './respond'

/**
 * HTTP framing checks every route goes through (API.md "HTTP framing"), and HEAD for GET routes.
 *
 * uWS v20.30 frames a body by the *first* Content-Length and decodes any non-empty
 * Transfer-Encoding as chunked; a peer (a proxy in front) may frame the same bytes differently and
 * forward what it took for a body, which uWS then runs as a request of its own (smuggling). So a
 * request whose framing is ambiguous is refused with a 400 and the connection closed before the
 * bytes after it are parsed.
 */
export type Handler = (res: HttpResponse, req: HttpRequest) => void

/**
 * Why the headers of every request are scanned, not only those whose first Content-Length or
 * Transfer-Encoding looks non-empty: `getHeader` answers '' both for an absent header and for an
 * empty first one, and uWS frames `Content-Length: ` + `Content-Length: 37` as bodiless (measured),
 * so that cheap pre-check lets exactly this smuggle through. It would not even be cheaper: two
 * getHeader calls cost what a scan of 2–3 headers does (~80 ns); a scan costs ~0.1 µs per header
 * (a browser's 8: ~1 µs; an API client's 3–4: ~0.3 µs, against ~4 µs of CPU for a bare uWS
 * request). The visitor is a top-level function over module state (uWS runs one handler at a
 * time on this thread): no allocation but the strings uWS hands over.
 */
let lengths = 0
let length = ''
let lengthsDiffer = false
let encodings = 0
let encoding = ''

function visit(key: string, value: string): void {
  // Keys come lower-cased from uWS's parser.
  if (key === 'content-length') {
    if (lengths > 0 && value !== length) lengthsDiffer = true
    lengths++
    length = value
  } else if (key === 'transfer-encoding') {
    encodings++
    encoding = value
  }
}

/**
 * uWS accepts a Content-Length of at most 9 digits; any other value (empty, a list, a sign, 10
 * digits) makes it drop the connection *after* the handler ran, so a purchase could be made and
 * its answer lost. Refused here first.
 */
const LENGTH = /^[0-9]{1,9}$/
const DIGITS = /^[0-9]+$/

/**
 * uWS corks the socket while it parses one read and runs the handler of each request in it in
 * turn. An answer ended with close inside a handler is flushed, and the socket closed, only when
 * the whole read is parsed: after the requests that followed in the same read were dispatched
 * (measured: the smuggled request is answered, and as it resets the connection's state the socket
 * is not even closed). A write larger than uWS's 16 KiB cork buffer is sent at once instead, and
 * ended with close and nothing left unsent, the socket is shut down before the handler returns;
 * the parser stops there. So a framing refusal is padded past the cork buffer (JSON allows the
 * trailing spaces). Only refused requests pay the 17 KiB. `res.close()` would stop the parser too,
 * but throws away the 400 still in the cork buffer.
 */
const CORK_BUFFER = 16 * 1024

function refusal(code: ErrorCode, detail: string): Buffer {
  return Buffer.from(errorBody(code, detail).padEnd(CORK_BUFFER + 1024, ' '))
}

const REFUSALS = {
  both: refusal(
    'bad_request',
    'a request must not carry both Transfer-Encoding and Content-Length',
  ),
  encoding: refusal('bad_request', 'the only Transfer-Encoding accepted is one "chunked"'),
  repeated: refusal('bad_request', 'Content-Length is repeated'),
  conflicting: refusal('bad_request', 'Content-Length is given twice with different values'),
  invalid: refusal('bad_request', 'Content-Length must be a decimal number of bytes'),
  huge: refusal('too_large', ERRORS.too_large.detail),
} as const
type Fault = keyof typeof REFUSALS

/** What is wrong with the framing of `req`, or null when it is unambiguous. */
export function framingFault(req: HttpRequest): Fault | null {
  lengths = 0
  lengthsDiffer = false
  encodings = 0
  req.forEach(visit)
  if (lengths === 0 && encodings === 0) return null
  if (encodings > 0) {
    if (lengths > 0) return 'both'
    // uWS decodes any non-empty Transfer-Encoding as chunked ("gzip, chunked", "xchunked"):
    // refuse what it would misread rather than disagree with a proxy about where a body ends.
    return encodings === 1 && encoding.toLowerCase() === 'chunked' ? null : 'encoding'
  }
  if (lengths > 1) return lengthsDiffer ? 'conflicting' : 'repeated'
  if (LENGTH.test(length)) return null
  return DIGITS.test(length) ? 'huge' : 'invalid'
}

/** Also to a HEAD, body and all: the connection closes, so the body cannot desync it. */
function refuse(res: HttpResponse, fault: Fault): void {
  res
    .writeStatus(ERRORS[fault === 'huge' ? 'too_large' : 'bad_request'].status)
    .writeHeader('Content-Type', JSON_TYPE)
    .end(REFUSALS[fault], true)
}

/** Requests this worker has been sent (every route passes `framed`): status's requests/s. */
let served = 0
/** Set once when the worker stops: every answer from then on closes its connection. */
let draining = false

export function requestsServed(): number {
  return served
}

/**
 * Stop keeping connections alive: every answer from now on carries `Connection: close` and ends
 * its connection, so a client on a keep-alive connection to a worker that is going away (reload,
 * stop) learns it from its next answer and reconnects to a worker that stays, instead of finding
 * the connection dropped under a request.
 */
export function drainConnections(): void {
  draining = true
}

/** `res.end`, then close: an answer already written closes its connection after it. */
function endClosing(this: HttpResponse, body?: Body): HttpResponse {
  return Object.getPrototypeOf(this).end.call(this, body, true)
}

/** `handler`, behind the framing check: what every route is registered with. */
export function framed(handler: Handler): Handler {
  return (res, req) => {
    served++
    const fault = framingFault(req)
    if (fault !== null) return refuse(res, fault)
    if (draining) res.end = endClosing
    handler(res, req)
  }
}

type Body = Parameters<HttpResponse['end']>[0]

/**
 * `res.end` for a HEAD request: the status and headers the GET handler wrote, its body's
 * Content-Length, no body. uWS sends whatever body `end` is given, even to a HEAD, and a
 * keep-alive client then reads those bytes as the start of the next answer. Not
 * `endWithoutBody(n)`: in v20.30 that leaves the response unfinished; `endWithoutBody()` writes no
 * Content-Length, so we write the GET's.
 */
function endHead(this: HttpResponse, body?: Body, closeConnection?: boolean): HttpResponse {
  // Closing anyway (no handler reached by HEAD does): the body cannot desync a reused connection.
  // Draining too: a HEAD answer then closes its connection like every other.
  if (closeConnection || draining) return Object.getPrototypeOf(this).end.call(this, body, true)
  const size =
    body === undefined
      ? 0
      : Buffer.byteLength(body as string | ArrayBuffer | NodeJS.ArrayBufferView)
  return this.writeHeader('Content-Length', String(size)).endWithoutBody()
}

/** Make `res` answer as to a HEAD request, whatever the handler then writes. */
export function asHead(res: HttpResponse): void {
  res.end = endHead
}

/** The HEAD twin of a GET handler (register it behind `framed` too). */
export function headOf(handler: Handler): Handler {
  return (res, req) => {
    asHead(res)
    handler(res, req)
  }
}
