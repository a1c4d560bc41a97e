#!/usr/bin/env bash
# The benchmark of issue 5: flowsplit against tcpflow on generated captures
# of interleaved HTTP/1.1 connections, output on tmpfs and on disk, with wall
# time, peak resident memory, and a check of every flow file against the
# generator's expected sha256 list. Too long for CI: tests/bench_smoke.rs runs
# a tiny version of the same generator and check.
#
# Usage: bench/run.sh [MODE] [OPTIONS]
#   (no mode)          the comparison table: each shape x each target
#   --table            the comparison table, also when another mode is given (modes add up:
#                      --table --memory --floor measures all three in one run)
#   --memory           issue 11's memory table: peak RSS and wall time, flowsplit against
#                      tcpflow, output on tmpfs, on small-512, open-4096, open-200k and
#                      -e http on small-512 at half and full length (ignores --shapes, --targets)
#   --memory-growth    flowsplit's peak RSS on each shape and on a capture twice as long
#   --million          1,000,000 connections all open before any closes (flowsplit only)
#   --floor            the least CPU the work itself takes on this machine (examples/floor.rs):
#                      reading the capture, sha256 of every flow byte, creating and writing the files;
#                      and with -e http on small-512, also hashing and writing every body file
#   --all              all five
# Options:
#   --shapes "small large"   shapes to run (default both; also open-4096, open-200k, and
#                            small-512: the small shape with 512 open at once, not 500)
#   --targets "tmpfs disk"   where output goes (default both)
#   --scale F                scale every capture's length (e.g. 0.01 for a quick trial)
#   --no-tcpflow             do not run tcpflow even if installed
#   --no-build               use the binaries already in target/release
#   -j N                     pass -j N to flowsplit (default: flowsplit's own default)
# Environment:
#   BENCH_DIR   captures, logs and the on-disk output (default /tmp/flowsplit-bench);
#               captures there are reused: delete them to regenerate
#   TMPFS_DIR   the tmpfs output folder (default /dev/shm/flowsplit-bench)
#   TCPFLOW_MILLION=1   also run tcpflow on the million-connection capture
#   REPEAT      measure each case this many times and keep the fastest (default 1;
#               peak RSS is the largest of the runs)
#   QUIET_WAIT  before each measurement, wait up to this many seconds for other
#               processes to leave the CPU alone (default 600; 0 = do not wait)
set -euo pipefail

# Settings, captures, measuring and checking: shared with bench/compare.sh.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SHAPES="small large"
TARGETS="tmpfs disk"
SCALE=1
TCPFLOW=1
BUILD=1
JOBS=""
DO_TABLE=0 DO_MEMORY=0 DO_GROWTH=0 DO_MILLION=0 DO_FLOOR=0

while [ $# -gt 0 ]; do
    case $1 in
        --table) DO_TABLE=1 ;;
        --memory) DO_MEMORY=1 ;;
        --memory-growth) DO_GROWTH=1 ;;
        --million) DO_MILLION=1 ;;
        --floor) DO_FLOOR=1 ;;
        --all) DO_TABLE=1 DO_MEMORY=1 DO_GROWTH=1 DO_MILLION=1 DO_FLOOR=1 ;;
        --shapes) [ $# -ge 2 ] || die "--shapes needs a value"; SHAPES=$2; shift ;;
        --targets) [ $# -ge 2 ] || die "--targets needs a value"; TARGETS=$2; shift ;;
        --scale) [ $# -ge 2 ] || die "--scale needs a value"; SCALE=$2; shift ;;
        --no-tcpflow) TCPFLOW=0 ;;
        --no-build) BUILD=0 ;;
        -j) [ $# -ge 2 ] || die "-j needs a value"; JOBS=$2; shift ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
    shift
done
[ $DO_MEMORY = 1 ] || [ $DO_GROWTH = 1 ] || [ $DO_MILLION = 1 ] || [ $DO_FLOOR = 1 ] || DO_TABLE=1
check_options

# --- tools ------------------------------------------------------------------
need_time
if [ $TCPFLOW = 1 ] && ! command -v tcpflow >/dev/null; then
    say "tcpflow is not installed: measuring flowsplit only"
    TCPFLOW=0
fi

FLOWSPLIT=$ROOT/target/release/flowsplit
GEN=$ROOT/target/release/examples/bench_gen
FLOOR=$ROOT/target/release/examples/floor
if [ $BUILD = 1 ]; then
    say "building release binaries"
    (cd "$ROOT" && cargo build --release --quiet --bin flowsplit --example bench_gen --example floor) \
        || die "cargo build failed"
fi
[ -x "$FLOWSPLIT" ] || die "$FLOWSPLIT missing (run without --no-build)"
[ -x "$GEN" ] || die "$GEN missing (run without --no-build)"
[ -x "$FLOOR" ] || die "$FLOOR missing (run without --no-build)"

start_run
# Measure copies: a rebuild of target/ during the run must not change the binaries.
cp "$FLOWSPLIT" "$GEN" "$FLOOR" "$LOGDIR/"
FLOWSPLIT=$LOGDIR/flowsplit GEN=$LOGDIR/bench_gen FLOOR=$LOGDIR/floor

{
    echo "# flowsplit benchmark $STAMP on $(machine_line)"
    echo "# flowsplit $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?'); $(if command -v tcpflow >/dev/null; then { tcpflow -V 2>&1 || true; } | head -n 1; else echo 'no tcpflow'; fi)"
    folders_line
    echo "# scale $SCALE${JOBS:+, flowsplit -j $JOBS}; best of $REPEAT; wall = process; ratio = tcpflow s / flowsplit s; +sync = until the data is on disk; logs in $LOGDIR"
} | tee "$RESULTS"
warn_not_tmpfs

# tcpflow's best time in this run, for the floor's bound: by shape (tmpfs
# target of the table) and for -e http on the full small-512 capture.
declare -A TCPFLOW_TMPFS=()
TCPFLOW_HTTP=""

# --- the comparison table -----------------------------------------------------
if [ $DO_TABLE = 1 ]; then
    rows=()
    for shape in $SHAPES; do
        cap=$(capture "$shape" 1)
        for target in $TARGETS; do
            out=$(outdir_for "$target" "flowsplit-$shape")
            mapfile -t cmd < <(flowsplit_cmd "$FLOWSPLIT" "$cap" @OUT@)
            measure_best "flowsplit-$shape-$target" "$cap" "$out" "${cmd[@]}"
            out=$OUT
            fs=("$WALL$NOISY" "$WALL_SYNC" "$RSS" "$RC")
            ok=$(check "flowsplit-$shape-$target" "$cap" "$out" --report "$out/report.jsonl")
            [ "${fs[3]}" = 0 ] || ok="no (exit ${fs[3]})"
            discard "$out"
            tf=("-" "-" "-") tok="-"
            if [ $TCPFLOW = 1 ]; then
                out2=$(outdir_for "$target" "tcpflow-$shape")
                measure_best "tcpflow-$shape-$target" "$cap" "$out2" tcpflow -r "$cap" -o @OUT@
                out2=$OUT
                tf=("$WALL$NOISY" "$WALL_SYNC" "$RSS")
                tok=$(check "tcpflow-$shape-$target" "$cap" "$out2")
                discard "$out2"
                [ "$target" != tmpfs ] || TCPFLOW_TMPFS[$shape]=$WALL
            fi
            if [ "$target" = disk ]; then
                fsync_=${fs[1]} tsync_=${tf[1]}
            else
                fsync_="-" tsync_="-"
            fi
            rows+=("$shape|$target|${fs[0]}|${tf[0]}|$(ratio "${fs[0]}" "${tf[0]}")|${fs[2]}|${tf[2]}|$ok|$tok|$fsync_|$tsync_|$(ratio "$fsync_" "$tsync_")")
        done
    done
    {
        echo
        printf '%-9s %-6s %13s %13s %7s %11s %11s %9s %9s %11s %11s %11s\n' \
            shape target "flowsplit s" "tcpflow s" ratio "fs RSS MiB" "tf RSS MiB" verified "tf ok" "fs+sync s" "tf+sync s" "sync ratio"
        for r in "${rows[@]}"; do
            IFS='|' read -r -a c <<<"$r"
            printf '%-9s %-6s %13s %13s %7s %11s %11s %9s %9s %11s %11s %11s\n' "${c[@]}"
        done
    } | tee -a "$RESULTS"
fi

# --- issue 11's memory table ------------------------------------------------------
# Each case: label|shape|length factor|scanner|issue 11's ceiling for
# flowsplit's peak RSS in MiB. Default settings for both programs (flowsplit
# -j only if given), output on tmpfs. The -e http cases check the flow files;
# the bodies are not in the expected list (bench_gen verify --http-bodies).
# response_bodies LABEL: the response body files the check of LABEL counted.
# "-" when LABEL was not run, "?" when its check did not get as far.
response_bodies() {
    [ -f "$LOGDIR/$1.verify" ] || { echo "-"; return; }
    sed -n 's/.*: \([0-9]*\) response and .*/\1/p' "$LOGDIR/$1.verify" | tail -n 1 | grep . || echo "?"
}
MEMORY_CASES=(
    "small-512|small-512|1||40"
    "open-4096|open-4096|1||48"
    "open-200k|open-200k|1||256"
    "http-x0.5|small-512|0.5|http|64"
    "http-x1|small-512|1|http|64"
)
if [ $DO_MEMORY = 1 ]; then
    rows=()
    HTTP_RSS=()
    for case_ in "${MEMORY_CASES[@]}"; do
        IFS='|' read -r label shape factor scanner ceiling <<<"$case_"
        cap=$(capture "$shape" "$factor")
        fs_args=() tf_args=() verify_args=()
        if [ -n "$scanner" ]; then
            fs_args=(-e "$scanner") tf_args=(-e "$scanner") verify_args=(--http-bodies)
        fi
        out=$(outdir_for tmpfs "flowsplit-mem-$label")
        mapfile -t cmd < <(flowsplit_cmd "$FLOWSPLIT" "$cap" @OUT@ ${fs_args[@]+"${fs_args[@]}"})
        measure_best "memory-flowsplit-$label" "$cap" "$out" "${cmd[@]}"
        out=$OUT
        fs=("$WALL$NOISY" "$RSS" "$RC" "$CPU")
        ok=$(check "memory-flowsplit-$label" "$cap" "$out" --report "$out/report.jsonl" ${verify_args[@]+"${verify_args[@]}"})
        [ "${fs[2]}" = 0 ] || ok="no (exit ${fs[2]})"
        discard "$out"
        tf=("-" "-" "-") tok="-"
        if [ $TCPFLOW = 1 ]; then
            out2=$(outdir_for tmpfs "tcpflow-mem-$label")
            measure_best "memory-tcpflow-$label" "$cap" "$out2" tcpflow ${tf_args[@]+"${tf_args[@]}"} -r "$cap" -o @OUT@
            out2=$OUT
            tf=("$WALL$NOISY" "$RSS" "$CPU")
            tok=$(check "memory-tcpflow-$label" "$cap" "$out2" ${verify_args[@]+"${verify_args[@]}"})
            [ "$RC" = 0 ] || tok="no (exit $RC)"
            discard "$out2"
            [ "$label" != http-x1 ] || TCPFLOW_HTTP=$WALL
        fi
        bodies="-"
        if [ -n "$scanner" ]; then
            HTTP_RSS+=("${fs[1]}")
            # Response bodies each carved, as bench_gen verify --http-bodies counted them.
            bodies="$(response_bodies "memory-flowsplit-$label")/$(response_bodies "memory-tcpflow-$label")"
        fi
        conns=$(( $(wc -l <"$cap.expected.tsv") / 2 ))
        # The generator's log says how many were open at once at most.
        open=$(sed -n 's/.*(at most \([0-9]*\) open).*/\1/p' "$cap.gen.log" 2>/dev/null | tail -n 1)
        mb=$(awk -v b="$(stat -c %s "$cap")" 'BEGIN { printf "%.0f", b / 1e6 }')
        within=$(awk -v r="${fs[1]}" -v c="$ceiling" 'BEGIN { print (r != "?" && r + 0 <= c) ? "yes" : "no" }')
        rows+=("$shape|${scanner:--}|x$factor|$conns|${open:-?}|$mb|${fs[0]}|${tf[0]}|${fs[3]}|${tf[2]}|${fs[1]}|${tf[1]}|<= $ceiling|$within|$ok|$tok|$bodies")
    done
    {
        echo
        echo "issue 11's memory budget: peak RSS with default settings, output on tmpfs (ceilings are for --scale 1)"
        printf '%-9s %-4s %-6s %11s %7s %10s %12s %10s %9s %9s %11s %10s %8s %6s %9s %9s %13s\n' \
            shape -e length connections open "capture MB" "flowsplit s" "tcpflow s" "fs CPU s" "tf CPU s" "fs RSS MiB" "tf RSS MiB" ceiling within verified "tf ok" "bodies fs/tf"
        for r in "${rows[@]}"; do
            IFS='|' read -r -a c <<<"$r"
            printf '%-9s %-4s %-6s %11s %7s %10s %12s %10s %9s %9s %11s %10s %8s %6s %9s %9s %13s\n' "${c[@]}"
        done
        # Flat: the HTTP pass's memory must not follow the capture's length.
        if [ ${#HTTP_RSS[@]} = 2 ]; then
            awk -v a="${HTTP_RSS[0]}" -v b="${HTTP_RSS[1]}" 'BEGIN {
                lo = a < b ? a : b; hi = a < b ? b : a
                if (lo > 0) printf "-e http flat: larger / smaller peak RSS = %.3f (issue 11: <= 1.10, %s)\n", hi / lo, hi / lo <= 1.10 ? "yes" : "no"
            }'
        fi
    } | tee -a "$RESULTS"
fi

# --- memory growth --------------------------------------------------------------
if [ $DO_GROWTH = 1 ]; then
    rows=()
    for shape in $SHAPES; do
        for factor in 1 2; do
            cap=$(capture "$shape" "$factor")
            out=$(outdir_for tmpfs "flowsplit-$shape-x$factor")
            mapfile -t cmd < <(flowsplit_cmd "$FLOWSPLIT" "$cap" @OUT@)
            measure_best "growth-$shape-x$factor" "$cap" "$out" "${cmd[@]}"
            out=$OUT
            ok=$(check "growth-$shape-x$factor" "$cap" "$out" --report "$out/report.jsonl")
            [ "$RC" = 0 ] || ok="no (exit $RC)"
            discard "$out"
            gb=$(awk -v b="$(stat -c %s "$cap")" 'BEGIN { printf "%.2f", b / 1e9 }')
            conns=$(( $(wc -l <"$cap.expected.tsv") / 2 ))
            rows+=("$shape|x$factor|$conns|$gb|$WALL$NOISY|$RSS|$ok")
        done
    done
    {
        echo
        echo "memory growth (output on tmpfs)"
        printf '%-9s %-6s %12s %11s %13s %11s %9s\n' shape length connections "capture GB" "flowsplit s" "RSS MiB" verified
        for r in "${rows[@]}"; do
            IFS='|' read -r -a c <<<"$r"
            printf '%-9s %-6s %12s %11s %13s %11s %9s\n' "${c[@]}"
        done
    } | tee -a "$RESULTS"
fi

# --- a million concurrent connections -----------------------------------------
if [ $DO_MILLION = 1 ]; then
    cap=$(capture concurrent-million 1)
    out=$(outdir_for tmpfs flowsplit-million)
    # A million open connections need about 1.1 GiB of connection state,
    # more than the default budget (--max-memory 1G): without a larger one
    # the least recently active would be evicted and the check would fail.
    mapfile -t cmd < <(flowsplit_cmd "$FLOWSPLIT" "$cap" "$out" --max-memory 2G)
    measure flowsplit-million "$cap" "$out" "${cmd[@]}"
    fs=("$WALL$NOISY" "$RSS" "$RC")
    ok=$(check flowsplit-million "$cap" "$out" --report "$out/report.jsonl")
    [ "${fs[2]}" = 0 ] || ok="no (exit ${fs[2]})"
    discard "$out"
    tf=("-" "-") tok="-"
    if [ $TCPFLOW = 1 ] && [ "${TCPFLOW_MILLION:-0}" = 1 ]; then
        out2=$(outdir_for tmpfs tcpflow-million)
        measure tcpflow-million "$cap" "$out2" tcpflow -r "$cap" -o "$out2"
        tf=("$WALL$NOISY" "$RSS")
        tok=$(check tcpflow-million "$cap" "$out2")
        discard "$out2"
    fi
    conns=$(( $(wc -l <"$cap.expected.tsv") / 2 ))
    {
        echo
        echo "all connections open at once (output on tmpfs)"
        printf '%12s %13s %11s %9s %11s %11s %9s\n' connections "flowsplit s" "RSS MiB" verified "tcpflow s" "tf RSS MiB" "tf ok"
        printf '%12s %13s %11s %9s %11s %11s %9s\n' "$conns" "${fs[0]}" "${fs[1]}" "$ok" "${tf[0]}" "${tf[1]}" "$tok"
    } | tee -a "$RESULTS"
fi

# --- the floor: what the work costs with no program logic at all -------------
# floor_bound SECONDS WHAT: after a floor line, the largest ratio to tcpflow
# any program doing this work could reach here: tcpflow's best time in this
# run (SECONDS, if the table or the memory table measured it) over the
# floor's least wall time on this machine's cores (the floor's last line).
floor_bound() {
    [ -n "$1" ] || return 0
    local least
    least=$(sed -n 's/.*at least \([0-9.]*\) s wall.*/\1/p' "$RESULTS" | tail -n 1)
    [ -n "$least" ] || return 0
    awk -v t="${1%\*}" -v f="$least" -v what="$2" 'BEGIN {
        if (f > 0) printf "%s: %.2f s in this run; a program doing only the work above (at least %.2f s) would be at most %.2fx faster\n", what, t, f, t / f
    }' | tee -a "$RESULTS"
}
if [ $DO_FLOOR = 1 ]; then
    {
        echo
        echo "floor (examples/floor.rs: CPU of reading the capture, sha256 of every flow byte, creating + writing + stamping + closing every flow file on tmpfs)"
    } | tee -a "$RESULTS"
    for shape in $SHAPES; do
        cap=$(capture "$shape" 1)
        wait_quiet
        "$FLOOR" "$cap" "$TMPFS_DIR/floor-$shape" | tee -a "$RESULTS"
        floor_bound "${TCPFLOW_TMPFS[$shape]:-}" "tcpflow on $shape, tmpfs"
    done
    # -e http's floor on the shape of the memory table's -e http rows: the
    # body files' sizes come from a flowsplit -e http run of the capture.
    cap=$(capture small-512 1)
    bodies="$TMPFS_DIR/floor-bodies"
    rm -rf "$bodies"
    "$FLOWSPLIT" -r "$cap" -o "$bodies" -q -e http
    wait_quiet
    "$FLOOR" "$cap" "$TMPFS_DIR/floor-small-512" "$bodies" | tee -a "$RESULTS"
    rm -rf "$bodies"
    floor_bound "$TCPFLOW_HTTP" "tcpflow -e http on small-512 x1"
fi

noisy_note
say "results in $RESULTS"
