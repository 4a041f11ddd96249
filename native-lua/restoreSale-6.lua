--[[
  Rebuild a sale in Redis from PostgreSQL's copy after Redis lost its data (`seckill restore`):
  the sale hash, every order in the orders hash (final ones too: an Idempotency-Key replay and
  the reconciler read them), the units each user holds, the idempotency keys, the payment
  deadlines of reserved orders, and the final zset's listing of cancelled and expired orders.
  sold and the users' units are counted here from the orders given, so they hold every reserved
  and paid unit PostgreSQL has (I2, I3), and a replayed key finds its order again (I6).

  A large sale comes in chunks, one call each. 'create' (the first chunk) writes the sale hash
  without its `stock` field (kept as `restoreStock`): reserve-6.lua, setSaleState-1.lua, the API
  and the primary's watch all take a hash without stock for no sale, so nobody can buy or start it
  before the last chunk ('create' or 'append' with last = 1) sets `stock`. Pay and cancel of an
  order already restored work meanwhile and keep the counters right (they change them atomically
  too). Every chunk may be sent again: an order already in the hash is never counted twice. The
  restored sale is never started, and startsAt is not restored: it stays closed to buyers until an
  operator starts it.

  'merge' adds to a sale that exists (a promoted replica that lost the last writes, or orders a
  writer committed after a restore read PostgreSQL): orders Redis lacks, and the final state of
  orders Redis still shows reserved (an order moves out of reserved once, so PostgreSQL's final
  state is the newer one). It leaves the definition, the gate and Redis's own final states alone,
  and lowers sold only by orders PostgreSQL holds as cancelled or expired.

  Every cancelled or expired order given ends up listed in the final zset, so pruneOrders-3.lua
  forgets it after the retention period like any other (without this a restored final order
  stayed in Redis forever): PostgreSQL already holds it final, which is what a listing means (the
  order writer lists an order only after PostgreSQL committed its final state). It is scored with
  the Redis clock at this call (TIME), not when it became final: PostgreSQL does not keep that
  time, and Redis's clock is the one pruneOrders-3.lua compares with, so a replay of its
  Idempotency-Key still answers from Redis for the whole retention period after the restore. A
  listing already there keeps its score (NX): a chunk sent again, or a merge over an order the
  writer listed, moves nothing. An order Redis holds final while PostgreSQL still shows it
  reserved is not listed: its final state is not in PostgreSQL yet, and the writer lists it once
  it is.

  Input:
    KEYS[1] sale hash            ({saleId}:sale)
    KEYS[2] units held per user  ({saleId}:users) userId -> units
    KEYS[3] idempotency keys     ({saleId}:idem) "<len(userId)>:<userId><key>" -> orderId
    KEYS[4] orders               ({saleId}:orders) orderId -> the order's record
                                 (includes/orderRecord.lua; JSON if an earlier version wrote it)
    KEYS[5] payment deadlines    ({saleId}:expiry) zset orderId -> expiresAt, reserved orders only
    KEYS[6] final orders         ({saleId}:final) zset orderId -> epoch ms it became final (here:
                                 the Redis time of the call), cancelled and expired orders
                                 PostgreSQL holds in that state, read by pruneOrders-3.lua

    ARGV[1] mode                 "create" | "append" | "merge"
    ARGV[2] token                1..64 bytes naming this restore run; create keeps it in the
                                 hash's `restoredBy` field, append requires it there
    ARGV[3] last                 "1": the last chunk of create/append (the sale gets its stock);
                                 "0": more chunks follow. Ignored by merge.
    create only, the sale's definition (PostgreSQL's `sales` row):
    ARGV[4] name                 1..1000 bytes
    ARGV[5] stock                integer 0..10^12
    ARGV[6] perUserLimit         integer 1..10^9
    ARGV[7] endsAt               epoch milliseconds, or "" (no end)
    ARGV[8] paymentTtlSeconds    integer 1..2592000
    ARGV[9] closed               "0" or "1"
    ARGV[10] createdAt           epoch milliseconds: the reconciler takes orders older than the
                                 sale for an earlier sale's, so this is the original creation time
    then, with h = 10 for create and 3 otherwise:
    ARGV[h + 1] n, the number of orders in this chunk (0..1000)
    then 8 values per order i (b = h + 1 + 8 * (i - 1)):
    ARGV[b + 1] orderId          1..200 bytes
    ARGV[b + 2] userId           0..512 bytes; "" is an anonymous buyer
    ARGV[b + 3] quantity         integer 1..10^9
    ARGV[b + 4] status           "reserved" | "paid" | "cancelled" | "expired"
    ARGV[b + 5] idempotency key  0..512 bytes; "" for none
    ARGV[b + 6] createdAt        epoch milliseconds
    ARGV[b + 7] expiresAt        epoch milliseconds
    ARGV[b + 8] paidAt           epoch milliseconds when paid, otherwise ""

  Output:
    {0, added, advanced, kept, sold}  done. added: orders new to Redis; advanced: orders Redis
                                 showed reserved that PostgreSQL holds final (merge); kept:
                                 orders already there, left as they are; sold after the call
    {-1}   create: a sale with this id exists (nothing changed)
    {-5}   append, merge: no such sale (nothing changed)
    {-11}  append: the sale is not being restored by this token; merge: the sale is being
           restored and is not finished (nothing changed)
    {-12}  create: no sale hash, but orders, users, idempotency keys or deadlines of the sale
           are there: counting on top of them could oversell (nothing changed). A final zset
           alone does not refuse: it holds no units, and pruneOrders-3.lua drops a listing
           whose order is gone
    {-6, name}  invalid argument (nothing changed); the second element names it

  Appends nothing to the order stream: PostgreSQL already has every order given here.
]]
local rcall = redis.call
local saleKey, usersKey, idemKey, ordersKey, expiryKey, finalKey =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]

local mode, token, last = ARGV[1], ARGV[2], ARGV[3]

local function isInt(x, lo, hi)
  return x ~= nil and x == math.floor(x) and x >= lo and x <= hi
end
local function isMs(v) return isInt(tonumber(v), 0, 1e15) end

-- Validate everything before the first write: Redis does not roll back a half-run script.
if mode ~= 'create' and mode ~= 'append' and mode ~= 'merge' then return {-6, 'mode'} end
if type(token) ~= 'string' or #token < 1 or #token > 64 then return {-6, 'token'} end
if last ~= '0' and last ~= '1' then return {-6, 'last'} end

local h = 3
if mode == 'create' then
  h = 10
  if type(ARGV[4]) ~= 'string' or #ARGV[4] < 1 or #ARGV[4] > 1000 then return {-6, 'name'} end
  if not isInt(tonumber(ARGV[5]), 0, 1e12) then return {-6, 'stock'} end
  if not isInt(tonumber(ARGV[6]), 1, 1e9) then return {-6, 'perUserLimit'} end
  if ARGV[7] ~= '' and not isMs(ARGV[7]) then return {-6, 'endsAt'} end
  if not isInt(tonumber(ARGV[8]), 1, 2592000) then return {-6, 'paymentTtlSeconds'} end
  if ARGV[9] ~= '0' and ARGV[9] ~= '1' then return {-6, 'closed'} end
  if not isMs(ARGV[10]) then return {-6, 'createdAt'} end
end

local n = tonumber(ARGV[h + 1])
if not isInt(n, 0, 1000) or #ARGV ~= h + 1 + 8 * n then return {-6, 'n'} end

local STATUS = { reserved = true, paid = true, cancelled = true, expired = true }
for i = 1, n do
  local b = h + 1 + 8 * (i - 1)
  local orderId, userId, key, status = ARGV[b + 1], ARGV[b + 2], ARGV[b + 5], ARGV[b + 4]
  if #orderId < 1 or #orderId > 200 then return {-6, 'orderId'} end
  if #userId > 512 then return {-6, 'userId'} end
  if not isInt(tonumber(ARGV[b + 3]), 1, 1e9) then return {-6, 'quantity'} end
  if not STATUS[status] then return {-6, 'status'} end
  if #key > 512 then return {-6, 'idempotencyKey'} end
  if not isMs(ARGV[b + 6]) or not isMs(ARGV[b + 7]) then return {-6, 'createdAt/expiresAt'} end
  if (status == 'paid') ~= (ARGV[b + 8] ~= '') or (ARGV[b + 8] ~= '' and not isMs(ARGV[b + 8])) then
    return {-6, 'paidAt'}
  end
end

-- Where the sale is: a sale (has stock), a restore under way (restoredBy, no stock yet), nothing.
local f = rcall('HMGET', saleKey, 'stock', 'restoredBy')
local hasHash = rcall('EXISTS', saleKey) == 1
if mode == 'create' then
  if hasHash and f[2] == token then
    mode = 'append' -- the same first chunk sent again (ioredis re-sends after a reconnect)
  elseif hasHash then
    return {-1}
  elseif rcall('EXISTS', usersKey, idemKey, ordersKey, expiryKey) > 0 then
    return {-12}
  end
elseif not hasHash then
  return {-5}
elseif mode == 'append' and f[2] ~= token then
  return {-11}
elseif mode == 'merge' and not f[1] then
  return f[2] and {-11} or {-5}
end

-- Writes from here on. One clock reading for the call: every order it lists gets the same score.
local time = rcall('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

if mode == 'create' then
  rcall('HSET', saleKey,
    'name', ARGV[4], 'restoreStock', ARGV[5], 'sold', 0, 'perUserLimit', ARGV[6],
    'startsAt', '', 'endsAt', ARGV[7], 'ttl', ARGV[8], 'started', 0, 'closed', ARGV[9],
    'createdAt', ARGV[10], 'returned', 0, 'restoredBy', token)
end

--- @include "orderRecord"

local function holdMore(userId, qty)
  if userId ~= '' then rcall('HINCRBY', usersKey, userId, qty) end
end

local function holdLess(userId, qty)
  if userId ~= '' and tonumber(rcall('HINCRBY', usersKey, userId, -qty)) <= 0 then
    rcall('HDEL', usersKey, userId)
  end
end

local function isLive(status) return status == 'reserved' or status == 'paid' end

-- NX: a listing already there (a chunk sent again, the order writer's) keeps its score.
local function listFinal(orderId) rcall('ZADD', finalKey, 'NX', now, orderId) end

-- A key names the order a replay answers. PostgreSQL may hold several orders under one key (a
-- key is unique among live orders only, once Redis forgot a cancelled one): the live order wins,
-- and a key Redis already maps to a live order (merge) keeps the order Redis answered with.
local function claimKey(field, orderId, live)
  local current = rcall('HGET', idemKey, field)
  if current then
    if not live then return end
    local raw = rcall('HGET', ordersKey, current)
    if raw and current ~= orderId and isLive(decodeOrder(raw, current).status) then return end
  end
  rcall('HSET', idemKey, field, orderId)
end

local added, advanced, kept = 0, 0, 0
for i = 1, n do
  local b = h + 1 + 8 * (i - 1)
  local orderId, userId, qty, status, key = ARGV[b + 1], ARGV[b + 2], tonumber(ARGV[b + 3]),
    ARGV[b + 4], ARGV[b + 5]
  local paidAt = ARGV[b + 8] == '' and '' or tonumber(ARGV[b + 8])
  local raw = rcall('HGET', ordersKey, orderId)
  if not raw then
    local expiresAt = tonumber(ARGV[b + 7])
    -- The shape reserve-6.lua and settleOrder-5.lua keep.
    rcall('HSET', ordersKey, orderId, encodeOrder({
      userId = userId, quantity = qty, createdAt = tonumber(ARGV[b + 6]), expiresAt = expiresAt,
      idempotencyKey = key, status = status, paidAt = paidAt }))
    if key ~= '' then claimKey(#userId .. ':' .. userId .. key, orderId, isLive(status)) end
    if isLive(status) then
      rcall('HINCRBY', saleKey, 'sold', qty)
      holdMore(userId, qty)
    else
      -- The units of a cancelled or expired order came back on sale once: returned counts them,
      -- and its rise is what clears a sold-out flag in a worker that outlived Redis's data.
      rcall('HINCRBY', saleKey, 'returned', qty)
      listFinal(orderId)
    end
    if status == 'reserved' then rcall('ZADD', expiryKey, expiresAt, orderId) end
    added = added + 1
  else
    local o = decodeOrder(raw, orderId)
    if o.status == 'reserved' and status ~= 'reserved' then
      -- PostgreSQL holds the order's one change out of reserved, which Redis lost.
      o.status, o.paidAt = status, paidAt
      rcall('HSET', ordersKey, orderId, encodeOrder(o))
      rcall('ZREM', expiryKey, orderId)
      if status ~= 'paid' then
        rcall('HINCRBY', saleKey, 'sold', -o.quantity)
        rcall('HINCRBY', saleKey, 'returned', o.quantity)
        holdLess(o.userId, o.quantity)
        listFinal(orderId)
      end
      advanced = advanced + 1
    else
      -- Final in Redis and in PostgreSQL: listed unless it already is (an unfinished restore
      -- begun before the final zset existed, or an order the writer had not listed yet). Final in
      -- Redis only (PostgreSQL still shows it reserved): the writer lists it after its commit.
      if not isLive(o.status) and not isLive(status) then listFinal(orderId) end
      kept = kept + 1
    end
  end
end

if last == '1' and mode ~= 'merge' and not f[1] then
  rcall('HSET', saleKey, 'stock', rcall('HGET', saleKey, 'restoreStock'))
  rcall('HDEL', saleKey, 'restoreStock')
end
return {0, added, advanced, kept, tonumber(rcall('HGET', saleKey, 'sold'))}
