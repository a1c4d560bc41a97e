"""dpkt: the simplest correct reassembly we could write. Each direction's
payload is placed at its offset from the SYN's sequence number (so
retransmissions and reordering land where they belong; the first copy of
a byte wins), in a dict of offset -> bytes, joined at FIN/RST or the end."""

import hashlib
import socket
import sys

import dpkt
from common import report, tcpflow_name

capture = sys.argv[1]
flows = {}
with open(capture, "rb") as f:
    for ts, buf in dpkt.pcap.Reader(f):
        eth = dpkt.ethernet.Ethernet(buf)
        ip = eth.data
        if not isinstance(ip, dpkt.ip.IP) or not isinstance(ip.data, dpkt.tcp.TCP):
            continue
        tcp = ip.data
        key = (socket.inet_ntoa(ip.src), tcp.sport, socket.inet_ntoa(ip.dst), tcp.dport)
        flow = flows.get(key)
        if tcp.flags & dpkt.tcp.TH_SYN:
            flows[key] = flow = {"isn": tcp.seq + 1, "segs": {}}
            continue
        if flow is None or not tcp.data:
            continue
        off = (tcp.seq - flow["isn"]) % (1 << 32)
        flow["segs"].setdefault(off, bytes(tcp.data))
found = {}
for key, flow in flows.items():
    out = bytearray()
    for off in sorted(flow["segs"]):
        data = flow["segs"][off]
        if off + len(data) <= len(out):
            continue
        if off > len(out):
            out += bytes(off - len(out))  # a hole, zero-filled
        out += data[len(out) - off :]
    found[tcpflow_name(*key)] = (len(out), hashlib.sha256(out).hexdigest())
report("dpkt", found, capture)
