#!/usr/bin/env bash
# Record the HTTP captures in testdata/http/ (see testdata/README.md,
# section "HTTP captures recorded on loopback").
#
#   sudo testdata/http/record.sh [CASE...]     (default: every case)
#
# For each case of server.py: pick a free port on 127.0.0.1, start
# `tcpdump -i lo --immediate-mode -U -w CASE.pcap 'tcp port PORT'`, start server.py, run
# client.py (one connection), then stop tcpdump with SIGINT and wait for it.
# gap.pcap is gap_raw's capture with one mid-body data packet deleted: the
# one whose TCP payload contains "gap line 0100" (the first line of the
# third of the body's four segments), found with tshark and deleted with
# editcap. Needs root (capturing on lo), tcpdump, python3, tshark and editcap
# (apt-get install -y tcpdump tshark wireshark-common).
#
# The captures are for regeneration only: the tests use the committed files.
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1

here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ $# -gt 0 ]; then
    cases=("$@")
else
    mapfile -t cases < <(python3 server.py --list)
fi

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for FILE TEXT: until FILE contains TEXT (10 s at most).
wait_for() {
    for _ in $(seq 200); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "timed out waiting for '$2' in $1" >&2
    cat "$1" >&2
    return 1
}

record() {
    local case=$1 out=$2 port
    port=$(free_port)
    tcpdump -i lo --immediate-mode -U -n -Z root -w "$out" "tcp port $port" 2>"$tmp/tcpdump.err" &
    local dump=$!
    wait_for "$tmp/tcpdump.err" "listening on"
    python3 server.py --port "$port" --case "$case" >"$tmp/server.out" &
    local srv=$!
    wait_for "$tmp/server.out" ready
    python3 client.py --port "$port" --case "$case"
    wait "$srv"
    sleep 0.5 # let the last packets reach the capture
    kill -INT "$dump"
    wait "$dump" || true
    grep -q "^0 packets dropped by kernel" "$tmp/tcpdump.err" || {
        cat "$tmp/tcpdump.err" >&2
        echo "$case: tcpdump dropped packets" >&2
        return 1
    }
    echo "$case: $(tail -n 3 "$tmp/tcpdump.err" | head -n 1) on port $port -> $out"
}

for case in "${cases[@]}"; do
    if [ "$case" = gap_raw ]; then
        record gap_raw "$tmp/gap_raw.pcap"
        frames=$(tshark -r "$tmp/gap_raw.pcap" -Y 'tcp.payload contains "gap line 0100"' \
            -T fields -e frame.number 2>/dev/null)
        if [ "$(echo "$frames" | wc -w)" -ne 1 ]; then
            echo "gap_raw: expected one frame with 'gap line 0100', got: $frames" >&2
            exit 1
        fi
        editcap "$tmp/gap_raw.pcap" gap.pcap "$frames"
        echo "gap: deleted frame $frames of gap_raw -> gap.pcap"
    else
        record "$case" "$case.pcap"
    fi
done
