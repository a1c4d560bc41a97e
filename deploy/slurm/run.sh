#!/bin/bash
# Usage: run.sh CAPTURE WORK [N [FLOWSPLIT OPTIONS...]]
#
# Split CAPTURE over a Slurm job array of N shards (default 8), each writing
# WORK/split/shard-K, then merge them into WORK/out in a job that runs once
# every shard has succeeded. CAPTURE and WORK must be on a file system every
# node mounts (WORK/split and WORK/out on the same one: the merge hard-links).
#
# FLOWSPLIT OPTIONS go to every shard as they are (-e http, --tls-keylog F,
# -T TEMPLATE, --max-memory SIZE, a BPF expression, ...), as
# deploy/parallel/run.sh passes them. Options the recipe sets itself or that
# cannot work split are refused here, before anything is submitted: -r, -o,
# --shard, -i (live capture), -c/-C/-D/-J (console output) and -w.
#
# Resources, without editing the scripts: SHARD_CPUS (default 2),
# SHARD_MEM (2G), SHARD_TIME (1:00:00), MERGE_MEM (512M), MERGE_TIME
# (1:00:00), PARTITION (the cluster's default).
#
# A rerun into the same WORK is refused while WORK/out or WORK/split holds
# anything (an earlier run, finished or still running): remove them first,
# or set CLEAN=1 to have this script do it. FLOWSPLIT_BIN names the
# flowsplit binary when it is not on the nodes' PATH.
# If a shard fails, Slurm cancels the merge (--kill-on-invalid-dep=yes)
# instead of leaving it pending; the shard's log says why.
set -euo pipefail

die() { echo "run.sh: $*" >&2; exit 2; }
[ $# -ge 2 ] || die "usage: run.sh CAPTURE WORK [N [FLOWSPLIT OPTIONS...]]"
capture=$1 work=$2
n=${3:-8}
[ $# -ge 3 ] && shift 3 || shift $#
case $n in ''|*[!0-9]*|0) die "N must be a positive number of shards, not '$n'" ;; esac
[ -r "$capture" ] || die "$capture: cannot read the capture"
for a in "$@"; do
    case $a in
        -r*|-o*|--shard*|-i*|--interface*|-w*)
            die "$a: the recipe sets the input, output folder and shard itself, and live capture and -w cannot be split" ;;
        -c|-C|-D|-J|-cD|-CD)
            die "$a: console output cannot be split into shards" ;;
    esac
done
for d in "$work/out" "$work/split"; do
    if [ -d "$d" ] && [ -n "$(ls -A "$d" 2>/dev/null)" ]; then
        if [ "${CLEAN:-0}" = 1 ]; then
            rm -rf "$work/out" "$work/split"
        else
            die "$d exists and is not empty (an earlier run, finished or still running): remove $work/out and $work/split, or rerun with CLEAN=1 once no job of that run is left (squeue)"
        fi
    fi
done
mkdir -p "$work/logs" "$work/split"
# The options, NUL-separated, read back by split.sbatch: any word survives.
args_file=$work/flowsplit.args
if [ $# -gt 0 ]; then printf '%s\0' "$@"; fi >"$args_file"
export CAPTURE=$capture WORK=$work
here=$(cd "$(dirname "$0")" && pwd)
common=(--parsable --export=ALL)
[ -n "${PARTITION:-}" ] && common+=(--partition="$PARTITION")
split=$(sbatch "${common[@]}" --array="0-$((n - 1))" \
    --cpus-per-task="${SHARD_CPUS:-2}" --mem="${SHARD_MEM:-2G}" --time="${SHARD_TIME:-1:00:00}" \
    --output="$work/logs/split-%A_%a.out" "$here/split.sbatch")
merge=$(sbatch "${common[@]}" --dependency="afterok:$split" --kill-on-invalid-dep=yes \
    --mem="${MERGE_MEM:-512M}" --time="${MERGE_TIME:-1:00:00}" \
    --output="$work/logs/merge-%j.out" "$here/merge.sbatch")
echo "split: job array $split ($n shards); merge: job $merge, runs once every shard succeeded (cancelled if one fails)"
echo "logs: $work/logs/split-${split}_K.out and $work/logs/merge-$merge.out; result: $work/out"
