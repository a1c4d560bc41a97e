#!/usr/bin/env python3
"""Client driver for the captures in testdata/http/ (see record.sh).

    client.py --port P --case NAME

Connects to 127.0.0.1:P and plays the client's side of the case's script
from server.py with raw sockets: requests are sent exactly as scripted (all
pipelined requests in one send, a 100-continue body only after the 100
Continue), the server's bytes are read and checked against the script, then
the client reads until the server's FIN and closes.
"""

import argparse
import socket
import sys
import time

import server


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--case", choices=sorted(server.CASES), required=True)
    args = ap.parse_args()
    script = server.CASES[args.case]()
    deadline = time.time() + 10
    while True:
        try:
            sock = socket.create_connection(("127.0.0.1", args.port), timeout=30)
            break
        except ConnectionRefusedError:
            if time.time() > deadline:
                raise
            time.sleep(0.05)
    server.play(sock, script, "c")
    server.drain(sock)
    sock.close()


if __name__ == "__main__":
    sys.exit(main())
