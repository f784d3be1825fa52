-- refresh_token grant with rotation. The pool (BENCH_POOL, one refresh token a line) is larger
-- than the number of connections; each request takes a token out and its response puts the
-- rotated one back, so no token is ever presented twice (that would revoke its family).
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

local pool = read_lines("BENCH_POOL")
local headers = env_headers()
headers["Content-Type"] = "application/x-www-form-urlencoded"

function request()
  local token = table.remove(pool, 1) or "pool-exhausted"
  return wrk.format("POST", "/token", headers,
    "grant_type=refresh_token&refresh_token=" .. token)
end

function response(status, headers, body)
  local token = body and body:match('"refresh_token"%s*:%s*"([^"]+)"')
  if status == 200 and token and body:find('"access_token"', 1, true) then
    table.insert(pool, token)
    ok = ok + 1
  else
    bad = bad + 1
  end
end
