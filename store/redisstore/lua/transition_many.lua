-- A batch of transitions in one call; each is checked and applied on its
-- own, in order. ARGV: P, n, then n argument groups of transition().
-- Returns one result per transition.
local out = {}
local b = 3
for i = 1, tonumber(ARGV[2]) do
  out[i], b = transition(b)
end
flush_seq()
return out
