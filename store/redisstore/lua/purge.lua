-- One bounded retention batch of audits or logs (rows: purge_fin.lua).
-- ARGV: P, op, what ('sai', 'saie', 'rai', 'raie', 'ati' or 'li'), cutoff (unix
-- µs, exclusive), batch.
-- Returns {entries taken from the index, audits, attempts or logs deleted}.
local what, cutoff, batch = ARGV[3], ARGV[4], tonumber(ARGV[5])
local idx = P .. what
local ms = redis.call('ZRANGEBYSCORE', idx, '-inf', '(' .. cutoff, 'LIMIT', 0, batch)
local n = 0
for _, mem in ipairs(ms) do
  if what == 'li' then
    local id, sk = string.match(mem, '^(.*):(.*)$')
    n = n + redis.call('ZREMRANGEBYLEX', P .. 'lg:' .. id, '[' .. sk .. '|', '(' .. sk .. '}')
  else
    local id, aid = string.match(mem, '^(.*):(%d+)$')
    local pfx = 'sa:'
    if string.sub(what, 1, 2) == 'ra' then pfx = 'ra:' end
    if what == 'ati' then pfx = 'at:' end
    n = n + redis.call('ZREMRANGEBYSCORE', P .. pfx .. id, aid, aid)
  end
  redis.call('ZREM', idx, mem)
end
return { #ms, n }
