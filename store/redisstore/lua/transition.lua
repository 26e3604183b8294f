-- One transition. ARGV: P, op, then the arguments of transition() in lib.lua.
local r = transition(3, OP)
ix_flush()
return r
