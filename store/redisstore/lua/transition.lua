-- One transition. ARGV: P, then the arguments of transition() in lib.lua.
local r = transition(2)
return r
