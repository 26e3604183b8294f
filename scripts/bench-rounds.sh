#!/usr/bin/env bash
# Runs the rounds behind BENCHMARKS.md: every line of its tables once per
# round, evertask and its peers interleaved, ROUNDS times (default 3), then
# the in-process go benchmarks. Needs the services (scripts/services.sh).
# Output: "<label> RESULT ..." lines; take the median per label.
# ONLY=redis runs the Redis rows alone: evertask none, Asynq, evertask full,
# Asynq tuned, interleaved; compare the two sides within each round.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-3}
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/evertask" ./cmd/evertask
(cd bench/peers && go build -o "$bin/peers" .)
E=$bin/evertask
P=$bin/peers
run() {
  local label=$1
  shift
  echo "$label $("$@" 2>/dev/null | grep '^RESULT' | tail -1)"
}
redis_rows() {
  run redis-none $E bench --store redis --mode burn --tasks 100000 --audit none --progress 0
  run asynq-burn $P asynq burn --tasks 100000
  run redis-full $E bench --store redis --mode burn --tasks 100000 --audit full --progress 0
  run asynq-tuned-burn $P asynq-tuned burn --tasks 100000
}
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
done
echo "# peers latency $(date +%T)"
run river-latency $P river latency --tasks 1000
run asynq-tuned-latency $P asynq-tuned latency --tasks 500
go test -run '^$' -bench 'Engine|RawChannel|Latency' -benchtime 400000x -count "$rounds" . | grep '^Benchmark'
