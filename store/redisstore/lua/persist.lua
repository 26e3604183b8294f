-- Persist a batch of new rows, all or none, optionally already claimed.
-- ARGV: P, op, n, owner, lease (µs), audit time, then per task: id, key,
-- audits, nf, and nf field/value pairs (the caller leaves out the fields
-- that read as empty or zero when missing).
-- With an owner (PersistClaimed) the caller writes each row InProgress with
-- that owner, and the script adds its lease: the store's clock + lease. The
-- audits of a row are the statuses to audit at the audit time, in order,
-- one letter each: Q (Queued), I (InProgress); empty without an owner.
-- Returns {0, ''} when written, {1, key} for a held key, {2, id} for a held id.
local n, owner, lfor, anow = tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6]
local keys, ids, queues, at = {}, {}, {}, {}
local b = 7
for i = 1, n do
  at[i] = b
  local id, key = ARGV[b], ARGV[b + 1]
  b = b + 4 + 2 * tonumber(ARGV[b + 3])
  if ids[id] then return { 2, id } end
  if redis.call('EXISTS', P .. 't:' .. id) == 1 then
    -- This very call, replayed by the client after its reply was lost: the
    -- batch was written whole the first time.
    if own_op(redis.call('HGET', P .. 't:' .. id, 'op') or '') then return { 0, '' } end
    return { 2, id }
  end
  ids[id] = true
  if key ~= '' then
    if keys[key] or redis.call('HEXISTS', P .. 'keys', key) == 1 then return { 1, key } end
    keys[key] = true
  end
end
local lu = ''
if owner ~= '' then lu = string.format('%d', store_now() + tonumber(lfor)) end
local AUDIT = { Q = 'Queued', I = 'InProgress' }
for i = 1, n do
  local b = at[i]
  local id, key, audits, nf = ARGV[b], ARGV[b + 1], ARGV[b + 2], tonumber(ARGV[b + 3])
  local k = P .. 't:' .. id
  -- The fields the indexes read, '' when left out (as load() reads them).
  local x = { s = '', q = '', m = '', r = '', rc = '', mr = '', nr = '', le = '', c = '', ru = '', sa = '', o = '',
              lu = '' }
  for j = b + 4, b + 3 + 2 * nf, 2 do x[ARGV[j]] = ARGV[j + 1] end
  local op = OP
  if x.s ~= 'InProgress' and (x.o ~= '' or x.lu ~= '') then op = OP .. '!' end -- see STALE
  redis.call('HSET', k, 'op', op, unpack(ARGV, b + 4, b + 3 + 2 * nf))
  if lu ~= '' then
    x.lu = lu
    redis.call('HSET', k, 'lu', lu)
  end
  if key ~= '' then redis.call('HSET', P .. 'keys', key, id) end
  idx_add(id, x)
  for j = 1, #audits do audit_status(id, anow, AUDIT[string.sub(audits, j, j)], '', true) end
  queues[x.q] = true
end
flush_seq()
ix_flush()
for q in pairs(queues) do redis.call('SADD', P .. 'queues', q) end
return { 0, '' }
