-- A batch of transitions in one call; each is checked and applied on its
-- own, in order. ARGV: P, op, n, then n argument groups of transition().
-- Returns one result per transition.
--
-- A replay of the call (after a lost reply) must answer as the first run
-- did even when the batch moved one row twice, so the results are kept for
-- a minute under the call's id instead of being recognised row by row.
local marker = P .. 'tm:' .. OP
local prev = redis.call('GET', marker)
if prev then return cjson.decode(prev) end
local out = {}
local b = 4
for i = 1, tonumber(ARGV[3]) do
  out[i], b = transition(b, OP .. ':' .. i)
end
flush_seq()
redis.call('SET', marker, cjson.encode(out), 'PX', 60000)
return out
