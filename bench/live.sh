#!/usr/bin/env bash
# Live capture under load (issue 17): replay a generated capture of HTTP
# connections, every address in 127.0.0.0/8, onto the loopback interface with
# tcpreplay at increasing rates while flowsplit (and tcpflow, where installed)
# captures 'tcp port 80', then check every direction written against the
# generator's list (bench_gen verify) and print one line per run: the rate
# tcpreplay reached, the packets dropped by the kernel and by flowsplit, and
# how many directions are byte-exact; with -e http also how many HTTP body
# files equal (name and sha256) those the same tool writes reading the
# capture offline.
#
# Needs root (live capture, tcpreplay). Touches the loopback interface only:
# the generated frames go to a MAC address that is not lo's, so the kernel
# drops them after the capture has seen them and no socket answers. Every
# run is bounded in time (tcpreplay 120 s, the capture 60 s after it).
#
# usage: bench/live.sh [options] [-- extra flowsplit arguments]
#   --rates "R..."         replay rates in Mb/s (default "300 600 1000")
#   --connections N        connections in the capture (default 5000)
#   --modes "M..."         plain, http (-e http) (default "plain http")
#   --tools "T..."         flowsplit, tcpflow (default both; tcpflow if installed)
#   --flowsplit BIN        the flowsplit binary (default target/release/flowsplit, built)
#   --label TEXT           name flowsplit's lines with TEXT (default "flowsplit")
#   --outdir "D..."        folders the tools write their output under, each run
#                          once per folder (default "/dev/shm/flowsplit-bench
#                          /var/tmp/flowsplit-bench-out": tmpfs and the disk,
#                          side by side); each line names the file system
#
# Each packet replayed onto lo passes the interface twice (leaving and
# entering): the kernel counts both, so "received" is twice the frames
# replayed, and libpcap hands over one copy (had it handed both, the second
# would be a retransmission to the reassembler; the output must be exact). tcpflow reports no drop count: its line shows the packets
# it processed (report.xml's total_packets).
#
# Environment: BENCH_DIR (captures and logs, default /tmp/flowsplit-bench).
# Offline reference runs for -e http write under the first --outdir.
set -euo pipefail

die() { echo "bench/live.sh: $*" >&2; exit 2; }
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/tmp/flowsplit-bench}
OUTDIRS="/dev/shm/flowsplit-bench /var/tmp/flowsplit-bench-out"
RATES="300 600 1000"
CONNECTIONS=5000
MODES="plain http"
TOOLS="flowsplit tcpflow"
FLOWSPLIT=""
LABEL=flowsplit
while [ $# -gt 0 ]; do
    case $1 in
        --rates) RATES=$2; shift 2 ;;
        --connections) CONNECTIONS=$2; shift 2 ;;
        --modes) MODES=$2; shift 2 ;;
        --tools) TOOLS=$2; shift 2 ;;
        --flowsplit) FLOWSPLIT=$2; shift 2 ;;
        --label) LABEL=$2; shift 2 ;;
        --outdir) OUTDIRS=$2; shift 2 ;;
        --) shift; break ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done
EXTRA=("$@")
[ "$(id -u)" = 0 ] || die "live capture and tcpreplay need root"
command -v tcpreplay >/dev/null || die "tcpreplay is missing: apt-get install -y tcpreplay"
case " $TOOLS " in
    *" tcpflow "*) command -v tcpflow >/dev/null || { echo "bench/live.sh: tcpflow not installed, skipped" >&2; TOOLS=${TOOLS//tcpflow/}; } ;;
esac

cd "$ROOT"
if [ -z "$FLOWSPLIT" ]; then
    cargo build --release --bin flowsplit --example bench_gen >&2
    FLOWSPLIT=$ROOT/target/release/flowsplit
else
    cargo build --release --example bench_gen >&2
fi
GEN=$ROOT/target/release/examples/bench_gen
# shellcheck disable=SC2086
mkdir -p "$BENCH_DIR" $OUTDIRS
REF_DIR=${OUTDIRS%% *}
CAP=$BENCH_DIR/lo-$CONNECTIONS.pcap
if [ ! -s "$CAP" ] || [ ! -s "$CAP.expected.tsv" ]; then
    "$GEN" --connections "$CONNECTIONS" --loopback -o "$CAP" 2>"$CAP.gen.log" \
        || { cat "$CAP.gen.log" >&2; die "generating $CAP failed"; }
fi
FRAMES=$(sed -n 's/.* \([0-9]*\) frames,.*/\1/p' "$CAP.gen.log")
LOGDIR=$BENCH_DIR/live-logs-$(date +%Y%m%d-%H%M%S)
mkdir -p "$LOGDIR"
OUT=""
PID=""
cleanup() { [ -z "$PID" ] || kill -KILL "$PID" 2>/dev/null || true; [ -z "$OUT" ] || rm -rf "$OUT"; }
trap cleanup EXIT

# wait_for FILE TEXT: wait (at most 15 s) until FILE holds TEXT.
wait_for() {
    local i
    for i in $(seq 150); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}

# bodies DIR: "sha256  name" of every HTTP body file under DIR, sorted.
bodies() {
    (cd "$1" && find . -type f -name '*HTTP*' -print0 | xargs -0 -r sha256sum | LC_ALL=C sort)
}

# reference TOOL: the body list TOOL writes with -e http reading the capture
# offline (made once per capture and tool), which a live capture must equal.
reference() {
    local ref=$BENCH_DIR/ref-bodies-$1-$CONNECTIONS.txt dir=$REF_DIR/ref-out
    if [ ! -s "$ref" ]; then
        rm -rf "$dir"; mkdir -p "$dir"
        if [ "$1" = flowsplit ]; then
            "$FLOWSPLIT" -q -e http -r "$CAP" -o "$dir" 'tcp port 80'
        else
            tcpflow -e http -r "$CAP" -o "$dir" 'tcp port 80' >/dev/null 2>&1
        fi
        bodies "$dir" >"$ref.part" && mv "$ref.part" "$ref"
        rm -rf "$dir"
    fi
    echo "$ref"
}

# run TOOL MODE RATE DIR: one capture of one replay, written under DIR;
# prints the result line.
run() {
    local tool=$1 mode=$2 rate=$3 fs log args=() ready
    fs=$(findmnt -n -o FSTYPE --target "$4" 2>/dev/null | head -n 1)
    [ -n "$fs" ] || fs=$(stat -f -c %T "$4")
    fs=${fs//\//-}
    log=$LOGDIR/$1-$2-$3-$fs
    OUT=$4/live-out
    [ "$mode" = http ] && args=(-e http)
    rm -rf "$OUT"; mkdir -p "$OUT"
    if [ "$tool" = flowsplit ]; then
        timeout -s KILL 200 "$FLOWSPLIT" -i lo -o "$OUT" "${args[@]}" "${EXTRA[@]}" 'tcp port 80' 2>"$log.err" &
        ready="capturing on lo"
    else
        timeout -s KILL 200 tcpflow -i lo -o "$OUT" "${args[@]}" 'tcp port 80' 2>"$log.err" >/dev/null &
        ready="listening on lo"
    fi
    PID=$!
    wait_for "$log.err" "$ready" || die "$tool did not start: $(cat "$log.err")"
    sleep 0.5
    timeout 120 tcpreplay -i lo --mbps="$rate" "$CAP" >"$log.replay" 2>&1 || true
    local actual
    actual=$(awk '/Rated:/ { for (i = 1; i <= NF; i++) if ($i == "Mbps,") print $(i-1) }' "$log.replay")
    # Let the capture catch up (at most 60 s: until the output stops growing), then stop it.
    local last=-1 now i
    for i in $(seq 60); do
        sleep 1
        now=$(du -sb "$OUT" | cut -f1)
        [ "$now" = "$last" ] && break
        last=$now
    done
    kill -INT "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    PID=""
    local verify=(verify "$CAP.expected.tsv" "$OUT")
    [ "$mode" = http ] && verify+=(--http-bodies)
    verify+=(--ignore report.jsonl --ignore report.summary.json --ignore report.xml --ignore alerts.txt)
    "$GEN" "${verify[@]}" >"$log.verify" 2>&1 || true
    local exact
    exact=$(sed -n 's/.*: all \([0-9]*\) directions present and correct/\1 of \1/p; s/.*: \([0-9]* of [0-9]*\) directions correct/\1/p' "$log.verify" | head -n 1)
    local body_check=""
    if [ "$mode" = http ]; then
        # Bodies: the same files with the same bytes as an offline run of the same tool.
        local ref want same
        ref=$(reference "$tool")
        bodies "$OUT" >"$log.bodies"
        want=$(wc -l <"$ref")
        same=$(comm -12 "$ref" "$log.bodies" | wc -l)
        body_check="; bodies exact: $same of $want"
        [ "$(wc -l <"$log.bodies")" = "$want" ] || body_check+=" ($(wc -l <"$log.bodies") written)"
    fi
    local drops
    if [ "$tool" = flowsplit ]; then
        drops=$(sed -n 's/.*: \([0-9]*\) packets received\( ([^)]*)\)\{0,1\}, \([0-9]*\) dropped by kernel, [0-9]* dropped by interface\(, \([0-9]*\) dropped by flowsplit\)\{0,1\}.*/received \1, kernel drops \3, flowsplit drops \5/p' "$log.err")
        drops=${drops%, flowsplit drops }
        [ -n "$drops" ] || drops="(no statistics: $(tail -n 1 "$log.err"))"
    else
        local seen
        seen=$(sed -n 's:.*<total_packets>\([0-9]*\)</total_packets>.*:\1:p' "$OUT/report.xml" 2>/dev/null)
        drops="processed ${seen:-?} packets"
    fi
    local name=$tool
    [ "$tool" = flowsplit ] && name=$LABEL
    printf '%-12s %-6s %-6s %5s Mb/s (tcpreplay: %s): %s; exact: %s directions%s\n' \
        "$name" "$fs" "$mode" "$rate" "${actual:-?}" "$drops" "${exact:-?}" "$body_check"
}

echo "# $(hostname), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $CAP: $CONNECTIONS connections, $FRAMES frames; logs in $LOGDIR"
for mode in $MODES; do
    for rate in $RATES; do
        for dir in $OUTDIRS; do
            for tool in $TOOLS; do
                run "$tool" "$mode" "$rate" "$dir"
            done
        done
    done
done
