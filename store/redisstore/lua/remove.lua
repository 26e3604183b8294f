-- Remove a row with its audits and logs. ARGV: P, op, id. Returns 1 or 0.
-- A short-lived marker lets a replay of this call (after a lost reply)
-- report the removal instead of a missing row.
local marker = P .. 'rm:' .. OP
if redis.call('EXISTS', marker) == 1 then return 1 end
local n = remove_task(ARGV[3])
if n == 1 then redis.call('SET', marker, '1', 'PX', 60000) end
return n
