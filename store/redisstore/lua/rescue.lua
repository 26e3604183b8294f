-- Rescue: re-queue the InProgress rows nobody holds. The lease index gives
-- those whose lease ended at the store's clock; the caller adds candidates
-- it found outside it (rows of owners proven gone, InProgress rows without
-- a lease entry), each checked again here. Each rescued row: recovery
-- failures + 1, lease cleared, and Queued, or Failed with the poison error
-- once the count reaches the limit (a recurring row also loses its next
-- run), with a status audit as the flags say for its level.
-- ARGV: P, op, now (audit time), limit, max failures (0: never poison),
-- poison error, aq, af (per audit level, as in claim.lua: a Queued audit,
-- a Failed audit with the poison error), nowners, owners..., candidate ids...
-- Returns {store now, unleased, row, row, ...}: unleased counts the
-- InProgress rows missing from the lease index when the call rescued fewer
-- than limit (0 otherwise), so the caller knows whether to look for
-- candidates; rows as HGETALL gives them after the step.
--
-- A replay of the call (after a lost reply) answers with the rows the first
-- run rescued, kept a minute under the call's id.
local anow, limit, maxf, perr, aq, af = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], ARGV[7], ARGV[8]
local nown = tonumber(ARGV[9])
local owners = {}
for i = 10, 9 + nown do owners[ARGV[i]] = true end
local now = store_now()
local marker = P .. 'rs:' .. OP
local ids = {}
local prev = redis.call('GET', marker)

local function rescue(id, x)
  local k = P .. 't:' .. id
  local rf = string.format('%d', (tonumber(x.rf) or 0) + 1)
  local level = (tonumber(x.al) or 0) + 1
  local y = copy(x)
  y.o, y.lu, y.rf = '', '', rf
  if maxf > 0 and tonumber(rf) >= maxf then
    y.s = 'Failed'
    if x.r == '1' then
      y.nr = ''
      redis.call('HSET', k, 's', 'Failed', 'e', perr, 'nr', '', 'rf', rf, 'o', '', 'lu', '', 'op', OP)
    else
      redis.call('HSET', k, 's', 'Failed', 'e', perr, 'rf', rf, 'o', '', 'lu', '', 'op', OP)
    end
    if string.byte(af, level) == 49 then audit_status(id, anow, 'Failed', perr) end
  else
    y.s = 'Queued'
    redis.call('HSET', k, 's', 'Queued', 'rf', rf, 'o', '', 'lu', '', 'op', OP)
    if string.byte(aq, level) == 49 then audit_status(id, anow, 'Queued', '') end
  end
  reindex(id, x, y)
  ids[#ids + 1] = id
end

if prev then
  ids = cjson.decode(prev)
else
  local done = {}
  local ms = redis.call('ZRANGEBYSCORE', LEASE, '-inf', string.format('%d', now), 'LIMIT', 0, limit)
  for _, m in ipairs(ms) do
    local id = string.sub(m, 17)
    local x = load(P .. 't:' .. id, true)
    -- The index holds InProgress rows with an owner only (the check is a
    -- guard); its score is the lease's end, checked on the row too.
    if x and in_lease(x) and (x.lu == '' or tonumber(x.lu) <= now) then
      rescue(id, x)
      done[id] = true
    elseif not (x and in_lease(x)) then
      redis.call('ZREM', LEASE, m)
    end
  end
  for i = 10 + nown, #ARGV do
    if #ids >= limit then break end
    local id = ARGV[i]
    local x = not done[id] and load(P .. 't:' .. id, true)
    if x and x.s == 'InProgress' and
        (owners[x.o] or x.o == '' or x.lu == '' or tonumber(x.lu) <= now) then
      rescue(id, x)
      done[id] = true
    end
  end
  flush_seq()
  ix_flush()
  if #ids > 0 then redis.call('SET', marker, cjson.encode(ids), 'PX', 60000) end
end

local unleased = 0
if #ids < limit then
  local n = 0
  for _, q in ipairs(redis.call('SMEMBERS', P .. 'queues')) do
    n = n + redis.call('ZCARD', qs_key('InProgress', q))
  end
  unleased = n - redis.call('ZCARD', LEASE)
end
local out = { string.format('%d', now), unleased }
for _, id in ipairs(ids) do
  local h = redis.call('HGETALL', P .. 't:' .. id)
  if #h > 0 then out[#out + 1] = h end
end
return out
