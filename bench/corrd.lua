-- wrk script: Alertmanager webhook messages (payload version "4") of
-- ALERTS firing alerts each, as Alertmanager sends them to a receiver, for
-- corrd's POST /api/v1/ingest/alertmanager. See lib.lua for the labels.
--
--   wrk -t1 -c16 -d10s -s corrd.lua http://HOST:PORT/api/v1/ingest/alertmanager -- 100 500 50000

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local lib = dofile(dir .. "lib.lua")

local head = '{"version":"4","groupKey":"{}:{chain=\\"bench\\"}","truncatedAlerts":0,' ..
  '"status":"firing","receiver":"corrd","groupLabels":{"chain":"bench"},' ..
  '"commonLabels":{"alertname":"BenchDown","chain":"bench"},"commonAnnotations":{},' ..
  '"externalURL":"http://alertmanager.bench:9093","alerts":['
local tail = ']}'
local headers = { ["Content-Type"] = "application/json" }
local alert

function init(args)
  lib.configure(args)
  local starts, ends = lib.starts_at, lib.zero_time
  alert = lib.cached(function(store, device, fp)
    return '{"status":"firing","labels":{"alertname":"BenchDown","chain":"bench","device":"' .. device ..
      '","store":"' .. store .. '"},"annotations":{"summary":"Bench device ' .. device ..
      ' of store ' .. store .. ' is down"},"startsAt":"' .. starts .. '","endsAt":"' .. ends ..
      '","generatorURL":"http://prometheus.bench:9090/graph?g0.expr=up%3D%3D0","fingerprint":"' .. fp .. '"}'
  end)
end

function request()
  return wrk.format("POST", nil, headers, lib.body(head, alert, tail))
end

done = lib.done
