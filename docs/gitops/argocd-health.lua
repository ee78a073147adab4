-- Argo CD health check for glasscannon.dev/LoadTest.
-- Progressing while Pending/Starting/Running, Healthy on verdict Passed,
-- Degraded on verdict Failed or when the run itself failed.
local hs = {}

local function summary(st)
  local s = st.summary
  if s == nil then
    return ""
  end
  local parts = {}
  if s.rps ~= nil then
    table.insert(parts, string.format("%.0f req/s", s.rps))
  end
  -- status.summary.latency {p99Us, p99Text}; older operators wrote latencyUs {p99}.
  local lat = s.latency
  if lat ~= nil and lat.p99Text ~= nil and lat.p99Text ~= "" then
    table.insert(parts, "p99 " .. lat.p99Text)
  elseif lat ~= nil and lat.p99Us ~= nil then
    table.insert(parts, string.format("p99 %.0f us", lat.p99Us))
  elseif s.latencyUs ~= nil and s.latencyUs.p99 ~= nil then
    table.insert(parts, string.format("p99 %.0f us", s.latencyUs.p99))
  end
  if #parts == 0 then
    return ""
  end
  return " (" .. table.concat(parts, ", ") .. ")"
end

local function condition(st, ctype)
  if st.conditions == nil then
    return nil
  end
  for _, c in ipairs(st.conditions) do
    if c.type == ctype then
      return c
    end
  end
  return nil
end

if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to pick up the LoadTest"
  return hs
end

local st = obj.status
local phase = st.phase or "Pending"
local msg = st.message

if st.verdict == "Passed" then
  hs.status = "Healthy"
  hs.message = (msg or "Thresholds passed") .. summary(st)
  return hs
end

if st.verdict == "Failed" then
  hs.status = "Degraded"
  hs.message = (msg or "Thresholds failed") .. summary(st)
  return hs
end

local failed = condition(st, "Failed")
if phase == "Failed" or (failed ~= nil and failed.status == "True") then
  hs.status = "Degraded"
  hs.message = msg or (failed and failed.message) or "Load test failed"
  return hs
end

if phase == "Succeeded" then
  -- Finished without thresholds: nothing to gate on, so it is healthy.
  hs.status = "Healthy"
  hs.message = (msg or "Load test finished") .. summary(st)
  return hs
end

hs.status = "Progressing"
hs.message = msg or ("Load test " .. phase)
return hs
