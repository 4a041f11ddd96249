--[[
  Included by settleOrder-5.lua and expireOrders-5.lua (`--- @include "changeOrder"`, inlined by
  the loader, src/store/scripts.ts), after they have named their KEYS (saleKey, usersKey,
  ordersKey, expiryKey, streamKey), read nowMs and included orderRecord (encodeOrder): the one way
  an order leaves "reserved".

  changeOrder(orderId, o, status): o is the order (decodeOrder's table, status "reserved");
  status is "paid", "cancelled" or "expired". Writes the order's new state (a record, whatever
  form it had), drops its deadline, appends the change to the order stream (the codec's fields, in
  its order: src/orders/order-record.ts) and, for an order that did not sell, returns its units:
  sold -= quantity, returned += quantity, the user's held units -= quantity. Returns the order's
  new value in the orders hash.
]]
local function changeOrder(orderId, o, status)
  o.status = status
  if status == 'paid' then o.paidAt = nowMs end
  local value = encodeOrder(o)
  rcall('HSET', ordersKey, orderId, value)
  rcall('ZREM', expiryKey, orderId)
  rcall('XADD', streamKey, '*', 'orderId', orderId, 'userId', o.userId, 'quantity', o.quantity,
    'createdAt', o.createdAt, 'expiresAt', o.expiresAt, 'idempotencyKey', o.idempotencyKey,
    'status', status, 'paidAt', o.paidAt)
  if status ~= 'paid' then
    rcall('HINCRBY', saleKey, 'sold', -o.quantity)
    rcall('HINCRBY', saleKey, 'returned', o.quantity)
    if o.userId ~= '' then
      if tonumber(rcall('HINCRBY', usersKey, o.userId, -o.quantity)) <= 0 then
        rcall('HDEL', usersKey, o.userId)
      end
    end
  end
  return value
end
