-- Sends the same request for a whole wrk run, with a Stripe test key, and
-- prints one machine-readable RESULT line at the end. run.sh sets:
--
--   BENCH_METHOD      GET or POST (default GET)
--   BENCH_PATH        the request path, such as /v1/checkout/sessions
--   BENCH_BODY_FILE   a form body to POST (optional)
--   BENCH_KEY         the secret key, sent as Authorization: Bearer KEY
--   BENCH_STOP_AFTER  stop each thread after this many responses (optional,
--                     for filling a server to a known size)

local method = os.getenv("BENCH_METHOD") or "GET"
local path = os.getenv("BENCH_PATH") or "/"
local body_file = os.getenv("BENCH_BODY_FILE")
local key = os.getenv("BENCH_KEY") or "sk_test_bench"
local stop_after = tonumber(os.getenv("BENCH_STOP_AFTER") or "0")

wrk.method = method
wrk.path = path
wrk.headers["Authorization"] = "Bearer " .. key
if body_file and body_file ~= "" then
  local file = assert(io.open(body_file, "rb"))
  -- A trailing newline from the editor is not part of the form body.
  wrk.body = file:read("*a"):gsub("%s+$", "")
  file:close()
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

if stop_after > 0 then
  local responses = 0
  function response(status, headers, body)
    responses = responses + 1
    if responses >= stop_after then
      wrk.thread:stop()
    end
  end
end

function done(summary, latency, requests)
  local errors = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d seconds=%.3f rps=%.1f p50_us=%d p99_us=%d "
      .. "status_errors=%d socket_errors=%d\n",
    summary.requests,
    seconds,
    summary.requests / seconds,
    latency:percentile(50),
    latency:percentile(99),
    errors.status,
    errors.connect + errors.read + errors.write + errors.timeout
  ))
end
