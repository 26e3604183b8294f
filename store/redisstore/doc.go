// Package redisstore is a store.Store on Redis 7 through go-redis v9. Every
// compound step (persist with its unique-key claim, a conditional status
// change with its index moves and audit, the recurring steps, remove with
// its cascade, the recovery counter) is one Lua script, so two workers can
// never interleave inside a step and the indexes never drift from the rows.
//
//	s, err := redisstore.New(ctx, rdb, &redisstore.Opts{Prefix: "myapp:"})
//
// # Key layout
//
// P is the prefix wrapped in a hash tag: "{evertask:}" by default. With
// <id> the canonical UUID text and <m> the index member of a row (16 hex
// digits of its creation time in unix µs with the sign bit flipped, then
// <id>), the keys are:
//
//	P version              string: the layout version (SchemaVersion)
//	P t:<id>               hash: the row; times as integer unix µs, "" = unset;
//	                       a new row leaves its empty and zero fields out;
//	                       "md" is Task.Metadata as a JSON object (added
//	                       without a layout bump: older code ignores it)
//	P keys                 hash: task key -> id (the unique key claim)
//	P all                  zset, all scores 0: <m> of every row
//	P qs:<status>:<queue>  zset, scores 0: <m> of the rows in a status and queue
//	P rec                  zset, scores 0: <m> of the recurring rows recoverable
//	                       apart from RunUntil (status, run limit, next run); the
//	                       one-shot ones are in their open status's qs: sets
//	P fin:<status>:<sec>   list: ids of one-shot rows that finished (Completed,
//	                       Failed, Cancelled) with a last execution, or else a
//	                       creation, in that second (unix); for retention, and
//	                       never trimmed when a row moves on: Purge checks each
//	                       entry against its row and drops the stale ones
//	P finb:<status>        zset: the seconds that have a fin: list, scored by second
//	P due:<queue>          zset: <m> of the rows Claim may take once due
//	                       (store.Task.Claimable but for RunUntil), scored by
//	                       DueAt in unix µs, so its order is (DueAt, created,
//	                       id); Claim drops the entries of rows whose RunUntil
//	                       it finds passed
//	P lease                zset: <m> of the InProgress rows a lease-aware step
//	                       gave an owner (Claim, a transition with a Lease,
//	                       Persist, Renew), scored by the lease's end in unix
//	                       µs ("lu" on the row; 0 when an owner has none)
//	P queues               set: every queue name ever written
//	P seq                  string: the audit id counter, increasing per store
//	P sa:<id>, P ra:<id>   zset: status and runs audits by audit id
//	P sai, P saie          zset: status audit retention index by time, member
//	                       "<id>:<audit id>"; saie holds those with an error
//	P rai, P raie          the same for runs audits
//	P lg:<id>              zset, scores 0: execution logs ordered by (ID, Seq)
//	P li                   zset: log retention index by time, "<id>:<log sort key>"
//	P at:<id>              zset: failed attempts by attempt id (a seq id),
//	                       "<id>|<run>|<number>|<started µs>|<duration µs>|<error>"
//	P ati                  zset: attempt retention index by start time,
//	                       "<id>:<attempt id>" (added without a layout bump:
//	                       older code never reads these keys)
//	P am:<call id>         string, expires after 60 s: one RecordAttempt call
//	                       done, for its replay
//	P tm:<call id>         string, expires after 60 s: results of one
//	                       TransitionMany call that moved a row twice, for
//	                       its replay
//	P rm:<call id>         string, expires after 60 s: one Remove call done
//	P cl:<call id>,        string, expires after 60 s: the ids one Claim or
//	P rs:<call id>         Rescue call took, for its replay
//	P node:<node id>       hash: a node of the cluster registry (host, pid,
//	                       start, queues as JSON, heartbeat at the server's
//	                       clock, run id of the server of its session)
//	P nodes                set: the registered node ids
//	P paused               hash: paused queue -> paused at, unix µs
//	                       (store.QueuePauser; added without a version bump:
//	                       older code never reads it)
//	P st:<minute>          hash: the counters of store.Stats for one unix
//	                       minute: "cn<kind>", "cu<kind>" the Completed ends
//	                       of that kind and the sum of their execution times
//	                       in µs, "fn<kind>", "fu<kind>" the Failed ones
//	P stm                  zset: the minutes that have an st: hash, scored
//	                       by minute (added without a layout bump: older
//	                       code neither reads nor writes them, so its ends
//	                       are not counted)
//	P notices              the pub/sub channel of the Notifier (not a key)
//
// The (created, id) indexes keep every score at 0 so Redis orders them by
// member bytes, and the member's bytes are (created, id) order. A keyset
// cursor is then one exclusive ZRANGEBYLEX bound: a page costs O(log n +
// page) however many rows share one creation time. (A score of created µs
// would be exact too, since µs since 1970 stay below 2^53, but continuing
// inside a run of equal scores would need an offset, which is not keyset.)
//
// # Scripts and Redis Cluster
//
// Every step touches the row and store-wide indexes together (a status
// change moves index entries; a persist claims a key in the shared key
// hash), so per-task hash tags ({<id>}) would put them in different slots
// and a cluster would refuse the scripts with CROSSSLOT. Instead the whole
// store lives under one hash tag, the prefix: every key of one store is in
// one slot, every script is atomic on a cluster as on a single node, and
// several stores (prefixes) spread over the shards. One store is bounded by
// one shard's capacity; that is the price of atomic indexes. The scripts
// build their keys from the prefix passed as ARGV[1] rather than declaring
// each in KEYS (which keys a status change touches depends on the row it
// reads); KEYS[1] is always "P all", which routes the call to the node
// owning the slot, and every key built inside is in that same slot. A
// prefix that already holds a hash tag ("app{x}:") is used as given. Only
// single-node Redis 7 is tested here; a cluster deployment has not been
// run.
//
// The scripts (lua/*.lua, each prefixed with lua/lib.lua):
//
//	persist            t:<id>, keys, all, qs:, rec, due:, lease, fin:, finb:,
//	                   queues (a whole batch)
//	transition         t:<id>, qs:, rec, due:, lease, fin:, finb:, seq,
//	                   sa:<id>, sai|saie, and st:, stm for an end
//	transition_many    the same for every row of a batch
//	complete_run       as transition, plus ra:<id>, rai|raie
//	update_run         t:<id>, rec, due:, fin:, finb:, seq, ra:<id>, rai|raie
//	end_series         as transition
//	update_definition  t:<id>, keys, qs:, rec, due:, fin:, finb:, queues
//	remove             t:<id> and its sa:, ra:, lg:, at:, and every index above but
//	                   fin: (its entry there goes stale)
//	recovery           t:<id>
//	save_logs          t:<id> (exists), lg:<id>, li
//	record_attempt     t:<id> (r), seq, at:<id>, ati, am:
//	trim_logs          lg:<id>, li
//	purge              one audit or log retention index and the entries it names
//	purge_fin          one fin: list, finb:, and the rows it names (as remove)
//	purge_stats        stm and the st: hashes of its oldest minutes
//	upgrade_v1         rec and t:<id> (r): one page of the step from layout 1
//	upgrade_v2         fin:<status> (zset) to fin: lists: one page of the step
//	                   from layout 2
//	upgrade_v3         due: and lease from the rows: one page of the step
//	                   from layout 3
//	claim              due:<queue>, t:<id>, qs:, lease, seq, sa:, sai, cl:
//	renew              t:<id>, lease
//	rescue             lease, t:<id> and what transition touches, rs:
//	join               node:<id>, nodes
//
// A script that fails half way is not rolled back by Redis, so every
// script checks all its conditions (held keys, existing ids, statuses)
// before its first write, and writes only with commands that cannot fail on
// well-formed keys; a server over maxmemory refuses a script at its first
// write, before anything was written. That is what makes PersistMany all or
// none.
//
// They run with EVALSHA and fall back to EVAL when the server lost its
// script cache. Redis 7 propagates a script's effects to the AOF and to
// replicas wrapped in MULTI/EXEC, so those see a step whole or not at all. PersistMany and TransitionMany send a whole batch to one
// script call: one round trip, and no per-call script overhead per row.
//
// # Cluster mode
//
// The store implements store.Cluster and store.Notifier. Every lease time
// is the server's clock: the scripts read TIME (Redis 7 replicates a
// script's effects, so a replica never reads its own), and Now is a script
// too, so it reads the clock of the server the scripts run on. Redis runs
// one script at a time, which is what makes a claim exclusive.
//
// A row's lease is two fields, "o" (owner) and "lu" (the lease's end), set
// by Claim, a transition with a Lease, or Persist. A transition reads them
// only when its fence (HeldBy), IfRecoverable or its move out of
// InProgress needs them; the delivery between open statuses reads neither
// (a row persisted with an owner outside InProgress is marked on its "op"
// instead, see lua/lib.lua). Every write that moves a row out of InProgress
// clears them and takes its lease entry out.
//
// Claim reads the head of its queue's due index up to the clock. Rescue
// reads the head of the lease index up to the clock; the InProgress rows
// missing from it (written by a process without leases) are counted by the
// same script (the InProgress sets' sizes less the lease index's) and, only
// when there are some, looked for in the InProgress sets outside any
// script; so are the rows of the owners a caller proved gone, in the lease
// index.
//
// A node's liveness session is a connection of its own
// (redis.Client.EphemeralConn) named "evertask:<node id>:<hash of prefix
// and id>" with CLIENT SETNAME and held until LeaveCluster or Close. Nodes
// marks Gone the nodes whose name CLIENT LIST does not show on the server
// their session was opened on (its INFO run_id, kept in the registry): a
// node registered before a restart or a failover is not proven gone. Every
// JoinCluster checks the session (CLIENT GETNAME) and opens a new one when
// it was lost, so the engine's heartbeat must come more often than the
// server's client timeout (0, none, by default). Sessions need a
// *redis.Client or *redis.ClusterClient (the master of the store's slot).
//
// The Notifier publishes each batch of notices as one JSON array on the
// channel "P notices"; subscriptions use go-redis PubSub, which resubscribes
// after a reconnect.
//
// # Reads
//
// Get is one HGETALL. List walks the most selective index (see List) and
// bounds the work of filters no index answers; RetrievePending walks rec
// with the open (status, queue) sets.
// Counts are ZCARD or ZLEXCOUNT of the index sets, never a row read.
// Overview (store.Stats) reads the counters the scripts that end an
// execution (transition, transition_many, complete_run) add to in the same
// script: a batch adds up its ends per (minute, kind, status) and sends two
// HINCRBY per counter, so a batch of completions of one kind in one minute
// pays two calls, not two per row (a completion reads its row's kind in the
// HMGET it does anyway). Overview reads stm for the window's minutes, then
// their hashes in one pipeline.
//
// There is no index by status alone: the (status, queue) sets answer the
// status questions as a union over the queues (a handful in practice), and
// a status change then moves one index entry instead of two. A script
// pays for each redis.call on top of the command, so the hot paths keep
// their number down: per row, a transition reads the row with one HMGET and
// writes it with one HSET, and persist writes it with one HSET; their index
// writes are buffered and sent at the end of the script, one variadic ZREM
// and one ZADD per index key for the whole batch (lua/lib.lua, ix_add).
// Audits and logs are read per task, logs in chunks of 1000. Nothing uses
// KEYS or SCAN; retention reads its audit and log indexes with
// ZRANGEBYSCORE ... LIMIT, and its row lists with LRANGE in batches.
// Finished rows are listed per second rather than in a sorted set because a
// sorted set insert was about 3 µs of a completion's script (15%, measured
// with a large and with an empty set) and an append to a list is a fraction
// of that; the price is stale entries, which Purge checks and drops.
//
// # Durability
//
// A write is acknowledged when Redis ran the script in memory. That it
// survives a restart depends on the server's persistence: a production
// store needs appendonly yes. With appendfsync always every acknowledged
// script is on disk before the reply (slowest); with appendfsync everysec
// (the usual choice) a Redis crash loses nothing, but a machine crash or
// power loss may lose the last second of acknowledged writes, which the
// engine then re-runs or never sees (at-least-once still holds for what
// was persisted before). RDB snapshots alone lose everything since the
// last snapshot. Replication is asynchronous: a failover can lose
// acknowledged writes unless the application accepts that or uses WAIT.
// The test machine runs Redis with persistence off, so its figures say
// nothing about fsync cost.
//
// Redis must also never evict the store's keys: run it with
// maxmemory-policy noeviction (or a volatile-* policy, which can only take
// the short-lived replay markers, the only keys with a TTL). An evicting
// policy silently drops rows and index entries. When memory runs out under
// noeviction, writes fail (an error, nothing half written) and reads go on.
//
// Each script runs alone in Redis, so its length is everyone's latency:
// batches are sized by the caller, and Remove or the purge of a row walks
// that row's own audits and logs, which retention keeps bounded.
//
// # Replays
//
// go-redis sends a command again when the connection dropped after the
// command went out (MaxRetries, 3 by default), so a script may run twice
// for one call. Every call carries a random call id (ARGV[2]). The steps
// that are not idempotent recognise their own earlier run by it and answer
// as that run did: a transition, a recurring step and the recovery counter
// keep the id of the last call that changed the row in its "op" field; a
// persist finds it on the row it wrote; Remove, and a TransitionMany that
// moves one row twice, leave a marker key for a minute. So a lost reply
// never turns an applied step into "not applied", counts a run twice or
// reports a row's own persist as a duplicate (TestReplayAfterLostReply
// drops replies through a proxy). Only a replay of an older call, after a
// newer one changed the same row, is answered from the row's current state.
//
// # Errors
//
// redis.Nil maps to store.ErrNotFound. Refused or dropped connections, a
// pool timeout, a closed client and the transient server replies (LOADING,
// MASTERDOWN, TRYAGAIN, CLUSTERDOWN, READONLY) wrap store.ErrUnavailable:
// a script either ran whole or not at all, so after such an error a
// conditional step is safe to retry. A version key newer than
// SchemaVersion wraps store.ErrSchemaVersion; an older one this version
// reads (1) is raised to SchemaVersion when the store opens.
package redisstore
