"""A bundle's parsed frames written once as Parquet and read back exactly (issue #12).

``panda-analysis report`` parses the bundle once, in the command, and writes the frames here;
every notebook kernel of the run reads them back (:func:`panda_analysis.report.load`) instead
of parsing the bundle again. Read back means *the same frames*: the same columns and dtypes
(tz-aware nanosecond times, categoricals with their categories in order and the categories'
own string dtype, nullable integers and booleans, Arrow-backed strings), the same
``attrs`` (``schema``, ``unparsed`` counts and samples), the same ``Frames.meta`` and the
same ``Frames.parse_errors``, so that every rule gives the same findings on either.

Layout of a cache directory: one ``<frame>.parquet`` per frame and ``frames.json`` (written
last, so a half-written cache is never read) with the format, the bundle it was parsed from,
the bundle's root on disk, the manifest, the parse errors and per frame its rows, attrs and
the dtype of every column. :func:`write` refuses (returns ``None``) frames it could not read
back exactly; the kernels then parse as before.
"""

from __future__ import annotations

import json
import logging
import os
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import pandas as pd

from panda_analysis.schema import FRAMES, Frames

__all__ = ["ENV", "FORMAT", "Cache", "CacheError", "read", "write"]

log = logging.getLogger(__name__)

#: Format tag of ``frames.json``.
FORMAT = "panda-frames-cache/1"
#: Environment variable a report sets in each kernel it starts: the run's cache directory.
ENV = "PANDA_ANALYSIS_FRAMES_CACHE"
_INDEX = "frames.json"


class CacheError(Exception):
    """A cache directory that cannot be read back exactly (missing, foreign, or not what was written)."""


@dataclass(frozen=True, slots=True)
class Cache:
    """What :func:`read` returns: the frames and where they came from."""

    frames: Frames
    #: The bundle as the report's notebooks are given it (``sample:<name>`` or an absolute path).
    bundle: str
    #: The bundle's directory on disk when the frames were parsed (for a ``.tar.gz``: its unpacked copy).
    root: Path


# ------------------------------------------------------------------ dtypes


def _spec(dtype: Any) -> dict[str, Any]:
    """A JSON description of ``dtype`` that :func:`_dtype` turns back into an equal dtype."""
    if isinstance(dtype, pd.CategoricalDtype):
        return {"dtype": "category", "ordered": bool(dtype.ordered), "categories": _spec(dtype.categories.dtype)}
    if isinstance(dtype, pd.StringDtype):
        # "string" alone means the session's default storage; the NA flavour matters too (pandas 3)
        return {"dtype": "string", "storage": dtype.storage, "na": "NA" if dtype.na_value is pd.NA else "NaN"}
    return {"dtype": str(dtype)}


def _dtype(spec: Mapping[str, Any]) -> Any:
    if spec["dtype"] == "string":
        return pd.StringDtype(storage=spec["storage"], na_value=pd.NA if spec["na"] == "NA" else np.nan)
    if spec["dtype"] == "category":
        categories = pd.Index([], dtype=_dtype(spec["categories"]))
        return pd.CategoricalDtype(categories, ordered=spec["ordered"])
    return pd.api.types.pandas_dtype(spec["dtype"])


def _same_dtype(actual: Any, spec: Mapping[str, Any]) -> bool:
    """Whether ``actual`` is the dtype ``spec`` describes (for categoricals: ordered and categories' dtype)."""
    wanted = _dtype(spec)
    if isinstance(wanted, pd.CategoricalDtype):
        return (
            isinstance(actual, pd.CategoricalDtype)
            and actual.ordered == wanted.ordered
            and actual.categories.dtype == wanted.categories.dtype
        )
    return bool(actual == wanted) and type(actual) is type(wanted)


def _restore(series: pd.Series, spec: Mapping[str, Any]) -> pd.Series:
    """``series`` as Parquet gave it back, at the dtype it was written with.

    Arrow keeps a categorical's dictionary (every category, in order, used or not) but gives
    it back as pandas' default string dtype, and a column with no categories at all as plain
    nulls: rebuild the categorical from its codes, with categories of the written dtype.
    """
    if _same_dtype(series.dtype, spec):
        return series
    if spec["dtype"] == "category":
        wanted = _dtype(spec)
        if isinstance(series.dtype, pd.CategoricalDtype):
            codes = series.cat.codes.to_numpy()
            categories = series.cat.categories.astype(wanted.categories.dtype)
        elif series.isna().all():  # no categories: Arrow wrote a null column
            codes = np.full(len(series), -1, dtype=np.int8)
            categories = wanted.categories
        else:
            msg = f"column {series.name!r} came back as {series.dtype}, not a categorical"
            raise CacheError(msg)
        dtype = pd.CategoricalDtype(categories, ordered=wanted.ordered)
        return pd.Series(pd.Categorical.from_codes(codes, dtype=dtype), index=series.index, name=series.name)
    msg = f"column {series.name!r} came back as {series.dtype}, written as {_dtype(spec)}"
    raise CacheError(msg)


_NULLABLE_NUMBERS = (
    pd.Int8Dtype, pd.Int16Dtype, pd.Int32Dtype, pd.Int64Dtype,
    pd.UInt8Dtype, pd.UInt16Dtype, pd.UInt32Dtype, pd.UInt64Dtype, pd.Float32Dtype, pd.Float64Dtype,
)


def _supported(dtype: Any) -> bool:
    """Dtypes whose values Parquet keeps exactly: numbers, times, strings, and categoricals of them.

    Not ``object``: its values may be of any type, and would come back as whatever Arrow made of them.
    """
    if isinstance(dtype, pd.CategoricalDtype):
        return _supported(dtype.categories.dtype)
    if isinstance(dtype, pd.StringDtype | pd.DatetimeTZDtype | pd.BooleanDtype):
        return True
    if isinstance(dtype, pd.api.extensions.ExtensionDtype):
        return isinstance(dtype, _NULLABLE_NUMBERS)
    return dtype.kind in "biufM"


def _json_exact(value: Any) -> bool:
    """Whether ``value`` survives JSON unchanged (tuples, NaN, Timestamps and such do not)."""
    try:
        return bool(json.loads(json.dumps(value, allow_nan=False)) == value)
    except (TypeError, ValueError):
        return False


# ------------------------------------------------------------------ parse errors
# Frames.parse_errors holds exceptions; the ANALYSIS_ERROR finding of each names the parser,
# the exception's type and message, and where in the package it was raised (the innermost
# panda_analysis frame of its traceback, diagnose/_isolation.py). Keep exactly those.


def _frame_of(err: BaseException) -> tuple[str, int] | None:
    """The traceback frame the finding quotes: the innermost in the package, else the innermost."""
    frames = traceback.extract_tb(err.__traceback__)
    ours = [f for f in frames if "panda_analysis" in PurePath(f.filename).parts]
    if not (ours or frames):
        return None
    frame = (ours or frames)[-1]
    return frame.filename, frame.lineno or 1


def _error_record(parser: str, err: BaseException) -> dict[str, Any]:
    where = _frame_of(err)
    return {
        "parser": parser, "type": type(err).__name__, "module": type(err).__module__,
        "message": str(err), "file": where[0] if where else None, "line": where[1] if where else None,
    }


def _rebuilt_error(record: Mapping[str, Any]) -> BaseException:
    """An exception with the recorded type name, message and traceback frame (file and line)."""
    kind = type(str(record["type"]), (Exception,), {"__module__": str(record["module"])})
    err = kind(str(record["message"]))
    if record.get("file"):
        # a traceback whose one frame is the recorded file and line, as the parser raised it; the
        # code raised is fixed here, only its file name and line number come from the record
        code = compile("\n" * (int(record["line"]) - 1) + "raise error", str(record["file"]), "exec")
        try:
            exec(code, {"error": err})  # constant code: it only builds the traceback
        except Exception as raised:  # noqa: BLE001 - the exception made just above
            err = raised.with_traceback(raised.__traceback__.tb_next if raised.__traceback__ else None)
    return err


# ------------------------------------------------------------------ write and read


def write(frames: Frames, dest: str | os.PathLike[str], *, bundle: str, root: str | os.PathLike[str]) -> Path | None:
    """Write ``frames`` to the directory ``dest`` (created); ``None`` when they would not read back exactly.

    Parameters
    ----------
    frames
        The bundle's frames, as :func:`panda_analysis.parse.frames` returned them.
    dest
        The cache directory.
    bundle
        The bundle as the kernels will name it (:func:`read` returns it, so a kernel uses the
        cache only for that bundle).
    root
        The bundle's directory on disk (kernels list its files for the inventory).

    Returns
    -------
    Path | None
        ``dest``, or ``None`` when some frame has a dtype, index or attrs that Parquet and JSON
        would not give back unchanged (nothing usable is left in ``dest`` then).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(dest)
    entries: dict[str, dict[str, Any]] = {}
    for name, df in frames.items():
        specs = {str(c): _spec(dtype) for c, dtype in zip(df.columns, df.dtypes, strict=True)}
        exact = (
            isinstance(df.index, pd.RangeIndex) and df.index.start == 0 and df.index.step == 1
            and all(isinstance(c, str) for c in df.columns) and df.columns.is_unique
            and all(_supported(dtype) and _same_dtype(dtype, specs[str(c)]) for c, dtype in zip(df.columns, df.dtypes, strict=True))
            and _json_exact(dict(df.attrs))
        )
        if not exact:
            log.info("frames cache: frame %s would not read back exactly; the kernels parse the bundle", name)
            return None
        entries[name] = {"file": f"{name}.parquet", "rows": len(df), "attrs": dict(df.attrs), "columns": specs}
    meta = dict(frames.meta)
    if not _json_exact(meta):
        log.info("frames cache: the manifest would not read back exactly; the kernels parse the bundle")
        return None
    out.mkdir(parents=True, exist_ok=True)
    try:
        for name, df in frames.items():
            pq.write_table(pa.Table.from_pandas(df, preserve_index=False), out / entries[name]["file"])
    except (pa.ArrowException, ValueError, TypeError) as err:  # a value Arrow cannot hold: parse instead
        log.info("frames cache: %s; the kernels parse the bundle", err)
        return None
    index = {
        "format": FORMAT, "bundle": bundle, "root": os.fspath(root), "meta": meta,
        "parse_errors": [_error_record(parser, err) for parser, err in frames.parse_errors],
        "frames": entries,
    }
    partial = out / f".{_INDEX}.tmp"
    partial.write_text(json.dumps(index, ensure_ascii=False), encoding="utf-8")
    partial.replace(out / _INDEX)
    return out


def read(source: str | os.PathLike[str]) -> Cache:
    """Read a cache directory :func:`write` made: the same frames, meta and parse errors.

    Raises
    ------
    CacheError
        The directory has no complete cache, another format, or a frame that did not come
        back as it was written.
    """
    import pyarrow.parquet as pq

    where = Path(source)
    try:
        index = json.loads((where / _INDEX).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        msg = f"{where}: no frames cache ({err})"
        raise CacheError(msg) from err
    if not isinstance(index, dict) or index.get("format") != FORMAT or set(index.get("frames", {})) != set(FRAMES):
        msg = f"{where}: not a {FORMAT} cache of the frames {sorted(FRAMES)}"
        raise CacheError(msg)
    parsed: dict[str, pd.DataFrame] = {}
    for name, entry in index["frames"].items():
        try:
            df = pq.read_table(where / entry["file"]).to_pandas()
        except (OSError, ValueError) as err:
            msg = f"{where / entry['file']}: {err}"
            raise CacheError(msg) from err
        if list(df.columns) != list(entry["columns"]) or len(df) != entry["rows"]:
            msg = f"{where / entry['file']}: not the {entry['rows']} rows and columns written"
            raise CacheError(msg)
        for column, spec in entry["columns"].items():
            restored = _restore(df[column], spec)
            if restored is not df[column]:
                df[column] = restored
        df.attrs = dict(entry["attrs"])
        parsed[name] = df
    errors = tuple((str(r["parser"]), _rebuilt_error(r)) for r in index["parse_errors"])
    frames = Frames(**parsed, meta=dict(index["meta"]), parse_errors=errors)
    return Cache(frames=frames, bundle=str(index["bundle"]), root=Path(index["root"]))
