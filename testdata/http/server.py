#!/usr/bin/env python3
"""Tiny HTTP/1.x server for the captures in testdata/http/ (see record.sh).

Python 3 standard library only, raw sockets: every byte on the wire is the
byte written here, so framing (chunk sizes and extensions, trailers, 100
Continue, pipelining, close-delimited bodies) is exact.

A case is a script of actions, run by this server and by client.py in
step: ("c", bytes) is sent by the client, ("s", bytes) by the server. Each
side sends its own actions and reads exactly the other side's bytes,
checking they are the expected ones. After the last action the server
shuts its side down (FIN) and reads until the client's FIN.

    server.py --port P --case NAME    serve one connection for the case
    server.py --list                  print the case names

Bodies come from gen(tag, n): lines b"TAG line 0000\\n" .. b"TAG line
NNNN\\n". tests/http_captures.rs rebuilds them the same way.
"""

import argparse
import gzip
import socket
import sys
import time
import zlib

HOST = b"localhost"
UA = b"flowsplit-recorder/1"

# Brotli-compressed gen("brotli", 40). Python has no brotli in its standard
# library: made once with the Rust `brotli` crate (quality 11, window 22) by
# `cargo run --example http_brotli_body` (examples/http_brotli_body.rs).
BROTLI_BODY = bytes.fromhex(
    "1ba702f82d12ec58276017b1c34b1831363718fbbe455909e2465769725d96c6"
    "f6a695904212a50608bf7e5a002892a2193687cbd327415234c3e67079fa1448"
    "8a66d81c2e4f9f0649d10c9bc3e5ed0b"
)

# Pause after each send, so consecutive sends of one side leave as
# separate segments (TCP_NODELAY is set too).
PAUSE = 0.05


def gen(tag, n):
    """The deterministic body: n lines 'TAG line %04d\\n'."""
    return b"".join(b"%s line %04d\n" % (tag.encode(), i) for i in range(n))


def request(method, uri, headers=(), body=b"", version=b"HTTP/1.1"):
    head = b"%s %s %s\r\nHost: %s\r\nUser-Agent: %s\r\n" % (
        method, uri, version, HOST, UA)
    for h in headers:
        head += h + b"\r\n"
    return head + b"\r\n" + body


def response(status, reason, headers=(), body=b"", version=b"HTTP/1.1"):
    head = b"%s %d %s\r\nServer: flowsplit-recorder\r\n" % (version, status, reason)
    for h in headers:
        head += h + b"\r\n"
    return head + b"\r\n" + body


def get(uri):
    return request(b"GET", uri)


def ok(ctype, body, extra=()):
    return response(200, b"OK", [b"Content-Type: " + ctype,
                                 b"Content-Length: %d" % len(body)] + list(extra), body)


def chunk(data, ext=b"", upper=False):
    size = (b"%X" if upper else b"%x") % len(data)
    return size + ext + b"\r\n" + data + b"\r\n"


def gzip_bytes(data):
    return gzip.compress(data, compresslevel=9, mtime=0)


def raw_deflate(data):
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def split(data, size):
    return [data[i:i + size] for i in range(0, len(data), size)]


def case_content_length():
    return [("c", get(b"/content-length.txt")),
            ("s", ok(b"text/plain", gen("content-length", 60)))]


def case_chunked_trailers():
    body = gen("chunked", 30)
    parts = [body[:100], body[100:126], body[126:400], body[400:]]
    resp = response(200, b"OK", [b"Content-Type: text/plain; charset=utf-8",
                                 b"Transfer-Encoding: chunked",
                                 b"Trailer: X-Checksum, X-Note"])
    resp += chunk(parts[0], b";name=value")
    resp += chunk(parts[1], b";flag", upper=True)
    resp += chunk(parts[2], b' ; quoted="a;b c"')
    resp += chunk(parts[3])
    resp += b"0;last=yes\r\nX-Checksum: not-checked\r\nX-Note: trailer field\r\n\r\n"
    # A second request on the connection: its response must start right
    # after the trailers.
    return [("c", get(b"/chunked.txt")), ("s", resp),
            ("c", get(b"/after-chunked.txt")),
            ("s", ok(b"text/plain", gen("after-chunked", 3)))]


def case_gzip():
    enc = gzip_bytes(gen("gzip", 80))
    return [("c", request(b"GET", b"/gzip.txt", [b"Accept-Encoding: gzip"])),
            ("s", ok(b"text/plain", enc, [b"Content-Encoding: gzip"]))]


def case_deflate_zlib():
    enc = zlib.compress(gen("deflate-zlib", 80), 9)
    return [("c", request(b"GET", b"/deflate-zlib.txt", [b"Accept-Encoding: deflate"])),
            ("s", ok(b"text/plain", enc, [b"Content-Encoding: deflate"]))]


def case_deflate_raw():
    enc = raw_deflate(gen("deflate-raw", 80))
    return [("c", request(b"GET", b"/deflate-raw.txt", [b"Accept-Encoding: deflate"])),
            ("s", ok(b"text/plain", enc, [b"Content-Encoding: deflate"]))]


def case_br():
    return [("c", request(b"GET", b"/br.txt", [b"Accept-Encoding: br"])),
            ("s", ok(b"text/plain", BROTLI_BODY, [b"Content-Encoding: br"]))]


def case_gzip_chunked():
    enc = gzip_bytes(gen("gzip-chunked", 200))
    resp = response(200, b"OK", [b"Content-Type: text/html",
                                 b"Content-Encoding: gzip",
                                 b"Transfer-Encoding: chunked"])
    resp += b"".join(chunk(p) for p in split(enc, 64))
    resp += b"0\r\n\r\n"
    return [("c", request(b"GET", b"/gzip-chunked.html", [b"Accept-Encoding: gzip"])),
            ("s", resp)]


def case_keepalive():
    return [("c", get(b"/one.txt")), ("s", ok(b"text/plain", gen("keepalive-one", 5))),
            ("c", get(b"/two.json")),
            ("s", ok(b"application/json", b'{"keepalive": 2}\n')),
            ("c", get(b"/three.html")), ("s", ok(b"text/html", gen("keepalive-three", 7)))]


def case_pipelining():
    reqs = get(b"/p1.txt") + get(b"/p2.txt") + get(b"/p3.txt")
    return [("c", reqs),
            ("s", ok(b"text/plain", gen("pipelined-one", 4))),
            ("s", ok(b"text/plain", gen("pipelined-two", 6))),
            ("s", ok(b"text/plain", gen("pipelined-three", 8)))]


def case_head():
    # HEAD's response declares a length but has no body; the GET after it
    # on the same connection must be framed from right after its head.
    return [("c", request(b"HEAD", b"/head.txt")),
            ("s", response(200, b"OK", [b"Content-Type: text/plain",
                                        b"Content-Length: 1234"])),
            ("c", get(b"/after-head.txt")),
            ("s", ok(b"text/plain", gen("after-head", 4)))]


def case_status_204():
    return [("c", request(b"DELETE", b"/item/7")),
            ("s", response(204, b"No Content", [b"Content-Type: text/plain"])),
            ("c", get(b"/after-204.txt")),
            ("s", ok(b"text/plain", gen("after-204", 4)))]


def case_status_304():
    return [("c", request(b"GET", b"/cached.txt", [b'If-None-Match: "v1"'])),
            ("s", response(304, b"Not Modified", [b'ETag: "v1"', b"Content-Length: 500"])),
            ("c", get(b"/after-304.txt")),
            ("s", ok(b"text/plain", gen("after-304", 4)))]


def case_continue_100():
    body = gen("upload", 20)
    head = request(b"PUT", b"/upload.txt", [b"Content-Type: text/plain",
                                            b"Content-Length: %d" % len(body),
                                            b"Expect: 100-continue"])
    return [("c", head),
            ("s", b"HTTP/1.1 100 Continue\r\n\r\n"),
            ("c", body),
            ("s", ok(b"text/plain", gen("upload-stored", 3)))]


def case_post_body():
    body = b'{"name": "flowsplit", "items": [1, 2, 3], "note": "POST body"}\n'
    req = request(b"POST", b"/api/items?x=1", [b"Content-Type: application/json",
                                                b"Content-Length: %d" % len(body)], body)
    return [("c", req),
            ("s", response(201, b"Created", [b"Content-Type: application/json",
                                             b"Content-Length: 13"], b'{"id": 1234}\n'))]


def case_http10_close():
    # No Content-Length: the body ends when the server closes.
    return [("c", request(b"GET", b"/close.txt", version=b"HTTP/1.0")),
            ("s", response(200, b"OK", [b"Content-Type: text/plain"],
                           gen("close-delimited", 50), version=b"HTTP/1.0"))]


def case_gap_raw():
    # The body leaves in four segments; record.sh deletes the one holding
    # "gap line 0100" (the first line of part 3) to make gap.pcap.
    body = gen("gap", 200)
    parts = split(body, len(body) // 4)
    assert len(parts) == 4 and parts[2].startswith(b"gap line 0100")
    head = response(200, b"OK", [b"Content-Type: text/plain",
                                 b"Content-Length: %d" % len(body)])
    return [("c", get(b"/gap.txt")), ("s", head + parts[0])] + [("s", p) for p in parts[1:]]


def case_gzip_bomb():
    # 64 MiB of zeros, gzip level 9: about 64 KiB on the wire.
    enc = gzip_bytes(bytes(64 << 20))
    return [("c", request(b"GET", b"/bomb.bin", [b"Accept-Encoding: gzip"])),
            ("s", ok(b"application/octet-stream", enc, [b"Content-Encoding: gzip"]))]


CASES = {
    "content_length": case_content_length,
    "chunked_trailers": case_chunked_trailers,
    "gzip": case_gzip,
    "deflate_zlib": case_deflate_zlib,
    "deflate_raw": case_deflate_raw,
    "br": case_br,
    "gzip_chunked": case_gzip_chunked,
    "keepalive": case_keepalive,
    "pipelining": case_pipelining,
    "head": case_head,
    "status_204": case_status_204,
    "status_304": case_status_304,
    "continue_100": case_continue_100,
    "post_body": case_post_body,
    "http10_close": case_http10_close,
    "gap_raw": case_gap_raw,
    "gzip_bomb": case_gzip_bomb,
}


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        got = sock.recv(n - len(buf))
        if not got:
            raise SystemExit("peer closed after %d of %d bytes" % (len(buf), n))
        buf += got
    return bytes(buf)


def play(sock, script, me):
    """Run a case's script as side `me` ("c" or "s")."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for who, data in script:
        if who == me:
            sock.sendall(data)
            time.sleep(PAUSE)
        else:
            got = recv_exact(sock, len(data))
            if got != data:
                raise SystemExit("%s: unexpected bytes from the peer" % me)


def drain(sock):
    """Read until the peer's FIN; anything read is an error."""
    extra = b""
    while True:
        got = sock.recv(65536)
        if not got:
            break
        extra += got
    if extra:
        raise SystemExit("%d unexpected bytes after the script" % len(extra))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int)
    ap.add_argument("--case", choices=sorted(CASES))
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    if args.list:
        print("\n".join(CASES))
        return
    script = CASES[args.case]()
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", args.port))
    ls.listen(1)
    print("ready", flush=True)
    conn, _ = ls.accept()
    ls.close()
    play(conn, script, "s")
    conn.shutdown(socket.SHUT_WR)
    drain(conn)
    conn.close()


if __name__ == "__main__":
    sys.exit(main())
