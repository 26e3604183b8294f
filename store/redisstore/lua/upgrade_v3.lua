-- One page of the step from layout version 3 to 4: version 4 adds the due
-- index per queue and the lease index (see in_due and in_lease in lib.lua),
-- built here from the rows. Adding an entry twice is harmless, so the page
-- may be run again.
-- ARGV: P, op, lower bound (ZRANGEBYLEX syntax), page size. Returns the last
-- member read, '' when "all" has nothing past the bound.
local ms = redis.call('ZRANGEBYLEX', P .. 'all', ARGV[3], '+', 'LIMIT', 0, tonumber(ARGV[4]))
for _, m in ipairs(ms) do
  local x = load(P .. 't:' .. string.sub(m, 17), true)
  if x then
    if in_due(x) then ix_add(due_key(x.q), due_score(x), m) end
    if in_lease(x) then ix_add(LEASE, lease_score(x), m) end
  end
end
ix_flush()
if #ms == 0 then return '' end
return ms[#ms]
