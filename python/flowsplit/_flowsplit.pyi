"""Type stubs of flowsplit's native module (see the package's docstrings)."""

import builtins
import pathlib
from types import TracebackType
from typing import Any, Dict, List, Optional, Tuple, Type, Union, final

__all__ = [
    "CaptureError",
    "Direction",
    "Directions",
    "Error",
    "FilterError",
    "InternalError",
    "LiveCaptureError",
    "OPTIONS",
    "OptionError",
    "OutputError",
    "head_fields",
    "live",
    "read",
    "split",
    "__version__",
]

__version__: str
OPTIONS: List[Tuple[str, str, List[str]]]

class Error(Exception):
    """The base of every exception flowsplit raises besides FileNotFoundError and PermissionError."""

class CaptureError(Error):
    """An input is not a pcap or pcapng capture, is corrupt part way, or has a link type flowsplit cannot decode."""

class FilterError(Error):
    """The BPF filter expression did not compile."""

class OptionError(Error, ValueError):
    """A keyword option (or its value) was refused, with the message the CLI gives for the flag."""

class OutputError(Error):
    """Writing the output folder (or the run's private folder) failed."""

class LiveCaptureError(Error):
    """A live capture could not be opened or read, or the switch to another user failed."""

class InternalError(Error):
    """A failure inside flowsplit itself, not caused by the options or the inputs."""

@final
class Direction:
    """One direction of a TCP connection, as the CLI's report.jsonl line gives it."""

    @property
    def src(self) -> str: ...
    @property
    def sport(self) -> int: ...
    @property
    def dst(self) -> str: ...
    @property
    def dport(self) -> int: ...
    @property
    def vlan(self) -> Optional[int]: ...
    @property
    def connection(self) -> int: ...
    @property
    def counter(self) -> int: ...
    @property
    def first_ts(self) -> float: ...
    @property
    def last_ts(self) -> float: ...
    @property
    def first_ts_ns(self) -> int: ...
    @property
    def last_ts_ns(self) -> int: ...
    @property
    def packets(self) -> int: ...
    @property
    def bytes(self) -> int: ...
    @property
    def gaps(self) -> List[Tuple[int, int]]: ...
    @property
    def gap_bytes(self) -> int: ...
    @property
    def jumps(self) -> List[Tuple[int, int]]: ...
    @property
    def end(self) -> str: ...
    @property
    def truncated(self) -> bool: ...
    @property
    def sha256(self) -> str: ...
    @property
    def md5(self) -> Optional[str]: ...
    @property
    def grep_matches(self) -> Optional[int]: ...
    @property
    def community_id(self) -> Optional[str]: ...
    @property
    def encap(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def record(self) -> str: ...
    @property
    def path(self) -> pathlib.Path: ...
    def read(self) -> builtins.bytes:
        """The stream's bytes, gaps zero-filled as in the flow file."""
    def open(self) -> Any:
        """A binary file object reading the stream from its flow file."""

@final
class Directions:
    """The directions of a run, as they close."""

    def __iter__(self) -> Directions: ...
    def __next__(self) -> Direction: ...
    def close(self) -> None:
        """Stop the run and wait until its thread has ended and its files are closed."""
    @property
    def folder(self) -> pathlib.Path: ...
    @property
    def summary_json(self) -> Optional[str]: ...
    def stats(self) -> Optional[Dict[str, int]]:
        """Live capture's counters so far; None for files and before the first second."""
    def _next_item(self) -> Union[Direction, Tuple[pathlib.Path, str], None]:
        """The next direction, or (folder, http.jsonl line) of a live capture with http."""
    def __enter__(self) -> Directions: ...
    def __exit__(
        self,
        t: Optional[Type[BaseException]],
        v: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...

def read(
    paths: List[Any],
    filter: Optional[str] = None,
    options: Optional[Dict[str, Any]] = None,
    workdir: Optional[Any] = None,
    http: bool = False,
) -> Directions: ...
def live(
    interface: Optional[str] = None,
    filter: Optional[str] = None,
    options: Optional[Dict[str, Any]] = None,
    workdir: Optional[Any] = None,
    http: bool = False,
) -> Directions: ...
def split(
    paths: List[Any],
    out_dir: Any,
    filter: Optional[str] = None,
    options: Optional[Dict[str, Any]] = None,
) -> str: ...
def head_fields(
    path: Any, offset: int, request: bool
) -> List[Tuple[builtins.bytes, builtins.bytes]]: ...
