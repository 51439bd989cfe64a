"""MongoDB documents exported as Extended JSON: ``mongo/<collection>.jsonl``.

One document per line, as ``mongoexport`` writes them, in relaxed or canonical Extended
JSON (``{"$oid": ...}``, ``{"$date": "2025-11-13T09:41:12.503Z"}``,
``{"$date": {"$numberLong": "1731490872503"}}``, ``{"$numberInt": "5"}``). A file holding
one JSON array (``mongoexport --jsonArray``) is read too: its documents get a JSON
pointer as ``source`` and a null ``line_no``. Plain ``json`` is enough: the few
Extended JSON wrappers that matter here are unwrapped by hand.

Lines are streamed (a line may be up to 64 MiB); only the JSON array form is read whole.
A time field written as a time that a frame cannot hold (``{"$date": {"$numberLong":
"-99999999999999"}}``, ``"0000-01-01T00:00:00Z"``) is counted with its line and pointer
and the next time field is tried; so is each duplicate key (the last value is kept), and a
document whose time fields hold no time at all (``"time": "not a time"``) and that has no
ObjectId to fall back on (its ``ts`` is null).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any, TextIO

import pandas as pd

from panda_analysis import schema
from panda_analysis._lines import LogFile, Unparsed, resolve_sources
from panda_analysis._time import MAX_INSTANT, MIN_INSTANT, read_iso, to_utc
from panda_analysis.bundle import Bundle
from panda_analysis.parse._common import Spot, compact_json, conform, json_lines, json_snippet, load_json

__all__ = ["mongo"]

Row = dict[str, Any]

#: Fields tried, in order, for a document's time; then the ObjectId's creation time.
TIME_FIELDS = ("created_at", "createdAt", "timestamp", "time", "updated_at", "updatedAt")
_JOB_FIELDS = ("job_id", "jobId")
_ALERT_FIELDS = ("alert_id", "alertId")
_NUMBER_WRAPPERS = ("$numberInt", "$numberLong", "$numberDouble", "$numberDecimal")
_DIGITS = re.compile(r"^[+-]?\d{1,30}$")
# a string written as an ISO-8601 date (one a frame cannot hold is counted, not ignored)
_LOOKS_ISO = re.compile(r"^\s*[+-]?\d{4,}-\d{2}-\d{2}")


def _is_hex24(value: Any) -> bool:
    if not isinstance(value, str) or len(value) != 24:
        return False
    try:
        int(value, 16)
    except ValueError:
        return False
    return True


def _epoch(value: float, unit: str, shown: str) -> pd.Timestamp:
    """The instant ``value`` ``unit`` after the epoch; ValueError when a frame cannot hold it."""
    try:
        ts = to_utc(pd.Timestamp(value, unit=unit, tz="UTC"))
    except (ValueError, OverflowError) as err:
        msg = f"{shown} is outside the years a frame can hold ({MIN_INSTANT:%Y-%m-%d} to {MAX_INSTANT:%Y-%m-%d})"
        raise ValueError(msg) from err
    if ts is None:
        msg = f"{shown} is not a time"
        raise ValueError(msg)
    return ts


def _instant(value: Any) -> pd.Timestamp | None:
    """A time from Extended JSON (``$date``, ``$timestamp``) or a plain ISO-8601 string.

    None when ``value`` is no time at all (a field named ``time`` may hold anything);
    :class:`ValueError` saying why when it is written as a time but a frame cannot hold it
    (a ``$date`` outside 1677-2262, an unreadable ``$date``, an ISO-8601 string out of range).
    """
    if isinstance(value, dict):
        if "$date" in value:
            inner = value["$date"]
            shown = json_snippet(value)[:80]
            if isinstance(inner, dict):
                millis = inner.get("$numberLong")
                if isinstance(millis, str) and _DIGITS.match(millis):
                    return _epoch(int(millis), "ms", shown)
                if isinstance(millis, int) and not isinstance(millis, bool):
                    return _epoch(millis, "ms", shown)
            elif isinstance(inner, int | float) and not isinstance(inner, bool):
                return _epoch(inner, "ms", shown)  # legacy mongoexport: {"$date": <ms>}
            elif isinstance(inner, str):
                return read_iso(inner)
            msg = f"{shown} is not a $date Extended JSON reads"
            raise ValueError(msg)
        stamp = value.get("$timestamp")
        if isinstance(stamp, dict):
            seconds = stamp.get("t")
            if isinstance(seconds, int) and not isinstance(seconds, bool):
                return _epoch(seconds, "s", json_snippet(value)[:80])
            msg = f"{json_snippet(value)[:80]} is not a $timestamp Extended JSON reads"
            raise ValueError(msg)
        return None
    if isinstance(value, str) and _LOOKS_ISO.match(value):
        return read_iso(value)
    return None


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


def _first_field(document: dict[str, Any], names: tuple[str, ...], spot: Spot, pointer: str) -> str | None:
    """The first of ``names`` that holds an id; one that holds something no id is (a boolean) is counted."""
    for name in names:
        value = document.get(name)
        text = _scalar_text(value)
        if text is not None:
            return text
        if isinstance(value, bool):
            spot.bad(f"{pointer}/{name}", f"{name} {json_snippet(value)} is not an id: kept as null")
    return None


def _row(document: dict[str, Any], collection: str | None, spot: Spot, pointer: str) -> Row:
    doc_id = _first_field(document, ("_id",), spot, pointer)
    ts = None
    not_times: list[str] = []
    for name in TIME_FIELDS:
        value = document.get(name)
        try:
            ts = _instant(value)
        except ValueError as err:  # the field is a time a frame cannot hold: count it, try the next
            spot.bad(f"{pointer}/{name}", f"{name}: {err}: not used as ts")
            continue
        if ts is not None:
            break
        if value is not None:
            not_times.append(name)
    if ts is None and _is_hex24(doc_id):
        # an ObjectId starts with its creation time, seconds since the epoch, big-endian
        # (at most 2**32 - 1 s: 2106, always a time a frame holds)
        ts = _epoch(int(str(doc_id)[:8], 16), "s", str(doc_id))
    if ts is None and not_times:  # a time field that holds no time leaves ts null: say so
        name = not_times[0]
        spot.bad(f"{pointer}/{name}", f"{name} {json_snippet(document[name])[:80]} is not a time: ts kept as null")
    return {
        "ts": ts,
        "collection": collection,
        "doc_id": doc_id,
        "job_id": _first_field(document, _JOB_FIELDS, spot, pointer),
        "alert_id": _first_field(document, _ALERT_FIELDS, spot, pointer),
        "document": compact_json(document),
    }


#: Bytes looked at to tell a whole-file JSON array (``mongoexport --jsonArray``) from JSON lines.
_PEEK_BYTES = 64 * 1024


def _array(file: LogFile, text: str, unparsed: Unparsed) -> Iterator[tuple[Spot, str, dict[str, Any]]] | None:
    """The documents of a whole-file JSON array, or None when ``text`` is not one."""
    try:
        loaded = load_json(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(loaded.value, list):
        return None
    spot = Spot(unparsed, file.name)
    spot.notes(loaded)
    items: list[Any] = loaded.value

    def documents() -> Iterator[tuple[Spot, str, dict[str, Any]]]:
        for i, item in enumerate(items):
            if isinstance(item, dict):
                yield spot, f"/{i}", item
            else:
                unparsed.add(f"{file.name}#/{i}", None, compact_json(item)[:300])

    return documents()


def _documents(file: LogFile, unparsed: Unparsed) -> Iterator[tuple[Spot, str, dict[str, Any]]]:
    """Yield ``(spot, pointer, document)``; count what is not a JSON object.

    JSON lines are streamed line by line; only a whole-file JSON array is read whole
    (within the 1 GiB read cap).
    """
    text: str | None = None
    lines: str | LogFile = file
    if file.path is not None:
        head = file.read_bytes(Unparsed(), max_bytes=_PEEK_BYTES)  # a peek: the real read counts what fails
        if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"["):
            text = file.read_text(unparsed).lstrip("\ufeff")
    else:  # a stream is read once, whole
        lines = file.read_text(unparsed).lstrip("\ufeff")
        if lines.lstrip().startswith("["):
            text = lines
    if text is not None:
        documents = _array(file, text, unparsed)
        if documents is not None:
            yield from documents
            return
        lines = text  # not one JSON array after all: read it line by line
    for line, document in json_lines(lines, file.name, unparsed):
        yield Spot(unparsed, file.name, line.line_no), "", document


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
        for spot, pointer, document in _documents(file, unparsed):
            where = {"source": f"{file.name}#{pointer}" if spot.line_no is None else file.name, "line_no": spot.line_no}
            rows.append({**where, **_row(document, collection, spot, pointer)})
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
