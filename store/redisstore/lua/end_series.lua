-- EndSeries: any status but Cancelled; NextRunAt cleared, no run counted.
-- ARGV: P, id, status, now, err, audit
local id = ARGV[2]
local k = P .. 't:' .. id
local x = load(k)
if not x then return -1 end
if x.s == 'Cancelled' then return 0 end
local y = copy(x)
y.s, y.nr = ARGV[3], ''
redis.call('HSET', k, 's', y.s, 'e', ARGV[5], 'nr', '')
reindex(id, x, y)
if ARGV[6] == '1' then audit_status(id, ARGV[4], y.s, ARGV[5]) end
return 1
