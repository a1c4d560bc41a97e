#!/usr/bin/env bash
# The benchmark of issue 5: flowsplit against tcpflow on generated captures
# of interleaved HTTP/1.1 connections, output on tmpfs and on disk, with wall
# time, peak resident memory, and a check of every flow file against the
# generator's expected sha256 list. Too long for CI: tests/bench_smoke.rs runs
# a tiny version of the same generator and check.
#
# Usage: bench/run.sh [MODE] [OPTIONS]
#   (no mode)          the comparison table: each shape x each target
#   --memory-growth    flowsplit's peak RSS on each shape and on a capture twice as long
#   --million          1,000,000 connections all open before any closes (flowsplit only)
#   --floor            the least CPU the work itself takes on this machine (examples/floor.rs):
#                      reading the capture, sha256 of every flow byte, creating and writing the files
#   --all              all four
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
DO_TABLE=0 DO_GROWTH=0 DO_MILLION=0 DO_FLOOR=0

while [ $# -gt 0 ]; do
    case $1 in
        --memory-growth) DO_GROWTH=1 ;;
        --million) DO_MILLION=1 ;;
        --floor) DO_FLOOR=1 ;;
        --all) DO_TABLE=1 DO_GROWTH=1 DO_MILLION=1 DO_FLOOR=1 ;;
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
[ $DO_GROWTH = 1 ] || [ $DO_MILLION = 1 ] || [ $DO_FLOOR = 1 ] || DO_TABLE=1
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
    mapfile -t cmd < <(flowsplit_cmd "$FLOWSPLIT" "$cap" "$out")
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
if [ $DO_FLOOR = 1 ]; then
    {
        echo
        echo "floor (examples/floor.rs: CPU of reading the capture, sha256 of every flow byte, creating + writing + stamping + closing every flow file on tmpfs)"
    } | tee -a "$RESULTS"
    for shape in $SHAPES; do
        cap=$(capture "$shape" 1)
        wait_quiet
        "$FLOOR" "$cap" "$TMPFS_DIR/floor-$shape" | tee -a "$RESULTS"
    done
fi

noisy_note
say "results in $RESULTS"
