-- Shared part of the wrk scripts corrd.lua and alertmanager.lua: the alert
-- numbering, the label values and fingerprints, and the summary printed at
-- the end. Loaded with dofile by both, so the per-request cost of building
-- a body is the same code path for both systems.
--
-- Request r (counted from 0 by each wrk thread) carries alerts
-- n = r*ALERTS .. r*ALERTS+ALERTS-1 with labels
--   alertname=BenchDown chain=bench device=(n % DEVICES) store=(device % STORES)
-- (store = n % STORES when STORES divides DEVICES, as with the defaults),
-- so every request brings different alerts, and fingerprints recur once n
-- passes DEVICES: both systems dedup and merge into a bounded state.

local ffi = require("ffi")
local bit = require("bit")

local M = {}

-- wrk passes the arguments after "--": ALERTS STORES DEVICES.
function M.configure(args)
  M.alerts = tonumber(args[1] or "100")
  M.stores = tonumber(args[2] or "500")
  M.devices = tonumber(args[3] or "50000")
  -- All alerts started when the run started; re-sent alerts keep their
  -- startsAt, as Alertmanager's own re-notifications do.
  M.starts_at = os.date("!%Y-%m-%dT%H:%M:%SZ")
  M.zero_time = "0001-01-01T00:00:00Z"
  M.next = 0
end

-- 64-bit FNV-1a over the sorted labels, each name and value followed by a
-- 0xff byte: prometheus/common model.LabelSet.Fingerprint(), as
-- Alertmanager puts it in webhook messages.
local OFFSET = ffi.new("uint64_t", 14695981039346656037ULL)
local PRIME = ffi.new("uint64_t", 1099511628211ULL)

local function hash_add(h, s)
  for i = 1, #s do
    h = bit.bxor(h, s:byte(i)) * PRIME
  end
  return bit.bxor(h, 0xff) * PRIME
end

function M.fingerprint(sorted_pairs)
  local h = OFFSET
  for i = 1, #sorted_pairs, 2 do
    h = hash_add(h, sorted_pairs[i])
    h = hash_add(h, sorted_pairs[i + 1])
  end
  return bit.tohex(h, 16)
end

-- cached(render) returns a function of an alert number that returns the
-- JSON text of that alert, built once per device by render(store, device,
-- fingerprint) and cached: steady-state generation is a table lookup per
-- alert and one concatenation per request.
function M.cached(render)
  local cache = {}
  return function(n)
    local d = n % M.devices
    local s = cache[d]
    if s == nil then
      local device = tostring(d)
      local store = tostring(d % M.stores)
      local fp = M.fingerprint({"alertname", "BenchDown", "chain", "bench", "device", device, "store", store})
      s = render(store, device, fp)
      cache[d] = s
    end
    return s
  end
end

-- body(head, alert, tail) builds the next request's body: head, the
-- ALERTS alerts of the next request number separated by commas, tail; one
-- concatenation into the final string.
function M.body(head, alert, tail)
  local parts = M.parts
  if parts == nil then
    parts = {}
    for i = 1, M.alerts - 1 do
      parts[2 * i + 1] = ","
    end
    M.parts = parts
  end
  local base = M.next * M.alerts
  M.next = M.next + 1
  parts[1] = head
  for i = 1, M.alerts do
    parts[2 * i] = alert(base + i - 1)
  end
  parts[2 * M.alerts + 1] = tail
  return table.concat(parts, "", 1, 2 * M.alerts + 1)
end

-- done prints wrk's summary as "key value" lines for webhook.sh.
function M.done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("wrk_duration_seconds %.6f\n", summary.duration / 1e6))
  io.write(string.format("wrk_requests %d\n", summary.requests))
  io.write(string.format("wrk_non_2xx %d\n", e.status))
  io.write(string.format("wrk_socket_errors %d\n", e.connect + e.read + e.write + e.timeout))
  io.write(string.format("wrk_latency_p50_ms %.3f\n", latency:percentile(50) / 1e3))
  io.write(string.format("wrk_latency_p99_ms %.3f\n", latency:percentile(99) / 1e3))
end

return M
