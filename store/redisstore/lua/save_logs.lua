-- SaveLogs (idempotent: the same entries are the same members).
-- ARGV: P, op, id, then per log: member, at (unix µs), sort key.
-- Returns -1 when there is no row, else 1.
local id = ARGV[3]
if redis.call('EXISTS', P .. 't:' .. id) == 0 then return -1 end
for i = 4, #ARGV, 3 do
  redis.call('ZADD', P .. 'lg:' .. id, '0', ARGV[i])
  redis.call('ZADD', P .. 'li', ARGV[i + 1], id .. ':' .. ARGV[i + 2])
end
return 1
