"""flowsplit.http() against the CLI's -e http: every Exchange equals its
http.jsonl line and its bodies equal the CLI's body files."""

from __future__ import annotations

import json
import pathlib
from typing import Dict, List

import pytest

import flowsplit
from conftest import CORPUS, TESTDATA, captures, run_cli


def http_captures() -> List[pathlib.Path]:
    found = sorted((TESTDATA / "http").glob("*.pcap*"))
    manifest = CORPUS / "MANIFEST.tsv"
    if manifest.is_file():
        rows = manifest.read_text().splitlines()
        head = rows[0].split("\t")
        col = head.index("http_responses")
        for row in rows[1:]:
            cells = row.split("\t")
            if cells[col].isdigit() and int(cells[col]) > 0 and (CORPUS / cells[0]).is_file():
                found.append(CORPUS / cells[0])
    return found


CAPTURES = http_captures()


def cli_lines(out: pathlib.Path) -> List[Dict]:
    lines = []
    for index in sorted(out.rglob("http.jsonl")):
        lines += [json.loads(l) for l in index.read_text().splitlines() if l.strip()]
    return lines


@pytest.mark.parametrize("capture", CAPTURES, ids=[c.name for c in CAPTURES])
def test_every_exchange_equals_the_cli_index_line_and_body_files(capture, tmp_path):
    out = tmp_path / "cli"
    run_cli(["-e", "http", "-r", str(capture)], out)
    expected = cli_lines(out)
    got = []
    try:
        for x in flowsplit.http(capture):
            got.append(x)
    except flowsplit.CaptureError:
        pass
    assert [x.line for x in got] == expected
    report = {
        json.loads(l)["file"]: json.loads(l)["connection"]
        for l in (out / "report.jsonl").read_text().splitlines()
        if l.strip()
    }
    for x in got:
        for half, name in ((x.request, "request"), (x.response, "response")):
            record = x.line[f"{name}_body"]
            if half is None:
                assert x.line[f"{name}_file"] is None
                continue
            if record is None:
                assert half.body is None
                continue
            if record["file"] is None:
                assert half.body == b""
            else:
                assert half.body == (out / record["file"]).read_bytes()
            assert half.complete == record["complete"]
            assert [list(g) for g in half.gaps] == record.get("gaps", [])
            if not record["decoded"]:
                assert half.raw_body == half.body
        if x.request is not None and x.stream_id is None and x.line["request_offset"] is not None:
            names = [n for n, _ in x.request.headers]
            if x.line["host"] is not None and not x.line["notes"]:
                assert "host" in names
        flow = x.line.get("request_file") or x.line.get("response_file")
        if flow is not None and flow in report:
            assert x.connection == report[flow]
        assert x.community_id == x.line["community_id"]
        assert x.tls == x.line.get("tls")
        assert x.stream_id == x.line.get("stream_id")
        if x.object is not None:
            assert x.object_path is not None
            assert x.object_path.read_bytes() == (out / x.object["file"]).read_bytes()


def test_request_headers_come_in_wire_order():
    capture = TESTDATA / "http" / "chunked_trailers.pcap"
    first = next(iter(flowsplit.http(capture)))
    assert first.request is not None and first.response is not None
    assert first.request.method == "GET"
    assert first.request.uri == "/chunked.txt"
    assert first.response.status == 200
    headers = first.request.headers
    assert headers and headers[0][0] == "host" and headers[0][1] == "localhost"
    names = [n for n, _ in first.response.headers]
    assert "transfer-encoding" in names
    assert first.response.raw_body == first.response.body


def _bodies(exchanges) -> List[bytes]:
    return sorted(x.response.body for x in exchanges if x.response and x.response.body)


def test_rsa_key_and_psk_keywords_decrypt_as_the_cli_does(tmp_path):
    tls = TESTDATA / "tls"
    psk = (tls / "psk.hex").read_text().split()[0]
    for capture, keyword, value, flag in [
        ("tls12_rsa_gcm.pcap", "tls_rsa_key", str(tls / "key.pem"), "--tls-rsa-key"),
        ("tls12_psk_chacha20.pcap", "tls_psk", psk, "--tls-psk"),
    ]:
        got = list(flowsplit.http(tls / capture, **{keyword: value}))
        assert got, capture
        for x in got:
            assert x.tls is not None and x.tls["decrypted"] is True, (capture, x.tls)
            assert x.tls["secret_source"] == keyword, (capture, x.tls)
        out = tmp_path / capture
        done = run_cli(["-e", "http", flag, value, "-r", str(tls / capture)], out)
        assert done.returncode == 0, done.stderr
        want = sorted(
            p.read_bytes() for p in out.iterdir() if "HTTPBODY" in p.name and p.stat().st_size
        )
        assert want and _bodies(got) == want, capture
        # Without the key, nothing decrypts.
        assert _bodies(flowsplit.http(tls / capture)) == []
