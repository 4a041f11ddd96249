--[[
  Pay or cancel one order of a sale. With expireOrders-5.lua (the sweep), the only place an order
  leaves "reserved", so a payment racing the expiry ends in exactly one terminal state, and the
  units of a cancelled or expired order go back on sale exactly once (the status check and the
  return are one atomic step, keyed by order id). Deadlines are read on Redis TIME: an order is
  expired from expiresAt on, even before a sweep, and this call expires it then.

  Input:
    KEYS[1] sale hash            ({saleId}:sale) sold, returned
    KEYS[2] units held per user  ({saleId}:users) userId -> units
    KEYS[3] orders               ({saleId}:orders) orderId -> the order's record
                                 (includes/orderRecord.lua; JSON if an earlier version wrote it)
    KEYS[4] payment deadlines    ({saleId}:expiry) zset orderId -> expiresAt, reserved orders only
    KEYS[5] order stream         ({saleId}:stream) the hand-off to the order writer

    ARGV[1] action               "pay" | "cancel"
    ARGV[2] orderId              1..200 bytes
    ARGV[3] the sale's bell channel ({saleId}:bell), published on when the order changed

  Output: {code, the order as it now is: its value in KEYS[3], a record (includes/orderRecord.lua),
    or the JSON an earlier version wrote if the order has not changed since (absent for -10 and -6)}
     0  done: the order is now paid (pay) or cancelled (cancel)
     1  it already was: pay of a paid order, cancel of a cancelled one (nothing changed)
    -7  expired: the deadline passed (if the sweep had not run yet, this call expires it)
    -8  cancelled: pay of a cancelled order
    -9  paid: cancel of a paid order
   -10  no such order
    -6  invalid argument (nothing changed)

  Returning units: sold -= quantity, returned += quantity (workers clear their sold-out flag when
  it rises), the user's held units -= quantity (the user may buy again, I3 counts live orders).

  Appends to KEYS[5], for every change: orderId, userId, quantity, createdAt, expiresAt,
  idempotencyKey, status (the new one), paidAt ("" unless paid): the shape reserve-6.lua uses.
  Publishes on the bell channel after an append, as reserve-6.lua does: "1", or "1 returned" when
  units went back on sale (cancel, expiry), so every node's sale watch re-reads the sale at once.
]]
local rcall = redis.call
local saleKey, usersKey, ordersKey, expiryKey, streamKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local action, orderId, bell = ARGV[1], ARGV[2], ARGV[3]

if #ARGV ~= 3 or (action ~= 'pay' and action ~= 'cancel') or #orderId < 1 or #orderId > 200 then
  return {-6}
end

local t = rcall('TIME')
local nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

--- @include "orderRecord"
--- @include "changeOrder"

-- Ring the bell for the entry changeOrder appended; returns the order's new value.
local function changed(value, status)
  rcall('PUBLISH', bell, status == 'paid' and '1' or '1 returned')
  return value
end

local raw = rcall('HGET', ordersKey, orderId)
if not raw then return {-10} end
local o = decodeOrder(raw, orderId)

if o.status == 'reserved' and nowMs >= tonumber(o.expiresAt) then
  return {-7, changed(changeOrder(orderId, o, 'expired'), 'expired')}
end
if o.status == 'reserved' then
  local status = action == 'pay' and 'paid' or 'cancelled'
  return {0, changed(changeOrder(orderId, o, status), status)}
end
if o.status == 'expired' then return {-7, raw} end
if action == 'pay' then
  return {o.status == 'paid' and 1 or -8, raw}
end
return {o.status == 'cancelled' and 1 or -9, raw}
