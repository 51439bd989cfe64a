"""Diagnostics: parsed frames → :class:`~panda_analysis.findings.Finding` lists.

Every rule takes one positional ``frames`` (a :class:`~panda_analysis.schema.Frames`),
keyword-only thresholds with documented defaults, reads DataFrames only (no files, no
network), is deterministic, quotes its evidence, and returns ``[]`` when healthy.
:func:`run` runs every registered rule and returns the findings worst first.

Examples
--------
>>> import panda_analysis as pa
>>> findings = pa.diagnose.run(pa.samples.healthy())
>>> [f for f in findings if f.severity != "info"]
[]
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd

from panda_analysis import findings as _findings
from panda_analysis._time import parse_instant
from panda_analysis.bundle import Bundle, load_bundle
from panda_analysis.diagnose._alerts import alert_trace, alerts
from panda_analysis.diagnose._consumer import consumer, consumer_stages
from panda_analysis.diagnose._crashloop import crashloop
from panda_analysis.diagnose._fiber import fiber
from panda_analysis.diagnose._isolation import analysis_error, run_isolated
from panda_analysis.diagnose._queues import queues
from panda_analysis.diagnose._retry_storm import retry_storm
from panda_analysis.diagnose._timeline import timeline
from panda_analysis.findings import Code, Finding
from panda_analysis.schema import Frames

__all__ = [
    "RULES",
    "alert_trace",
    "alerts",
    "analysis_error",
    "consumer",
    "consumer_stages",
    "crashloop",
    "fiber",
    "queues",
    "retry_storm",
    "run",
    "timeline",
]

Rule = Callable[..., list[Finding]]

#: Every rule, by family name, with the codes it can emit (a small registry, as papermill's).
RULES: dict[str, tuple[Rule, frozenset[Code]]] = {
    "fiber": (fiber, frozenset({Code.FIBER_WAITING, Code.FIBER_METADATA_MISSING})),
    "retry_storm": (retry_storm, frozenset({Code.RETRY_STORM})),
    "crashloop": (
        crashloop,
        frozenset({Code.CRASHLOOP_DNS, Code.CRASHLOOP_DB_UNREACHABLE, Code.CRASHLOOP_OOM, Code.CRASHLOOP_OTHER}),
    ),
    "consumer": (consumer, frozenset({Code.POD_NOT_CREATED, Code.CONSUMER_NOT_CREATED, Code.CONSUMER_SLOW})),
    "queues": (queues, frozenset({Code.QUEUE_BACKLOG, Code.QUEUE_ORPHANED})),
    "alerts": (alerts, frozenset({Code.ALERT_NOT_DELIVERED})),
}


def _as_frames(frames: Frames | Bundle | str | os.PathLike[str]) -> Frames:
    if isinstance(frames, Frames) or type(frames).__name__ == "Frames":  # doctest runners may import twice
        return frames  # type: ignore[return-value]
    bundle = load_bundle(frames)  # type: ignore[arg-type]
    return bundle.frames()


def _overlaps(finding: Finding, since: pd.Timestamp | None, until: pd.Timestamp | None) -> bool:
    first = finding.first_seen or finding.last_seen
    last = finding.last_seen or finding.first_seen
    if first is None or last is None:
        return True
    if since is not None and last < since:
        return False
    return not (until is not None and first > until)


def run(
    frames: Frames | Bundle | str | os.PathLike[str],
    *,
    only: Iterable[str | Code] | None = None,
    since: str | pd.Timestamp | None = None,
    until: str | pd.Timestamp | None = None,
    options: dict[str, dict[str, Any]] | None = None,
) -> list[Finding]:
    """Run every rule and return all findings, worst first.

    Parameters
    ----------
    frames
        Parsed frames, or a Bundle / bundle path / ``sample:<name>`` to parse.
    only
        Keep only these finding codes (rules that cannot emit them are not run;
        ``ANALYSIS_ERROR`` findings are always kept).
    since, until
        Keep findings whose ``[first_seen, last_seen]`` overlaps this window (ISO-8601
        UTC, or a duration such as ``"2h"`` meaning before the bundle's ``created_at``).
    options
        Per-rule keyword arguments, e.g. ``{"retry_storm": {"min_attempts": 20}}``.

    Each rule runs isolated: a rule that raises on this evidence gives one
    ``ANALYSIS_ERROR`` finding (the rule, the exception, where it was raised) and the
    other rules still run; so does a parser that failed while the frames were built.
    """
    data = _as_frames(frames)
    wanted = {Code(c) for c in only} if only is not None else None
    options = options or {}
    unknown = set(options) - set(RULES)
    if unknown:
        msg = f"options for unknown rules {sorted(unknown)}; rules are {sorted(RULES)}"
        raise ValueError(msg)
    for name, kwargs in options.items():  # a mistyped threshold is a usage error, not a rule failure
        accepted = inspect.signature(RULES[name][0]).parameters
        wrong = sorted(set(kwargs) - {p for p, spec in accepted.items() if spec.kind is inspect.Parameter.KEYWORD_ONLY})
        if wrong:
            msg = f"rule {name} has no option {', '.join(wrong)}; its options are {', '.join(p for p in accepted if p != 'frames')}"
            raise ValueError(msg)
    now = data.created_at
    lo = parse_instant(since, now=now) if since is not None else None
    hi = parse_instant(until, now=now) if until is not None else None
    out: list[Finding] = [analysis_error(what, err, kind="parser") for what, err in data.parse_errors]
    for name, (rule, codes) in RULES.items():
        if wanted is not None and not (codes & wanted):
            continue
        out.extend(run_isolated(name, rule, codes, data, **options.get(name, {})))
    if wanted is not None:
        out = [f for f in out if f.code in wanted or f.code == Code.ANALYSIS_ERROR]
    out = [f for f in out if _overlaps(f, lo, hi)]
    return _findings.sort(_findings.dedupe(out))
