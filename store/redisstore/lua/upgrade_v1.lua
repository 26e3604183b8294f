-- One page of the step from layout version 1 to 2: version 1 kept one-shot
-- rows in rec too; version 2 keeps only recurring ones there.
-- ARGV: P, op, lower bound (ZRANGEBYLEX syntax), page size. Returns the last
-- member read, '' when rec has nothing past the bound.
local ms = redis.call('ZRANGEBYLEX', REC, ARGV[3], '+', 'LIMIT', 0, tonumber(ARGV[4]))
local drop = {}
for _, m in ipairs(ms) do
  if redis.call('HGET', P .. 't:' .. string.sub(m, 17), 'r') ~= '1' then drop[#drop + 1] = m end
end
if #drop > 0 then redis.call('ZREM', REC, unpack(drop)) end
if #ms == 0 then return '' end
return ms[#ms]
