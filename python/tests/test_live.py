"""flowsplit.live() and live_http() on loopback (root only, 127.0.0.1
only, bounded in time): a connection made while capturing comes out as its
two exact directions (or its exchanges), stats() counts it while capture
goes on, and leaving the with block stops the capture."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import threading
import time
from typing import Iterator, Tuple

import pytest

import flowsplit

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="live capture needs root")


def serve(listener: socket.socket, reply: bytes) -> None:
    conn, _ = listener.accept()
    with conn:
        got = b""
        while len(got) < 5000:
            chunk = conn.recv(65536)
            if not chunk:
                break
            got += chunk
        conn.sendall(reply)


@contextlib.contextmanager
def within(seconds: int, what: str) -> Iterator[None]:
    """Raise TimeoutError (naming `what`) if the block takes over `seconds`."""

    def give_up(signum, frame):
        raise TimeoutError(f"no {what} within {seconds} s")

    old = signal.signal(signal.SIGALRM, give_up)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def listening() -> Tuple[socket.socket, int]:
    """A listening socket on 127.0.0.1 and its port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    return listener, listener.getsockname()[1]


def exchange(listener: socket.socket, port: int, request: bytes, reply: bytes) -> bytes:
    """Send `request` to `serve` answering `reply` on `listener`, half
    close, and return what came back once the server closed."""
    server = threading.Thread(target=serve, args=(listener, reply))
    server.start()
    client = socket.create_connection(("127.0.0.1", port))
    client.sendall(request)
    client.shutdown(socket.SHUT_WR)
    back = b""
    while True:
        chunk = client.recv(65536)
        if not chunk:
            break
        back += chunk
    client.close()
    server.join()
    return back


def test_a_loopback_connection_comes_out_as_its_two_exact_directions():
    with within(30, "directions"):
        listener, port = listening()
        request = bytes(range(256)) * 20  # 5120 bytes
        reply = b"reply " * 1000
        with flowsplit.live("lo", filter=f"tcp port {port}") as capture:
            time.sleep(1.5)  # the capture opens on its own thread
            assert exchange(listener, port, request, reply) == reply
            got = {}
            for d in capture:
                got[d.sport if d.dport == port else -1] = d
                if len(got) == 2:
                    break
    sent = next(d for k, d in got.items() if k != -1)
    answered = got[-1]
    assert sent.read() == request
    assert answered.read() == reply
    assert sent.sha256 == hashlib.sha256(request).hexdigest()
    assert sent.connection == answered.connection
    assert sent.end == "fin" and sent.gaps == []
    summary = json.loads(capture.summary_json) if capture.summary_json else None
    assert summary is None or summary["capture"]["interface"] == "lo"


def test_stats_give_the_capture_counters_while_capturing():
    with within(30, "stats"):
        listener, port = listening()
        request = b"x" * 5000
        with flowsplit.live("lo", filter=f"tcp port {port}") as capture:
            time.sleep(1.5)  # the capture opens on its own thread
            assert exchange(listener, port, request, b"ok") == b"ok"
            # Mid-capture, without taking a direction: both directions
            # wait in the queue and the packets are counted.
            deadline = time.monotonic() + 10
            stats = capture.stats()
            while time.monotonic() < deadline and (
                stats is None or stats["queued"] < 2 or stats["packets"] < 6
            ):
                time.sleep(0.2)
                stats = capture.stats()
            assert stats is not None
            assert set(stats) == {
                "packets",
                "bytes",
                "kernel_received",
                "kernel_dropped",
                "interface_dropped",
                "flowsplit_dropped",
                "flowsplit_waited_ms",
                "queued",
            }
            assert stats["queued"] == 2, stats
            # A connection on lo: handshake, data, replies, closes (each
            # packet seen twice on lo by the kernel's count).
            assert stats["packets"] >= 6, stats
            assert stats["bytes"] >= len(request), stats
            assert stats["kernel_received"] >= stats["packets"], stats
            assert stats["kernel_dropped"] == 0 and stats["flowsplit_dropped"] == 0, stats
            taken = [next(capture), next(capture)]
            assert {d.sport for d in taken} | {d.dport for d in taken} >= {port}
            assert capture.stats()["queued"] == 0



def test_live_http_yields_each_exchange_as_its_connection_is_carved(tmp_path):
    import http.server
    import urllib.request

    body = bytes(range(256)) * 40  # 10,240 bytes
    (tmp_path / "file.bin").write_bytes(body)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(tmp_path), **k)

        def log_message(self, *a):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Quiet)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with within(30, "exchange"):
            with flowsplit.live_http("lo", filter=f"tcp port {port}") as exchanges:
                time.sleep(1.5)  # the capture opens on its own thread
                for i in range(2):
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/file.bin?n={i}") as r:
                        assert r.read() == body
                got = [next(exchanges), next(exchanges)]
                stats = exchanges.stats()
    finally:
        server.shutdown()
    assert sorted(x.request.uri for x in got) == ["/file.bin?n=0", "/file.bin?n=1"]
    for x in got:
        assert x.request.method == "GET"
        assert x.response.status == 200
        assert x.response.body == body
        assert x.response.complete
        assert isinstance(x.connection, int)
        assert x.community_id.startswith("1:")
    assert got[0].connection != got[1].connection
    assert stats is None or stats["flowsplit_dropped"] == 0
