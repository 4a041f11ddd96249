import t from 'tap'
import { headerText } from '../../src/http/validate'
import { isIdentifier } from '../../src/identifier'

const CJK = '中'
const EMOJI = '😀' // U+1F600: two UTF-16 code units, one character

t.test('isIdentifier accepts 1-128 characters of text, counted in code points', async (t) => {
  const ok: [string, string][] = [
    ['one ASCII character', 'a'],
    ['128 ASCII characters', 'u'.repeat(128)],
    ['128 CJK characters (384 UTF-8 bytes)', CJK.repeat(128)],
    ['128 emoji (256 UTF-16 units, 512 UTF-8 bytes)', EMOJI.repeat(128)],
    ['a mix of scripts and a space', 'José 张三 😀 user-1'],
    ['the last character before DEL', '~'],
    ['a C1 / latin1 character (only C0 and DEL are control characters here)', 'é\u0080'],
    ['a noncharacter is still valid UTF-8', '\uffff'],
  ]
  for (const [what, s] of ok) t.equal(isIdentifier(s), true, what)
})

t.test('isIdentifier refuses what PostgreSQL cannot store or the contract forbids', async (t) => {
  const bad: [string, string][] = [
    ['the empty string', ''],
    ['129 ASCII characters', 'u'.repeat(129)],
    ['129 CJK characters', CJK.repeat(129)],
    ['129 emoji', EMOJI.repeat(129)],
    ['128 emoji and one more ASCII character', `${EMOJI.repeat(128)}a`],
    ['a NUL byte', 'a\u0000b'],
    ['a NUL byte alone', '\u0000'],
    ['a tab', 'a\tb'],
    ['a newline', 'a\nb'],
    ['U+001F', 'a\u001fb'],
    ['DEL (U+007F)', 'a\u007fb'],
    ['a lone high surrogate', 'a\ud800b'],
    ['a lone high surrogate at the end', 'ab\ud83d'],
    ['a lone low surrogate', 'a\ude00b'],
    ['a reversed surrogate pair', '\ude00\ud83d'],
    ['two high surrogates', '\ud83d\ud83d'],
    ['U+FFFD, what invalid UTF-8 becomes once decoded', 'a\ufffdb'],
  ]
  for (const [what, s] of bad) t.equal(isIdentifier(s), false, what)
})

t.test('headerText reads uWS header strings (one char per byte) as UTF-8', async (t) => {
  const latin1 = (s: string) => Buffer.from(s, 'utf8').toString('latin1')
  t.equal(headerText('alice'), 'alice', 'ASCII is returned as is')
  t.equal(headerText(''), '', 'an absent header stays empty')
  t.equal(headerText(latin1('a中b')), 'a中b', 'UTF-8 bytes are decoded')
  t.equal(headerText(latin1(`x${EMOJI}y`)), `x${EMOJI}y`, 'a 4-byte sequence is decoded')
  t.equal(headerText('a\u00ffb'), null, 'a byte that is never UTF-8 (0xFF) is refused')
  t.equal(headerText('a\u00e4b'), null, 'a truncated sequence is refused')
  t.equal(headerText('a\u00ed\u00a0\u0080b'), null, 'CESU-8 (ED A0 80) is refused')
  t.equal(headerText('a\u007fb'), 'a\u007fb', 'control characters are left to isIdentifier')
})
