-- Shared helpers, prepended to every script. ARGV[1] is always the key
-- prefix of the store, hash tag included ("{evertask:}"): every key a
-- script touches is built from it, so all of them hash to one slot.
-- ARGV[2] is a random id of the call. go-redis sends a command again when
-- the connection dropped before the reply came (MaxRetries), so a script
-- may run twice for one call: the steps that are not idempotent record the
-- id on the row ("op") and answer a replay with their first result instead
-- of applying twice.
local P = ARGV[1]
local OP = ARGV[2]

-- A row persisted with an owner or a lease end outside InProgress (the
-- contract lets Persist write any row) carries them until a transition
-- clears them. Its "op" then ends in STALE ('!', which no call id holds),
-- so the lightest transitions, which do not read the owner, still know to
-- clear it: every step that rewrites op keeps the mark while the lease
-- fields stay (stale_op), and every transition drops it as it clears them.
local STALE = 33 -- '!'
local function stale(op)
  return string.byte(op, -1) == STALE
end
-- The op a step that keeps the lease fields writes: OP, marked as x.op was.
local function stale_op(xop)
  if xop ~= '' and stale(xop) then return OP .. '!' end
  return OP
end
-- Whether a row's op says this very call wrote it (a replay), marked or not.
local function own_op(xop)
  return xop == OP or xop == OP .. '!'
end

local function nz(v)
  if v == false or v == nil then return '' end
  return v
end

-- Index writes of the hot paths (transition, persist), buffered per key and
-- sent at the end of the script as one variadic ZREM and one ZADD per key:
-- each redis.call has a fixed cost in the script (about half a microsecond
-- here, as much as a cheap command), so a batch of 50 claims moves its index
-- entries in 2 calls instead of 100. Only the
-- last write of a (key, member) counts, which is the net effect of the
-- writes in order. A script that buffers must not read those keys before
-- its ix_flush().
local IX = {}
local function ix_add(k, score, m)
  local t = IX[k]
  if not t then t = {} IX[k] = t end
  t[m] = score
end
local function ix_rem(k, m)
  local t = IX[k]
  if not t then t = {} IX[k] = t end
  t[m] = false
end
-- unpack() passes its values on Lua's C stack: send at most IX_CHUNK members
-- per command.
local IX_CHUNK = 1000
local function ix_send(cmd, k, args)
  local n, w = #args, (cmd == 'ZADD') and 2 or 1
  for i = 1, n, IX_CHUNK * w do
    redis.call(cmd, k, unpack(args, i, math.min(i + IX_CHUNK * w - 1, n)))
  end
end
-- Retention entries of finished one-shot rows: a list per (status,
-- second of the row's retention score), "P fin:<status>:<second>", and the
-- seconds that have one in "P finb:<status>" (a zset scored by second).
-- Appending to a list costs Redis a fraction of a sorted set insert, which
-- was 15% of a completion. Entries are never removed when a row moves on or
-- goes: Purge checks each entry against its row (purge_fin.lua) and drops
-- the stale ones, so a row leaving a finished status costs nothing either.
-- (Without a Purge, a row that finishes again leaves one stale entry per
-- finish, about 40 bytes.)
local FIN_SECOND = 1000000 -- µs
local FINQ = {}
local function fin_second(score)
  return string.format('%d', math.floor(tonumber(score) / FIN_SECOND))
end
-- Buffered like ix_add: one RPUSH per list at the end of the script. The
-- rows of a batch mostly end in one second: the list of the last call is
-- kept at hand, so they build its key once.
local fin_last_st, fin_last_sec, fin_last = nil, nil, nil
local function fin_add(st, score, id)
  local secn = math.floor(tonumber(score) / FIN_SECOND)
  local e = fin_last
  if st ~= fin_last_st or secn ~= fin_last_sec then
    local sec = string.format('%d', secn)
    local k = P .. 'fin:' .. st .. ':' .. sec
    e = FINQ[k]
    if not e then e = { st = st, sec = sec, ids = {} } FINQ[k] = e end
    fin_last_st, fin_last_sec, fin_last = st, secn, e
  end
  e.ids[#e.ids + 1] = id
end
local function fin_flush()
  for k, e in pairs(FINQ) do
    local n, created = #e.ids, false
    for i = 1, n, IX_CHUNK do
      local j = math.min(i + IX_CHUNK - 1, n)
      -- A list that holds exactly what this call pushed is new: its
      -- second goes into the index of seconds.
      if redis.call('RPUSH', k, unpack(e.ids, i, j)) == j then created = true end
    end
    if created then redis.call('ZADD', P .. 'finb:' .. e.st, e.sec, e.sec) end
  end
  FINQ = {}
  fin_last_st, fin_last_sec, fin_last = nil, nil, nil
end

-- The counters of store.Stats: a hash per minute, "P st:<unix minute>",
-- with per kind the fields "cn<kind>" and "cu<kind>" (Completed: count and
-- sum of execution times in µs) and "fn<kind>", "fu<kind>" (Failed), and
-- "P stm", a zset of the minutes that have a hash, scored by minute (for
-- Overview's window and Purge). A script adds up its ends per (minute,
-- kind, status) and sends two HINCRBY per counter at the end, so a batch of
-- completions of one kind in one minute pays two calls, not two per row.
local COUNTED = { Completed = 1, Failed = 3 } -- slot of the count in a counter
local MINUTE = 60000000 -- µs
-- STATS[unix minute][kind] = { completed, completed µs, failed, failed µs }:
-- a row's end costs arithmetic only; the field names are built at flush.
local STATS = {}
local function st_add(now, kind, st, et)
  local c = COUNTED[st]
  if not c or now == '' then return end
  local m = math.floor(tonumber(now) / MINUTE)
  local t = STATS[m]
  if not t then t = {} STATS[m] = t end
  kind = kind or ''
  local e = t[kind]
  if not e then e = { 0, 0, 0, 0 } t[kind] = e end
  e[c] = e[c] + 1
  e[c + 1] = e[c + 1] + (tonumber(et) or 0)
end
local ST_FIELDS = { 'cn', 'cu', 'fn', 'fu' }
local function st_flush()
  for m, t in pairs(STATS) do
    local ms = string.format('%d', m)
    local k = P .. 'st:' .. ms
    local new = false
    for kind, e in pairs(t) do
      for c = 1, 3, 2 do
        if e[c] > 0 then
          -- A count field that holds exactly this call's ends is new, and
          -- so may be the minute's hash: only then is the minute added to
          -- stm.
          if redis.call('HINCRBY', k, ST_FIELDS[c] .. kind, e[c]) == e[c] then new = true end
          redis.call('HINCRBY', k, ST_FIELDS[c + 1] .. kind, string.format('%d', e[c + 1]))
        end
      end
    end
    if new then redis.call('ZADD', P .. 'stm', 'NX', ms, ms) end
  end
  STATS = {}
end

local function ix_flush()
  for k, t in pairs(IX) do
    local add, rem = {}, {}
    for m, score in pairs(t) do
      if score then
        add[#add + 1] = score
        add[#add + 1] = m
      else
        rem[#rem + 1] = m
      end
    end
    if #rem > 0 then ix_send('ZREM', k, rem) end
    if #add > 0 then ix_send('ZADD', k, add) end
  end
  IX = {}
  fin_flush()
  st_flush()
end

-- The statuses before a task finishes: a row in one of them is recoverable
-- unless its run limit is reached, and is in no retention index.
local OPEN = { WaitingQueue = true, Queued = true, Pending = true, InProgress = true, ServiceStopped = true }
-- The statuses a finished one-shot row has a retention index for.
local FIN = { Completed = true, Failed = true, Cancelled = true }

-- Index keys, built once per script: a concatenation costs a script about
-- as much as a cheap command.
local REC = P .. 'rec'
local LEASE = P .. 'lease'
local QK = {}
local function qs_key(st, q)
  local t = QK[st]
  if not t then t = {} QK[st] = t end
  local k = t[q]
  if not k then k = P .. 'qs:' .. st .. ':' .. q t[q] = k end
  return k
end
local DK = {}
local function due_key(q)
  local k = DK[q]
  if not k then k = P .. 'due:' .. q DK[q] = k end
  return k
end

-- The store's clock for leases, unix microseconds: the server's TIME,
-- read once per script (a script is one instant for the rows it touches)
-- and only by the steps that need it. Redis 7 replicates a script's effects,
-- not the script, so a replica never evaluates TIME again.
local NOW_US = nil
local function store_now()
  if not NOW_US then
    local t = redis.call('TIME')
    NOW_US = tonumber(t[1]) * 1000000 + tonumber(t[2])
  end
  return NOW_US
end

-- The end of a lease of lfor µs (a string) from the store's clock, as
-- written to rows: built once per length per script, since a batch of
-- claims shares one.
local LEASE_END = {}
local function lease_end(lfor)
  local e = LEASE_END[lfor]
  if not e then
    e = string.format('%d', store_now() + tonumber(lfor))
    LEASE_END[lfor] = e
  end
  return e
end

-- The time-independent part of store.Recoverable: run limit (strict <, a
-- negative or missing count is 0) and status, with recurring Completed and
-- Failed rows recoverable only while they have a next run.
local function rec_static(x)
  local n = tonumber(x.rc) or 0
  if n < 0 then n = 0 end
  local m = tonumber(x.mr) or 0
  if m > 0 and n >= m then return false end
  local st = x.s
  if OPEN[st] then return true end
  if st == 'Completed' or st == 'Failed' then
    return x.r == '1' and x.nr ~= ''
  end
  return false
end

-- store.Recoverable at now (unix microseconds): RunUntil >= now keeps a row.
local function rec_now(x, now)
  if not rec_static(x) then return false end
  return x.ru == '' or tonumber(x.ru) >= tonumber(now)
end

-- Whether a row belongs in the recoverable index "rec": recurring rows only.
-- A one-shot row is recoverable only in an open status, where its (status,
-- queue) set already lists it; RetrievePending reads those sets with rec,
-- so a one-shot row's completion has one big index entry less to remove.
local function in_rec(x)
  return x.r == '1' and rec_static(x)
end

-- Whether a row belongs in its queue's due index "due:<queue>": what
-- store.Task.Claimable says apart from RunUntil (recoverable by status and
-- run limit, and not InProgress). Scored by due_score, the row's DueAt;
-- members are <m>, so equal scores order by (created, id). Claim drops the
-- entries of rows whose RunUntil it finds passed (they never become
-- claimable again unless UpdateDefinition changes RunUntil, and it adds
-- the entry back), so this index may lack such rows.
local function in_due(x)
  return x.s ~= 'InProgress' and rec_static(x)
end

-- store.Task.DueAt: the next run, else the scheduled time, else creation.
local function due_score(x)
  if x.nr ~= '' then return x.nr end
  if x.sa ~= '' then return x.sa end
  return x.c
end

-- The lease index "lease" (scored by the lease's end, members <m>) holds
-- the InProgress rows a lease-aware step gave an owner: Claim, a
-- transition with a Lease, Persist of such a row, Renew. Every step that
-- moves a row with an owner out of InProgress takes it out, so it only
-- ever holds InProgress rows; an InProgress row missing from it (written
-- without a lease) is found by Rescue through the InProgress sets.
local function in_lease(x)
  return x.s == 'InProgress' and x.o ~= ''
end

-- The retention index a row belongs to: finished one-shot rows only.
local function fin_of(x)
  if x.r == '1' then return nil end
  if FIN[x.s] then return x.s end
  return nil
end

local function fin_score(x)
  if x.le ~= '' then return x.le end
  return x.c
end

-- The fields the indexes depend on; with lease, also the lease, the
-- recovery counter and the audit level (the cluster steps).
local function load(k, lease)
  local v
  if lease then
    v = redis.call('HMGET', k, 's', 'q', 'r', 'rc', 'mr', 'nr', 'le', 'c', 'm', 'ru', 'op', 'sa', 'o', 'lu', 'rf', 'al')
  else
    v = redis.call('HMGET', k, 's', 'q', 'r', 'rc', 'mr', 'nr', 'le', 'c', 'm', 'ru', 'op', 'sa', 'o')
  end
  if v[1] == false then return nil end
  -- (a missing field is false: "or ''" is nz() without the calls)
  return { s = v[1], q = v[2] or '', r = v[3] or '', rc = v[4] or '', mr = v[5] or '', nr = v[6] or '',
           le = v[7] or '', c = v[8] or '', m = v[9] or '', ru = v[10] or '', op = v[11] or '',
           sa = v[12] or '', o = v[13] or '', lu = v[14] or '', rf = v[15] or '', al = v[16] or '' }
end

-- load() for a transition, in fewer fields when the row allows: each field
-- an HMGET returns costs the script about as much as a cheap command (a
-- field the row does not have costs less: no string). A one-shot row needs
-- 6 of the 13 (8 when ifrec checks its limits, 10 for a fenced write); the
-- others are read only when something reads them: rc when a run limit is
-- set, nr for a recurring row, le and c for the retention score of a move
-- into a retention index that does not stamp, sa and c for the due score
-- of a move into the due index. (A one-shot row is never in rec, and
-- leaving an index needs only its status.) o tells whether the row has a
-- lease to clear; lu is read here for a fenced write, and by the caller
-- for ifrec only when the row turns out to be InProgress with an owner
-- (x.lu nil: not read).
local function load_for(k, to, stamp, ifrec, held)
  local v
  local x
  -- A move that ends an execution (Completed, Failed) also reads the kind
  -- for its counter (st_add), as one more field after the others, taken
  -- out of v so the positions below read as without it.
  local kd = COUNTED[to]
  local kind
  if held and ifrec then
    if kd then
      v = redis.call('HMGET', k, 's', 'q', 'm', 'op', 'r', 'o', 'lu', 'rf', 'mr', 'ru', 'k')
      kind, v[11] = v[11], nil
    else
      v = redis.call('HMGET', k, 's', 'q', 'm', 'op', 'r', 'o', 'lu', 'rf', 'mr', 'ru')
    end
  elseif held then
    if kd then
      v = redis.call('HMGET', k, 's', 'q', 'm', 'op', 'r', 'o', 'lu', 'rf', 'k')
      kind, v[9] = v[9], nil
    else
      v = redis.call('HMGET', k, 's', 'q', 'm', 'op', 'r', 'o', 'lu', 'rf')
    end
  elseif ifrec then
    if kd then
      v = redis.call('HMGET', k, 's', 'q', 'm', 'op', 'r', 'o', 'mr', 'ru', 'k')
      kind, v[9] = v[9], nil
    else
      v = redis.call('HMGET', k, 's', 'q', 'm', 'op', 'r', 'o', 'mr', 'ru')
    end
  elseif kd then
    v = redis.call('HMGET', k, 's', 'q', 'm', 'op', 'r', 'o', 'k')
    kind, v[7] = v[7], nil
  else
    v = redis.call('HMGET', k, 's', 'q', 'm', 'op', 'r', 'o')
  end
  if v[1] == false then return nil end
  if held then
    x = { s = v[1], q = v[2] or '', m = v[3] or '', op = v[4] or '', r = v[5] or '', o = v[6] or '',
          lu = v[7] or '', rf = v[8] or '', mr = v[9] or '', ru = v[10] or '', rc = '', nr = '', le = '', c = '', sa = '' }
  else
    x = { s = v[1], q = v[2] or '', m = v[3] or '', op = v[4] or '', r = v[5] or '', o = v[6] or '',
          mr = v[7] or '', ru = v[8] or '', rc = '', nr = '', le = '', c = '', sa = '' }
  end
  -- A move into the due index needs the row's due score and run limit.
  local enter = OPEN[to] and to ~= 'InProgress' and (x.s == 'InProgress' or not OPEN[x.s])
  if x.r == '1' or (ifrec and (tonumber(x.mr) or 0) > 0) or (FIN[to] and not stamp) or enter then
    local y = load(k)
    y.lu, y.rf, y.k = x.lu, x.rf, kind
    return y
  end
  x.k = kind
  return x
end

local function copy(x)
  local y = {}
  for k, v in pairs(x) do y[k] = v end
  return y
end

-- The score of a row in the lease index: its lease's end, 0 (long
-- expired) for an owner without one.
local function lease_score(x)
  if x.lu ~= '' then return x.lu end
  return '0'
end

-- The index entries of a new row, buffered (see ix_add).
local function idx_add(id, x)
  ix_add(P .. 'all', '0', x.m)
  ix_add(qs_key(x.s, x.q), '0', x.m)
  if in_rec(x) then ix_add(REC, '0', x.m) end
  if in_due(x) then ix_add(due_key(x.q), due_score(x), x.m) end
  if in_lease(x) then ix_add(LEASE, lease_score(x), x.m) end
  local f = fin_of(x)
  if f then fin_add(f, fin_score(x), id) end
end

local function idx_del(id, x)
  redis.call('ZREM', qs_key(x.s, x.q), x.m)
  redis.call('ZREM', REC, x.m)
  if in_due(x) then redis.call('ZREM', due_key(x.q), x.m) end
  if in_lease(x) then redis.call('ZREM', LEASE, x.m) end
end

-- Moves a row from the index entries of state x to those of state y,
-- touching only what changed (a caller that gives a row a lease adds its
-- lease entry itself). With redue, the due entry is written whenever y
-- belongs there: Claim may have dropped it (see in_due). The retention
-- entry is buffered: the caller ends with ix_flush().
local function reindex(id, x, y, redue)
  if x.s ~= y.s or x.q ~= y.q then
    redis.call('ZREM', qs_key(x.s, x.q), x.m)
    redis.call('ZADD', qs_key(y.s, y.q), '0', y.m)
  end
  local ra, rb = in_rec(x), in_rec(y)
  if ra and not rb then redis.call('ZREM', REC, x.m) end
  if rb and not ra then redis.call('ZADD', REC, '0', y.m) end
  local da, db = in_due(x), in_due(y)
  if da and (not db or x.q ~= y.q) then redis.call('ZREM', due_key(x.q), x.m) end
  if db and (redue or not da or x.q ~= y.q or due_score(x) ~= due_score(y)) then
    redis.call('ZADD', due_key(y.q), due_score(y), y.m)
  end
  if in_lease(x) and not in_lease(y) then redis.call('ZREM', LEASE, x.m) end
  local fa, fb = fin_of(x), fin_of(y)
  if fb and (fa ~= fb or fin_score(x) ~= fin_score(y)) then fin_add(fb, fin_score(y), id) end
end

-- Audit rows: per task a sorted set scored by the store-wide audit id (so
-- newest first is ZREVRANGE), plus a global retention index scored by time
-- whose member names the task and the audit id. Rows with an error go to
-- their own retention index, so they can be kept longer.
-- Audit ids come from one store-wide counter. A script takes the first
-- with INCR and counts on locally; flush_seq stores the rest with one
-- INCRBY, so a batch pays one or two calls for all its ids.
local seq_next, seq_used = nil, 0
local function next_aid()
  if not seq_next then
    seq_next = redis.call('INCR', P .. 'seq')
    seq_used = 1
    return seq_next
  end
  seq_next = seq_next + 1
  seq_used = seq_used + 1
  return seq_next
end
local function flush_seq()
  if seq_used > 1 then redis.call('INCRBY', P .. 'seq', seq_used - 1) end
  seq_next, seq_used = nil, 0
end

local function audit_status(id, now, st, err, buffered)
  local aid = string.format('%d', next_aid())
  redis.call('ZADD', P .. 'sa:' .. id, aid, aid .. '|' .. now .. '|' .. st .. '|' .. err)
  local g = 'sai'
  if err ~= '' then g = 'saie' end
  if buffered then
    ix_add(P .. g, now, id .. ':' .. aid)
  else
    redis.call('ZADD', P .. g, now, id .. ':' .. aid)
  end
end

local function audit_runs(id, now, et, st, err)
  local aid = string.format('%d', next_aid())
  redis.call('ZADD', P .. 'ra:' .. id, aid, aid .. '|' .. now .. '|' .. et .. '|' .. st .. '|' .. err)
  local g = 'rai'
  if err ~= '' then g = 'raie' end
  redis.call('ZADD', P .. g, now, id .. ':' .. aid)
end

local function inc_runs(rc)
  local n = tonumber(rc) or 0
  if n < 0 then n = 0 end
  if n < 2147483647 then n = n + 1 end
  return string.format('%d', n)
end

-- Deletes a row, its key claim, its index entries, audits and logs, and
-- their retention index entries. Returns 1, or 0 when there is no row.
-- x is the row as load() reads it, when the caller has it already.
local function remove_task(id, x)
  local k = P .. 't:' .. id
  x = x or load(k)
  if not x then return 0 end
  local key = nz(redis.call('HGET', k, 'key'))
  if key ~= '' and redis.call('HGET', P .. 'keys', key) == id then
    redis.call('HDEL', P .. 'keys', key)
  end
  redis.call('ZREM', P .. 'all', x.m)
  idx_del(id, x)
  for _, a in ipairs(redis.call('ZRANGE', P .. 'sa:' .. id, 0, -1)) do
    local aid = string.match(a, '^(%d+)|')
    redis.call('ZREM', P .. 'sai', id .. ':' .. aid)
    redis.call('ZREM', P .. 'saie', id .. ':' .. aid)
  end
  for _, a in ipairs(redis.call('ZRANGE', P .. 'ra:' .. id, 0, -1)) do
    local aid = string.match(a, '^(%d+)|')
    redis.call('ZREM', P .. 'rai', id .. ':' .. aid)
    redis.call('ZREM', P .. 'raie', id .. ':' .. aid)
  end
  for _, l in ipairs(redis.call('ZRANGE', P .. 'lg:' .. id, 0, -1)) do
    redis.call('ZREM', P .. 'li', id .. ':' .. string.sub(l, 1, 48))
  end
  for _, a in ipairs(redis.call('ZRANGE', P .. 'at:' .. id, 0, -1)) do
    redis.call('ZREM', P .. 'ati', id .. ':' .. string.match(a, '^(%d+)|'))
  end
  redis.call('DEL', k, P .. 'sa:' .. id, P .. 'ra:' .. id, P .. 'lg:' .. id, P .. 'at:' .. id)
  return 1
end

-- The end of a one-shot run under a lease that holder must hold, as
-- transition() below applies it: a replay of op is applied already (1);
-- a row not InProgress under holder's live lease is refused (0); no row is
-- -1; a recurring row is nil, before any write, for the general path. Its
-- moves: the status set, the lease entry out, the retention entry and the
-- counter of the end, buffered as there.
local function end_held(id, k, to, now, err, et, holder, audit, op)
  local v = redis.call('HMGET', k, 's', 'q', 'm', 'op', 'r', 'o', 'lu', 'rf', 'k')
  if v[1] == false then return -1 end
  if v[4] == op then return 1 end
  local lu = v[7]
  if v[1] ~= 'InProgress' or v[6] ~= holder or not lu or lu == '' or tonumber(lu) <= store_now() then return 0 end
  if v[5] == '1' then return nil end
  local q, m, rf = v[2] or '', v[3] or '', v[8]
  if rf and rf ~= '' and rf ~= '0' then
    redis.call('HSET', k, 's', to, 'op', op, 'le', now, 'et', et, 'e', err, 'o', '', 'lu', '', 'rf', '0')
  else
    redis.call('HSET', k, 's', to, 'op', op, 'le', now, 'et', et, 'e', err, 'o', '', 'lu', '')
  end
  ix_rem(LEASE, m)
  ix_rem(qs_key('InProgress', q), m)
  ix_add(qs_key(to, q), '0', m)
  fin_add(to, now, id)
  st_add(now, v[9], to, et)
  if audit then audit_status(id, now, to, err, true) end
  return 1
end

-- One status change with its conditions, index moves and audit, reading
-- its arguments from ARGV[b]: id, to, now, err, et, flags, nfrom, from...
-- flags is four '0'/'1' characters: stamp, terminal, audit, ifrec; a fifth
-- character means three more arguments follow the from list: the fence
-- owner (HeldBy, '' for none), the lease owner ('' for none) and the lease
-- length in µs. op is the id of this transition. Returns the result (-1
-- when there is no row, 0 when a condition failed, 1 when applied) and the
-- index of the next argument. The index moves are buffered: the caller ends
-- with ix_flush().
local function transition(b, op)
  local id = ARGV[b]
  local nfrom = tonumber(ARGV[b + 6])
  local nxt = b + 7 + nfrom
  local k = P .. 't:' .. id
  local to, now, err, flags = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 5]
  local ifrec = string.byte(flags, 4) == 49
  local held, lown, lfor = nil, nil, nil
  if #flags > 4 then
    held, lown, lfor = ARGV[nxt], ARGV[nxt + 1], ARGV[nxt + 2]
    if held == '' then held = nil end
    if lown == '' then lown = nil end
    nxt = nxt + 3
  end
  -- The end of a one-shot run under its lease (InProgress to Completed or
  -- Failed, fenced, stamped), the outcome of nearly every task: end_held
  -- does what the general path below does for it, with one read and no
  -- row table. nil from it (a recurring row) means the general path.
  if held and not lown and not ifrec and nfrom == 1 and ARGV[b + 7] == 'InProgress' and COUNTED[to]
    and string.byte(flags, 1) == 49 and string.byte(flags, 2) == 49 then
    local r = end_held(id, k, to, now, err, ARGV[b + 4], held, string.byte(flags, 3) == 49, op)
    if r then return r, nxt end
  end
  -- A move between open statuses that cannot take a row out of InProgress
  -- (a claim, a delivery) changes no recoverable, retention or lease entry
  -- (the recurring flag stays) and no due entry but the one a claim
  -- leaves: it reads only what its conditions and its status entry need.
  -- Each field an HMGET returns costs the script a string.
  local light = OPEN[to] and nfrom > 0 and not ifrec and not held
  for i = b + 7, b + 6 + nfrom do
    local f = ARGV[i]
    if not OPEN[f] or (f == 'InProgress' and to ~= 'InProgress') then light = false break end
  end
  local stamp, terminal = string.byte(flags, 1) == 49, string.byte(flags, 2) == 49
  local x
  if light then
    local v = redis.call('HMGET', k, 's', 'q', 'm', 'op')
    if v[1] == false then return -1, nxt end
    x = { s = v[1], q = v[2] or '', m = v[3] or '', op = v[4] or '', o = '' }
    -- The row is not InProgress before the move (else "InProgress" is in
    -- from, and so is the target): only the STALE mark says it has an
    -- owner, which a move anywhere but InProgress clears.
    if to ~= 'InProgress' and string.byte(x.op, -1) == STALE then x.o = '!' end
  else
    x = load_for(k, to, stamp, ifrec, held)
    if not x then return -1, nxt end
  end
  if x.op == op then return 1, nxt end -- replayed after a lost reply: already applied
  if nfrom > 0 then
    local ok = false
    for i = b + 7, b + 6 + nfrom do
      if ARGV[i] == x.s then ok = true break end
    end
    if not ok then return 0, nxt end
  end
  if ifrec then
    if not rec_now(x, now) then return 0, nxt end
    -- A live lease is held: the row is not recoverable whatever else says.
    if x.s == 'InProgress' and x.o ~= '' then
      local lu = x.lu or redis.call('HGET', k, 'lu') or ''
      if lu ~= '' and tonumber(lu) > store_now() then return 0, nxt end
    end
  end
  if held and (x.s ~= 'InProgress' or x.o ~= held or x.lu == '' or tonumber(x.lu) <= store_now()) then
    return 0, nxt
  end
  if lown or held or x.o ~= '' then
    -- A write that sets, checks or clears a lease.
    local lu
    if lown then lu = lease_end(lfor) end
    local clear = not lown and to ~= 'InProgress' and x.o ~= ''
    local rf0 = held and x.rf ~= '' and x.rf ~= '0'
    -- The common writes of cluster mode in one call each, without a
    -- table: a claim under a lease, and a run's end that releases it.
    if lown and not rf0 then
      redis.call('HSET', k, 's', to, 'op', op, 'o', lown, 'lu', lu)
    elseif clear and stamp and terminal and not rf0 then
      redis.call('HSET', k, 's', to, 'op', op, 'le', now, 'et', ARGV[b + 4], 'e', err, 'o', '', 'lu', '')
    else
      local a = { 's', to, 'op', op }
      if stamp then a[#a + 1] = 'le' a[#a + 1] = now a[#a + 1] = 'et' a[#a + 1] = ARGV[b + 4] end
      if terminal then a[#a + 1] = 'e' a[#a + 1] = err end
      if lown then
        a[#a + 1] = 'o' a[#a + 1] = lown a[#a + 1] = 'lu' a[#a + 1] = lu
      elseif clear then
        a[#a + 1] = 'o' a[#a + 1] = '' a[#a + 1] = 'lu' a[#a + 1] = ''
      end
      if rf0 then a[#a + 1] = 'rf' a[#a + 1] = '0' end
      redis.call('HSET', k, unpack(a))
    end
    if lown then
      ix_add(LEASE, lu, x.m)
    elseif clear and x.s == 'InProgress' then
      ix_rem(LEASE, x.m)
    end
  elseif stamp and terminal then
    redis.call('HSET', k, 's', to, 'op', op, 'le', now, 'et', ARGV[b + 4], 'e', err)
  elseif stamp then
    redis.call('HSET', k, 's', to, 'op', op, 'le', now, 'et', ARGV[b + 4])
  elseif terminal then
    redis.call('HSET', k, 's', to, 'op', op, 'e', err)
  else
    redis.call('HSET', k, 's', to, 'op', op)
  end
  if x.s ~= to then
    ix_rem(qs_key(x.s, x.q), x.m)
    ix_add(qs_key(to, x.q), '0', x.m)
  end
  if light then
    if to == 'InProgress' and x.s ~= 'InProgress' then ix_rem(due_key(x.q), x.m) end
  else
    -- reindex(id, x, y) for y = x with the new status (and stamp), without
    -- the copy: the hot path of every task runs here. (x may lack fields
    -- load_for left out; they are read whenever a result below needs them.)
    local ra, fa, sa, da = in_rec(x), fin_of(x), fin_score(x), in_due(x)
    x.s = to
    if stamp then x.le = now end
    local rb, fb, db = in_rec(x), fin_of(x), in_due(x)
    if ra and not rb then ix_rem(REC, x.m) end
    if rb and not ra then ix_add(REC, '0', x.m) end
    if da and not db then ix_rem(due_key(x.q), x.m) end
    if db and not da then ix_add(due_key(x.q), due_score(x), x.m) end
    if fb and (fa ~= fb or sa ~= fin_score(x)) then fin_add(fb, fin_score(x), id) end
  end
  if COUNTED[to] then st_add(now, x.k, to, ARGV[b + 4]) end
  if string.byte(flags, 3) == 49 then audit_status(id, now, to, err, true) end
  return 1, nxt
end
