"""tshark's oracles reproduced through the API alone: read()'s sha256s
against ../shared/corpus/'s tshark TCP oracle and http()'s bodies against
its tshark HTTP objects give the CLI's own counts (README, tests/corpus_tcp.rs:
480 of 484 tshark directions byte-equal)."""

from __future__ import annotations

import csv
import hashlib
import ipaddress
import json
from collections import defaultdict
from typing import Dict, List, Tuple

import pytest

import flowsplit
from conftest import CORPUS, run_cli

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is missing")

Endpoint = Tuple[str, int]


def endpoint(text: str) -> Endpoint:
    host, port = text.rsplit(":", 1)
    return (str(ipaddress.ip_address(host.strip("[]"))), int(port))


def rows(name: str) -> List[Dict[str, str]]:
    with open(CORPUS / name, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def without_gaps(data: bytes, gaps: List[Tuple[int, int]]) -> bytes:
    out, at = bytearray(), 0
    for off, length in gaps:
        out += data[at:off]
        at = off + length
    out += data[at:]
    return bytes(out)


def test_read_sha256s_against_the_tshark_tcp_oracle_give_the_cli_counts():
    oracle: Dict[str, List[Dict[str, str]]] = defaultdict(list)
    for r in rows("ORACLE_tshark_tcp.tsv"):
        oracle[r["pcap"]].append(r)
    total = equal = 0
    for pcap, dirs in sorted(oracle.items()):
        # Our directions by endpoints, with their connection's rank among
        # those on the same endpoint pair (tshark's stream order).
        ours: Dict[Tuple[Endpoint, Endpoint], List] = defaultdict(list)
        try:
            for d in flowsplit.read(CORPUS / pcap):
                src = (str(ipaddress.ip_address(d.src)), d.sport)
                dst = (str(ipaddress.ip_address(d.dst)), d.dport)
                ours[(src, dst)].append(d)
        except flowsplit.CaptureError:
            pass
        conns: Dict[Tuple, List[int]] = defaultdict(list)
        for (src, dst), ds in ours.items():
            key = tuple(sorted([src, dst]))
            for d in ds:
                if d.connection not in conns[key]:
                    conns[key].append(d.connection)
        streams: Dict[Tuple, List[int]] = defaultdict(list)
        for r in dirs:
            c, s = endpoint(r["client"]), endpoint(r["server"])
            key = tuple(sorted([c, s]))
            if int(r["stream"]) not in streams[key]:
                streams[key].append(int(r["stream"]))
        for r in dirs:
            total += 1
            c, s = endpoint(r["client"]), endpoint(r["server"])
            src, dst = (c, s) if r["direction"] == "c2s" else (s, c)
            key = tuple(sorted([c, s]))
            nth = sorted(streams[key]).index(int(r["stream"]))
            ranks = sorted(conns[key])
            match = [
                d
                for d in ours.get((src, dst), [])
                if nth < len(ranks) and d.connection == ranks[nth]
            ]
            d = match[0] if match else None
            gaps, gap_bytes = int(r["gaps"] or 0), int(r["gap_bytes"] or 0)
            if int(r["bytes"]) == 0 and gaps == 0:
                # tshark saw no bytes: equal when we wrote none either.
                equal += d is None or d.bytes == 0
            elif d is None:
                continue
            elif gaps == 0:
                equal += d.bytes == int(r["bytes"]) and d.sha256 == r["sha256"]
            elif len(r["sha256_gaps_zero_filled"]) == 64:
                equal += d.sha256 == r["sha256_gaps_zero_filled"]
            else:
                # tshark could not zero-fill: the bytes outside our gaps,
                # and the missing bytes (gaps and jumps) in total.
                outside = hashlib.sha256(without_gaps(d.read(), d.gaps)).hexdigest()
                missing = d.gap_bytes + sum(j[1] for j in d.jumps)
                equal += outside == r["sha256"] and missing == gap_bytes
    assert (equal, total) == (480, 484)


def test_http_bodies_against_the_tshark_http_objects_give_the_cli_counts(tmp_path):
    wanted: Dict[str, set] = defaultdict(set)
    for r in rows("ORACLE_tshark_http.tsv"):
        wanted[r["pcap"]].add(r["sha256"])
    api_found = cli_found = total = 0
    for n, (pcap, hashes) in enumerate(sorted(wanted.items())):
        total += len(hashes)
        ours = set()
        try:
            for x in flowsplit.http(CORPUS / pcap):
                for half in (x.request, x.response):
                    if half is not None and half.body is not None:
                        ours.add(hashlib.sha256(half.body).hexdigest())
                    for part in [] if half is None else half.parts:
                        if part.get("file"):
                            ours.add(hashlib.sha256((x.folder / part["file"]).read_bytes()).hexdigest())
                if x.object_path is not None:
                    ours.add(hashlib.sha256(x.object_path.read_bytes()).hexdigest())
        except flowsplit.CaptureError:
            pass
        out = tmp_path / str(n)
        run_cli(["-e", "http", "-r", str(CORPUS / pcap)], out)
        cli = {
            hashlib.sha256(p.read_bytes()).hexdigest()
            for p in out.rglob("*")
            if p.is_file() and "-HTTP" in p.name
        }
        # A body that decoded to nothing has no file; its bytes are b"".
        for index in out.rglob("http.jsonl"):
            for line in index.read_text().splitlines():
                record = json.loads(line) if line.strip() else {}
                for side in ("request_body", "response_body"):
                    body = record.get(side)
                    if body is not None and body.get("file") is None:
                        cli.add(hashlib.sha256(b"").hexdigest())
        api_found += len(hashes & ours)
        cli_found += len(hashes & cli)
        assert hashes & ours == hashes & cli, pcap
    print(f"tshark HTTP objects: {api_found} of {total} through flowsplit.http(), {cli_found} by the CLI")
    assert api_found == cli_found > 0
