import t from 'tap'
import { ADJUST_STOCK } from '../../src/store/lua/adjust-stock'
import { CREATE_SALE } from '../../src/store/lua/create-sale'
import { EXPIRE_ORDERS } from '../../src/store/lua/expire-orders'
import { PRUNE_ORDERS } from '../../src/store/lua/prune-orders'
import { RECOUNT_SALE } from '../../src/store/lua/recount-sale'
import { decodeReserveReply, RESERVE } from '../../src/store/lua/reserve'
import { RESTORE_SALE } from '../../src/store/lua/restore-sale'
import { countsOf, nameOf } from '../../src/store/lua/script-call'
import { SET_SALE_STATE } from '../../src/store/lua/set-sale-state'
import { SETTLE_ORDER } from '../../src/store/lua/settle-order'
import { luaScripts } from '../../src/store/scripts'

/**
 * Each script's gateway names every code its script can answer: the codes listed in the script's
 * `Output:` header are exactly the keys of the gateway's table. A code added to a script without
 * a name in its gateway (or a name left for a code the script dropped) fails here, not in
 * production as an unknown code. No Redis: the headers are read from native-lua/.
 */
const GATEWAYS = [
  ADJUST_STOCK,
  CREATE_SALE,
  EXPIRE_ORDERS,
  PRUNE_ORDERS,
  RECOUNT_SALE,
  RESERVE,
  RESTORE_SALE,
  SET_SALE_STATE,
  SETTLE_ORDER,
]
const byFile = new Map(GATEWAYS.map((g) => [g.file, g]))

/**
 * The codes of a header's `Output:` section: its lines indented deeper than the section title,
 * up to the first blank or less indented line. A code opens a line, alone (`  -1  sold_out`) or
 * as the first element of a reply (`  {-6, name}`); a reply of counts (`{forgotten, ...}`) has
 * none.
 */
export function outputCodes(lua: string): number[] {
  const header = /--\[\[([\s\S]*?)\]\]/.exec(lua)?.[1] ?? ''
  const lines = header.split('\n')
  const at = lines.findIndex((l) => /^\s*Output:/.test(l))
  if (at < 0) return []
  const indent = /^\s*/.exec(lines[at]!)![0].length
  const codes: number[] = []
  for (const line of lines.slice(at + 1)) {
    if (line.trim() === '' || /^\s*/.exec(line)![0].length <= indent) break
    const m = /^\s+(?:(-?\d+)\s{2,}\S|\{(-?\d+)[,}])/.exec(line)
    if (m) codes.push(Number(m[1] ?? m[2]))
  }
  return codes.sort((a, b) => a - b)
}

const named = (codes: object) =>
  Object.keys(codes)
    .map(Number)
    .sort((a, b) => a - b)

t.test('every script of native-lua/ has a gateway with a table of its reply codes', async (t) => {
  const files = luaScripts().map((s) => `${s.name}-${s.numberOfKeys}.lua`)
  t.strictSame(files.sort(), [...byFile.keys()].sort())
})

for (const s of luaScripts()) {
  const file = `${s.name}-${s.numberOfKeys}.lua`
  t.test(`the gateway of ${file} names exactly the codes its Output header lists`, async (t) => {
    const listed = outputCodes(s.lua)
    t.ok(listed.length > 0, 'the header lists at least one code (the parser found the section)')
    const gateway = byFile.get(file)
    t.equal(gateway?.command, s.name, 'the gateway calls the command the loader defined')
    t.strictSame(named(gateway?.codes ?? {}), listed)
  })
}

t.test('the header parser reads codes alone and as the first element of a reply', async (t) => {
  const lua = [
    '--[[',
    '  Output: {code, rest}',
    '     0  done',
    '    -1  refused, continued on',
    '        the next line: 5  is not a code',
    '    {-12}  a reply of one code',
    '    {-6, name}  a reply with a detail',
    '    {forgotten, left}  counts carry no code',
    '',
    '    -7  after the section: not read',
    ']]',
  ].join('\n')
  t.strictSame(outputCodes(lua), [-12, -6, -1, 0])
})

t.test('a code the table does not name is a fault naming the script and the code', async (t) => {
  t.equal(nameOf(RESERVE, -1), 'sold_out')
  t.throws(() => nameOf(RESERVE, -99), /reserve-6\.lua .*-99/)
  t.throws(() => nameOf(RESERVE, '0'), /reserve-6\.lua .*0/)
  t.throws(() => decodeReserveReply([7, 3]), /reserve-6\.lua .*7/)
  t.throws(() => countsOf(PRUNE_ORDERS, [-6]), /pruneOrders-3\.lua answered bad_request/)
  t.throws(() => countsOf(PRUNE_ORDERS, [-7]), /pruneOrders-3\.lua .*unknown code -7/)
  t.strictSame(countsOf(PRUNE_ORDERS, [3, 0]), [3, 0])
})

t.test('a reserve reply decodes into its outcome, what remains and the order', async (t) => {
  t.strictSame(decodeReserveReply([0, 4, 's.o1', 2, 1000, 301000]), {
    outcome: 'reserved',
    remaining: 4,
    order: { orderId: 's.o1', quantity: 2, createdAt: 1000, expiresAt: 301000 },
  })
  t.strictSame(decodeReserveReply([1, 4, 's.o0', 1, 900, 300900]), {
    outcome: 'replayed',
    remaining: 4,
    order: { orderId: 's.o0', quantity: 1, createdAt: 900, expiresAt: 300900 },
  })
  t.strictSame(decodeReserveReply([-2, 4]), {
    outcome: 'limit_exceeded',
    remaining: 4,
    order: null,
  })
})
