#!/bin/sh
# Usage: run.sh CAPTURE WORK [N]   (N shards, default 8: --array=0-(N-1))
set -eu
export CAPTURE=$1 WORK=$2
n=${3:-8}
here=$(dirname "$0")
split=$(sbatch --parsable --export=ALL --array="0-$((n - 1))" "$here/split.sbatch")
sbatch --export=ALL --dependency="afterok:$split" "$here/merge.sbatch"
