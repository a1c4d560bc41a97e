"""Peak RSS while iterating a generated capture of more than 1 GB, every
direction read with d.read(), stays under the run's max_memory: the bytes
wait in flow files on disk, not in memory."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import ROOT

BUDGET_MIB = 128

ITERATE = """
import hashlib, json, sys
import flowsplit
expected = {}
for line in open(sys.argv[1] + ".expected.tsv"):
    name, size, sha = line.rstrip("\\n").split("\\t")
    expected[name] = (int(size), sha)
equal = n = 0
for d in flowsplit.read(sys.argv[1], max_memory=sys.argv[2], workdir=sys.argv[3]):
    data = d.read()
    n += 1
    equal += expected.get(d.name) == (len(data), hashlib.sha256(data).hexdigest())
# VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over exec from
# the forking process (pytest's, which may be larger than this one's).
peak = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"directions": n, "equal": equal, "expected": len(expected), "peak": peak}))
"""


def test_peak_rss_over_a_capture_of_more_than_1_gb_stays_under_the_budget(tmp_path):
    gen = ROOT / "target" / "release" / "examples" / "bench_gen"
    if not gen.exists():
        pytest.fail(f"{gen} is missing: cargo test --release (or cargo build --release --examples) builds it")
    capture = tmp_path / "big.pcap"
    subprocess.run(
        [str(gen), "--shape", "small", "--scale", "0.7", "-o", str(capture)],
        check=True,
        capture_output=True,
    )
    assert capture.stat().st_size > 1_000_000_000
    work = tmp_path / "work"
    work.mkdir()
    out = subprocess.run(
        [sys.executable, "-c", ITERATE, str(capture), f"{BUDGET_MIB}M", str(work)],
        check=True,
        capture_output=True,
        text=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(result)
    assert result["directions"] == result["equal"] == result["expected"] > 50_000
    assert result["peak"] < BUDGET_MIB << 20
