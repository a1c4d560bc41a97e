"""scapy: sniff(offline=..., session=TCPSession) with its HTTP layer, which
reassembles what its HTTP dissector asks for; each direction is then the
concatenation, in arrival order, of the TCP payloads of the packets scapy
yields for it (scapy resolves neither overlaps nor gaps)."""

import hashlib
import sys

from scapy.all import IP, TCP, TCPSession, load_layer, sniff
from common import report, tcpflow_name

load_layer("http")
from scapy.layers.http import HTTPResponse  # noqa: E402

capture = sys.argv[1]
streams = {}
bodies = 0


def take(pkt):
    global bodies
    if IP not in pkt or TCP not in pkt:
        return
    key = (pkt[IP].src, pkt[TCP].sport, pkt[IP].dst, pkt[TCP].dport)
    payload = bytes(pkt[TCP].payload)
    if payload:
        streams.setdefault(key, bytearray()).extend(payload)
    if HTTPResponse in pkt and bytes(pkt[HTTPResponse].payload):
        bodies += 1


sniff(offline=capture, session=TCPSession, prn=take, store=False)
found = {tcpflow_name(*k): (len(v), hashlib.sha256(v).hexdigest()) for k, v in streams.items()}
report("scapy", found, capture, bodies)
