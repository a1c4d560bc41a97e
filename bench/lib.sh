# The machinery bench/run.sh and bench/compare.sh share, sourced by both (not
# run on its own): settings from the environment, captures from the generator,
# measuring one run (page cache dropped, a quiet machine waited for, wall time
# and peak RSS by /usr/bin/time -v), keeping the best of several runs, and
# checking an output folder against the generator's expected sha256 list.
#
# The sourcing script sets -euo pipefail first, then after parsing its options:
#   check_options      validates SHAPES, TARGETS and SCALE
#   need_time          makes sure /usr/bin/time is there
#   start_run          creates BENCH_DIR, TMPFS_DIR, STAMP, LOGDIR, RESULTS and
#                      DISK_OUT (removed at exit, with the EXIT_HOOKS)
# and sets GEN (the bench_gen binary) before calling capture or check.
#
# Environment (both scripts; see their --help):
#   BENCH_DIR, TMPFS_DIR, REPEAT, QUIET_WAIT

BENCH_SCRIPT=bench/$(basename "$0")
die() { echo "$BENCH_SCRIPT: $*" >&2; exit 2; }
say() { echo "== $*" >&2; }
# usage: the script's header comment, from its second line to set -euo.
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/tmp/flowsplit-bench}
TMPFS_DIR=${TMPFS_DIR:-/dev/shm/flowsplit-bench}
QUIET_WAIT=${QUIET_WAIT:-600}
REPEAT=${REPEAT:-1}
case $REPEAT in ''|*[!0-9]*|0) die "REPEAT must be a positive number" ;; esac
case $QUIET_WAIT in ''|*[!0-9]*) die "QUIET_WAIT must be a number of seconds" ;; esac

# The shapes --shapes accepts: bench_gen's own (--shape), and small-512, the
# small shape with 512 connections open at once instead of 500, as issue 11
# measured it (see gen_args).
SHAPE_CHOICES="small large open-4096 open-200k small-512"

check_options() {
    local s t
    for s in $SHAPES; do
        case " $SHAPE_CHOICES " in
            *" $s "*) ;;
            *) die "unknown shape '$s' (${SHAPE_CHOICES// /, })" ;;
        esac
    done
    for t in $TARGETS; do case $t in tmpfs|disk) ;; *) die "unknown target '$t' (tmpfs, disk)";; esac; done
    awk -v s="$SCALE" 'BEGIN { exit !(s > 0) }' || die "--scale must be a positive number"
}

# --- tools ------------------------------------------------------------------
need_time() {
    if [ ! -x /usr/bin/time ]; then
        say "installing GNU time (for peak RSS)"
        if [ "$(id -u)" = 0 ]; then
            DEBIAN_FRONTEND=noninteractive apt-get install -y time >/dev/null \
                || die "could not install the 'time' package; install it and retry"
        else
            die "/usr/bin/time is missing: install the 'time' package (apt-get install time)"
        fi
    fi
}

# --- the run's folders ----------------------------------------------------------
# Commands run at exit, after the disk output is removed (compare.sh removes
# its worktrees with one).
EXIT_HOOKS=()
on_exit() {
    local h
    [ -z "${DISK_OUT:-}" ] || rm -rf "$DISK_OUT"
    for h in ${EXIT_HOOKS[@]+"${EXIT_HOOKS[@]}"}; do eval "$h" || true; done
}
trap on_exit EXIT

start_run() {
    mkdir -p "$BENCH_DIR" "$TMPFS_DIR" || die "cannot create $BENCH_DIR or $TMPFS_DIR"
    STAMP=$(date +%Y%m%d-%H%M%S)
    LOGDIR=$BENCH_DIR/logs-$STAMP
    mkdir -p "$LOGDIR"
    RESULTS=$BENCH_DIR/results-$STAMP.txt
    # Output on disk is kept until the run ends: ext4 skips inodes freed in the
    # last minutes when it allocates new ones (recently_deleted), so creating
    # 160,000 files right after deleting 160,000 costs minutes of system time and
    # would measure the deletion, not the program.
    DISK_OUT=$BENCH_DIR/out/$STAMP
}

# The results file's lines on the machine and on the output folders.
machine_line() {
    echo "$(hostname): $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
}
folders_line() {
    echo "# tmpfs: $TMPFS_DIR ($(df -h --output=fstype,size "$TMPFS_DIR" | tail -n 1 | xargs)); disk: $BENCH_DIR/out ($(df -h --output=fstype,size "$BENCH_DIR" | tail -n 1 | xargs))"
}
warn_not_tmpfs() {
    local fstype
    fstype=$(df --output=fstype "$TMPFS_DIR" | tail -n 1)
    [ "$fstype" = tmpfs ] || say "warning: $TMPFS_DIR is on $fstype, not tmpfs (set TMPFS_DIR)"
}

# --- captures -----------------------------------------------------------------
# gen_args SHAPE: the generator's arguments for SHAPE, one a line.
gen_args() {
    case $1 in
        small-512) printf '%s\n' --shape small --concurrency 512 ;;
        *) printf '%s\n' --shape "$1" ;;
    esac
}

# capture SHAPE FACTOR: path of the capture of SHAPE with length SCALE*FACTOR,
# generated unless already there.
capture() {
    local shape=$1 factor=$2 scale path args
    scale=$(awk -v a="$SCALE" -v b="$factor" 'BEGIN { printf "%g", a * b }')
    path=$BENCH_DIR/$shape-x$scale.pcap
    mapfile -t args < <(gen_args "$shape")
    if [ -s "$path" ] && [ -s "$path.expected.tsv" ]; then
        say "reusing $path ($(du -h "$path" | cut -f1))"
    else
        say "generating $path"
        "$GEN" "${args[@]}" --scale "$scale" -o "$path" 2>"$path.gen.log" \
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

# best_reset P: forget the runs kept under the prefix P (P_WALL, P_WALL_SYNC,
# P_NOISY, P_RSS, P_RC, P_WALLS).
best_reset() {
    printf -v "${1}_WALL" '%s' ''
    printf -v "${1}_WALL_SYNC" '%s' ''
    printf -v "${1}_NOISY" '%s' ''
    printf -v "${1}_CPU" '%s' ''
    printf -v "${1}_RSS" '%s' 0
    printf -v "${1}_RC" '%s' 0
    printf -v "${1}_WALLS" '%s' ''
}

# best_keep P: add the last measurement to P: P_WALL, P_WALL_SYNC, P_NOISY and
# P_CPU are those of the fastest run, P_RSS the largest, P_RC the first failure's,
# P_WALLS every run's wall time in order.
best_keep() {
    local p=$1 best rc
    best=${p}_WALL rc=${p}_RC
    if [ -z "${!best}" ] || awk -v a="$WALL" -v b="${!best}" 'BEGIN { exit !(a < b) }'; then
        printf -v "${p}_WALL" '%s' "$WALL"
        printf -v "${p}_WALL_SYNC" '%s' "$WALL_SYNC"
        printf -v "${p}_NOISY" '%s' "$NOISY"
        printf -v "${p}_CPU" '%s' "$CPU"
    fi
    best=${p}_RSS
    printf -v "${p}_RSS" '%s' "$(awk -v a="$RSS" -v b="${!best}" 'BEGIN { print (a + 0 > b + 0) ? a : b }')"
    [ "$RC" = 0 ] || [ "${!rc}" != 0 ] || printf -v "${p}_RC" '%s' "$RC"
    best=${p}_WALLS
    printf -v "${p}_WALLS" '%s' "${!best:+${!best} }$WALL$NOISY"
}

# repetition_label LABEL R: LABEL, with ".R" when there is more than one.
repetition_label() {
    if [ "$REPEAT" -gt 1 ]; then echo "$1.$2"; else echo "$1"; fi
}

# measure_best LABEL CAPTURE OUTDIR CMD...: measure REPEAT times, the output
# of repetition r going to OUTDIR.r (OUTDIR with one repetition; CMD's
# arguments say @OUT@ for it); WALL, WALL_SYNC, NOISY and CPU are those of the
# fastest run, RSS the largest, RC the first failure's. OUT is the last
# repetition's output folder, left for checking.
measure_best() {
    local label=$1 cap=$2 base=$3 r a
    local args
    shift 3
    OUT=""
    best_reset BEST
    for r in $(seq 1 "$REPEAT"); do
        [ -n "$OUT" ] && discard "$OUT"
        OUT=$(repetition_label "$base" "$r")
        args=()
        for a in "$@"; do args+=("${a//@OUT@/$OUT}"); done
        measure "$(repetition_label "$label" "$r")" "$cap" "$OUT" "${args[@]}"
        best_keep BEST
    done
    WALL=$BEST_WALL WALL_SYNC=$BEST_WALL_SYNC NOISY=$BEST_NOISY CPU=$BEST_CPU RSS=$BEST_RSS RC=$BEST_RC
}

# check LABEL CAPTURE OUTDIR [VERIFY ARGS...]: "yes" when OUTDIR holds exactly
# the expected files with the expected sha256, else "no". VERIFY ARGS go to
# bench_gen verify: --report FILE (the report must agree too), --http-bodies
# (an -e http folder: its HTTP body files and http.jsonl are left out).
check() {
    local label=$1 cap=$2 out=$3
    shift 3
    if "$GEN" verify "$cap.expected.tsv" "$out" "$@" 2>"$LOGDIR/$label.verify"; then
        echo yes
    else
        say "$label: output differs from the expected list:"
        head -n 6 "$LOGDIR/$label.verify" >&2
        echo no
    fi
}

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

flowsplit_cmd() { # BINARY CAPTURE OUTDIR [ARGS...]: the command line, one word a line
    local cmd=("$1" -r "$2" -o "$3" -q)
    shift 3
    [ -n "${JOBS:-}" ] && cmd+=(-j "$JOBS")
    printf '%s\n' "${cmd[@]}" "$@"
}

# ratio A B: B / A, or "-" when either is missing.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b != "-") printf "%.2f", b / a; else printf "-" }'; }

# noisy_note: the closing line of a results file with a time marked "*".
noisy_note() {
    if grep -q '[0-9]\*' "$RESULTS"; then
        echo "* other processes used the CPU during this measurement (see the logs): repeat it on a quiet machine" | tee -a "$RESULTS"
    fi
}
