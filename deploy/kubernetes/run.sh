#!/bin/sh
# Split /data/capture.pcap (on the PersistentVolumeClaim flowsplit-data)
# over the Indexed Job, then merge into /data/out.
set -eu
here=$(dirname "$0")
kubectl apply -f "$here/split-job.yaml"
kubectl wait --for=condition=complete --timeout=24h job/flowsplit-split
kubectl apply -f "$here/merge-job.yaml"
kubectl wait --for=condition=complete --timeout=1h job/flowsplit-merge
kubectl logs job/flowsplit-merge
