-- Warm-up wrk run that checks every response: status must be 200 and the body exactly BENCH_BODY.
-- Each wrk thread has its own Lua state, so the counters are collected from the threads in done().
local expected = os.getenv("BENCH_BODY")
local threads = {}

setup = function(thread)
  table.insert(threads, thread)
end

init = function(args)
  ok = 0
  bad = 0
  first_bad = ""
end

response = function(status, headers, body)
  if status == 200 and body == expected then
    ok = ok + 1
  else
    bad = bad + 1
    if first_bad == "" then
      first_bad = tostring(status) .. " " .. string.sub(tostring(body), 1, 80)
    end
  end
end

done = function(summary, latency, requests)
  local good, wrong, sample = 0, 0, ""
  for _, t in ipairs(threads) do
    good = good + t:get("ok")
    wrong = wrong + t:get("bad")
    if sample == "" then sample = t:get("first_bad") end
  end
  io.write(string.format("BENCH_CHECK ok=%d bad=%d socket_errors=%d\n", good, wrong,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
  if wrong > 0 then io.write("BENCH_CHECK first_bad=" .. sample:gsub("\n", "\\n") .. "\n") end
end
