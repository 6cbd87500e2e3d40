#!/usr/bin/env bash
# Converge: `flotilla converge` of NEW new schema-per-tenant tenants (empty schemas) up to a fleet of OLD tenants on
# 4 shard databases of the embedded PostgreSQL. The old tenants are written directly with SQL (their users table and
# ledger rows with the definitions' checksums, as a rollout would leave them); the converge then runs both changes
# (0001 creates users, 0002 adds a column) on every new tenant, as two rollouts of kind converge with the built-in
# policy (one wave, 4 at a time, 2 per shard). Reports wall clock, the coordinator's CPU and peak RSS
# (/usr/bin/time), per tenant step, and checks with psql that every new tenant has both phases.
# Usage: Benchmarks/converge/run.sh [NEW] [OLD]   (from the package root; default 1000 1000; FLOTILLA_BIN=a release
# build).
set -euo pipefail
cd "$(dirname "$0")/../.."
NEW="${1:-1000}"
OLD="${2:-1000}"
source Benchmarks/common.sh

UP1="CREATE TABLE users (id bigint PRIMARY KEY, email text);"
UP2="ALTER TABLE users ADD COLUMN flag boolean;"
TOTAL=$((OLD + NEW))
mkdir -p "$WORK/fleets/bench/changes"
cat >"$WORK/fleets/bench/fleet.yaml" <<YAML
fleet: bench
shards:
  - {name: s1, url: "embedded:converge_a"}
  - {name: s2, url: "embedded:converge_b"}
  - {name: s3, url: "embedded:converge_c"}
  - {name: s4, url: "embedded:converge_d"}
tenants:
  - generate: {count: $TOTAL, id: "t{n:05}", shard: [s1, s2, s3, s4], schema: "tenant_{id}"}
YAML
cat >"$WORK/fleets/bench/changes/0001_users.yaml" <<YAML
change: 0001_users
phases:
  - name: create
    up: "$UP1"
    down: DROP TABLE users;
YAML
cat >"$WORK/fleets/bench/changes/0002_flag.yaml" <<YAML
change: 0002_flag
requires: [0001_users]
phases:
  - name: expand
    up: "$UP2"
    down: ALTER TABLE users DROP COLUMN flag;
YAML
sum() { printf 'up:%s\n' "$1" | sha256sum | cut -d' ' -f1; }
C1="$(sum "$UP1")" C2="$(sum "$UP2")"

cd "$WORK"
"$BIN" status --fleet bench >/dev/null 2>&1 # starts the embedded PostgreSQL and creates the shard databases
PORT="$(cat "$FLOTILLA_HOME/postgres/port")"
export PGPASSWORD="$(cat "$FLOTILLA_HOME/postgres/password")" PGHOST=127.0.0.1 PGPORT="$PORT" PGUSER=flotilla
databases=(converge_a converge_b converge_c converge_d)
for shard in 0 1 2 3; do
    {
        echo "BEGIN;"
        for i in $(seq $((shard + 1)) 4 "$TOTAL"); do
            id="$(printf "t%05d" "$i")"
            echo "CREATE SCHEMA tenant_$id;"
            if [ "$i" -le "$OLD" ]; then
                echo "SET search_path = tenant_$id; $UP1 $UP2"
                echo "CREATE TABLE tenant_$id.flotilla_history (id bigserial PRIMARY KEY, change text NOT NULL, phase text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(), duration_ms integer, rollout_id text, reverted_at timestamptz, ledger_version integer NOT NULL DEFAULT 1); CREATE UNIQUE INDEX flotilla_history_live ON tenant_$id.flotilla_history (change, phase) WHERE reverted_at IS NULL;"
                echo "INSERT INTO tenant_$id.flotilla_history (change, phase, checksum) VALUES ('0001_users', 'create', '$C1'), ('0002_flag', 'expand', '$C2');"
            fi
        done
        echo "COMMIT;"
    } | psql -X -q -v ON_ERROR_STOP=1 -d "${databases[$shard]}" >/dev/null &
done
wait
echo "setup: $OLD tenants at 0002_flag and $NEW new empty tenant schemas on 4 shard databases"

begin=$(date +%s.%N)
status=0
/usr/bin/time -f "%U %S %M" -o "$WORK/converge.time" "$BIN" converge --fleet bench --yes >"$WORK/converge.out" \
    2>"$WORK/converge.err" || status=$?
end=$(date +%s.%N)
if [ "$status" -ne 0 ]; then
    echo "converge exited $status:" >&2
    tail -20 "$WORK/converge.out" "$WORK/converge.err" >&2
    exit 1
fi
grep -E "^0001|^0002|^converged" "$WORK/converge.out" | cut -c1-100
applied=0
for db in "${databases[@]}"; do
    applied=$((applied + $(psql -X -A -t -d "$db" -c "SELECT count(*) FROM pg_namespace n WHERE n.nspname LIKE 'tenant\\_%' AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = to_regclass(quote_ident(n.nspname) || '.users') AND a.attname = 'flag')")))
done
steps=$((NEW * 2))
took=$(awk -v a="$begin" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
read -r user sys rss <"$WORK/converge.time"
echo "machine: $(uname -m), $(nproc) cores, $(date -u +%Y-%m-%d); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "converge of $NEW new tenants ($steps tenant steps, 2 changes) beside $OLD current ones on 4 shards: ${took} s," \
    "$(awk -v t="$took" -v s="$steps" 'BEGIN { printf "%.1f", t * 1000 / s }') ms per step;" \
    "flotilla CPU $(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }') s" \
    "($(awk -v u="$user" -v s="$sys" -v n="$steps" 'BEGIN { printf "%.2f", (u + s) * 1000 / n }') ms per step), peak RSS $((rss / 1024)) MB"
echo "tenants with both changes afterwards (psql): $applied of $TOTAL"
[ "$applied" -eq "$TOTAL" ] || { echo "expected $TOTAL" >&2; exit 1; }
