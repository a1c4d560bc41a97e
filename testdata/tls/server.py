#!/usr/bin/env python3
"""HTTPS server for the TLS captures (testdata/tls/record.sh).

Serves fixed bodies over TLS on 127.0.0.1 with the certificate in this
folder, logging the session secrets to --keylog (NSS key log format):

  /small.txt   text/plain, 1500 bytes of gen("small", 60)
  /gzip.txt    gzip-encoded text/plain, gen("gzip", 400) before encoding
  /big.bin     200000 bytes, application/octet-stream, bytes (i * 7) % 251
  /echo        POST: answers with the request body (text/plain)

--tls 1.2|1.3 caps the version (1.0|1.1: that version only), --ciphers sets the TLS 1.2 cipher list (the
client picks the TLS 1.3 suite by offering only it),
--no-etm turns encrypt-then-MAC off,
--groups limits the key exchange groups (to force a HelloRetryRequest),
--no-ticket turns TLS 1.2 session tickets off (resumption by session ID only),
--close-notify ends each connection with a TLS close_notify (OpenSSL drops
a session from its cache when a connection ends without one).
Prints "ready" once listening; serves --connections connections.
"""
import argparse, gzip, http.server, ssl, sys, os

def gen(tag, lines):
    return "".join(f"{tag} line {i:04d}\n" for i in range(lines)).encode()

BODIES = {
    "/small.txt": ("text/plain", None, gen("small", 60)),
    "/gzip.txt": ("text/plain", "gzip", gzip.compress(gen("gzip", 400), mtime=0)),
    "/big.bin": ("application/octet-stream", None, bytes((i * 7) % 251 for i in range(200000))),
}

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def send_body(self, ctype, enc, body):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        if enc:
            self.send_header("Content-Encoding", enc)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        if self.path not in BODIES:
            self.send_error(404)
            return
        self.send_body(*BODIES[self.path])
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        self.send_body("text/plain", None, self.rfile.read(n))

class Notifying(http.server.HTTPServer):
    def shutdown_request(self, request):
        try:
            request.settimeout(2)
            request.unwrap()
        except (OSError, ValueError):
            pass
        super().shutdown_request(request)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--keylog", required=True)
    ap.add_argument("--tls", default="1.3")
    ap.add_argument("--ciphers")
    ap.add_argument("--no-etm", action="store_true")
    ap.add_argument("--groups")
    ap.add_argument("--connections", type=int, default=1)
    ap.add_argument("--no-ticket", action="store_true")
    ap.add_argument("--close-notify", action="store_true")
    a = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(here, "cert.pem"), os.path.join(here, "key.pem"))
    ctx.keylog_filename = a.keylog
    old = {"1.0": ssl.TLSVersion.TLSv1, "1.1": ssl.TLSVersion.TLSv1_1}
    if a.tls in old:
        # TLS 1.0 / 1.1 only (their suites need @SECLEVEL=0, see --ciphers).
        ctx.minimum_version = ctx.maximum_version = old[a.tls]
    else:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_3 if a.tls == "1.3" else ssl.TLSVersion.TLSv1_2
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if a.ciphers:
        ctx.set_ciphers(a.ciphers + ":@SECLEVEL=0")
    if a.no_etm:
        ctx.options |= 0x80000  # SSL_OP_NO_ENCRYPT_THEN_MAC
    if a.no_ticket:
        ctx.options |= ssl.OP_NO_TICKET  # TLS 1.2 resumption by session ID only
    if a.groups:
        ctx.set_ecdh_curve(a.groups)
    srv = (Notifying if a.close_notify else http.server.HTTPServer)(("127.0.0.1", a.port), Handler)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print("ready", flush=True)
    for _ in range(a.connections):
        srv.handle_request()

if __name__ == "__main__":
    main()
