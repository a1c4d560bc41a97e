"""HTTP exchanges: the CLI's ``http.jsonl`` lines and body files as objects.

The carving is the library's (the run is ``flowsplit -e http``, into the
run's private folder); this module only reads what that run wrote: each
index line becomes an :class:`Exchange`, its body files are read when
asked for, and header fields come from the library's own head parser
(``head_fields``).
"""

from __future__ import annotations

import collections
import json
import os
import pathlib
from typing import Any, Dict, Iterator, List, Optional, Tuple

from . import _flowsplit


class Message:
    """One half of an exchange: a request or a response.

    ``method``/``uri``/``host`` (requests) or ``status``/``reason``/
    ``interim`` (responses) are the start line's fields and ``version``
    its protocol. ``headers`` lists ``(name, value)`` pairs in wire order,
    names lower-cased as the carver reads them (empty for HTTP/2 and for a
    head cut by a hole). ``body`` is the body file's bytes (decoded unless
    ``keep_encoding=True``), ``b""`` when the body decoded to nothing, and
    ``None`` when the message has no body. ``raw_body`` is the body as sent
    after de-chunking: the body file itself when no coding was undone, the
    flow file's bytes when the body was not chunked, ``None`` otherwise
    (never reassembled here). ``complete`` is the body's (True without a
    body); ``gaps`` the zero-filled holes of the flow inside the body,
    ``(offset, length)`` in the flow file; ``info`` the index's body record
    (framing, lengths, codings, sha256, range, multipart ``parts``).
    """

    def __init__(
        self,
        folder: pathlib.Path,
        line: Dict[str, Any],
        side: str,
    ) -> None:
        self._folder = folder
        self.flow_file: str = line[f"{side}_file"]
        self.offset: Optional[int] = line[f"{side}_offset"]
        self.number: Optional[int] = line[f"{side}_number"]
        self.version: Optional[str] = line[f"{side}_version"]
        self.method: Optional[str] = line.get("method") if side == "request" else None
        self.uri: Optional[str] = line.get("uri") if side == "request" else None
        self.host: Optional[str] = line.get("host") if side == "request" else None
        self.status: Optional[int] = line.get("status") if side == "response" else None
        self.reason: Optional[str] = line.get("reason") if side == "response" else None
        self.interim: List[int] = list(line.get("interim", [])) if side == "response" else []
        self.info: Optional[Dict[str, Any]] = line[f"{side}_body"]
        self._request = side == "request"
        self._h2 = line.get("stream_id") is not None

    @property
    def headers(self) -> List[Tuple[str, str]]:
        """Header fields in wire order, read from the flow file."""
        if self._h2 or self.offset is None:
            return []
        fields = _flowsplit.head_fields(
            os.fspath(self._folder / self.flow_file), self.offset, self._request
        )
        return [(n.decode("latin-1"), v.decode("latin-1")) for n, v in fields]

    @property
    def body_path(self) -> Optional[pathlib.Path]:
        """The body file, if one was written."""
        if self.info is None or self.info.get("file") is None:
            return None
        return self._folder / self.info["file"]

    @property
    def body(self) -> Optional[bytes]:
        """The body's bytes as carved, or ``None`` without a body."""
        if self.info is None:
            return None
        path = self.body_path
        return b"" if path is None else path.read_bytes()

    @property
    def raw_body(self) -> Optional[bytes]:
        """The body as sent, de-chunked, where that needs no decoding here."""
        info = self.info
        if info is None:
            return None
        if not info["decoded"]:
            return self.body
        if info["framing"] != "chunked":
            with open(self._folder / self.flow_file, "rb") as f:
                f.seek(info["offset"])
                return f.read(info["wire_length"])
        return None

    @property
    def complete(self) -> bool:
        """True when the body (if any) is whole."""
        return True if self.info is None else bool(self.info["complete"])

    @property
    def gaps(self) -> List[Tuple[int, int]]:
        """Zero-filled holes inside the body, ``(offset, length)`` in the flow file."""
        if self.info is None:
            return []
        return [(g[0], g[1]) for g in self.info.get("gaps", [])]

    @property
    def parts(self) -> List[Dict[str, Any]]:
        """Multipart parts (their index records, ``file`` relative to the folder)."""
        if self.info is None:
            return []
        return list(self.info.get("parts", []))

    def __repr__(self) -> str:
        if self._request:
            return f"Message({self.method} {self.uri})"
        return f"Message({self.status} {self.reason})"


class Exchange:
    """A request and the response that answers it: one ``http.jsonl`` line.

    ``request``/``response`` are :class:`Message` objects, either ``None``
    when only one half was seen. ``connection`` is the connection id of
    the report (``None`` if the flow file is not in it), ``community_id``,
    ``tls`` (the TLS facts, a dict, or ``None``) and ``stream_id`` (HTTP/2)
    come from the line, which ``line`` holds whole. A line for an object
    assembled from ``206`` range parts has no halves and its record in
    ``object`` (``object_path`` is its file).
    """

    def __init__(
        self,
        folder: pathlib.Path,
        line: Dict[str, Any],
        connections: Dict[str, int],
        run: Any,
    ) -> None:
        self._run = run  # keeps the run's folder while the exchange lives
        self.folder = folder
        self.line = line
        self.request: Optional[Message] = (
            Message(folder, line, "request") if line.get("request_file") else None
        )
        self.response: Optional[Message] = (
            Message(folder, line, "response") if line.get("response_file") else None
        )
        flow = line.get("request_file") or line.get("response_file")
        self.connection: Optional[int] = connections.get(flow) if flow else None
        self.community_id: Optional[str] = line.get("community_id")
        self.tls: Optional[Dict[str, Any]] = line.get("tls")
        self.stream_id: Optional[int] = line.get("stream_id")
        self.complete: bool = bool(line.get("complete"))
        self.notes: List[str] = list(line.get("notes", []))
        self.object: Optional[Dict[str, Any]] = line.get("object")

    @property
    def object_path(self) -> Optional[pathlib.Path]:
        """The assembled object's file, for an object line."""
        return None if self.object is None else self.folder / self.object["file"]

    def __repr__(self) -> str:
        return f"Exchange({self.request!r} -> {self.response!r})"


def exchanges(run: _flowsplit.Directions) -> Iterator[Exchange]:
    """Run ``run`` (made with ``http=True``) to its end, then yield an
    :class:`Exchange` per line of every ``http.jsonl`` it wrote, folder by
    folder in name order."""
    connections: Dict[str, int] = {}
    with run:
        for d in run:
            connections[d.name] = d.connection
    root = pathlib.Path(run.folder)
    indexes = sorted(root.rglob("http.jsonl"))
    for index in indexes:
        folder = index.parent
        prefix = os.path.relpath(folder, root)
        local = {
            os.path.relpath(root / name, folder) if prefix != "." else name: c
            for name, c in connections.items()
        }
        with open(index, encoding="utf-8") as f:
            for text in f:
                if text.strip():
                    yield Exchange(folder, json.loads(text), local, run)


class LiveExchanges:
    """The exchanges of a live capture, each as its connection is carved.

    An iterator of :class:`Exchange` and a context manager; ``close()``,
    ``stats()``, ``folder`` and ``summary_json`` are the live run's (see
    :func:`flowsplit.live`). An exchange is yielded once its connection's
    directions have been reported, so ``connection`` is set; the rest are
    yielded when capture ends. Objects assembled from ``206`` range parts
    are only in the ``http.jsonl`` written at the end, in ``folder``.
    """

    #: Exchanges held at most while their directions' records are awaited.
    HELD = 1024

    def __init__(self, run: _flowsplit.Directions) -> None:
        self._run = run
        self._connections: Dict[str, int] = {}
        self._waiting: "collections.deque[Tuple[pathlib.Path, Dict[str, Any]]]" = (
            collections.deque()
        )
        self._ended = False

    def _flows(self, folder: pathlib.Path, line: Dict[str, Any]) -> List[str]:
        names = [line.get("request_file"), line.get("response_file")]
        return [os.path.normpath(folder / n) for n in names if n]

    def _ready(self) -> bool:
        if not self._waiting:
            return False
        if self._ended or len(self._waiting) >= self.HELD:
            return True
        folder, line = self._waiting[0]
        return all(f in self._connections for f in self._flows(folder, line))

    def _take(self) -> Exchange:
        folder, line = self._waiting.popleft()
        local = {
            os.path.relpath(f, folder): self._connections[f]
            for f in self._flows(folder, line)
            if f in self._connections
        }
        return Exchange(folder, line, local, self._run)

    def __iter__(self) -> "LiveExchanges":
        return self

    def __next__(self) -> Exchange:
        while not self._ready():
            if self._ended:
                raise StopIteration
            item = self._run._next_item()
            if item is None:
                self._ended = True
            elif isinstance(item, tuple):
                folder, text = item
                self._waiting.append((pathlib.Path(folder), json.loads(text)))
            else:
                self._connections[os.path.normpath(item.path)] = item.connection
        return self._take()

    def close(self) -> None:
        """Stop the capture and wait until its thread has ended."""
        self._run.close()

    def stats(self) -> Optional[Dict[str, int]]:
        """The capture's counters so far (see :func:`flowsplit.live`)."""
        return self._run.stats()

    @property
    def folder(self) -> pathlib.Path:
        """The run's private folder (flow files, bodies, ``http.jsonl``)."""
        return pathlib.Path(self._run.folder)

    @property
    def summary_json(self) -> Optional[str]:
        """The run's summary as JSON once the capture is over; ``None`` before."""
        return self._run.summary_json

    def __enter__(self) -> "LiveExchanges":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
