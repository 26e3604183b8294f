-- The recovery failure counter. ARGV: P, op, id, what ('inc' or 'clear').
-- Returns the new value, or -1 when there is no row.
local k = P .. 't:' .. ARGV[3]
if redis.call('EXISTS', k) == 0 then return -1 end
local v = redis.call('HMGET', k, 'rf', 'op')
if ARGV[4] == 'inc' then
  if own_op(v[2] or '') then return tonumber(v[1]) end -- replayed after a lost reply
  redis.call('HSET', k, 'op', stale_op(v[2] or ''))
  return redis.call('HINCRBY', k, 'rf', 1)
end
redis.call('HSET', k, 'rf', 0)
return 0
