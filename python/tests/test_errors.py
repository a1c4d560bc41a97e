"""Every documented exception, for each kind of bad input, with the CLI's
message; and an abandoned iterator releases its thread and files."""

from __future__ import annotations

import gc
import os
import pathlib
import time

import pytest

import flowsplit
from conftest import TESTDATA, cli_binary

GAP = TESTDATA / "gap.pcap"


def first(it):
    return next(iter(it))


def test_a_missing_capture_is_file_not_found(tmp_path):
    missing = tmp_path / "nope.pcap"
    with pytest.raises(FileNotFoundError) as e:
        list(flowsplit.read(missing))
    assert str(missing) in str(e.value)
    assert e.value.filename == str(missing)
    with pytest.raises(FileNotFoundError) as s:
        flowsplit.split(missing, tmp_path / "out")
    assert s.value.summary["input_errors"]  # type: ignore[attr-defined]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_capture_is_permission_error(tmp_path):
    locked = tmp_path / "locked.pcap"
    locked.write_bytes(GAP.read_bytes())
    locked.chmod(0)
    with pytest.raises(PermissionError):
        list(flowsplit.read(locked))


def test_a_file_that_is_not_a_capture_is_a_capture_error(tmp_path):
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"this is not a capture at all, just text\n" * 10)
    with pytest.raises(flowsplit.CaptureError, match="not a pcap or pcapng capture"):
        list(flowsplit.read(junk))
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    with pytest.raises(flowsplit.CaptureError, match="empty"):
        list(flowsplit.read(empty))


def test_a_truncated_capture_yields_what_came_before_then_raises(tmp_path):
    whole = GAP.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(whole[: len(whole) - 7])
    got = []
    with pytest.raises(flowsplit.CaptureError, match="packets before it were processed"):
        for d in flowsplit.read(cut):
            got.append(d)
    assert isinstance(flowsplit.CaptureError("x"), flowsplit.Error)


def test_hostile_bytes_never_crash_the_interpreter(tmp_path):
    import random

    rng = random.Random(28)
    whole = bytearray(GAP.read_bytes())
    for i in range(40):
        mangled = bytearray(whole)
        for _ in range(rng.randint(1, 40)):
            mangled[rng.randrange(len(mangled))] = rng.randrange(256)
        p = tmp_path / f"m{i}.pcap"
        p.write_bytes(bytes(mangled[: rng.randint(0, len(mangled))]))
        try:
            for d in flowsplit.read(p):
                assert len(d.read()) == d.bytes
        except flowsplit.Error:
            pass


def test_a_bad_filter_is_a_filter_error():
    with pytest.raises(flowsplit.FilterError, match="bad filter expression 'tcp port'"):
        list(flowsplit.read(GAP, filter="tcp port"))


def test_bad_options_are_option_errors_with_the_cli_message():
    with pytest.raises(flowsplit.OptionError, match="below the smallest budget"):
        flowsplit.read(GAP, max_memory="1K")
    with pytest.raises(ValueError):
        flowsplit.read(GAP, max_memory="lots")
    with pytest.raises(flowsplit.OptionError, match='unknown option "colour"'):
        flowsplit.read(GAP, colour=True)
    with pytest.raises(flowsplit.OptionError, match="does not apply"):
        flowsplit.read(GAP, report="x.jsonl")
    with pytest.raises(flowsplit.OptionError, match="add -e http"):
        flowsplit.read(GAP, tls_keylog="keys.log")
    with pytest.raises(flowsplit.OptionError):
        flowsplit.read([])
    assert issubclass(flowsplit.OptionError, flowsplit.Error)


def test_an_output_folder_that_cannot_be_made_is_an_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises((flowsplit.OutputError, OSError)):
        flowsplit.split(GAP, blocker / "out")
    with pytest.raises((flowsplit.OutputError, OSError)):
        flowsplit.read(GAP, workdir=blocker)


def test_a_live_capture_on_no_such_interface_is_a_live_capture_error():
    with pytest.raises(flowsplit.LiveCaptureError):
        with flowsplit.live("no-such-if0") as it:
            next(iter(it))


def big_capture(tmp_path: pathlib.Path) -> pathlib.Path:
    """Many copies of the testdata captures, read as one folder."""
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(30):
        (folder / f"{i:03}.pcap").write_bytes(GAP.read_bytes())
    return folder


def test_an_abandoned_iterator_releases_its_thread_and_files(tmp_path):
    before = len(os.listdir("/proc/self/task"))
    workdir = tmp_path / "work"
    workdir.mkdir()
    it = flowsplit.read(big_capture(tmp_path), workdir=workdir)
    d = next(it)
    assert list(workdir.iterdir())
    del d, it
    gc.collect()
    deadline = time.time() + 10
    while time.time() < deadline and (
        list(workdir.iterdir()) or len(os.listdir("/proc/self/task")) > before
    ):
        time.sleep(0.05)
    assert list(workdir.iterdir()) == []
    assert len(os.listdir("/proc/self/task")) <= before
    fds = os.listdir("/proc/self/fd")
    assert not any(str(workdir) in os.readlink(f"/proc/self/fd/{f}") for f in fds if os.path.exists(f"/proc/self/fd/{f}"))


def test_close_stops_the_run_and_waits_for_it(tmp_path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    it = flowsplit.read(big_capture(tmp_path), workdir=workdir)
    d = next(it)
    it.close()
    assert d.read() is not None
    with pytest.raises(StopIteration):
        next(it)
    del d, it
    gc.collect()
    assert list(workdir.iterdir()) == []


def test_the_cli_binary_is_there():
    assert cli_binary().exists()
