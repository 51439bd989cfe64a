"""Small helpers shared by the rules: quoting evidence and writing numbers in sentences."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from panda_analysis.findings import Evidence

__all__ = ["evidence", "fmt_duration", "fmt_time", "pick_quotes", "plural"]


def fmt_time(ts: pd.Timestamp | None) -> str:
    """``2025-11-08 13:18:33 UTC`` (seconds; fractions only when the time has them)."""
    if ts is None or ts is pd.NaT:
        return "unknown time"
    ts = pd.Timestamp(ts)
    text = ts.strftime("%Y-%m-%d %H:%M:%S")
    if ts.microsecond:
        text += f".{ts.microsecond // 1000:03d}"
    return f"{text} UTC"


def fmt_duration(seconds: float | pd.Timedelta | None) -> str:
    """Human duration: ``0.29 s``, ``41 s``, ``5 min 12 s``, ``28 h``, ``2 d 4 h``."""
    if seconds is None:
        return "unknown"
    if isinstance(seconds, pd.Timedelta):
        seconds = seconds.total_seconds()
    s = float(seconds)
    if s != s:
        return "unknown"
    if s < 10:
        return f"{s:.2f} s".replace(".00 s", " s")
    if s < 120:
        return f"{s:.0f} s"
    if s < 3600:
        m, rest = divmod(round(s), 60)
        return f"{m} min {rest} s" if rest else f"{m} min"
    if s < 86400 * 2:
        h, rest = divmod(round(s), 3600)
        m = rest // 60
        return f"{h} h {m} min" if m else f"{h} h"
    d, rest = divmod(round(s), 86400)
    h = rest // 3600
    return f"{d} d {h} h" if h else f"{d} d"


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 restart``, ``4 restarts``."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def _row_text(row: Any, column: str | Iterable[str]) -> str:
    columns = [column] if isinstance(column, str) else list(column)
    parts = []
    for c in columns:
        value = row.get(c)
        if value is None or value is pd.NA or (isinstance(value, float) and value != value):
            continue
        parts.append(str(value))
    return " ".join(parts)


def evidence(df: pd.DataFrame, *, text: str | Iterable[str] = "message", limit: int = 3) -> tuple[Evidence, ...]:
    """Quote up to ``limit`` rows of ``df`` (in order) as Evidence (needs ts/source/line_no)."""
    out = []
    for _, row in df.head(limit).iterrows():
        out.append(Evidence.from_row(row.to_dict(), text=_row_text(row, text)))
    return tuple(out)


def pick_quotes(df: pd.DataFrame, *, limit: int = 3) -> pd.DataFrame:
    """First, middle and last rows of ``df`` (what an analyst wants quoted from a long run)."""
    if len(df) <= limit:
        return df
    if limit == 1:
        return df.iloc[[0]]
    positions = sorted({round(i * (len(df) - 1) / (limit - 1)) for i in range(limit)})
    return df.iloc[positions]
