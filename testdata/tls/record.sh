#!/usr/bin/env bash
# Record the TLS captures in testdata/tls/ (see testdata/README.md, section
# "tls/: HTTPS captures recorded on loopback").
#
#   sudo testdata/tls/record.sh [CASE...]     (default: every case; "dsb"
#   makes the .dsb.pcapng captures again from the committed ones)
#
# For each case: pick a free port on 127.0.0.1, start
# `tcpdump -i lo --immediate-mode -U -w CASE.pcap 'tcp port PORT'`, start
# server.py (Python's ssl, key log to CASE.keys), run curl against it (its
# SSLKEYLOGFILE also CASE.keys), stop tcpdump with SIGINT. The key log is
# committed beside the capture. Needs root, tcpdump, python3, curl (and
# openssl, nghttpd for the HTTP/2 cases, Debian's python3-h2 for
# h2c_upgrade, editcap for dsb, gnutls-bin for 3DES and RC4, python3-venv
# and PyPI for the SSL 3.0 cases).
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

U=https://flowsplit.test
# The pre-shared key of the PSK cases (s_server/s_client -psk; flowsplit --tls-psk).
PSK=$(cat psk.hex)
# name | server.py arguments | curl arguments (URLs use $U, resolved to 127.0.0.1)
CASES=(
"tls13_aes128gcm|--tls 1.3 --connections 1|--tlsv1.3 --tls13-ciphers TLS_AES_128_GCM_SHA256 $U/small.txt $U/gzip.txt $U/big.bin"
"tls13_aes256gcm|--tls 1.3|--tlsv1.3 --tls13-ciphers TLS_AES_256_GCM_SHA384 $U/small.txt --data-binary @cert.pem $U/echo"
"tls13_chacha20|--tls 1.3|--tlsv1.3 --tls13-ciphers TLS_CHACHA20_POLY1305_SHA256 $U/gzip.txt $U/small.txt"
"tls13_hrr|--tls 1.3 --groups prime256v1|--tlsv1.3 --curves X25519:P-256 $U/small.txt"
"tls13_resumed|--tls 1.3 --connections 2|--tlsv1.3 -H Connection:close $U/small.txt $U/gzip.txt"
"tls12_aes128gcm|--tls 1.2 --ciphers ECDHE-RSA-AES128-GCM-SHA256|--tlsv1.2 --tls-max 1.2 $U/small.txt $U/gzip.txt"
"tls12_aes256gcm|--tls 1.2 --ciphers ECDHE-RSA-AES256-GCM-SHA384|--tlsv1.2 --tls-max 1.2 $U/big.bin"
"tls12_chacha20|--tls 1.2 --ciphers ECDHE-RSA-CHACHA20-POLY1305|--tlsv1.2 --tls-max 1.2 $U/small.txt --data-binary @cert.pem $U/echo"
"tls12_cbc_sha1|--tls 1.2 --ciphers ECDHE-RSA-AES128-SHA|--tlsv1.2 --tls-max 1.2 $U/small.txt $U/gzip.txt"
"tls12_cbc_sha256|--tls 1.2 --ciphers ECDHE-RSA-AES128-SHA256 --no-etm|--tlsv1.2 --tls-max 1.2 $U/small.txt $U/big.bin"
"tls12_cbc_sha384|--tls 1.2 --ciphers ECDHE-RSA-AES256-SHA384|--tlsv1.2 --tls-max 1.2 $U/gzip.txt"
"tls10_cbc|--tls 1.0 --ciphers ECDHE-RSA-AES128-SHA --no-etm|--tlsv1.0 --tls-max 1.0 --ciphers ECDHE-RSA-AES128-SHA:@SECLEVEL=0 $U/small.txt $U/big.bin"
"tls11_cbc|--tls 1.1 --ciphers ECDHE-RSA-AES256-SHA --no-etm|--tlsv1.1 --tls-max 1.1 --ciphers ECDHE-RSA-AES256-SHA:@SECLEVEL=0 $U/small.txt $U/big.bin"
"tls12_ccm|--tls 1.2 --ciphers AES128-CCM|--tlsv1.2 --tls-max 1.2 --ciphers AES128-CCM $U/small.txt $U/gzip.txt"
"tls12_rsa_ccm8|--tls 1.2 --ciphers AES256-CCM8|--tlsv1.2 --tls-max 1.2 --ciphers AES256-CCM8 $U/small.txt $U/big.bin"
"tls12_rsa_gcm|--tls 1.2 --ciphers AES128-GCM-SHA256|--tlsv1.2 --tls-max 1.2 --ciphers AES128-GCM-SHA256 $U/gzip.txt --data-binary @cert.pem $U/echo"
"tls10_rsa_cbc|--tls 1.0 --ciphers AES256-SHA --no-etm|--tlsv1.0 --tls-max 1.0 --ciphers AES256-SHA:@SECLEVEL=0 $U/small.txt $U/gzip.txt"
)
# Cases run with openssl s_server / s_client (see openssl_case): name | s_server
# arguments | s_client arguments | what s_client is fed (printf format; "K" alone
# on a line makes s_client send a KeyUpdate asking for one back).
OPENSSL_CASES=(
"tls12_resumed_id|-tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256 -no_ticket -www|-tls1_2 -reconnect|GET / HTTP/1.0\\r\\n\\r\\n"
"tls12_resumed_ticket|-tls1_2 -cipher ECDHE-RSA-AES256-GCM-SHA384 -www|-tls1_2 -reconnect|GET / HTTP/1.0\\r\\n\\r\\n"
"tls13_keyupdate|-tls1_3 -www|-tls1_3 -ciphersuites TLS_CHACHA20_POLY1305_SHA256|K\\n|GET / HTTP/1.1\\r\\nHost: flowsplit.test\\r\\n\\r\\n"
"tls10_dhe_etm|-tls1 -cipher DHE-RSA-AES256-SHA:@SECLEVEL=0 -www|-tls1 -cipher DHE-RSA-AES256-SHA:@SECLEVEL=0|GET / HTTP/1.0\\r\\n\\r\\n"
"tls13_ccm|-tls1_3 -ciphersuites TLS_AES_128_CCM_SHA256 -www|-tls1_3 -ciphersuites TLS_AES_128_CCM_SHA256|GET / HTTP/1.0\\r\\n\\r\\n"
"tls13_ccm8|-tls1_3 -ciphersuites TLS_AES_128_CCM_8_SHA256 -www|-tls1_3 -ciphersuites TLS_AES_128_CCM_8_SHA256|GET / HTTP/1.0\\r\\n\\r\\n"
"tls12_psk_chacha20|-tls1_2 -nocert -psk $PSK -cipher PSK-CHACHA20-POLY1305 -www|-tls1_2 -psk $PSK -cipher PSK-CHACHA20-POLY1305|GET / HTTP/1.0\\r\\n\\r\\n"
"tls11_psk_cbc|-tls1_1 -nocert -psk $PSK -cipher PSK-AES256-CBC-SHA:@SECLEVEL=0 -no_etm -www|-tls1_1 -psk $PSK -cipher PSK-AES256-CBC-SHA:@SECLEVEL=0|GET / HTTP/1.0\\r\\n\\r\\n"
"tls12_dhe_psk_ccm|-tls1_2 -nocert -psk $PSK -cipher DHE-PSK-AES128-CCM -www|-tls1_2 -psk $PSK -cipher DHE-PSK-AES128-CCM|GET / HTTP/1.0\\r\\n\\r\\n"
"tls12_ecdhe_psk_cbc|-tls1_2 -nocert -psk $PSK -cipher ECDHE-PSK-AES256-CBC-SHA384 -www|-tls1_2 -psk $PSK -cipher ECDHE-PSK-AES256-CBC-SHA384|GET / HTTP/1.0\\r\\n\\r\\n"
"tls12_rsa_renegotiated|-tls1_2 -cipher AES128-GCM-SHA256 -client_renegotiation -no_resumption_on_reneg -www|-tls1_2 -cipher AES128-GCM-SHA256|R\\n|GET / HTTP/1.0\\r\\n\\r\\n"
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

# openssl_case NAME SERVER_ARGS CLIENT_ARGS INPUT...: each INPUT is fed to
# s_client half a second apart (after half a second), then stdin stays open
# a second more.
openssl_case() {
    local name=$1 sargs=$2 cargs=$3 port
    shift 3
    port=$(free_port)
    rm -f "$name.keys"
    tcpdump -i lo --immediate-mode -U -n -Z root -w "$name.pcap" "tcp port $port" 2>"$tmp/tcpdump.err" &
    local dump=$!
    wait_for "$tmp/tcpdump.err" "listening on"
    # shellcheck disable=SC2086
    openssl s_server -accept "$port" -cert cert.pem -key key.pem $sargs >"$tmp/server.out" 2>&1 &
    local srv=$!
    sleep 0.5
    # shellcheck disable=SC2086
    (for i in "$@"; do sleep 0.5; printf "$i"; done; sleep 1) |
        timeout 20 openssl s_client -connect "127.0.0.1:$port" -servername flowsplit.test \
            -keylogfile "$name.keys" $cargs >"$tmp/client.out" 2>&1 || true
    kill "$srv"
    wait "$srv" || true
    # The resumption cases: the first connection's line alone too, for the
    # session cache (the resumed connections' secret is that connection's).
    case $name in
    tls12_resumed_*) grep -v '^#' "$name.keys" | head -n 1 >"$name.first.keys" ;;
    esac
    sleep 0.5
    kill -INT "$dump"
    wait "$dump" || true
}

# tls13_early_data: two connections to one `s_server -early_data` (which
# prints what it gets and answers nothing): the first saves its session, the
# second resumes it and sends early.txt as 0-RTT early data.
early_data_case() {
    local name=tls13_early_data port
    port=$(free_port)
    rm -f "$name.keys"
    tcpdump -i lo --immediate-mode -U -n -Z root -w "$name.pcap" "tcp port $port" 2>"$tmp/tcpdump.err" &
    local dump=$!
    wait_for "$tmp/tcpdump.err" "listening on"
    (sleep 5) | openssl s_server -accept "$port" -cert cert.pem -key key.pem -tls1_3 \
        -early_data -naccept 2 >"$tmp/server.out" 2>&1 &
    local srv=$!
    sleep 0.5
    (sleep 1) | timeout 10 openssl s_client -connect "127.0.0.1:$port" -servername flowsplit.test \
        -tls1_3 -keylogfile "$name.keys" -sess_out "$tmp/sess.pem" >"$tmp/client1.out" 2>&1
    (sleep 1) | timeout 10 openssl s_client -connect "127.0.0.1:$port" -servername flowsplit.test \
        -tls1_3 -keylogfile "$name.keys" -sess_in "$tmp/sess.pem" -early_data early.txt \
        >"$tmp/client2.out" 2>&1
    grep -q "Early data was accepted" "$tmp/client2.out"
    wait "$srv" || true
    sleep 0.5
    kill -INT "$dump"
    wait "$dump" || true
}

# GnuTLS cases: 3DES and RC4, which Debian's OpenSSL 3.0 no longer offers
# (neither library here can do SSL 3.0). gnutls-serv --http (its status page,
# HTTP/1.0 with no Content-Length, ended by the close) and gnutls-cli both
# with priority string PRIO; the client writes the key log (SSLKEYLOGFILE).
# gnutls_case NAME PRIO
gnutls_case() {
    local name=$1 prio=$2 port
    port=$(free_port)
    rm -f "$name.keys"
    tcpdump -i lo --immediate-mode -U -n -Z root -w "$name.pcap" "tcp port $port" 2>"$tmp/tcpdump.err" &
    local dump=$!
    wait_for "$tmp/tcpdump.err" "listening on"
    gnutls-serv --http -p "$port" --x509certfile cert.pem --x509keyfile key.pem \
        --priority "$prio" >"$tmp/server.out" 2>&1 &
    local srv=$!
    wait_for "$tmp/server.out" "listening"
    (sleep 0.5; printf 'GET /gnutls HTTP/1.0\r\n\r\n'; sleep 2) |
        SSLKEYLOGFILE="$name.keys" timeout 20 gnutls-cli -p "$port" --insecure \
            --sni-hostname flowsplit.test --priority "$prio" 127.0.0.1 >"$tmp/client.out" 2>&1 || true
    kill "$srv"
    wait "$srv" || true
    sleep 0.5
    kill -INT "$dump"
    wait "$dump" || true
}

GNUTLS_CASES=(
"tls10_3des|NONE:+VERS-TLS1.0:+3DES-CBC:+ECDHE-RSA:+SHA1:+COMP-NULL:+SIGN-ALL:+GROUP-ALL:%NO_ETM"
"tls12_3des_etm|NONE:+VERS-TLS1.2:+3DES-CBC:+RSA:+SHA1:+COMP-NULL:+SIGN-ALL"
"tls10_rc4|NONE:+VERS-TLS1.0:+ARCFOUR-128:+RSA:+SHA1:+COMP-NULL:+SIGN-ALL"
"tls12_rc4_ecdhe|NONE:+VERS-TLS1.2:+ARCFOUR-128:+ECDHE-RSA:+SHA1:+COMP-NULL:+SIGN-ALL:+GROUP-ALL"
)
for c in "${GNUTLS_CASES[@]}"; do
    IFS='|' read -r name prio <<<"$c"
    if [ $# -gt 0 ] && [[ ! " $* " =~ " $name " ]]; then
        continue
    fi
    echo "== $name"
    gnutls_case "$name" "$prio"
done

# SSL 3.0 cases: no tool here speaks SSL 3.0 (Debian builds OpenSSL with
# no-ssl3, GnuTLS without it), so ssl3.py runs server and client with
# tlslite-ng 0.8.2 (pure Python; installed from PyPI into a venv here) and
# writes the key log line from the client's session.
# ssl3_case NAME CIPHER MAC KEX
ssl3_case() {
    local name=$1 port
    port=$(free_port)
    rm -f "$name.keys"
    if [ ! -x "$tmp/venv/bin/python" ]; then
        python3 -m venv "$tmp/venv"
        "$tmp/venv/bin/pip" install -q tlslite-ng==0.8.2
    fi
    tcpdump -i lo --immediate-mode -U -n -Z root -w "$name.pcap" "tcp port $port" 2>"$tmp/tcpdump.err" &
    local dump=$!
    wait_for "$tmp/tcpdump.err" "listening on"
    timeout 30 "$tmp/venv/bin/python" ssl3.py "$port" "$2" "$3" "$4" "$name.keys"
    sleep 0.5
    kill -INT "$dump"
    wait "$dump" || true
}

SSL3_CASES=(
"ssl30_rsa_aes128|aes128|sha|rsa"
"ssl30_dhe_3des|3des|sha|dhe_rsa"
"ssl30_rsa_rc4_md5|rc4|md5|rsa"
)
for c in "${SSL3_CASES[@]}"; do
    IFS='|' read -r name cipher mac kex <<<"$c"
    if [ $# -gt 0 ] && [[ ! " $* " =~ " $name " ]]; then
        continue
    fi
    echo "== $name"
    ssl3_case "$name" "$cipher" "$mac" "$kex"
done

# TLS 1.2 resumption with bodies tshark exports: server.py --tls 1.2
# --close-notify (SERVER_ARGS added) serving three connections, each an
# `openssl s_client` sending one GET with Connection: close; the first saves
# its session (-sess_out), the second and third resume it (-sess_in), by
# session ID or by ticket. CASE.keys has every connection's line;
# CASE.first.keys only the first connection's, for the session cache.
# resume_case NAME SERVER_ARGS
resume_case() {
    local name=$1 sargs=$2 port
    port=$(free_port)
    rm -f "$name.keys"
    tcpdump -i lo --immediate-mode -U -n -Z root -w "$name.pcap" "tcp port $port" 2>"$tmp/tcpdump.err" &
    local dump=$!
    wait_for "$tmp/tcpdump.err" "listening on"
    # shellcheck disable=SC2086
    python3 server.py --port "$port" --keylog "$tmp/server.keys" --tls 1.2 --close-notify \
        --connections 3 $sargs >"$tmp/server.out" &
    local srv=$!
    wait_for "$tmp/server.out" ready
    local sess="-sess_out $tmp/sess.pem" path
    for path in small.txt gzip.txt big.bin; do
        # shellcheck disable=SC2086
        (sleep 0.3; printf 'GET /%s HTTP/1.1\r\nHost: flowsplit.test\r\nConnection: close\r\n\r\n' "$path"; sleep 1) |
            timeout 10 openssl s_client -connect "127.0.0.1:$port" -servername flowsplit.test \
                -tls1_2 -keylogfile "$name.keys" $sess >"$tmp/client.out" 2>&1 || true
        sess="-sess_in $tmp/sess.pem"
    done
    wait "$srv"
    grep -v '^#' "$name.keys" | head -n 1 >"$name.first.keys"
    sleep 0.5
    kill -INT "$dump"
    wait "$dump" || true
}

RESUME_CASES=(
"tls12_resumed_id_get|--no-ticket --ciphers ECDHE-RSA-AES128-GCM-SHA256"
"tls12_resumed_ticket_get|--ciphers ECDHE-RSA-AES256-GCM-SHA384"
)
for c in "${RESUME_CASES[@]}"; do
    IFS='|' read -r name sargs <<<"$c"
    if [ $# -gt 0 ] && [[ ! " $* " =~ " $name " ]]; then
        continue
    fi
    echo "== $name"
    resume_case "$name" "$sargs"
done

# HTTP/2 cases: nghttpd (nghttp2-server) serving h2docroot/ (made here:
# small.txt, big.bin and push.txt as server.py makes its bodies), curl
# --http2 fetching the URLs (at once on one connection with --parallel). nghttpd
# pads every frame (--padding 16) and pushes /push.txt with /small.txt,
# which curl refuses with RST_STREAM.
# h2_case NAME NGHTTPD_ARGS CURL_ARGS
h2_case() {
    local name=$1 sargs=$2 cargs=$3 port
    port=$(free_port)
    rm -f "$name.keys"
    mkdir -p "$tmp/root"
    python3 -c 'import sys
def gen(tag, n): return "".join(f"{tag} line {i:04d}\n" for i in range(n)).encode()
d = sys.argv[1]
open(d + "/small.txt", "wb").write(gen("small", 60))
open(d + "/push.txt", "wb").write(gen("push", 10))
open(d + "/big.bin", "wb").write(bytes((i * 7) % 251 for i in range(200000)))' "$tmp/root"
    tcpdump -i lo --immediate-mode -U -n -Z root -w "$name.pcap" "tcp port $port" 2>"$tmp/tcpdump.err" &
    local dump=$!
    wait_for "$tmp/tcpdump.err" "listening on"
    # shellcheck disable=SC2086
    nghttpd -a 127.0.0.1 -d "$tmp/root" --padding 16 --push=/small.txt=/push.txt ${sargs//PORT/$port} >"$tmp/server.out" 2>&1 &
    local srv=$!
    sleep 0.5
    # shellcheck disable=SC2086
    SSLKEYLOGFILE="$name.keys" timeout 20 curl -sS --cacert cert.pem \
        --resolve "flowsplit.test:$port:127.0.0.1" ${cargs//PORT/$port} >/dev/null
    # Cleartext: no secrets.
    [ -s "$name.keys" ] || rm -f "$name.keys"
    kill "$srv"
    wait "$srv" || true
    sleep 0.5
    kill -INT "$dump"
    wait "$dump" || true
}

H2_CASES=(
"tls13_h2|PORT key.pem cert.pem|--parallel --http2 https://flowsplit.test:PORT/small.txt https://flowsplit.test:PORT/big.bin https://flowsplit.test:PORT/push.txt"
"h2c_prior_knowledge|--no-tls PORT|--http2-prior-knowledge http://flowsplit.test:PORT/small.txt"
)
for c in "${H2_CASES[@]}"; do
    IFS='|' read -r name sargs cargs <<<"$c"
    if [ $# -gt 0 ] && [[ ! " $* " =~ " $name " ]]; then
        continue
    fi
    echo "== $name"
    h2_case "$name" "$sargs" "$cargs"
done

# h2c_upgrade: cleartext HTTP/2 by HTTP/1.1 Upgrade. nghttpd does not take
# the upgrade (it sends its SETTINGS at once), so h2c_server.py (Debian's
# python3-h2) serves it: curl --http2 asks for /small.txt with Upgrade: h2c,
# gets 101 and the answer on stream 1, then /big.bin on stream 3 of the same
# connection.
if [ $# -eq 0 ] || [[ " $* " =~ " h2c_upgrade " ]]; then
    echo "== h2c_upgrade"
    port=$(free_port)
    tcpdump -i lo --immediate-mode -U -n -Z root -w h2c_upgrade.pcap "tcp port $port" 2>"$tmp/tcpdump.err" &
    dump=$!
    wait_for "$tmp/tcpdump.err" "listening on"
    /usr/bin/python3 h2c_server.py "$port" >"$tmp/server.out" 2>&1 &
    srv=$!
    wait_for "$tmp/server.out" ready
    timeout 20 curl -sS --http2 --resolve "flowsplit.test:$port:127.0.0.1" \
        "http://flowsplit.test:$port/small.txt" "http://flowsplit.test:$port/big.bin" >/dev/null
    wait "$srv" || true
    sleep 0.5
    kill -INT "$dump"
    wait "$dump" || true
fi

if [ $# -eq 0 ] || [[ " $* " =~ " tls13_early_data " ]]; then
    echo "== tls13_early_data"
    early_data_case
fi

for c in "${OPENSSL_CASES[@]}"; do
    IFS='|' read -r -a f <<<"$c"
    if [ $# -gt 0 ] && [[ ! " $* " =~ " ${f[0]} " ]]; then
        continue
    fi
    echo "== ${f[0]}"
    openssl_case "${f[@]}"
done

for c in "${CASES[@]}"; do
    IFS='|' read -r name sargs cargs <<<"$c"
    if [ $# -gt 0 ] && [[ ! " $* " =~ " $name " ]]; then
        continue
    fi
    echo "== $name"
    record "$name" "$sargs" "$cargs"
done

# Decryption Secrets Blocks: captures carrying their key log (pcapng), made
# from the captures above with `editcap --inject-secrets tls,KEYLOG` (after
# them, so they follow a case recorded again): the resumption case with its
# first connection's line alone (the rest come through the session cache),
# and tls13_resumed with its first connection's secrets alone (the second's
# are the tests' key log: the two sources merge). Needs editcap (Wireshark).
# dsb_case NAME KEYLOG
dsb_case() {
    editcap --inject-secrets "tls,$2" "$1.pcap" "$1.dsb.pcapng"
}
if [ $# -eq 0 ] || [[ " $* " =~ " dsb " ]]; then
    echo "== dsb"
    dsb_case tls12_resumed_id_get tls12_resumed_id_get.first.keys
    first=$(grep -m1 '^[A-Z_]* ' tls13_resumed.keys | cut -d' ' -f2)
    grep " $first " tls13_resumed.keys >"$tmp/first.keys"
    dsb_case tls13_resumed "$tmp/first.keys"
fi
