-- Claim: take up to limit due rows of one queue for an owner, in (DueAt,
-- created, id) order: the head of the queue's due index up to the store's
-- clock. Each becomes InProgress under a lease of the owner until the
-- store's clock + lease, with the status audits of a row that went through
-- Queued (unless it was Queued) and InProgress, as the policy flags say for
-- the row's own audit level.
-- ARGV: P, op, queue, owner, limit, lease (µs), now (audit time), aq, ai:
-- aq and ai hold one '0'/'1' per audit level (Full, Minimal, ErrorsOnly,
-- None): whether a Queued, an InProgress audit is written at that level.
-- Returns {store now, next due ('' for none), lease end ('' when nothing
-- was claimed), row, row, ...}, each row as HGETALL gave it before the
-- claim: the claim's own fields (InProgress, the owner, the lease end) are
-- the caller's to apply, so the script does not patch each reply.
--
-- A replay of the call (after a lost reply) answers with the rows the first
-- run claimed, as far as the owner still holds them: it does not claim a
-- second set that nobody would run. The first run keeps, for a minute under
-- the call's id, only the lease end it gave (every row of one call shares
-- it): its rows are the lease index's entries at that score whose op is the
-- call's id. (A row renewed meanwhile is left out; its lease then runs out
-- and Rescue takes it.)
local q, owner, limit, lfor, anow, aq, ai =
  ARGV[3], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7], ARGV[8], ARGV[9]
local now = store_now()
local snow = string.format('%d', now)
local dk = due_key(q)
local marker = P .. 'cl:' .. OP
local ids, rows = {}, {}
local READ = { s = true, q = true, r = true, rc = true, mr = true, nr = true, ru = true, al = true }
local prev = redis.call('GET', marker)
local lu = ''
if prev then
  lu = prev
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', LEASE, prev, prev)) do
    local id = string.sub(m, 17)
    local v = redis.call('HMGET', P .. 't:' .. id, 's', 'o', 'op')
    if v[1] == 'InProgress' and v[2] == owner and v[3] == OP then ids[#ids + 1] = id end
  end
else
  lu = string.format('%d', now + lfor)
  local inprog = qs_key('InProgress', q)
  while #ids < limit do
    -- The head of the due index up to the clock; every entry read leaves
    -- it before the next read (claimed, or dropped as one that can no
    -- longer be claimed), by rank: the entries read are its first n.
    -- (at most IX_CHUNK at a time: the entries go back out through unpack)
    local ms = redis.call('ZRANGEBYSCORE', dk, '-inf', snow, 'LIMIT', 0, math.min(limit - #ids, IX_CHUNK))
    local n = #ms
    if n == 0 then break end
    for j = 1, n do
      local m = ms[j]
      local id = string.sub(m, 17)
      local k = P .. 't:' .. id
      -- The whole row, read once: it is the reply too.
      local h = redis.call('HGETALL', k)
      local x = { s = false, q = '', r = '', rc = '', mr = '', nr = '', ru = '', al = '' }
      for i = 1, #h, 2 do
        local f = h[i]
        if READ[f] then x[f] = h[i + 1] end
      end
      -- The index holds only rows that are claimable but for RunUntil (the
      -- checks of a missing row, another queue, another state are a guard);
      -- a passed RunUntil never comes back, so its entry goes.
      if x.s and x.q == q and in_due(x) and (x.ru == '' or tonumber(x.ru) >= now) then
        local level = (tonumber(x.al) or 0) + 1
        redis.call('HSET', k, 's', 'InProgress', 'o', owner, 'lu', lu, 'op', OP)
        ix_rem(qs_key(x.s, q), m)
        ix_add(inprog, '0', m)
        ix_add(LEASE, lu, m)
        if x.s ~= 'Queued' and string.byte(aq, level) == 49 then audit_status(id, anow, 'Queued', '', true) end
        if string.byte(ai, level) == 49 then audit_status(id, anow, 'InProgress', '', true) end
        ids[#ids + 1] = id
        rows[#rows + 1] = h
      end
    end
    redis.call('ZREMRANGEBYRANK', dk, 0, n - 1)
  end
  flush_seq()
  ix_flush()
  if #ids > 0 then redis.call('SET', marker, lu, 'PX', 60000) else lu = '' end
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

local out = { snow, nd, lu }
if prev then
  for _, id in ipairs(ids) do out[#out + 1] = redis.call('HGETALL', P .. 't:' .. id) end
else
  for _, h in ipairs(rows) do out[#out + 1] = h end
end
return out
