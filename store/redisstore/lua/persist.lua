-- Persist a batch of new rows, all or none.
-- ARGV: P, op, n, then per task: id, key, nf, and nf field/value pairs (the
-- caller leaves out the fields that read as empty or zero when missing).
-- Returns {0, ''} when written, {1, key} for a held key, {2, id} for a held id.
local n = tonumber(ARGV[3])
local keys, ids, queues, at = {}, {}, {}, {}
local b = 4
for i = 1, n do
  at[i] = b
  local id, key = ARGV[b], ARGV[b + 1]
  b = b + 3 + 2 * tonumber(ARGV[b + 2])
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
for i = 1, n do
  local b = at[i]
  local id, key, nf = ARGV[b], ARGV[b + 1], tonumber(ARGV[b + 2])
  local k = P .. 't:' .. id
  -- The fields the indexes read, '' when left out (as load() reads them).
  local x = { s = '', q = '', m = '', r = '', rc = '', mr = '', nr = '', le = '', c = '', ru = '', sa = '', o = '',
              lu = '' }
  for j = b + 3, b + 2 + 2 * nf, 2 do x[ARGV[j]] = ARGV[j + 1] end
  local op = OP
  if x.s ~= 'InProgress' and (x.o ~= '' or x.lu ~= '') then op = OP .. '!' end -- see STALE
  redis.call('HSET', k, 'op', op, unpack(ARGV, b + 3, b + 2 + 2 * nf))
  if key ~= '' then redis.call('HSET', P .. 'keys', key, id) end
  idx_add(id, x)
  queues[x.q] = true
end
ix_flush()
for q in pairs(queues) do redis.call('SADD', P .. 'queues', q) end
return { 0, '' }
