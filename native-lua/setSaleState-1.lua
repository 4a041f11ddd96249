--[[
  Start or close a sale by hand: the start flag of the Redis seckill article, and its stop.

  Input:
    KEYS[1] sale hash            ({saleId}:sale)

    ARGV[1] action               "start" or "close"
    ARGV[2] the sale's bell channel ({saleId}:bell), published on ("sale") when the sale changed,
                                 so every node re-reads it at once

  Output:
     0  done (also when it was already so: both actions are idempotent)
    -4  "start" on a sale that is closed (by hand or because endsAt has passed); nothing changed
    -5  no such sale
    -6  invalid action; nothing changed

  A closed sale stays closed: reopening would surprise buyers who were already refused.
]]
local rcall = redis.call
local saleKey = KEYS[1]
local action, bell = ARGV[1], ARGV[2]

if #ARGV ~= 2 or (action ~= 'start' and action ~= 'close') then return -6 end

local f = rcall('HMGET', saleKey, 'stock', 'closed', 'endsAt')
if not f[1] then return -5 end

if action == 'close' then
  rcall('HSET', saleKey, 'closed', 1)
  rcall('PUBLISH', bell, 'sale')
  return 0
end

if f[2] == '1' then return -4 end
if f[3] and f[3] ~= '' then
  local t = rcall('TIME')
  local nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  if nowMs >= tonumber(f[3]) then return -4 end
end
rcall('HSET', saleKey, 'started', 1)
rcall('PUBLISH', bell, 'sale')
return 0
