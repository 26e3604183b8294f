-- One bounded retention batch of the counters of store.Stats (see st_add in
-- lib.lua): the hashes of the oldest minutes before the cut, and their
-- entries in stm.
-- ARGV: P, op, cut (unix minute, exclusive), batch.
-- Returns {minutes deleted, counters deleted} (a counter is a (minute,
-- kind, status): two fields of its minute's hash).
local cut, batch = ARGV[3], tonumber(ARGV[4])
local stm = P .. 'stm'
local ms = redis.call('ZRANGEBYSCORE', stm, '-inf', '(' .. cut, 'LIMIT', 0, batch)
local n = 0
for _, m in ipairs(ms) do
  local k = P .. 'st:' .. m
  n = n + redis.call('HLEN', k) / 2
  redis.call('DEL', k)
  redis.call('ZREM', stm, m)
end
return { #ms, n }
