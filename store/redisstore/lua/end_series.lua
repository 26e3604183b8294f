-- EndSeries: any status but Cancelled; NextRunAt cleared, no run counted,
-- and the lease cleared (the row leaves InProgress if it was there).
-- ARGV: P, op, id, status, now, err, audit
local id = ARGV[3]
local k = P .. 't:' .. id
local x = load(k)
if not x then return -1 end
if x.op == OP then return 1 end -- replayed after a lost reply: already applied
if x.s == 'Cancelled' then return 0 end
local y = copy(x)
y.s, y.nr, y.o = ARGV[4], '', ''
if x.o ~= '' then
  redis.call('HSET', k, 's', y.s, 'e', ARGV[6], 'nr', '', 'op', OP, 'o', '', 'lu', '')
else
  redis.call('HSET', k, 's', y.s, 'e', ARGV[6], 'nr', '', 'op', OP)
end
reindex(id, x, y)
if ARGV[7] == '1' then audit_status(id, ARGV[5], y.s, ARGV[6]) end
ix_flush()
return 1
