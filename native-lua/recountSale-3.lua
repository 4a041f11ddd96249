--[[
  Repair a sale's counters from its orders (the data-control module's repair step): sold becomes
  the units of every reserved or paid order, and each user's held units the same per user. Run on
  command only: it reads every order of the sale in one atomic step, which blocks Redis for about
  a millisecond per few thousand orders.

  Input:
    KEYS[1] sale hash            ({saleId}:sale) sold, returned
    KEYS[2] units held per user  ({saleId}:users) userId -> units
    KEYS[3] orders               ({saleId}:orders) orderId -> the order's record
                                 (includes/orderRecord.lua; JSON if an earlier version wrote it)

  Output:
    {sold before, sold after, users whose held units changed}
    {-5} when the sale does not exist (nothing changed)

  When sold goes down, returned goes up by as much, so workers clear their sold-out flag and the
  units sell again. Appends nothing to the order stream: no order changes.
]]
local rcall = redis.call
local saleKey, usersKey, ordersKey = KEYS[1], KEYS[2], KEYS[3]

local before = rcall('HGET', saleKey, 'sold')
if not before then return {-5} end
before = tonumber(before)

--- @include "orderRecord"

local sold, held = 0, {}
local all = rcall('HGETALL', ordersKey)
for i = 2, #all, 2 do
  local o = decodeOrder(all[i], all[i - 1])
  if o.status == 'reserved' or o.status == 'paid' then
    sold = sold + o.quantity
    if o.userId ~= '' then held[o.userId] = (held[o.userId] or 0) + o.quantity end
  end
end

local changed = 0
local current = rcall('HGETALL', usersKey)
for i = 1, #current, 2 do
  local user, units = current[i], tonumber(current[i + 1])
  if held[user] ~= units then
    changed = changed + 1
    if held[user] then rcall('HSET', usersKey, user, held[user]) else rcall('HDEL', usersKey, user) end
  end
  held[user] = nil
end
for user, units in pairs(held) do
  changed = changed + 1
  rcall('HSET', usersKey, user, units)
end

if sold ~= before then
  rcall('HSET', saleKey, 'sold', sold)
  if sold < before then rcall('HINCRBY', saleKey, 'returned', before - sold) end
end
return {before, sold, changed}
