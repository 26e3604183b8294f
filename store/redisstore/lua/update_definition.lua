-- UpdateDefinition (idempotent: a replay writes the same fields).
-- ARGV: P, op, id, key, nf, nf field/value pairs.
-- Returns -1 when there is no row, 2 when the key is held by another row, 1.
local id, key = ARGV[3], ARGV[4]
local k = P .. 't:' .. id
local x = load(k)
if not x then return -1 end
local old = nz(redis.call('HGET', k, 'key'))
if key ~= old and key ~= '' then
  local h = redis.call('HGET', P .. 'keys', key)
  if h and h ~= id then return 2 end
end
local nf = tonumber(ARGV[5])
redis.call('HSET', k, unpack(ARGV, 6, 5 + 2 * nf))
if key ~= old then
  if old ~= '' and redis.call('HGET', P .. 'keys', old) == id then redis.call('HDEL', P .. 'keys', old) end
  if key ~= '' then redis.call('HSET', P .. 'keys', key, id) end
end
local y = load(k)
-- redue: RunUntil may have moved, and Claim drops the due entries of rows
-- whose RunUntil passed.
reindex(id, x, y, true)
redis.call('SADD', P .. 'queues', y.q)
ix_flush()
return 1
