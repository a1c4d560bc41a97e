"""flowsplit.read() against the CLI: every Direction equals the CLI's flow
file and report line (bytes, sha256, gaps, every field), and split()
equals the CLI's run."""

from __future__ import annotations

import hashlib
import json
import pathlib
from typing import List

import pytest

import flowsplit
from conftest import TESTDATA, captures, report_lines, run_cli

CAPTURES = captures()


def ids(paths: List[pathlib.Path]) -> List[str]:
    return [str(p.name) for p in paths]


@pytest.mark.parametrize("capture", CAPTURES, ids=ids(CAPTURES))
def test_every_direction_equals_the_cli_flow_file_and_report_line(capture, tmp_path):
    out = tmp_path / "cli"
    run_cli(["-r", str(capture)], out)
    expected = report_lines(out)
    got = []
    try:
        for d in flowsplit.read(capture):
            got.append((json.loads(d.record), d.read(), d))
    except flowsplit.CaptureError:
        # The CLI reports the same damage and keeps what came before it.
        pass
    assert [g[0] for g in got] == expected
    for record, data, d in got:
        flow = (out / record["file"]).read_bytes()
        assert data == flow
        assert hashlib.sha256(data).hexdigest() == d.sha256 == record["sha256"]
        assert [list(g) for g in d.gaps] == record["gaps"]
        assert [list(j) for j in d.jumps] == record["jumps"]
        assert d.bytes == len(data) == record["bytes"]
        assert d.name == record["file"]
        assert (d.src, d.sport, d.dst, d.dport) == (
            record["src"],
            record["sport"],
            record["dst"],
            record["dport"],
        )
        assert d.vlan == record["vlan"]
        assert d.connection == record["connection"]
        assert d.packets == record["packets"]
        assert d.end == record["end"]
        assert d.community_id == record["community_id"]
        secs, nanos = record["first_ts"].split(".")
        assert d.first_ts_ns == int(secs) * 10**9 + int(nanos)
        assert abs(d.first_ts - d.first_ts_ns / 1e9) < 1e-6
        with d.open() as f:
            assert f.read() == flow


def test_several_paths_are_read_in_order_with_one_flow_table(tmp_path):
    caps = [c for c in CAPTURES if c.parent.name == "testdata"][:3]
    out = tmp_path / "cli"
    args: List[str] = []
    for c in caps:
        args += ["-r", str(c)]
    run_cli(args, out)
    got = []
    try:
        for d in flowsplit.read(caps):
            got.append(json.loads(d.record))
    except flowsplit.CaptureError:
        pass
    assert got == report_lines(out)


def test_options_and_filter_mean_what_the_cli_flags_mean(tmp_path):
    capture = next(c for c in CAPTURES if c.name == "gap.pcap")
    out = tmp_path / "cli"
    run_cli(["-r", str(capture), "-b", "5", "-e", "md5", "tcp"], out)
    got = [
        (json.loads(d.record), d.read())
        for d in flowsplit.read(capture, filter="tcp", max_bytes=5, md5=True)
    ]
    assert [g[0] for g in got] == report_lines(out)
    assert got and all(len(data) <= 5 for _, data in got)
    assert all(r["md5"] for r, _ in got)


def test_split_does_the_cli_job_and_returns_its_summary(tmp_path):
    capture = next(c for c in CAPTURES if c.name == "gap.pcap")
    cli_out, py_out = tmp_path / "cli", tmp_path / "py"
    run_cli(["-r", str(capture)], cli_out)
    summary = flowsplit.split(capture, py_out)
    assert summary == json.loads((py_out / "report.summary.json").read_text())
    assert summary["complete"] is True
    assert summary["directions"] == len(report_lines(cli_out)) > 0
    assert report_lines(py_out) == report_lines(cli_out)
    for r in report_lines(cli_out):
        assert (py_out / r["file"]).read_bytes() == (cli_out / r["file"]).read_bytes()


def test_split_with_tls_writes_the_cli_report_with_its_tls_lines(tmp_path):
    # Issue 29: with http=True and a key log, report.jsonl ends with a TLS
    # line per direction; split() writes the CLI's report byte for byte,
    # and the report's direction lines still equal read()'s Directions.
    tls = TESTDATA / "tls"
    capture = tls / "tls12_resumed_id_get.pcap"
    keys = tls / "tls12_resumed_id_get.first.keys"
    cli_out, py_out = tmp_path / "cli", tmp_path / "py"
    done = run_cli(["-e", "http", "--tls-keylog", str(keys), "-r", str(capture)], cli_out)
    assert done.returncode == 0, done.stderr
    flowsplit.split(capture, py_out, http=True, tls_keylog=str(keys))
    text = (py_out / "report.jsonl").read_text()
    assert text == (cli_out / "report.jsonl").read_text()
    lines = [json.loads(l) for l in text.splitlines()]
    tls_lines = [l for l in lines if l.get("record") == "tls"]
    assert lines[len(lines) - len(tls_lines) :] == tls_lines
    sources = sorted((l["secret_source"], l["resumed_by"], l["decrypted"]) for l in tls_lines)
    assert sources == [("keylog", None, True)] * 2 + [("session_cache", "session ID", True)] * 4
    directions = report_lines(py_out)
    assert len(directions) == 6 and all("record" not in d for d in directions)
    assert [json.loads(d.record) for d in flowsplit.read(capture)] == directions


def test_directions_stay_readable_after_the_iterator_is_gone():
    capture = next(c for c in CAPTURES if c.name == "gap.pcap")
    kept = list(flowsplit.read(capture))
    assert kept
    for d in kept:
        assert hashlib.sha256(d.read()).hexdigest() == d.sha256
    folder = kept[0].path.parent
    assert folder.exists()
    del kept, d
    import gc

    gc.collect()
    assert not folder.exists()


def test_a_file_run_has_no_live_stats():
    from conftest import TESTDATA

    with flowsplit.read(TESTDATA / "fin_rst.pcap") as run:
        assert len(list(run)) > 0
        assert run.stats() is None
