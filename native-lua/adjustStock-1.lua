--[[
  Add units to a sale's stock, or take unsold units away, while it sells (POST
  /api/v1/sales/:id/stock). Atomic with purchases: reserve-6.lua runs alone too, so an attempt is
  either decided before this call (its units are in `sold`) or after it (it sees the new stock).
  `sold` counts every reserved and paid unit, which is everything Redis has promised a buyer:
  `remove` may take at most `stock - sold` away, so stock never drops below what is sold (I2).

  An `add` also raises the sale's `returned` counter by as much: that counter is how a worker
  tells a fresh copy of the sale (or a quota grant) from one read before units came on sale
  (src/purchase/sale-desk.ts). A top-up puts units on sale the way a cancelled order does, so the
  workers clear their sold-out flag and the parked buyers get quota again; a sold-out answer read
  before the top-up is recognised as stale and cannot set the flag again.

  Refused on a closed sale (by hand, or endsAt has passed): it can never sell again, so a change
  of its stock can only be a mistake (the wrong sale, or too late), and saying so beats doing a
  change that means nothing. A scheduled sale (not yet started) may be changed. Refused, too, on a
  sale `seckill restore` has not finished (restoreSale-6.lua keeps its stock in `restoreStock`
  until the last chunk): it does not exist for buyers or the API yet.

  Input:
    KEYS[1] sale hash            ({saleId}:sale) stock, sold, closed, endsAt, returned,
                                 restoreStock

    ARGV[1] action               "add" or "remove"
    ARGV[2] units                integer 1..10^9, written in decimal digits
    ARGV[3] the sale's bell channel ({saleId}:bell), published on ("sale") when the stock changed,
                                 so every node re-reads the sale at once

  Output:
    {0, stock, sold}  done: the stock after the change, and sold at that moment
    {-4}  the sale is closed (by hand, or endsAt has passed); nothing changed
    {-5}  no such sale; nothing changed
    {-6, name}  invalid argument, named (ARGV, action, units); nothing changed
    {-11}  the sale is being restored and is not finished; nothing changed
    {-12, removable}  remove: more than the units neither sold nor in flight (stock - sold,
           given as removable); nothing changed
    {-13, addable}  add: the stock would pass 10^9, the most a sale may have (as at its
           creation); addable is how many may still be added; nothing changed

  Appends nothing to the order stream: no order changes.
]]
local rcall = redis.call
local saleKey = KEYS[1]
local action, unitsText, bell = ARGV[1], ARGV[2], ARGV[3]

local MAX_STOCK = 1e9

-- Validate everything before the first write: Redis does not roll back a half-run script.
if #ARGV ~= 3 then return {-6, 'ARGV'} end
if action ~= 'add' and action ~= 'remove' then return {-6, 'action'} end
-- Digits only: tonumber would also take '1e3', '0x10' or ' 5'.
if not string.match(unitsText, '^[1-9]%d*$') or #unitsText > 10 then return {-6, 'units'} end
local units = tonumber(unitsText)
if units > MAX_STOCK then return {-6, 'units'} end

local f = rcall('HMGET', saleKey, 'stock', 'sold', 'closed', 'endsAt', 'restoreStock')
if not f[1] then
  if f[5] then return {-11} end
  return {-5}
end
if f[3] == '1' then return {-4} end
if f[4] and f[4] ~= '' then
  local t = rcall('TIME')
  local nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  if nowMs >= tonumber(f[4]) then return {-4} end
end

local stock, sold = tonumber(f[1]), tonumber(f[2] or '0')

if action == 'add' then
  if stock + units > MAX_STOCK then return {-13, math.max(0, MAX_STOCK - stock)} end
  stock = stock + units
  rcall('HSET', saleKey, 'stock', stock)
  rcall('HINCRBY', saleKey, 'returned', units)
else
  local removable = math.max(0, stock - sold)
  if units > removable then return {-12, removable} end
  stock = stock - units
  rcall('HSET', saleKey, 'stock', stock)
end
rcall('PUBLISH', bell, 'sale')
return {0, stock, sold}
