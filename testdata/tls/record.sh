#!/usr/bin/env bash
# Record the TLS captures in testdata/tls/ (see testdata/README.md, section
# "tls/: HTTPS captures recorded on loopback").
#
#   sudo testdata/tls/record.sh [CASE...]     (default: every case)
#
# For each case: pick a free port on 127.0.0.1, start
# `tcpdump -i lo --immediate-mode -U -w CASE.pcap 'tcp port PORT'`, start
# server.py (Python's ssl, key log to CASE.keys), run curl against it (its
# SSLKEYLOGFILE also CASE.keys), stop tcpdump with SIGINT. The key log is
# committed beside the capture. Needs root, tcpdump, python3, curl.
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

U=https://flowsplit.test
# name | server.py arguments | curl arguments (URLs use $U, resolved to 127.0.0.1)
CASES=(
"tls13_aes128gcm|--tls 1.3 --connections 1|--tlsv1.3 --tls13-ciphers TLS_AES_128_GCM_SHA256 $U/small.txt $U/gzip.txt $U/big.bin"
"tls13_aes256gcm|--tls 1.3|--tlsv1.3 --tls13-ciphers TLS_AES_256_GCM_SHA384 $U/small.txt -d @server.py $U/echo"
"tls13_chacha20|--tls 1.3|--tlsv1.3 --tls13-ciphers TLS_CHACHA20_POLY1305_SHA256 $U/gzip.txt $U/small.txt"
"tls13_hrr|--tls 1.3 --groups prime256v1|--tlsv1.3 --curves X25519:P-256 $U/small.txt"
"tls13_resumed|--tls 1.3 --connections 2|--tlsv1.3 -H Connection:close $U/small.txt $U/gzip.txt"
"tls12_aes128gcm|--tls 1.2 --ciphers ECDHE-RSA-AES128-GCM-SHA256|--tlsv1.2 --tls-max 1.2 $U/small.txt $U/gzip.txt"
"tls12_aes256gcm|--tls 1.2 --ciphers ECDHE-RSA-AES256-GCM-SHA384|--tlsv1.2 --tls-max 1.2 $U/big.bin"
"tls12_chacha20|--tls 1.2 --ciphers ECDHE-RSA-CHACHA20-POLY1305|--tlsv1.2 --tls-max 1.2 $U/small.txt -d @server.py $U/echo"
"tls12_cbc_sha1|--tls 1.2 --ciphers ECDHE-RSA-AES128-SHA|--tlsv1.2 --tls-max 1.2 $U/small.txt $U/gzip.txt"
"tls12_cbc_sha256|--tls 1.2 --ciphers ECDHE-RSA-AES128-SHA256 --no-etm|--tlsv1.2 --tls-max 1.2 $U/small.txt $U/big.bin"
"tls12_cbc_sha384|--tls 1.2 --ciphers ECDHE-RSA-AES256-SHA384|--tlsv1.2 --tls-max 1.2 $U/gzip.txt"
"tls12_resumed|--tls 1.2 --ciphers ECDHE-RSA-AES128-GCM-SHA256 --connections 2|--tlsv1.2 --tls-max 1.2 -H Connection:close $U/small.txt $U/gzip.txt"
)

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for() {
    for _ in $(seq 200); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "timed out waiting for '$2' in $1" >&2
    return 1
}

record() {
    local name=$1 sargs=$2 cargs=$3 port
    port=$(free_port)
    rm -f "$name.keys"
    tcpdump -i lo --immediate-mode -U -n -Z root -w "$name.pcap" "tcp port $port" 2>"$tmp/tcpdump.err" &
    local dump=$!
    wait_for "$tmp/tcpdump.err" "listening on"
    # shellcheck disable=SC2086
    python3 server.py --port "$port" --keylog "$tmp/server.keys" $sargs >"$tmp/server.out" &
    local srv=$!
    wait_for "$tmp/server.out" ready
    # shellcheck disable=SC2086
    SSLKEYLOGFILE="$name.keys" timeout 20 curl -sS --cacert cert.pem \
        --resolve "flowsplit.test:$port:127.0.0.1" --http1.1 ${cargs//$U/$U:$port} >/dev/null
    wait "$srv"
    sleep 0.5
    kill -INT "$dump"
    wait "$dump" || true
}

for c in "${CASES[@]}"; do
    IFS='|' read -r name sargs cargs <<<"$c"
    if [ $# -gt 0 ] && [[ ! " $* " =~ " $name " ]]; then
        continue
    fi
    echo "== $name"
    record "$name" "$sargs" "$cargs"
done
