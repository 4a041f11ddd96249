import { z } from 'zod'

/** Request bodies, validated strictly: an unknown field is a 400, not silently ignored. */

export const SALE_ID = /^[A-Za-z0-9_-]{1,64}$/

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

export const newOrderBody = z.strictObject({
  userId: z.string().min(1).max(128),
  quantity: z.number().int().min(1).max(1e9).default(1),
})

/** One line naming each bad field, for the `detail` of a 400. */
export function describeIssues(err: z.ZodError): string {
  return err.issues
    .map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message))
    .join('; ')
}
