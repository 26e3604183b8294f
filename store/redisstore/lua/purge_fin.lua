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

-- The row of id if its entry in the list of second sec still stands for
-- it: the row is finished in st with its retention score in sec (and older
-- than the cutoff, when one is given); nil for a stale entry (the row went,
-- moved on, or finished again later). remove_task takes the row as read.
local function live(id, sec, before)
  local x = load(P .. 't:' .. id)
  if not x or fin_of(x) ~= st then return nil end
  local score = fin_score(x)
  if fin_second(score) ~= sec or (before and tonumber(score) >= before) then return nil end
  return x
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
    local x = live(id, sec)
    if x then n = n + remove_task(id, x) end
  end
  if #ids > 0 then redis.call('LTRIM', k, #ids, -1) end
  if redis.call('EXISTS', k) == 0 then redis.call('ZREM', idx, sec) end
  return { #ids, n, 1 }
end
local ids = redis.call('LRANGE', P .. 'fin:' .. st .. ':' .. cs, off, off + batch - 1)
local n = 0
for _, id in ipairs(ids) do
  local x = live(id, cs, cutoff)
  if x then n = n + remove_task(id, x) end
end
return { #ids, n, (#ids == batch) and 1 or 0 }
