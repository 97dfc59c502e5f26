-- wrk script: the same alerts as corrd.lua, ALERTS per request, as the
-- JSON array of postable alerts Alertmanager's POST /api/v2/alerts takes
-- (what Prometheus sends). See lib.lua for the labels.
--
--   wrk -t1 -c16 -d10s -s alertmanager.lua http://HOST:PORT/api/v2/alerts -- 100 500 50000

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local lib = dofile(dir .. "lib.lua")

local head = '['
local tail = ']'
local headers = { ["Content-Type"] = "application/json" }
local alert

function init(args)
  lib.configure(args)
  local starts, ends = lib.starts_at, lib.zero_time
  alert = lib.cached(function(store, device, fp)
    -- Alertmanager computes the fingerprint itself; fp is not sent.
    return '{"labels":{"alertname":"BenchDown","chain":"bench","device":"' .. device ..
      '","store":"' .. store .. '"},"annotations":{"summary":"Bench device ' .. device ..
      ' of store ' .. store .. ' is down"},"startsAt":"' .. starts .. '","endsAt":"' .. ends ..
      '","generatorURL":"http://prometheus.bench:9090/graph?g0.expr=up%3D%3D0"}'
  end)
end

function request()
  return wrk.format("POST", nil, headers, lib.body(head, alert, tail))
end

done = lib.done
