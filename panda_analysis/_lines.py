"""Shared line reading for every log parser.

* bytes are decoded as UTF-8 with replacement characters (never raises on bad bytes);
* lines are split on ``\\n`` only (``\\r\\n`` tolerated), so ``line_no`` matches what
  ``sed -n Np`` or an editor shows, whatever control characters a line contains;
* the kubelet's RFC 3339 prefix (``kubectl logs --timestamps``:
  ``2025-11-08T13:18:33.123456789Z ``) is split off when present;
* lines longer than :data:`MAX_LINE_CHARS` are cut (and marked) so one runaway line cannot
  exhaust memory;
* lines a parser cannot read are counted in an :class:`Unparsed` with a small sample.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from panda_analysis.bundle import Bundle

__all__ = [
    "KUBELET_PREFIX",
    "MAX_LINE_CHARS",
    "Line",
    "LogFile",
    "Unparsed",
    "iter_lines",
    "log_identity",
    "resolve_sources",
    "split_kubelet_prefix",
]

#: Longest line kept whole; the rest is cut and ``…[truncated N chars]`` appended.
MAX_LINE_CHARS = 64 * 1024

#: kubelet / CRI timestamp prefix: RFC 3339 with up to nanoseconds, then one space.
KUBELET_PREFIX = re.compile(
    r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})) "
)

_LOG_PATH = re.compile(r"(?:^|/)logs/([^/]+)/([^/]+)/([^/]+?)(\.previous)?\.log$")


@dataclass(frozen=True, slots=True)
class Line:
    """One physical line of a log file."""

    line_no: int
    kubelet_ts: str | None
    text: str


@dataclass(frozen=True, slots=True)
class LogFile:
    """A text source: a bundle file, a path given by the caller, or an open stream.

    ``name`` is what goes into the ``source`` column: the path relative to the bundle
    root for bundle files, the path as given otherwise, ``<stream>`` for streams.
    """

    name: str
    path: Path | None = None
    stream: TextIO | None = None
    namespace: str | None = None
    pod: str | None = None
    container: str | None = None
    is_previous: bool = False

    def read_bytes(self) -> bytes:
        """Return the raw content (streams are read once and encoded as UTF-8)."""
        if self.path is not None:
            return self.path.read_bytes()
        assert self.stream is not None
        data = self.stream.read()
        return data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data

    def read_text(self) -> str:
        """Return the content decoded as UTF-8, bad bytes replaced (never raises)."""
        return self.read_bytes().decode("utf-8", errors="replace")


def log_identity(name: str) -> tuple[str | None, str | None, str | None, bool]:
    """Namespace, pod, container and is_previous from a ``logs/<ns>/<pod>/<c>[.previous].log`` path.

    Examples
    --------
    >>> log_identity("logs/panda/panda-panda-focus-server-78dbcfd9d9-kjj77/focus-server.previous.log")
    ('panda', 'panda-panda-focus-server-78dbcfd9d9-kjj77', 'focus-server', True)
    >>> log_identity("focus.log")
    (None, None, None, False)
    """
    match = _LOG_PATH.search(name.replace(os.sep, "/"))
    if match is None:
        return None, None, None, False
    return match.group(1), match.group(2), match.group(3), match.group(4) is not None


def resolve_sources(source: Bundle | str | os.PathLike[str] | TextIO, part: str) -> list[LogFile]:
    """Turn a parser's ``source`` argument into the list of files to read.

    ``source`` is a :class:`~panda_analysis.bundle.Bundle` (its files of ``part``), a path
    (a ``str`` is always a path, never content), or an open text stream (for pasted text,
    wrap it: ``io.StringIO(text)``). A path that does not exist raises
    :class:`FileNotFoundError` naming it.
    """
    from panda_analysis.bundle import is_bundle

    if is_bundle(source):
        return source.sources(part)
    if isinstance(source, io.IOBase | io.TextIOBase) or hasattr(source, "read"):
        return [LogFile(name="<stream>", stream=source)]  # type: ignore[arg-type]
    path = Path(source)  # type: ignore[arg-type]  # not a Bundle (checked above)
    if not path.is_file():
        msg = f"{path}: no such file (parsers take a path, a Bundle, or io.StringIO(text) for pasted text)"
        raise FileNotFoundError(msg)
    namespace, pod, container, previous = log_identity(str(path))
    return [
        LogFile(
            name=str(path), path=path, namespace=namespace, pod=pod, container=container,
            is_previous=previous,
        )
    ]


def split_kubelet_prefix(text: str) -> tuple[str | None, str]:
    """Split the kubelet timestamp prefix off a line, if it has one.

    Examples
    --------
    >>> split_kubelet_prefix("2025-11-08T13:18:33.123456789Z INFO: ok")
    ('2025-11-08T13:18:33.123456789Z', 'INFO: ok')
    >>> split_kubelet_prefix("INFO: ok")
    (None, 'INFO: ok')
    """
    if len(text) > 20 and text[4] == "-" and text[10] == "T":
        match = KUBELET_PREFIX.match(text)
        if match:
            return match.group(1), text[match.end() :]
    return None, text


def _cut(text: str) -> str:
    if len(text) <= MAX_LINE_CHARS:
        return text
    return f"{text[:MAX_LINE_CHARS]}…[truncated {len(text) - MAX_LINE_CHARS} chars]"


def iter_lines(data: bytes | str, *, kubelet: bool = True) -> Iterator[Line]:
    """Yield the lines of ``data`` with 1-based ``line_no`` and the kubelet prefix split.

    A trailing newline does not make an extra empty line; blank lines are yielded (parsers
    skip them without counting them as unparsed).
    """
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    if not text:
        return
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for number, raw in enumerate(lines, start=1):
        stripped = raw[:-1] if raw.endswith("\r") else raw
        ts, rest = split_kubelet_prefix(stripped) if kubelet else (None, stripped)
        yield Line(number, ts, _cut(rest))


@dataclass(slots=True)
class Unparsed:
    """Counter of lines a parser could not read, with the first few as ``source:line_no: text``."""

    limit: int = 5
    count: int = 0
    sample: list[str] = field(default_factory=list)

    def add(self, source: str, line_no: int | None, text: str) -> None:
        """Count one unreadable line and keep it if the sample is not full yet."""
        self.count += 1
        if len(self.sample) < self.limit:
            where = f"{source}:{line_no}" if line_no is not None else source
            self.sample.append(f"{where}: {text[:300]}")

    def merge(self, other: Unparsed) -> None:
        """Add another counter's numbers and sample into this one."""
        self.count += other.count
        room = self.limit - len(self.sample)
        if room > 0:
            self.sample.extend(other.sample[:room])
