-- Shared by every scenario: counters, and a JSON summary written by done().
--
-- Each wrk thread has its own Lua state; `ok`, `bad` and `flows` are that thread's counters,
-- collected by done() in the main state through thread:get(). A response that is not what
-- the scenario expects counts as `bad`, and the orchestrator fails the run on any.

ok, bad, flows = 0, 0, 0

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

-- Lines of a file the orchestrator prepared (tokens, PKCE pairs, users).
function read_lines(name)
  local lines = {}
  local path = os.getenv(name)
  if path then
    for line in io.lines(path) do
      if line ~= "" then table.insert(lines, line) end
    end
  end
  return lines
end

-- Lines of two space-separated fields ("verifier challenge", "email password"), as pairs.
function read_pairs(name)
  local pairs_ = {}
  for _, line in ipairs(read_lines(name)) do
    local first, second = line:match("^(%S+)%s+(%S+)$")
    table.insert(pairs_, { first, second })
  end
  return pairs_
end

-- Headers from BENCH_HEADERS: one "Name: value" per line.
function env_headers()
  local headers = {}
  for line in (os.getenv("BENCH_HEADERS") or ""):gmatch("[^\n]+") do
    local name, value = line:match("^([^:]+):%s*(.*)$")
    if name then headers[name] = value end
  end
  return headers
end

-- Latency quantiles (percent -> microseconds) written with the summary, so that the
-- orchestrator can merge the rounds of one row into one distribution: coarse up to the 98th,
-- then every 0.01 % to 99.99, so that the merged p99 is exact to a hundredth of a percent.
QUANTILES = { 50, 75, 90, 95, 96, 97 }
for i = 0, 199 do
  table.insert(QUANTILES, 98 + i / 100)
end

function done(summary, latency, requests)
  local total_ok, total_bad, total_flows = 0, 0, 0
  for _, thread in ipairs(threads) do
    total_ok = total_ok + (thread:get("ok") or 0)
    total_bad = total_bad + (thread:get("bad") or 0)
    total_flows = total_flows + (thread:get("flows") or 0)
  end
  local quantiles = {}
  for _, q in ipairs(QUANTILES) do
    table.insert(quantiles, string.format('"%.2f":%d', q, latency:percentile(q)))
  end
  table.insert(quantiles, string.format('"100":%d', latency.max))
  local e = summary.errors
  local out = assert(io.open(os.getenv("BENCH_OUT"), "w"))
  out:write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"unexpected":%d},' ..
    '"ok":%d,"flows":%d,"latency_us":{%s},"latency_mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout, total_bad,
    total_ok, total_flows, table.concat(quantiles, ","), latency.mean))
  out:close()
end
