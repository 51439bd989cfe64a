"""Parsers: evidence files → conformed pandas DataFrames (one per evidence family).

Every function takes exactly one positional ``source``: a
:class:`~panda_analysis.bundle.Bundle` (its files of that family), a path (a ``str`` is
always a path), or an open text stream (``io.StringIO(text)`` for pasted text). Every
result is conformed to its declaration in :mod:`panda_analysis.schema` (``ts`` first,
UTC nanoseconds, ``source`` and ``line_no`` on every row); lines that cannot be read are
counted in ``df.attrs["unparsed"]`` with a sample in ``df.attrs["unparsed_sample"]``.
Parsers never raise on bad bytes, truncated lines, empty files or huge lines.

Examples
--------
>>> import panda_analysis as pa
>>> frames = pa.parse.frames(pa.samples.waiting_for_fiber())
>>> int((frames.ingress["status"] == 503).sum()) > 10
True
"""

from __future__ import annotations

import logging
import os
from typing import TextIO

import pandas as pd

from panda_analysis.bundle import Bundle, is_bundle, load_bundle
from panda_analysis.parse import _analyzer, _focus, _http, _ingress, _k8s, _logs, _mongo, _rabbitmq, _snapshots
from panda_analysis.parse._analyzer import analyzer
from panda_analysis.parse._focus import focus
from panda_analysis.parse._http import job_metadata, live_metadata
from panda_analysis.parse._ingress import ingress, ingress_messages
from panda_analysis.parse._k8s import endpoints, events, jobs, pods, pods_text, restarts, services
from panda_analysis.parse._logs import other_logs
from panda_analysis.parse._mongo import mongo
from panda_analysis.parse._rabbitmq import rabbitmq_log
from panda_analysis.parse._snapshots import consumers, queues, rabbitmq_overview
from panda_analysis.schema import FRAMES, Frames

__all__ = [
    "analyzer",
    "consumers",
    "endpoints",
    "events",
    "focus",
    "frames",
    "ingress",
    "ingress_messages",
    "job_metadata",
    "jobs",
    "live_metadata",
    "mongo",
    "other_logs",
    "pods",
    "pods_text",
    "queues",
    "rabbitmq_log",
    "rabbitmq_overview",
    "restarts",
    "services",
]

_MODULES = (_ingress, _focus, _rabbitmq, _analyzer, _logs, _k8s, _http, _snapshots, _mongo)

log = logging.getLogger(__name__)


def frames(source: Bundle | str | os.PathLike[str] | TextIO) -> Frames:
    """Parse every part of a bundle into a :class:`~panda_analysis.schema.Frames`.

    ``source`` is a Bundle or anything :func:`~panda_analysis.bundle.load_bundle` opens
    (directory, ``.tar.gz``, ``sample:<name>``). Missing parts give empty frames.

    Each parser runs isolated: one that raises on hostile evidence leaves its frames
    empty (their ``attrs["unparsed"]`` say why) and is listed in ``Frames.parse_errors``;
    the other parsers still run.
    """
    if is_bundle(source):
        bundle = source
    elif isinstance(source, str | os.PathLike):
        bundle = load_bundle(source)
    else:
        msg = "frames() needs a Bundle or a bundle path; parse one family from a stream with e.g. pa.parse.focus(stream)"
        raise TypeError(msg)
    parsed: dict[str, pd.DataFrame] = {}
    errors: list[tuple[str, BaseException]] = []
    for module in _MODULES:
        name = module.__name__.rsplit(".", 1)[-1].lstrip("_")
        try:
            parsed.update(module._frames(bundle))
        except Exception as err:  # one parser's failure must not lose the other frames
            log.warning("parser %s failed: %s: %s", name, type(err).__name__, err)
            log.debug("parser %s traceback", name, exc_info=True)
            errors.append((name, err))
    missing = [name for name in FRAMES if name not in parsed]
    if missing and not errors:  # pragma: no cover - guarded by tests/test_parse_frames.py
        msg = f"parsers did not produce frames {sorted(missing)}"
        raise RuntimeError(msg)
    why = "; ".join(f"parser {name} failed: {type(err).__name__}: {err}"[:300] for name, err in errors)
    for name in missing:
        parsed[name] = FRAMES[name].conform(FRAMES[name].empty(), unparsed=1, unparsed_sample=[why])
    return Frames(**{name: parsed[name] for name in FRAMES}, meta=dict(bundle.manifest), parse_errors=tuple(errors))
