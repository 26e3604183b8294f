-- One status change with its conditions, index moves and audit.
-- ARGV: P, id, to, now, err, et, stamp, terminal, audit, ifrec, nfrom, from...
-- Returns -1 when there is no row, 0 when a condition failed, 1 when applied.
local id = ARGV[2]
local k = P .. 't:' .. id
local x = load(k)
if not x then return -1 end
local nfrom = tonumber(ARGV[11])
if nfrom > 0 then
  local ok = false
  for i = 12, 11 + nfrom do
    if ARGV[i] == x.s then ok = true break end
  end
  if not ok then return 0 end
end
local to, now, err = ARGV[3], ARGV[4], ARGV[5]
if ARGV[10] == '1' and not rec_now(x, now) then return 0 end
local y = copy(x)
y.s = to
if ARGV[7] == '1' then
  y.le = now
  redis.call('HSET', k, 's', to, 'le', now, 'et', ARGV[6])
else
  redis.call('HSET', k, 's', to)
end
if ARGV[8] == '1' then redis.call('HSET', k, 'e', err) end
reindex(id, x, y)
if ARGV[9] == '1' then audit_status(id, now, to, err) end
return 1
