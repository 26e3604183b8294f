-- TrimLogs: keep the newest entries of a task's logs (the last of lg:<id>,
-- ordered by (ID, Seq)) and drop the others with their retention entries.
-- ARGV: P, op, id, keep. Returns how many it deleted. Replaying it deletes
-- nothing more (and reports 0).
local id, keep = ARGV[3], tonumber(ARGV[4])
local k = P .. 'lg:' .. id
local n = redis.call('ZCARD', k)
if n <= keep then return 0 end
local ms = redis.call('ZRANGE', k, 0, n - keep - 1)
for _, l in ipairs(ms) do
  redis.call('ZREM', P .. 'li', id .. ':' .. string.sub(l, 1, 48))
end
redis.call('ZREMRANGEBYRANK', k, 0, n - keep - 1)
return #ms
