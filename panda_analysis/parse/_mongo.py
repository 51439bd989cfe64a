"""MongoDB documents exported as Extended JSON: ``mongo/<collection>.jsonl``.

One document per line, as ``mongoexport`` writes them, in relaxed or canonical Extended
JSON (``{"$oid": ...}``, ``{"$date": "2025-11-13T09:41:12.503Z"}``,
``{"$date": {"$numberLong": "1731490872503"}}``, ``{"$numberInt": "5"}``). A file holding
one JSON array (``mongoexport --jsonArray``) is read too: its documents get a JSON
pointer as ``source`` and a null ``line_no``. Plain ``json`` is enough: the few
Extended JSON wrappers that matter here are unwrapped by hand.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any, TextIO

import pandas as pd

from panda_analysis import schema
from panda_analysis._lines import LogFile, Unparsed, resolve_sources
from panda_analysis._time import to_utc
from panda_analysis.bundle import Bundle
from panda_analysis.parse._common import compact_json, conform, iso_timestamp, json_lines

__all__ = ["mongo"]

Row = dict[str, Any]

#: Fields tried, in order, for a document's time; then the ObjectId's creation time.
TIME_FIELDS = ("created_at", "createdAt", "timestamp", "time", "updated_at", "updatedAt")
_JOB_FIELDS = ("job_id", "jobId")
_ALERT_FIELDS = ("alert_id", "alertId")
_NUMBER_WRAPPERS = ("$numberInt", "$numberLong", "$numberDouble", "$numberDecimal")


def _is_hex24(value: Any) -> bool:
    if not isinstance(value, str) or len(value) != 24:
        return False
    try:
        int(value, 16)
    except ValueError:
        return False
    return True


def _epoch(value: float, unit: str) -> pd.Timestamp | None:
    try:
        return to_utc(pd.Timestamp(value, unit=unit, tz="UTC"))
    except (ValueError, OverflowError):
        return None


def _instant(value: Any) -> pd.Timestamp | None:
    """A time from Extended JSON (``$date``, ``$timestamp``) or a plain ISO-8601 string."""
    if isinstance(value, dict):
        if "$date" in value:
            inner = value["$date"]
            if isinstance(inner, dict):
                inner = inner.get("$numberLong")
                try:
                    return _epoch(int(inner), "ms") if isinstance(inner, str | int) else None
                except ValueError:
                    return None
            if isinstance(inner, int | float) and not isinstance(inner, bool):
                return _epoch(inner, "ms")  # legacy mongoexport: {"$date": <ms>}
            return iso_timestamp(inner) if isinstance(inner, str) else None
        stamp = value.get("$timestamp")
        if isinstance(stamp, dict) and isinstance(stamp.get("t"), int) and not isinstance(stamp["t"], bool):
            return _epoch(stamp["t"], "s")
        return None
    return iso_timestamp(value)


def _scalar_text(value: Any) -> str | None:
    """An id as text: strings as they are, numbers (also ``$numberInt``...), ``$oid`` hex."""
    if isinstance(value, dict) and len(value) == 1:
        key, inner = next(iter(value.items()))
        if key in (*_NUMBER_WRAPPERS, "$oid", "$uuid", "$symbol") and isinstance(inner, str):
            return inner
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, int | float):
        return str(value)
    return compact_json(value)


def _first_field(document: dict[str, Any], names: tuple[str, ...]) -> str | None:
    for name in names:
        text = _scalar_text(document.get(name))
        if text is not None:
            return text
    return None


def _row(document: dict[str, Any], collection: str | None) -> Row:
    raw_id = document.get("_id")
    doc_id = _scalar_text(raw_id)
    ts = next((t for t in (_instant(document.get(f)) for f in TIME_FIELDS) if t is not None), None)
    if ts is None and _is_hex24(doc_id):
        # an ObjectId starts with its creation time, seconds since the epoch, big-endian
        ts = _epoch(int(str(doc_id)[:8], 16), "s")
    return {
        "ts": ts,
        "collection": collection,
        "doc_id": doc_id,
        "job_id": _first_field(document, _JOB_FIELDS),
        "alert_id": _first_field(document, _ALERT_FIELDS),
        "document": compact_json(document),
    }


def _documents(file: LogFile, unparsed: Unparsed) -> Iterator[tuple[str, int | None, dict[str, Any]]]:
    """Yield ``(source, line_no, document)``; count what is not a JSON object."""
    data = file.read_text(unparsed).lstrip("\ufeff")
    if data.lstrip().startswith("["):
        try:
            array = json.loads(data)
        except (json.JSONDecodeError, RecursionError):
            array = None
        if isinstance(array, list):
            for i, item in enumerate(array):
                where = f"{file.name}#/{i}"
                if isinstance(item, dict):
                    yield where, None, item
                else:
                    unparsed.add(where, None, compact_json(item)[:300])
            return
    for line, document in json_lines(data, file.name, unparsed):
        yield file.name, line.line_no, document


def _collection(file: LogFile) -> str | None:
    if file.path is None and file.stream is not None:
        return None
    name = PurePosixPath(file.name.replace(os.sep, "/")).name
    return name.removesuffix(".jsonl").removesuffix(".json") or None


def _frames(source: Bundle | str | os.PathLike[str] | TextIO) -> dict[str, pd.DataFrame]:
    """The ``mongo`` frame of every ``mongo/*.jsonl`` file of ``source``."""
    unparsed = Unparsed()
    rows: list[Row] = []
    for file in resolve_sources(source, "mongo"):
        collection = _collection(file)
        for where, line_no, document in _documents(file, unparsed):
            rows.append({"source": where, "line_no": line_no, **_row(document, collection)})
    return {"mongo": conform(schema.MONGO, rows, unparsed)}


@schema.documented(schema.MONGO)
def mongo(source: Bundle | str | os.PathLike[str] | TextIO) -> pd.DataFrame:
    """MongoDB documents (``mongoexport`` Extended JSON lines): one row per document.

    ``collection`` is the file's stem (null for a stream); ``doc_id`` is ``_id`` as text
    (ObjectId hex); ``ts`` is the first of ``created_at``, ``createdAt``, ``timestamp``,
    ``time``, ``updated_at``, ``updatedAt`` that holds a time, else the ObjectId's
    creation time; ``document`` is the line's JSON re-serialised compactly (Extended
    JSON wrappers kept as they were written).

    Parameters
    ----------
    source
        A Bundle (its ``mongo/*.jsonl``), a path, or an open text stream.

    Returns
    -------
    pandas.DataFrame
        Conformed to ``schema.MONGO``.

    Examples
    --------
    >>> import io
    >>> line = ('{"_id": {"$oid": "6915a8e8c3b1f2a4d5e6f701"}, "job_id": "19-5", '
    ...         '"created_at": {"$date": "2025-11-13T09:41:12.291Z"}}')
    >>> df = mongo(io.StringIO(line))
    >>> df.loc[0, "doc_id"], df.loc[0, "job_id"], str(df.loc[0, "ts"])
    ('6915a8e8c3b1f2a4d5e6f701', '19-5', '2025-11-13 09:41:12.291000+00:00')
    """
    return _frames(source)["mongo"]
