-- A batch of transitions in one call; each is checked and applied on its
-- own, in order. ARGV: P, op, n, marker ('1' or '0'), then n argument groups
-- of transition(). Returns one result per transition.
--
-- A replay of the call (after a lost reply) must answer as the first run
-- did. When every row of the batch is distinct, each row's "op" field tells
-- (each records the call's id). A batch that moves one row twice keeps its
-- results for a minute under the call's id instead (marker '1', decided by
-- the caller), and transition i records "<op>:i" so the row's second move
-- is not taken for a replay of its first.
local marker = ARGV[4] == '1' and (P .. 'tm:' .. OP) or nil
if marker then
  local prev = redis.call('GET', marker)
  if prev then return cjson.decode(prev) end
end
local out = {}
local b = 5
for i = 1, tonumber(ARGV[3]) do
  -- Distinct rows can all carry the call's id; a row moved twice needs to
  -- tell its two transitions apart.
  out[i], b = transition(b, marker and (OP .. ':' .. i) or OP)
end
flush_seq()
ix_flush()
if marker then redis.call('SET', marker, cjson.encode(out), 'PX', 60000) end
return out
