"""Time parsing: ISO-8601 instants and relative windows, always tz-aware UTC.

All times in panda_analysis are ``pandas.Timestamp`` in UTC with nanosecond
resolution. Naive inputs are taken as UTC (the platform logs in UTC).
"""

from __future__ import annotations

import re
from datetime import datetime

import pandas as pd

__all__ = ["UTC_NS", "parse_duration", "parse_instant", "to_utc"]

#: The one timestamp dtype of every frame (DESIGN: ``datetime64[ns, UTC]``).
UTC_NS = "datetime64[ns, UTC]"

_DURATION = re.compile(
    r"^\s*(?:(?P<d>\d+(?:\.\d+)?)d)?\s*(?:(?P<h>\d+(?:\.\d+)?)h)?\s*"
    r"(?:(?P<m>\d+(?:\.\d+)?)(?:min|m)(?!s))?\s*(?:(?P<s>\d+(?:\.\d+)?)s)?\s*"
    r"(?:(?P<ms>\d+(?:\.\d+)?)ms)?\s*$"
)


def parse_duration(text: str | float | int | pd.Timedelta) -> pd.Timedelta:
    """Parse a duration such as ``"2h"``, ``"90s"``, ``"10min"``, ``"1h30m"``, ``"500ms"`` or seconds.

    Examples
    --------
    >>> parse_duration("1h30m")
    Timedelta('0 days 01:30:00')
    >>> parse_duration(2.5)
    Timedelta('0 days 00:00:02.500000')
    """
    if isinstance(text, pd.Timedelta):
        return text
    if isinstance(text, int | float):
        return pd.Timedelta(seconds=float(text))
    match = _DURATION.match(text)
    if not text.strip() or match is None or not any(match.groupdict().values()):
        msg = f"cannot read duration {text!r}: use forms like '90s', '5m', '2h', '1d', '1h30m'"
        raise ValueError(msg)
    parts = {k: float(v) for k, v in match.groupdict().items() if v}
    return pd.Timedelta(
        days=parts.get("d", 0),
        hours=parts.get("h", 0),
        minutes=parts.get("m", 0),
        seconds=parts.get("s", 0),
        milliseconds=parts.get("ms", 0),
    )


def to_utc(value: object) -> pd.Timestamp | None:
    """Return ``value`` as a UTC nanosecond Timestamp, or None for null-like values."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float) and value != value:
        return None
    ts = pd.Timestamp(value)  # type: ignore[arg-type]
    if ts is pd.NaT:
        return None
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.as_unit("ns")


def parse_instant(text: str | datetime | pd.Timestamp, *, now: pd.Timestamp | None = None) -> pd.Timestamp:
    """Parse an instant: ISO-8601 (``"2025-11-08T13:00:00Z"``) or relative to ``now`` (``"2h"``).

    A relative value means "that long before ``now``" (default: the current UTC time),
    as in ``--since 2h``.

    Examples
    --------
    >>> parse_instant("2025-11-08T13:00Z")
    Timestamp('2025-11-08 13:00:00+0000', tz='UTC')
    >>> parse_instant("2h", now=pd.Timestamp("2025-11-08T15:00Z"))
    Timestamp('2025-11-08 13:00:00+0000', tz='UTC')
    """
    if isinstance(text, datetime | pd.Timestamp):
        ts = to_utc(text)
        if ts is None:
            msg = "time value is empty (NaT)"
            raise ValueError(msg)
        return ts
    stripped = text.strip()
    if stripped and _DURATION.match(stripped) and any(_DURATION.match(stripped).groupdict().values()):  # type: ignore[union-attr]
        base = now if now is not None else pd.Timestamp.now(tz="UTC")
        base_utc = to_utc(base)
        assert base_utc is not None
        return base_utc - parse_duration(stripped)
    try:
        ts = pd.to_datetime(stripped, utc=True, format="ISO8601")
    except (ValueError, TypeError) as err:
        msg = f"cannot read time {text!r}: use ISO-8601 UTC like '2025-11-08T13:00:00Z' or a duration like '2h'"
        raise ValueError(msg) from err
    return ts.as_unit("ns")
