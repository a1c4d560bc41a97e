"""pyshark: tshark decodes, pyshark hands over one packet at a time; each
direction is its TCP payloads in tshark's order (tshark's analysis marks
retransmissions, which are left out)."""

import hashlib
import sys

import pyshark
from common import report, tcpflow_name

capture = sys.argv[1]
streams = {}
cap = pyshark.FileCapture(capture, display_filter="tcp.len > 0 && !tcp.analysis.retransmission")
for pkt in cap:
    key = (pkt.ip.src, int(pkt.tcp.srcport), pkt.ip.dst, int(pkt.tcp.dstport))
    data = bytes.fromhex(pkt.tcp.payload.replace(":", "")) if hasattr(pkt.tcp, "payload") else b""
    streams.setdefault(key, bytearray()).extend(data)
cap.close()
found = {tcpflow_name(*k): (len(v), hashlib.sha256(v).hexdigest()) for k, v in streams.items()}
report("pyshark", found, capture)
