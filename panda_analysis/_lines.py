"""Shared line reading for every log parser.

* files are streamed in pieces (never read whole), only regular files are opened (a FIFO
  or device never blocks a run), and at most :data:`MAX_FILE_BYTES` of one file are read:
  the rest is counted, never silently dropped;
* bytes are decoded as UTF-8 with replacement characters (never raises on bad bytes);
* lines are split on ``\\n`` (``\\r\\n`` tolerated), so ``line_no`` matches what
  ``sed -n Np`` or an editor shows, whatever control characters a line contains; a file
  whose lines end in a lone ``\\r`` (old Mac / some Windows tools: more lone CRs than LFs
  in its first piece) is split on ``\\r`` instead, as editors do, rather than read as one
  line;
* the kubelet's RFC 3339 prefix (``kubectl logs --timestamps``:
  ``2025-11-08T13:18:33.123456789Z ``) is split off when present;
* lines longer than :data:`MAX_LINE_CHARS` are cut (and marked) so one runaway line cannot
  exhaust memory (while streaming, a line is cut at :data:`MAX_LINE_BYTES` before it is
  even held whole, so a 2 GiB file without a newline costs one piece of memory);
* lines a parser cannot read are counted in an :class:`Unparsed` with a small sample.
"""

from __future__ import annotations

import errno
import io
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TextIO

if TYPE_CHECKING:
    from panda_analysis.bundle import Bundle

__all__ = [
    "KUBELET_PREFIX",
    "MAX_FILE_BYTES",
    "MAX_JSON_LINE_BYTES",
    "MAX_LINE_BYTES",
    "MAX_LINE_CHARS",
    "Line",
    "LogFile",
    "NotRegularFileError",
    "Unparsed",
    "iter_lines",
    "log_identity",
    "open_regular",
    "read_pieces",
    "resolve_sources",
    "split_kubelet_prefix",
]

#: Longest line kept whole; the rest is cut and ``…[truncated N chars]`` appended.
MAX_LINE_CHARS = 64 * 1024

#: While streaming, a line longer than this many bytes is cut before it is held whole
#: (UTF-8 needs up to 4 bytes a character, so this never cuts below MAX_LINE_CHARS).
MAX_LINE_BYTES = 4 * MAX_LINE_CHARS

#: JSON-lines evidence (RabbitMQ snapshots of a broker with thousands of queues, MongoDB
#: documents) holds one document per line: its lines may be this long before they are cut.
MAX_JSON_LINE_BYTES = 64 * 1024 * 1024

#: Most bytes read from one evidence file (a tar member is capped at the same size); what
#: lies beyond is counted as one unparsed entry naming the file and its size.
MAX_FILE_BYTES = 1 << 30

#: Size of the pieces a file is streamed in.
PIECE_BYTES = 1 << 20

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

    def read_bytes(self, unparsed: Unparsed | None = None, *, max_bytes: int | None = None) -> bytes:
        """Return the raw content, at most ``max_bytes`` (default :data:`MAX_FILE_BYTES`).

        Streams are read once and encoded as UTF-8. A file that is not a regular file or
        cannot be read is counted in ``unparsed`` (and gives ``b""``) when one is given,
        and raises :class:`OSError` naming the file otherwise; so does the part of a file
        beyond the cap.
        """
        cap = MAX_FILE_BYTES if max_bytes is None else max_bytes
        if self.path is None:
            assert self.stream is not None
            data = self.stream.read()
            raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
            if len(raw) > cap:
                _over_cap(self.name, len(raw), cap, unparsed)
                return raw[:cap]
            return raw
        try:
            with open_regular(self.path) as handle:
                size = os.fstat(handle.fileno()).st_size
                content = handle.read(cap)
                if len(content) == cap and (size > cap or handle.read(1)):
                    _over_cap(self.name, max(size, cap + 1), cap, unparsed)
                return content
        except OSError as err:
            _unreadable(self.name, err, unparsed)
            return b""

    def read_text(self, unparsed: Unparsed | None = None, *, max_bytes: int | None = None) -> str:
        """Return the content decoded as UTF-8, bad bytes replaced (see :meth:`read_bytes`)."""
        return self.read_bytes(unparsed, max_bytes=max_bytes).decode("utf-8", errors="replace")

    def pieces(
        self,
        unparsed: Unparsed | None = None,
        *,
        piece_bytes: int = PIECE_BYTES,
        max_line_bytes: int = MAX_LINE_BYTES,
    ) -> Iterator[bytes]:
        """The content streamed in pieces that end at a line end (see :func:`read_pieces`)."""
        if self.path is None:
            assert self.stream is not None
            yield from read_pieces(
                _StreamBytes(self.stream), self.name, unparsed, piece_bytes=piece_bytes,
                max_line_bytes=max_line_bytes,
            )
            return
        try:
            handle = open_regular(self.path)
        except OSError as err:
            _unreadable(self.name, err, unparsed)
            return
        with handle:
            try:
                yield from read_pieces(
                    handle, self.name, unparsed, piece_bytes=piece_bytes, max_line_bytes=max_line_bytes
                )
            except OSError as err:  # an I/O error part way (EIO, a file removed under us)
                _unreadable(self.name, err, unparsed)

    def lines(
        self,
        unparsed: Unparsed | None = None,
        *,
        kubelet: bool = True,
        max_line_bytes: int = MAX_LINE_BYTES,
        max_line_chars: int = MAX_LINE_CHARS,
    ) -> Iterator[Line]:
        """Stream the lines of this file (as :func:`iter_lines` does for a string), 1-based.

        Memory stays at about one piece whatever the file holds; what cannot be read is
        counted in ``unparsed`` (see :meth:`read_bytes`).
        """
        number = 0
        for piece in self.pieces(unparsed, max_line_bytes=max_line_bytes):
            text = piece.decode("utf-8", errors="replace")  # pieces end at a line end: no split characters
            for line in _split(text, kubelet=kubelet, max_line_chars=max_line_chars):
                yield Line(line.line_no + number, line.kubelet_ts, line.text)
            number += piece.count(b"\n") + (0 if piece.endswith(b"\n") else 1)


class NotRegularFileError(OSError):
    """An evidence path is a FIFO, socket, device or directory (bundles hold plain files only)."""


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """Open ``path`` for reading in binary mode, refusing anything but a regular file.

    The file is opened non-blocking and checked with ``fstat`` on the open descriptor, so
    a FIFO (which would block ``open()`` until a writer comes) or a device is refused at
    once with :class:`NotRegularFileError`, and a file swapped in between check and open
    cannot slip through.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except IsADirectoryError as err:
        raise NotRegularFileError(errno.EISDIR, "is a directory, not a file", os.fspath(path)) from err
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(errno.EINVAL, f"is {_kind(mode)}, not a regular file", os.fspath(path))
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _unreadable(name: str, err: OSError, unparsed: Unparsed | None) -> None:
    reason = err.strerror or type(err).__name__
    if unparsed is None:
        msg = f"{name}: cannot read ({reason})"
        raise OSError(err.errno, msg) from err
    unparsed.add(name, None, f"cannot read this file: {reason}")


def _over_cap(name: str, size: int, cap: int, unparsed: Unparsed | None) -> None:
    text = f"file is over the {cap}-byte read cap ({size} bytes or more); only its first {cap} bytes were read"
    if unparsed is None:
        msg = f"{name}: {text}"
        raise OSError(errno.EFBIG, msg)
    unparsed.add(name, None, text)


class _StreamBytes:
    """A text or binary stream read as UTF-8 bytes, in pieces."""

    def __init__(self, stream: TextIO | BinaryIO):
        self._stream = stream

    def read(self, size: int) -> bytes:
        data = self._stream.read(size)
        if isinstance(data, str):
            return data.encode("utf-8", "surrogatepass")
        return bytes(data)


def _lone_cr_mode(head: bytes) -> bool:
    if head.find(b"\r") < 0:  # the usual case, found at memchr speed (three counts of a 16 MiB piece take 30 ms)
        return False
    crlf = head.count(b"\r\n")
    return head.count(b"\r") - crlf > head.count(b"\n")


def _marked(head: bytes, dropped: int) -> bytes:
    return head + f"…[truncated {dropped} bytes]".encode()


def read_pieces(
    handle: BinaryIO | _StreamBytes,
    name: str,
    unparsed: Unparsed | None = None,
    *,
    piece_bytes: int = PIECE_BYTES,
    max_line_bytes: int = MAX_LINE_BYTES,
    max_file_bytes: int | None = None,
) -> Iterator[bytes]:
    r"""Stream ``handle`` in pieces of about ``piece_bytes`` that each end at a line end.

    * A line longer than ``max_line_bytes`` is cut there and ``…[truncated N bytes]``
      appended: the rest of it is read and counted, never held.
    * A file whose first piece has more lone ``\r`` than ``\n`` uses CR line ends: its
      ``\r\n`` and lone ``\r`` become ``\n`` (so the line count is what an editor shows).
    * After ``max_file_bytes`` (default :data:`MAX_FILE_BYTES`) the read stops; that is counted in ``unparsed`` (or raises
      :class:`OSError` when none is given).

    Examples
    --------
    >>> import io
    >>> b"".join(read_pieces(io.BytesIO(b"a\rb\r\nc\r"), "x.log"))
    b'a\nb\nc\n'
    >>> list(read_pieces(io.BytesIO(b"x" * 30 + b"\ny\n"), "x.log", max_line_bytes=10, piece_bytes=8))
    [b'xxxxxxxxxx\xe2\x80\xa6[truncated 20 bytes]\n', b'y\n']
    """
    if max_file_bytes is None:
        max_file_bytes = MAX_FILE_BYTES
    pending = b""  # the start of a line not ended yet (never longer than max_line_bytes)
    cut_head: bytes | None = None  # the kept head of an overlong line whose rest is skipped
    dropped = 0
    cr_mode: bool | None = None
    held_cr = b""  # a CR at a piece end may be the first half of CR LF
    total = 0
    while True:
        chunk = handle.read(piece_bytes)
        last = not chunk
        if chunk and total + len(chunk) > max_file_bytes:
            chunk = chunk[: max_file_bytes - total]
            _over_cap(name, total + piece_bytes, max_file_bytes, unparsed)
            last = True
        total += len(chunk)
        if cr_mode is None and chunk:
            cr_mode = _lone_cr_mode(chunk)
        if cr_mode:
            chunk = held_cr + chunk
            held_cr = b""
            if chunk.endswith(b"\r") and not last:
                chunk, held_cr = chunk[:-1], b"\r"
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if cut_head is not None:
            end = chunk.find(b"\n")
            if end < 0:
                dropped += len(chunk)
                if last:
                    break
                continue
            chunk = _marked(cut_head, dropped + end) + chunk[end:]
            cut_head, dropped = None, 0
        # one copy per piece: the line start held back is joined to the chunk's lines directly
        # (``pending`` never holds a \n, so the piece's last line end is the chunk's)
        cut = chunk.rfind(b"\n")
        if cut < 0:
            head, pending = b"", pending + chunk
        elif cut + 1 == len(chunk):
            head, pending = (pending + chunk if pending else chunk), b""
        else:
            head, pending = b"".join((pending, memoryview(chunk)[: cut + 1])), chunk[cut + 1 :]
        if len(pending) > max_line_bytes:
            cut_head, dropped, pending = pending[:max_line_bytes], len(pending) - max_line_bytes, b""
        if head:
            yield head
        if last:
            break
    if cut_head is not None:
        yield _marked(cut_head, dropped)
    elif pending:
        yield pending


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


def _cut(text: str, limit: int = MAX_LINE_CHARS) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…[truncated {len(text) - limit} chars]"


def iter_lines(data: bytes | str, *, kubelet: bool = True, max_line_chars: int = MAX_LINE_CHARS) -> Iterator[Line]:
    r"""Yield the lines of ``data`` with 1-based ``line_no`` and the kubelet prefix split.

    A trailing newline does not make an extra empty line; blank lines are yielded (parsers
    skip them without counting them as unparsed). Text whose lines end in lone ``\r``
    (more lone CRs than LFs) is split on them. Files are better streamed with
    :meth:`LogFile.lines`.

    Examples
    --------
    >>> [line.text for line in iter_lines("a\r\nb\n")]
    ['a', 'b']
    >>> [line.text for line in iter_lines("a\rb\rc")]
    ['a', 'b', 'c']
    """
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    if "\r" in text and text.count("\r") - text.count("\r\n") > text.count("\n"):
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _split(text, kubelet=kubelet, max_line_chars=max_line_chars)


def _split(text: str, *, kubelet: bool, max_line_chars: int) -> Iterator[Line]:
    """The lines of ``text``, split on ``\\n`` only (line ends already decided)."""
    if not text:
        return
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for number, raw in enumerate(lines, start=1):
        stripped = raw[:-1] if raw.endswith("\r") else raw
        ts, rest = split_kubelet_prefix(stripped) if kubelet else (None, stripped)
        yield Line(number, ts, _cut(rest, max_line_chars))


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
