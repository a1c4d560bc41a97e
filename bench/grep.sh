#!/usr/bin/env bash
# flowsplit grep against per-packet search (issue 30): generate the small
# shape with planted tokens (FSGREP-NNNNNN-TK, half of them split across two
# segments, bench_gen --plant), then in one run time
#   flowsplit grep 'FSGREP-[0-9]{6}-TK' (the reassembled streams),
#   ngrep -q -I CAPTURE 'FSGREP-[0-9]{6}-TK' (one packet at a time),
#   tshark -r CAPTURE -Y 'tcp contains "FSGREP-"' (one packet at a time),
#   a plain flowsplit run writing flow files to the disk (what grep is held to),
# each under GNU time, and print wall time, peak RSS and the tokens each
# found out of those planted (split and whole apart). Every tool reads the
# capture from the page cache (read once before).
#
# usage: bench/grep.sh [--connections N] [--tokens N] [--repeat N]
#   --connections N   connections in the capture (default 20000: about 380 MB)
#   --tokens N        tokens planted (default 1000)
#   --repeat N        runs of each tool; the fastest is shown (default 3)
# Environment: BENCH_DIR (capture and logs, default /tmp/flowsplit-bench),
# DISK_DIR (the plain run's output, default /var/tmp/flowsplit-grep-out).
set -euo pipefail

die() { echo "bench/grep.sh: $*" >&2; exit 2; }
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/tmp/flowsplit-bench}
DISK_DIR=${DISK_DIR:-/var/tmp/flowsplit-grep-out}
CONNECTIONS=20000
TOKENS=1000
REPEAT=3
while [ $# -gt 0 ]; do
    case $1 in
        --connections) CONNECTIONS=$2; shift 2 ;;
        --tokens) TOKENS=$2; shift 2 ;;
        --repeat) REPEAT=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done
for t in ngrep tshark /usr/bin/time; do
    command -v "$t" >/dev/null || die "$t is missing: apt-get install -y ngrep tshark time"
done
cd "$ROOT"
cargo build --release --bin flowsplit --example bench_gen >&2
FS=$ROOT/target/release/flowsplit
GEN=$ROOT/target/release/examples/bench_gen
mkdir -p "$BENCH_DIR"
CAP=$BENCH_DIR/grep-$CONNECTIONS-$TOKENS.pcap
if [ ! -s "$CAP" ] || [ ! -s "$CAP.tokens" ]; then
    "$GEN" --connections "$CONNECTIONS" --plant "$TOKENS" -o "$CAP" 2>"$CAP.gen.log" \
        || { cat "$CAP.gen.log" >&2; die "generating $CAP failed"; }
fi
LOG=$BENCH_DIR/grep-logs-$(date +%Y%m%d-%H%M%S)
mkdir -p "$LOG"
PLANTED=$(wc -l <"$CAP.tokens")
SPLIT=$(grep -c 'split$' "$CAP.tokens" || true)
cat "$CAP" >/dev/null

# found FILE: "N (split S, whole W)" for the distinct planted tokens in FILE.
found() {
    local got
    got=$(grep -ao 'FSGREP-[0-9]\{6\}-TK' "$1" | sort -u || true)
    local n s
    n=$(printf '%s\n' "$got" | grep -c . || true)
    s=$(printf '%s\n' "$got" | grep -Fxf <(awk '$2 == "split" { print $1 }' "$CAP.tokens") | grep -c . || true)
    echo "$n of $PLANTED (split $s of $SPLIT, whole $((n - s)) of $((PLANTED - SPLIT)))"
}

# measure NAME CMD...: run CMD $REPEAT times (stdout to NAME.out), keep the
# fastest wall time and its peak RSS; prints the table row.
measure() {
    local name=$1 best="" rss="" i t r
    shift
    for i in $(seq "$REPEAT"); do
        rm -rf "$DISK_DIR"
        /usr/bin/time -f '%e %M' -o "$LOG/$name.time" "$@" >"$LOG/$name.out" 2>"$LOG/$name.err" || true
        read -r t r <"$LOG/$name.time"
        if [ -z "$best" ] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then
            best=$t rss=$r
        fi
    done
    local tokens="-" out=$LOG/$name.out
    if [ "$name" = tshark ]; then
        # tshark prints each matching packet's payload in hex.
        python3 -c 'import sys; sys.stdout.buffer.write(b"\n".join(bytes.fromhex(l.strip().replace(":", "")) for l in sys.stdin if l.strip()))' \
            <"$out" >"$out.bytes"
        out=$out.bytes
    fi
    [ "$name" = "flowsplit-plain" ] || tokens=$(found "$out")
    printf '| %-16s | %8s | %8.1f | %s |\n' "$name" "$best" "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" "$tokens"
}

echo "# $(hostname), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $CAP: $(sed -n 's/.*: \(.*\)/\1/p' "$CAP.gen.log" | tail -n 1); $PLANTED tokens planted, $SPLIT split across segments; best of $REPEAT; logs in $LOG"
echo "| tool             | wall s   | RSS MiB  | tokens found |"
echo "|------------------|----------|----------|--------------|"
measure flowsplit-grep "$FS" grep 'FSGREP-[0-9]{6}-TK' -r "$CAP"
measure ngrep ngrep -q -I "$CAP" 'FSGREP-[0-9]{6}-TK'
measure tshark tshark -r "$CAP" -Y 'tcp contains "FSGREP-"' -T fields -e tcp.payload
measure flowsplit-plain "$FS" -q -r "$CAP" -o "$DISK_DIR"
rm -rf "$DISK_DIR"
