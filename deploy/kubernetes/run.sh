#!/bin/bash
# Usage: run.sh [N [FLOWSPLIT OPTIONS...]]
#
# Split /data/capture.pcap (on the PersistentVolumeClaim flowsplit-data)
# over an Indexed Job of N shards (default 8), then merge into /data/out.
# FLOWSPLIT OPTIONS go to every shard as they are (-e http, --tls-keylog F,
# a BPF expression, ...), as deploy/parallel/run.sh and deploy/slurm/run.sh
# pass them; -r, -o, --shard, -i, console output and -w are refused.
set -euo pipefail
die() { echo "run.sh: $*" >&2; exit 2; }
n=${1:-8}
[ $# -ge 1 ] && shift
case $n in ''|*[!0-9]*|0) die "N must be a positive number of shards, not '$n'" ;; esac
for a in "$@"; do
    case $a in
        -r*|-o*|--shard*|-i*|--interface*|-w*)
            die "$a: the Job sets the input, output folder and shard itself, and live capture and -w cannot be split" ;;
        -c|-C|-D|-J|-cD|-CD) die "$a: console output cannot be split into shards" ;;
    esac
done
here=$(dirname "$0")
# Each word quoted for sh: '...' with every ' written as '\''.
quoted=""
for a in "$@"; do
    quoted+="'${a//\'/\'\\\'\'}' "
done
sed -e "s/^  completions: 8$/  completions: $n/" -e "s/^  parallelism: 8$/  parallelism: $n/" \
    "$here/split-job.yaml" |
    kubectl set env --local -f - -o yaml SHARDS="$n" FLOWSPLIT_ARGS="$quoted" |
    kubectl apply -f -
kubectl wait --for=condition=complete --timeout=24h job/flowsplit-split
kubectl apply -f "$here/merge-job.yaml"
kubectl wait --for=condition=complete --timeout=1h job/flowsplit-merge
kubectl logs job/flowsplit-merge
