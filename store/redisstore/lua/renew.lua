-- Renew: extend the leases an owner holds to the store's clock + lease.
-- ARGV: P, op, owner, lease (µs), id, id, ... Returns the ids the owner no
-- longer holds: no row, not InProgress, another owner, or a lease that
-- already ended (an ended lease is never revived: Rescue may be about to
-- take the row). Renewing twice is harmless, so a replay needs no marker.
local owner = ARGV[3]
local now = store_now()
local lu = string.format('%d', now + tonumber(ARGV[4]))
local lost = {}
for i = 5, #ARGV do
  local id = ARGV[i]
  local k = P .. 't:' .. id
  local v = redis.call('HMGET', k, 's', 'o', 'lu', 'm')
  if v[1] == 'InProgress' and v[2] == owner and v[3] and v[3] ~= '' and tonumber(v[3]) > now then
    redis.call('HSET', k, 'lu', lu)
    ix_add(LEASE, lu, v[4])
  else
    lost[#lost + 1] = id
  end
end
ix_flush()
return lost
