#!/usr/bin/env bash
# Two flowsplit builds side by side on bench/run.sh's captures, to show that a
# change is no slower and uses no more memory: each shape x each target, the
# two builds run alternately (A, B, A, B, ...) so that drift in the machine
# hits both alike, every output checked against the generator's expected
# sha256 list, and one table of best wall time and peak RSS of each.
#
# Usage: bench/compare.sh [OPTIONS] REV_A [REV_B]
#        bench/compare.sh [OPTIONS] --bins BINARY_A BINARY_B
#   REV_A, REV_B             git revisions (REV_B default HEAD); the release
#                            flowsplit of each is built in a temporary git
#                            worktree of that commit: the working tree's
#                            uncommitted changes are not used
#   --bins A B               compare these two flowsplit binaries instead
# Options:
#   --shapes "small large"   shapes to run (default both; also open-4096, open-200k, and
#                            small-512: the small shape with 512 open at once, as in
#                            bench/run.sh --memory)
#   --http                   run both builds with -e http (the flow files are checked;
#                            the HTTP bodies are not in the expected list)
#   --targets "tmpfs disk"   where output goes (default tmpfs)
#   --scale F                scale every capture's length (e.g. 0.01 for a quick trial)
#   -j N                     pass -j N to both builds (default: each one's own default)
# The capture generator and checker (examples/bench_gen.rs) are built from this
# checkout, as bench/run.sh builds them; captures are shared with bench/run.sh.
# Environment:
#   BENCH_DIR   captures, logs, results and the on-disk output (default /tmp/flowsplit-bench);
#               the cargo target folders of the two builds are kept there too
#               (target-A, target-B), so building again is incremental
#   TMPFS_DIR   the tmpfs output folder (default /dev/shm/flowsplit-bench)
#   REPEAT      run each build this many times per case and keep the fastest
#               (default 3; peak RSS is the largest of the runs)
#   QUIET_WAIT  before each measurement, wait up to this many seconds for other
#               processes to leave the CPU alone (default 600; 0 = do not wait)
set -euo pipefail

REPEAT=${REPEAT:-3}
# Settings, captures, measuring and checking: shared with bench/run.sh.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SHAPES="small large"
TARGETS="tmpfs"
SCALE=1
JOBS=""
HTTP=0
BINS=()
REVS=()

while [ $# -gt 0 ]; do
    case $1 in
        --bins) [ $# -ge 3 ] || die "--bins needs two binaries"; BINS=("$2" "$3"); shift 2 ;;
        --shapes) [ $# -ge 2 ] || die "--shapes needs a value"; SHAPES=$2; shift ;;
        --targets) [ $# -ge 2 ] || die "--targets needs a value"; TARGETS=$2; shift ;;
        --scale) [ $# -ge 2 ] || die "--scale needs a value"; SCALE=$2; shift ;;
        -j) [ $# -ge 2 ] || die "-j needs a value"; JOBS=$2; shift ;;
        --http) HTTP=1 ;;
        -h|--help) usage; exit 0 ;;
        -*) die "unknown argument '$1' (see --help)" ;;
        *) REVS+=("$1") ;;
    esac
    shift
done
check_options
if [ ${#BINS[@]} = 2 ]; then
    [ ${#REVS[@]} = 0 ] || die "give either two revisions or --bins, not both"
    for b in "${BINS[@]}"; do [ -x "$b" ] || die "$b is not an executable"; done
else
    case ${#REVS[@]} in
        1) REVS+=(HEAD) ;;
        2) ;;
        *) die "give one or two git revisions, or --bins A B (see --help)" ;;
    esac
fi

# --- tools ------------------------------------------------------------------
need_time
say "building the capture generator"
(cd "$ROOT" && cargo build --release --quiet --example bench_gen) || die "cargo build of bench_gen failed"
GEN=$ROOT/target/release/examples/bench_gen
[ -x "$GEN" ] || die "$GEN missing"

start_run
# Measure copies: a rebuild during the run must not change the binaries.
cp "$GEN" "$LOGDIR/"
GEN=$LOGDIR/bench_gen

# --- the two builds -------------------------------------------------------------
WORKTREES=()
remove_worktrees() {
    local wt
    for wt in ${WORKTREES[@]+"${WORKTREES[@]}"}; do
        [ -e "$wt" ] || continue
        git -C "$ROOT" worktree remove --force "$wt" || rm -rf "$wt"
    done
}
EXIT_HOOKS+=(remove_worktrees)

# build SIDE REV: build the release flowsplit of commit REV in a temporary
# worktree, with the cargo target folder BENCH_DIR/target-SIDE kept between
# runs; copies the binary to LOGDIR/flowsplit-SIDE and sets DESC_SIDE.
build() {
    local side=$1 rev=$2 sha wt
    sha=$(git -C "$ROOT" rev-parse --verify --quiet "$rev^{commit}") || die "'$rev' is not a commit"
    wt=$(mktemp -d "$BENCH_DIR/worktree-$side.XXXXXX")
    WORKTREES+=("$wt")
    git -C "$ROOT" worktree add --quiet --detach "$wt" "$sha" || die "git worktree add $rev failed"
    say "building $side = $rev ($(git -C "$ROOT" log -1 --format='%h %s' "$sha" | cut -c1-70))"
    (cd "$wt" && CARGO_TARGET_DIR=$BENCH_DIR/target-$side cargo build --release --quiet --bin flowsplit) \
        || die "cargo build of $rev failed"
    cp "$BENCH_DIR/target-$side/release/flowsplit" "$LOGDIR/flowsplit-$side"
    git -C "$ROOT" worktree remove --force "$wt"
    printf -v "DESC_$side" '%s' "$rev = $(git -C "$ROOT" log -1 --format='%h %s' "$sha" | cut -c1-100)"
}

if [ ${#BINS[@]} = 2 ]; then
    cp "${BINS[0]}" "$LOGDIR/flowsplit-A"
    cp "${BINS[1]}" "$LOGDIR/flowsplit-B"
    DESC_A="${BINS[0]} (sha256 $(sha256sum "${BINS[0]}" | cut -c1-12))"
    DESC_B="${BINS[1]} (sha256 $(sha256sum "${BINS[1]}" | cut -c1-12))"
else
    build A "${REVS[0]}"
    build B "${REVS[1]}"
fi
BIN_A=$LOGDIR/flowsplit-A BIN_B=$LOGDIR/flowsplit-B
# With --http: what both builds are given, and what the check then leaves out.
FS_ARGS=() VERIFY_ARGS=() HTTP_NOTE=""
if [ $HTTP = 1 ]; then
    FS_ARGS=(-e http) VERIFY_ARGS=(--http-bodies)
    HTTP_NOTE=", flowsplit -e http (flow files checked, not the bodies)"
fi

{
    echo "# flowsplit comparison $STAMP on $(machine_line)"
    echo "# A: $DESC_A"
    echo "# B: $DESC_B"
    folders_line
    echo "# scale $SCALE${JOBS:+, flowsplit -j $JOBS}$HTTP_NOTE; A and B alternately, best of $REPEAT each; wall = process; B/A = B s / A s; logs in $LOGDIR"
} | tee "$RESULTS"
warn_not_tmpfs

# --- the table ----------------------------------------------------------------
rows=() runs=()
for shape in $SHAPES; do
    cap=$(capture "$shape" 1)
    for target in $TARGETS; do
        best_reset A
        best_reset B
        ok_A=yes ok_B=yes
        for r in $(seq 1 "$REPEAT"); do
            for side in A B; do
                bin=BIN_$side
                label=$(repetition_label "$side-$shape-$target" "$r")
                out=$(repetition_label "$(outdir_for "$target" "compare-$side-$shape")" "$r")
                mapfile -t cmd < <(flowsplit_cmd "${!bin}" "$cap" "$out" ${FS_ARGS[@]+"${FS_ARGS[@]}"})
                measure "$label" "$cap" "$out" "${cmd[@]}"
                best_keep "$side"
                # Every run's output is checked, not only the last one's.
                ok=$(check "$label" "$cap" "$out" --report "$out/report.jsonl" ${VERIFY_ARGS[@]+"${VERIFY_ARGS[@]}"})
                [ "$RC" = 0 ] || ok="no (exit $RC)"
                okv=ok_$side
                [ "$ok" = yes ] || [ "${!okv}" != yes ] || printf -v "$okv" '%s' "$ok"
                discard "$out"
            done
        done
        rows+=("$shape|$target|$A_WALL$A_NOISY|$B_WALL$B_NOISY|$(ratio "$A_WALL" "$B_WALL")|$A_RSS|$B_RSS|$ok_A|$ok_B")
        runs+=("$shape $target: A $A_WALLS; B $B_WALLS")
    done
done
{
    echo
    printf '%-9s %-6s %9s %9s %6s %10s %10s %11s %11s\n' \
        shape target "A best s" "B best s" "B/A" "A RSS MiB" "B RSS MiB" "A verified" "B verified"
    for r in "${rows[@]}"; do
        IFS='|' read -r -a c <<<"$r"
        printf '%-9s %-6s %9s %9s %6s %10s %10s %11s %11s\n' "${c[@]}"
    done
    echo
    echo "every run's wall time (s), in the order run:"
    printf '  %s\n' "${runs[@]}"
} | tee -a "$RESULTS"

noisy_note
say "results in $RESULTS"
