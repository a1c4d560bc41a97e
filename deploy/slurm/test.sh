#!/bin/bash
# The Slurm recipe on a real one-node cluster (issue 32), run by .ci/run as
# root after the test suite: start munged, slurmctld and slurmd from
# Debian's slurm-wlm and munge with a configuration for this host alone,
# then
#   1. run.sh CAPTURE WORK 3 -e http 'tcp port 80' and compare the merged
#      folder with a single run of the same command line (every file byte for
#      byte; report.xml, which names the output folder in each path, with
#      that folder's name replaced);
#   2. a rerun into the same WORK is refused at submit time;
#   3. a shard that fails (FLOWSPLIT_BIN fails for shard 1) gets the merge
#      cancelled (JobState=CANCELLED), not left pending, and its log says why;
# and stop the daemons it started, whatever happened. Every wait is bounded.
#
# usage: deploy/slurm/test.sh FLOWSPLIT_BINARY CAPTURE
set -euo pipefail

die() { echo "deploy/slurm/test.sh: $*" >&2; exit 1; }
[ $# -eq 2 ] || die "usage: test.sh FLOWSPLIT_BINARY CAPTURE"
[ "$(id -u)" = 0 ] || die "needs root (it starts the Slurm and munge daemons)"
bin=$(realpath "$1") capture=$(realpath "$2")
here=$(cd "$(dirname "$0")" && pwd)
for t in munged slurmctld slurmd sbatch squeue scontrol; do
    command -v "$t" >/dev/null || die "$t is missing: apt-get install -y slurm-wlm munge"
done

tmp=$(mktemp -d /var/tmp/flowsplit-slurm.XXXXXX)
chmod 755 "$tmp"
conf=$tmp/slurm.conf
export SLURM_CONF=$conf
# stop PIDFILE: end the daemon whose pid PIDFILE holds, waiting (at most
# 10 s) until it has gone.
stop() {
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 0
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
    scancel --user=root >/dev/null 2>&1 || true
    stop "$tmp/slurmd.pid"
    stop "$tmp/slurmctld.pid"
    stop "$tmp/munge/munged.pid"
    rm -rf "$tmp"
}
trap cleanup EXIT

host=$(hostname -s)
mem=$(awk '/MemTotal/ { print int($2 / 1024) - 1024 }' /proc/meminfo)
mkdir -p "$tmp/ctld" "$tmp/d" "$tmp/munge" "$tmp/bin"
cat >"$conf" <<EOF
ClusterName=flowsplit-test
SlurmctldHost=$host
AuthType=auth/munge
AuthInfo=socket=$tmp/munge/munge.socket
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmUser=root
SlurmdUser=root
SlurmctldPort=16817
SlurmdPort=16818
StateSaveLocation=$tmp/ctld
SlurmdSpoolDir=$tmp/d
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/slurmctld.log
SlurmdLogFile=$tmp/slurmd.log
ReturnToService=2
MpiDefault=none
MinJobAge=3600
NodeName=$host CPUs=$(nproc) RealMemory=$mem State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
# munge with a key and socket of its own, so a munged already running is untouched.
dd if=/dev/urandom of="$tmp/munge/munge.key" bs=1024 count=1 status=none
chown -R munge:munge "$tmp/munge" 2>/dev/null || true
chmod 700 "$tmp/munge"
chmod 400 "$tmp/munge/munge.key"
munge_args=(--key-file="$tmp/munge/munge.key" --socket="$tmp/munge/munge.socket"
    --pid-file="$tmp/munge/munged.pid" --log-file="$tmp/munge/munged.log"
    --seed-file="$tmp/munge/munged.seed" --force)
if id munge >/dev/null 2>&1; then
    su -s /bin/sh munge -c "/usr/sbin/munged $(printf '%q ' "${munge_args[@]}")"
else
    /usr/sbin/munged "${munge_args[@]}"
fi
for _ in $(seq 50); do [ -s "$tmp/munge/munged.pid" ] && break; sleep 0.1; done
slurmctld -f "$conf"
slurmd -f "$conf"
for _ in $(seq 60); do
    sinfo -h -o %t 2>/dev/null | grep -qx idle && break
    sleep 1
done
sinfo -h -o %t | grep -qx idle || { cat "$tmp"/*.log >&2; die "the one-node cluster did not come up"; }

# wait_idle: until no job is queued or running (at most 5 minutes).
wait_idle() {
    for _ in $(seq 300); do
        [ -z "$(squeue -h)" ] && return 0
        sleep 1
    done
    squeue >&2
    die "jobs still queued after 5 minutes"
}
ln -s "$bin" "$tmp/bin/flowsplit"
export PATH=$tmp/bin:$PATH

echo "== 1. three shards with -e http and a filter, merged, equal a single run"
work=$tmp/work
"$here/run.sh" "$capture" "$work" 3 -e http 'tcp port 80'
wait_idle
[ -d "$work/out" ] || { cat "$work"/logs/* >&2; die "no merged folder"; }
"$bin" -q -e http -r "$capture" -o "$tmp/single" 'tcp port 80'
sed -i "s#$tmp/single/#OUT/#g" "$tmp/single/report.xml"
sed -i "s#$work/out/#OUT/#g" "$work/out/report.xml"
diff -r "$tmp/single" "$work/out" >&2 || die "the merged folder differs from a single run"
bodies=$(find "$work/out" -name '*HTTPBODY*' | wc -l)
[ "$bodies" -gt 0 ] || die "no HTTP body in the merged folder: -e http was not passed"
echo "merged equals single: $(find "$work/out" -type f | wc -l) files, $bodies HTTP bodies"

echo "== 2. a rerun into the same WORK is refused at submit time"
if "$here/run.sh" "$capture" "$work" 3 2>"$tmp/rerun.err"; then
    die "the rerun was submitted"
fi
grep -q "exists and is not empty" "$tmp/rerun.err" || die "no clear message: $(cat "$tmp/rerun.err")"
cat "$tmp/rerun.err"

echo "== 3. a failing shard gets the merge cancelled"
cat >"$tmp/failing" <<EOF
#!/bin/sh
[ "\${SLURM_ARRAY_TASK_ID:-}" = 1 ] && { echo "shard 1 fails on purpose" >&2; exit 3; }
exec "$bin" "\$@"
EOF
chmod +x "$tmp/failing"
out=$(FLOWSPLIT_BIN=$tmp/failing "$here/run.sh" "$capture" "$tmp/work2" 2)
echo "$out"
merge=$(echo "$out" | sed -n 's/.*merge: job \([0-9]*\),.*/\1/p')
[ -n "$merge" ] || die "run.sh did not print the merge job's id"
wait_idle
state=$(scontrol show job "$merge" | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
[ "$state" = CANCELLED ] || die "the merge job is $state, not CANCELLED"
[ ! -e "$tmp/work2/out" ] || die "the merge ran"
grep -q "shard 1 fails on purpose" "$tmp"/work2/logs/split-*_1.out || die "the failed shard's log does not say why"
echo "merge job $merge: $state; shard log: $(cat "$tmp"/work2/logs/split-*_1.out)"
echo "deploy/slurm/test.sh: all passed"
