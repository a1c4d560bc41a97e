"""Shared fixtures: the captures to test on and the CLI to compare with.

The CLI is the one `cargo test --release` builds (target/release/flowsplit,
or $FLOWSPLIT_BIN); the captures are testdata/'s and, when present,
../shared/corpus/'s (see its README).
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
from typing import Dict, List

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
TESTDATA = ROOT / "testdata"
CORPUS = ROOT.parent / "shared" / "corpus"


def cli_binary() -> pathlib.Path:
    """The flowsplit binary to compare with."""
    given = os.environ.get("FLOWSPLIT_BIN")
    path = pathlib.Path(given) if given else ROOT / "target" / "release" / "flowsplit"
    if not path.exists():
        pytest.fail(f"{path} is missing: build it with cargo build --release")
    return path


def captures() -> List[pathlib.Path]:
    """testdata's captures, then the shared corpus's."""
    found = sorted(p for p in TESTDATA.glob("*.pcap*") if p.is_file())
    found += sorted((TESTDATA / "http").glob("*.pcap*")) if (TESTDATA / "http").is_dir() else []
    if CORPUS.is_dir():
        for line in (CORPUS / "MANIFEST.tsv").read_text().splitlines()[1:]:
            name = line.split("\t")[0]
            if (CORPUS / name).is_file():
                found.append(CORPUS / name)
    return found


def run_cli(args: List[str], out: pathlib.Path) -> subprocess.CompletedProcess:
    """Run the CLI into `out` and return how it went."""
    return subprocess.run(
        [str(cli_binary()), "-q", "-o", str(out), *args],
        capture_output=True,
        text=True,
    )


def report_lines(out: pathlib.Path) -> List[Dict]:
    """The report's direction lines, parsed (its TLS lines, ``"record":
    "tls"``, written after carving, are left out)."""
    path = out / "report.jsonl"
    if not path.exists():
        return []
    lines = [json.loads(l) for l in path.read_text().splitlines() if l.strip()]
    return [l for l in lines if l.get("record") != "tls"]


@pytest.fixture
def http_capture() -> pathlib.Path:
    """A capture with HTTP in it."""
    for p in captures():
        if "http" in p.name:
            return p
    pytest.skip("no HTTP capture")
