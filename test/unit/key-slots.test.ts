import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { loadConfig } from '../../src/config'
import { SALE_ID } from '../../src/http/validate'
import { type SaleKeys, saleKeys, salesIndexKey } from '../../src/store/keys'
import type { SaleScript } from '../../src/store/lua/script-call'
import { luaScripts } from '../../src/store/scripts'
import { keySlot } from '../helpers/key-slot'

/**
 * Redis Cluster: a script, MULTI or multi-key command must keep to one hash slot. Every key of a
 * sale carries its `{saleId}` tag, so each lands in the slot of the sale id itself; the slot is
 * computed here as Redis computes it (test/helpers/key-slot.ts).
 * test/integration/redis-cluster.test.ts asks a real cluster the same.
 */

// Sale ids as API.md allows them (1-64 of [A-Za-z0-9_-]): short, long, digits, dashes.
const SALE_IDS = ['s1', 'phone', 'x', '0', 'a-b_c', 'Z'.repeat(64), 'rush-2025_11-11', '_-_']
const PREFIXES = ['sk:', '', 't:9f3a1c:', 'a.b-c_d:']

/** Every script gateway in src/store/lua/ (each module's SaleScript exports). */
function gateways(): SaleScript<Record<number, string>, readonly string[]>[] {
  const dir = join(__dirname, '..', '..', 'src', 'store', 'lua')
  const found: SaleScript<Record<number, string>, readonly string[]>[] = []
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
    const mod = require(join(dir, file)) as Record<string, unknown>
    for (const value of Object.values(mod)) {
      const s = value as Partial<SaleScript<Record<number, string>, readonly string[]>>
      if (typeof s?.file === 'string' && typeof s.keys === 'function') found.push(s as never)
    }
  }
  return found
}

t.test('every script of native-lua/ has a gateway that names its keys', async (t) => {
  const files = gateways().map((g) => g.file)
  t.strictSame(
    files.sort(),
    luaScripts()
      .map((s) => `${s.name}-${s.numberOfKeys}.lua`)
      .sort(),
  )
})

t.test("the keys every gateway passes its script all hash to the sale id's slot", async (t) => {
  for (const g of gateways()) {
    for (const prefix of PREFIXES) {
      for (const id of SALE_IDS) {
        const keys = g.keys(saleKeys(prefix, id))
        const slots = new Set(keys.map((k) => keySlot(k)))
        t.strictSame(
          [...slots],
          [keySlot(id)],
          `${g.file}, prefix "${prefix}", sale ${id}: ${keys.length} keys, one slot`,
        )
      }
    }
  }
})

t.test(
  "every key of a sale (what the writer's ack, the reconciliation's snapshot and the dead-letter move send in one MULTI) is in one slot",
  async (t) => {
    for (const id of SALE_IDS) {
      const k = saleKeys('sk:', id)
      const names = Object.keys(k) as (keyof SaleKeys)[]
      const slots = new Set(names.map((n) => keySlot(k[n])))
      t.strictSame([...slots], [keySlot(id)], `sale ${id}: ${names.join(', ')}`)
    }
  },
)

t.test('different sales fall in different slots, so they spread over the shards', async (t) => {
  const ids = Array.from({ length: 30 }, (_, i) => `sale-${i}`)
  const slots = new Set(ids.map((id) => keySlot(saleKeys('sk:', id).sale)))
  t.ok(slots.size >= 29, `30 sales in ${slots.size} slots`)
  // With the slots split in three (what redis-cli --cluster create does), each third has some.
  const thirds = new Set([...slots].map((s) => Math.floor((s * 3) / 16384)))
  t.equal(thirds.size, 3, 'the sales fall in each third of the slot space')
})

t.test('the sales index is a key of its own, outside the tag of any sale', async (t) => {
  t.notMatch(salesIndexKey('sk:'), /[{}]/, 'no hash tag: its own slot, named by the whole key')
})

t.test(
  'a sale id or prefix that would break the tag is refused before any key is made',
  async (t) => {
    // A sale id starting with "}" would make an empty tag, "{}", which Redis ignores: each key
    // would hash whole and the sale's keys would scatter over slots.
    const broken = saleKeys('sk:', '}x')
    t.not(keySlot(broken.sale), keySlot(broken.users), 'what an empty tag does')
    for (const id of ['}x', '{x', 'a}b', 'a{b}']) t.notOk(SALE_ID.test(id), `sale id ${id} refused`)
    for (const prefix of ['a{', '}', '{b}:']) {
      t.throws(
        () => loadConfig({ SECKILL_ADMIN_TOKEN: 'a-token-of-16+ch', REDIS_PREFIX: prefix }),
        /REDIS_PREFIX/,
        `prefix ${prefix} refused`,
      )
    }
  },
)
