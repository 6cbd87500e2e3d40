#!/usr/bin/env bash
# Zero-downtime patterns under live traffic. Two parts, on Flotilla's own embedded PostgreSQL (a throwaway
# FLOTILLA_HOME), the application simulated by pgbench with Benchmarks/patterns/workload.sql:
#
# 1. Backfill: the change-type pattern's batched backfill of BACKFILL_ROWS rows (keyset batches, each its own
#    transaction, checkpointed, paced by the engine) against one unbatched UPDATE of the same rows with the same
#    sync trigger (the limit). Reported: rows/s of each, their ratio (goal ≥ 50%), and the longest time a batch
#    held its row locks (BEGIN to COMMIT; goal ≤ 100 ms) — idle, then again while pgbench writes the same table.
# 2. Every pattern across a fleet of 3 tenants (ROWS users each): pgbench runs a baseline, then runs while the
#    rollout goes (gates approved as the application would; rename-column stops at its gate and is reverted, since
#    the workload keeps using the old name). Reported: failed transactions (goal 0) and p99 latency during the
#    rollout against the baseline (goal ≤ 2×).
#
# 3. Backfill pacing under pgbench, side by side on one server: the same backfill (PACE_ROWS rows, default 300,000)
#    with a fixed batch_size, with target_batch_time (10ms and 50ms), and each with the shard throttle on (a policy
#    with `throttle:` pausing the shard while sessions wait on locks). Reported per run: rows/s, the batches and their
#    sizes, the longest batch, pgbench p99 during the backfill against a baseline with no backfill (before and after
#    the runs), and the coordinator's CPU (user + system of `flotilla rollout`) per tenant step and per batch.
#
# Usage: Benchmarks/patterns/run.sh [ROWS] [BACKFILL_ROWS]   (from the package root; RATE=tps, default 200;
#        BATCH=backfill batch_size, default the pattern's; FLOTILLA_BIN=a release build to use instead of building;
#        PARTS="1 2 3" the parts to run, e.g. PARTS=3; PACE_ROWS=rows of part 3)
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE="$PWD/Benchmarks/patterns"
ROWS="${1:-20000}"
BIG="${2:-500000}"
RATE="${RATE:-200}"
CLIENTS="${CLIENTS:-4}"
PARTS="${PARTS:-1 2 3}"
PACE_ROWS="${PACE_ROWS:-300000}"
want() { [[ " $PARTS " == *" $1 "* ]]; }
SLICE=5
bench_before_exit() { rm -f "$WORK"/run_*; wait 2>/dev/null || true; }
source Benchmarks/common.sh
PGBENCH="$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench | sort -V | tail -1)"

PATTERNS=(
    "add_column#add-column: {table: users, column: domain, type: text, not_null: true, default: \"''\", backfill: \"split_part(email, '@', 2)\"}#score#:v#end"
    "rename_column#rename-column: {table: users, column: phone_number, to: phone}#phone_number#'+1-' || :v#revert"
    "drop_column#drop-column: {table: users, column: phone_number}#score#:v#end"
    "change_type#change-type: {table: users, column: phone_number, type: varchar(40), using: \"left(phone_number, 40)\"}#phone_number#'+1-' || :v#end"
    "add_index#add-index: {table: users, columns: [\"lower(email)\"], name: users_email_lower_idx}#score#:v#end"
    "add_constraint#add-constraint: {table: users, name: users_score_not_negative, check: \"score >= 0\"}#score#:v#end"
    "add_foreign_key#add-foreign-key: {table: orders, columns: user_id, references: users}#score#:v#end"
)
BATCH="${BATCH:-}"   # batch_size of the backfill in part 1; empty: the pattern's default (1000)
BACKFILL_PATTERN="change-type: {table: users, column: phone_number, type: varchar(40), using: \"left(phone_number, 40)\"${BATCH:+, batch_size: $BATCH}}"

mkdir -p "$WORK/policies"
cat > "$WORK/policies/patterns.yaml" <<'YAML'
policy: patterns
waves:
  - {name: canary, select: {labels: {tier: internal}}}
  - {name: rest, select: {remaining: true}}
parallel: 4
per_shard_parallel: 4
lock_timeout: 50ms
statement_timeout: 10m
retries: {attempts: 40, backoff: 10ms}
on_failure: revert
YAML
# The same policy with the shard throttle: no new batch (nor step) on a shard while a session waits on a lock there.
{
    cat "$WORK/policies/patterns.yaml" | sed 's/^policy: patterns$/policy: patterns_throttle/'
    cat <<'YAML'
throttle:
  interval: 100ms
  signals:
    - {signal: lock_waiters, pause_above: 0}
YAML
} > "$WORK/policies/patterns_throttle.yaml"
fleet() { # NAME DATABASE TENANT…
    local name=$1 db=$2
    shift 2
    mkdir -p "$WORK/fleets/$name/changes"
    {
        echo "fleet: $name"
        echo "shards: [{name: s1, url: \"embedded:$db\", max_parallel: 4}]"
        echo "tenants:"
        local first=1
        for t in "$@"; do
            echo "  - {id: $t, shard: s1, schema: tenant_$t, labels: {tier: $([ $first = 1 ] && echo internal || echo free)}}"
            first=0
        done
    } > "$WORK/fleets/$name/fleet.yaml"
}
change() { # FLEET ID PATTERN
    printf 'change: %s\npattern:\n  %s\n' "$2" "$3" > "$WORK/fleets/$1/changes/$2.yaml"
}
fleet backfill pat_backfill b1
change backfill 0001_backfill "$BACKFILL_PATTERN"
fleet backfill_live pat_backfill_live b3
change backfill_live 0001_backfill "$BACKFILL_PATTERN"
for spec in "${PATTERNS[@]}"; do
    IFS='#' read -r name pattern _ <<<"$spec"
    fleet "$name" "pat_$name" t1 t2 t3
    change "$name" "0001_$name" "$pattern"
done
# Part 3: one fleet (own database, one tenant) per run: NAME#SIZING#POLICY.
PACE_RUNS=(
    "fixed#batch_size: 1000#patterns"
    "fixed_throttle#batch_size: 1000#patterns_throttle"
    "target_50ms#target_batch_time: 50ms#patterns"
    "target_50ms_throttle#target_batch_time: 50ms#patterns_throttle"
    "target_10ms#target_batch_time: 10ms#patterns"
)
if want 3; then
    for spec in "${PACE_RUNS[@]}"; do
        IFS='#' read -r name sizing _ <<<"$spec"
        fleet "pace_$name" "pace_$name" c1
        change "pace_$name" 0001_backfill \
            "change-type: {table: users, column: phone_number, type: varchar(40), using: \"left(phone_number, 40)\", $sizing}"
    done
fi

cd "$WORK"
for f in fleets/*; do "$BIN" status --fleet "$(basename "$f")" >/dev/null 2>&1; done   # embedded server + databases
PORT="$(cat "$FLOTILLA_HOME/postgres/port")"
export PGPASSWORD="$(cat "$FLOTILLA_HOME/postgres/password")" PGHOST=127.0.0.1 PGPORT="$PORT" PGUSER=flotilla
export PGOPTIONS="-c client_min_messages=warning"
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
tenant_sql() { sed -e "s/@SCHEMA@/$1/g" -e "s/@ROWS@/$2/g" "$HERE/tenant.sql"; }
now() { date +%s.%N; }
rollout_id() { q -d flotilla -c "SELECT id FROM flotilla.rollouts WHERE fleet = '$1' ORDER BY created_at DESC LIMIT 1"; }

# pgbench in slices of $SLICE s until stopped: traffic_start TAG DATABASE ROWS COLUMN VALUE SCHEMA…
traffic_start() {
    local tag=$1 db=$2 rows=$3 column=$4 value=$5
    shift 5
    mkdir -p "$WORK/log_$tag"
    local files=()
    for schema in "$@"; do
        sed -e "s/@SCHEMA@/$schema/g" -e "s/@ROWS@/$rows/g" -e "s/@COLUMN@/$column/g" -e "s/@VALUE@/$value/g" \
            "$HERE/workload.sql" > "$WORK/log_$tag/$schema.sql"
        files+=(-f "$WORK/log_$tag/$schema.sql")
    done
    touch "$WORK/run_$tag"
    (
        n=0
        while [ -e "$WORK/run_$tag" ]; do
            n=$((n + 1))
            "$PGBENCH" -n -c "$CLIENTS" -j 2 -T "$SLICE" -R "$RATE" -M simple -l --log-prefix "$WORK/log_$tag/s$n" \
                "${files[@]}" "$db" > "$WORK/log_$tag/s$n.out" 2> "$WORK/log_$tag/s$n.err" || true
        done
    ) &
    TRAFFIC=$!
}
traffic_stop() { rm -f "$WORK/run_$1"; wait "$TRAFFIC"; }
# stats TAG [FROM TO]: "transactions failed p50 p95 p99 max" (ms), of transactions that ended in [FROM, TO].
stats() {
    local tag=$1 from=${2:-0} to=${3:-9999999999}
    local failed
    failed=$(( $(cat "$WORK"/log_$tag/s*.out | awk -F'[:(]' '/number of failed transactions/ {s += $2} END {print s + 0}') \
        + $(cat "$WORK"/log_$tag/s*.err | grep -c 'client .* aborted' || true) ))
    cat "$WORK"/log_$tag/s*.[0-9]* | awk -v from="$from" -v to="$to" \
        '{ t = $5 + $6 / 1e6; if (t >= from && t <= to) print $3 / 1000 }' | sort -n |
        awk -v failed="$failed" '{ v[NR] = $1 } END {
            n = NR
            if (n == 0) { print 0, failed, 0, 0, 0, 0; exit }
            i50 = int(n * 0.50 + 0.999999); i95 = int(n * 0.95 + 0.999999); i99 = int(n * 0.99 + 0.999999)
            printf "%d %d %.2f %.2f %.2f %.2f\n", n, failed, v[i50], v[i95], v[i99], v[n]
        }'
}

echo "machine: $(uname -m), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GB, $(date -u +%Y-%m-%d), $(psql --version | head -1)"
echo "pgbench: $CLIENTS clients, $RATE transactions/s in all (-R), Benchmarks/patterns/workload.sql"
echo

if want 1; then
# ---- 1. backfill -------------------------------------------------------------------------------------------------
echo "1. backfill: change-type users.phone_number → varchar(40), $BIG rows, batch_size ${BATCH:-1000 (default)}, pause 2ms (default)"
{ tenant_sql tenant_b1 "$BIG"; tenant_sql tenant_b2 "$BIG"; } | q -d pat_backfill >/dev/null
tenant_sql tenant_b3 "$BIG" | q -d pat_backfill_live >/dev/null
# The limit: the same expand (column + sync trigger) on tenant_b2, then one UPDATE of every row.
expand_sql=$("$BIN" plan --fleet backfill --change 0001_backfill --policy patterns --format json |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["phases"][0]["up"])')
{ echo "SET search_path = tenant_b2;"; echo "$expand_sql"; } | q -d pat_backfill >/dev/null
q -d pat_backfill -c "CHECKPOINT" >/dev/null
t0=$(now)
q -d pat_backfill -c "UPDATE tenant_b2.users SET phone_number_new = left(phone_number, 40)" >/dev/null
t1=$(now)
single=$(echo "$t1 - $t0" | bc -l)
# The backfills start from the same clean state as the UPDATE did: its dead rows vacuumed, its dirty pages written.
q -d pat_backfill -c "VACUUM tenant_b2.users" -c "CHECKPOINT" >/dev/null
backfill_run() { # FLEET → "seconds longest_ms summary"
    "$BIN" rollout --fleet "$1" --change 0001_backfill --policy patterns --yes --no-wait >/dev/null
    local id
    id=$(rollout_id "$1")
    q -d flotilla -F '|' -c "
        SELECT extract(epoch FROM e.at - s.started_at), substring(e.message FROM 'longest batch ([0-9]+) ms'), e.message
        FROM flotilla.events e JOIN flotilla.steps s ON s.rollout_id = e.rollout_id AND s.phase = e.phase AND s.tenant = e.tenant
        WHERE e.rollout_id = '$id' AND e.kind = 'backfill-finished' AND e.phase = 'backfill'"
}
IFS='|' read -r idle_s idle_longest idle_summary <<<"$(backfill_run backfill)"
printf "   one UPDATE of %d rows          %8.2f s  %9.0f rows/s   (the limit; every row locked until the end)\n" "$BIG" "$single" "$(echo "$BIG / $single" | bc -l)"
printf "   flotilla backfill, idle         %8.2f s  %9.0f rows/s   = %.0f%% of the limit; longest batch %s ms\n" \
    "$idle_s" "$(echo "$BIG / $idle_s" | bc -l)" "$(echo "100 * $single / $idle_s" | bc -l)" "$idle_longest"
echo "      ($idle_summary)"
traffic_start backfill_live pat_backfill_live "$BIG" phone_number "'+1-' || :v" tenant_b3
sleep 2
w0=$(now)
IFS='|' read -r live_s live_longest live_summary <<<"$(backfill_run backfill_live)"
w1=$(now)
sleep 1
traffic_stop backfill_live
read -r n failed p50 p95 p99 max <<<"$(stats backfill_live "$w0" "$w1")"
printf "   flotilla backfill, under pgbench %7.2f s  %9.0f rows/s   longest batch %s ms; pgbench: %d txns, %d failed, p99 %.2f ms\n" \
    "$live_s" "$(echo "$BIG / $live_s" | bc -l)" "$live_longest" "$n" "$failed" "$p99"
echo "      ($live_summary)"
echo "   goals: ≥ 50% of the limit's rows/s; no batch holding its locks longer than 100 ms"
echo
fi

if want 2; then
# ---- 2. every pattern under pgbench ------------------------------------------------------------------------------
echo "2. each pattern across 3 tenants of $ROWS users, pgbench throughout (latencies in ms)"
printf "   %-16s %7s %7s %9s %9s %9s %7s %6s %s\n" pattern seconds txns failed "p99 base" "p99 run" ratio "max" "outcome"
for spec in "${PATTERNS[@]}"; do
    IFS='#' read -r name pattern column value mode <<<"$spec"
    db="pat_$name"
    for t in t1 t2 t3; do tenant_sql "tenant_$t" "$ROWS"; done | q -d "$db" >/dev/null
    schemas=(tenant_t1 tenant_t2 tenant_t3)
    # Baseline: the same traffic, no rollout.
    traffic_start "base_$name" "$db" "$ROWS" "$column" "$value" "${schemas[@]}"
    sleep 10
    traffic_stop "base_$name"
    read -r _ base_failed _ _ base_p99 _ <<<"$(stats "base_$name")"
    traffic_start "run_$name" "$db" "$ROWS" "$column" "$value" "${schemas[@]}"
    sleep 2
    r0=$(now)
    outcome=done
    for _ in 1 2 3; do
        "$BIN" rollout --fleet "$name" --change "0001_$name" --policy patterns --yes --no-wait > "$WORK/rollout_$name.log" 2>&1 ||
            { outcome="rollout failed: $(tail -1 "$WORK/rollout_$name.log")"; break; }
        id=$(rollout_id "$name")
        state=$(q -d flotilla -c "SELECT state || ':' || coalesce(current_phase, '') FROM flotilla.rollouts WHERE id = '$id'")
        case "$state" in
            done:*) outcome=done; break ;;
            awaiting-approval:*)
                if [ "$mode" = revert ]; then
                    "$BIN" revert "$id" --fleet "$name" --yes > "$WORK/revert_$name.log" 2>&1 || outcome="revert failed"
                    [ "$outcome" = done ] && outcome="at gate ${state#*:}, reverted"
                    break
                fi
                "$BIN" approve "$id" --fleet "$name" >/dev/null ;;
            *) outcome="$state"; break ;;
        esac
    done
    r1=$(now)
    sleep 1
    traffic_stop "run_$name"
    read -r n run_failed _ _ run_p99 run_max <<<"$(stats "run_$name" "$r0" "$r1")"
    read -r _ all_failed _ _ _ _ <<<"$(stats "run_$name")"
    printf "   %-16s %7.1f %7d %9d %9.2f %9.2f %6.2fx %6.1f %s\n" "$name" "$(echo "$r1 - $r0" | bc -l)" "$n" \
        "$((all_failed + base_failed))" "$base_p99" "$run_p99" "$(echo "$run_p99 / $base_p99" | bc -l)" "$run_max" "$outcome"
done
echo "   goals: 0 failed transactions; p99 during the rollout ≤ 2× the baseline's"
echo
fi

# ---- 3. backfill pacing under pgbench: fixed batch_size, target_batch_time, the shard throttle ---------------------
if want 3; then
echo "3. backfill pacing: change-type users.phone_number → varchar(40), $PACE_ROWS rows, pgbench on the same table"
for spec in "${PACE_RUNS[@]}"; do
    IFS='#' read -r name _ _ <<<"$spec"
    tenant_sql tenant_c1 "$PACE_ROWS" | q -d "pace_$name" >/dev/null
done
q -d postgres -c "CHECKPOINT" >/dev/null
printf "   %-22s %7s %9s %8s %12s %11s %15s %7s %9s %9s\n" run seconds "rows/s" batches "sizes" "longest ms" \
    "p99 base → run" failed "CPU/step" "CPU/batch"
for spec in "${PACE_RUNS[@]}"; do
    IFS='#' read -r name _ policy <<<"$spec"
    # Traffic throughout: 5 s of baseline (no backfill) just before the run, on the same database, then the run.
    traffic_start "pace_$name" "pace_$name" "$PACE_ROWS" phone_number "'+1-' || :v" tenant_c1
    b0=$(now)
    sleep 5
    p0=$(now)
    TIMEFORMAT='%U %S'
    cpu=$( { time "$BIN" rollout --fleet "pace_$name" --change 0001_backfill --policy "$policy" --yes --no-wait \
        >/dev/null 2>&1 || true; } 2>&1 )
    p1=$(now)
    sleep 1
    traffic_stop "pace_$name"
    id=$(rollout_id "pace_$name")
    IFS='|' read -r seconds message <<<"$(q -d flotilla -F '|' -c "
        SELECT extract(epoch FROM e.at - s.started_at), e.message
        FROM flotilla.events e JOIN flotilla.steps s ON s.rollout_id = e.rollout_id AND s.phase = e.phase AND s.tenant = e.tenant
        WHERE e.rollout_id = '$id' AND e.kind = 'backfill-finished' AND e.phase = 'backfill'")"
    steps=$(q -d flotilla -c "SELECT count(*) FROM flotilla.steps WHERE rollout_id = '$id' AND state = 'applied'")
    rows=$(sed -E 's/^([0-9]+) rows.*/\1/' <<<"$message")
    batches=$(sed -E 's/^[0-9]+ rows in ([0-9]+) batches.*/\1/' <<<"$message")
    longest=$(sed -E 's/.*longest batch ([0-9]+) ms.*/\1/' <<<"$message")
    if [[ "$message" == *"sized to"* ]]; then
        sizes=$(sed -E 's/.*smallest ([0-9]+), largest ([0-9]+), final ([0-9]+).*/\1-\2→\3/' <<<"$message")
    else
        sizes=$(sed -E 's/.*last batch size ([0-9]+) of ([0-9]+).*/\1 of \2/' <<<"$message")
    fi
    read -r _ failed _ _ p99 _ <<<"$(stats "pace_$name" "$p0" "$p1")"
    read -r _ _ _ _ base _ <<<"$(stats "pace_$name" "$b0" "$p0")"
    read -r user system <<<"$cpu"
    cpu_ms=$(echo "($user + $system) * 1000" | bc -l)
    printf "   %-22s %7.2f %9.0f %8d %12s %11s %6.2f → %6.2f %7d %6.1f ms %6.2f ms\n" "$name" "$seconds" \
        "$(echo "$rows / $seconds" | bc -l)" "$batches" "$sizes" "$longest" "$base" "$p99" \
        "$failed" "$(echo "$cpu_ms / $steps" | bc -l)" "$(echo "$cpu_ms / $batches" | bc -l)"
    echo "      ($message; rollout $(echo "$p1 - $p0" | bc -l | xargs printf '%.2f') s, $steps steps, CPU ${user}s user ${system}s system)"
done
echo "   throttle: lock_waiters pause_above 0, read every 100ms; sizes: fixed \"last of batch_size\", target \"smallest-largest→final\""
fi
