--[[
  Included by every script that reads or writes the orders hash (`--- @include "orderRecord"`,
  inlined by the loader, src/store/scripts.ts): the one codec of an order's value there.
  src/orders/order-record.ts mirrors it (encodeStoredOrder, decodeStoredOrder), and
  test/lua/order-record.test.ts holds the two to the same bytes.

  The orders hash ({saleId}:orders) maps an order id to

    <status><quantity>,<createdAt>,<expiresAt-createdAt>,<paidAt-createdAt>,<#userId>:<userId><key>

  status one letter: r reserved, p paid, c cancelled, e expired. Times are epoch ms on the Redis
  clock; the two after createdAt are ms after it (a few digits instead of 13: with the field names
  of JSON gone, the value of a typical order is a third of its JSON), and paidAt's is empty unless
  the order is paid. #userId is the user id's length in bytes, so the user id may hold any byte
  (',' ':' digits, NUL) and the idempotency key (<key>) is the rest of the value, as in the field of
  the idempotency hash ("<#userId>:<userId><key>"). E.g. u1 reserved 2 units with key k:
  "r2,1700000000000,300000,,2:u1k"; an anonymous buyer paid 1 unit 5 s in, no key:
  "p1,1700000000000,300000,5000,0:".

  decodeOrder(raw, orderId) -> o = {status, quantity, createdAt, expiresAt, paidAt (ms, or ''),
  userId, idempotencyKey}, numbers as numbers. It also reads the JSON of the previous version
  (cjson.encode of that same table; the value starts with '{'): a node upgraded during a sale finds
  orders it wrote. A value that is neither is a fault, not an outcome: an error naming the order.
  Every caller decodes before its first write for that order.

  encodeOrder(o) -> the value, from a table of that shape (an old order is rewritten in this form
  the next time it changes).
]]
local ORDER_STATUS = { r = 'reserved', p = 'paid', c = 'cancelled', e = 'expired' }
local ORDER_LETTER = { reserved = 'r', paid = 'p', cancelled = 'c', expired = 'e' }

local function decodeOrder(raw, orderId)
  if string.byte(raw, 1) == 123 then -- '{': JSON, written before this form
    local o = cjson.decode(raw)
    -- The first version wrote neither; src/orders/order-record.ts reads them the same way.
    if o.status == nil then o.status = 'reserved' end
    if o.paidAt == nil then o.paidAt = '' end
    return o
  end
  local s, q, c, e, p, n, at =
    string.match(raw, '^(%a)(%d+),(%d+),(%-?%d+),(%-?%d*),(%d+):()')
  if not ORDER_STATUS[s] or at + tonumber(n) - 1 > #raw then
    error('order ' .. orderId
      .. ': its value in the orders hash is neither an order record nor JSON')
  end
  n, c = tonumber(n), tonumber(c)
  return {
    status = ORDER_STATUS[s], quantity = tonumber(q), createdAt = c, expiresAt = c + tonumber(e),
    paidAt = p == '' and '' or c + tonumber(p),
    userId = string.sub(raw, at, at + n - 1), idempotencyKey = string.sub(raw, at + n),
  }
end

local function encodeOrder(o)
  -- %d, not tostring: Lua's numbers print with 14 significant digits, %d exactly (64-bit). The
  -- ids are concatenated, not formatted: %s stops at a NUL byte.
  return string.format('%s%d,%d,%d,%s,%d:', ORDER_LETTER[o.status], o.quantity, o.createdAt,
    o.expiresAt - o.createdAt, o.paidAt == '' and '' or string.format('%d', o.paidAt - o.createdAt),
    #o.userId) .. o.userId .. o.idempotencyKey
end
