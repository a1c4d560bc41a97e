#!/usr/bin/env bash
# Issue 16's TLS shape: -e http throughput on thousands of HTTPS connections
# (real TLS 1.3 records, with their key log) next to -e http on the plain
# small shape, side by side.
#
#   bench/tls.sh [--connections N] [--scale F] [--help]
#
# The TLS capture is examples/tls_bench_gen.rs's (N connections, default
# 20000; 1-3 exchanges each, bodies 2-64 KiB, AES-128-GCM records of 16 KiB
# across 1448-byte segments); the plain one is bench_gen's small shape at
# --scale F (default 0.25). Each runs once under /usr/bin/time as
#   flowsplit -r CAPTURE -o OUT -q -e http [--tls-keylog CAPTURE.keys]
# with output on tmpfs. Columns: capture MB, wall s, capture MB/s, peak RSS
# MiB, and (TLS) whether every body was carved and decrypted
# (tls_bench_gen verify). The last line gives TLS MB/s over plain MB/s:
# issue 16 asks for at least 0.5.
#
# Environment: BENCH_DIR, TMPFS_DIR, QUIET_WAIT (as bench/run.sh); JOBS (-j).
set -euo pipefail

CONNECTIONS=20000
SCALE=0.25
while [ $# -gt 0 ]; do
    case $1 in
        --connections) CONNECTIONS=$2; shift ;;
        --scale) SCALE=$2; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench/tls.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
SHAPES=small TARGETS=tmpfs
check_options
need_time
start_run
cd "$ROOT"
cargo build --release --quiet --bin flowsplit --example bench_gen --example tls_bench_gen
GEN=$ROOT/target/release/examples/bench_gen
TLSGEN=$ROOT/target/release/examples/tls_bench_gen
FS=$ROOT/target/release/flowsplit

tls_cap=$BENCH_DIR/tls-$CONNECTIONS.pcap
if [ ! -s "$tls_cap" ] || [ ! -s "$tls_cap.keys" ]; then
    say "generating $tls_cap"
    "$TLSGEN" --connections "$CONNECTIONS" -o "$tls_cap"
fi
plain_cap=$(capture small 1)

rows=()
row() { # LABEL CAPTURE OUT CMD...
    local label=$1 cap=$2 out=$3 mb ok=-
    shift 3
    measure "$label" "$cap" "$out" "$@"
    mb=$(awk -v b="$(stat -c %s "$cap")" 'BEGIN { printf "%.1f", b / 1048576 }')
    if [ "$label" = tls ]; then
        ok=$("$TLSGEN" verify "$cap" "$out" >/dev/null 2>&1 && echo yes || echo no)
    fi
    rows+=("$label|$mb|$WALL$NOISY|$(awk -v m="$mb" -v w="$WALL" 'BEGIN { printf "%.1f", m / w }')|$RSS|$ok")
    discard "$out"
}
mapfile -t plain_cmd < <(flowsplit_cmd "$FS" "$plain_cap" "$TMPFS_DIR/plain" -e http)
row plain "$plain_cap" "$TMPFS_DIR/plain" "${plain_cmd[@]}"
mapfile -t tls_cmd < <(flowsplit_cmd "$FS" "$tls_cap" "$TMPFS_DIR/tls" -e http --tls-keylog "$tls_cap.keys")
row tls "$tls_cap" "$TMPFS_DIR/tls" "${tls_cmd[@]}"

{
    machine_line
    printf '%-8s %10s %8s %8s %10s %9s\n' shape "capture MB" "wall s" "MB/s" "RSS MiB" verified
    for r in "${rows[@]}"; do
        IFS='|' read -r a b c d e f <<<"$r"
        printf '%-8s %10s %8s %8s %10s %9s\n' "$a" "$b" "$c" "$d" "$e" "$f"
    done
    IFS='|' read -r _ _ _ plain_rate _ _ <<<"${rows[0]}"
    IFS='|' read -r _ _ _ tls_rate _ _ <<<"${rows[1]}"
    awk -v t="$tls_rate" -v p="$plain_rate" 'BEGIN { r = t / p; ok = "no"; if (r >= 0.5) ok = "yes"; printf "TLS / plain byte throughput: %.2f (issue 16: >= 0.5, %s)\n", r, ok }'
} | tee "$RESULTS"
noisy_note
