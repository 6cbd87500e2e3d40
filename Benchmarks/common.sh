# Sourced by the benchmark scripts, from the package root: a throwaway folder $WORK holding Flotilla's embedded
# PostgreSQL (FLOTILLA_HOME), stopped and removed on exit, and the release `flotilla` in $BIN — built here, or the
# one FLOTILLA_BIN names (built beforehand, when the tree may change while a benchmark runs). A script that must
# clean up more first defines `bench_before_exit`.
export PATH="/opt/swift/usr/bin:$PATH"
WORK="$(mktemp -d /tmp/flotilla-bench.XXXXXX)"
chmod 711 "$WORK"
export FLOTILLA_HOME="$WORK/home"
BIN=flotilla
bench_exit() {
    if declare -F bench_before_exit >/dev/null; then bench_before_exit; fi
    "$BIN" down >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap bench_exit EXIT
if [ -n "${FLOTILLA_BIN:-}" ]; then
    BIN="$FLOTILLA_BIN"
else
    swift build -c release --product flotilla >/dev/null
    BIN="$(swift build -c release --show-bin-path)/flotilla"
fi
