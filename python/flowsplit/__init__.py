"""flowsplit: exact TCP streams from pcap/pcapng captures, in Python.

Every byte is reassembled, named and hashed by the flowsplit Rust library,
in the very run the ``flowsplit`` command makes: this package converts
arguments and results, nothing more.

- :func:`read` yields a :class:`Direction` for each TCP direction as it
  completes, with the values of the CLI's ``report.jsonl`` line and its
  bytes (``d.read()``, ``d.open()``).
- :func:`http` yields an :class:`Exchange` for each HTTP request/response
  pair, with the facts of the CLI's ``http.jsonl`` line and its bodies.
- :func:`split` does the CLI's whole job into a folder and returns the run
  summary.
- :func:`live` captures on an interface and yields the same directions,
  and :func:`live_http` (its ``http()`` form) the exchanges, each as its
  connection is carved.

Keyword options are the CLI's long options with ``_`` for ``-``
(:data:`OPTIONS` lists them and the flag each stands for); they are parsed
by the CLI's own parser, so they mean, default and are refused exactly as
on the command line.

Where a stream's bytes wait: the run writes each direction's flow file
into a private temporary folder (``workdir=`` picks where it is made),
and a :class:`Direction` is handed over once its file is complete.
``read()`` and ``open()`` read that file. The folder is deleted once the
iterator and every ``Direction`` of the run are gone. A stream of any size
so waits on disk, never in memory: the run stays within ``max_memory``,
and the disk holds what the CLI's output folder would.

Errors: ``FileNotFoundError`` and ``PermissionError`` where an input or
output cannot be opened for those reasons; otherwise :class:`Error` and its
subclasses, each with the CLI's message.
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterable, Iterator, List, Optional, Union

from . import _flowsplit
from ._http import Exchange, LiveExchanges, Message, exchanges
from ._flowsplit import (
    CaptureError,
    Direction,
    Directions,
    Error,
    FilterError,
    InternalError,
    LiveCaptureError,
    OptionError,
    OutputError,
)

__version__: str = _flowsplit.__version__

#: Each keyword option: ``(keyword, CLI flag, calls that take it)``.
OPTIONS: List[tuple] = list(_flowsplit.OPTIONS)

PathLike = Union[str, "os.PathLike[str]"]

__all__ = [
    "CaptureError",
    "Direction",
    "Directions",
    "Error",
    "Exchange",
    "FilterError",
    "LiveExchanges",
    "InternalError",
    "LiveCaptureError",
    "Message",
    "OPTIONS",
    "OptionError",
    "OutputError",
    "http",
    "live",
    "live_http",
    "read",
    "split",
]


def _paths(paths: Union[PathLike, Iterable[PathLike]]) -> List[str]:
    """One path or several, as strings, in order."""
    if isinstance(paths, (str, bytes)) or hasattr(paths, "__fspath__"):
        return [os.fsdecode(os.fspath(paths))]  # type: ignore[arg-type]
    return [os.fsdecode(os.fspath(p)) for p in paths]


def read(
    paths: Union[PathLike, Iterable[PathLike]],
    *,
    filter: Optional[str] = None,
    workdir: Optional[PathLike] = None,
    **options: Any,
) -> Directions:
    """Read captures and yield each TCP direction as it completes.

    ``paths`` is a capture (pcap or pcapng), a folder of them (read in name
    order) or a list of these, read in order with one flow table, as the
    CLI reads several ``-r``. ``filter`` is a BPF expression. ``options``
    are the CLI's options that apply (see :data:`OPTIONS`), for instance
    ``max_memory="512M"``, ``timeout=120``, ``max_seek="16M"``,
    ``max_bytes``, ``threads``, ``shard="0/4"``, ``md5=True``.
    ``grep="token"`` (or a list) searches each direction as it is
    reassembled and sets its ``grep_matches``; with ``only_matching=True``
    only the connections with a match are yielded (``grep_fixed``,
    ``grep_hex``, ``grep_ignore_case``, ``grep_file`` and
    ``grep_max_match`` read the patterns as ``flowsplit grep`` does).

    The iterator yields :class:`Direction` objects in the report's order.
    An input that cannot be read is raised once every direction was
    yielded (what was read before its damage is kept, as the CLI keeps
    it). Leaving the iterator, or ``close()``, stops the run and releases
    its thread and files.
    """
    return _flowsplit.read(
        _paths(paths),
        filter,
        options,
        None if workdir is None else os.fspath(workdir),
    )


def http(
    paths: Union[PathLike, Iterable[PathLike]],
    *,
    filter: Optional[str] = None,
    tls_keylog: Union[None, PathLike, List[PathLike]] = None,
    workdir: Optional[PathLike] = None,
    **options: Any,
) -> Iterator[Exchange]:
    """Read captures and yield an :class:`Exchange` per HTTP request/response pair.

    The run is the CLI's ``-e http`` into a private folder (see :func:`read`
    for ``paths``, ``filter``, ``workdir`` and the options; ``tls_keylog``
    is an NSS key log, or a list of them, to decrypt TLS with). Exchanges
    come in ``http.jsonl``'s order, which is known only once every
    connection is carved: the first is yielded when the run is over. Body
    bytes stay in their files until asked for (``x.response.body``). Range
    objects come as exchanges whose ``object`` is set; multipart parts are
    in ``x.request.parts``/``x.response.parts``.
    """
    if tls_keylog is not None:
        options["tls_keylog"] = tls_keylog
    run = _flowsplit.read(
        _paths(paths),
        filter,
        options,
        None if workdir is None else os.fspath(workdir),
        True,
    )
    return exchanges(run)


def live_http(
    interface: Optional[str] = None,
    *,
    filter: Optional[str] = None,
    tls_keylog: Union[None, PathLike, List[PathLike]] = None,
    workdir: Optional[PathLike] = None,
    **options: Any,
) -> LiveExchanges:
    """Capture on ``interface`` and yield an :class:`Exchange` per HTTP
    request/response pair, each as its connection is carved: :func:`live`'s
    ``http()`` form, as :func:`http` is :func:`read`'s.

    The capture is the CLI's ``-i INTERFACE -e http`` into a private
    folder; arguments, options, stopping and ``stats()`` are
    :func:`live`'s, and ``tls_keylog`` (a key log, or a list of them; it
    may not exist yet) decrypts TLS as :func:`http` does. Exchanges come
    in the order their connections close, with the facts of their
    ``http.jsonl`` lines; bodies stay in their files until read. Objects
    assembled from ``206`` range parts are only in the ``http.jsonl``
    written when capture ends.
    """
    if tls_keylog is not None:
        options["tls_keylog"] = tls_keylog
    run = _flowsplit.live(
        interface,
        filter,
        options,
        None if workdir is None else os.fspath(workdir),
        True,
    )
    return LiveExchanges(run)


def split(
    paths: Union[PathLike, Iterable[PathLike]],
    out_dir: PathLike,
    *,
    filter: Optional[str] = None,
    **options: Any,
) -> dict:
    """Do the CLI's whole job on ``paths`` into ``out_dir``.

    The same as ``flowsplit -r PATH... -o OUT_DIR [options] [filter]``: flow
    files, ``report.jsonl``, ``report.xml`` and, with ``http=True``, carved
    HTTP bodies and ``http.jsonl``. Returns the run summary (the
    ``report.summary.json`` the CLI writes) as a dict. The error that
    stopped the run, or else the first input that could not be read, is
    raised once the run is over, with the summary as its ``summary``
    attribute.
    """
    try:
        summary = _flowsplit.split(_paths(paths), os.fspath(out_dir), filter, options)
    except BaseException as e:
        text = getattr(e, "summary_json", None)
        if text is not None:
            e.summary = json.loads(text)  # type: ignore[attr-defined]
        raise
    result: dict = json.loads(summary)
    return result


def live(
    interface: Optional[str] = None,
    *,
    filter: Optional[str] = None,
    workdir: Optional[PathLike] = None,
    **options: Any,
) -> Directions:
    """Capture on ``interface`` and yield each TCP direction as it completes.

    A context manager and an iterator of :class:`Direction`, as
    :func:`read`'s. ``interface`` ``None`` is the first device libpcap
    lists. Capture stops on ``close()``, on leaving the ``with`` block, and
    on Ctrl-C (``KeyboardInterrupt``) while waiting for the next direction;
    the connections still open are then closed and yielded no more.
    Capture needs the rights to capture (root or CAP_NET_RAW).

    ``stats()`` on the returned object gives the capture's counters so far
    as a dict, updated about once a second and once more when capture
    stops (``None`` before): ``packets`` and ``bytes`` taken from the
    kernel, ``kernel_received``, ``kernel_dropped`` (the kernel buffer was
    full) and ``interface_dropped`` as libpcap last read them,
    ``flowsplit_dropped`` (packets flowsplit's capture queue dropped: only
    once decoding has stopped; while it goes on the capture thread waits
    instead, for ``flowsplit_waited_ms`` in all, and the kernel buffer
    holds the backlog) and ``queued`` (directions closed and waiting for
    this iterator; the queue is bounded, and while it is full the run
    waits). A dropped packet's bytes are a gap in its direction.
    """
    return _flowsplit.live(
        interface,
        filter,
        options,
        None if workdir is None else os.fspath(workdir),
    )

