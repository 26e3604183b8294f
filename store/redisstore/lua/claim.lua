-- Claim: take up to limit due rows of one queue for an owner, in (DueAt,
-- created, id) order: the head of the queue's due index up to the store's
-- clock. Each becomes InProgress under a lease of the owner until the
-- store's clock + lease, with the status audits of a row that went through
-- Queued (unless it was Queued) and InProgress, as the policy flags say for
-- the row's own audit level.
-- ARGV: P, op, queue, owner, limit, lease (µs), now (audit time), aq, ai:
-- aq and ai hold one '0'/'1' per audit level (Full, Minimal, ErrorsOnly,
-- None): whether a Queued, an InProgress audit is written at that level.
-- Returns {store now, next due ('' for none), row, row, ...}, each row as
-- HGETALL gives it.
--
-- A replay of the call (after a lost reply) answers with the rows the first
-- run claimed, kept a minute under the call's id, as far as the owner still
-- holds them: it does not claim a second set that nobody would run.
local q, owner, limit, lfor, anow, aq, ai =
  ARGV[3], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7], ARGV[8], ARGV[9]
local now = store_now()
local snow = string.format('%d', now)
local dk = due_key(q)
local marker = P .. 'cl:' .. OP
local ids = {}
local prev = redis.call('GET', marker)
if prev then
  ids = cjson.decode(prev)
else
  local lu = string.format('%d', now + lfor)
  while #ids < limit do
    -- Every entry read leaves the due index before the next read: claimed,
    -- or dropped as one that can no longer be claimed.
    local ms = redis.call('ZRANGEBYSCORE', dk, '-inf', snow, 'LIMIT', 0, limit - #ids)
    if #ms == 0 then break end
    for _, m in ipairs(ms) do
      local id = string.sub(m, 17)
      local k = P .. 't:' .. id
      local v = redis.call('HMGET', k, 's', 'q', 'r', 'rc', 'mr', 'nr', 'ru', 'al')
      local x = { s = v[1], q = v[2] or '', r = v[3] or '', rc = v[4] or '', mr = v[5] or '', nr = v[6] or '',
                  ru = v[7] or '' }
      -- The index holds only rows that are claimable but for RunUntil (the
      -- checks of a missing row, another queue, another state are a guard);
      -- a passed RunUntil never comes back, so its entry goes.
      if x.s and x.q == q and in_due(x) and rec_now(x, now) then
        local level = (tonumber(v[8]) or 0) + 1
        redis.call('HSET', k, 's', 'InProgress', 'o', owner, 'lu', lu, 'op', OP)
        ix_rem(qs_key(x.s, q), m)
        ix_add(qs_key('InProgress', q), '0', m)
        ix_add(LEASE, lu, m)
        if x.s ~= 'Queued' and string.byte(aq, level) == 49 then audit_status(id, anow, 'Queued', '', true) end
        if string.byte(ai, level) == 49 then audit_status(id, anow, 'InProgress', '', true) end
        ids[#ids + 1] = id
      end
    end
    redis.call('ZREM', dk, unpack(ms))
  end
  flush_seq()
  ix_flush()
  if #ids > 0 then redis.call('SET', marker, cjson.encode(ids), 'PX', 60000) end
end

-- The earliest entry past the clock whose row may still run; the entries
-- of rows whose RunUntil passed go.
local nd = ''
while true do
  local ms = redis.call('ZRANGEBYSCORE', dk, '(' .. snow, '+inf', 'WITHSCORES', 'LIMIT', 0, 16)
  if #ms == 0 then break end
  local drop = {}
  for i = 1, #ms, 2 do
    local v = redis.call('HMGET', P .. 't:' .. string.sub(ms[i], 17), 's', 'ru')
    if v[1] and (not v[2] or v[2] == '' or tonumber(v[2]) >= now) then
      nd = string.format('%d', tonumber(ms[i + 1]))
      break
    end
    drop[#drop + 1] = ms[i]
  end
  if #drop > 0 then redis.call('ZREM', dk, unpack(drop)) end
  if nd ~= '' then break end
end

local out = { snow, nd }
for _, id in ipairs(ids) do
  local h = redis.call('HGETALL', P .. 't:' .. id)
  -- (on a replay, only what the owner still holds)
  if #h > 0 and (not prev or (redis.call('HGET', P .. 't:' .. id, 's') == 'InProgress' and
      redis.call('HGET', P .. 't:' .. id, 'o') == owner)) then
    out[#out + 1] = h
  end
end
return out
