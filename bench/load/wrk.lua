--[[
  The wrk script of the benchmark runner (bench/load/wrk.ts). Configured by environment:
    WRK_METHOD     GET or POST
    WRK_PATH       path and query
    WRK_BODY       request body (empty: none)
    WRK_DISTINCT   1: "[<id>]" in the path or body becomes a user id unique to the request
                   (thread index + k * threads), so a run of N requests is N users
    WRK_AMOUNT     0: run for wrk's -d; N: stop after exactly N responses over all threads, and
                   count the answers by status and the wins ('"code":1,' in the body)
  Output: one line "wrk-result <json>" from done(); in amount mode each thread prints
  "wrk-thread-done" when its share has arrived, and the runner interrupts wrk (SIGINT) once all
  have: wrk's main thread otherwise sleeps out -d whatever its threads do.
]]
local method = os.getenv("WRK_METHOD") or "GET"
local path = os.getenv("WRK_PATH") or "/"
local body = os.getenv("WRK_BODY") or ""
local distinct = os.getenv("WRK_DISTINCT") == "1"
local amount = tonumber(os.getenv("WRK_AMOUNT") or "0")

local threads = {}
local count = 0

function setup(thread)
  thread:set("index", count)
  count = count + 1
  table.insert(threads, thread)
end

-- Per-thread state (each thread runs its own Lua state); index and nthreads are set by setup().
local quota, sent, got, next_user, user_step = 0, 0, 0, 0, 1
-- Globals, not locals: done() reads them from each thread with thread:get().
statuses = {}
wins = 0
local fixed = nil

function init(args)
  local nthreads = tonumber(os.getenv("WRK_THREADS") or "1")
  if amount > 0 then
    quota = math.floor(amount / nthreads) + ((index < amount % nthreads) and 1 or 0)
  end
  next_user = index
  wrk.method = method
  wrk.path = path
  if body ~= "" then
    wrk.body = body
    wrk.headers["Content-Type"] = "application/json"
  end
  if not distinct then fixed = wrk.format() end
  user_step = nthreads
end

function request()
  if fixed then return fixed end
  local id = tostring(next_user)
  next_user = next_user + user_step
  local p = string.gsub(path, "%[<id>%]", id)
  local b = string.gsub(body, "%[<id>%]", id)
  return wrk.format(nil, p, nil, b ~= "" and b or nil)
end

if amount > 0 then
  -- Hold back every request past this thread's share: an hour is "never" for a bounded run.
  function delay()
    sent = sent + 1
    if sent > quota then return 3600000 end
    return 0
  end

  function response(status, headers, body)
    got = got + 1
    statuses[status] = (statuses[status] or 0) + 1
    if string.find(body, '"code":1,', 1, true) then wins = wins + 1 end
    if got == quota then
      -- Stop this thread's loop now: wrk's threads otherwise notice the interrupt only at their
      -- next 100 ms statistics tick, which would stretch a short run's measured time.
      wrk.thread:stop()
      io.write("wrk-thread-done\n")
      io.flush()
    end
  end
end

local function json_counts()
  local merged, won = {}, 0
  for _, t in ipairs(threads) do
    for code, n in pairs(t:get("statuses") or {}) do merged[code] = (merged[code] or 0) + n end
    won = won + (t:get("wins") or 0)
  end
  local parts = {}
  for code, n in pairs(merged) do table.insert(parts, string.format('"%d":%d', code, n)) end
  return "{" .. table.concat(parts, ",") .. "}", won
end

function done(summary, latency, requests)
  local e = summary.errors
  local statuses, won = "null", "null"
  if amount > 0 then
    local s, w = json_counts()
    statuses, won = s, tostring(w)
  end
  io.write(string.format(
    'wrk-result {"requests":%d,"durationUs":%d,"connect":%d,"read":%d,"write":%d,"status":%d,' ..
    '"timeout":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d,"mean":%f,"statuses":%s,' ..
    '"wins":%s}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean, statuses, won))
end
