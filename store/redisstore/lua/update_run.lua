-- UpdateCurrentRun: count a run and set the next one, status unchanged.
-- ARGV: P, op, id, now, et, next, mode ('all', 'err' or 'none': the runs
-- audit policy of the level; 'err' audits a Failed row or one with error
-- text).
local id = ARGV[3]
local k = P .. 't:' .. id
local x = load(k)
if not x then return -1 end
if own_op(x.op) then return 1 end -- replayed after a lost reply: counted once
local y = copy(x)
y.rc, y.nr = inc_runs(x.rc), ARGV[6]
redis.call('HSET', k, 'rc', y.rc, 'nr', y.nr, 'op', stale_op(x.op))
reindex(id, x, y)
local mode = ARGV[7]
if mode ~= 'none' then
  local err = nz(redis.call('HGET', k, 'e'))
  if mode == 'all' or x.s == 'Failed' or err ~= '' then
    audit_runs(id, ARGV[4], ARGV[5], x.s, err)
  end
end
ix_flush()
return 1
