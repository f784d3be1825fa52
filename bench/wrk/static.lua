-- One fixed request, again and again: floor, discovery, JWKS, client_credentials, userinfo,
-- introspection. BENCH_METHOD, BENCH_HEADERS, BENCH_BODY describe it; BENCH_EXPECT is the
-- status every response must have and BENCH_CONTAINS a string its body must contain.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

wrk.method = os.getenv("BENCH_METHOD") or "GET"
wrk.body = os.getenv("BENCH_BODY")
for name, value in pairs(env_headers()) do wrk.headers[name] = value end
if wrk.body then
  wrk.headers["Content-Type"] = wrk.headers["Content-Type"] or "application/x-www-form-urlencoded"
end

local expect = tonumber(os.getenv("BENCH_EXPECT") or "200")
local contains = os.getenv("BENCH_CONTAINS")

function response(status, headers, body)
  if status == expect and (not contains or (body and body:find(contains, 1, true))) then
    ok = ok + 1
  else
    bad = bad + 1
  end
end
