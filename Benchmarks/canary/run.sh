#!/usr/bin/env bash
# Canary revert benchmark: 200 schema-per-tenant tenants on 2 shards, a one-phase ADD COLUMN rolled in two waves of
# 100. While the second wave bakes, every tenant's health goes bad at once; the check (interval 1 s) sees it and the
# phase is reverted on all 200 tenants, newest wave first. Measured from the journal (one server clock):
#   detection  = the fault → the first failing measurement
#   revert     = the first failing measurement → the end of the revert   (goal: under one check interval + 2 s)
#   end to end = the fault → the end of the revert
# Usage: Benchmarks/canary/run.sh [KIND] [TENANTS] [ROUNDS]   KIND: sql (default: a tenant-scope sql check on every
# tenant) or command (a wave-scope command check run once per interval). From the package root; FLOTILLA_BIN=a
# release build to use instead of building.
set -euo pipefail
cd "$(dirname "$0")/../.."
KIND="${1:-sql}"
N="${2:-200}"
ROUNDS="${3:-3}"
INTERVAL_MS=1000
source Benchmarks/common.sh

mkdir -p "$WORK/fleets/bench/changes" "$WORK/policies"
cat > "$WORK/fleets/bench/fleet.yaml" <<YAML
fleet: bench
shards:
  - {name: s1, url: "embedded:bench_a", max_parallel: 8}
  - {name: s2, url: "embedded:bench_b", max_parallel: 8}
tenants:
  - generate: {count: $N, id: "t{n:04}", shard: [s1, s2], schema: "tenant_{id}"}
YAML
cat > "$WORK/fleets/bench/changes/0001_add_flag.yaml" <<'YAML'
change: 0001_add_flag
phases:
  - name: expand
    up: ALTER TABLE users ADD COLUMN flag boolean DEFAULT false;
    down: ALTER TABLE users DROP COLUMN flag;
YAML
if [ "$KIND" = command ]; then
    CHECK="{name: app, command: [test, '!', -e, '$WORK/fault'], scope: wave, interval: ${INTERVAL_MS}ms, timeout: 2s}"
else
    CHECK="{name: healthy, sql: 'SELECT NOT EXISTS (SELECT 1 FROM public.fault)', scope: tenant, interval: ${INTERVAL_MS}ms}"
fi
cat > "$WORK/policies/canary.yaml" <<YAML
policy: canary
waves:
  - {name: first, select: {percent: 50}, bake: 2s}
  - {name: second, select: {remaining: true}, bake: 30s}
parallel: 16
per_shard_parallel: 8
checks:
  - $CHECK
on_failure: revert
YAML

cd "$WORK"
"$BIN" status --fleet bench >/dev/null   # starts the embedded PostgreSQL and creates bench_a, bench_b
PORT="$(cat "$FLOTILLA_HOME/postgres/port")"
export PGPASSWORD="$(cat "$FLOTILLA_HOME/postgres/password")" PGHOST=127.0.0.1 PGPORT="$PORT" PGUSER=flotilla
export PGOPTIONS="-c client_min_messages=warning"
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
for i in $(seq 1 "$N"); do
    id=$(printf "t%04d" "$i")
    echo "CREATE SCHEMA tenant_$id; CREATE TABLE tenant_$id.users (id bigserial PRIMARY KEY, email text);"
    echo "INSERT INTO tenant_$id.users (email) SELECT 'u' || g || '@example.com' FROM generate_series(1, 100) g;"
done > setup.sql
for db in bench_a bench_b; do
    q -d "$db" -c "CREATE TABLE public.fault (at timestamptz)" >/dev/null
    q -d "$db" -f setup.sql >/dev/null
done

echo "machine: $(uname -m), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GB, $(date -u +%Y-%m-%d), $(psql --version | head -1)"
echo "tenants: $N on 2 shards; waves of $((N / 2)); check: $KIND, interval ${INTERVAL_MS} ms; rounds: $ROUNDS"
printf "%-6s %12s %12s %12s %9s\n" round "detection" "revert" "end-to-end" reverted
for round in $(seq 1 "$ROUNDS"); do
    for db in bench_a bench_b; do q -d "$db" -c "TRUNCATE public.fault" >/dev/null; done
    rm -f "$WORK/fault"
    q -d flotilla -c "DELETE FROM flotilla.events WHERE rollout_id IN (SELECT id FROM flotilla.rollouts WHERE fleet = 'bench')" \
        -c "DELETE FROM flotilla.rollouts WHERE fleet = 'bench'" >/dev/null
    for db in bench_a bench_b; do
        q -d "$db" -c "DO \$\$ DECLARE s text; BEGIN FOR s IN SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant_%' LOOP EXECUTE format('ALTER TABLE %I.users DROP COLUMN IF EXISTS flag', s); EXECUTE format('DROP TABLE IF EXISTS %I.flotilla_history', s); END LOOP; END \$\$" >/dev/null
    done
    set +e
    "$BIN" rollout --fleet bench --change 0001_add_flag --policy canary --yes >"$WORK/rollout.log" 2>&1 &
    pid=$!
    set -e
    # Wait until the second wave bakes (its steps are done), then let it bake a little and break every tenant.
    until [ "$(q -d flotilla -c "SELECT count(*) FROM flotilla.events WHERE kind = 'wave-finished' AND wave = 'second'")" = 1 ]; do
        sleep 0.05
    done
    sleep 1.3
    fault=$(q -d bench_a -c "INSERT INTO public.fault VALUES (clock_timestamp()) RETURNING extract(epoch FROM at)")
    q -d bench_b -c "INSERT INTO public.fault VALUES (clock_timestamp())" >/dev/null
    touch "$WORK/fault"
    set +e
    wait "$pid"
    status=$?
    set -e
    if [ "$status" != 3 ]; then
        echo "round $round: expected exit 3 (reverted), got $status"
        cat "$WORK/rollout.log"
        exit 1
    fi
    read -r first_fail reverted_at reverted <<<"$(q -d flotilla -F ' ' -c "
        SELECT (SELECT extract(epoch FROM min(at)) FROM flotilla.measurements WHERE verdict = 'fail'),
               (SELECT extract(epoch FROM max(at)) FROM flotilla.events WHERE kind = 'reverted'),
               (SELECT count(*) FROM flotilla.steps WHERE state = 'reverted')")"
    left=$(for db in bench_a bench_b; do q -d "$db" -c "SELECT count(*) FROM information_schema.columns WHERE column_name = 'flag'"; done | paste -sd+ | bc)
    if [ "$left" != 0 ]; then echo "round $round: $left tenants still have the column"; exit 1; fi
    printf "%-6s %10.3f s %10.3f s %10.3f s %9s\n" "$round" \
        "$(echo "$first_fail - $fault" | bc -l)" "$(echo "$reverted_at - $first_fail" | bc -l)" \
        "$(echo "$reverted_at - $fault" | bc -l)" "$reverted"
done
echo "goal: revert (first failing measurement → end of revert) under $(echo "$INTERVAL_MS / 1000 + 2" | bc) s"
