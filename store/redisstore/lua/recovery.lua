-- The recovery failure counter. ARGV: P, id, op ('inc' or 'clear').
-- Returns the new value, or -1 when there is no row.
local k = P .. 't:' .. ARGV[2]
if redis.call('EXISTS', k) == 0 then return -1 end
if ARGV[3] == 'inc' then return redis.call('HINCRBY', k, 'rf', 1) end
redis.call('HSET', k, 'rf', 0)
return 0
