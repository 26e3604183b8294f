-- CompleteRecurringRun: only from InProgress.
-- ARGV: P, op, id, status, now, err, et, next, status_audit, runs_audit
local id = ARGV[3]
local k = P .. 't:' .. id
local x = load(k)
if not x then return -1 end
if x.op == OP then return 1 end -- replayed after a lost reply: already applied
if x.s ~= 'InProgress' then return 0 end
local st, now, err, et = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local y = copy(x)
y.s, y.le, y.nr, y.rc = st, now, ARGV[8], inc_runs(x.rc)
redis.call('HSET', k, 's', st, 'le', now, 'et', et, 'e', err, 'rc', y.rc, 'nr', y.nr, 'op', OP)
reindex(id, x, y)
if ARGV[9] == '1' then audit_status(id, now, st, err) end
if ARGV[10] == '1' then audit_runs(id, now, et, st, err) end
flush_seq()
ix_flush()
return 1
