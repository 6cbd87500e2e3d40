#!/usr/bin/env bash
# Rollout engine cost: Flotilla against psql on the same server, on two PostgreSQL clusters this script starts
# itself (initdb into a temp folder, pg_ctl on free ports of 127.0.0.1, run as the `postgres` user when root):
# "fsync=off" (fsync, synchronous_commit and full_page_writes off) and "durable" (PostgreSQL's defaults).
#
# On each server, TENANTS schema-per-tenant tenants (tenant_tNNNN.users, 100 rows each), one phase
# `ALTER TABLE users ADD COLUMN flag boolean DEFAULT false` plus its ledger row, policy parallel 8 / per shard 8,
# one wave, no bake; the control store is the database flotilla_control on the same server. In ROUNDS rounds, in
# rotating order and on fresh databases each round:
#   flotilla  `flotilla rollout`
#   (a)       one `psql -f` session running the same DDL and ledger insert per tenant, one transaction each
#   (c)       a shell loop of one `psql -c` per tenant
# and, of each Flotilla run: the coordinator's CPU (user + sys) and peak RSS (/usr/bin/time), and the commits of
# the control database (pg_stat_database.xact_commit, read once its sessions have ended and the counter settled).
# Then, on the fsync=off server: a scale run (SCALE=1; 10,000 tenants on 4 shard databases, parallel 16 / per shard
# 8, with the wall time of `flotilla status` of that rollout) and database-per-tenant (DBS databases behind one
# shard's max_parallel, against psql). Prints the medians with the goals beside them, PASS or MISS.
#
# Usage: Benchmarks/engine/run.sh [TENANTS]   (from the package root; default 1000)
#   ROUNDS=3            rounds of flotilla / (a) / (c) on each server
#   SCALE=1             the scale run (default on; off with QUICK=1); SCALE_TENANTS=10000
#   DBS=200             databases of the database-per-tenant run
#   QUICK=1             a smoke run: one round, no scale run, 50 databases (Benchmarks/run passes 200 tenants)
#   PERF=1              after the rounds, one more fsync=off rollout under `perf record -g`: its top symbols
#                       (PERF_DATA=path keeps the profile)
#   AUTH=scram-sha-256  the servers' authentication (initdb --auth); the password goes in PGPASSWORD
#   FLOTILLA_BIN=…      a release build to use instead of building one
set -euo pipefail
cd "$(dirname "$0")/../.."
N="${1:-1000}"
if [ -n "${QUICK:-}" ]; then
    ROUNDS="${ROUNDS:-1}" SCALE="${SCALE:-0}" DBS="${DBS:-50}"
else
    ROUNDS="${ROUNDS:-3}" SCALE="${SCALE:-1}" DBS="${DBS:-200}"
fi
SCALE_TENANTS="${SCALE_TENANTS:-10000}"
AUTH="${AUTH:-scram-sha-256}"
source Benchmarks/common.sh
trap 'exit 130' INT TERM # through the EXIT trap, which stops the servers

# MARK: - the servers

PGBIN="$(pg_config --bindir 2>/dev/null || true)"
[ -x "$PGBIN/initdb" ] || PGBIN="$(dirname "$(command -v initdb)")"
SERVER_VERSION="$("$PGBIN/postgres" --version | awk '{print $3}')"
as_server() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --user-group --no-create-home --home-dir /var/lib/postgresql --shell /usr/sbin/nologin postgres
fi
STARTED=()
bench_before_exit() {
    local data
    for data in "${STARTED[@]}"; do as_server "$PGBIN/pg_ctl" -D "$data" stop -m immediate >/dev/null 2>&1 || true; done
}
free_port() {
    local port
    for _ in $(seq 1 100); do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
    done
    return 1
}
PASSWORD="bench-$RANDOM$RANDOM$RANDOM"
export PGPASSWORD="$PASSWORD" PGHOST=127.0.0.1 PGUSER=flotilla
unset PGDATABASE PGSERVICE PGOPTIONS PGSSLMODE PGPORT
# start_server NAME [postgres -c options…]: initdb and start; sets PORT.
start_server() {
    local name="$1" folder="$WORK/pg-$1" attempt
    shift
    mkdir -m 700 "$folder"
    printf '%s\n' "$PASSWORD" >"$folder/password"
    [ "$(id -u)" -ne 0 ] || chown -R postgres: "$folder"
    as_server "$PGBIN/initdb" -D "$folder/data" -U flotilla "--auth=$AUTH" "--pwfile=$folder/password" -E UTF8 \
        --locale=C >"$folder/initdb.log" 2>&1 || { cat "$folder/initdb.log" >&2; exit 1; }
    STARTED+=("$folder/data")
    for attempt in 1 2 3; do
        PORT="$(free_port)"
        if as_server "$PGBIN/pg_ctl" -D "$folder/data" -l "$folder/server.log" -w -t 60 start \
            -o "-p $PORT -c listen_addresses=127.0.0.1 -k $folder -c max_connections=300 $*" >/dev/null; then
            return 0
        fi
    done
    echo "could not start the $name server; its log:" >&2
    tail -20 "$folder/server.log" >&2
    exit 1
}
start_server fast -c fsync=off -c synchronous_commit=off -c full_page_writes=off
PORT_FAST="$PORT"
start_server durable
PORT_DURABLE="$PORT"

# q PORT DATABASE [psql arguments…]: unaligned, tuples only, stop at the first error.
q() {
    local port="$1" database="$2"
    shift 2
    psql -X -q -A -t -v ON_ERROR_STOP=1 -p "$port" -d "$database" "$@"
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# MARK: - the workload

# schema_setup FIRST LAST ROWS DIGITS: tenants FIRST…LAST, 250 to a transaction.
schema_setup() {
    local first="$1" last="$2" rows="$3" digits="$4" i id
    for i in $(seq "$first" "$last"); do
        id="$(printf "t%0${digits}d" "$i")"
        [ $(((i - first) % 250)) -ne 0 ] || echo "BEGIN;"
        echo "CREATE SCHEMA tenant_$id; CREATE TABLE tenant_$id.users (id bigserial PRIMARY KEY, email text);"
        [ "$rows" -eq 0 ] ||
            echo "INSERT INTO tenant_$id.users (email) SELECT 'user' || g || '@$id.example' FROM generate_series(1, $rows) g;"
        [ $(((i - first) % 250)) -ne 249 ] && [ "$i" -ne "$last" ] || echo "COMMIT;"
    done
}
ledger="CREATE TABLE IF NOT EXISTS flotilla_history (id bigserial PRIMARY KEY, change text NOT NULL, phase text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(), duration_ms integer, rollout_id text, reverted_at timestamptz)"
step_sql() { # the step of one tenant: its schema, or "" for the database's public schema
    local path="${1:+SET LOCAL search_path = $1; }"
    echo "BEGIN; ${path}ALTER TABLE users ADD COLUMN flag boolean DEFAULT false; $ledger; INSERT INTO flotilla_history (change, phase, checksum) VALUES ('0001_add_flag', 'expand', 'x'); COMMIT;"
}
# flag_count PORT DATABASE: users tables of the database that have the column.
flag_count() {
    q "$1" "$2" -c "SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        WHERE c.relname = 'users' AND c.relkind = 'r' AND a.attname = 'flag' AND NOT a.attisdropped"
}

cd "$WORK"
schema_setup 1 "$N" 100 4 >"$WORK/setup.sql"
for i in $(seq -f "%04g" 1 "$N"); do step_sql "tenant_t$i"; done >"$WORK/a.sql"
for port in "$PORT_FAST" "$PORT_DURABLE"; do
    q "$port" postgres -c "CREATE DATABASE tpl"
    q "$port" tpl -f "$WORK/setup.sql" >/dev/null
    q "$port" tpl -c "VACUUM ANALYZE"
done

mkdir -p "$WORK/policies"
policy() { # name parallel per_shard
    cat >"$WORK/policies/$1.yaml" <<YAML
policy: $1
waves:
  - {name: all, select: {remaining: true}}
parallel: $2
per_shard_parallel: $3
YAML
}
policy p8 8 8
policy p16 16 8
policy p16x16 16 16
# fleet NAME PORT SHARDS TENANT_LINES: SHARDS is "name:database:max_parallel …"
fleet() {
    local name="$1" port="$2" shard s database cap
    mkdir -p "$WORK/fleets/$name/changes"
    cat >"$WORK/fleets/$name/changes/0001_add_flag.yaml" <<'YAML'
change: 0001_add_flag
phases:
  - name: expand
    up: ALTER TABLE users ADD COLUMN flag boolean DEFAULT false;
    down: ALTER TABLE users DROP COLUMN flag;
YAML
    {
        echo "fleet: $name"
        echo "control: \"postgres://flotilla@127.0.0.1:$port/flotilla_control\""
        echo "shards:"
        for shard in $3; do
            IFS=: read -r s database cap <<<"$shard"
            echo "  - {name: $s, url: \"postgres://flotilla@127.0.0.1:$port/$database\", max_parallel: $cap}"
        done
        echo "tenants:"
        printf '%s\n' "$4"
    } >"$WORK/fleets/$name/fleet.yaml"
}

# MARK: - measuring a rollout

HAVE_TIME=1
WRAP=() # a profiler to run the rollout under
[ -x /usr/bin/time ] || HAVE_TIME=0
# settled_commits PORT: xact_commit of flotilla_control once no session is connected to it (a backend that ends
# flushes its counters; from PostgreSQL 15 a live one flushes lazily, and pg_stat_force_next_flush() only acts on the
# session calling it) and two reads 0.3 s apart agree. Read from the postgres database, so reading adds nothing.
settled_commits() {
    local port="$1" last="" value
    for _ in $(seq 1 150); do
        [ "$(q "$port" postgres -c "SELECT count(*) FROM pg_stat_activity WHERE datname = 'flotilla_control'")" = 0 ] && break
        sleep 0.1
    done
    for _ in $(seq 1 30); do
        value="$(q "$port" postgres -c "SELECT xact_commit FROM pg_stat_database WHERE datname = 'flotilla_control'")"
        if [ "$value" = "$last" ]; then echo "$value"; return 0; fi
        last="$value"
        sleep 0.3
    done
    echo "unsettled"
}
# rollout PORT FLEET POLICY TENANTS: a fresh control database (its schema made by `flotilla status` beforehand, so
# only the rollout's own commits count), then the timed rollout. Sets R_WALL R_CPU (ms per step) R_RSS (MB)
# R_COMMITS (per step) R_ID, and R_START: the CPU (ms) of that `flotilla status`, the fixed cost of a command.
rollout() {
    local port="$1" name="$2" policy="$3" tenants="$4" t0 t1 before after user sys rss
    local control="postgres://flotilla@127.0.0.1:$port/flotilla_control"
    q "$port" postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS flotilla_control" \
        -c "CREATE DATABASE flotilla_control"
    if [ "$HAVE_TIME" -eq 1 ]; then
        /usr/bin/time -f "%U %S" -o "$WORK/status-time.txt" "$BIN" status --control "$control" >/dev/null
        R_START="$(tail -1 "$WORK/status-time.txt" | awk '{ printf "%.0f", ($1 + $2) * 1000 }')"
    else
        "$BIN" status --control "$control" >/dev/null
        R_START="n/a"
    fi
    q "$port" postgres -c "CHECKPOINT"
    before="$(settled_commits "$port")"
    local timing=()
    [ "$HAVE_TIME" -eq 0 ] || [ "${#WRAP[@]}" -gt 0 ] || timing=(/usr/bin/time -f "%U %S %M" -o "$WORK/time.txt")
    t0="$(now)"
    if ! "${WRAP[@]}" "${timing[@]}" "$BIN" rollout --fleet "$name" --change 0001_add_flag --policy "$policy" --yes \
        >"$WORK/rollout.log" 2>&1; then
        echo "flotilla rollout of $name failed:" >&2
        tail -20 "$WORK/rollout.log" >&2
        exit 1
    fi
    t1="$(now)"
    after="$(settled_commits "$port")"
    R_WALL="$(elapsed "$t0" "$t1")"
    R_ID="$(awk '/^rollout .*: started/ {sub(":", "", $2); print $2; exit}' "$WORK/rollout.log")"
    if [ "${#timing[@]}" -gt 0 ]; then
        read -r user sys rss <<<"$(tail -1 "$WORK/time.txt")"
        R_CPU="$(awk -v u="$user" -v s="$sys" -v n="$tenants" 'BEGIN { printf "%.3f", (u + s) * 1000 / n }')"
        R_RSS="$(awk -v k="$rss" 'BEGIN { printf "%.0f", k / 1024 }')"
    else
        R_CPU="n/a" R_RSS="n/a"
    fi
    if [ "$before" = unsettled ] || [ "$after" = unsettled ]; then
        R_COMMITS="n/a"
    else
        R_COMMITS="$(awk -v a="$before" -v b="$after" -v n="$tenants" 'BEGIN { printf "%.3f", (b - a) / n }')"
    fi
}
# timed PORT COMMAND…: wall seconds of COMMAND after a checkpoint, in T.
timed() {
    local port="$1" t0
    shift
    q "$port" postgres -c "CHECKPOINT"
    t0="$(now)"
    "$@" >/dev/null
    T="$(elapsed "$t0" "$(now)")"
}
loop_schemas() { # port database
    local i
    for i in $(seq -f "%04g" 1 "$N"); do q "$1" "$2" -c "$(step_sql "tenant_t$i")"; done
}
loop_databases() { # port prefix count
    local i
    for i in $(seq -f "%03g" 1 "$3"); do q "$1" "$2d$i" -c "$(step_sql "")"; done
}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
# verdict VALUE OP GOAL: PASS or MISS (n/a when VALUE is not a number)
verdict() {
    case "$1" in n/a* | "") echo "n/a" ;; *) awk -v v="$1" -v g="$3" -v op="$2" 'BEGIN {
        ok = (op == "<=") ? v <= g : (op == ">=") ? v >= g : (op == "<") ? v < g : v > g
        print ok ? "PASS" : "MISS" }' ;;
    esac
}

# MARK: - schema-per-tenant, both servers

echo "rollout engine: one phase ADD COLUMN + ledger row; PostgreSQL $SERVER_VERSION, two servers started here on $(df -T "$WORK" | awk 'NR == 2 {print $2}')"
echo "(127.0.0.1, $AUTH, max_connections 300); control store: database flotilla_control on the same server"
echo "machine: $(uname -m), $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "schema-per-tenant: $N tenants (users, 100 rows each), policy parallel 8 / per shard 8, one wave, no bake;"
echo "$ROUNDS round(s) in rotating order, fresh databases each round"
printf '%-6s %-9s %9s %9s %11s %10s %8s %13s %s\n' round server flotilla "(a) -f" "(c) -c loop" "cpu/step" "peak RSS" "commits/step" "columns added f/a/c"
declare -A WALL SINGLE LOOP CPU RSS COMMITS START
for server in fast durable; do
    if [ "$server" = fast ]; then port="$PORT_FAST" label="fsync=off"; else port="$PORT_DURABLE" label="durable"; fi
    WALL[$server]="" SINGLE[$server]="" LOOP[$server]="" CPU[$server]="" RSS[$server]="" COMMITS[$server]="" START[$server]=""
    for round in $(seq 1 "$ROUNDS"); do
        for kind in f a c; do q "$port" postgres -c "CREATE DATABASE ${server}_${round}_$kind TEMPLATE tpl"; done
        fleet "${server}_$round" "$port" "s1:${server}_${round}_f:8" \
            "  - generate: {count: $N, id: \"t{n:04}\", shard: s1, schema: \"tenant_{id}\"}"
        order=(f a c)
        order=("${order[@]:$(((round - 1) % 3))}" "${order[@]:0:$(((round - 1) % 3))}")
        for kind in "${order[@]}"; do
            case "$kind" in
            f) rollout "$port" "${server}_$round" p8 "$N" ;;
            a)
                timed "$port" q "$port" "${server}_${round}_a" -f "$WORK/a.sql"
                single="$T"
                ;;
            c)
                timed "$port" loop_schemas "$port" "${server}_${round}_c"
                loop="$T"
                ;;
            esac
        done
        added="$(flag_count "$port" "${server}_${round}_f")/$(flag_count "$port" "${server}_${round}_a")/$(flag_count "$port" "${server}_${round}_c")"
        printf '%-6s %-9s %8ss %8ss %10ss %8sms %6sMB %13s %s\n' "$round" "$label" "$R_WALL" "$single" "$loop" \
            "$R_CPU" "$R_RSS" "$R_COMMITS" "$added"
        WALL[$server]+=" $R_WALL" SINGLE[$server]+=" $single" LOOP[$server]+=" $loop"
        CPU[$server]+=" $R_CPU" RSS[$server]+=" $R_RSS" COMMITS[$server]+=" $R_COMMITS" START[$server]+=" $R_START"
        for kind in f a c; do q "$port" postgres -c "DROP DATABASE ${server}_${round}_$kind"; done
    done
done

# med SERVER ARRAY: the median of one column of the rounds (n/a when a round could not measure it)
med() {
    local -n column="$2"
    # shellcheck disable=SC2086
    case "${column[$1]}" in *n/a*) echo "n/a" ;; *) median ${column[$1]} ;; esac
}
# cell VALUE DECIMALS UNIT OP GOAL: the value, rounded, with PASS or MISS (no verdict without OP)
cell() {
    local shown="$1"
    case "$1" in n/a*) ;; *) shown="$(awk -v v="$1" -v d="$2" 'BEGIN { printf "%.*f", d, v }')$3" ;; esac
    if [ -n "${4:-}" ]; then printf '%-10s %-4s  ' "$shown" "$(verdict "$1" "$4" "$5")"; else printf '%-17s' "$shown"; fi
}
row() { printf '%-20s %s%s%s\n' "$1" "${2:-}" "${3:-}" "${4:-}" | sed 's/ *$//'; }
echo
row medians "$(printf '%-17s' fsync=off)" "$(printf '%-17s' durable)" goal
row "flotilla rollout" "$(cell "$(med fast WALL)" 2 " s")" "$(cell "$(med durable WALL)" 2 " s")"
row "(a) one psql -f" "$(cell "$(med fast SINGLE)" 2 " s")" "$(cell "$(med durable SINGLE)" 2 " s")"
row "(c) psql -c loop" "$(cell "$(med fast LOOP)" 2 " s")" "$(cell "$(med durable LOOP)" 2 " s")"
row "flotilla / (a)" "$(cell "$(ratio "$(med fast WALL)" "$(med fast SINGLE)")" 2 "" "<=" 2)" \
    "$(cell "$(ratio "$(med durable WALL)" "$(med durable SINGLE)")" 2 "" "<=" 1)" "≤ 2 on fsync=off, ≤ 1 durable"
row "(c) / flotilla" "$(cell "$(ratio "$(med fast LOOP)" "$(med fast WALL)")" 1 "" ">=" 20)" \
    "$(cell "$(ratio "$(med durable LOOP)" "$(med durable WALL)")" 1 "" ">=" 20)" "≥ 20"
row "CPU / step" "$(cell "$(med fast CPU)" 2 " ms" "<=" 0.5)" "$(cell "$(med durable CPU)" 2 " ms" "<=" 0.5)" \
    "≤ 0.5 ms (coordinator user+sys / tenants)"
row "commits / step" "$(cell "$(med fast COMMITS)" 2 "" "<=" 0.25)" "$(cell "$(med durable COMMITS)" 2 "" "<=" 0.25)" \
    "≤ 0.25 (control database xact_commit / tenants)"
row "peak RSS" "$(cell "$(med fast RSS)" 0 " MB")" "$(cell "$(med durable RSS)" 0 " MB")" "—"
row "fixed cost" "$(cell "$(med fast START)" 0 " ms")" "$(cell "$(med durable START)" 0 " ms")" \
    "— CPU of one \`flotilla status\` (start, connect, schema check), in CPU / step"
[ "$HAVE_TIME" -eq 1 ] || echo "CPU and RSS: n/a, /usr/bin/time is not installed"
case "${COMMITS[fast]}${COMMITS[durable]}" in *n/a*)
    echo "commits n/a: the control database's xact_commit did not settle within 9 s of its sessions ending" ;;
esac

# MARK: - profile (PERF=1): one more fsync=off rollout, not counted above

if [ -n "${PERF:-}" ]; then
    echo
    if ! command -v perf >/dev/null; then
        echo "profile: n/a, perf is not installed"
    else
        q "$PORT_FAST" postgres -c "CREATE DATABASE perf_f TEMPLATE tpl"
        fleet perf "$PORT_FAST" "s1:perf_f:8" "  - generate: {count: $N, id: \"t{n:04}\", shard: s1, schema: \"tenant_{id}\"}"
        WRAP=(perf record -q -g -o "${PERF_DATA:-$WORK/perf.data}" --)
        rollout "$PORT_FAST" perf p8 "$N"
        WRAP=()
        demangle=(cat)
        command -v swift-demangle >/dev/null && demangle=(swift-demangle --simplified)
        echo "profile of one more fsync=off rollout of $N tenants under perf record -g ($R_WALL s): the coordinator's"
        echo "self time by object, then its top symbols (perf report --no-children)"
        perf report -i "${PERF_DATA:-$WORK/perf.data}" --stdio --no-children --sort dso -g none 2>/dev/null |
            grep -v '^#' | grep -v '^$' | head -8
        perf report -i "${PERF_DATA:-$WORK/perf.data}" --stdio --no-children --sort sym -g none 2>/dev/null |
            grep -v '^#' | grep -v '^$' | head -25 | "${demangle[@]}" | cut -c1-160
    fi
fi

# MARK: - scale: SCALE_TENANTS tenants on 4 shard databases, fsync=off

if [ "$SCALE" = 1 ]; then
    per=$((SCALE_TENANTS / 4))
    shards="" lines=""
    for s in 1 2 3 4; do
        first=$(((s - 1) * per + 1))
        q "$PORT_FAST" postgres -c "CREATE DATABASE scale_$s"
        schema_setup "$first" $((s * per)) 0 5 | q "$PORT_FAST" "scale_$s" >/dev/null
        shards+=" s$s:scale_$s:8"
        lines+="  - generate: {count: $per, start: $first, id: \"t{n:05}\", shard: s$s, schema: \"tenant_{id}\"}"$'\n'
    done
    total=$((per * 4))
    fleet scale "$PORT_FAST" "$shards" "$lines"
    rollout "$PORT_FAST" scale p16 "$total"
    added=0
    for s in 1 2 3 4; do added=$((added + $(flag_count "$PORT_FAST" "scale_$s"))); done
    status_times=()
    for _ in 1 2 3; do
        [ -n "$R_ID" ] || break
        t0="$(now)"
        "$BIN" status "$R_ID" --control "postgres://flotilla@127.0.0.1:$PORT_FAST/flotilla_control" >/dev/null
        status_times+=("$(elapsed "$t0" "$(now)")")
    done
    status_median="n/a (no rollout id in the output of flotilla rollout)"
    [ "${#status_times[@]}" -eq 0 ] || status_median="$(median "${status_times[@]}")"
    echo
    echo "scale: $total tenants on 4 shard databases ($per each, empty tables), fsync=off, parallel 16 / per shard 8"
    echo "(columns added: $added)"
    row "rollout wall time" "$(cell "$R_WALL" 2 " s")"
    row "CPU / step" "$(cell "$R_CPU" 2 " ms" "<=" 0.5)" "≤ 0.5 ms"
    row "peak RSS" "$(cell "$R_RSS" 0 " MB" "<" 100)" "< 100 MB"
    row "commits / step" "$(cell "$R_COMMITS" 2 "" "<=" 0.25)" "≤ 0.25"
    row "flotilla status ID" "$(cell "$status_median" 2 " s" "<" 1)" "< 1 s (median of 3: ${status_times[*]:-} s)"
else
    echo
    echo "scale run: skipped (SCALE=0${QUICK:+, QUICK=1})"
fi

# MARK: - database-per-tenant, fsync=off

q "$PORT_FAST" postgres -c "CREATE DATABASE dtpl"
q "$PORT_FAST" dtpl -c "CREATE TABLE users (id bigserial PRIMARY KEY, email text)" \
    -c "INSERT INTO users (email) SELECT 'user' || g || '@example' FROM generate_series(1, 100) g" -c "VACUUM ANALYZE"
for kind in f a c; do
    for i in $(seq -f "%03g" 1 "$DBS"); do echo "CREATE DATABASE db${kind}_d$i TEMPLATE dtpl;"; done
done | q "$PORT_FAST" postgres >/dev/null
fleet dbs "$PORT_FAST" "s1:postgres:8" \
    "  - generate: {count: $DBS, id: \"d{n:03}\", shard: s1, database: \"dbf_{id}\"}"
for i in $(seq -f "%03g" 1 "$DBS"); do echo "\\connect dba_d$i"; step_sql ""; done >"$WORK/dbs.sql"
rollout "$PORT_FAST" dbs p16x16 "$DBS"
timed "$PORT_FAST" q "$PORT_FAST" postgres -f "$WORK/dbs.sql"
dsingle="$T"
timed "$PORT_FAST" loop_databases "$PORT_FAST" dbc_ "$DBS"
dloop="$T"
added=0
for kind in f a c; do
    for i in $(seq -f "%03g" 1 "$DBS"); do added=$((added + $(flag_count "$PORT_FAST" "db${kind}_d$i"))); done
done
echo
echo "database-per-tenant: $DBS databases (users, 100 rows each), fsync=off, shard max_parallel 8 (policy 16 / 16);"
echo "one run each (columns added: $added of $((3 * DBS)))"
row "flotilla rollout" "$(cell "$R_WALL" 2 " s")"
row "(a) one psql -f" "$(cell "$dsingle" 2 " s")" "flotilla / (a) = $(ratio "$R_WALL" "$dsingle") (\\connect per database; no goal set)"
row "(c) psql -c loop" "$(cell "$dloop" 2 " s")" "(c) / flotilla = $(ratio "$dloop" "$R_WALL") (psql -d dbN -c per database; no goal set)"
row "CPU / step" "$(cell "$R_CPU" 2 " ms" "<=" 0.5)" "≤ 0.5 ms"
row "commits / step" "$(cell "$R_COMMITS" 2 "" "<=" 0.25)" "≤ 0.25"
row "peak RSS" "$(cell "$R_RSS" 0 " MB")"
