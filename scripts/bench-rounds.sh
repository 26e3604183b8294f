#!/usr/bin/env bash
# Runs the rounds behind BENCHMARKS.md: every line of its tables once per
# round, evertask and its peers interleaved, ROUNDS times (default 3), then
# the in-process go benchmarks. Needs the services (scripts/services.sh).
# Output: "<label> RESULT ..." lines; take the median per label.
# ONLY=redis runs the Redis rows alone: evertask none, Asynq, evertask full,
# Asynq tuned, interleaved; compare the two sides within each round.
# ONLY=cluster runs the cluster rows alone: one engine and River's one client
# (and one engine on Redis), then 2 and 4 engines (--nodes, one OS process each) against 2 and 4 River
# clients (--clients) on PostgreSQL at River's settings, 2 and 4 engines on
# Redis, and latency from a dispatch on one node to the handler on another
# (next to the latency within one process).
# ONLY=mysql runs the MySQL/MariaDB rows beside PostgreSQL's at the same
# settings (evertask's defaults, 100 workers), interleaved: burn at audit none
# and full, steady, latency, and burn with 2 node processes.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-3}
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/evertask" ./cmd/evertask
if [[ ${ONLY:-} != mysql ]]; then
  (cd bench/peers && go build -o "$bin/peers" .)
fi
E=$bin/evertask
P=$bin/peers
run() {
  local label=$1
  shift
  local res
  res=$("$@" 2>/dev/null | grep '^RESULT' | tail -1)
  # The machine is shared: the load average after each run goes with it.
  echo "$label $res load1=$(cut -d' ' -f1 /proc/loadavg)"
}
redis_rows() {
  run redis-none $E bench --store redis --mode burn --tasks 100000 --audit none --progress 0
  run asynq-burn $P asynq burn --tasks 100000
  run redis-full $E bench --store redis --mode burn --tasks 100000 --audit full --progress 0
  run asynq-tuned-burn $P asynq-tuned burn --tasks 100000
}
# The rows of several processes; the main loop has the one-process pair.
cluster_rows() {
  run pg-2nodes-river-settings $E bench --store postgres --mode burn --nodes 2 --tasks 100000 --workers 2000 --audit none --progress 0
  run river-2clients-burn $P river burn --tasks 100000 --clients 2
  run pg-4nodes-river-settings $E bench --store postgres --mode burn --nodes 4 --tasks 100000 --workers 2000 --audit none --progress 0
  run river-4clients-burn $P river burn --tasks 100000 --clients 4
  run redis-2nodes $E bench --store redis --mode burn --nodes 2 --tasks 100000 --audit none --progress 0
  run redis-4nodes $E bench --store redis --mode burn --nodes 4 --tasks 100000 --audit none --progress 0
  run pg-latency-2nodes $E bench --store postgres --mode latency --nodes 2 --progress 0
  run redis-latency-2nodes $E bench --store redis --mode latency --nodes 2 --progress 0
}
if [[ ${ONLY:-} == cluster ]]; then
  for r in $(seq "$rounds"); do
    echo "# round $r $(date +%T) load $(cut -d' ' -f1 /proc/loadavg)"
    run pg-none-river-settings $E bench --store postgres --mode burn --tasks 100000 --workers 2000 --recovery-page 5000 --audit none --progress 0
    run river-burn $P river burn --tasks 100000
    run redis-none $E bench --store redis --mode burn --tasks 100000 --audit none --progress 0
    cluster_rows
    run pg-latency $E bench --store postgres --mode latency --progress 0
    run redis-latency $E bench --store redis --mode latency --progress 0
    echo "# end of round $r $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
  done
  exit 0
fi
if [[ ${ONLY:-} == mysql ]]; then
  for r in $(seq "$rounds"); do
    echo "# round $r $(date +%T) load $(cut -d' ' -f1 /proc/loadavg)"
    run mysql-none $E bench --store mysql --mode burn --tasks 50000 --audit none --progress 0
    run pg-none $E bench --store postgres --mode burn --tasks 50000 --audit none --progress 0
    run mysql-full $E bench --store mysql --mode burn --tasks 50000 --audit full --progress 0
    run pg-full $E bench --store postgres --mode burn --tasks 50000 --audit full --progress 0
    run mysql-steady $E bench --store mysql --mode steady --duration 5s --progress 0
    run pg-steady $E bench --store postgres --mode steady --duration 5s --progress 0
    run mysql-latency $E bench --store mysql --mode latency --progress 0
    run pg-latency $E bench --store postgres --mode latency --progress 0
    run mysql-2nodes $E bench --store mysql --mode burn --nodes 2 --tasks 50000 --audit none --progress 0
    run pg-2nodes $E bench --store postgres --mode burn --nodes 2 --tasks 50000 --audit none --progress 0
  done
  exit 0
fi
if [[ ${ONLY:-} == redis ]]; then
  for r in $(seq "$rounds"); do
    echo "# round $r $(date +%T) load $(cut -d' ' -f1 /proc/loadavg)"
    redis_rows
  done
  exit 0
fi
for r in $(seq "$rounds"); do
  echo "# round $r $(date +%T) load $(cut -d' ' -f1 /proc/loadavg)"
  run pg-none-river-settings $E bench --store postgres --mode burn --tasks 100000 --workers 2000 --recovery-page 5000 --audit none --progress 0
  run river-burn $P river burn --tasks 100000
  run pg-full-river-settings $E bench --store postgres --mode burn --tasks 100000 --workers 2000 --recovery-page 5000 --audit full --progress 0
  run pg-none-defaults $E bench --store postgres --mode burn --tasks 100000 --audit none --progress 0
  redis_rows
  run sqlite-none $E bench --store sqlite --mode burn --tasks 30000 --workers 32 --progress 0
  run sqlite-full $E bench --store sqlite --mode burn --tasks 30000 --workers 32 --audit full --progress 0
  run memory-none $E bench --store memory --mode burn --tasks 300000 --progress 0
  run pg-latency $E bench --store postgres --mode latency --progress 0
  run redis-latency $E bench --store redis --mode latency --progress 0
  run sqlite-latency $E bench --store sqlite --mode latency --progress 0
  run memory-latency $E bench --store memory --mode latency --progress 0
  cluster_rows
done
echo "# peers latency $(date +%T)"
run river-latency $P river latency --tasks 1000
run asynq-tuned-latency $P asynq-tuned latency --tasks 500
go test -run '^$' -bench 'Engine|RawChannel|Latency' -benchtime 400000x -count "$rounds" . | grep '^Benchmark'
