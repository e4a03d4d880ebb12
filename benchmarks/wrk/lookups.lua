-- wrk script: point lookups of random keys k0 … k<EDDY_KEYS - 1> on eddy's view EDDY_VIEW
-- (GET /v1/views/<view>/keys/<key>), the keys benchmarks/DATA.md's events shape writes.
--   EDDY_VIEW=b EDDY_KEYS=100000 wrk -t2 -c64 -d20s --latency -s benchmarks/wrk/lookups.lua http://127.0.0.1:8090
local view = os.getenv("EDDY_VIEW") or "b"
local keys = tonumber(os.getenv("EDDY_KEYS") or "100000")

function setup(thread)
  thread:set("seed", math.random(1, 1000000))
end

function init(args)
  math.randomseed(seed)
end

function request()
  return wrk.format("GET", "/v1/views/" .. view .. "/keys/k" .. math.random(0, keys - 1))
end
