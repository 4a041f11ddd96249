/**
 * The one table of error codes (fastify's lib/errors.js): code, HTTP status, default detail.
 * Callers match on `code`, never on a class: errors cross process and thread boundaries.
 */
export const ERRORS = {
  bad_request: { status: '400 Bad Request', detail: 'the request is malformed' },
  unauthorized: { status: '401 Unauthorized', detail: 'a valid admin bearer token is required' },
  not_found: { status: '404 Not Found', detail: 'no such resource' },
  sale_exists: { status: '409 Conflict', detail: 'a sale with this id already exists' },
  sold_out: { status: '409 Conflict', detail: 'not enough stock left' },
  limit_exceeded: { status: '409 Conflict', detail: 'this user would exceed the per-user limit' },
  stock_conflict: {
    status: '409 Conflict',
    detail: 'the stock cannot change by that much: it never drops below what is sold',
  },
  not_started: { status: '409 Conflict', detail: 'the sale has not started' },
  closed: { status: '409 Conflict', detail: 'the sale is closed' },
  expired: { status: '409 Conflict', detail: 'the order was not paid in time and has expired' },
  cancelled: { status: '409 Conflict', detail: 'the order has been cancelled' },
  paid: { status: '409 Conflict', detail: 'the order has been paid' },
  too_large: { status: '413 Payload Too Large', detail: 'the body is larger than 4096 bytes' },
  rate_limited: { status: '429 Too Many Requests', detail: 'too many requests; retry later' },
  internal: { status: '500 Internal Server Error', detail: 'internal error' },
  unavailable: { status: '503 Service Unavailable', detail: 'the stock store cannot be reached' },
  // Sent, but no answer in time: it may have happened. Never "nothing reserved" (API.md).
  outcome_unknown: {
    status: '503 Service Unavailable',
    detail:
      'the stock store did not answer in time: the attempt may or may not have been reserved; ' +
      'GET /api/v1/orders/:orderId, or retry with the same Idempotency-Key',
  },
} as const

export type ErrorCode = keyof typeof ERRORS

/** The JSON body of an error answer: {"error","detail"}. */
export function errorBody(code: ErrorCode, detail?: string): string {
  return JSON.stringify({ error: code, detail: detail ?? ERRORS[code].detail })
}

/** Pre-built bodies for the answers a storm sends over and over. */
export const PREBUILT: Readonly<Record<ErrorCode, string>> = Object.freeze(
  Object.fromEntries(Object.keys(ERRORS).map((c) => [c, errorBody(c as ErrorCode)])) as Record<
    ErrorCode,
    string
  >,
)
