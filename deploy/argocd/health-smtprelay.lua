-- Argo CD health check for smtprelay.dev/SmtpRelay.
-- Follows the kstatus conventions the operator writes (see docs/architecture.md):
--   metadata.generation > status.observedGeneration  -> Progressing (spec not yet seen)
--   Stalled=True                                      -> Degraded    (needs a human)
--   spec.replicas == 0                                -> Suspended   (scaled to zero on purpose)
--   Reconciling=True                                  -> Progressing (work in flight)
--   Ready=True                                        -> Healthy
--   Ready=False                                       -> Degraded
--   no status / no Ready yet                          -> Progressing
-- Written for Lua 5.1 (Argo CD's gopher-lua) and tested with Lua 5.4.
local hs = {}

local function findCondition(conditions, wanted)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == wanted then
      return c
    end
  end
  return nil
end

local function describe(c)
  local text = c.message
  if text == nil or text == "" then
    text = c.reason or c.type
  end
  if c.reason ~= nil and c.reason ~= "" and c.message ~= nil and c.message ~= "" then
    text = c.reason .. ": " .. c.message
  end
  return text
end

local function num(n)
  return tostring(math.floor(n))
end

if obj.metadata ~= nil and obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "SmtpRelay is being deleted"
  return hs
end

if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report status"
  return hs
end

local generation = obj.metadata and obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  if observed == nil then
    hs.message = "Waiting for the operator to observe generation " .. num(generation)
  else
    hs.message = "Waiting for the operator to observe generation " .. num(generation) .. " (observed " .. num(observed) .. ")"
  end
  return hs
end

local conditions = obj.status.conditions
local stalled = findCondition(conditions, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled)
  return hs
end

-- Scaled to zero: no pod can be ready or probed, and that is intended.
if obj.spec ~= nil and obj.spec.replicas == 0 then
  hs.status = "Suspended"
  hs.message = "SmtpRelay is scaled to zero replicas"
  return hs
end

local reconciling = findCondition(conditions, "Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = describe(reconciling)
  return hs
end

local ready = findCondition(conditions, "Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready)
  return hs
end
if ready ~= nil and ready.status == "False" then
  hs.status = "Degraded"
  hs.message = describe(ready)
  return hs
end

hs.status = "Progressing"
hs.message = "Waiting for the Ready condition"
return hs
