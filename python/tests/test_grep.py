"""grep= and only_matching= (issue 30, keep what matched): the same search
and the same choice of connections as the CLI's --grep and --only-matching."""

from __future__ import annotations

import pathlib

import flowsplit
import pytest

from conftest import TESTDATA, report_lines, run_cli

# Three connections: over Ethernet, raw IPv6 and Linux SLL, each direction
# saying which ("over ethernet", "ethernet reply", "raw ipv6 reply", ...).
MIXED = TESTDATA / "pcapng_mixed.pcapng"


def test_grep_counts_matches_in_every_direction() -> None:
    with flowsplit.read(MIXED, grep=["sll", "ethernet"]) as directions:
        counts = {d.read().decode(): d.grep_matches for d in directions}
    assert counts == {
        "over ethernet": 1,
        "ethernet reply": 1,
        "over linux sll": 1,
        "sll reply": 1,
        "over raw ipv6": 0,
        "raw ipv6 reply": 0,
    }
    with flowsplit.read(MIXED) as directions:
        assert {d.grep_matches for d in directions} == {None}


def test_only_matching_yields_the_matching_connections_only() -> None:
    with flowsplit.read(MIXED, grep="IPV6 REPLY", grep_ignore_case=True, only_matching=True) as directions:
        got = [(d.name, d.read(), d.grep_matches) for d in directions]
    assert got == [
        ("2001:db8::1.40002-2001:db8::2.00080", b"over raw ipv6", 0),
        ("2001:db8::2.00080-2001:db8::1.40002", b"raw ipv6 reply", 1),
    ]


def test_split_writes_what_the_cli_writes(tmp_path: pathlib.Path) -> None:
    cli = tmp_path / "cli"
    done = run_cli(["-r", str(MIXED), "--grep-hex", "--grep", "736c6c", "--only-matching"], cli)
    assert done.returncode == 0, done.stderr
    py = tmp_path / "py"
    flowsplit.split(MIXED, py, grep="736c6c", grep_hex=True, only_matching=True)
    assert report_lines(py) == report_lines(cli)
    assert [l["grep_matches"] for l in report_lines(py)] == [1, 1]
    assert sorted(p.name for p in py.iterdir() if p.name[0].isdigit()) == [
        "010.000.000.002.00080-010.000.000.003.40003",
        "010.000.000.003.40003-010.000.000.002.00080",
    ]


def test_only_matching_without_a_pattern_is_refused_as_on_the_command_line() -> None:
    with pytest.raises(flowsplit.OptionError, match="--only-matching"):
        flowsplit.read(MIXED, only_matching=True)
