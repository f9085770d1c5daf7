-- wrk script: POST one body, each request with its own pre-signed JWT (jti must never repeat).
-- Tokens come from a file, one per line; thread i of n uses lines i, i+n, i+2n, ...
-- done() prints one JSON line that bench/run.py parses.
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter - 1)
  table.insert(threads, thread)
end

function init(args)
  local path, body_path, nthreads = args[1], args[2], tonumber(args[3])
  tokens = {}
  local i = 0
  if path ~= "none" then
    for line in io.lines(path) do
      if i % nthreads == tid then table.insert(tokens, line) end
      i = i + 1
    end
  end
  local f = io.open(body_path, "rb")
  body = f:read("*a")
  f:close()
  nexti = 1
  wraps = 0
  statuses = {}
end

function request()
  local headers = {["Content-Type"] = "application/json"}
  if #tokens > 0 then
    headers["Authorization"] = "Bearer " .. tokens[nexti]
    nexti = nexti + 1
    if nexti > #tokens then  -- used up: what follows are replays (401s); sized never to
      nexti = 1
      wraps = wraps + 1
    end
  end
  return wrk.format("POST", nil, headers, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local non2xx, wrapped = 0, 0
  for _, thread in ipairs(threads) do
    wrapped = wrapped + (thread:get("wraps") or 0)
    local s = thread:get("statuses")
    if s then
      for status, n in pairs(s) do
        if status < 200 or status > 299 then non2xx = non2xx + n end
      end
    end
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "non2xx": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f, ' ..
    '"token_wraps": %d}\n',
    summary.requests, summary.duration, non2xx, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), latency.max, latency.mean, wrapped))
end
