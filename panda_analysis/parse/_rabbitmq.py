"""RabbitMQ server log (``rabbitmq-panda-0``): one row per log entry.

Three layouts are read, whatever the RabbitMQ version on the cluster:

* 3.9+ (Erlang ``logger``): ``2025-11-08 13:12:24.748786+00:00 [debug] <0.928.0> Peer
  discovery: ...``. A multi-line message is written as several lines with the same
  prefix (``rabbit_logger_text_fmt`` prefixes every line), so consecutive lines with the
  same time, level and Erlang pid are one entry (the start-up banner ``Starting RabbitMQ
  3.12.13 on Erlang 26.2.5``, ``node : rabbit@...`` is one row);
* 3.7 / 3.8 (lager): ``2025-11-08 13:12:24.748 [info] <0.928.0> ...`` (no offset: UTC); a
  message's further lines carry no prefix and are joined into it;
* before 3.7: ``=INFO REPORT==== 8-Nov-2025::13:12:24 ===`` then the message lines up to
  the next header or a blank line (``WARNING``, ``ERROR``, ``CRASH``, ``SUPERVISOR`` and
  ``PROGRESS`` reports too).

Levels are normalised (``notice`` → info, ``warn`` → warning). The exchange, routing key,
queue, connection (``10.42.1.9:43210 -> 10.42.0.15:5672``) and user named by common
messages (publish / consume traces, ``accepting AMQP connection``, ``user 'panda'
authenticated``, ``closing AMQP connection ... client unexpectedly closed TCP
connection``, ``Queue 'grpc-job-19-5' in vhost '/' ...``) become columns. Text before the
first entry (the console banner) is kept as one row with no level; text that belongs to
no entry is counted as unparsed.
"""

from __future__ import annotations

import os
import re
from typing import Any, TextIO

import pandas as pd

from panda_analysis import schema
from panda_analysis._lines import LogFile, Unparsed
from panda_analysis.bundle import Bundle  # runtime import: typing.get_type_hints() must resolve it
from panda_analysis.parse._common import (
    count_bad_time,
    has_junk,
    iso_instant,
    log_frame,
    log_row,
    log_text,
    normalize_level,
)

__all__ = ["rabbitmq_log"]

_PID = r"(?P<pid><\d+\.\d+\.\d+>)(?:@\S+)?"
_MODERN_TS = (
    r"(?P<date>\d{4}-\d{2}-\d{2})[ T](?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<frac>\d{1,9}))?"
    r"(?P<tz>Z|[+-]\d{2}:?\d{2})?"
)
_MODERN = re.compile(rf"^{_MODERN_TS}\s+\[(?P<level>[A-Za-z]+)\](?:\s+{_PID})?(?: (?P<msg>.*))?$")
# the first entry can follow "  Starting broker..." on the same console line
_MODERN_INSIDE = re.compile(rf"{_MODERN_TS}\s\[(?P<level>[a-z]+)\]\s<\d+\.\d+\.\d+>")
# pasted without a time: "[INFO] Message published to exchange 'prisma' ..." (seed 000)
_BARE = re.compile(rf"^\[(?P<level>[A-Za-z]+)\](?:\s+{_PID})?(?: (?P<msg>.*))?$")
_LEGACY = re.compile(
    r"^=(?P<report>[A-Z][A-Z ]*?) REPORT==== (?P<day>\d{1,2})-(?P<mon>[A-Z][a-z]{2})-(?P<year>\d{4})"
    r"::(?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<frac>\d{1,9}))? ===\s*$"
)
_LEGACY_LEVELS = {
    "INFO": "info", "WARNING": "warning", "ERROR": "error", "CRASH": "error",
    "SUPERVISOR": "error", "PROGRESS": "info",
}
_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}

_EXCHANGE = re.compile(r"\bexchange:?\s*'([^']*)'", re.I)
_ROUTING_KEY = re.compile(r"\brouting[_ ]key:?\s*'([^']*)'", re.I)
_QUEUE = re.compile(r"\bqueue:?\s*'([^']*)'", re.I)
# a match may start only where a token starts (the lookbehind): without it a long line with
# no separator is tried from every offset, each scanning to its end (quadratic: 30 s on 200 KB)
_CONNECTION = re.compile(r"(?<![^\s(),])([^\s(),]+:\d+ -> [^\s(),]+:\d+)")
_USER = re.compile(r"\buser:?\s*'([^']*)'", re.I)


class _Entry:
    """One entry being read: its first line's facts and the message lines so far."""

    __slots__ = ("file", "key", "level", "line_no", "log_format", "parts", "pid", "ts")

    def __init__(self, file: LogFile, line_no: int, ts: str | None, log_format: str | None,
                 level: str | None, pid: str | None, message: str) -> None:
        self.file = file
        self.line_no = line_no
        self.ts = ts
        self.log_format = log_format
        self.level = level
        self.pid = pid
        self.key: tuple[str | None, ...] | None = None
        self.parts = [message]

    def row(self) -> dict[str, Any]:
        parts = list(self.parts)
        while len(parts) > 1 and not parts[0].strip():
            parts.pop(0)
        parts[0] = parts[0].lstrip()
        message = "\n".join(parts).rstrip()
        row: dict[str, Any] = {
            **log_row(self.file, self.line_no, self.ts),
            "log_format": self.log_format,
            "level": self.level,
            "erlang_pid": self.pid,
            "message": message,
        }
        for column, pattern in (
            ("exchange", _EXCHANGE), ("routing_key", _ROUTING_KEY), ("queue", _QUEUE),
            ("connection", _CONNECTION), ("user", _USER),
        ):
            match = pattern.search(message)
            row[column] = match.group(1) if match else None
        return row


def _header(text: str, kubelet_ts: str | None) -> dict[str, Any] | None:
    """Facts of an entry's first line, or None if ``text`` does not start an entry."""
    match = _MODERN.match(text) if text[:1].isdigit() else None
    if match is not None:
        level = normalize_level(match.group("level"))
        if level is not None:
            ts = iso_instant(*match.group("date", "time", "frac", "tz"))
            return {
                "ts": ts or kubelet_ts, "log_format": "modern", "level": level,
                "bad_ts": None if ts else f"{match.group('date')} {match.group('time')}",
                "pid": match.group("pid"), "message": (match.group("msg") or "").strip(),
                "raw": (match.group("msg") or "").rstrip(),
                # 3.9+ (with offset) repeats the prefix on every line of one message
                "key": (ts, level, match.group("pid")) if match.group("tz") else None,
            }
    match = _LEGACY.match(text) if text[:1] == "=" else None
    if match is not None and match.group("report") in _LEGACY_LEVELS:
        month = _MONTHS.get(match.group("mon"))
        ts = None
        if month is not None:
            date = f"{match.group('year')}-{month:02d}-{int(match.group('day')):02d}"
            ts = iso_instant(date, match.group("time"), match.group("frac"), None)
        return {
            "ts": ts or kubelet_ts, "log_format": "legacy",
            "bad_ts": None if ts else f"{match.group('day')}-{match.group('mon')}-{match.group('year')}::{match.group('time')}",
            "level": _LEGACY_LEVELS[match.group("report")], "pid": None, "message": "",
            "key": None,
        }
    match = _BARE.match(text) if text[:1] == "[" else None
    if match is not None:
        level = normalize_level(match.group("level"))
        if level is not None:
            return {
                "ts": kubelet_ts, "log_format": "modern", "level": level,
                "pid": match.group("pid"), "message": (match.group("msg") or "").strip(),
                "key": None,
            }
    return None


def _parse_file(file: LogFile, unparsed: Unparsed) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    current: _Entry | None = None
    seen_entry = False  # text before the first entry is the console banner
    for line in file.lines(unparsed):
        text = log_text(line.text)
        if text is None:
            if current is not None and current.log_format == "legacy":
                rows.append(current.row())  # a blank line ends a legacy report
                current = None
            continue
        pieces = [text]
        header = _header(text, line.kubelet_ts)
        if header is None and (inside := _MODERN_INSIDE.search(text)) and inside.start() > 0:
            pieces = [text[: inside.start()], text[inside.start() :]]
        for piece in pieces:
            header = _header(piece, line.kubelet_ts)
            if header is None:
                if has_junk(piece) or (current is None and seen_entry):
                    unparsed.add(file.name, line.line_no, piece)
                elif current is None:
                    current = _Entry(file, line.line_no, line.kubelet_ts, None, None, None,
                                     piece.rstrip())
                else:
                    current.parts.append(piece.rstrip())
                continue
            seen_entry = True
            key = header["key"]
            if current is not None and key is not None and key[2] is not None and current.key == key:
                current.parts.append(header["raw"])  # next line of a 3.9+ multi-line message
                continue
            if current is not None:
                rows.append(current.row())
            count_bad_time(unparsed, file, line, header.get("bad_ts"), inferred=False)
            current = _Entry(file, line.line_no, header["ts"], header["log_format"],
                             header["level"], header["pid"], header["message"])
            current.key = key
    if current is not None:
        rows.append(current.row())
    return rows


def _frames(source: Bundle | str | os.PathLike[str] | TextIO) -> dict[str, pd.DataFrame]:
    return {"rabbitmq_log": log_frame(source, "rabbitmq_log", schema.RABBITMQ_LOG, _parse_file)}


@schema.documented(schema.RABBITMQ_LOG)
def rabbitmq_log(source: Bundle | str | os.PathLike[str] | TextIO) -> pd.DataFrame:
    """Parse RabbitMQ server logs into one row per log entry.

    Parameters
    ----------
    source
        A Bundle (its ``rabbitmq*`` pod logs), a path to one log file, or an open text
        stream (``io.StringIO(text)`` for pasted text).

    Returns
    -------
    pandas.DataFrame
        Conformed to :data:`panda_analysis.schema.RABBITMQ_LOG`; multi-line entries are
        one row, their lines joined with ``\\n`` in ``message``. The console banner
        before the first entry is one row with null ``log_format`` and ``level``.

    Examples
    --------
    >>> import io
    >>> import panda_analysis as pa
    >>> text = (
    ...     "2025-11-08 13:12:24.748786+00:00 [debug] <0.928.0> Peer discovery: all known "
    ...     "cluster nodes are up.\\n"
    ...     "=WARNING REPORT==== 8-Nov-2025::13:12:30 ===\\n"
    ...     "closing AMQP connection <0.580.0> (10.42.1.9:43210 -> 10.42.0.15:5672, "
    ...     "vhost: '/', user: 'panda'):\\n"
    ...     "client unexpectedly closed TCP connection\\n"
    ... )
    >>> df = pa.parse.rabbitmq_log(io.StringIO(text))
    >>> df[["log_format", "level", "erlang_pid", "user"]].values.tolist()
    [['modern', 'debug', '<0.928.0>', <NA>], ['legacy', 'warning', <NA>, 'panda']]
    >>> df.loc[1, "connection"]
    '10.42.1.9:43210 -> 10.42.0.15:5672'
    """
    return _frames(source)["rabbitmq_log"]
