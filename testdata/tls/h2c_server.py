#!/usr/bin/python3
"""A cleartext HTTP/2 server reached by HTTP/1.1 Upgrade (h2c), for record.sh.

Serves one connection on 127.0.0.1:PORT, then exits: reads the HTTP/1.1
request, answers `101 Switching Protocols` when it asks for `Upgrade: h2c`
(with its HTTP2-Settings), then speaks HTTP/2 with the Python `h2` package
(Debian's python3-h2): the upgrade request is answered on stream 1, every
later request on its own stream. Bodies as server.py makes them:
/small.txt (gen("small", 60)) and /big.bin (200000 bytes (i * 7) % 251);
anything else is a 404. Prints "ready" once listening.

    /usr/bin/python3 h2c_server.py PORT
"""
import socket
import sys

import h2.config
import h2.connection
import h2.events


def gen(tag, n):
    return "".join(f"{tag} line {i:04d}\n" for i in range(n)).encode()


BODIES = {
    "/small.txt": (gen("small", 60), "text/plain"),
    "/big.bin": (bytes((i * 7) % 251 for i in range(200000)), "application/octet-stream"),
}


def respond(conn, sock, stream, path):
    body, kind = BODIES.get(path, (b"not found\n", "text/plain"))
    status = "200" if path in BODIES else "404"
    conn.send_headers(stream, [(":status", status), ("content-type", kind),
                               ("content-length", str(len(body)))])
    sock.sendall(conn.data_to_send())
    while body:
        room = min(conn.local_flow_control_window(stream), conn.max_outbound_frame_size)
        if room <= 0:
            pump(conn, sock)
            continue
        chunk, body = body[:room], body[room:]
        conn.send_data(stream, chunk, end_stream=not body)
        sock.sendall(conn.data_to_send())


# Requests received and not answered yet: (stream, path).
PENDING = []


def take(conn, data):
    """Feed the client's bytes to conn, noting the requests they hold."""
    for event in conn.receive_data(data):
        if isinstance(event, h2.events.RequestReceived):
            fields = {k.decode() if isinstance(k, bytes) else k: v.decode() if isinstance(v, bytes) else v
                      for k, v in event.headers}
            PENDING.append((event.stream_id, fields.get(":path", "/")))


def pump(conn, sock):
    """Read once from the client. False at its end."""
    data = sock.recv(65536)
    if not data:
        return False
    take(conn, data)
    sock.sendall(conn.data_to_send())
    return True


def main():
    port = int(sys.argv[1])
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(1)
    print("ready", flush=True)
    sock, _ = srv.accept()
    head = b""
    while b"\r\n\r\n" not in head:
        data = sock.recv(65536)
        if not data:
            return
        head += data
    head, rest = head.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    path = lines[0].split(" ")[1]
    fields = {k.strip().lower(): v.strip() for k, v in
              (line.split(":", 1) for line in lines[1:] if ":" in line)}
    if "h2c" not in fields.get("upgrade", "").lower():
        sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        return
    sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    conn.initiate_upgrade_connection(fields.get("http2-settings", ""))
    sock.sendall(conn.data_to_send())
    PENDING.append((1, path))
    if rest:
        take(conn, rest)
    while True:
        while PENDING:
            stream, p = PENDING.pop(0)
            respond(conn, sock, stream, p)
        if not pump(conn, sock):
            break
    sock.close()


if __name__ == "__main__":
    main()
