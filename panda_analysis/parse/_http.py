"""Focus Server HTTP probes recorded by the collector: one JSON object per line.

``http/focus/live_metadata.jsonl`` holds ``{"at": ISO, "status": int, "body": {...}}``
per ``GET /live_metadata`` probe and ``http/focus/job_metadata.jsonl`` holds
``{"at": ISO, "job_id": str, "status": int, "body": ...}`` per ``GET /metadata/{job_id}``
poll. A failed request is ``{"at": ..., "status": null, "error": "ConnectTimeout(...)"}``;
a 4xx/5xx answer from FastAPI has the body ``{"detail": "Invalid job_id"}``.

A value a column cannot hold (a status beyond Int16, ``"prr": "fast"``, a number of
channels below 0, an ``at`` outside the years of datetime64[ns]) is counted in
``attrs["unparsed"]`` with its line and JSON pointer (``/body/prr``); numbers written as
strings (``"prr": "2000.0"``) are read and counted as odd.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TextIO

import pandas as pd

from panda_analysis import schema
from panda_analysis._lines import LogFile, Unparsed, resolve_sources
from panda_analysis.bundle import Bundle
from panda_analysis.parse._common import Node, compact_json, conform, stamped_json_lines

__all__ = ["job_metadata", "live_metadata"]

Row = dict[str, Any]

#: Fields of a ``/live_metadata`` body; a body with none of them is not metadata.
_METADATA_FIELDS = (
    "prr",
    "dx",
    "fiber_start_meters",
    "fiber_length_meters",
    "number_of_channels",
    "sw_version",
    "fiber_description",
)


def _string(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else compact_json(value)


def _status(record: Node) -> int | None:
    return record.integer("status", dtype="Int16", minimum=0)


def _error(record: Node, status: int | None, body: Any) -> str | None:
    """The error of a probe: the request's error, else the detail of a non-2xx answer."""
    error = _string(record.get("error"))
    if error:
        return error
    if status is not None and not 200 <= status < 300:
        detail = body.get("detail") if isinstance(body, dict) else body
        return _string(detail) or f"HTTP {status}"
    return None


def _live_row(record: Node) -> Row:
    status = _status(record)
    body = record.get("body")
    fields = Node(body if isinstance(body, dict) else {}, "/body", record.spot)
    error = _error(record, status, body)
    if error is None and body is not None and not any(k in fields.value for k in _METADATA_FIELDS):
        error = "response body is not live metadata"
    return {
        "status": status,
        "prr": fields.number("prr"),
        "dx": fields.number("dx"),
        "fiber_start_meters": fields.number("fiber_start_meters"),
        "fiber_length_meters": fields.number("fiber_length_meters"),
        "number_of_channels": fields.integer("number_of_channels", minimum=0),
        # text fields keep any JSON value as its text: nothing a string column cannot hold
        "sw_version": _string(fields.get("sw_version")),
        "fiber_description": _string(fields.get("fiber_description")),
        "error": error,
        "body": None if body is None else compact_json(body),
    }


def _job_row(record: Node) -> Row:
    status = _status(record)
    body = record.get("body")
    job_id = record.get("job_id")
    if job_id is None and isinstance(body, dict):
        job_id = body.get("job_id")
    return {
        "job_id": None if job_id is None else str(job_id) if isinstance(job_id, int | str) else compact_json(job_id),
        "status": status,
        "error": _error(record, status, body),
        "body": None if body is None else compact_json(body),
    }


def _frame(files: list[LogFile], build: Callable[[Node], Row], frame: schema.FrameSchema) -> pd.DataFrame:
    unparsed = Unparsed()
    rows = [
        {"ts": at, "source": f.name, "line_no": line_no, **build(record)}
        for f in files
        for line_no, at, record in stamped_json_lines(f, unparsed)
    ]
    return conform(frame, rows, unparsed)


_PARTS = {
    "live_metadata": (_live_row, schema.LIVE_METADATA),
    "job_metadata": (_job_row, schema.JOB_METADATA),
}


def _frames(source: Bundle | str | os.PathLike[str] | TextIO, *, only: str | None = None) -> dict[str, pd.DataFrame]:
    """Both probe frames from a Bundle (or only ``only`` from a path or stream)."""
    names = list(_PARTS) if only is None else [only]
    return {name: _frame(resolve_sources(source, name), *_PARTS[name]) for name in names}


@schema.documented(schema.LIVE_METADATA)
def live_metadata(source: Bundle | str | os.PathLike[str] | TextIO) -> pd.DataFrame:
    """``GET /live_metadata`` probes: one row per probe, the metadata fields as columns.

    ``prr`` 0 and ``sw_version`` "waiting for fiber" mean the fiber metadata is not
    ready. ``error`` holds the request's error (timeout, refused), the ``detail`` of a
    non-2xx answer, or says the body is not metadata. Lines that are not JSON objects
    or whose ``at`` is not a time are counted in ``attrs["unparsed"]``.

    Parameters
    ----------
    source
        A Bundle (its ``http/focus/live_metadata.jsonl``), a path, or an open text stream.

    Returns
    -------
    pandas.DataFrame
        Conformed to ``schema.LIVE_METADATA``.

    Examples
    --------
    >>> import io
    >>> line = ('{"at": "2025-11-08T13:20:00Z", "status": 200, "body": {"dx": 0.0, "prr": 0.0, '
    ...         '"sw_version": "waiting for fiber", "number_of_channels": 2337}}')
    >>> df = live_metadata(io.StringIO(line))
    >>> float(df.loc[0, "prr"]), df.loc[0, "sw_version"]
    (0.0, 'waiting for fiber')
    """
    return _frames(source, only="live_metadata")["live_metadata"]


@schema.documented(schema.JOB_METADATA)
def job_metadata(source: Bundle | str | os.PathLike[str] | TextIO) -> pd.DataFrame:
    """``GET /metadata/{job_id}`` polls: one row per poll.

    Until the job's consumer exists the Focus Server answers 404 with
    ``{"detail": "Invalid job_id"}`` (``error`` holds the detail); then 200.

    Parameters
    ----------
    source
        A Bundle (its ``http/focus/job_metadata.jsonl``), a path, or an open text stream.

    Returns
    -------
    pandas.DataFrame
        Conformed to ``schema.JOB_METADATA``.

    Examples
    --------
    >>> import io
    >>> line = '{"at": "2025-11-13T09:41:12.6Z", "job_id": "19-5", "status": 404, "body": {"detail": "Invalid job_id"}}'
    >>> df = job_metadata(io.StringIO(line))
    >>> df.loc[0, "job_id"], int(df.loc[0, "status"]), df.loc[0, "error"]
    ('19-5', 404, 'Invalid job_id')
    """
    return _frames(source, only="job_metadata")["job_metadata"]
