#!/usr/bin/env bash
# Times `flotilla validate` and `flotilla plan --format json` on a 100,000-tenant fleet, in release mode,
# next to PyYAML loading the same fleet file.
#
#   Benchmarks/plan/run.sh [TENANTS] [RUNS]        defaults: 100000 tenants, 3 runs
#   PURE=1 Benchmarks/plan/run.sh                  also PyYAML's pure-Python SafeLoader (~30 s a run, explicit)
#   SCRATCH=/tmp/flotilla-release Benchmarks/plan/run.sh   build in a separate build folder
#
# Two fleets are measured:
#   generated  one `generate:` entry (a short file; the cost is expanding and checking 100,000 tenants)
#   explicit   100,000 tenants written out, one line each (~9 MB of YAML to parse as well)
# Each cell is "median wall seconds / median CPU seconds (user + sys)"; CPU time is the steadier number on a
# shared machine.
set -euo pipefail

TENANTS=${1:-100000}
RUNS=${2:-3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

# SCRATCH=/some/dir builds in a build folder of its own (e.g. when another `swift test` holds .build's lock).
BUILD=(swift build -c release ${SCRATCH:+--scratch-path "$SCRATCH"})
echo "building release…" >&2
"${BUILD[@]}" --product flotilla >&2
BIN="$("${BUILD[@]}" --show-bin-path)/flotilla"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

write_common() {  # $1: folder
    mkdir -p "$1/fleets/bench/changes" "$1/policies"
    cat > "$1/fleets/bench/changes/0001_add_column.yaml" <<'YAML'
change: 0001_add_column
phases:
  - name: expand
    up: ALTER TABLE users ADD COLUMN email_verified boolean DEFAULT false;
    down: ALTER TABLE users DROP COLUMN email_verified;
YAML
    cat > "$1/policies/bench.yaml" <<'YAML'
policy: bench
waves:
  - {name: canary, select: {labels: {tier: internal}}, bake: 30s}
  - {name: pilot, select: {percent: 5}, bake: 1m}
  - {name: shard0, select: {shards: [pg-00], count: 1000}}
  - {name: rest, select: {remaining: true}, by: shard, bake: 1m}
checks:
  - {name: users-readable, sql: "SELECT count(*) >= 0 FROM users"}
YAML
}

shards_yaml() {
    echo "shards:"
    for i in $(seq -w 0 15); do
        echo "  - {name: pg-$i, url: \"postgres://app@db$i:5432/tenants\", max_parallel: 8}"
    done
}

# generated: two explicit tenants and one generator.
G="$WORK/generated"
write_common "$G"
{
    echo "fleet: bench"
    shards_yaml
    echo "tenants:"
    echo "  - {id: acme, shard: pg-00, schema: tenant_acme, labels: {tier: internal}}"
    echo "  - {id: globex, shard: pg-01, schema: tenant_globex, labels: {tier: internal}}"
    echo "  - generate: {count: $((TENANTS - 2)), id: \"t{n:06}\", shard: [$(seq -s, -f 'pg-%02g' 0 15)], schema: \"tenant_{id}\", labels: {tier: free}}"
} > "$G/fleets/bench/fleet.yaml"

# explicit: every tenant on its own line.
E="$WORK/explicit"
write_common "$E"
{
    echo "fleet: bench"
    shards_yaml
    echo "tenants:"
    echo "  - {id: acme, shard: pg-00, schema: tenant_acme, labels: {tier: internal}}"
    echo "  - {id: globex, shard: pg-01, schema: tenant_globex, labels: {tier: internal}}"
    awk -v n=$((TENANTS - 2)) 'BEGIN { for (i = 1; i <= n; i++) printf "  - {id: t%06d, shard: pg-%02d, schema: tenant_t%06d, labels: {tier: free, region: eu}}\n", i, (i - 1) % 16, i }'
} > "$E/fleets/bench/fleet.yaml"

# Prints "WALL CPU": medians over RUNS runs of a command run in folder $1.
median() {
    local dir=$1
    shift
    : > "$WORK/times"
    for _ in $(seq "$RUNS"); do
        (cd "$dir" && /usr/bin/time -f '%e %U %S' -o "$WORK/time" "$@" > /dev/null 2>&1) || true
        tail -1 "$WORK/time" >> "$WORK/times"
    done
    local wall cpu
    wall=$(awk '{ print $1 }' "$WORK/times" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
    cpu=$(awk '{ printf "%.2f\n", $2 + $3 }' "$WORK/times" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
    echo "$wall $cpu"
}

# Check that the commands work, and that the plan covers every tenant, before timing them.
for dir in "$G" "$E"; do
    if ! (cd "$dir" && "$BIN" validate > "$WORK/validate.txt" 2>&1); then
        echo "validate failed in $dir:" >&2
        head -5 "$WORK/validate.txt" >&2
        exit 1
    fi
    (cd "$dir" && "$BIN" plan --fleet bench --change 0001 --policy bench --format json > "$WORK/plan.json")
    python3 -c '
import json, sys
plan = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
assert plan["tenant_count"] == n, plan["tenant_count"]
assert sum(len(w["tenants"]) for w in plan["waves"]) == n
' "$WORK/plan.json" "$TENANTS"
done

LOADER=$(python3 -c 'import yaml; print("CSafeLoader" if hasattr(yaml, "CSafeLoader") else "SafeLoader")')

printf '%s tenants, %s runs each; %s cores, %s, %s, %s\n' "$TENANTS" "$RUNS" "$(nproc)" "$(uname -m)" \
    "$(swift --version 2>/dev/null | head -1 | sed 's/ (.*//')" "$(date -u +%Y-%m-%dT%H:%MZ)"
printf 'load average before: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'fleet.yaml: generated %s bytes, explicit %s bytes\n' "$(wc -c < "$G/fleets/bench/fleet.yaml")" "$(wc -c < "$E/fleets/bench/fleet.yaml")"
printf 'cells: median wall s / median CPU (user+sys) s\n\n'
printf '| %-44s | %-13s | %-13s |\n' "command" "generated" "explicit"
printf '|%s|%s|%s|\n' "----------------------------------------------" "---------------" "---------------"

SUM_G="0 0"
SUM_E="0 0"
add() { echo "$1 $2" | awk '{ printf "%.2f %.2f", $1 + $3, $2 + $4 }'; }
row() {  # label, "sum" or "-", command…
    local label=$1 sum=$2
    shift 2
    local g e
    g=$(median "$G" "$@")
    e=$(median "$E" "$@")
    printf '| %-44s | %-13s | %-13s |\n' "$label" "${g/ / / }" "${e/ / / }"
    if [ "$sum" = sum ]; then
        SUM_G=$(add "$SUM_G" "$g")
        SUM_E=$(add "$SUM_E" "$e")
    fi
}
row "flotilla validate" sum "$BIN" validate
row "flotilla plan --format json > /dev/null" sum "$BIN" plan --fleet bench --change 0001 --policy bench --format json
printf '| %-44s | %-13s | %-13s |\n' "validate + plan json (goal: < 1 s)" "${SUM_G/ / / }" "${SUM_E/ / / }"
row "flotilla plan (text) > /dev/null" - "$BIN" plan --fleet bench --change 0001 --policy bench
row "python3: yaml.load, $LOADER" - python3 -c "import yaml, sys; yaml.load(open(sys.argv[1]), Loader=yaml.$LOADER)" fleets/bench/fleet.yaml
if [ "$LOADER" != SafeLoader ] && [ "${PURE:-0}" = 1 ]; then
    row "python3: yaml.load, SafeLoader (pure Python)" - python3 -c "import yaml, sys; yaml.load(open(sys.argv[1]), Loader=yaml.SafeLoader)" fleets/bench/fleet.yaml
fi
row "python3 -c pass (interpreter startup)" - python3 -c pass
