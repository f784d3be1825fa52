-- The authorization-code flow with PKCE for a signed-in, consented user:
-- GET /authorize (session cookie) -> 302 to the callback with a code -> POST /token.
-- A request is a token exchange when a code is waiting, an authorization request otherwise,
-- so every code is redeemed once, at once. A flow counts when its token response carries an
-- ID token; every BENCH_SAMPLE_EVERY-th such response is written to BENCH_SAMPLES for the
-- orchestrator to verify its signature and claims.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

local pkce = read_pairs("BENCH_PKCE")  -- { verifier, challenge }
local authorize_path = os.getenv("BENCH_AUTHORIZE_PATH")
local redirect_uri = os.getenv("BENCH_REDIRECT_URI_ENCODED")
local authorize_headers = { ["Cookie"] = os.getenv("BENCH_COOKIE") }
local token_headers = env_headers()
token_headers["Content-Type"] = "application/x-www-form-urlencoded"
local sample_every = tonumber(os.getenv("BENCH_SAMPLE_EVERY") or "50")
local samples = nil

local codes, pending, counter = {}, {}, 0

function init(args)
  local path = os.getenv("BENCH_SAMPLES")
  if path then samples = assert(io.open(path, "a")) end
end

function request()
  local item = table.remove(codes, 1)
  if item then
    return wrk.format("POST", "/token", token_headers,
      "grant_type=authorization_code&code=" .. item.code .. "&redirect_uri=" .. redirect_uri ..
      "&code_verifier=" .. item.verifier)
  end
  counter = counter + 1
  local pair = pkce[(counter % #pkce) + 1]
  local state = "s" .. counter
  pending[state] = pair[1]
  return wrk.format("GET", authorize_path .. "&state=" .. state .. "&nonce=n" .. counter ..
    "&code_challenge=" .. pair[2], authorize_headers)
end

function response(status, headers, body)
  if status == 302 then
    local location = headers["Location"] or headers["location"] or ""
    local code = location:match("[?&]code=([^&]+)")
    local state = location:match("[?&]state=([^&]+)")
    local verifier = state and pending[state]
    if code and verifier then
      pending[state] = nil
      table.insert(codes, { code = code, verifier = verifier })
      ok = ok + 1
    else
      bad = bad + 1
    end
  elseif status == 200 and body and body:find('"id_token"', 1, true) then
    ok = ok + 1
    flows = flows + 1
    if samples and flows % sample_every == 1 then
      samples:write(body, "\n")
      samples:flush()
    end
  else
    bad = bad + 1
  end
end
