"""Shared by the bench/python tool scripts: the generator's oracle and the
line each script prints.

Each tool script takes CAPTURE (and its CAPTURE.expected.tsv, written by
examples/bench_gen.rs: tcpflow file name, bytes, sha256 per direction),
reassembles every TCP direction its own way, and prints one JSON line:
directions found, how many equal the oracle (same name, bytes and sha256),
and HTTP bodies carved where the tool carves them.
"""

from __future__ import annotations

import json
import sys
from typing import Dict, Optional, Tuple


def oracle(capture: str) -> Dict[str, Tuple[int, str]]:
    """The generator's list: name -> (bytes, sha256)."""
    expected = {}
    with open(capture + ".expected.tsv") as f:
        for line in f:
            name, size, sha = line.rstrip("\n").split("\t")
            expected[name] = (int(size), sha)
    return expected


def tcpflow_name(src: str, sport: int, dst: str, dport: int) -> str:
    """tcpflow's default name for an IPv4 direction (no VLAN, first connection)."""

    def addr(a: str) -> str:
        return ".".join(f"{int(o):03}" for o in a.split("."))

    return f"{addr(src)}.{sport:05}-{addr(dst)}.{dport:05}"


def report(
    tool: str,
    found: Optional[Dict[str, Tuple[int, str]]],
    capture: str,
    bodies=None,
    extra: Optional[Dict[str, object]] = None,
) -> None:
    """Print the tool's line: directions found and equal to the oracle
    (`found` None: the tool gives no directions), response bodies carved."""
    line: Dict[str, object] = {"tool": tool, "bodies": bodies, **(extra or {})}
    if found is not None:
        expected = oracle(capture)
        line["directions"] = len(found)
        line["expected"] = len(expected)
        line["equal"] = sum(1 for n, v in found.items() if expected.get(n) == v)
    print(json.dumps(line))
    sys.stdout.flush()
