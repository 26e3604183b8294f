-- A batch of transitions in one call; each is checked and applied on its
-- own, in order. ARGV: P, op, n, marker ('1' or '0'), then n argument groups
-- of transition(). Returns one result per transition.
--
-- A replay of the call (after a lost reply) must answer as the first run
-- did. When every row of the batch is distinct, each row's "op" field tells
-- (transition i records "<op>:i"). A batch that moves one row twice would
-- overwrite its own first record, so it keeps its results for a minute under
-- the call's id instead (marker '1', decided by the caller).
local marker = ARGV[4] == '1' and (P .. 'tm:' .. OP) or nil
if marker then
  local prev = redis.call('GET', marker)
  if prev then return cjson.decode(prev) end
end
local out = {}
local b = 5
for i = 1, tonumber(ARGV[3]) do
  out[i], b = transition(b, OP .. ':' .. i)
end
flush_seq()
if marker then redis.call('SET', marker, cjson.encode(out), 'PX', 60000) end
return out
