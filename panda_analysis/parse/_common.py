"""Helpers shared by the parsers.

* names: route templates, job ids (from a name or a mention in text), level names;
* log text: ANSI colour codes, blank and kubelet-stamp-only lines, control characters,
  Python ``logging`` header fragments and times, traceback lines, inferred record times,
  and the frame of a line-oriented log parser;
* JSON evidence: tolerant value accessors, ISO-8601 instants, compact / snippet text,
  JSON-lines reading with unparsed accounting, and conforming rows to a schema.

This module imports no parser module, so every parser can import it.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import pandas as pd

from panda_analysis._lines import MAX_JSON_LINE_BYTES, Line, LogFile, Unparsed, iter_lines, resolve_sources
from panda_analysis._time import to_utc

if TYPE_CHECKING:
    import os

    from panda_analysis.bundle import Bundle
    from panda_analysis.schema import FrameSchema

__all__ = [
    "LOGGING_BASIC",
    "LOGGING_BRACKET",
    "LOGGING_DASHED",
    "LOGGING_LEVEL",
    "LOGGING_LEVELS",
    "LOGGING_LOGGER_WORD",
    "LOGGING_TS",
    "TRACEBACK_CHAIN",
    "TRACEBACK_EXCEPTION",
    "TRACEBACK_START",
    "RecordTimes",
    "as_bool",
    "as_dict",
    "as_text",
    "compact_json",
    "conform",
    "has_junk",
    "is_traceback_line",
    "iso_instant",
    "iso_timestamp",
    "job_id_from_name",
    "job_id_mentioned",
    "json_lines",
    "json_snippet",
    "log_frame",
    "log_row",
    "log_text",
    "logging_ts",
    "normalize_level",
    "route_template",
    "stamped_json_lines",
]

_JOB_ID = r"\d+-\d+"
# grpc-job-<job_id>-<suffix>: Job pods get a 5-character suffix; the Job and its queue have none.
_GRPC_NAME = re.compile(rf"^grpc-job-({_JOB_ID})(?:-[a-z0-9]{{5}})?$")
# job 19-5, Job 19-5, job_id=19-5, job_id: "19-5", "job_id": "19-5", grpc-job-19-5
_JOB_MENTION = re.compile(
    r"""(?:grpc-job-|\bjob(?:[_ -]?id)?["']?\s*[=:]?\s*["']?)(\d+-\d+)(?!\d|-\d)""", re.I
)
_SEGMENT_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(rf"^{_JOB_ID}$"), "{job_id}"),
    (re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"), "{uuid}"),
    (re.compile(r"^[0-9a-fA-F]{24}$"), "{object_id}"),
    (re.compile(r"^\d+$"), "{id}"),
    (re.compile(r"^(?=.*\d)[0-9a-fA-F]{16,}$"), "{hex}"),
)
_LEVELS = {
    "trace": "debug", "debug": "debug", "dbg": "debug", "d": "debug",
    "info": "info", "information": "info", "notice": "info", "i": "info",
    "warn": "warning", "warning": "warning", "w": "warning",
    "error": "error", "err": "error", "e": "error",
    "critical": "critical", "crit": "critical", "fatal": "critical", "alert": "critical",
    "emergency": "critical", "emerg": "critical", "f": "critical", "c": "critical",
}


def route_template(path: str | None) -> str | None:
    """Template the ids in a request path so requests group by endpoint.

    Examples
    --------
    >>> route_template("/focus-server/metadata/19-5")
    '/focus-server/metadata/{job_id}'
    >>> route_template("/api/jobs/42?x=1")
    '/api/jobs/{id}'
    >>> route_template("/prisma/api/prisma-210-1000/api/push-to-rabbit")
    '/prisma/api/prisma-210-1000/api/push-to-rabbit'
    """
    if path is None:
        return None
    path = path.split("?", 1)[0]
    segments = path.split("/")
    for i, segment in enumerate(segments):
        for pattern, name in _SEGMENT_RULES:
            if pattern.match(segment):
                segments[i] = name
                break
    return "/".join(segments)


def job_id_from_name(name: str | None) -> str | None:
    """The Panda job id in a Job, pod or queue name (``grpc-job-<job_id>[-<suffix>]``).

    Examples
    --------
    >>> job_id_from_name("grpc-job-19-5-cj8hc")
    '19-5'
    >>> job_id_from_name("grpc-job-19-5")
    '19-5'
    >>> job_id_from_name("rabbitmq-panda-0") is None
    True
    """
    if not name:
        return None
    match = _GRPC_NAME.match(name)
    return match.group(1) if match else None


def normalize_level(level: str | None) -> str | None:
    """Map a level name (``WARN``, ``notice``, ``E``, ...) to debug/info/warning/error/critical.

    Examples
    --------
    >>> normalize_level("WARN"), normalize_level("notice"), normalize_level("bogus")
    ('warning', 'info', None)
    """
    if not level:
        return None
    return _LEVELS.get(level.strip().lower())


def job_id_mentioned(text: str | None) -> str | None:
    """The job id mentioned in ``text`` (``job 19-5``, ``job_id=19-5``, ``"job_id": "19-5"``, ``grpc-job-19-5``).

    Examples
    --------
    >>> job_id_mentioned('Consumer started for job_id="19-5"'), job_id_mentioned("job 19-55-1")
    ('19-5', None)
    """
    if not text:
        return None
    match = _JOB_MENTION.search(text)
    return match.group(1) if match else None


# ------------------------------------------------------------------------------ log text

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# an empty line under `kubectl logs --timestamps` whose trailing space was trimmed (editors,
# pre-commit) is only the kubelet timestamp: blank, like the empty line it was
_STAMP_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})\s*$")
_JUNK = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ufffd]")


def log_text(text: str) -> str | None:
    """A log line without ANSI colour codes, or None when it is blank (or only a kubelet time).

    Examples
    --------
    >>> log_text("\\x1b[32mINFO\\x1b[0m ok"), log_text("   "), log_text("2025-11-08T13:18:33Z")
    ('INFO ok', None, None)
    """
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    if not text.strip() or _STAMP_ONLY.match(text):
        return None
    return text


def has_junk(text: str) -> bool:
    """Whether ``text`` holds control or replacement characters (binary noise, not a log line)."""
    return _JUNK.search(text) is not None


#: Python ``logging`` level names, as they appear in a record's header.
LOGGING_LEVELS = r"DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL"
LOGGING_LEVEL = rf"(?P<level>{LOGGING_LEVELS})"
#: Python logging asctime (``2025-11-13 12:08:41,123``) or ISO-8601 (``...T13:18:33.512+0000``);
#: read its groups with :func:`logging_ts`.
LOGGING_TS = (
    r"(?P<date>\d{4}-\d{2}-\d{2})[T ](?P<time>\d{2}:\d{2}:\d{2})(?:[.,](?P<frac>\d{1,9}))?"
    r"(?:\s?(?P<tz>Z|[+-]\d{2}:?\d{2}|UTC))?"
)
_LOGGER = r"(?P<logger>[A-Za-z_][\w.\-]*)"
#: After ``<ts> LEVEL``, a word is a logger name only if it looks like one
#: (``pz.focus_server``, ``baby_analyzer``, ``root``; a bare lowercase word is not), so
#: ``<ts> ERROR FocusManager init failed`` keeps its first word in the message.
LOGGING_LOGGER_WORD = r"(?P<logger>[A-Za-z_][\w\-]*[._][\w.\-]*|root|main|app|uvicorn|gunicorn)"
#: ``2025-11-08 13:18:33,123 - pz.focus_server - INFO - message`` (the logging default)
LOGGING_DASHED = re.compile(rf"^{LOGGING_TS}\s+-\s+{_LOGGER}\s+-\s+{LOGGING_LEVEL}\s+-\s?(?P<msg>.*)$")
#: ``[INFO] message``, optionally after a time
LOGGING_BRACKET = re.compile(rf"^(?:{LOGGING_TS}\s+)?\[(?P<level>(?i:{LOGGING_LEVELS}))\]\s*(?P<msg>.*)$")
#: ``INFO:pz.focus_server:message`` (``logging.basicConfig``)
LOGGING_BASIC = re.compile(rf"^{LOGGING_LEVEL}:{_LOGGER}:(?P<msg>.*)$")


@functools.lru_cache(maxsize=4096)  # a log repeats the same few seconds many times
def iso_instant(date: str, time: str, frac: str | None, tz: str | None) -> str | None:
    """ISO-8601 text of a log time's parts, or None if it is not a real instant.

    ``tz`` is ``Z``, ``UTC``, ``+HHMM``, ``+HH:MM`` or None (UTC).

    Examples
    --------
    >>> iso_instant("2025-11-08", "13:18:33", "512", "+0000")
    '2025-11-08T13:18:33.512+00:00'
    >>> iso_instant("2025-02-30", "13:18:33", None, None) is None
    True
    """
    try:
        year, month, day = (int(part) for part in date.split("-"))
        hour, minute, second = (int(part) for part in time.split(":"))
        datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    if tz in (None, "Z", "UTC"):
        offset = "+00:00"
    else:
        digits = tz[1:].replace(":", "")
        if int(digits[:2]) > 23 or int(digits[2:]) > 59:
            return None
        offset = f"{tz[0]}{digits[:2]}:{digits[2:]}"
    return f"{date}T{time}{'.' + frac if frac else ''}{offset}"


def logging_ts(match: re.Match[str]) -> str | None:
    """ISO-8601 text of the :data:`LOGGING_TS` groups of ``match`` (None when absent or invalid)."""
    if "date" not in match.re.groupindex or not match.group("date"):
        return None
    return iso_instant(*match.group("date", "time", "frac", "tz"))


TRACEBACK_START = "Traceback (most recent call last)"
TRACEBACK_CHAIN = (
    "During handling of the above exception",
    "The above exception was the direct cause",
)
#: A final exception line anywhere (``pymongo.errors.ServerSelectionTimeoutError: ...``):
#: group 1 the type, group 2 the message.
TRACEBACK_EXCEPTION = re.compile(
    r"^((?:[A-Za-z_]\w*\.)*[A-Z_]\w*(?:Error|Exception|Exit|Interrupt|Timeout|Failure|Fault))"
    r"(?::\s?(.*))?$"
)


def is_traceback_line(text: str) -> bool:
    """Whether ``text`` starts a Python traceback, chains one, or is an exception line.

    Examples
    --------
    >>> is_traceback_line("Traceback (most recent call last):"), is_traceback_line("KeyError: 'x'")
    (True, True)
    >>> is_traceback_line("Connecting to RabbitMQ")
    False
    """
    return text.startswith((TRACEBACK_START, *TRACEBACK_CHAIN)) or TRACEBACK_EXCEPTION.match(text) is not None


class RecordTimes:
    """Times of the records of one log file.

    A record takes its own time, else the kubelet prefix of its line, else the time of the
    record before it (then ``is_ts_inferred``). Make one per file.

    Examples
    --------
    >>> times = RecordTimes()
    >>> times("2025-11-08T13:18:33+00:00", None), times(None, None)
    (('2025-11-08T13:18:33+00:00', False), ('2025-11-08T13:18:33+00:00', True))
    """

    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last: str | None = None

    def __call__(self, own: str | None, kubelet: str | None) -> tuple[str | None, bool]:
        """``(ts, is_ts_inferred)`` of a record whose header has time ``own``."""
        ts = own or kubelet
        if ts is None:
            return self.last, self.last is not None
        self.last = ts
        return ts, False


def log_row(file: LogFile, line_no: int, ts: str | None) -> dict[str, Any]:
    """The columns every log row starts with: its time, where it was read, and the pod's identity."""
    return {
        "ts": ts,
        "source": file.name,
        "line_no": line_no,
        "namespace": file.namespace,
        "pod": file.pod,
        "container": file.container,
        "is_previous": file.is_previous,
    }


def log_frame(
    source: Bundle | str | os.PathLike[str] | TextIO,
    part: str,
    frame: FrameSchema,
    parse_file: Callable[[LogFile, Unparsed], list[dict[str, Any]]],
) -> pd.DataFrame:
    """The ``frame`` of a log parser: ``parse_file`` on every file of ``part`` of ``source``."""
    unparsed = Unparsed()
    rows: list[dict[str, Any]] = []
    for file in resolve_sources(source, part):
        rows.extend(parse_file(file, unparsed))
    records = pd.DataFrame.from_records(rows) if rows else pd.DataFrame()
    return conform(frame, records, unparsed)


# ------------------------------------------------------------------------------ JSON evidence
# JSON from a cluster (or a hand-edited file) may hold anything anywhere: every accessor
# checks the type and answers None (or {}) rather than raising.

T = TypeVar("T")


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else ``{}``."""
    return value if isinstance(value, dict) else {}


def as_text(value: Any) -> str | None:
    """``value`` if it is a non-empty string, else None."""
    return value if isinstance(value, str) and value != "" else None


def as_bool(value: Any) -> bool | None:
    """``value`` if it is a JSON boolean, else None."""
    return value if isinstance(value, bool) else None


def iso_timestamp(value: Any) -> pd.Timestamp | None:
    """A UTC Timestamp from an ISO-8601 / RFC 3339 string, or None (never raises).

    Examples
    --------
    >>> iso_timestamp("2025-11-13T09:41:12.503212Z"), iso_timestamp("soon"), iso_timestamp(5)
    (Timestamp('2025-11-13 09:41:12.503212+0000', tz='UTC'), None, None)
    """
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return to_utc(pd.to_datetime(value, utc=True, format="ISO8601"))
    except (ValueError, TypeError, OverflowError):
        return None


def compact_json(value: Any) -> str:
    """``value`` as compact JSON text (non-ASCII kept), or a note if it is nested too deeply."""
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except RecursionError:
        return f"<{type(value).__name__} nested too deeply>"


def json_snippet(value: Any) -> str:
    """The first 200 characters of ``value`` as JSON, to quote in an unparsed sample."""
    try:
        return json.dumps(value, ensure_ascii=False)[:200]
    except RecursionError:
        return f"<{type(value).__name__} nested too deeply>"


def json_lines(data: bytes | str | LogFile, name: str, unparsed: Unparsed) -> Iterator[tuple[Line, dict[str, Any]]]:
    """Yield ``(line, object)`` per line of ``data`` holding a JSON object.

    ``data`` is text or a file (streamed; one document per line may be up to
    :data:`~panda_analysis._lines.MAX_JSON_LINE_BYTES` long, as a management-API snapshot
    of a broker with thousands of queues is). Blank lines are skipped; any other line that
    is not a JSON object (a line cut at the cap among them) is counted in ``unparsed``
    under ``name``.
    """
    if isinstance(data, LogFile):
        lines = data.lines(unparsed, kubelet=False, max_line_bytes=MAX_JSON_LINE_BYTES, max_line_chars=MAX_JSON_LINE_BYTES)
    else:
        lines = iter_lines(data, kubelet=False, max_line_chars=MAX_JSON_LINE_BYTES)
    for line in lines:
        if not line.text.strip():
            continue
        try:
            obj = json.loads(line.text)
        except (json.JSONDecodeError, RecursionError):
            obj = None
        if not isinstance(obj, dict):
            unparsed.add(name, line.line_no, line.text)
            continue
        yield line, obj


def stamped_json_lines(
    file: LogFile, unparsed: Unparsed, instant: Callable[[Any], T | None]
) -> Iterator[tuple[int, T, dict[str, Any]]]:
    """Yield ``(line_no, at, object)`` per JSON-object line of ``file`` whose ``at`` reads as a time.

    ``instant`` reads the ``at`` value; a line that is not a JSON object, or whose ``at``
    is missing or not a time, is counted in ``unparsed``.
    """
    for line, obj in json_lines(file, file.name, unparsed):
        at = instant(obj.get("at"))
        if at is None:
            unparsed.add(file.name, line.line_no, line.text)
            continue
        yield line.line_no, at, obj


def conform(
    frame: FrameSchema, rows: pd.DataFrame | Iterable[Mapping[str, Any]], unparsed: Unparsed
) -> pd.DataFrame:
    """``rows`` conformed to ``frame``, with the count and sample of ``unparsed`` in its attrs."""
    return frame.conform(rows, unparsed=unparsed.count, unparsed_sample=unparsed.sample)
