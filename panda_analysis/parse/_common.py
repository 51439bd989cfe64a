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
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import pandas as pd

from panda_analysis._lines import MAX_JSON_LINE_BYTES, Line, LogFile, Unparsed, iter_lines, resolve_sources
from panda_analysis._time import read_iso

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
    "SNIPPET_CHARS",
    "TRACEBACK_CHAIN",
    "TRACEBACK_EXCEPTION",
    "TRACEBACK_START",
    "JsonDocument",
    "Node",
    "RecordTimes",
    "Spot",
    "as_bool",
    "as_dict",
    "as_text",
    "bad_logging_ts",
    "compact_json",
    "conform",
    "count_bad_time",
    "has_junk",
    "is_traceback_line",
    "iso_instant",
    "iso_timestamp",
    "job_id_from_name",
    "job_id_mentioned",
    "json_lines",
    "json_snippet",
    "load_json",
    "log_frame",
    "log_row",
    "log_text",
    "logging_ts",
    "normalize_level",
    "pointer_token",
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
# the days datetime64[ns] holds whole (pd.Timestamp.min / max are 1677-09-21 / 2262-04-11)
_FIRST_NS_DAY = datetime(1677, 9, 22)
_LAST_NS_DAY = datetime(2262, 4, 10, 23, 59, 59)
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
    if len(path) <= _CACHED_PATH_CHARS:  # a busy log asks for the same few hundred paths again and again
        return _route_template(path)
    return _route_template.__wrapped__(path)


#: Paths up to this long are remembered by :func:`route_template` (a bounded cache of short texts).
_CACHED_PATH_CHARS = 512


@functools.lru_cache(maxsize=16384)
def _route_template(path: str) -> str:
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
    >>> iso_instant("9999-11-08", "13:18:33", None, None) is None  # past datetime64[ns]
    True
    """
    try:
        year, month, day = (int(part) for part in date.split("-"))
        hour, minute, second = (int(part) for part in time.split(":"))
        moment = datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    if not _FIRST_NS_DAY <= moment <= _LAST_NS_DAY:  # a frame cannot hold it (datetime64[ns])
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


def bad_logging_ts(match: re.Match[str]) -> str | None:
    """The logged time of ``match`` when it has one that is no instant a frame can hold, else None.

    Examples
    --------
    >>> bad_logging_ts(LOGGING_DASHED.match("0000-01-01 00:00:00,000 - pz.focus_server - INFO - y"))
    '0000-01-01 00:00:00'
    >>> bad_logging_ts(LOGGING_DASHED.match("2025-11-08 13:18:33,512 - pz.focus_server - INFO - y")) is None
    True
    """
    if "date" not in match.re.groupindex or not match.group("date") or logging_ts(match) is not None:
        return None
    return f"{match.group('date')} {match.group('time')}"


def count_bad_time(unparsed: Unparsed, file: LogFile, line: Line, bad: str | None, *, inferred: bool = True) -> None:
    """Count a record whose own time ``bad`` cannot be held.

    It takes the kubelet time, else (``inferred``) the time of the record before it, else none.
    """
    if bad is None:
        return
    fallback = (
        "its kubelet time" if line.kubelet_ts else "the time of the record before it, if any" if inferred else "no time"
    )
    unparsed.add(
        file.name, line.line_no,
        f"time {bad!r} is not a real date between 1677 and 2262; the record is kept with {fallback}",
    )


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
# JSON from a cluster (or a hand-edited file) may hold anything anywhere. Values are read
# through a Node, which checks each value against what its column holds and counts every
# one it cannot keep (wrong JSON type, a number that does not fit, a time outside
# datetime64[ns]) in ``unparsed`` with its JSON pointer: the row is kept, the value is
# null, and the count says why (issue #11: never a silent null, never a traceback).

T = TypeVar("T")

#: Most characters of a value quoted in an unparsed entry.
SNIPPET_CHARS = 200

_INT_RANGES = {"Int16": (-(2**15), 2**15 - 1), "Int32": (-(2**31), 2**31 - 1), "Int64": (-(2**63), 2**63 - 1)}
_INT_TEXT = re.compile(r"^\s*[+-]?\d{1,30}\s*$")
_NUMBER_TEXT = re.compile(r"^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$")
_CUT_LINE = re.compile(r"…\[truncated (\d+) (bytes|chars)\]$")


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

    None also for a time outside the years a frame can hold; :meth:`Node.instant` says
    why and counts it.

    Examples
    --------
    >>> iso_timestamp("2025-11-13T09:41:12.503212Z"), iso_timestamp("soon"), iso_timestamp(5)
    (Timestamp('2025-11-13 09:41:12.503212+0000', tz='UTC'), None, None)
    >>> iso_timestamp("0000-01-01T00:00:00Z") is None
    True
    """
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return read_iso(value)
    except ValueError:
        return None


def compact_json(value: Any) -> str:
    """``value`` as compact JSON text (non-ASCII kept), or a note if it is nested too deeply."""
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except RecursionError:
        return f"<{type(value).__name__} nested too deeply>"


def json_snippet(value: Any) -> str:
    """The first 200 characters of ``value`` as JSON, to quote in an unparsed sample."""
    if isinstance(value, str) and len(value) > SNIPPET_CHARS:
        value = value[:SNIPPET_CHARS]  # never serialise a huge string only to cut it
    try:
        return json.dumps(value, ensure_ascii=False)[:SNIPPET_CHARS]
    except RecursionError:
        return f"<{type(value).__name__} nested too deeply>"


def pointer_token(key: str) -> str:
    """``key`` as one JSON pointer token (RFC 6901: ``~`` → ``~0``, ``/`` → ``~1``).

    Examples
    --------
    >>> pointer_token("app.kubernetes.io/name")
    'app.kubernetes.io~1name'
    """
    if "~" not in key and "/" not in key:
        return key
    return key.replace("~", "~0").replace("/", "~1")


@dataclass(frozen=True, slots=True)
class JsonDocument:
    """A parsed JSON text and what was odd in it.

    ``notes`` are ``(pointer, message)`` pairs to count in ``unparsed``: a key given twice
    in one object (the last value is kept, as ``json.loads`` does, except a document's
    top-level ``items``, whose lists are merged), an integer too long for Python to read.
    ``pointer`` is None when the place is not known.
    """

    value: Any
    notes: tuple[tuple[str | None, str], ...] = ()


class _Loader:
    """The hooks of one ``json.loads`` call: duplicate keys and over-long integers."""

    def __init__(self) -> None:
        self.duplicates: list[tuple[dict[str, Any], str, Any]] = []  # (object, key, the earlier value)
        self.huge = 0

    def pairs(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) != len(pairs):  # rare: only then look at the keys one by one
            seen: dict[str, Any] = {}
            for key, value in pairs:
                if key in seen:
                    self.duplicates.append((obj, key, seen[key]))
                seen[key] = value
        return obj

    def integer(self, text: str) -> int | float:
        try:
            return int(text)
        except ValueError:  # over sys.get_int_max_str_digits() (4300) digits
            self.huge += 1
            return float(text)  # ±inf: a typed column counts it where it reads it


def load_json(text: str, *, merge_items: bool = False) -> JsonDocument:
    """Parse ``text`` as JSON, noting duplicate keys and integers too long to read.

    With ``merge_items``, a top-level object's ``items`` given several times as lists
    (``{"kind": "List", "items": [...], "items": [...]}``) keeps all of them, in order;
    any other duplicate keeps its last value. Raises :class:`ValueError`
    (:class:`json.JSONDecodeError` with the position for malformed text) or
    :class:`RecursionError` for nesting too deep to read.

    Examples
    --------
    >>> doc = load_json('{"kind": "List", "items": [1], "items": [2, 3]}', merge_items=True)
    >>> doc.value["items"], doc.notes
    ([1, 2, 3], (('/items', 'key "items" is given 2 times: its lists were merged (3 items)'),))
    >>> load_json('{"a": {"b": 1, "b": 2}}').notes
    (('/a/b', 'key "b" is given twice in one object: only its last value (2) was kept, not 1'),)
    """
    loader = _Loader()
    value = json.loads(text, object_pairs_hook=loader.pairs, parse_int=loader.integer)
    notes: list[tuple[str | None, str]] = []
    duplicates = loader.duplicates
    if merge_items and isinstance(value, dict):
        earlier = [old for obj, key, old in duplicates if obj is value and key == "items"]
        if earlier and all(isinstance(v, list) for v in (*earlier, value["items"])):
            value["items"] = [item for part in (*earlier, value["items"]) for item in part]
            duplicates = [d for d in duplicates if not (d[0] is value and d[1] == "items")]
            notes.append(
                ("/items", f'key "items" is given {len(earlier) + 1} times: its lists were merged ({len(value["items"])} items)')
            )
    if duplicates:
        where = _pointers(value, {id(obj) for obj, _, _ in duplicates})
        for obj, key, old in duplicates:
            base = where.get(id(obj))
            pointer = None if base is None else f"{base}/{pointer_token(key)}"
            kept = json_snippet(obj.get(key))[:60]
            notes.append((pointer, f"key {json_snippet(key)} is given twice in one object: only its last value ({kept}) was kept, not {json_snippet(old)[:60]}"))
    if loader.huge:
        notes.append((None, f"{loader.huge} integer(s) longer than Python reads (4300 digits) were read as infinity"))
    return JsonDocument(value, tuple(notes))


def _pointers(root: Any, wanted: set[int]) -> dict[int, str]:
    """JSON pointers of the containers in ``root`` whose ``id`` is in ``wanted`` (iterative: any depth)."""
    found: dict[int, str] = {}
    stack: list[tuple[Any, str]] = [(root, "")]
    while stack and len(found) < len(wanted):
        value, pointer = stack.pop()
        if id(value) in wanted:
            found[id(value)] = pointer
        if isinstance(value, dict):
            stack.extend((v, f"{pointer}/{pointer_token(k)}") for k, v in value.items() if isinstance(v, dict | list))
        elif isinstance(value, list):
            stack.extend((v, f"{pointer}/{i}") for i, v in enumerate(value) if isinstance(v, dict | list))
    return found


@dataclass(frozen=True, slots=True)
class Spot:
    """Where the values of one JSON document are counted: a file (``line_no`` None) or one line of one."""

    unparsed: Unparsed
    source: str
    line_no: int | None = None

    def bad(self, pointer: str | None, message: str) -> None:
        """Count one value this document holds that no column can keep."""
        if self.line_no is None:
            self.unparsed.add(self.source if pointer is None else f"{self.source}#{pointer}", None, message)
        else:
            self.unparsed.add(self.source, self.line_no, message if pointer is None else f"{pointer or '/'}: {message}")

    def notes(self, document: JsonDocument, base: str = "") -> None:
        """Count the notes of ``document`` (its duplicate keys, ...), their pointers under ``base``."""
        for pointer, message in document.notes:
            self.bad(None if pointer is None else f"{base}{pointer}", message)


class Node:
    """One JSON object of evidence and its place, read value by value as its columns hold them.

    Every accessor answers None (or an empty Node / list) for a value that is absent or
    JSON ``null``, and for a value its column cannot hold, which it also counts in the
    Spot's ``unparsed`` with its JSON pointer and why: a wrong JSON type, a number out
    of the column's range, a time outside datetime64[ns]. A number written as a string
    (``"7"``) is read, and counted as odd. Nothing here raises.

    Examples
    --------
    >>> unparsed = Unparsed()
    >>> status = Node({"restartCount": -1, "ready": "yes", "name": "api"}, "/items/3/status", Spot(unparsed, "k8s/pods.json"))
    >>> status.integer("restartCount", minimum=0), status.boolean("ready"), status.text("name")
    (None, None, 'api')
    >>> unparsed.count, unparsed.sample[0]
    (2, 'k8s/pods.json#/items/3/status/restartCount: restartCount -1 is below 0, not a count: kept as null')
    """

    __slots__ = ("pointer", "spot", "value")

    def __init__(self, value: dict[str, Any], pointer: str, spot: Spot) -> None:
        self.value = value
        self.pointer = pointer
        self.spot = spot

    def __bool__(self) -> bool:
        return bool(self.value)

    def at(self, key: str) -> str:
        """The JSON pointer of ``key`` in this object."""
        return f"{self.pointer}/{pointer_token(key)}"

    def counted_in(self, unparsed: Unparsed) -> Node:
        """The same object, its odd values counted in ``unparsed`` instead."""
        return Node(self.value, self.pointer, Spot(unparsed, self.spot.source, self.spot.line_no))

    def bad(self, key: str, value: Any, why: str) -> None:
        """Count the value of ``key`` as one no column can keep (``why`` completes the sentence)."""
        self.spot.bad(self.at(key), f"{key} {json_snippet(value)} {why}")

    def get(self, key: str) -> Any:
        """The raw value of ``key`` (None when absent)."""
        return self.value.get(key)

    def child(self, key: str) -> Node:
        """The object under ``key``: an empty Node when absent, null or (counted) not an object."""
        value = self.value.get(key)
        if isinstance(value, dict):
            return Node(value, self.at(key), self.spot)
        if value is not None:
            self.bad(key, value, "is not an object: not read")
        return Node({}, self.at(key), self.spot)

    def entries(self, key: str) -> list[tuple[str, Any]]:
        """``(pointer, value)`` of each entry of the list under ``key`` ([] when absent, null or not a list)."""
        value = self.value.get(key)
        if isinstance(value, list):
            at = self.at(key)
            return [(f"{at}/{i}", item) for i, item in enumerate(value)]
        if value is not None:
            self.bad(key, value, "is not a list: not read")
        return []

    def objects(self, key: str) -> list[Node]:
        """The objects listed under ``key``; an entry that is not an object is counted."""
        out: list[Node] = []
        for pointer, item in self.entries(key):
            if isinstance(item, dict):
                out.append(Node(item, pointer, self.spot))
            elif item is not None:
                self.spot.bad(pointer, f"entry of {key} is not an object: {json_snippet(item)}")
        return out

    def text(self, key: str) -> str | None:
        """A string value (an empty string reads as None)."""
        value = self.value.get(key)
        if value is None or isinstance(value, str):
            return value or None
        self.bad(key, value, "is not a string: kept as null")
        return None

    def boolean(self, key: str) -> bool | None:
        """A JSON boolean."""
        value = self.value.get(key)
        if value is None or isinstance(value, bool):
            return value
        self.bad(key, value, "is not a boolean: kept as null")
        return None

    def integer(self, key: str, *, dtype: str = "Int64", minimum: int | None = None, nullable: bool = True) -> int | None:
        """An integer that fits ``dtype`` (and is at least ``minimum``); ``7.0`` reads as 7, ``"7"`` as 7 (counted)."""
        value = self.value.get(key)
        if value is None:
            if not nullable and key in self.value:
                self.bad(key, value, "is null where the API always gives a number")
            return None
        number: int | None = None
        if isinstance(value, bool):
            self.bad(key, value, "is a boolean, not a number: kept as null")
            return None
        if isinstance(value, int):
            number = value
        elif isinstance(value, float):
            if not math.isfinite(value) or not value.is_integer():
                self.bad(key, value, "is not an integer: kept as null")
                return None
            number = int(value)
        elif isinstance(value, str) and _INT_TEXT.match(value):
            number = int(value)
            self.bad(key, value, f"is a string, not a number: read as {number}")
        else:
            self.bad(key, value, "is not an integer: kept as null")
            return None
        low, high = _INT_RANGES[dtype]
        if not low <= number <= high:
            limits = "" if dtype == "Int64" else f", {low}..{high}"
            self.bad(key, value, f"does not fit the column ({dtype}{limits}): kept as null")
            return None
        if minimum is not None and number < minimum:
            self.bad(key, value, f"is below {minimum}, not a count: kept as null")
            return None
        return number

    def number(self, key: str) -> float | None:
        """A finite number; ``"2.5"`` reads as 2.5 (counted)."""
        value = self.value.get(key)
        if value is None:
            return None
        number: float | None = None
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:  # an int beyond the float range
                number = None
        elif isinstance(value, str) and _NUMBER_TEXT.match(value):
            number = float(value)
            if math.isfinite(number):
                self.bad(key, value, f"is a string, not a number: read as {number:g}")
                return number
        if number is None or not math.isfinite(number):
            self.bad(key, value, "is not a finite number: kept as null")
            return None
        return number

    def instant(self, key: str, read: Callable[[str], pd.Timestamp] = read_iso) -> pd.Timestamp | None:
        """A time (ISO-8601 by default; ``read`` raises ValueError saying why it is not one)."""
        value = self.value.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self.bad(key, value, "is not a time: kept as null")
            return None
        try:
            return read(value)
        except ValueError as err:
            self.spot.bad(self.at(key), f"{key}: {err}: kept as null")
            return None


def _line_problem(text: str) -> str:
    """Why a JSON line is not read: cut at the line cap, or not a JSON object."""
    cut = _CUT_LINE.search(text[-64:])
    if cut is not None:
        cap = f"{MAX_JSON_LINE_BYTES >> 20} MiB"
        return f"JSON line longer than the {cap} line cap ({cut.group(1)} {cut.group(2)} cut off): not read: {text[:120]}"
    return text


def json_lines(data: bytes | str | LogFile, name: str, unparsed: Unparsed) -> Iterator[tuple[Line, dict[str, Any]]]:
    """Yield ``(line, object)`` per line of ``data`` holding a JSON object.

    ``data`` is text or a file (streamed; one document per line may be up to
    :data:`~panda_analysis._lines.MAX_JSON_LINE_BYTES` long, as a management-API snapshot
    of a broker with thousands of queues is). Blank lines are skipped; any other line that
    is not a JSON object (a line cut at the cap among them, with a message saying so) is
    counted in ``unparsed`` under ``name``, and so is each duplicate key of a line
    (:func:`load_json`; the line's object is still yielded).
    """
    if isinstance(data, LogFile):
        lines = data.lines(unparsed, kubelet=False, max_line_bytes=MAX_JSON_LINE_BYTES, max_line_chars=MAX_JSON_LINE_BYTES)
    else:
        lines = iter_lines(data, kubelet=False, max_line_chars=MAX_JSON_LINE_BYTES)
    for line in lines:
        text = line.text.lstrip("\ufeff") if line.line_no == 1 else line.text
        if not text.strip():
            continue
        document: JsonDocument | None
        try:
            document = load_json(text)
        except ValueError:
            document = None
        except RecursionError:
            unparsed.add(name, line.line_no, f"JSON nested too deeply to read: {text[:120]}")
            continue
        if document is None or not isinstance(document.value, dict):
            unparsed.add(name, line.line_no, _line_problem(text))
            continue
        Spot(unparsed, name, line.line_no).notes(document)
        yield line, document.value


def stamped_json_lines(file: LogFile, unparsed: Unparsed) -> Iterator[tuple[int, pd.Timestamp, Node]]:
    """Yield ``(line_no, at, node)`` per JSON-object line of ``file`` whose ``at`` reads as a time.

    ``at`` is ISO-8601 (the collector writes it); a line that is not a JSON object, or
    whose ``at`` is missing or not a time the frames can hold, is counted in ``unparsed``
    (with why). ``node`` reads the line's other values, counting odd ones in ``unparsed``.
    """
    for line, obj in json_lines(file, file.name, unparsed):
        spot = Spot(unparsed, file.name, line.line_no)
        at = obj.get("at")
        if at is None:
            spot.bad(None, f"no \"at\" time: line not read: {json_snippet(obj)}")
            continue
        try:
            ts = read_iso(at) if isinstance(at, str) else None
        except ValueError as err:
            spot.bad("/at", f"{err}: line not read")
            continue
        if ts is None:
            spot.bad("/at", f"{json_snippet(at)} is not a time: line not read")
            continue
        yield line.line_no, ts, Node(obj, "", spot)


def conform(
    frame: FrameSchema, rows: pd.DataFrame | Iterable[Mapping[str, Any]], unparsed: Unparsed
) -> pd.DataFrame:
    """``rows`` conformed to ``frame``, with the count and sample of ``unparsed`` in its attrs."""
    return frame.conform(rows, unparsed=unparsed.count, unparsed_sample=unparsed.sample)
