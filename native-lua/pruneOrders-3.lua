--[[
  Forget orders Redis no longer needs: cancelled or expired orders that PostgreSQL already holds
  in that final state, once they have been final for the retention period. Without this, every
  buy-then-cancel cycle grew the orders hash (and the idempotency hash) for the sale's life.

  Only cancelled and expired orders are ever listed here (by the order writer, after PostgreSQL
  committed the final state): they hold no units (sold and the user's holding were returned when
  they became final), so forgetting them changes no counter, and a recount of the sale from its
  orders stays right. Paid orders stay: their units are part of sold.

  Input:
    KEYS[1] final orders         ({saleId}:final) zset orderId -> epoch ms it became final,
                                 written by the order writer once PostgreSQL has that state
    KEYS[2] orders               ({saleId}:orders) orderId -> the order's record
                                 (includes/orderRecord.lua; JSON if an earlier version wrote it)
    KEYS[3] idempotency keys     ({saleId}:idem) "<len(userId)>:<userId><key>" -> orderId

    ARGV[1] retention            ms an order stays after it became final (integer >= 0)
    ARGV[2] most                 orders to forget in this call (integer 1..1000)

  Output:
    {forgotten, still due (another call is needed)}
    {-6} invalid argument (nothing changed)

  An idempotency entry goes with its order (a replay inside the retention period still answers
  the order; after it, the key is free again), and only when it still names that order.
  Appends nothing to the order stream: no order changes state.
]]
local rcall = redis.call
local finalKey, ordersKey, idemKey = KEYS[1], KEYS[2], KEYS[3]

local retention, most = tonumber(ARGV[1]), tonumber(ARGV[2])
if #ARGV ~= 2 or retention == nil or retention ~= math.floor(retention) or retention < 0
  or most == nil or most ~= math.floor(most) or most < 1 or most > 1000 then
  return {-6}
end

local t = rcall('TIME')
local cutoff = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - retention

--- @include "orderRecord"

local due = rcall('ZRANGE', finalKey, '-inf', cutoff, 'BYSCORE', 'LIMIT', 0, most)
local forgotten = 0
for _, orderId in ipairs(due) do
  local raw = rcall('HGET', ordersKey, orderId)
  if raw then
    local o = decodeOrder(raw, orderId)
    -- Listed as final, so it is; the check only guards against a caller's mistake.
    if o.status == 'cancelled' or o.status == 'expired' then
      rcall('HDEL', ordersKey, orderId)
      forgotten = forgotten + 1
      if o.idempotencyKey ~= '' then
        local field = #o.userId .. ':' .. o.userId .. o.idempotencyKey
        if rcall('HGET', idemKey, field) == orderId then rcall('HDEL', idemKey, field) end
      end
    end
  end
  rcall('ZREM', finalKey, orderId)
end
return {forgotten, rcall('ZCOUNT', finalKey, '-inf', cutoff)}
