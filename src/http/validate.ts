import { isUtf8 } from 'node:buffer'
import { z } from 'zod'
import { isIdentifier } from '../identifier'

/** Request bodies, validated strictly: an unknown field is a 400, not silently ignored. */

// A subset of the identifier rule (src/identifier.ts), so a sale id needs no second check.
export const SALE_ID = /^[A-Za-z0-9_-]{1,64}$/

/** The `detail` of a 400 for an identifier that breaks the rule of API.md "Identifiers". */
export function identifierRule(field: string): string {
  return `${field} must be 1-128 characters of UTF-8 text without control characters`
}

const isoOrNull = z
  .union([z.iso.datetime({ offset: true }), z.null()])
  .optional()
  .transform((v) => (v ? Date.parse(v) : null))

export const newSaleBody = z
  .strictObject({
    id: z.string().regex(SALE_ID, 'id must be 1-64 characters of [A-Za-z0-9_-]'),
    name: z.string().min(1).max(200),
    stock: z.number().int().min(1).max(1e9),
    perUserLimit: z.number().int().min(1).max(1e9).default(1),
    startsAt: isoOrNull,
    endsAt: isoOrNull,
    paymentTtlSeconds: z.number().int().min(1).max(2592000).default(300),
  })
  .refine((s) => s.startsAt === null || s.endsAt === null || s.endsAt > s.startsAt, {
    message: 'endsAt must be after startsAt',
    path: ['endsAt'],
  })

const stockUnits = z.number().int().min(1).max(1e9)

/** POST /api/v1/sales/:id/stock: exactly one of `add` and `remove`, a whole number 1..10^9. */
export const stockChangeBody = z
  .strictObject({ add: stockUnits.optional(), remove: stockUnits.optional() })
  .refine((b) => (b.add === undefined) !== (b.remove === undefined), {
    message: 'give exactly one of add and remove',
  })
  .transform((b) =>
    b.add !== undefined
      ? { action: 'add' as const, units: b.add }
      : { action: 'remove' as const, units: b.remove as number },
  )

export const newOrderBody = z.strictObject({
  userId: z.string().refine(isIdentifier, identifierRule('userId')),
  quantity: z.number().int().min(1).max(1e9).default(1),
})

/**
 * The same body under signed identity: the buyer is the token's sub, so `userId` may be left
 * out, and when present it is ignored, whatever it holds (a client written for asserted ids
 * keeps working unchanged).
 */
export const signedOrderBody = z.strictObject({
  userId: z.unknown().optional(),
  quantity: z.number().int().min(1).max(1e9).default(1),
})

/**
 * A header value as the text the client sent. uWS hands header bytes over one char per byte
 * (latin1), so UTF-8 `中` arrives as three chars and would be stored as mojibake; a query
 * parameter, by contrast, arrives already percent- and UTF-8-decoded. Returns null when the bytes
 * are not UTF-8. ASCII (every header in practice) is returned as is, without a copy. (uWS also
 * drops bytes >= 0x80 at both ends of a value, trimming them as if whitespace: that loss cannot
 * be seen from here.)
 */
export function headerText(raw: string): string | null {
  let i = 0
  while (i < raw.length && raw.charCodeAt(i) < 0x80) i++
  if (i === raw.length) return raw
  const bytes = Buffer.from(raw, 'latin1')
  return isUtf8(bytes) ? bytes.toString('utf8') : null
}

/** One line naming each bad field, for the `detail` of a 400. */
export function describeIssues(err: z.ZodError): string {
  return err.issues
    .map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message))
    .join('; ')
}
