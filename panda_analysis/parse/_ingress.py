"""ingress-nginx controller logs → ``ingress`` (one row per request) and ``ingress_messages``.

Lines read (each with or without the kubelet prefix ``2025-11-13T12:08:41.123456789Z ``):

* access lines in the controller's default ``upstreaminfo`` log format::

    $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
    "$http_referer" "$http_user_agent" $request_length $request_time [$proxy_upstream_name]
    [$proxy_alternative_upstream_name] $upstream_addr $upstream_response_length
    $upstream_response_time $upstream_status $req_id

  (``$req_id`` may be missing); lists of upstreams (``10.0.0.1:80, 10.0.0.2:80``, and the
  `` : `` nginx writes when it switches upstream groups) are kept as logged and summarised
  (count, last status, last length, summed time);
* access lines in nginx's ``combined`` format (the first ten fields above);
* access lines as one JSON object per line (``log-format-escape-json`` with a custom
  ``log-format-upstream``; keys as people usually name them: ``time``/``time_iso8601``/
  ``time_local``/``msec``, ``request`` or ``method`` + ``uri``/``path`` (+ ``args``), ``status``,
  ``req_id``/``request_id``, ...; values may be strings or numbers);
* the controller's own klog lines (``I1108 13:18:33.123456       7 controller.go:190] ...``)
  and nginx error-log lines (``2025/11/08 13:18:35 [error] 41#41: *12345 ...``) → the
  ``ingress_messages`` frame. klog has no year: it is taken from the kubelet prefix, else
  from the nearest access line of the same file, else the current year (whichever year puts
  the line closest to that reference, so a log crossing New Year stays in order).

Everything else (the ``NGINX Ingress controller`` start-up banner, random text) is counted in
``df.attrs["unparsed"]`` of the ``ingress`` frame, with a sample.

How it is fast: a file is streamed in pieces cut at line ends; each piece is tokenised by
``pyarrow.csv`` (space-delimited, ``"`` quoting) in worker threads, and the tokens of the
file's dominant layout are validated column-wise (on the unique values of each column).
Only the lines the tokeniser rejects take the per-line path (other layouts, multi-upstream
lists, klog / error lines, escaped quotes, JSON, ...): a line whose quotes do not pair up
(cut mid-field by log rotation, kubelet line splitting or copy-paste) would make pyarrow
read on into the next lines, so such lines are found vectorised and cut out of the piece
before it is tokenised, and cost only themselves. Both paths produce the same raw fields and
share one conversion step, and the per-line path tokenises exactly like pyarrow, so they give
identical rows (tests compare them). Each piece's rows are folded into the frame's columns as
soon as it is done, so memory stays near the frame's own size.
"""

from __future__ import annotations

import functools
import json
import mmap
import os
import re
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from panda_analysis import schema
from panda_analysis._lines import MAX_FILE_BYTES, LogFile, Unparsed, resolve_sources
from panda_analysis.bundle import Bundle
from panda_analysis.parse._common import normalize_level, route_template

__all__ = ["ingress", "ingress_messages"]

#: Bytes per piece handed to one worker (cut at a line end).
_PIECE_BYTES = 16 * 1024 * 1024
_NAT = np.iinfo(np.int64).min
_NS = 1_000_000_000

# ---------------------------------------------------------------- token grammar
# Every pattern uses ASCII classes only, so that Python's `re` and pyarrow's RE2 agree.
_KTS = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
    r"(?:Z|[+-][0-9]{2}:[0-9]{2})"
)
_KUBELET = re.compile(_KTS + " ")
_KTS_RE2 = f"^{_KTS}$"
_KUBELET_TOKEN = re.compile(_KTS)

# token kind → full-match pattern (used on tokens by the per-line path and on the unique
# values of dictionary-encoded token columns by the fast path: the same Python code)
_KINDS: dict[str, re.Pattern[str]] = {
    "dash": re.compile(r"-"),
    "word": re.compile(r'[^ "]+'),
    "text": re.compile(r'[^"]*'),
    "time_a": re.compile(r"\[[0-9]{2}/[A-Za-z]{3}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2}"),
    "time_b": re.compile(r"[+-][0-9]{4}\]"),
    "status": re.compile(r"[0-9]{3}"),
    "int": re.compile(r"[0-9]+|-"),
    "float": re.compile(r"[0-9]+(?:\.[0-9]+)?|-"),
    "name": re.compile(r'\[[^\[\] "]*\]'),
    "addr": re.compile(r'[^ ",]+'),
    "ustatus": re.compile(r"[0-9]{3}|-"),
}

# raw fields every access row is reduced to, before conversion. "S" fields stay pyarrow
# string arrays (high cardinality); "D" fields are (unique values, codes) pairs.
_S_FIELDS = ("kubelet_ts", "req_id")
_D_FIELDS = (
    "remote_addr",
    "log_format",
    "remote_user",
    "time_a",
    "time_b",
    "time_iso",
    "request",
    "status",
    "body_bytes_sent",
    "http_referer",
    "http_user_agent",
    "request_length",
    "request_time",
    "proxy_upstream_name",
    "proxy_alternative_upstream_name",
    "upstream_addr",
    "upstream_response_length",
    "upstream_response_time",
    "upstream_status",
)
_RAW = _S_FIELDS + _D_FIELDS
_RAW_INDEX = {name: i for i, name in enumerate(_RAW)}

# token layouts: (raw field or None, kind) per space-separated token
_UPSTREAMINFO: tuple[tuple[str | None, str], ...] = (
    ("remote_addr", "word"),
    (None, "dash"),
    ("remote_user", "word"),
    ("time_a", "time_a"),
    ("time_b", "time_b"),
    ("request", "text"),
    ("status", "status"),
    ("body_bytes_sent", "int"),
    ("http_referer", "text"),
    ("http_user_agent", "text"),
    ("request_length", "int"),
    ("request_time", "float"),
    ("proxy_upstream_name", "name"),
    ("proxy_alternative_upstream_name", "name"),
    ("upstream_addr", "addr"),
    ("upstream_response_length", "int"),
    ("upstream_response_time", "float"),
    ("upstream_status", "ustatus"),
    ("req_id", "word"),
)
_LAYOUTS: dict[int, tuple[str, tuple[tuple[str | None, str], ...]]] = {
    19: ("upstreaminfo", _UPSTREAMINFO),
    18: ("upstreaminfo", _UPSTREAMINFO[:18]),
    10: ("combined", _UPSTREAMINFO[:10]),
}

# the per-line regexes for lines the tokeniser cannot split into a layout (escaped quotes
# `\"`, upstream lists)
_QUOTED = r'"((?:[^"\\]|\\.)*)"'
_TIME = r"\[([0-9]{2}/[A-Za-z]{3}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2}) ([+-][0-9]{4})\]"


def _list(elem: str) -> str:
    return rf"({elem}(?:(?:, | : ){elem})*)"


_COMBINED_HEAD = rf'([^ "]+) - ([^ "]+) {_TIME} {_QUOTED} ([0-9]{{3}}) ([0-9]+|-) {_QUOTED} {_QUOTED}'
_COMBINED_RE = re.compile(_COMBINED_HEAD)
_UPSTREAMINFO_RE = re.compile(
    _COMBINED_HEAD
    + r" ([0-9]+|-) ([0-9]+(?:\.[0-9]+)?|-) \[([^\[\] \"]*)\] \[([^\[\] \"]*)\] "
    + _list(r'[^ ",]+')
    + " "
    + _list(r"(?:[0-9]+|-)")
    + " "
    + _list(r"(?:[0-9]+(?:\.[0-9]+)?|-)")
    + " "
    + _list(r"(?:[0-9]{3}|-)")
    + r'(?: ([^ "]+))?'
)
_KLOG = re.compile(
    r"([IWEF])([0-9]{2})([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})\.([0-9]{6}) +[0-9]+ "
    r"([^ \]]+:[0-9]+)\] ?(.*)"
)
_NGINX_ERROR = re.compile(
    r"([0-9]{4})/([0-9]{2})/([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) \[([a-z]+)\] "
    r"([0-9]+#[0-9]+): (?:(\*[0-9]+) )?(.*)"
)
_MAYBE_MESSAGE = re.compile(r"[IWEF][0-9]|[0-9]{4}/")
_ERROR_FIELD = re.compile(r'(?:^|, )([a-z_]+): ("(?:[^"\\]|\\.)*"|[^,]*)')
_TIME_LOCAL = re.compile(r"([0-9]{2}/[A-Za-z]{3}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2}) ([+-][0-9]{4})")
_TIME_A = re.compile(r"\[([0-9]{2})/([A-Za-z]{3})/([0-9]{4}):([0-9]{2}):([0-9]{2}):([0-9]{2})")
_MONTHS = {
    m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)
}
_OFFSET = re.compile(r"([+-])([0-9]{2})([0-9]{2})\]")
_REQUEST = re.compile(r"([A-Za-z][A-Za-z0-9_-]*) ([^ ]+)(?: (HTTP/[0-9.]+))?")
_SEP = re.compile(r", | : ")
_DIGITS = re.compile(r"[0-9]+")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_ESCAPE = re.compile(r'\\x([0-9A-Fa-f]{2})|\\u([0-9A-Fa-f]{4})|\\(["\\/bfnrt])')
_JSON_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}

# JSON keys, first present wins
_JSON_KEYS: dict[str, tuple[str, ...]] = {
    "remote_addr": ("remote_addr", "client_ip", "remote_ip", "client"),
    "remote_user": ("remote_user", "user"),
    "request": ("request",),
    "method": ("method", "request_method"),
    "uri": ("uri", "request_uri", "path", "request_path"),
    "args": ("args", "query_string", "query"),
    "protocol": ("protocol", "server_protocol"),
    "status": ("status", "status_code"),
    "body_bytes_sent": ("body_bytes_sent", "body_bytes", "bytes_sent"),
    "http_referer": ("http_referer", "referer", "referrer", "http_referrer"),
    "http_user_agent": ("http_user_agent", "user_agent", "useragent"),
    "request_length": ("request_length",),
    "request_time": ("request_time", "duration"),
    "proxy_upstream_name": ("proxy_upstream_name", "upstream_name"),
    "proxy_alternative_upstream_name": ("proxy_alternative_upstream_name",),
    "upstream_addr": ("upstream_addr", "upstream"),
    "upstream_response_length": ("upstream_response_length",),
    "upstream_response_time": ("upstream_response_time",),
    "upstream_status": ("upstream_status",),
    "req_id": ("req_id", "request_id", "requestID", "x_request_id"),
    "time": ("time_iso8601", "time", "timestamp", "@timestamp", "time_local", "msec", "ts"),
}
_UPSTREAM_FIELDS = ("upstream_addr", "upstream_response_length", "upstream_response_time", "upstream_status")


# ---------------------------------------------------------------- per-line path
def _tokenize(text: str) -> list[str]:
    """Split ``text`` on spaces exactly as ``pyarrow.csv`` does with ``quote_char='"'``.

    A field that starts with ``"`` runs to the next ``"`` (spaces included); whatever follows
    that quote up to the next space is appended as is. No escapes, no doubled quotes.
    """
    tokens = []
    pos = 0
    end = len(text)
    while True:
        if pos < end and text[pos] == '"':
            close = text.find('"', pos + 1)
            if close < 0:
                tokens.append(text[pos + 1 :])
                return tokens
            space = text.find(" ", close + 1)
            if space < 0:
                tokens.append(text[pos + 1 : close] + text[close + 1 :])
                return tokens
            tokens.append(text[pos + 1 : close] + text[close + 1 : space])
        else:
            space = text.find(" ", pos)
            if space < 0:
                tokens.append(text[pos:])
                return tokens
            tokens.append(text[pos:space])
        pos = space + 1


@dataclass(slots=True)
class _Access:
    line_no: int
    values: list[str | None]


@dataclass(slots=True)
class _Message:
    line_no: int
    kubelet_ts: str | None
    kind: str
    level: str | None
    location: str | None
    message: str
    when: tuple[int, ...]  # (y, mo, d, h, mi, s, us) with y == 0 for klog (no year)
    client: str | None = None
    server: str | None = None
    request: str | None = None
    upstream: str | None = None


def _raw(kubelet_ts: str | None, log_format: str, **values: str | None) -> list[str | None]:
    row: list[str | None] = [None] * len(_RAW)
    row[_RAW_INDEX["kubelet_ts"]] = kubelet_ts
    row[_RAW_INDEX["log_format"]] = log_format
    for name, value in values.items():
        row[_RAW_INDEX[name]] = value
    return row


def _from_tokens(tokens: list[str], kubelet_ts: str | None) -> list[str | None] | None:
    layout = _LAYOUTS.get(len(tokens))
    if layout is None:
        return None
    log_format, fields = layout
    row: list[str | None] = [None] * len(_RAW)
    for token, (name, kind) in zip(tokens, fields, strict=True):
        if _KINDS[kind].fullmatch(token) is None:
            return None
        if name is not None:
            row[_RAW_INDEX[name]] = token
    row[_RAW_INDEX["kubelet_ts"]] = kubelet_ts
    row[_RAW_INDEX["log_format"]] = log_format
    return row


def _from_regex(text: str, kubelet_ts: str | None) -> list[str | None] | None:
    match = _UPSTREAMINFO_RE.fullmatch(text)
    log_format = "upstreaminfo"
    if match is None:
        match = _COMBINED_RE.fullmatch(text)
        log_format = "combined"
        if match is None:
            return None
    g = match.groups()
    values: dict[str, str | None] = {
        "remote_addr": g[0],
        "remote_user": g[1],
        "time_a": f"[{g[2]}",
        "time_b": f"{g[3]}]",
        "request": g[4],
        "status": g[5],
        "body_bytes_sent": g[6],
        "http_referer": g[7],
        "http_user_agent": g[8],
    }
    if log_format == "upstreaminfo":
        values.update(
            request_length=g[9],
            request_time=g[10],
            proxy_upstream_name=f"[{g[11]}]",
            proxy_alternative_upstream_name=f"[{g[12]}]",
            upstream_addr=g[13],
            upstream_response_length=g[14],
            upstream_response_time=g[15],
            upstream_status=g[16],
            req_id=g[17],
        )
    return _raw(kubelet_ts, log_format, **values)


def _json_text(value: object) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None if value is None else json.dumps(value, separators=(",", ":"))
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _from_json(text: str, kubelet_ts: str | None) -> list[str | None] | None:
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(doc, dict):
        return None
    got: dict[str, object] = {}
    present: set[str] = set()
    for name, keys in _JSON_KEYS.items():
        for key in keys:
            if key in doc:
                got[name] = doc[key]
                present.add(name)
                break
    if "status" not in present and "request" not in present and "uri" not in present:
        return None
    values: dict[str, str | None] = {}
    for name in _JSON_KEYS:
        if name in {"time", "method", "uri", "args", "protocol"}:
            continue
        value = _json_text(got.get(name))
        if value == "" and name not in {"request"}:
            value = "-" if name in _UPSTREAM_FIELDS else None
        if value is None and name in _UPSTREAM_FIELDS and name in present:
            value = "-"
        values[name] = value
    for name in ("proxy_upstream_name", "proxy_alternative_upstream_name"):
        if values[name] is not None:
            values[name] = f"[{values[name]}]"
    if values["request"] is None and "uri" in present:
        method = _json_text(got.get("method")) or "-"
        uri = _json_text(got.get("uri")) or ""
        args = _json_text(got.get("args"))
        if args and "?" not in uri:
            uri = f"{uri}?{args}"
        protocol = _json_text(got.get("protocol"))
        values["request"] = f"{method} {uri} {protocol}" if protocol else f"{method} {uri}"
    when = got.get("time")
    if isinstance(when, int | float) and not isinstance(when, bool):
        try:
            values["time_iso"] = datetime.fromtimestamp(float(when), UTC).isoformat()
        except (OverflowError, OSError, ValueError):
            values["time_iso"] = None
    elif isinstance(when, str):
        local = _TIME_LOCAL.fullmatch(when)
        if local:
            values["time_a"], values["time_b"] = f"[{local.group(1)}", f"{local.group(2)}]"
        else:
            values["time_iso"] = when
    return _raw(kubelet_ts, "json", **values)


def _unquote(message: str) -> str:
    if len(message) >= 2 and message[0] == '"' and message[-1] == '"':
        try:
            value = json.loads(message)
        except ValueError:
            return message
        if isinstance(value, str):
            return value
    return message


def _message(text: str, kubelet_ts: str | None, line_no: int) -> _Message | None:
    match = _KLOG.fullmatch(text)
    if match is not None:
        g = match.groups()
        when = (0, int(g[1]), int(g[2]), int(g[3]), int(g[4]), int(g[5]), int(g[6]))
        return _Message(line_no, kubelet_ts, "klog", normalize_level(g[0]), g[7], _unquote(g[8]), when)
    match = _NGINX_ERROR.fullmatch(text)
    if match is None:
        return None
    g = match.groups()
    when = (int(g[0]), int(g[1]), int(g[2]), int(g[3]), int(g[4]), int(g[5]), 0)
    location = f"{g[7]}: {g[8]}" if g[8] else g[7]
    body = g[9]
    fields: dict[str, str] = {}
    cut = body.find(", client: ")
    if cut >= 0:
        for key, value in _ERROR_FIELD.findall(body[cut:]):
            quoted = len(value) >= 2 and value[0] == '"' and value[-1] == '"'
            fields.setdefault(key, value[1:-1] if quoted else value)
        body = body[:cut]
    return _Message(
        line_no,
        kubelet_ts,
        "nginx_error",
        normalize_level(g[6]),
        location,
        body,
        when,
        client=fields.get("client"),
        server=fields.get("server"),
        request=fields.get("request"),
        upstream=fields.get("upstream"),
    )


# what the per-line path made of a line
_BLANK = 0
_ACCESS_TOKENS = 1
_ACCESS_OTHER = 2
_MESSAGE = 3
_UNPARSED = 4


def _classify(line: str, line_no: int) -> tuple[int, Any]:
    """Read one physical line (no newline): blank, access row, message or unparsed."""
    if not line.strip():
        return _BLANK, None
    match = _KUBELET.match(line)
    kubelet_ts, text = (match.group()[:-1], line[match.end() :]) if match else (None, line)
    if not text.strip():
        return _BLANK, None
    if _MAYBE_MESSAGE.match(text):  # klog / nginx error lines never fit an access layout
        message = _message(text, kubelet_ts, line_no)
        if message is not None:
            return _MESSAGE, message
    row = _from_tokens(_tokenize(text), kubelet_ts)
    if row is not None:
        return _ACCESS_TOKENS, row
    row = _from_json(text, kubelet_ts) if text.startswith("{") else _from_regex(text, kubelet_ts)
    if row is not None:
        return _ACCESS_OTHER, row
    message = _message(text, kubelet_ts, line_no)
    if message is not None:
        return _MESSAGE, message
    return _UNPARSED, text


# ---------------------------------------------------------------- pieces
@dataclass(slots=True)
class _Raw:
    """Raw access fields of some rows, in line order."""

    line_no: np.ndarray
    s: dict[str, pa.Array]
    d: dict[str, tuple[list[str | None], np.ndarray]]


@dataclass(slots=True)
class _Skipped:
    """Unparsed lines of one piece: their count and the first few (line_no, text)."""

    count: int = 0
    sample: list[tuple[int, str]] = field(default_factory=list)

    def add(self, line_no: int, text: str) -> None:
        self.count += 1
        if len(self.sample) < 5:
            self.sample.append((line_no, text))


@dataclass(slots=True)
class _PieceResult:
    """One piece, converted; line numbers are relative to the piece until shifted."""

    columns: dict[str, Any]
    line_no: np.ndarray
    ts: np.ndarray
    messages: list[_Message]
    skipped: _Skipped
    n_lines: int
    n_bytes: int = 0


@dataclass(slots=True)
class _Layout:
    ncols: int
    kubelet: bool


def _slow_rows(lines: Sequence[tuple[int, str]], skipped: _Skipped) -> tuple[list[_Access], list[_Message]]:
    access: list[_Access] = []
    messages: list[_Message] = []
    for line_no, text in lines:
        kind, payload = _classify(text, line_no)
        if kind in (_ACCESS_TOKENS, _ACCESS_OTHER):
            access.append(_Access(line_no, payload))
        elif kind == _MESSAGE:
            messages.append(payload)
        elif kind == _UNPARSED:
            skipped.add(line_no, payload)
    return access, messages


def _raw_from_rows(rows: list[_Access]) -> _Raw:
    line_no = np.fromiter((r.line_no for r in rows), dtype=np.int64, count=len(rows))
    s = {name: pa.array([r.values[_RAW_INDEX[name]] for r in rows], type=pa.large_string()) for name in _S_FIELDS}
    d = {}
    for name in _D_FIELDS:
        index: dict[str | None, int] = {}
        i = _RAW_INDEX[name]
        codes = np.fromiter((index.setdefault(r.values[i], len(index)) for r in rows), dtype=np.int32, count=len(rows))
        d[name] = (list(index), codes)
    return _Raw(line_no, s, d)


def _split_lines(data: bytes) -> list[str]:
    text = data.decode("utf-8", errors="replace")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _slow_piece(data: bytes) -> tuple[_Raw, list[_Message], _Skipped]:
    skipped = _Skipped()
    access, messages = _slow_rows(list(enumerate(_split_lines(data), start=1)), skipped)
    return _raw_from_rows(access), messages, skipped


def _csv_options(layout: _Layout) -> tuple[Any, ...]:
    names = [f"t{i}" for i in range(layout.ncols)]
    return (
        pacsv.ReadOptions(column_names=names, use_threads=False, block_size=1 << 20),
        pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.large_string()),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
            check_utf8=False,
        ),
    )


_PARSE_OPTIONS = {
    "delimiter": " ",
    "quote_char": '"',
    "double_quote": False,
    "escape_char": False,
    "newlines_in_values": False,
    "ignore_empty_lines": False,
}
# bytes that may follow a closing quote without changing how the line splits
_AFTER_CLOSE = np.zeros(256, dtype=bool)
_AFTER_CLOSE[[ord(" "), ord("\n"), ord("\r")]] = True


#: Bytes scanned at a time by :func:`_positions` (its temporaries stay small enough for
#: malloc to reuse: a 16 MiB mask per scan is mapped, faulted in and unmapped every piece,
#: which costs more than the scan, and more still with two workers).
_SCAN_BYTES = 1 << 20


def _positions(arr: np.ndarray, byte: int) -> np.ndarray:
    """Positions of ``byte`` in the uint8 array ``arr``, ascending (``np.flatnonzero(arr == byte)``)."""
    if len(arr) <= _SCAN_BYTES:
        return np.flatnonzero(arr == byte)
    parts = []
    for start in range(0, len(arr), _SCAN_BYTES):
        hits = np.flatnonzero(arr[start : start + _SCAN_BYTES] == byte)
        if start:
            hits += start
        parts.append(hits)
    return np.concatenate(parts)


def _risky_lines(data: bytes, ends: np.ndarray) -> np.ndarray:
    """0-based indices of the lines that pyarrow might not split as one row of ``_tokenize``.

    pyarrow keeps a quoted field open across line ends (``newlines_in_values`` only tells
    its chunker where rows may end), so a line cut inside a quoted field, or with one
    quote too many, would swallow the lines after it; and it ends a row at a lone
    ``\r``. A line is safe when its quotes pair up as open-at-field-start /
    close-before-a-space-or-line-end: then pyarrow and the line reader agree on it. All
    other lines are cut out before tokenising and read by the per-line path. ``ends``
    are the positions of the ``\n`` in ``data``; the work is a few array passes.
    """
    arr = np.frombuffer(data, dtype=np.uint8)
    found: list[np.ndarray] = []
    quotes = _positions(arr, 34)
    if len(quotes):
        # quotes per line, and which quote of its line each one is (odd lines are rare:
        # after one, the quotes of the lines that follow start at an odd index)
        counts = np.diff(np.searchsorted(quotes, ends), prepend=0, append=len(quotes))
        odd = np.flatnonzero(counts & 1)
        if len(odd):
            rank = (np.arange(len(quotes)) ^ np.searchsorted(ends[odd[odd < len(ends)]], quotes)) & 1
            openers, closers = quotes[rank == 0], quotes[rank == 1]
        else:
            openers, closers = quotes[0::2], quotes[1::2]
        before = arr[np.maximum(openers - 1, 0)]
        wrong_open = openers[(before != 32) & (before != 10) & (openers != 0)]
        after = arr[np.minimum(closers + 1, len(arr) - 1)]
        wrong_close = closers[~_AFTER_CLOSE[after] & (closers + 1 != len(arr))]
        found += [np.searchsorted(ends, wrong_open), np.searchsorted(ends, wrong_close), odd]
    if data.find(b"\r") >= 0:
        returns = _positions(arr, 13)
        nxt = arr[np.minimum(returns + 1, len(arr) - 1)]
        found.append(np.searchsorted(ends, returns[(returns + 1 == len(arr)) | (nxt != 10)]))
    if not found:
        return np.empty(0, dtype=np.int64)
    return np.unique(np.concatenate(found))


def _line_text(data: bytes, starts: np.ndarray, stops: np.ndarray, index: int) -> str:
    text = data[starts[index] : stops[index]].decode("utf-8", errors="replace")
    return text[:-1] if text.endswith("\r") else text


def _without(data: bytes, starts: np.ndarray, stops: np.ndarray, lines: np.ndarray) -> bytes:
    """``data`` without ``lines`` (each with its line end)."""
    parts = []
    pos = 0
    for index in lines.tolist():
        parts.append(data[pos : starts[index]])
        pos = int(stops[index]) + 1
    parts.append(data[pos:])
    return b"".join(parts)


def _offsets(chunk: pa.Array) -> np.ndarray:
    return np.frombuffer(chunk.buffers()[1], dtype=np.int64)[chunk.offset : chunk.offset + len(chunk) + 1]


def _values(chunk: pa.Array, offsets: np.ndarray) -> np.ndarray:
    buffer = chunk.buffers()[2]
    if buffer is None:
        return np.zeros(0, dtype=np.uint8)
    return np.frombuffer(buffer, dtype=np.uint8)[offsets[0] : offsets[-1]]


# the kubelet time as the kubelet writes it: RFC 3339 with nanoseconds and Z (30 bytes)
_KTS_SHAPE = np.frombuffer(b"0000-00-00T00:00:00.000000000Z", dtype=np.uint8)
_KTS_DIGIT = np.equal(_KTS_SHAPE, ord("0"))


def _kubelet_ok(col: pa.ChunkedArray) -> np.ndarray:
    """Which tokens fully match ``_KTS`` (its usual 30-byte shape checked on the bytes)."""
    out = []
    for chunk in col.chunks:
        offsets = _offsets(chunk)
        values = _values(chunk, offsets)
        usual = np.diff(offsets) == 30
        if usual.all():
            grid = values.reshape(-1, 30)
        else:
            grid = values[(offsets[:-1][usual] - offsets[0])[:, None] + np.arange(30)]
        ok = np.zeros(len(chunk), dtype=bool)
        ok[usual] = ((grid[:, _KTS_DIGIT] - 48) < 10).all(axis=1) & (
            grid[:, ~_KTS_DIGIT] == _KTS_SHAPE[~_KTS_DIGIT]
        ).all(axis=1)
        rest = np.flatnonzero(~ok)
        if len(rest):
            ok[rest] = pc.match_substring_regex(chunk.take(pa.array(rest)), _KTS_RE2).to_numpy(zero_copy_only=False)
        out.append(ok)
    return np.concatenate(out) if out else np.zeros(0, dtype=bool)


def _word_ok(col: pa.ChunkedArray) -> np.ndarray:
    """Which tokens are ``word`` tokens: not empty, no space, no quote."""
    out = []
    for chunk in col.chunks:
        offsets = _offsets(chunk)
        ok = np.diff(offsets) > 0
        values = _values(chunk, offsets)
        if np.count_nonzero((values == 32) | (values == 34)):
            for char in (" ", '"'):
                ok &= ~pc.match_substring(chunk, char).to_numpy(zero_copy_only=False)
        out.append(ok)
    return np.concatenate(out) if out else np.zeros(0, dtype=bool)


def _chunks(values: pa.Array | pa.ChunkedArray) -> list[pa.Array]:
    return values.chunks if isinstance(values, pa.ChunkedArray) else [values]


def _constant(col: pa.ChunkedArray) -> str | None:
    """The one value of a column that holds only one (``-``, ``[]``, ``+0000]``), checked on its bytes; else None."""
    first: np.ndarray | None = None
    for chunk in col.chunks:
        if not len(chunk):
            continue
        offsets = _offsets(chunk)
        width = int(offsets[1] - offsets[0])
        if offsets[-1] - offsets[0] != width * len(chunk) or not (np.diff(offsets) == width).all():
            return None
        values = _values(chunk, offsets)
        if first is None:
            first = values[:width]
        if len(first) != width or (width and not (values.reshape(-1, width) == first).all()):
            return None
    return None if first is None else bytes(first).decode("utf-8", errors="replace")


def _encode(col: pa.ChunkedArray) -> tuple[list[str | None], np.ndarray]:
    """Unique values and int32 codes of a token column."""
    if not len(col):
        return [], np.zeros(0, dtype=np.int32)
    value = _constant(col)
    if value is not None:
        return [value], np.zeros(len(col), dtype=np.int32)
    encoded = pc.dictionary_encode(col)  # the chunks share one dictionary
    codes = [chunk.indices.to_numpy(zero_copy_only=False) for chunk in encoded.chunks]
    return encoded.chunk(0).dictionary.to_pylist(), np.concatenate(codes).astype(np.int32, copy=False)


def _fast_piece(data: bytes, layout: _Layout, ends: np.ndarray) -> tuple[_Raw, list[_Message], _Skipped] | None:
    """Tokenise ``data`` with pyarrow, sending only the lines it cannot read to the per-line path.

    ``ends`` are the positions of the piece's ``\\n``. None (the whole piece goes the
    per-line way) only if pyarrow's rows still do not match the lines one to one, which
    ``_risky_lines`` is there to prevent.
    """
    n_lines = len(ends) + (0 if data.endswith(b"\n") else 1)
    starts = np.concatenate(([0], ends + 1))[:n_lines]
    stops = np.concatenate((ends, [len(data)]))[:n_lines]
    risky = _risky_lines(data, ends)
    bad: list[int] = []

    def invalid(row: Any) -> str:
        bad.append(row.number if row.number is not None else -1)
        return "skip"

    read_options, convert_options = _csv_options(layout)
    try:
        table = pacsv.read_csv(
            pa.BufferReader(pa.py_buffer(_without(data, starts, stops, risky) if len(risky) else data)),
            read_options=read_options,
            parse_options=pacsv.ParseOptions(**_PARSE_OPTIONS, invalid_row_handler=invalid),
            convert_options=convert_options,
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    n = table.num_rows
    fed = n_lines - len(risky)  # lines pyarrow saw
    bad_rows = np.asarray(bad, dtype=np.int64)
    if n + len(bad) != fed or (len(bad) and (bad_rows.min() < 1 or bad_rows.max() > fed)):
        return None
    is_row = np.ones(fed + 1, dtype=bool)
    is_row[0] = False
    is_row[bad_rows] = False
    row_line = np.flatnonzero(is_row)
    if len(row_line) != n:
        return None
    bad_lines = bad_rows
    if len(risky):  # numbers of the lines pyarrow saw → of the piece's lines
        kept = np.ones(n_lines, dtype=bool)
        kept[risky] = False
        line_of = np.concatenate(([0], np.flatnonzero(kept) + 1))
        row_line, bad_lines = line_of[row_line], np.concatenate((line_of[bad_rows], risky + 1))

    log_format, fields = _LAYOUTS[layout.ncols - layout.kubelet]
    valid = np.ones(n, dtype=bool)
    s: dict[str, pa.Array | pa.ChunkedArray] = {}
    d: dict[str, tuple[list[str | None], np.ndarray]] = {}
    columns: list[pa.ChunkedArray | None] = [table.column(i) for i in range(layout.ncols)]  # no copy
    del table
    if layout.kubelet:
        valid &= _kubelet_ok(columns[0])
        s["kubelet_ts"] = columns[0]
    else:
        s["kubelet_ts"] = pa.nulls(n, pa.large_string())
    for i, (name, kind) in enumerate(fields):
        col = columns[layout.kubelet + i]
        columns[layout.kubelet + i] = None  # each token column is freed once encoded
        if name in _S_FIELDS:  # "word" tokens: non-empty, no space, no quote
            valid &= _word_ok(col)
            s[name] = col
            continue
        uniques, codes = _encode(col)
        del col
        pattern = _KINDS[kind]
        ok = [u is not None and pattern.fullmatch(u) is not None for u in uniques]
        if i == 0 and not layout.kubelet:
            # the per-line path would split such a first token off as a kubelet prefix
            ok = [fits and _KUBELET_TOKEN.fullmatch(u or "") is None for fits, u in zip(ok, uniques, strict=True)]
        valid &= np.array(ok, dtype=np.bool_)[codes]
        if name is not None:
            d[name] = (uniques, codes)
    for name in _S_FIELDS:
        s.setdefault(name, pa.nulls(n, pa.large_string()))
    zeros = np.zeros(n, dtype=np.int32)
    for name in _D_FIELDS:
        d.setdefault(name, ([log_format] if name == "log_format" else [None], zeros))

    failed = np.union1d(row_line[~valid], bad_lines)
    skipped = _Skipped()
    access: list[_Access] = []
    messages: list[_Message] = []
    if len(failed):
        wanted = [(number, _line_text(data, starts, stops, number - 1)) for number in failed.tolist()]
        access, messages = _slow_rows(wanted, skipped)

    fast_idx = np.flatnonzero(valid) if not valid.all() else None
    if not access:
        if fast_idx is None:
            return _Raw(row_line, s, d), messages, skipped
        taker = pa.array(fast_idx)
        return (
            _Raw(
                row_line[fast_idx],
                {k: v.take(taker) for k, v in s.items()},
                {k: (u, c[fast_idx]) for k, (u, c) in d.items()},
            ),
            messages,
            skipped,
        )
    slow = _raw_from_rows(access)
    if fast_idx is None:
        fast_idx = np.arange(n)
    line_all = np.concatenate([row_line[fast_idx], slow.line_no])
    order = np.argsort(line_all, kind="stable")
    src = np.concatenate([fast_idx, n + np.arange(len(access))])[order]
    taker = pa.array(src)
    merged_s = {k: pa.chunked_array([*_chunks(v), slow.s[k]]).take(taker) for k, v in s.items()}
    merged_d = {}
    for k, (uniques, codes) in d.items():
        s_uniques, s_codes = slow.d[k]
        merged_d[k] = (uniques + s_uniques, np.concatenate([codes, s_codes + len(uniques)])[src])
    return _Raw(line_all[order], merged_s, merged_d), messages, skipped


# ---------------------------------------------------------------- conversion
def _map(uniques: list[str | None], fn: Callable[[str], Any]) -> list[Any]:
    return [None if u is None else fn(u) for u in uniques]


def _unescape(text: str) -> str:
    """Undo nginx's ``\\xHH`` escaping (default) and JSON escaping (``escape=json``)."""
    if "\\" not in text:
        return text
    out: list[str] = []
    pending = bytearray()
    pos = 0
    for match in _ESCAPE.finditer(text):
        if match.start() > pos:
            if pending:
                out.append(pending.decode("utf-8", errors="replace"))
                pending.clear()
            out.append(text[pos : match.start()])
        hex_byte, unicode, simple = match.groups()
        if hex_byte is not None:
            pending.append(int(hex_byte, 16))
        else:
            if pending:
                out.append(pending.decode("utf-8", errors="replace"))
                pending.clear()
            out.append(chr(int(unicode, 16)) if unicode is not None else _JSON_ESCAPES[simple])
        pos = match.end()
    if pending:
        out.append(pending.decode("utf-8", errors="replace"))
    out.append(text[pos:])
    return "".join(out)


def _text_or_null(value: str) -> str | None:
    return None if value in ("-", "") else _unescape(value)


def _int_or_null(limit: int) -> Callable[[str], int | None]:
    def convert(value: str) -> int | None:
        if _DIGITS.fullmatch(value) is None:
            return None
        number = int(value)
        return number if number <= limit else None

    return convert


def _float_or_null(value: str) -> float | None:
    return float(value) if _NUMBER.fullmatch(value) else None


def _last(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    return lambda value: convert(_SEP.split(value)[-1])


def _summed(value: str) -> float | None:
    parts = [float(p) for p in _SEP.split(value) if _NUMBER.fullmatch(p)]
    return sum(parts) if parts else None


def _count(value: str) -> int:
    return 0 if value == "-" else len(_SEP.split(value))


def _bracketed(value: str) -> str | None:
    if len(value) >= 2 and value[0] == "[" and value[-1] == "]":
        value = value[1:-1]
    return None if value in ("", "-") else value


def _dash_null(value: str) -> str | None:
    return None if value == "-" else value


def _offset_ns(value: str) -> int:
    match = _OFFSET.fullmatch(value)
    if match is None:
        return _NAT
    sign = -1 if match.group(1) == "-" else 1
    return sign * (int(match.group(2)) * 3600 + int(match.group(3)) * 60) * _NS


def _local_ns(value: str) -> int:
    """``[13/Nov/2025:12:08:41`` (the first token of ``$time_local``) as wall-clock ns; NaT if invalid."""
    match = _TIME_A.fullmatch(value)
    if match is None:
        return _NAT
    day, month, year, hour, minute, second = match.groups()
    number = _MONTHS.get(month.title())
    if number is None:
        return _NAT
    return _utc_ns(int(year), number, int(day), int(hour), int(minute), int(second))


def _iso_ns(values: list[str | None]) -> np.ndarray:
    if not values:
        return np.empty(0, dtype=np.int64)
    parsed = pd.to_datetime(pd.Series(values, dtype="object"), utc=True, format="ISO8601", errors="coerce")
    return parsed.dt.as_unit("ns").to_numpy(dtype="datetime64[ns]").view(np.int64)


def _numbers(
    uniques: list[Any], codes: np.ndarray, dtype: type[np.integer] | type[np.floating]
) -> tuple[str, np.ndarray, np.ndarray]:
    mask_u = np.array([u is None for u in uniques] + [True], dtype=bool)
    values_u = np.array([0 if u is None else u for u in uniques] + [0], dtype=dtype)
    if dtype is np.float64:
        values_u[mask_u] = np.nan
    return ("num", values_u[codes], mask_u[codes])


def _strings(uniques: list[str | None], codes: np.ndarray) -> tuple[str, list[pa.Array]]:
    if all(u is None for u in uniques):  # e.g. no query strings, no referers
        return ("str", _repeated(None, len(codes)))
    return ("str", [pa.array(uniques, type=pa.large_string()).take(pa.array(codes))])


#: Rows per block of a column that repeats one value (``source``, an all-null column): every
#: chunk of such a column is the same block, so a million rows hold one block's memory.
_BLOCK_ROWS = 1 << 16


@functools.lru_cache(maxsize=1)
def _null_block() -> pa.Array:
    return pa.nulls(_BLOCK_ROWS, pa.large_string())


def _repeated(value: str | None, n: int) -> list[pa.Array]:
    """``n`` times ``value`` as chunks that share one block."""
    if value is None:
        block = _null_block()
    else:
        rows = max(1, min(n, _BLOCK_ROWS))
        data = value.encode("utf-8")
        offsets = np.arange(rows + 1, dtype=np.int64) * len(data)
        block = pa.Array.from_buffers(
            pa.large_string(), rows, [None, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data * rows)]
        )
    whole, rest = divmod(n, len(block))
    return [block] * whole + ([block.slice(0, rest)] if rest or not whole else [])


def _dash_strings(col: pa.Array | pa.ChunkedArray) -> tuple[str, list[pa.Array]]:
    if isinstance(col, pa.ChunkedArray):  # one chunk per piece (not one per CSV block)
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if col.null_count == len(col):
        return ("str", _repeated(None, len(col)))
    dashes = pc.equal(col, "-")
    if pc.any(dashes).as_py():
        col = pc.if_else(dashes, pa.scalar(None, pa.large_string()), col)
    return ("str", [col])


@functools.lru_cache(maxsize=1 << 16)
def _route(path: str) -> str | None:
    return route_template(path)


@functools.lru_cache(maxsize=1 << 16)
def _request_parts(request: str) -> tuple[str | None, ...]:
    match = _REQUEST.fullmatch(_unescape(request))
    if match is None:
        return (None, None, None, None)
    method, target, protocol = match.groups()
    path, sep, query = target.partition("?")
    return (method.upper(), path, query if sep else None, protocol)


def _odd_values(
    name: str, uniques: list[str | None], mapped: list[Any], codes: np.ndarray, line_no: np.ndarray, skipped: _Skipped
) -> None:
    """Count rows whose ``name`` token was logged but does not fit its column (kept as null)."""
    odd = [i for i, (u, m) in enumerate(zip(uniques, mapped, strict=True)) if m is None and u not in (None, "-", "")]
    if not odd:
        return
    for row in np.flatnonzero(np.isin(codes, odd)):
        skipped.add(
            int(line_no[row]), f"{name} {uniques[codes[row]]!r} does not fit the column; the row is kept with it null"
        )


def _convert(raw: _Raw, skipped: _Skipped) -> tuple[dict[str, Any], np.ndarray]:
    """Raw fields → the frame's columns (one code path for fast and per-line rows).

    A value the schema cannot hold (a number past its dtype, a time out of range with no
    kubelet time to fall back to) leaves the row in the frame with that field null, and is
    counted in ``skipped`` with its line, so it never becomes a silent null.
    """
    d = raw.d
    cols: dict[str, Any] = {}
    n = len(raw.line_no)

    # ts: $time_local (with its offset) > ISO time of JSON lines > kubelet prefix
    a_uniques, a_codes = d["time_a"]
    local = np.array([_NAT if u is None else _local_ns(u) for u in a_uniques], dtype=np.int64)
    b_uniques, b_codes = d["time_b"]
    offset = np.array([_NAT if u is None else _offset_ns(u) for u in b_uniques], dtype=np.int64)
    local_r, offset_r = local[a_codes], offset[b_codes]
    ts = np.where((local_r == _NAT) | (offset_r == _NAT), _NAT, local_r - offset_r)
    i_uniques, i_codes = d["time_iso"]
    if any(u is not None for u in i_uniques):
        iso = _iso_ns(i_uniques)[i_codes]
        ts = np.where(ts == _NAT, iso, ts)
    missing = np.flatnonzero(ts == _NAT)
    if len(missing):
        kubelet = raw.s["kubelet_ts"].take(pa.array(missing)).to_pylist()
        ts[missing] = _iso_ns(kubelet)
        for row in missing[ts[missing] == _NAT]:
            when = a_uniques[a_codes[row]] if a_codes[row] < len(a_uniques) else None
            shown = when.lstrip("[") if when is not None else "none"
            skipped.add(
                int(raw.line_no[row]),
                f"no valid time (time_local {shown!r} is not a date this tool can hold); the row is kept with ts null",
            )

    cols["log_format"] = ("cat", *d["log_format"])
    cols["remote_addr"] = ("cat", _map(d["remote_addr"][0], _dash_null), d["remote_addr"][1])
    cols["remote_user"] = _strings(_map(d["remote_user"][0], _dash_null), d["remote_user"][1])
    r_uniques, r_codes = d["request"]
    parts = [(None, None, None, None) if u is None else _request_parts(u) for u in r_uniques]
    route_u = [None if p[1] is None else _route(p[1]) for p in parts]
    cols["method"] = ("cat", [p[0] for p in parts], r_codes)
    cols["path"] = _strings([p[1] for p in parts], r_codes)
    cols["query"] = _strings([p[2] for p in parts], r_codes)
    cols["route"] = ("cat", route_u, r_codes)
    cols["protocol"] = ("cat", [p[3] for p in parts], r_codes)
    cols["status"] = _numbers(_map(d["status"][0], _int_or_null(2**15 - 1)), d["status"][1], np.int16)
    big = _int_or_null(2**63 - 1)
    for token in ("body_bytes_sent", "request_length"):
        _odd_values(token, d[token][0], _map(d[token][0], big), d[token][1], raw.line_no, skipped)
    cols["body_bytes"] = _numbers(_map(d["body_bytes_sent"][0], big), d["body_bytes_sent"][1], np.int64)
    cols["referer"] = _strings(_map(d["http_referer"][0], _text_or_null), d["http_referer"][1])
    cols["user_agent"] = ("cat", _map(d["http_user_agent"][0], _text_or_null), d["http_user_agent"][1])
    cols["request_length_bytes"] = _numbers(_map(d["request_length"][0], big), d["request_length"][1], np.int64)
    cols["request_time_s"] = _numbers(_map(d["request_time"][0], _float_or_null), d["request_time"][1], np.float64)
    for name in ("proxy_upstream_name", "proxy_alternative_upstream_name"):
        cols[name] = ("cat", _map(d[name][0], _bracketed), d[name][1])
    for name in _UPSTREAM_FIELDS:
        as_logged = _map(d[name][0], _dash_null)
        categorical = schema.INGRESS.dtypes[name] == "category"
        cols[name] = ("cat", as_logged, d[name][1]) if categorical else _strings(as_logged, d[name][1])
    addr_u, addr_c = d["upstream_addr"]
    cols["upstream_count"] = _numbers(_map(addr_u, _count), addr_c, np.int16)
    len_u, len_c = d["upstream_response_length"]
    cols["upstream_response_length_bytes"] = _numbers(_map(len_u, _last(big)), len_c, np.int64)
    time_u, time_c = d["upstream_response_time"]
    cols["upstream_response_time_s"] = _numbers(_map(time_u, _summed), time_c, np.float64)
    status_u, status_c = d["upstream_status"]
    cols["upstream_status_code"] = _numbers(_map(status_u, _last(_int_or_null(2**15 - 1))), status_c, np.int16)
    cols["request_id"] = _dash_strings(raw.s["req_id"])
    assert all((sum(map(len, c[1])) if c[0] == "str" else len(c[-1])) == n for c in cols.values())
    return cols, ts


# ---------------------------------------------------------------- files → frames
def _valid_utf8(data: bytes) -> bytes:
    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int64).tobytes())
    try:
        pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(data)]).cast(pa.large_string())
    except pa.ArrowInvalid:
        return data.decode("utf-8", errors="replace").encode("utf-8")
    return data


def _detect(data: bytes) -> _Layout | None:
    """The dominant token layout of the first lines (None: no line fits one)."""
    votes: dict[tuple[int, bool], int] = {}
    for text in _split_lines(data[: 256 * 1024])[:200]:
        match = _KUBELET.match(text)
        rest = text[match.end() :] if match else text
        tokens = _tokenize(rest)
        if _from_tokens(tokens, None) is not None:
            key = (len(tokens), match is not None)
            votes[key] = votes.get(key, 0) + 1
    if not votes:
        return None
    (ncols, kubelet), _ = max(votes.items(), key=lambda item: item[1])
    return _Layout(ncols + kubelet, kubelet)


def _work(data: bytes | bytearray, layout: _Layout | None) -> _PieceResult:
    data = _valid_utf8(bytes(data))
    n_bytes = len(data)
    ends = _positions(np.frombuffer(data, dtype=np.uint8), 10)
    n_lines = len(ends) + (0 if data.endswith(b"\n") else 1)
    result = _fast_piece(data, layout, ends) if layout is not None else None
    raw, messages, skipped = result if result is not None else _slow_piece(data)
    del data
    columns, ts = _convert(raw, skipped)
    line_no = raw.line_no
    del raw
    # held until the file is done: as small as the frame's own columns
    for name, column in columns.items():
        if column[0] == "cat":
            uniques, codes = _compact(column[1], column[2])
            columns[name] = ("cat", uniques, codes.astype(_code_dtype(len(uniques)), copy=False))
        elif column[0] == "num" and column[1].dtype == np.float64:
            columns[name] = ("num", column[1], None)  # NaN is the null
    return _PieceResult(columns, line_no, ts, messages, skipped, n_lines, n_bytes)


def _mapped(n: int, dtype: Any) -> np.ndarray:
    """An uninitialised array in memory of its own: given back to the system as soon as it is freed.

    (malloc keeps the memory of freed arrays for reuse, and the frame's columns are too big to
    reuse it: the pieces' copies would stay on top of the frame. Pages never written cost nothing.)
    """
    nbytes = max(1, n * np.dtype(dtype).itemsize)
    flags = getattr(mmap, "MAP_PRIVATE", 0) | getattr(mmap, "MAP_ANONYMOUS", 0)
    buffer = mmap.mmap(-1, nbytes, flags=flags) if flags else mmap.mmap(-1, nbytes)
    return np.frombuffer(buffer, dtype=dtype, count=n)


class _Rows:
    """The access rows of every file read so far, in the frame's final form.

    Pieces are folded in as they come, so that a piece's columns live only until then:
    numbers go into arrays with room for the rows expected (grown if needed), categorical
    codes and strings are kept per piece (small codes; strings become the frame's chunks).
    """

    def __init__(self) -> None:
        self.n = 0
        self.capacity = 0
        self.arrays: dict[str, np.ndarray] = {}
        self.parts: dict[str, list[Any]] = {}  # name → per piece: (uniques, codes) or string chunks
        self.kinds: dict[str, str] = {}
        self.file_rows: list[tuple[LogFile, int, int]] = []  # file, first row, row count

    def reserve(self, rows: int) -> None:
        """Make room for ``rows`` more rows (growing by half at least, so that few copies happen)."""
        if self.n + rows <= self.capacity:
            return
        self.capacity = max(self.n + rows, self.capacity + self.capacity // 2, 1 << 12)
        for key, old in self.arrays.items():
            new = _mapped(self.capacity, old.dtype)
            new[: self.n] = old[: self.n]
            self.arrays[key] = new
            del old, new

    def _put(self, key: str, values: np.ndarray) -> None:
        array = self.arrays.get(key)
        if array is None:
            array = self.arrays[key] = _mapped(self.capacity, values.dtype)
        array[self.n : self.n + len(values)] = values

    def add(self, file: LogFile, piece: _PieceResult, line_offset: int) -> None:
        """Fold ``piece`` in (its columns are dropped from it), numbering its lines from ``line_offset``."""
        n = len(piece.line_no)
        if not self.file_rows or self.file_rows[-1][0] is not file:
            self.file_rows.append((file, self.n, 0))
        self.reserve(n)
        self._put("ts", piece.ts)
        self._put("line_no", piece.line_no + line_offset)
        for name, column in piece.columns.items():
            kind = self.kinds.setdefault(name, column[0])
            if kind == "num":
                self._put(name, column[1])
                if column[2] is not None:
                    self._put(f"{name}.mask", column[2])
            elif kind == "cat":
                self.parts.setdefault(name, []).append((column[1], column[2]))
            else:
                self.parts.setdefault(name, []).extend(column[1])
        self.n += n
        file_, first, count = self.file_rows[-1]
        self.file_rows[-1] = (file_, first, count + n)
        piece.columns = {}
        piece.ts = piece.line_no = np.empty(0, dtype=np.int64)

    def array(self, key: str) -> np.ndarray:
        return self.arrays[key][: self.n]

    def file_slice(self, file: LogFile) -> slice:
        for file_, first, count in self.file_rows:
            if file_ is file:
                return slice(first, first + count)
        return slice(0, 0)


def _file_results(
    file: LogFile, pool: ThreadPoolExecutor, workers: int, *, slow: bool, unparsed: Unparsed, rows: _Rows
) -> list[_PieceResult]:
    """The file's pieces, worked on in ``pool``; their access rows are folded into ``rows`` as they come."""
    results: list[_PieceResult] = []
    pending: deque[Any] = deque()
    layout: _Layout | None = None
    offset = 0
    size = _size(file)

    def collect() -> None:
        nonlocal offset
        r = pending.popleft().result()
        if not results and size:  # room for the rows this file is likely to hold
            rows.reserve(int(len(r.line_no) * size / max(r.n_bytes, 1) * 1.1) + 1024)
        rows.add(file, r, offset)
        # line numbers of the file, not of the piece
        if offset:
            for m in r.messages:
                m.line_no += offset
            r.skipped.sample = [(n + offset, text) for n, text in r.skipped.sample]
        offset += r.n_lines
        results.append(r)

    # streamed in pieces that end at a line end; an unreadable file, or the part of one
    # beyond the read cap, is counted in ``unparsed``
    for i, data in enumerate(file.pieces(unparsed, piece_bytes=_piece_bytes(size, workers))):
        if i == 0 and not slow:
            layout = _detect(bytes(data))
        pending.append(pool.submit(_work, data, layout))
        del data
        if len(pending) > workers:
            collect()
    while pending:
        collect()
    return results


def _piece_bytes(size: int, workers: int) -> int:
    """Piece size for a file of ``size`` bytes: about :data:`_PIECE_BYTES`, in a multiple of ``workers`` pieces.

    The last piece of a file otherwise often runs alone while the other workers wait (17
    pieces on 2 workers); equal shares keep every worker busy to the end. A small file is
    split in ``workers`` pieces (not below 1 MiB each); an unknown size keeps the default.
    """
    if size <= 0:
        return _PIECE_BYTES
    pieces = -(-size // _PIECE_BYTES)
    pieces = -(-pieces // workers) * workers
    # each piece ends at the line end before its share: a little over a share keeps the count
    share = -(-size // pieces)
    return max(min(1 << 20, _PIECE_BYTES), share + min(64 << 10, share // 16))


def _size(file: LogFile) -> int:
    """Bytes the file is likely to give (0 when unknown)."""
    if file.path is None:
        return 0
    try:
        return min(file.path.stat().st_size, MAX_FILE_BYTES)
    except OSError:
        return 0


def _compact(uniques: list[str | None], codes: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Only the values some row uses, each once, and codes into them (-1 for null).

    The uniques of a token column include rows that went the per-line way, and mapping
    them (request → method) repeats values.
    """
    used = np.zeros(len(uniques) + 1, dtype=bool)
    used[codes] = True
    position: dict[str, int] = {}
    remap = [
        -1 if u is None or not hit else position.setdefault(u, len(position))
        for u, hit in zip(uniques, used[:-1].tolist(), strict=True)
    ]
    return list(position), np.array([*remap, -1], dtype=np.int32)[codes]


def _code_dtype(n_categories: int) -> type[np.signedinteger]:
    """The codes dtype pandas gives ``n_categories`` categories (so that it copies none)."""
    if n_categories < 127:
        return np.int8
    return np.int16 if n_categories < 32767 else np.int32


def _categorical(parts: list[Any], total: int) -> pd.Categorical:
    """One categorical from the pieces' (uniques, codes); each part is freed once copied."""
    # sorted, so that the categories do not depend on the path rows took
    present: set[str] = set()
    for uniques, _ in parts:
        present.update(u for u in uniques if u is not None)
    categories = sorted(present)
    position = {c: i for i, c in enumerate(categories)}
    dtype = _code_dtype(len(categories))
    codes = _mapped(total, dtype)
    at = 0
    for i, (uniques, part) in enumerate(parts):
        remap = np.array([position[u] if u is not None else -1 for u in uniques] + [-1], dtype=dtype)
        codes[at : at + len(part)] = remap[part]
        at += len(part)
        parts[i] = None
    return pd.Categorical.from_codes(
        codes, dtype=pd.CategoricalDtype(pd.Index(categories, dtype="string")), validate=False
    )


def _constant_categorical(values: list[str | None], counts: list[int], total: int) -> pd.Categorical:
    return _categorical([([v], np.zeros(n, dtype=np.int8)) for v, n in zip(values, counts, strict=True)], total)


def _access_frame(rows: _Rows, unparsed: Unparsed) -> pd.DataFrame:
    """The ingress frame from the rows folded in, column by column, each piece's part dropped once in.

    Peak memory stays near the frame's own size (issue #12: a 1 GiB access log within 1.5 GB).
    """
    if not rows.n:
        empty = schema.INGRESS.empty()
        empty.attrs.update(unparsed=unparsed.count, unparsed_sample=list(unparsed.sample))
        return empty
    total = rows.n
    data: dict[str, Any] = {}
    data["ts"] = pd.DatetimeIndex(rows.array("ts").view("datetime64[ns]"), copy=False).array.view(
        pd.DatetimeTZDtype(tz="UTC")
    )
    files = [f for f, _, _ in rows.file_rows]
    counts = [n for _, _, n in rows.file_rows]
    data["source"] = pd.arrays.ArrowStringArray(
        pa.chunked_array(
            [c for f, n in zip(files, counts, strict=True) for c in _repeated(f.name, n)], type=pa.large_string()
        )
    )
    data["line_no"] = pd.arrays.IntegerArray(rows.array("line_no"), np.zeros(total, dtype=bool))
    for name in ("namespace", "pod", "container"):
        data[name] = _constant_categorical([getattr(f, name) for f in files], counts, total)
    data["is_previous"] = pd.arrays.BooleanArray(
        np.concatenate([np.full(n, f.is_previous, dtype=bool) for f, n in zip(files, counts, strict=True)]),
        np.zeros(total, dtype=bool),
    )
    for name, kind in rows.kinds.items():
        if kind == "cat":
            data[name] = _categorical(rows.parts.pop(name), total)
        elif kind == "str":
            data[name] = pd.arrays.ArrowStringArray(pa.chunked_array(rows.parts.pop(name), type=pa.large_string()))
        elif f"{name}.mask" in rows.arrays:
            data[name] = pd.arrays.IntegerArray(rows.array(name), rows.array(f"{name}.mask"))
        else:
            data[name] = rows.array(name)
    rows.arrays.clear()
    frame = pd.DataFrame(data, index=pd.RangeIndex(total), copy=False)
    del data
    return schema.INGRESS.conform(frame, unparsed=unparsed.count, unparsed_sample=unparsed.sample)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utc_ns(year: int, *rest: int) -> int:
    """Nanoseconds since the epoch of a UTC wall time; NaT when invalid or out of range."""
    if not 1678 <= year <= 2261:  # the datetime64[ns] range
        return _NAT
    try:
        delta = datetime(year, *rest).replace(tzinfo=UTC) - _EPOCH  # type: ignore[arg-type, misc]
    except ValueError:
        return _NAT
    return (delta.days * 86400 + delta.seconds) * _NS + delta.microseconds * 1000


#: A klog time this close to its reference is in the right year: the same day of the year
#: before or after lies at least 215 days away.
_SURE_NS = 150 * 86400 * _NS


def _klog_ns(when: tuple[int, ...], reference: int) -> int:
    """The klog time in the year (around ``reference``'s) that puts it closest to it."""
    year = (_EPOCH + timedelta(microseconds=reference // 1000)).year
    best = _utc_ns(year, *when[1:])
    if best != _NAT and abs(best - reference) < _SURE_NS:  # the other years are farther
        return best
    best = _NAT
    for candidate_year in (year - 1, year, year + 1):
        candidate = _utc_ns(candidate_year, *when[1:])
        if candidate != _NAT and (best == _NAT or abs(candidate - reference) < abs(best - reference)):
            best = candidate
    return best


def _messages_frame(files: list[LogFile], results: list[list[_PieceResult]], rows: _Rows, now: int) -> pd.DataFrame:
    columns: dict[str, list[Any]] = {name: [] for name in schema.INGRESS_MESSAGES.names}
    stamps: list[int] = []
    for file, file_results in zip(files, results, strict=True):
        messages = [m for r in file_results for m in r.messages]
        if not messages:
            continue
        where = rows.file_slice(file)
        line_no = rows.array("line_no")[where] if rows.n else np.empty(0, dtype=np.int64)
        ts = rows.array("ts")[where] if rows.n else np.empty(0, dtype=np.int64)
        known = ts != _NAT
        line_no, ts = line_no[known], ts[known]
        kubelet = _iso_ns([m.kubelet_ts for m in messages]).tolist()
        for m, kubelet_ns in zip(messages, kubelet, strict=True):
            if m.kind == "klog":
                reference = kubelet_ns
                if reference == _NAT and len(line_no):
                    at = int(np.searchsorted(line_no, m.line_no))
                    reference = int(ts[at - 1] if at > 0 else ts[at])
                when = _klog_ns(m.when, now if reference == _NAT else reference)
            else:
                when = _utc_ns(*m.when)
            stamps.append(kubelet_ns if when == _NAT else when)
        for name, value in (
            ("source", file.name),
            ("namespace", file.namespace),
            ("pod", file.pod),
            ("container", file.container),
            ("is_previous", file.is_previous),
        ):
            columns[name] += [value] * len(messages)
        for name in ("line_no", "kind", "level", "location", "message", "client", "server", "request", "upstream"):
            columns[name] += [getattr(m, name) for m in messages]
    if not stamps:
        return schema.INGRESS_MESSAGES.empty()
    columns["ts"] = pd.DatetimeIndex(np.array(stamps, dtype=np.int64).view("datetime64[ns]")).tz_localize("UTC")
    return schema.INGRESS_MESSAGES.conform(pd.DataFrame(columns))


def _frames(
    source: Bundle | str | os.PathLike[str] | TextIO, *, _slow: bool = False, messages: bool = True
) -> dict[str, pd.DataFrame]:
    """Both frames of the ingress files (each file read once); only ``ingress`` if not ``messages``.

    ``_slow=True`` sends every line through the per-line path (tests compare both paths).
    """
    files = resolve_sources(source, "ingress")
    workers = max(1, min(4, os.cpu_count() or 1))
    results: list[list[_PieceResult]] = []
    unparsed = Unparsed()
    rows = _Rows()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for file in files:
            results.append(_file_results(file, pool, workers, slow=_slow, unparsed=unparsed, rows=rows))
    for file, file_results in zip(files, results, strict=True):
        for r in file_results:
            for line_no, text in r.skipped.sample:
                unparsed.add(file.name, line_no, text)
            unparsed.count += r.skipped.count - len(r.skipped.sample)
    out: dict[str, pd.DataFrame] = {}
    if messages:  # (not for pa.parse.ingress: it would be built for nothing); before the access frame takes the rows
        out["ingress_messages"] = _messages_frame(files, results, rows, pd.Timestamp.now(tz="UTC").value)
    return {"ingress": _access_frame(rows, unparsed), **out}


@schema.documented(schema.INGRESS)
def ingress(source: Bundle | str | os.PathLike[str] | TextIO) -> pd.DataFrame:
    r"""Parse ingress-nginx access lines into one row per HTTP request.

    Reads the controller's default ``upstreaminfo`` format, nginx ``combined`` and JSON
    lines, with or without the kubelet timestamp prefix. ``ts`` is ``$time_local``
    converted to UTC (the kubelet timestamp when the line has no valid time of its own).
    Controller messages go to :func:`ingress_messages`; other lines are counted in
    ``df.attrs["unparsed"]`` with a sample in ``df.attrs["unparsed_sample"]``.

    Parameters
    ----------
    source
        A Bundle (its ingress-nginx controller logs), a path, or an open text stream
        (``io.StringIO(text)`` for pasted text).

    Returns
    -------
    pandas.DataFrame
        Conformed to :data:`panda_analysis.schema.INGRESS`, in file order.

    Examples
    --------
    >>> import io
    >>> line = ('10.42.0.0 - - [13/Nov/2025:12:08:41 +0000] "GET /focus-server/metadata/19-5 HTTP/1.1" '
    ...         '200 450 "-" "python-requests/2.32.5" 902 0.106 [panda-focus-5000] [] '
    ...         '10.42.1.9:5000 450 0.106 200 80e1da9a6d866cc1ede71922a8232394\n')
    >>> df = ingress(io.StringIO(line))
    >>> row = df.iloc[0]
    >>> row["ts"], row["method"], row["route"], int(row["status"]), float(row["upstream_response_time_s"])
    (Timestamp('2025-11-13 12:08:41+0000', tz='UTC'), 'GET', '/focus-server/metadata/{job_id}', 200, 0.106)
    """
    return _frames(source, messages=False)["ingress"]


@schema.documented(schema.INGRESS_MESSAGES)
def ingress_messages(source: Bundle | str | os.PathLike[str] | TextIO) -> pd.DataFrame:
    """Parse the ingress-nginx controller's own lines: klog lines and nginx error-log lines.

    klog lines carry no year; it is taken from the kubelet prefix, else from the nearest
    access line of the same file, else the current year.

    Parameters
    ----------
    source
        A Bundle (its ingress-nginx controller logs), a path, or an open text stream.

    Returns
    -------
    pandas.DataFrame
        Conformed to :data:`panda_analysis.schema.INGRESS_MESSAGES`, in file order.

    Examples
    --------
    >>> import io
    >>> text = ('2025-11-08T13:18:33.123456789Z I1108 13:18:33.123456       7 controller.go:190] '
    ...         '"Configuration changes detected, backend reload required"\\n')
    >>> df = ingress_messages(io.StringIO(text))
    >>> df.loc[0, ["ts", "kind", "level", "location", "message"]].tolist()
    [Timestamp('2025-11-08 13:18:33.123456+0000', tz='UTC'), 'klog', 'info', 'controller.go:190', 'Configuration changes detected, backend reload required']
    """
    return _frames(source)["ingress_messages"]
