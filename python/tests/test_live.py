"""flowsplit.live() on loopback (root only, 127.0.0.1 only, bounded in
time): a connection made while capturing comes out as its two exact
directions, and leaving the with block stops the capture."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import threading
import time

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


def test_a_loopback_connection_comes_out_as_its_two_exact_directions():
    def give_up(signum, frame):
        raise TimeoutError("no directions within 30 s")

    old = signal.signal(signal.SIGALRM, give_up)
    signal.alarm(30)
    try:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        request = bytes(range(256)) * 20  # 5120 bytes
        reply = b"reply " * 1000
        with flowsplit.live("lo", filter=f"tcp port {port}") as capture:
            time.sleep(1.5)  # the capture opens on its own thread
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
            assert back == reply
            got = {}
            for d in capture:
                got[d.sport if d.dport == port else -1] = d
                if len(got) == 2:
                    break
        signal.alarm(0)
        sent = next(d for k, d in got.items() if k != -1)
        answered = got[-1]
        assert sent.read() == request
        assert answered.read() == reply
        assert sent.sha256 == hashlib.sha256(request).hexdigest()
        assert sent.connection == answered.connection
        assert sent.end == "fin" and sent.gaps == []
        summary = json.loads(capture.summary_json) if capture.summary_json else None
        assert summary is None or summary["capture"]["interface"] == "lo"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def test_stats_give_the_capture_counters_while_capturing():
    def give_up(signum, frame):
        raise TimeoutError("no stats within 30 s")

    old = signal.signal(signal.SIGALRM, give_up)
    signal.alarm(30)
    try:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        request = b"x" * 5000
        with flowsplit.live("lo", filter=f"tcp port {port}") as capture:
            time.sleep(1.5)  # the capture opens on its own thread
            server = threading.Thread(target=serve, args=(listener, b"ok"))
            server.start()
            client = socket.create_connection(("127.0.0.1", port))
            client.sendall(request)
            client.shutdown(socket.SHUT_WR)
            while client.recv(65536):
                pass
            client.close()
            server.join()
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
        signal.alarm(0)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)

