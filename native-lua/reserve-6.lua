--[[
  Decide a batch of purchase attempts for one sale: the authority for no oversell (I2), the
  per-user limit (I3) and no duplicates (I6). Each attempt is decided atomically, in input order.

  Input:
    KEYS[1] sale hash            ({saleId}:sale) stock, sold, perUserLimit, startsAt, endsAt,
                                 ttl, started, closed
    KEYS[2] units held per user  ({saleId}:users) userId -> units
    KEYS[3] idempotency keys     ({saleId}:idem) "<len(userId)>:<userId><key>" -> orderId
    KEYS[4] orders               ({saleId}:orders) orderId -> the order's record
                                 (includes/orderRecord.lua; JSON if an earlier version wrote it)
    KEYS[5] order stream         ({saleId}:stream) the hand-off to the order writer
    KEYS[6] payment deadlines    ({saleId}:expiry) zset orderId -> expiresAt, read by the sweep
                                 of expireOrders-5.lua

    ARGV[1] n, the number of attempts (1..1000)
    then 4 values per attempt i (base = 1 + 4 * (i - 1)):
    ARGV[base + 1] orderId       1..200 bytes, chosen by the caller, unique per attempt: a
                                 re-sent command (ioredis replays unanswered commands after a
                                 reconnect) finds its order and creates no second one
    ARGV[base + 2] userId        0..512 bytes; "" is an anonymous buyer (no per-user limit)
    ARGV[base + 3] quantity      integer 1..perUserLimit
    ARGV[base + 4] idempotency key, 0..512 bytes; "" for none
    (The HTTP layer allows 128 characters, src/identifier.ts; 128 UTF-8 characters are at most
    512 bytes. Lua counts bytes: this is only the bound that keeps the keys small.)
    ARGV[2 + 4 * n] the sale's bell channel ({saleId}:bell), published on once when the call
                 appended anything, so the order writers read the stream at once (no polling):
                 the number of entries, or "<n> sold-out" when this call sold the last unit, so
                 every node's sale watch re-reads the sale at once and its workers stop
                 forwarding (src/store/sale-bell.ts)

  Output: one reply per attempt, in input order: {code, remaining, orderId, quantity,
    createdAt, expiresAt} (times in epoch ms; the last four only when code >= 0)
     0  reserved: a new order
     1  the same order again (same orderId, or same user and idempotency key)
    -1  sold_out: fewer than quantity units remain
    -2  limit_exceeded: the user would hold more than perUserLimit units
    -3  not_started
    -4  closed (by hand, or endsAt has passed)
    -5  no such sale
    -6  invalid attempt (quantity, lengths); nothing changed
  A malformed call (n does not match the number of ARGV) is a caller fault: an error reply.

  Appends to KEYS[5], for every new order: orderId, userId, quantity, createdAt, expiresAt,
  idempotencyKey, status ("reserved"), paidAt (""): the same fields settleOrder-5.lua and
  expireOrders-5.lua append when the order changes state, so the writer reads one shape. The
  stream is never trimmed here. Publishes on the bell channel the number of entries appended (when
  there are any).
]]
local rcall = redis.call
local saleKey, usersKey, idemKey, ordersKey, streamKey, expiryKey =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]

local n = tonumber(ARGV[1])
if n == nil or n ~= math.floor(n) or n < 1 or n > 1000 or #ARGV ~= 2 + 4 * n then
  return redis.error_reply(
    'ERR reserve: ARGV must be n, 4 values per attempt, then the bell channel')
end
local bell = ARGV[2 + 4 * n]

--- @include "orderRecord"

local replies = {}
local f = rcall('HMGET', saleKey, 'stock', 'sold', 'perUserLimit', 'startsAt', 'endsAt', 'ttl',
  'started', 'closed')
if not f[1] then
  for i = 1, n do replies[i] = {-5, 0} end
  return replies
end

local stock, sold, limit, ttlMs = tonumber(f[1]), tonumber(f[2]), tonumber(f[3]), tonumber(f[6]) * 1000
local t = rcall('TIME')
local nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

-- Open = not closed, the window has not ended, and started by hand or by startsAt.
local gate = 0
if f[8] == '1' or (f[5] ~= '' and nowMs >= tonumber(f[5])) then
  gate = -4
elseif not (f[7] == '1' or (f[4] ~= '' and nowMs >= tonumber(f[4]))) then
  gate = -3
end

local function existing(orderId)
  local o = decodeOrder(rcall('HGET', ordersKey, orderId), orderId)
  return {1, stock - sold, orderId, o.quantity, o.createdAt, o.expiresAt}
end

local appended = 0
for i = 1, n do
  local base = 1 + 4 * (i - 1)
  local orderId, userId, qty, key = ARGV[base + 1], ARGV[base + 2], tonumber(ARGV[base + 3]), ARGV[base + 4]
  local idemField = key ~= '' and (#userId .. ':' .. userId .. key) or nil
  local previous = rcall('HEXISTS', ordersKey, orderId) == 1 and orderId
    or (idemField and rcall('HGET', idemKey, idemField))

  if #orderId < 1 or #orderId > 200 or #userId > 512 or #key > 512
    or qty == nil or qty ~= math.floor(qty) or qty < 1 or qty > limit then
    replies[i] = {-6, stock - sold}
  elseif previous then
    replies[i] = existing(previous)
  elseif gate ~= 0 then
    replies[i] = {gate, stock - sold}
  elseif userId ~= '' and tonumber(rcall('HGET', usersKey, userId) or '0') + qty > limit then
    replies[i] = {-2, stock - sold}
  elseif qty > stock - sold then
    replies[i] = {-1, stock - sold}
  else
    sold = sold + qty
    local expiresAt = nowMs + ttlMs
    rcall('HINCRBY', saleKey, 'sold', qty)
    if userId ~= '' then rcall('HINCRBY', usersKey, userId, qty) end
    if idemField then rcall('HSET', idemKey, idemField, orderId) end
    rcall('HSET', ordersKey, orderId, encodeOrder({
      userId = userId, quantity = qty, createdAt = nowMs, expiresAt = expiresAt,
      idempotencyKey = key, status = 'reserved', paidAt = '' }))
    rcall('ZADD', expiryKey, expiresAt, orderId)
    rcall('XADD', streamKey, '*', 'orderId', orderId, 'userId', userId, 'quantity', qty,
      'createdAt', nowMs, 'expiresAt', expiresAt, 'idempotencyKey', key, 'status', 'reserved',
      'paidAt', '')
    replies[i] = {0, stock - sold, orderId, qty, nowMs, expiresAt}
    appended = appended + 1
  end
end
if appended > 0 then
  rcall('PUBLISH', bell, sold >= stock and appended .. ' sold-out' or appended)
end
return replies
