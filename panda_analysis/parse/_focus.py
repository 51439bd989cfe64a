"""Focus Server (FastAPI / uvicorn) logs: one row per log record.

The Focus Server writes several line shapes into one container log (seed 002, seed 000):

* its own records, ``2025-11-08T13:18:33+0000 INFO pz.focus_server got configuration: ...``
  (Python ``logging`` with ``%(asctime)s %(levelname)s %(name)s %(message)s``; fractions
  ``.512`` and offsets ``+0000`` / ``Z`` / none are accepted, none means UTC); also the
  logging default ``2025-11-08 13:18:33,123 - pz.focus_server - INFO - ...``;
* bracket records, ``[INFO] Received alert: {"alertId": "test-sd-123", ...}`` (optionally
  after a timestamp);
* uvicorn's own lines, ``INFO:     Application startup complete.`` (logger ``uvicorn``), and
  its access lines ``INFO:     10.42.0.0:51234 - "POST /configure HTTP/1.1" 503 Service
  Unavailable`` (kind ``access``, logger ``uvicorn.access``). uvicorn lines carry no time:
  the kubelet prefix is used when present, else the time of the record before
  (``is_ts_inferred``);
* Python tracebacks, joined into the record they follow (``FocusManager init failed`` at
  start-up), or a row of kind ``traceback`` when nothing precedes them.

``got configuration:`` records (``key=value`` pairs, a JSON object or a Python dict
literal) are flattened to dotted keys and spread into typed columns; ``config`` is the
canonical sorted ``key=value`` text and ``config_id`` a short hash of it, so the distinct
request configurations of a retry storm can be counted.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, TextIO

import pandas as pd

from panda_analysis import schema
from panda_analysis._lines import LogFile, Unparsed
from panda_analysis.bundle import Bundle  # runtime import: typing.get_type_hints() must resolve it
from panda_analysis.parse._common import (
    LOGGING_BASIC,
    LOGGING_BRACKET,
    LOGGING_DASHED,
    LOGGING_LEVEL,
    LOGGING_LOGGER_WORD,
    LOGGING_TS,
    TRACEBACK_CHAIN,
    TRACEBACK_EXCEPTION,
    TRACEBACK_START,
    RecordTimes,
    bad_logging_ts,
    count_bad_time,
    has_junk,
    is_traceback_line,
    job_id_mentioned,
    log_frame,
    log_row,
    log_text,
    logging_ts,
    normalize_level,
    route_template,
)

__all__ = ["focus"]

# "<ts> LEVEL [logger] msg" (the Focus Server's own format; "<ts> ERROR FocusManager init
# failed" keeps its first word); the dashed, bracket and basicConfig shapes are shared
_RECORD = re.compile(
    rf"^{LOGGING_TS}\s+{LOGGING_LEVEL}(?=\s|$)(?:\s+{LOGGING_LOGGER_WORD}:?(?=\s|$))?\s*(?P<msg>.*)$"
)
# uvicorn's ``levelprefix``: ``INFO:`` padded to 9 characters, no time of its own
_UVICORN = re.compile(rf"^(?:{LOGGING_TS}\s+)?{LOGGING_LEVEL}:\s+(?P<msg>.*)$")
_ACCESS = re.compile(
    r'^(?:(?P<client>\S*)\s+-\s+)?"(?P<method>[A-Z]+) (?P<target>\S+) (?P<proto>HTTP/[\d.]+)"'
    r"\s+(?P<status>\d{3})\b"
)
_REQUEST = re.compile(r"^(?P<method>GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)\s+(?P<path>/\S*)")

# inside a traceback, after the frames, any dotted name is the exception type
_EXC_LINE = re.compile(r"^((?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*)(?::\s?(.*))?$")

_ALERT_ID = re.compile(r"""\balert[_ ]?id["']?\s*[=:]\s*["']?([\w\-]+)""", re.I)
_CLASS_ID = re.compile(r"""\bclass[_ ]?id["']?\s*[=:]\s*["']?(\d+)""", re.I)
_SEVERITY = re.compile(r"""\bseverity["']?\s*[=:]\s*["']?(\d+)""", re.I)
_RECEIVED = re.compile(r"\breceived alert\s*:\s*(?P<body>\{.*\})\s*$", re.I)
# "Failed to publish alert test-sd-124: ...": an id with a dash right after the word
_ALERT_WORD = re.compile(r"\balert\s+['\"]?([A-Za-z0-9]+(?:-[A-Za-z0-9]+)+)\b", re.I)
_ALERT_TAIL = re.compile(
    r"\b(?:publishing alert to rabbitmq|alert published successfully)\s*:\s*(?P<id>[\w\-]+)\s*$",
    re.I,
)

_CONFIG = re.compile(r"\bgot configuration\s*:?\s*(?P<body>.*)$", re.I)
_KV_KEY = re.compile(r"(?:^|(?<=[\s,]))([A-Za-z_][\w.\[\]\-]*)=")
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_TRUNCATED = re.compile(r"(?:\.\.\.|…)(?:\[truncated \d+ chars\])?$")
_CONFIG_COLUMNS = {
    "displayTimeAxisDuration": "display_time_axis_duration",
    "nfftSelection": "nfft_selection",
    "displayInfo.height": "display_info_height",
    "channels.min": "channels_min",
    "channels.max": "channels_max",
    "frequencyRange.min": "frequency_range_min",
    "frequencyRange.max": "frequency_range_max",
    "view_type": "view_type",
    "viewType": "view_type",
}


def _canonical(value: Any) -> str:
    """One text form per value, so ``30``, ``30.0`` and ``"30"`` hash alike."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        number = float(value)
        if math.isfinite(number) and number == int(number) and abs(number) < 1e15:
            return str(int(number))
        return repr(number)
    if isinstance(value, str):
        text = value.strip()
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
            text = text[1:-1]
        lowered = text.lower()
        if lowered in {"true", "false"}:
            return lowered
        if lowered in {"none", "null"}:
            return "null"
        if _NUMBER.match(text):
            return _canonical(float(text))
        return text
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _flatten(obj: dict[Any, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = _canonical(value)
    return out


def _literal(body: str) -> Any:
    """A JSON object or a Python literal, or None (never raises on bad text)."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        pass
    try:
        return ast.literal_eval(body)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def _parse_config(body: str) -> dict[str, str] | None:
    """Fields of a ``got configuration:`` body as flat dotted ``key → canonical value``."""
    body = _TRUNCATED.sub("", body.strip()).strip()
    if body.startswith("{"):
        obj = _literal(body)
        return _flatten(obj) if isinstance(obj, dict) and obj else None
    keys = list(_KV_KEY.finditer(body))
    if not keys:
        return None
    fields: dict[str, str] = {}
    for i, match in enumerate(keys):
        end = keys[i + 1].start() if i + 1 < len(keys) else len(body)
        fields[match.group(1)] = _canonical(body[match.end() : end].strip().rstrip(","))
    return fields


def _exception_of(lines: list[str]) -> tuple[str | None, str | None]:
    """Type and message of the LAST exception of a (possibly chained) traceback."""
    exc_type: str | None = None
    exc_message: str | None = None
    state = "idle"  # idle → frames (after "Traceback ...") → message (after the type line)
    for line in lines:
        if line.startswith(TRACEBACK_START):
            state = "frames"
            continue
        if line.startswith(TRACEBACK_CHAIN):
            state = "idle"
            continue
        if not line.strip() or line[0].isspace():
            continue
        match = (_EXC_LINE if state == "frames" else TRACEBACK_EXCEPTION).match(line)
        if state != "message" and match:
            exc_type, exc_message = match.group(1), match.group(2)
            state = "message"
        elif state == "message":  # multi-line exception message
            exc_message = f"{exc_message}\n{line}" if exc_message else line
    return exc_type, exc_message


@dataclass
class _Record:
    file: LogFile
    line_no: int
    ts: str | None
    is_ts_inferred: bool
    kind: str
    level: str | None
    logger: str | None
    message: str
    access: re.Match[str] | None = None
    continuation: list[str] = field(default_factory=list)
    in_traceback: bool = False

    def row(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            **log_row(self.file, self.line_no, self.ts),
            "is_ts_inferred": self.is_ts_inferred,
            "kind": self.kind,
            "level": self.level,
            "logger": self.logger,
            "message": self.message,
        }
        # a bare traceback keeps its first line in ``traceback`` and is summed up in ``message``
        lines = [self.message, *self.continuation] if self.kind == "traceback" else self.continuation
        if lines:
            row["traceback"] = "\n".join(lines)
            # uvicorn logs ``ERROR:    Traceback (most recent call last):`` then the frames
            starts_tb = self.kind != "traceback" and self.message.startswith(TRACEBACK_START)
            exc_type, exc_message = _exception_of([self.message, *lines] if starts_tb else lines)
            row["exception_type"] = exc_type
            row["exception_message"] = exc_message
            if self.kind == "traceback" and exc_type:
                row["message"] = f"{exc_type}: {exc_message}" if exc_message else exc_type
        path = None
        if self.access is not None:
            path = self.access.group("target").split("?", 1)[0]
            row.update(
                method=self.access.group("method"),
                status=int(self.access.group("status")),
                client_addr=self.access.group("client") or None,
            )
        elif (request := _REQUEST.match(self.message)) is not None:
            path = request.group("path").split("?", 1)[0]
            row["method"] = request.group("method")
        if path is not None:
            row["path"] = path
            row["route"] = route_template(path)
        has_job = "job" in self.message.lower()
        row["job_id"] = (job_id_mentioned(self.message) if has_job else None) or _job_id_in_path(
            path, row.get("route")
        )
        self._alert(row)
        self._config(row)
        return row

    def _alert(self, row: dict[str, Any]) -> None:
        text = self.message
        lowered = text.lower()
        if "alert" not in lowered and "class" not in lowered and "severity" not in lowered:
            return
        received = _RECEIVED.search(text)
        if received:
            obj = _literal(received.group("body"))
            if isinstance(obj, dict):
                alert_id = obj.get("alertId", obj.get("alert_id", obj.get("id")))
                row["alert_id"] = None if alert_id is None else str(alert_id)
                row["class_id"] = obj.get("classId", obj.get("class_id"))
                row["severity"] = obj.get("severity")
                return
        tail = _ALERT_TAIL.search(text)
        if tail:
            row["alert_id"] = tail.group("id")
        for column, pattern in (
            ("alert_id", _ALERT_ID), ("alert_id", _ALERT_WORD), ("class_id", _CLASS_ID),
            ("severity", _SEVERITY),
        ):
            if row.get(column) is None and (match := pattern.search(text)):
                row[column] = match.group(1)

    def _config(self, row: dict[str, Any]) -> None:
        if "onfiguration" not in self.message:  # cheap filter before the regex
            return
        match = _CONFIG.search(self.message)
        if match:
            row.update(_config_columns(match.group("body")))


@functools.lru_cache(maxsize=1024)  # a retry storm repeats the same few bodies
def _config_columns(body: str) -> dict[str, str]:
    """The ``config``, ``config_id`` and typed configuration columns of a body."""
    fields = _parse_config(body)
    if not fields:
        return {}
    config = " ".join(f"{k}={v}" for k, v in sorted(fields.items()))
    columns = {"config": config, "config_id": hashlib.sha1(config.encode("utf-8")).hexdigest()[:8]}
    for key, column in _CONFIG_COLUMNS.items():
        value = fields.get(key)
        if value is not None and value != "null" and column not in columns:
            columns[column] = value
    return columns


def _job_id_in_path(path: str | None, route: str | None) -> str | None:
    if not path or not route or "{job_id}" not in route:
        return None
    for segment, templated in zip(path.split("/"), route.split("/"), strict=False):
        if templated == "{job_id}":
            return segment
    return None


def _header(text: str) -> tuple[str, dict[str, Any]] | None:
    """Recognise the first line of a record: (kind, fields) or None."""
    first = text[:1]
    # every header shape starts with a time (a digit), "[" or a level name: try only those that can match
    if first.isdigit():
        patterns: tuple[re.Pattern[str], ...] = (_RECORD, LOGGING_DASHED)
    elif "A" <= first <= "Z":
        patterns = (LOGGING_BASIC,)
    elif first != "[":
        return None
    else:
        patterns = ()
    for pattern in patterns:
        match = pattern.match(text)
        if match:
            fields = match.groupdict()
            return "record", {
                "ts": logging_ts(match),
                "bad_ts": bad_logging_ts(match),
                "level": fields["level"],
                "logger": fields["logger"],
                "message": fields["msg"].rstrip(),
            }
    match = LOGGING_BRACKET.match(text) if first == "[" or first.isdigit() else None
    if match:
        return "record", {
            "ts": logging_ts(match),
            "bad_ts": bad_logging_ts(match),
            "level": match.group("level"),
            "logger": None,
            "message": match.group("msg").rstrip(),
        }
    match = _UVICORN.match(text)
    if match:
        message = match.group("msg").rstrip()
        access = _ACCESS.match(message)
        return ("access" if access else "record"), {
            "ts": logging_ts(match),
            "bad_ts": bad_logging_ts(match),
            "level": match.group("level"),
            "logger": "uvicorn.access" if access else "uvicorn",
            "message": message,
            "access": access,
        }
    return None


def _parse_file(file: LogFile, unparsed: Unparsed) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    current: _Record | None = None
    times = RecordTimes()
    kind: str
    fields: dict[str, Any]
    for line in file.lines(unparsed):
        text = log_text(line.text)
        if text is None:
            continue
        header = _header(text)
        if header is None:
            starts_tb = is_traceback_line(text)
            joinable = (
                current is not None
                and not has_junk(text)
                and (current.in_traceback or text[0].isspace() or starts_tb)
                and not (current.kind == "access" and starts_tb)
            )
            if joinable:
                assert current is not None
                current.continuation.append(text.rstrip())
                current.in_traceback = current.in_traceback or starts_tb
                continue
            if starts_tb and not has_junk(text):  # a bare traceback starts its own row
                kind, fields = "traceback", {"ts": None, "level": "ERROR", "logger": None,
                                             "message": text.rstrip()}
            else:
                unparsed.add(file.name, line.line_no, text)
                continue
        else:
            kind, fields = header
        if current is not None:
            rows.append(current.row())
        count_bad_time(unparsed, file, line, fields.get("bad_ts"))
        ts, inferred = times(fields["ts"], line.kubelet_ts)
        current = _Record(
            file=file, line_no=line.line_no, ts=ts, is_ts_inferred=inferred, kind=kind,
            level=normalize_level(fields["level"]), logger=fields["logger"],
            message=fields["message"], access=fields.get("access"),
            in_traceback=kind == "traceback" or fields["message"].startswith(TRACEBACK_START),
        )
    if current is not None:
        rows.append(current.row())
    return rows


def _frames(source: Bundle | str | os.PathLike[str] | TextIO) -> dict[str, pd.DataFrame]:
    return {"focus": log_frame(source, "focus", schema.FOCUS, _parse_file)}


@schema.documented(schema.FOCUS)
def focus(source: Bundle | str | os.PathLike[str] | TextIO) -> pd.DataFrame:
    """Parse Focus Server logs into one row per log record.

    Parameters
    ----------
    source
        A Bundle (its Focus Server container logs), a path to one log file, or an open
        text stream (``io.StringIO(text)`` for pasted text).

    Returns
    -------
    pandas.DataFrame
        Conformed to :data:`panda_analysis.schema.FOCUS`. Tracebacks are joined into the
        record they follow (``traceback``, ``exception_type`` of the last exception in the
        chain); a traceback with no record before it is a row of kind ``traceback`` whose
        ``message`` is ``<exception type>: <message>``. Lines that belong to no record are
        counted in ``attrs["unparsed"]``.

    Examples
    --------
    >>> import io
    >>> import panda_analysis as pa
    >>> text = (
    ...     "2025-11-08T13:18:33+0000 INFO pz.focus_server got configuration: "
    ...     "displayInfo.height=200 channels.min=11 channels.max=109\\n"
    ...     'INFO:     10.42.0.0:51234 - "POST /configure HTTP/1.1" 503 Service Unavailable\\n'
    ... )
    >>> df = pa.parse.focus(io.StringIO(text))
    >>> df[["kind", "status", "channels_max", "is_ts_inferred"]].values.tolist()
    [['record', <NA>, 109, False], ['access', 503, <NA>, True]]
    >>> df.loc[0, "config"]
    'channels.max=109 channels.min=11 displayInfo.height=200'
    """
    return _frames(source)["focus"]
