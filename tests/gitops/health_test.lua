-- Runs docs/gitops/argocd-health.lua the way Argo CD does (a global `obj`,
-- the script returns the health table) against LoadTests in every phase.
-- Usage: lua5.4 tests/gitops/health_test.lua [path/to/argocd-health.lua]
local script = arg[1] or "docs/gitops/argocd-health.lua"
local chunk_src = assert(io.open(script, "r"), "cannot open " .. script):read("a")

local function health(obj)
  local env = setmetatable({ obj = obj }, { __index = _G })
  local chunk = assert(load(chunk_src, "@" .. script, "t", env))
  return chunk()
end

local function lt(status)
  return {
    apiVersion = "glasscannon.dev/v1alpha1",
    kind = "LoadTest",
    metadata = { name = "checkout", namespace = "shop", generation = 1 },
    spec = { target = "http://checkout.shop.svc:8080/", runners = 2 },
    status = status,
  }
end

local summary = { rps = 125000.4, latency = { p50Us = 310, p99Us = 1830 } }
local summary_text = { rps = 99.6, latency = { p99Us = 1250, p99Text = "1.25ms" } }
local summary_legacy = { rps = 7, latencyUs = { p99 = 42 } }

local cases = {
  { "no status yet", lt(nil), "Progressing", "Waiting" },
  { "Pending", lt({ phase = "Pending" }), "Progressing", "Pending" },
  { "Starting", lt({ phase = "Starting", message = "2/2 runners ready" }), "Progressing", "2/2 runners ready" },
  { "Running", lt({ phase = "Running" }), "Progressing", "Running" },
  { "status without phase", lt({}), "Progressing", "Pending" },
  {
    "Succeeded, verdict Passed",
    lt({
      phase = "Succeeded",
      verdict = "Passed",
      summary = summary,
      conditions = {
        { type = "Complete", status = "True" },
        { type = "ThresholdsPassed", status = "True" },
      },
    }),
    "Healthy",
    "125000 req/s, p99 1830 us",
  },
  {
    "Succeeded, verdict Failed",
    lt({
      phase = "Succeeded",
      verdict = "Failed",
      message = "p99 1830us >= 1ms",
      summary = summary,
      conditions = {
        { type = "Complete", status = "True" },
        { type = "ThresholdsPassed", status = "False" },
      },
    }),
    "Degraded",
    "p99 1830us >= 1ms",
  },
  { "phase Failed", lt({ phase = "Failed", message = "runner 1: io_uring blocked by seccomp" }), "Degraded", "io_uring" },
  {
    "Failed condition while Running",
    lt({ phase = "Running", conditions = { { type = "Failed", status = "True", message = "job failed" } } }),
    "Degraded",
    "job failed",
  },
  {
    "Failed condition False does not degrade",
    lt({ phase = "Running", conditions = { { type = "Failed", status = "False" } } }),
    "Progressing",
    "Running",
  },
  { "Succeeded without thresholds", lt({ phase = "Succeeded", summary = { rps = 10 } }), "Healthy", "10 req/s" },
  { "p99Text preferred", lt({ phase = "Succeeded", verdict = "Passed", summary = summary_text }), "Healthy", "100 req/s, p99 1.25ms" },
  { "legacy latencyUs", lt({ phase = "Succeeded", verdict = "Failed", summary = summary_legacy }), "Degraded", "7 req/s, p99 42 us" },
  { "verdict Passed wins over a stale phase", lt({ phase = "Running", verdict = "Passed" }), "Healthy", "passed" },
}

local passed, failed = 0, 0
for _, c in ipairs(cases) do
  local name, obj, want, want_msg = c[1], c[2], c[3], c[4]
  local ok, hs = pcall(health, obj)
  local problem
  if not ok then
    problem = "script error: " .. tostring(hs)
  elseif type(hs) ~= "table" then
    problem = "script returned " .. type(hs)
  elseif hs.status ~= want then
    problem = string.format("status %s, want %s", tostring(hs.status), want)
  elseif type(hs.message) ~= "string" or not string.find(hs.message:lower(), want_msg:lower(), 1, true) then
    problem = string.format("message %q lacks %q", tostring(hs.message), want_msg)
  end
  if problem then
    failed = failed + 1
    print("FAIL " .. name .. ": " .. problem)
  else
    passed = passed + 1
    print("ok   " .. name .. " -> " .. hs.status)
  end
end

print(string.format("%d passed, %d failed", passed, failed))
if failed > 0 then
  os.exit(1)
end
