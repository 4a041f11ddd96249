import t from 'tap'
import { luaScripts } from '../../src/store/scripts'

/**
 * Code two scripts share lives once in native-lua/includes/ and is inlined by the loader where a
 * script says `--- @include "<name>"`: what Redis is given must hold the code, never the marker.
 */
t.test('every include marker is replaced by its file before a script is loaded', async (t) => {
  for (const s of luaScripts()) {
    t.notMatch(s.lua, /^--- @include/m, `${s.name}: no marker left`)
  }
  for (const name of ['settleOrder', 'expireOrders']) {
    const s = luaScripts().find((x) => x.name === name)
    t.match(s?.lua, /local function changeOrder\(orderId, o, status\)/, `${name} has changeOrder`)
  }
  // Every script that touches the orders hash reads and writes it with the one codec; these
  // three touch only the sale hash.
  const saleHashOnly = new Set(['createSale', 'setSaleState', 'adjustStock'])
  for (const s of luaScripts()) {
    if (saleHashOnly.has(s.name)) continue
    t.match(s.lua, /local function decodeOrder\(raw, orderId\)/, `${s.name} has decodeOrder`)
    t.notMatch(s.lua, /cjson\.encode\(/, `${s.name} writes no JSON into the orders hash`)
    const change = s.lua.indexOf('local function changeOrder')
    if (change >= 0) {
      t.ok(
        s.lua.indexOf('local function encodeOrder') < change,
        `${s.name}: the codec comes before changeOrder, which uses it`,
      )
    }
  }
})

t.test('an included file is not a script of its own', async (t) => {
  for (const name of ['changeOrder', 'orderRecord']) {
    t.notOk(
      luaScripts().some((s) => s.name === name),
      `includes/${name}.lua is not registered as a command`,
    )
  }
})
