/**
 * The identifier rule of API.md ("Identifiers"), shared by every place that takes a userId or an
 * Idempotency-Key: 1-128 characters of valid UTF-8, no control characters. What passes is
 * exactly what PostgreSQL's UTF8 `text` can store and give back unchanged, so an order is never
 * sold and then refused by the writer (a NUL used to end in the dead-letter stream).
 */

/** Longest identifier, in characters (Unicode code points), not bytes or UTF-16 units. */
export const MAX_IDENTIFIER_CHARS = 128

/**
 * True when `s` is 1-128 code points with no C0 control character or DEL, no unpaired surrogate
 * (JSON `"\ud800"` parses to one; it has no UTF-8 form, so Redis and PostgreSQL would get U+FFFD
 * while the 201 echoed the surrogate) and no U+FFFD. U+FFFD is refused because it is what bytes
 * that are not UTF-8 have already become by the time we see a string (uWS decodes `%FF` in a
 * query to it, Buffer#toString does the same to a body): refusing it is the only way to refuse
 * invalid UTF-8 there, and no real id contains the replacement character.
 *
 * One pass over char codes, no allocation: it runs on the purchase hot path.
 */
export function isIdentifier(s: string): boolean {
  const n = s.length
  // 128 code points are at most 256 UTF-16 units: anything longer fails without a scan.
  if (n === 0 || n > 2 * MAX_IDENTIFIER_CHARS) return false
  let chars = 0
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x20 || c === 0x7f || c === 0xfffd) return false
    if (c >= 0xd800 && c <= 0xdfff) {
      // A high surrogate must be followed by a low one; a low one on its own is unpaired.
      if (c >= 0xdc00 || i + 1 === n) return false
      const next = s.charCodeAt(i + 1)
      if (next < 0xdc00 || next > 0xdfff) return false
      i++
    }
    if (++chars > MAX_IDENTIFIER_CHARS) return false
  }
  return true
}
