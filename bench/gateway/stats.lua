-- wrk reporter for bench/gateway/run.sh: one JSON line with the counts and latency
-- percentiles (microseconds) that report.py turns into the results table.
-- WRK_THINK_MS > 0 makes each connection wait that long between a response and its next
-- request, so two proxies can be compared at (nearly) the same request rate.
local think = tonumber(os.getenv("WRK_THINK_MS") or "0") or 0
if think > 0 then
  delay = function() return think end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"timeouts":%d,"non_2xx_3xx":%d,"p50_us":%d,"p90_us":%d,' ..
    '"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.timeout, e.status, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean))
end
