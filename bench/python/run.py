"""bench/python: one script per tool on the same capture, and a table of
wall time, peak RSS, and directions equal to the generator's oracle.

    bench/python/run.py [--scale F] [--repeat N] [--tools a,b,...] [--dir DIR]

The capture is examples/bench_gen.rs's `small` shape at --scale (default
0.25: 20,000 connections, 0.39 GB), generated into --dir (default
/tmp/flowsplit-pybench) unless there already. Each tool runs --repeat times
(default 3), the tools taking turns so that a busy spell on the machine hits
them alike; the table gives the fastest wall time and the largest peak RSS
(GNU time). Tools: cli (the flowsplit binary, checked by its report),
cli-http (-e http), read (flowsplit.read, every d.read() hashed), http
(flowsplit.http, every body read), dpkt, scapy, pyshark. The Python that
runs the scripts must have flowsplit (pip install ./python) and the other
tools installed; `$PYTHON` picks it (default python3).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PYTHON = os.environ.get("PYTHON", sys.executable)
CLI = ROOT / "target" / "release" / "flowsplit"

SCRIPTS = {
    "read": "flowsplit_read.py",
    "http": "flowsplit_http.py",
    "dpkt": "dpkt_read.py",
    "scapy": "scapy_read.py",
    "pyshark": "pyshark_read.py",
}


def timed(cmd, cwd=None):
    """Run cmd under GNU time: (wall s, peak RSS MiB, stdout)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as t:
        p = subprocess.run(
            ["/usr/bin/time", "-f", "%e %M", "-o", t.name, *cmd],
            cwd=cwd,
            capture_output=True,
            text=True,
        )
        if p.returncode != 0:
            sys.stderr.write(p.stderr[-2000:])
        wall, rss = t.read().split()[-2:]
    return float(wall), int(rss) / 1024, p.stdout


def cli_result(capture: str, out: pathlib.Path, http: bool) -> dict:
    """The binary's directions, checked against the oracle by its report."""
    sys.path.insert(0, str(HERE))
    from common import oracle

    expected = oracle(capture)
    lines = [json.loads(l) for l in (out / "report.jsonl").read_text().splitlines() if l.strip()]
    equal = sum(1 for r in lines if expected.get(r["file"]) == (r["bytes"], r["sha256"]))
    bodies = None
    if http:
        # Response bodies with bytes, as the other tools count them.
        index = [json.loads(l) for l in (out / "http.jsonl").read_text().splitlines() if l.strip()]
        bodies = sum(
            1
            for r in index
            if r.get("response_body") and r["response_body"]["decoded_length"] > 0
        )
    return {"directions": len(lines), "expected": len(expected), "equal": equal, "bodies": bodies}


def run_tool(tool: str, capture: str, scratch: pathlib.Path):
    if tool in ("cli", "cli-http"):
        out = scratch / "cli-out"
        shutil.rmtree(out, ignore_errors=True)
        cmd = [str(CLI), "-q", "-r", capture, "-o", str(out)]
        if tool == "cli-http":
            cmd += ["-e", "http"]
        wall, rss, _ = timed(cmd)
        result = cli_result(capture, out, tool == "cli-http")
        # Timed apart: the Python tools delete their private folder before
        # they exit, so their wall time holds what this costs.
        cleanup, _, _ = timed(["rm", "-rf", str(out)])
        result["cleanup_s"] = cleanup
        return wall, rss, result
    env_dir = scratch / "work"
    env_dir.mkdir(exist_ok=True)
    wall, rss, out = timed([PYTHON, str(HERE / SCRIPTS[tool]), capture], cwd=HERE)
    lines = [l for l in out.splitlines() if l.startswith("{")]
    return wall, rss, json.loads(lines[-1]) if lines else {"error": True}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=0.25)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tools", default="cli,read,cli-http,http,dpkt")
    ap.add_argument("--dir", default="/tmp/flowsplit-pybench")
    args = ap.parse_args()
    d = pathlib.Path(args.dir)
    d.mkdir(parents=True, exist_ok=True)
    capture = str(d / f"small-{args.scale}.pcap")
    if not os.path.exists(capture):
        subprocess.run(
            ["cargo", "run", "--release", "--example", "bench_gen", "--",
             "--shape", "small", "--scale", str(args.scale), "-o", capture],
            cwd=ROOT, check=True,
        )
    tools = args.tools.split(",")
    best = {}
    for _ in range(args.repeat):
        for tool in tools:
            wall, rss, result = run_tool(tool, capture, d)
            print(f"{tool}: {wall:.2f} s, {rss:.1f} MiB, {json.dumps(result)}", file=sys.stderr, flush=True)
            prev = best.get(tool)
            if prev is None or wall < prev[0]:
                best[tool] = (wall, max(rss, prev[1] if prev else 0), result)
            else:
                best[tool] = (prev[0], max(rss, prev[1]), prev[2])
    size = os.path.getsize(capture) / 1e9
    print(f"capture: {capture} ({size:.2f} GB), fastest of {args.repeat}")
    print(f"{'tool':<10} {'wall s':>8} {'x cli':>6} {'RSS MiB':>8} {'directions equal':>18} {'bodies':>7}")
    cli = best.get("cli", (None,))[0]
    for tool in tools:
        wall, rss, r = best[tool]
        ratio = f"{wall / cli:.2f}" if cli else "-"
        eq = f"{r.get('equal')}/{r.get('expected')}" if "equal" in r else "-"
        bodies = r.get("bodies")
        print(f"{tool:<10} {wall:>8.2f} {ratio:>6} {rss:>8.1f} {eq:>18} {'-' if bodies is None else bodies:>7}")


if __name__ == "__main__":
    main()
