-- One page of the step from layout version 2 to 3: version 2 kept the
-- retention entries of one status in one sorted set, "P fin:<status>";
-- version 3 keeps lists per second (fin_add in lib.lua).
-- ARGV: P, op, status, page size. Returns how many entries it moved.
local st = ARGV[3]
local old = P .. 'fin:' .. st
local zs = redis.call('ZRANGE', old, 0, tonumber(ARGV[4]) - 1, 'WITHSCORES')
local ids = {}
for i = 1, #zs, 2 do
  fin_add(st, zs[i + 1], zs[i])
  ids[#ids + 1] = zs[i]
end
if #ids > 0 then redis.call('ZREM', old, unpack(ids)) end
ix_flush()
return #ids
