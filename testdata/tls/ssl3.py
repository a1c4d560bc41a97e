#!/usr/bin/env python3
"""SSL 3.0 on loopback with tlslite-ng (Debian's OpenSSL and GnuTLS speak no
SSL 3.0): serve one connection on 127.0.0.1:PORT and connect to it from a
thread, both limited to SSL 3.0 and to one cipher; the client sends
GET /ssl3 HTTP/1.0, the server answers a 200 with a fixed body and closes.
The master secret is written to KEYS as an NSS key log line (tlslite-ng
writes no key log: the line is made from its session).

    ssl3.py PORT CIPHER MAC KEX KEYS     (CIPHER: aes128 aes256 3des rc4;
                                          MAC: sha md5; KEX: rsa dhe_rsa)
Run by record.sh inside a venv holding tlslite-ng 0.8.2."""
import socket
import sys
import threading

from tlslite.api import HandshakeSettings, TLSConnection, X509CertChain, parsePEMKey

port, cipher, mac, kex, keys = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
port = int(port)
BODY = b"".join(b"ssl3 line %04d of the fixed body\n" % i for i in range(40))


def settings():
    s = HandshakeSettings()
    s.minVersion = (3, 0)
    s.maxVersion = (3, 0)
    s.cipherNames = [cipher]
    s.macNames = [mac]
    s.keyExchangeNames = [kex]
    s.useEncryptThenMAC = False
    s.useExtendedMasterSecret = False
    return s


listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", port))
listener.listen(1)


def serve():
    sock, _ = listener.accept()
    conn = TLSConnection(sock)
    chain = X509CertChain()
    chain.parsePemList(open("cert.pem").read())
    key = parsePEMKey(open("key.pem").read(), private=True)
    conn.handshakeServer(certChain=chain, privateKey=key, settings=settings())
    request = b""
    while b"\r\n\r\n" not in request:
        request += conn.read()
    conn.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
               % len(BODY) + BODY)
    conn.close()


server = threading.Thread(target=serve)
server.start()
client = TLSConnection(socket.create_connection(("127.0.0.1", port)))
client.handshakeClientCert(settings=settings())
assert client.version == (3, 0), client.version
with open(keys, "w") as f:
    f.write("CLIENT_RANDOM %s %s\n" % (bytes(client._clientRandom).hex(),
                                       bytes(client.session.masterSecret).hex()))
suite = client.getCipherName()
client.write(b"GET /ssl3 HTTP/1.0\r\nHost: flowsplit.test\r\n\r\n")
response = b""
while True:
    try:
        data = client.read()
    except Exception:
        break
    if not data:
        break
    response += data
client.close()
server.join()
assert response.endswith(BODY), response[:200]
print(suite, len(response), "bytes")
