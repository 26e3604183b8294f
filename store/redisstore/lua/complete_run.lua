-- CompleteRecurringRun: only from InProgress, and with a fence only while
-- its owner holds the lease (store clock).
-- ARGV: P, op, id, status, now, err, et, next, status_audit, runs_audit,
-- held ('' for no fence).
local id = ARGV[3]
local k = P .. 't:' .. id
local x = load(k)
if not x then return -1 end
if x.op == OP then return 1 end -- replayed after a lost reply: already applied
if x.s ~= 'InProgress' then return 0 end
local held, rf = ARGV[11], nil
if held ~= '' then
  local v = redis.call('HMGET', k, 'lu', 'rf')
  if x.o ~= held or not v[1] or v[1] == '' or tonumber(v[1]) <= store_now() then return 0 end
  rf = v[2]
end
local st, now, err, et = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local y = copy(x)
y.s, y.le, y.nr, y.rc, y.o = st, now, ARGV[8], inc_runs(x.rc), ''
local a = { 's', st, 'le', now, 'et', et, 'e', err, 'rc', y.rc, 'nr', y.nr, 'op', OP }
-- The row leaves InProgress: its lease goes, and a fenced write that
-- applies clears the recovery counter.
if x.o ~= '' then a[#a + 1] = 'o' a[#a + 1] = '' a[#a + 1] = 'lu' a[#a + 1] = '' end
if rf and rf ~= '0' then a[#a + 1] = 'rf' a[#a + 1] = '0' end
redis.call('HSET', k, unpack(a))
reindex(id, x, y)
st_add(now, redis.call('HGET', k, 'k'), st, et)
if ARGV[9] == '1' then audit_status(id, now, st, err) end
if ARGV[10] == '1' then audit_runs(id, now, et, st, err) end
flush_seq()
ix_flush()
return 1
