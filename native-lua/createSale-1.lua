--[[
  Create a sale, unless one with the same id exists (create-if-absent, atomically).

  Input:
    KEYS[1] sale hash            ({saleId}:sale)

    ARGV[1] name                 1..200 bytes
    ARGV[2] stock                integer 1..10^9
    ARGV[3] perUserLimit         integer 1..10^9
    ARGV[4] startsAt             epoch milliseconds, or "" (starts only when started by hand)
    ARGV[5] endsAt               epoch milliseconds, or "" (no end)
    ARGV[6] paymentTtlSeconds    integer 1..86400*30
    ARGV[7] the sale's bell channel ({saleId}:bell), published on ("sale") once it is created, so
                                 every node reads the new sale at once

  Output:
     1  created
    -1  a sale with this id exists (nothing changed)
    -6  invalid argument (nothing changed); a second element names it

  The creation time comes from Redis TIME, the one clock every deadline uses.
]]
local rcall = redis.call
local saleKey = KEYS[1]

local name = ARGV[1]
local stock = tonumber(ARGV[2])
local perUserLimit = tonumber(ARGV[3])
local startsAt = ARGV[4]
local endsAt = ARGV[5]
local ttl = tonumber(ARGV[6])
local bell = ARGV[7]

local function isInt(x, lo, hi)
  return x ~= nil and x == math.floor(x) and x >= lo and x <= hi
end

-- Validate everything before the first write: Redis does not roll back a half-run script.
if #ARGV ~= 7 then return {-6, 'ARGV'} end
if type(name) ~= 'string' or #name < 1 or #name > 200 then return {-6, 'name'} end
if not isInt(stock, 1, 1e9) then return {-6, 'stock'} end
if not isInt(perUserLimit, 1, 1e9) then return {-6, 'perUserLimit'} end
if startsAt ~= '' and not isInt(tonumber(startsAt), 0, 1e15) then return {-6, 'startsAt'} end
if endsAt ~= '' and not isInt(tonumber(endsAt), 0, 1e15) then return {-6, 'endsAt'} end
if startsAt ~= '' and endsAt ~= '' and tonumber(endsAt) <= tonumber(startsAt) then
  return {-6, 'endsAt'}
end
if not isInt(ttl, 1, 2592000) then return {-6, 'paymentTtlSeconds'} end

if rcall('EXISTS', saleKey) == 1 then return {-1} end

local t = rcall('TIME')
local nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

rcall('HSET', saleKey,
  'name', name, 'stock', stock, 'sold', 0, 'perUserLimit', perUserLimit,
  'startsAt', startsAt, 'endsAt', endsAt, 'ttl', ttl,
  'started', 0, 'closed', 0, 'createdAt', nowMs)
rcall('PUBLISH', bell, 'sale')
return {1}
