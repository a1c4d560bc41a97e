#!/usr/bin/env bash
# Fill fuzz/corpus/<target>/ with starting inputs: the captures in testdata/
# for capture_pipeline, a few HTTP exchanges for http, templates for naming,
# the RSA key files of testdata/tls/ for tls_keys, key logs in Decryption
# Secrets Blocks for dsb.
# Run from anywhere; corpus folders are not committed (see .gitignore).
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p corpus/capture_pipeline corpus/http corpus/naming corpus/tls_keys
cp ../testdata/tls/key.pem ../testdata/tls/key_pkcs1.* ../testdata/tls/key_pkcs8.der ../testdata/tls/other_key.pem corpus/tls_keys/
cp ../testdata/*.pcap ../testdata/*.pcapng corpus/capture_pipeline/
for d in ../testdata/fuzz/capture_pipeline ../testdata/hostile; do
    [ -d "$d" ] && find "$d" -type f ! -name '*.md' -exec cp {} corpus/capture_pipeline/ \;
done
python3 - <<'PY'
import gzip, struct, zlib
def seed(name, req, resp):
    with open("corpus/http/" + name, "wb") as f:
        f.write(struct.pack("<H", len(req)) + req + resp)
seed("get", b"GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n",
     b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\nhello")
seed("chunked", b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n",
     b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n"
     b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
seed("gzip", b"GET /z HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n",
     b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
     % len(gzip.compress(b'{"a": 1}' * 50)) + gzip.compress(b'{"a": 1}' * 50))
d = zlib.compress(b"deflated body " * 20)
seed("deflate_post", b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\nabcd",
     b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nContent-Length: %d\r\n\r\n" % len(d) + d)
seed("head_close", b"HEAD / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n",
     b"HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\nHTTP/1.0 200 OK\r\n\r\nbody until close")
seed("connect", b"CONNECT host:443 HTTP/1.1\r\nHost: host:443\r\n\r\n\x16\x03\x01binary",
     b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x03more")
seed("holes", b"GET / HTTP/1.1\r\nHo\x00\x00\x00\x00st: x\r\n\r\n",
     b"garbage\x00\x00HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc")
PY
printf '%%A.%%a-%%B.%%b%%V%%v%%C%%c\0\x05\x0a\x00\x00\x01\x0a\x00\x00\x02\x40\x9c\x50\x00\x64\x00\x02\x00\x00\x00' > corpus/naming/default
printf '%%T/%%t_%%N%%K%%M%%L/%%#%%%%\0\x03' > corpus/naming/time
printf '%%A/%%B/.%%V%%c\0\x07' > corpus/naming/dots
printf 'x%%v%%C/%%c\0' > corpus/naming/optional
# dsb: secrets type TLSK, stated length, then a key log (see pcapng_with_dsb).
mkdir -p corpus/dsb
for k in ../testdata/tls/tls12_resumed_id_get.first.keys ../testdata/tls/tls13_resumed.keys; do
    python3 -c 'import struct,sys; d=open(sys.argv[1],"rb").read(); sys.stdout.buffer.write(struct.pack("<II",0x544c534b,len(d))+d)' "$k" \
        >"corpus/dsb/$(basename "$k")"
done
