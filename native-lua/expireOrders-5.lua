--[[
  Expire the reserved orders of one sale whose payment deadline has passed (the expiry sweep).
  With settleOrder-5.lua (pay, cancel), the only place an order leaves "reserved": an order's
  status is checked and its units returned in one atomic step, so every node of a deployment may
  sweep at the same time and the units of an expired order still go back on sale exactly once.
  Deadlines are read on Redis TIME.

  Input:
    KEYS[1] sale hash            ({saleId}:sale) sold, returned
    KEYS[2] units held per user  ({saleId}:users) userId -> units
    KEYS[3] orders               ({saleId}:orders) orderId -> the order's record
                                 (includes/orderRecord.lua; JSON if an earlier version wrote it)
    KEYS[4] payment deadlines    ({saleId}:expiry) zset orderId -> expiresAt, reserved orders only
    KEYS[5] order stream         ({saleId}:stream) the hand-off to the order writer

    ARGV[1] most                 the most orders to expire in this call (integer 1..1000)
    ARGV[2] the sale's bell channel ({saleId}:bell), published on once when orders expired

  Output:
    {orders expired, units returned, orders still due (another call is needed)}
    {-6} invalid argument (nothing changed)

  Returning units: sold -= quantity, returned += quantity (workers clear their sold-out flag when
  it rises), the user's held units -= quantity (the user may buy again, I3 counts live orders).
  An id in the deadlines whose order is gone or no longer reserved is dropped from them.

  Appends to KEYS[5], for every order expired: orderId, userId, quantity, createdAt, expiresAt,
  idempotencyKey, status ("expired"), paidAt (""): the shape reserve-6.lua uses. Publishes
  "<orders expired> returned" on the bell channel when there are any: units went back on sale,
  which every node's sale watch reads at once.
]]
local rcall = redis.call
local saleKey, usersKey, ordersKey, expiryKey, streamKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]

local most, bell = tonumber(ARGV[1]), ARGV[2]
if #ARGV ~= 2 or most == nil or most ~= math.floor(most) or most < 1 or most > 1000 then
  return {-6}
end

local t = rcall('TIME')
local nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

--- @include "orderRecord"
--- @include "changeOrder"

local due = rcall('ZRANGE', expiryKey, '-inf', nowMs, 'BYSCORE', 'LIMIT', 0, most)
local expired, units = 0, 0
for _, orderId in ipairs(due) do
  local raw = rcall('HGET', ordersKey, orderId)
  local o = raw and decodeOrder(raw, orderId)
  if o and o.status == 'reserved' then
    changeOrder(orderId, o, 'expired')
    expired, units = expired + 1, units + o.quantity
  else
    rcall('ZREM', expiryKey, orderId)
  end
end
if expired > 0 then rcall('PUBLISH', bell, expired .. ' returned') end
return {expired, units, rcall('ZCOUNT', expiryKey, '-inf', nowMs)}
