-- JoinCluster: register a node or refresh it, with its heartbeat at the
-- store's clock. ARGV: P, op, id, host, pid, started (µs), queues (JSON),
-- server run id of its liveness connection. Returns the heartbeat (µs).
local id = ARGV[3]
local hb = string.format('%d', store_now())
redis.call('HSET', P .. 'node:' .. id, 'id', id, 'host', ARGV[4], 'pid', ARGV[5], 'st', ARGV[6], 'qs', ARGV[7],
  'hb', hb, 'rid', ARGV[8])
redis.call('SADD', P .. 'nodes', id)
return hb
