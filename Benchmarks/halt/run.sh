#!/usr/bin/env bash
# Halt latency: from `flotilla halt` returning to the last tenant step ending, over ROUNDS halts of a TENANTS-tenant
# rollout whose steps take ~50 ms (pg_sleep(0.05) in the phase). Each round lifts the halt, resumes the same rollout,
# halts it 0.1 s after its first steps are in flight, and reads the journal: the newest step end against the halt's
# time. Usage: Benchmarks/halt/run.sh [TENANTS] [ROUNDS]   (from the package root; FLOTILLA_BIN=a release build)
set -euo pipefail
cd "$(dirname "$0")/../.."
N="${1:-1000}"
ROUNDS="${2:-20}"
source Benchmarks/common.sh

mkdir -p "$WORK/fleets/bench/changes" "$WORK/policies"
cat > "$WORK/fleets/bench/fleet.yaml" <<YAML
fleet: bench
shards:
  - {name: s1, url: "embedded:halt_a", max_parallel: 8}
  - {name: s2, url: "embedded:halt_b", max_parallel: 8}
tenants:
  - generate: {count: $N, id: "t{n:04}", shard: [s1, s2], schema: "tenant_{id}"}
YAML
cat > "$WORK/fleets/bench/changes/0001_slow.yaml" <<'YAML'
change: 0001_slow
phases:
  - name: expand
    up: |
      SELECT pg_sleep(0.05);
      CREATE TABLE IF NOT EXISTS marker (id int);
    down: DROP TABLE IF EXISTS marker;
YAML
cat > "$WORK/policies/nobake.yaml" <<'YAML'
policy: nobake
waves:
  - {name: all, select: {remaining: true}}
parallel: 16
per_shard_parallel: 8
YAML
cd "$WORK"
"$BIN" status --fleet bench >/dev/null
PORT="$(cat "$FLOTILLA_HOME/postgres/port")"
export PGPASSWORD="$(cat "$FLOTILLA_HOME/postgres/password")" PGHOST=127.0.0.1 PGPORT="$PORT" PGUSER=flotilla
for db in halt_a halt_b; do
    for i in $(seq -f "%04g" 1 "$N"); do echo "CREATE SCHEMA IF NOT EXISTS tenant_t$i;"; done | psql -X -q -d "$db" >/dev/null
done

latencies=()
for round in $(seq 1 "$ROUNDS"); do
    "$BIN" resume --fleet bench >/dev/null
    "$BIN" rollout --fleet bench --change 0001_slow --policy nobake --yes >"$WORK/rollout.log" 2>&1 &
    pid=$!
    # Halt while steps run: once this coordinator has steps in flight, 0.1 s later.
    for _ in $(seq 1 200); do
        running=$(psql -X -A -t -d flotilla -c "SELECT count(*) FROM flotilla.steps WHERE state = 'running'" 2>/dev/null || echo 0)
        [ "${running:-0}" -gt 0 ] && break
        sleep 0.05
    done
    sleep 0.1
    "$BIN" halt --fleet bench --reason "bench round $round" >/dev/null
    returned=$(date +%s.%N)
    status=0
    wait "$pid" || status=$?
    if [ "$status" -eq 0 ]; then echo "round $round: the rollout finished before the halt; not counted"; break; fi
    last=$(psql -X -A -t -d flotilla -c "SELECT extract(epoch FROM max(finished_at)) FROM flotilla.steps")
    latency=$(awk "BEGIN{d = $last - $returned; if (d < 0) d = 0; printf \"%.3f\", d}")
    latencies+=("$latency")
    done_count=$(psql -X -A -t -d flotilla -c "SELECT count(*) FROM flotilla.steps WHERE state = 'applied'")
    echo "round $round: last step ended ${latency}s after halt returned; $done_count/$N tenants applied so far"
    [ "$done_count" -ge "$N" ] && break
done
half=$(( (${#latencies[@]} + 1) / 2 ))
sorted=$(printf '%s\n' "${latencies[@]}" | sort -n)
p50=$(echo "$sorted" | sed -n "${half}p")
p99=$(echo "$sorted" | tail -1)
echo "machine: $(uname -m), $(nproc) cores, $(date -u +%Y-%m-%d); tenants $N; halts ${#latencies[@]}"
echo "halt latency p50 ${p50}s, p99 (max of ${#latencies[@]}) ${p99}s"
