#!/usr/bin/env bash
# Runs the Redis rows of BENCHMARKS.md on their own: evertask at audit none,
# Asynq, evertask at audit full, Asynq tuned, ROUNDS times (default 3),
# interleaved. Needs Redis (scripts/services.sh). Output: "<label> RESULT
# ..." lines; compare the two sides within each round.
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
for r in $(seq "$rounds"); do
  echo "# round $r $(date +%T) load $(cut -d' ' -f1 /proc/loadavg)"
  run redis-none $E bench --store redis --mode burn --tasks 100000 --audit none --progress 0
  run asynq-burn $P asynq burn --tasks 100000
  run redis-full $E bench --store redis --mode burn --tasks 100000 --audit full --progress 0
  run asynq-tuned-burn $P asynq-tuned burn --tasks 100000
done
