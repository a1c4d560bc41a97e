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
#   --shapes "small large"   shapes to run (default both)
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

die() { echo "bench/run.sh: $*" >&2; exit 2; }
say() { echo "== $*" >&2; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/tmp/flowsplit-bench}
TMPFS_DIR=${TMPFS_DIR:-/dev/shm/flowsplit-bench}
QUIET_WAIT=${QUIET_WAIT:-600}
REPEAT=${REPEAT:-1}
case $REPEAT in ''|*[!0-9]*|0) die "REPEAT must be a positive number" ;; esac
case $QUIET_WAIT in ''|*[!0-9]*) die "QUIET_WAIT must be a number of seconds" ;; esac
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
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
    shift
done
[ $DO_GROWTH = 1 ] || [ $DO_MILLION = 1 ] || [ $DO_FLOOR = 1 ] || DO_TABLE=1
for s in $SHAPES; do case $s in small|large) ;; *) die "unknown shape '$s' (small, large)";; esac; done
for t in $TARGETS; do case $t in tmpfs|disk) ;; *) die "unknown target '$t' (tmpfs, disk)";; esac; done
awk -v s="$SCALE" 'BEGIN { exit !(s > 0) }' || die "--scale must be a positive number"

# --- tools ------------------------------------------------------------------
if [ ! -x /usr/bin/time ]; then
    say "installing GNU time (for peak RSS)"
    if [ "$(id -u)" = 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y time >/dev/null \
            || die "could not install the 'time' package; install it and retry"
    else
        die "/usr/bin/time is missing: install the 'time' package (apt-get install time)"
    fi
fi
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

mkdir -p "$BENCH_DIR" "$TMPFS_DIR" || die "cannot create $BENCH_DIR or $TMPFS_DIR"
STAMP=$(date +%Y%m%d-%H%M%S)
LOGDIR=$BENCH_DIR/logs-$STAMP
mkdir -p "$LOGDIR"
# Measure copies: a rebuild of target/ during the run must not change the binaries.
cp "$FLOWSPLIT" "$GEN" "$FLOOR" "$LOGDIR/"
FLOWSPLIT=$LOGDIR/flowsplit GEN=$LOGDIR/bench_gen FLOOR=$LOGDIR/floor
RESULTS=$BENCH_DIR/results-$STAMP.txt

# --- captures -----------------------------------------------------------------
# capture SHAPE FACTOR: path of the capture of SHAPE with length SCALE*FACTOR,
# generated unless already there.
capture() {
    local shape=$1 factor=$2 scale path
    scale=$(awk -v a="$SCALE" -v b="$factor" 'BEGIN { printf "%g", a * b }')
    path=$BENCH_DIR/$shape-x$scale.pcap
    if [ -s "$path" ] && [ -s "$path.expected.tsv" ]; then
        say "reusing $path ($(du -h "$path" | cut -f1))"
    else
        say "generating $path"
        "$GEN" --shape "$shape" --scale "$scale" -o "$path" 2>"$path.gen.log" \
            || { cat "$path.gen.log" >&2; die "generating $path failed"; }
        tail -n 1 "$path.gen.log" >&2
    fi
    echo "$path"
}

# --- measuring ----------------------------------------------------------------
# User-space CPU time of the whole machine so far, in clock ticks (user and
# nice of /proc/stat's first line). System time is left out: the kernel's
# writeback of the measured program's own files would count as interference.
busy_ticks() { awk '/^cpu / { print $2 + $3; exit }' /proc/stat; }
TICKS=$(getconf CLK_TCK)

# wait_quiet: on a shared machine, wait (at most QUIET_WAIT seconds) until
# other processes use less than a tenth of a core over five seconds.
wait_quiet() {
    local waited=0 b0 b1
    [ "$QUIET_WAIT" -gt 0 ] || return 0
    while :; do
        b0=$(busy_ticks)
        sleep 5
        b1=$(busy_ticks)
        [ $((b1 - b0)) -lt $((TICKS / 2)) ] && return 0
        if [ "$waited" -ge "$QUIET_WAIT" ]; then
            say "the machine is still busy after ${QUIET_WAIT} s: measuring anyway"
            return 0
        fi
        [ "$waited" = 0 ] && say "other processes are using the CPU: waiting up to ${QUIET_WAIT} s for quiet"
        waited=$((waited + 5))
    done
}

# measure LABEL CAPTURE OUTDIR CMD...: run CMD (output into OUTDIR, removed
# first) under /usr/bin/time -v with the capture in the page cache; sets
# WALL (s, the process), WALL_SYNC (s, until the written data is on disk),
# RSS (MiB), RC (exit status), CPU (s, user + system of CMD) and OTHER (s of
# user CPU the rest of the machine used meanwhile: another build or test
# running alongside makes the figures unreliable, and NOISY is then "*").
measure() {
    local label=$1 cap=$2 out=$3 t0 t1 t2 b0 b1
    shift 3
    rm -rf "$out"
    mkdir -p "$(dirname "$out")"
    # Every measurement starts from the same memory state: earlier outputs
    # and other captures leave the page cache (kept, they made the kernel
    # reclaim memory during later measurements, doubling their CPU time),
    # then this capture is read into it. Only the page cache is dropped:
    # dropping the inode caches too makes the next run pay for rebuilding them.
    sync
    if [ -w /proc/sys/vm/drop_caches ]; then echo 1 >/proc/sys/vm/drop_caches; fi
    wait_quiet
    # Read last, just before the run: some machines page out memory left
    # untouched for a while (this project's VM does after 60 s, by DAMON).
    cat "$cap" >/dev/null
    b0=$(busy_ticks)
    t0=$(date +%s.%N)
    if /usr/bin/time -v -o "$LOGDIR/$label.time" "$@" >"$LOGDIR/$label.out" 2>"$LOGDIR/$label.err"; then
        RC=0
    else
        RC=$?
    fi
    t1=$(date +%s.%N)
    b1=$(busy_ticks)
    sync
    t2=$(date +%s.%N)
    WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    WALL_SYNC=$(awk -v a="$t0" -v b="$t2" 'BEGIN { printf "%.2f", b - a }')
    RSS=$(awk -F: '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$LOGDIR/$label.time")
    RSS=${RSS:-?}
    CPU=$(awk -F: '/User time|System time/ { s += $2 } END { printf "%.2f", s }' "$LOGDIR/$label.time")
    OTHER=$(awk -v b0="$b0" -v b1="$b1" -v hz="$TICKS" -v cpu="$(awk -F: '/User time/ { print $2 }' "$LOGDIR/$label.time")" \
        'BEGIN { o = (b1 - b0) / hz - cpu; printf "%.1f", o < 0 ? 0 : o }')
    if [ "$RC" != 0 ]; then
        say "$label: exit status $RC (see $LOGDIR/$label.err):"
        tail -n 5 "$LOGDIR/$label.err" >&2 || true
    fi
    say "$label: ${WALL} s (${WALL_SYNC} s with sync), CPU ${CPU} s, peak RSS ${RSS} MiB; other processes used ${OTHER} s of CPU meanwhile"
    # More than a second, and more than a tenth of a core, is interference.
    NOISY=$(awk -v o="$OTHER" -v w="$WALL" 'BEGIN { print (o > 1 && o > 0.1 * w) ? "*" : "" }')
}

# measure_best LABEL CAPTURE OUTDIR CMD...: measure REPEAT times, the output
# of repetition r going to OUTDIR.r (OUTDIR with one repetition; CMD's
# arguments say @OUT@ for it); WALL, WALL_SYNC and NOISY are those of the
# fastest run, RSS the largest, RC the first failure's. OUT is the last
# repetition's output folder, left for checking.
measure_best() {
    local label=$1 cap=$2 base=$3 r a best_wall="" best_sync="" best_noisy="" max_rss=0 rc=0
    local args
    shift 3
    OUT=""
    for r in $(seq 1 "$REPEAT"); do
        [ -n "$OUT" ] && discard "$OUT"
        OUT=$base
        [ "$REPEAT" -gt 1 ] && OUT=$base.$r
        args=()
        for a in "$@"; do args+=("${a//@OUT@/$OUT}"); done
        measure "$label$([ "$REPEAT" -gt 1 ] && echo ".$r")" "$cap" "$OUT" "${args[@]}"
        [ "$RC" = 0 ] || [ "$rc" != 0 ] || rc=$RC
        if [ -z "$best_wall" ] || awk -v a="$WALL" -v b="$best_wall" 'BEGIN { exit !(a < b) }'; then
            best_wall=$WALL best_sync=$WALL_SYNC best_noisy=$NOISY
        fi
        max_rss=$(awk -v a="$RSS" -v b="$max_rss" 'BEGIN { print (a + 0 > b + 0) ? a : b }')
    done
    WALL=$best_wall WALL_SYNC=$best_sync NOISY=$best_noisy RSS=$max_rss RC=$rc
}

# check LABEL CAPTURE OUTDIR [REPORT]: "yes" when OUTDIR holds exactly the
# expected files with the expected sha256 (and the report agrees), else "no".
check() {
    local label=$1 cap=$2 out=$3 report=${4:-}
    local args=("$cap.expected.tsv" "$out")
    [ -n "$report" ] && args+=(--report "$report")
    if "$GEN" verify "${args[@]}" 2>"$LOGDIR/$label.verify"; then
        echo yes
    else
        say "$label: output differs from the expected list:"
        head -n 6 "$LOGDIR/$label.verify" >&2
        echo no
    fi
}

# Output on disk is kept until the run ends: ext4 skips inodes freed in the
# last minutes when it allocates new ones (recently_deleted), so creating
# 160,000 files right after deleting 160,000 costs minutes of system time and
# would measure the deletion, not the program.
DISK_OUT=$BENCH_DIR/out/$STAMP
trap 'rm -rf "$DISK_OUT"' EXIT

outdir_for() { # TARGET NAME
    case $1 in
        tmpfs) echo "$TMPFS_DIR/$2" ;;
        disk) echo "$DISK_OUT/$2" ;;
    esac
}

discard() { # OUTDIR: remove it now if it is on tmpfs (disk output waits for the end)
    case $1 in
        "$TMPFS_DIR"/*) rm -rf "$1" ;;
    esac
}

flowsplit_cmd() { # CAPTURE OUTDIR
    local cmd=("$FLOWSPLIT" -r "$1" -o "$2" -q)
    [ -n "$JOBS" ] && cmd+=(-j "$JOBS")
    printf '%s\n' "${cmd[@]}"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b != "-") printf "%.2f", b / a; else printf "-" }'; }

{
    echo "# flowsplit benchmark $STAMP on $(hostname): $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "# flowsplit $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?'); $(if command -v tcpflow >/dev/null; then { tcpflow -V 2>&1 || true; } | head -n 1; else echo 'no tcpflow'; fi)"
    echo "# tmpfs: $TMPFS_DIR ($(df -h --output=fstype,size "$TMPFS_DIR" | tail -n 1 | xargs)); disk: $BENCH_DIR/out ($(df -h --output=fstype,size "$BENCH_DIR" | tail -n 1 | xargs))"
    echo "# scale $SCALE${JOBS:+, flowsplit -j $JOBS}; best of $REPEAT; wall = process; ratio = tcpflow s / flowsplit s; +sync = until the data is on disk; logs in $LOGDIR"
} | tee "$RESULTS"
fstype=$(df --output=fstype "$TMPFS_DIR" | tail -n 1)
[ "$fstype" = tmpfs ] || say "warning: $TMPFS_DIR is on $fstype, not tmpfs (set TMPFS_DIR)"

# --- the comparison table -----------------------------------------------------
if [ $DO_TABLE = 1 ]; then
    rows=()
    for shape in $SHAPES; do
        cap=$(capture "$shape" 1)
        for target in $TARGETS; do
            out=$(outdir_for "$target" "flowsplit-$shape")
            mapfile -t cmd < <(flowsplit_cmd "$cap" @OUT@)
            measure_best "flowsplit-$shape-$target" "$cap" "$out" "${cmd[@]}"
            out=$OUT
            fs=("$WALL$NOISY" "$WALL_SYNC" "$RSS" "$RC")
            ok=$(check "flowsplit-$shape-$target" "$cap" "$out" "$out/report.jsonl")
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
        printf '%-6s %-6s %13s %13s %7s %11s %11s %9s %9s %11s %11s %11s\n' \
            shape target "flowsplit s" "tcpflow s" ratio "fs RSS MiB" "tf RSS MiB" verified "tf ok" "fs+sync s" "tf+sync s" "sync ratio"
        for r in "${rows[@]}"; do
            IFS='|' read -r -a c <<<"$r"
            printf '%-6s %-6s %13s %13s %7s %11s %11s %9s %9s %11s %11s %11s\n' "${c[@]}"
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
            mapfile -t cmd < <(flowsplit_cmd "$cap" @OUT@)
            measure_best "growth-$shape-x$factor" "$cap" "$out" "${cmd[@]}"
            out=$OUT
            ok=$(check "growth-$shape-x$factor" "$cap" "$out" "$out/report.jsonl")
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
        printf '%-6s %-6s %12s %11s %13s %11s %9s\n' shape length connections "capture GB" "flowsplit s" "RSS MiB" verified
        for r in "${rows[@]}"; do
            IFS='|' read -r -a c <<<"$r"
            printf '%-6s %-6s %12s %11s %13s %11s %9s\n' "${c[@]}"
        done
    } | tee -a "$RESULTS"
fi

# --- a million concurrent connections -----------------------------------------
if [ $DO_MILLION = 1 ]; then
    cap=$(capture concurrent-million 1)
    out=$(outdir_for tmpfs flowsplit-million)
    mapfile -t cmd < <(flowsplit_cmd "$cap" "$out")
    measure flowsplit-million "$cap" "$out" "${cmd[@]}"
    fs=("$WALL$NOISY" "$RSS" "$RC")
    ok=$(check flowsplit-million "$cap" "$out" "$out/report.jsonl")
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

if grep -q '[0-9]\*' "$RESULTS"; then
    echo "* other processes used the CPU during this measurement (see the logs): repeat it on a quiet machine" | tee -a "$RESULTS"
fi
say "results in $RESULTS"
