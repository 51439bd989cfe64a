"""gRPC job ("Baby Analyzer") pod logs: one row per log record, alert fields as columns.

The analyzer of job ``19-5`` runs in pod ``grpc-job-19-5-<suffix>`` (seed 004). Its lines
(seed 000) look like ``[INFO] Alert detected: class_id=104, severity=3, distance_m=4163``,
optionally after a Python ``logging`` time (``2025-11-13 12:08:41,123 [INFO] ...`` or
ISO-8601), or with only the kubelet prefix; ``<ts> INFO <logger> <message>``,
``<ts> - <logger> - INFO - <message>`` and ``INFO:<logger>:<message>`` (``basicConfig``)
are read too. Start-up lines (``Connecting to RabbitMQ ...``, ``Declared queue ...``,
``Consumer started on queue ...``) and the alert lines become ``event`` values, so the
stage timing of a job (seed 004) and the path of an alert (seed 000) can be followed.
Tracebacks and indented continuation lines are joined into the record they follow.
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
    LOGGING_BASIC,
    LOGGING_BRACKET,
    LOGGING_DASHED,
    LOGGING_LEVEL,
    LOGGING_LOGGER_WORD,
    LOGGING_TS,
    TRACEBACK_START,
    RecordTimes,
    bad_logging_ts,
    count_bad_time,
    has_junk,
    is_traceback_line,
    job_id_from_name,
    job_id_mentioned,
    log_frame,
    log_row,
    log_text,
    logging_ts,
    normalize_level,
)

__all__ = ["analyzer"]

# "[INFO] msg", "<ts> - logger - INFO - msg", "<ts> INFO[:] [logger] msg", "INFO:logger:msg";
# a bare lowercase word after the level is not a logger: "<ts> INFO Alert detected: ..."
# keeps its first word
_HEADERS = (
    LOGGING_BRACKET,
    LOGGING_DASHED,
    re.compile(
        rf"^{LOGGING_TS}\s+{LOGGING_LEVEL}:?(?=\s|$)(?:\s+{LOGGING_LOGGER_WORD}:?(?=\s|$))?\s*(?P<msg>.*)$"
    ),
    LOGGING_BASIC,
)

_EVENTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\balert detected\b", re.I), "alert_detected"),
    (re.compile(r"\bpublishing alert\b", re.I), "alert_publishing"),
    (re.compile(r"\balert published\b", re.I), "alert_published"),
    (re.compile(r"\b(?:declared queue|queue declared)\b", re.I), "queue_declared"),
    (re.compile(r"\b(?:consumer started|started consuming)\b", re.I), "consumer_started"),
    (re.compile(r"\b(?:connected to rabbitmq|rabbitmq connection established)\b", re.I),
     "rabbitmq_connected"),
    (re.compile(r"\bconnecting to rabbitmq\b", re.I), "rabbitmq_connecting"),
)
_CLASS_ID = re.compile(r"""\bclass[_ ]?id["']?\s*[=:]\s*["']?(\d+)""", re.I)
_SEVERITY = re.compile(r"""\bseverity["']?\s*[=:]\s*["']?(\d+)""", re.I)
_DISTANCE = re.compile(r"""\bdistance(?:_m)?["']?\s*[=:]\s*["']?(-?\d+(?:\.\d+)?)""", re.I)
_ALERT_ID = re.compile(r"""\balert[_ ]?id["']?\s*[=:]\s*["']?([\w\-]+)""", re.I)
# "Failed to publish alert test-sd-124: ...": an id with a dash right after the word
_ALERT_WORD = re.compile(r"\balert\s+['\"]?([A-Za-z0-9]+(?:-[A-Za-z0-9]+)+)\b", re.I)
_ROUTING_KEY = re.compile(r"""\brouting[_ ]?key["']?\s*[=:]?\s*["']?([\w.\-]+)""", re.I)
# "Publishing alert to RabbitMQ: <routing key or alert id>", "Alert published successfully: <id>"
_TAIL = re.compile(
    r"\b(?:publishing alert to rabbitmq|alert published successfully)\s*:\s*(?P<x>[\w.\-]+)\s*$",
    re.I,
)
_QUEUE_EVENT = re.compile(r"""\bqueue\s+["']?([\w.\-:]+)""", re.I)
_QUEUE_FIELD = re.compile(
    r"""\bqueue(?:_name)?["']?\s*[=:]\s*["']?([\w.\-:]+)|\bqueue\s+'([^']+)'"""
    r"""|\b(?:on|from|to) queue\s+["']?([\w.\-:]+)""",
    re.I,
)


def _header(text: str) -> dict[str, Any] | None:
    for pattern in _HEADERS:
        match = pattern.match(text)
        if match is None:
            continue
        fields = match.groupdict()
        return {
            "ts": logging_ts(match),
            "bad_ts": bad_logging_ts(match),
            "level": normalize_level(fields["level"]),
            "logger": fields.get("logger"),
            "message": fields["msg"].rstrip(),
        }
    return None


def _fields(message: str, row: dict[str, Any]) -> None:
    """Event and alert / queue fields of a record's first line."""
    event = next((name for pattern, name in _EVENTS if pattern.search(message)), None)
    row["event"] = event
    for column, pattern in (
        ("class_id", _CLASS_ID), ("severity", _SEVERITY), ("distance_m", _DISTANCE),
        ("alert_id", _ALERT_ID), ("routing_key", _ROUTING_KEY),
    ):
        match = pattern.search(message)
        row[column] = match.group(1) if match else None
    if row["alert_id"] is None and (match := _ALERT_WORD.search(message)):
        row["alert_id"] = match.group(1)
    tail = _TAIL.search(message)
    if tail:
        value = tail.group("x")
        # routing keys are dotted (Algorithm.AlertReport.MLGround); alert ids are not
        column = "routing_key" if "." in value else "alert_id"
        row[column] = row[column] or value
    queue = None
    if event in {"queue_declared", "consumer_started"} and (m := _QUEUE_EVENT.search(message)):
        queue = m.group(1)
    elif m := _QUEUE_FIELD.search(message):
        queue = m.group(1) or m.group(2) or m.group(3)
    row["queue"] = queue


def _row(file: LogFile, line_no: int, ts: str | None, inferred: bool, fields: dict[str, Any],
         continuation: list[str]) -> dict[str, Any]:
    first = fields["message"]
    row: dict[str, Any] = {
        **log_row(file, line_no, ts),
        "is_ts_inferred": inferred,
        "level": fields["level"],
        "logger": fields["logger"],
        "message": "\n".join([first, *continuation]),
    }
    _fields(first, row)
    row["job_id"] = job_id_from_name(file.pod) or job_id_mentioned(first) or job_id_mentioned(row["queue"])
    return row


def _parse_file(file: LogFile, unparsed: Unparsed) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    pending: tuple[int, str | None, bool, dict[str, Any]] | None = None
    continuation: list[str] = []
    in_traceback = False
    times = RecordTimes()
    for line in file.lines(unparsed):
        text = log_text(line.text)
        if text is None:
            continue
        fields = _header(text)
        if fields is None:
            starts_tb = is_traceback_line(text)
            if has_junk(text) or not (starts_tb or (pending and (in_traceback or text[0].isspace()))):
                unparsed.add(file.name, line.line_no, text)
                continue
            if pending is not None:
                continuation.append(text.rstrip())
                in_traceback = in_traceback or starts_tb
                continue
            # a traceback with no record before it is a record of its own
            fields = {"ts": None, "level": "error", "logger": None, "message": text.rstrip()}
            in_traceback = True
        else:
            in_traceback = fields["message"].startswith(TRACEBACK_START)
        if pending is not None:
            rows.append(_row(file, *pending, continuation))
        continuation = []
        count_bad_time(unparsed, file, line, fields.get("bad_ts"))
        pending = (line.line_no, *times(fields["ts"], line.kubelet_ts), fields)
    if pending is not None:
        rows.append(_row(file, *pending, continuation))
    return rows


def _frames(source: Bundle | str | os.PathLike[str] | TextIO) -> dict[str, pd.DataFrame]:
    return {"analyzer": log_frame(source, "analyzer", schema.ANALYZER, _parse_file)}


@schema.documented(schema.ANALYZER)
def analyzer(source: Bundle | str | os.PathLike[str] | TextIO) -> pd.DataFrame:
    """Parse gRPC job (Baby Analyzer) logs into one row per log record.

    Parameters
    ----------
    source
        A Bundle (its ``grpc-job-*`` pod logs), a path to one log file, or an open text
        stream (``io.StringIO(text)`` for pasted text).

    Returns
    -------
    pandas.DataFrame
        Conformed to :data:`panda_analysis.schema.ANALYZER`. ``job_id`` comes from the pod
        name (``grpc-job-19-5-cj8hc`` → ``19-5``), else from a mention in the line.
        ``event`` is one of ``rabbitmq_connecting``, ``rabbitmq_connected``,
        ``queue_declared``, ``consumer_started``, ``alert_detected``, ``alert_publishing``,
        ``alert_published`` or null. Lines without a time of their own take the kubelet
        prefix, else the time of the record before (``is_ts_inferred``).

    Examples
    --------
    >>> import io
    >>> import panda_analysis as pa
    >>> text = (
    ...     "2025-11-13 12:08:41,123 [INFO] Alert detected: class_id=104, severity=3, distance_m=4163\\n"
    ...     "[INFO] Publishing alert to RabbitMQ: Algorithm.AlertReport.MLGround\\n"
    ... )
    >>> df = pa.parse.analyzer(io.StringIO(text))
    >>> df["event"].tolist()
    ['alert_detected', 'alert_publishing']
    >>> int(df.loc[0, "class_id"]), float(df.loc[0, "distance_m"]), df.loc[1, "routing_key"]
    (104, 4163.0, 'Algorithm.AlertReport.MLGround')
    >>> df["is_ts_inferred"].tolist()
    [False, True]
    """
    return _frames(source)["analyzer"]
