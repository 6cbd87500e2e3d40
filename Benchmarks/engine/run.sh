#!/usr/bin/env bash
# Rollout engine benchmark: 1,000 schema-per-tenant tenants on one PostgreSQL, a one-phase ADD COLUMN, no bake.
# Flotilla's wall time against (a) one `psql -f` script running the same DDL plus a ledger insert per tenant in one
# session, and (b) a shell loop of one `psql -c` per tenant. Same server, one run, three fresh databases.
# Usage: Benchmarks/engine/run.sh [TENANTS]   (from the package root; PARALLEL=steps at once, default 16 (8 per
# shard); FLOTILLA_BIN=a release build to use instead of building)
set -euo pipefail
cd "$(dirname "$0")/../.."
N="${1:-1000}"
source Benchmarks/common.sh

mkdir -p "$WORK/fleets/bench/changes" "$WORK/policies"
cat > "$WORK/fleets/bench/fleet.yaml" <<YAML
fleet: bench
shards:
  - {name: s1, url: "embedded:bench_f", max_parallel: ${PARALLEL:-8}}
tenants:
  - generate: {count: $N, id: "t{n:04}", shard: s1, schema: "tenant_{id}"}
YAML
cat > "$WORK/fleets/bench/changes/0001_add_flag.yaml" <<'YAML'
change: 0001_add_flag
phases:
  - name: expand
    up: ALTER TABLE users ADD COLUMN flag boolean DEFAULT false;
    down: ALTER TABLE users DROP COLUMN flag;
YAML
cat > "$WORK/policies/nobake.yaml" <<YAML
policy: nobake
waves:
  - {name: all, select: {remaining: true}}
parallel: ${PARALLEL:-16}
per_shard_parallel: ${PARALLEL:-8}
YAML

cd "$WORK"
"$BIN" status --fleet bench >/dev/null   # starts the embedded PostgreSQL and creates bench_f
PORT="$(cat "$FLOTILLA_HOME/postgres/port")"
export PGPASSWORD="$(cat "$FLOTILLA_HOME/postgres/password")" PGHOST=127.0.0.1 PGPORT="$PORT" PGUSER=flotilla
psql -X -q -d postgres -c "CREATE DATABASE bench_a" -c "CREATE DATABASE bench_b"
setup="$WORK/setup.sql"
for i in $(seq -f "%04g" 1 "$N"); do
    echo "CREATE SCHEMA tenant_t$i; CREATE TABLE tenant_t$i.users (id bigserial PRIMARY KEY, email text);"
done > "$setup"
for db in bench_f bench_a bench_b; do psql -X -q -d "$db" -f "$setup" >/dev/null; done

ledger="CREATE TABLE IF NOT EXISTS flotilla_history (id bigserial PRIMARY KEY, change text NOT NULL, phase text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(), duration_ms integer, rollout_id text, reverted_at timestamptz)"
script="$WORK/a.sql"
for i in $(seq -f "%04g" 1 "$N"); do
    echo "BEGIN; SET LOCAL search_path = tenant_t$i; ALTER TABLE users ADD COLUMN flag boolean DEFAULT false; $ledger; INSERT INTO flotilla_history (change, phase, checksum) VALUES ('0001_add_flag', 'expand', 'x'); COMMIT;"
done > "$script"

now() { date +%s.%N; }
t0=$(now); "$BIN" rollout --fleet bench --change 0001_add_flag --policy nobake --yes >/dev/null; t1=$(now)
flotilla=$(awk "BEGIN{print $t1 - $t0}")
t0=$(now); psql -X -q -d bench_a -f "$script" >/dev/null; t1=$(now)
single=$(awk "BEGIN{print $t1 - $t0}")
t0=$(now)
for i in $(seq -f "%04g" 1 "$N"); do
    psql -X -q -d bench_b -c "BEGIN; SET LOCAL search_path = tenant_t$i; ALTER TABLE users ADD COLUMN flag boolean DEFAULT false; $ledger; INSERT INTO flotilla_history (change, phase, checksum) VALUES ('0001_add_flag', 'expand', 'x'); COMMIT;" >/dev/null
done
t1=$(now)
loop=$(awk "BEGIN{print $t1 - $t0}")

applied=$(psql -X -A -t -d bench_f -c "SELECT count(*) FROM information_schema.columns WHERE column_name = 'flag'")
echo "machine: $(uname -m), $(nproc) cores, $(date -u +%Y-%m-%d)"
echo "tenants: $N (columns added by flotilla: $applied)"
printf "flotilla rollout          %8.2f s\n" "$flotilla"
printf "(a) one psql -f session   %8.2f s   flotilla / (a) = %.2f\n" "$single" "$(awk "BEGIN{print $flotilla / $single}")"
printf "(b) psql -c per tenant    %8.2f s   (b) / flotilla = %.1f\n" "$loop" "$(awk "BEGIN{print $loop / $flotilla}")"
