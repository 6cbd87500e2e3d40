#!/usr/bin/env bash
# Census: `flotilla census` of TENANTS schema-per-tenant tenants on 4 shard databases of the embedded PostgreSQL.
# Each tenant's ledger (flotilla_history, with its unique index) is written directly with SQL, 100 tenants to a
# transaction: 0001_users/create and 0002_flag/expand everywhere, 0002_flag/contract on all but every 100th tenant
# (those are behind), so the census finds 1% behind and exits 3. The checksums are the definitions' (SHA-256 of
# "up:<sql>\n"), so nothing reads as drift. Times ROUNDS runs of `flotilla census` (text and JSON): wall clock, and
# the coordinator's CPU and peak RSS (/usr/bin/time).
# Usage: Benchmarks/census/run.sh [TENANTS] [ROUNDS]   (from the package root; default 10000, 3; FLOTILLA_BIN=a
# release build). Goal: under 5 s for 10,000 tenants on 4 shards.
set -euo pipefail
cd "$(dirname "$0")/../.."
N="${1:-10000}"
ROUNDS="${2:-3}"
source Benchmarks/common.sh

UP1="CREATE TABLE users (id bigint PRIMARY KEY, email text);"
UP2="ALTER TABLE users ADD COLUMN flag boolean;"
UP3="ALTER TABLE users DROP COLUMN email;"
mkdir -p "$WORK/fleets/bench/changes"
cat >"$WORK/fleets/bench/fleet.yaml" <<YAML
fleet: bench
shards:
  - {name: s1, url: "embedded:census_a"}
  - {name: s2, url: "embedded:census_b"}
  - {name: s3, url: "embedded:census_c"}
  - {name: s4, url: "embedded:census_d"}
tenants:
  - generate: {count: $N, id: "t{n:05}", shard: [s1, s2, s3, s4], schema: "tenant_{id}"}
YAML
cat >"$WORK/fleets/bench/changes/0001_users.yaml" <<YAML
change: 0001_users
phases:
  - name: create
    up: "$UP1"
YAML
cat >"$WORK/fleets/bench/changes/0002_flag.yaml" <<YAML
change: 0002_flag
phases:
  - name: expand
    up: "$UP2"
    down: ALTER TABLE users DROP COLUMN flag;
  - name: contract
    up: "$UP3"
    reversible: false
YAML
sum() { printf 'up:%s\n' "$1" | sha256sum | cut -d' ' -f1; }
C1="$(sum "$UP1")" C2="$(sum "$UP2")" C3="$(sum "$UP3")"

cd "$WORK"
"$BIN" status --fleet bench >/dev/null 2>&1 # starts the embedded PostgreSQL and creates the shard databases
PORT="$(cat "$FLOTILLA_HOME/postgres/port")"
export PGPASSWORD="$(cat "$FLOTILLA_HOME/postgres/password")" PGHOST=127.0.0.1 PGPORT="$PORT" PGUSER=flotilla
databases=(census_a census_b census_c census_d)
started=$(date +%s.%N)
for shard in 0 1 2 3; do
    {
        count=0
        for i in $(seq $((shard + 1)) 4 "$N"); do
            id="$(printf "t%05d" "$i")"
            [ $((count % 100)) -ne 0 ] || echo "BEGIN;"
            echo "CREATE SCHEMA tenant_$id; CREATE TABLE tenant_$id.flotilla_history (id bigserial PRIMARY KEY, change text NOT NULL, phase text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(), duration_ms integer, rollout_id text, reverted_at timestamptz, ledger_version integer NOT NULL DEFAULT 1); CREATE UNIQUE INDEX flotilla_history_live ON tenant_$id.flotilla_history (change, phase) WHERE reverted_at IS NULL;"
            echo "INSERT INTO tenant_$id.flotilla_history (change, phase, checksum) VALUES ('0001_users', 'create', '$C1'), ('0002_flag', 'expand', '$C2');"
            [ $((i % 100)) -eq 0 ] ||
                echo "INSERT INTO tenant_$id.flotilla_history (change, phase, checksum) VALUES ('0002_flag', 'contract', '$C3');"
            count=$((count + 1))
            [ $((count % 100)) -ne 0 ] || echo "COMMIT;"
        done
        [ $((count % 100)) -eq 0 ] || echo "COMMIT;"
    } | psql -X -q -v ON_ERROR_STOP=1 -d "${databases[$shard]}" >/dev/null &
done
wait
ready=$(date +%s.%N)
rows=0
for db in "${databases[@]}"; do
    rows=$((rows + $(psql -X -A -t -d "$db" -c "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'tenant\\_%'")))
done
echo "setup: $rows tenant schemas with ledgers on 4 shard databases in $(awk -v a="$started" -v b="$ready" 'BEGIN { printf "%.1f", b - a }') s"

times=()
for round in $(seq 1 "$ROUNDS"); do
    for format in text json; do
        begin=$(date +%s.%N)
        status=0
        if [ -x /usr/bin/time ]; then
            /usr/bin/time -f "%U %S %M" -o "$WORK/census.time" "$BIN" census --fleet bench --format "$format" \
                >"$WORK/census.$format" 2>"$WORK/census.err" || status=$?
            cpu=$(tail -1 "$WORK/census.time" | awk '{ printf "flotilla CPU %.2f s, peak RSS %d MB", $1 + $2, $3 / 1024 }')
        else
            "$BIN" census --fleet bench --format "$format" >"$WORK/census.$format" 2>"$WORK/census.err" || status=$?
            cpu="flotilla CPU not measured (no /usr/bin/time)"
        fi
        end=$(date +%s.%N)
        took=$(awk -v a="$begin" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
        times+=("$took")
        echo "round $round ($format): ${took} s, exit $status; $cpu"
        if [ "$status" -ne 3 ]; then
            echo "expected exit 3 (1% of the tenants behind); stderr:" >&2
            cat "$WORK/census.err" >&2
            exit 1
        fi
    done
done
echo "--- census text output (last round):"
head -12 "$WORK/census.text"
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
median=$(echo "$sorted" | sed -n "$(((${#times[@]} + 1) / 2))p")
worst=$(echo "$sorted" | tail -1)
verdict=$(awk -v m="$median" 'BEGIN { print (m < 5 ? "PASS" : "MISS") }')
echo "machine: $(uname -m), $(nproc) cores, $(date -u +%Y-%m-%d); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "census of $N tenants on 4 shards: median ${median} s, worst ${worst} s over ${#times[@]} runs (goal < 5 s: $verdict)"
