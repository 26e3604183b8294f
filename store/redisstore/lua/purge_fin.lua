-- One bounded retention batch of the finished one-shot rows of one status
-- (see fin_add in lib.lua for the lists).
-- ARGV: P, op, status, cutoff (unix µs, exclusive), batch, offset.
-- offset < 0: the oldest list of a second before the cutoff's own, whose
-- live entries are all older than the cutoff. Its entries are taken from
-- the head and trimmed; an emptied list leaves the index of seconds.
-- offset >= 0: the list of the cutoff's own second, read from offset and
-- not trimmed, since it may hold newer rows: the live entries older than
-- the cutoff go, the rest stay.
-- Returns {entries read, rows deleted, 1 if there may be more}.
local st, cutoff, batch, off = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local cs = fin_second(cutoff)

-- Whether the entry of id in the list of second sec still stands for its
-- row: the row is finished in st with its retention score in sec (and
-- older than the cutoff, when one is given). Any other entry is stale: the
-- row went, moved on, or finished again later.
local function live(id, sec, before)
  local x = load(P .. 't:' .. id)
  if not x or fin_of(x) ~= st then return false end
  local score = fin_score(x)
  return fin_second(score) == sec and (not before or tonumber(score) < before)
end

if off < 0 then
  local idx = P .. 'finb:' .. st
  local secs = redis.call('ZRANGEBYSCORE', idx, '-inf', '(' .. cs, 'LIMIT', 0, 1)
  if #secs == 0 then return { 0, 0, 0 } end
  local sec = secs[1]
  local k = P .. 'fin:' .. st .. ':' .. sec
  local ids = redis.call('LRANGE', k, 0, batch - 1)
  local n = 0
  for _, id in ipairs(ids) do
    if live(id, sec) then n = n + remove_task(id) end
  end
  if #ids > 0 then redis.call('LTRIM', k, #ids, -1) end
  if redis.call('EXISTS', k) == 0 then redis.call('ZREM', idx, sec) end
  return { #ids, n, 1 }
end
local ids = redis.call('LRANGE', P .. 'fin:' .. st .. ':' .. cs, off, off + batch - 1)
local n = 0
for _, id in ipairs(ids) do
  if live(id, cs, cutoff) then n = n + remove_task(id) end
end
return { #ids, n, (#ids == batch) and 1 or 0 }
