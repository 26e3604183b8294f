-- RecordAttempt. ARGV: P, op, id, held ('' for no fence), write ('1' to
-- write, '0' at audit level None), run, number, started (unix µs),
-- duration (µs), error.
-- Returns -1 when there is no row, 0 when the fence refused, else 1.
-- A short-lived marker answers a replay of this call (after a lost reply)
-- without appending the attempt twice.
local marker = P .. 'am:' .. OP
if redis.call('EXISTS', marker) == 1 then return 1 end
local id, held = ARGV[3], ARGV[4]
local k = P .. 't:' .. id
local v = redis.call('HMGET', k, 's', 'o', 'lu')
if v[1] == false then return -1 end
if held ~= '' then
  local lu = v[3] or ''
  if v[1] ~= 'InProgress' or (v[2] or '') ~= held or lu == '' or tonumber(lu) <= store_now() then
    return 0
  end
end
if ARGV[5] == '1' then
  local aid = string.format('%d', next_aid())
  redis.call('ZADD', P .. 'at:' .. id, aid,
    aid .. '|' .. ARGV[6] .. '|' .. ARGV[7] .. '|' .. ARGV[8] .. '|' .. ARGV[9] .. '|' .. ARGV[10])
  redis.call('ZADD', P .. 'ati', ARGV[8], id .. ':' .. aid)
  flush_seq()
end
redis.call('SET', marker, '1', 'PX', 60000)
return 1
