#!/bin/sh
# Usage: run.sh CAPTURE OUT [N [FLOWSPLIT OPTIONS...]]
# N shards as N processes on this host with GNU parallel (default: one per
# core), each one worker thread, then the merge into OUT. The shards go to
# OUT.split/ on the same file system, so the merge hard-links their files.
set -eu
capture=$1 out=$2
n=${3:-$(nproc)}
[ $# -ge 3 ] && shift 3 || shift $#
split="$out.split"
rm -rf "$split"
seq 0 $((n - 1)) | parallel --halt now,fail=1 \
    flowsplit -q -j 1 -r "$capture" -o "$split/shard-{}" --shard "{}/$n" "$@"
flowsplit merge -o "$out" "$split"/shard-*
