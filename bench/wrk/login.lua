-- Password sign-in: POST /login with a CSRF cookie and token fetched once, for users taken in
-- turn from BENCH_USERS ("email password" a line), so that no account is hammered from one
-- address (which the brute-force throttle would rightly slow down). A success is a 302.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

local users = read_pairs("BENCH_USERS")  -- { email, password }
local headers = env_headers()
headers["Content-Type"] = "application/x-www-form-urlencoded"
local csrf = os.getenv("BENCH_CSRF_TOKEN")
local counter = 0

function request()
  counter = counter + 1
  local user = users[(counter % #users) + 1]
  return wrk.format("POST", "/login", headers,
    "csrfmiddlewaretoken=" .. csrf .. "&email=" .. user[1] .. "&password=" .. user[2] ..
    "&next=%2Faccount")
end

function response(status, headers, body)
  local location = headers["Location"] or headers["location"] or ""
  if status == 302 and location == "/account" then
    ok = ok + 1
  else
    bad = bad + 1
  end
end
