"""Runbook notebooks and HTML incident reports.

Two halves:

* what the notebooks call (thin cells, logic here where it is tested): :func:`load`
  (validate the common parameters and load the evidence, windowed), :func:`check`
  (validate a rule's threshold parameters), :func:`inventory`, and display helpers
  :func:`findings_table`, :func:`evidence_table`, :func:`next_steps`;
* what runs them: :func:`run` executes one notebook with papermill into an output
  directory and exports a self-contained HTML page; :func:`run_all` runs several.

Examples
--------
>>> import panda_analysis as pa
>>> frames = pa.report.load("sample:consumer_slow", since="", until="")
>>> pa.report.check(pa.diagnose.consumer, pod_within_s=10.0, consumer_within_s=30.0)
>>> pa.report.check(pa.diagnose.consumer, pod_within_s=-1.0)
Traceback (most recent call last):
...
panda_analysis.report.ParameterError: parameter pod_within_s=-1.0 must be a positive number
"""

from __future__ import annotations

import functools
import html
import inspect
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from panda_analysis import findings as fnd
from panda_analysis.bundle import Bundle, load_bundle
from panda_analysis.errors import PandaAnalysisError
from panda_analysis.findings import Code, Finding
from panda_analysis.schema import Frames

__all__ = [
    "NOTEBOOKS",
    "NotebookInfo",
    "ParameterError",
    "check",
    "evidence_table",
    "findings_table",
    "inventory",
    "load",
    "next_steps",
    "notebook_dir",
]


class ParameterError(PandaAnalysisError, ValueError):
    """A notebook parameter is invalid (papermill does not validate; we do, at once)."""


@dataclass(frozen=True, slots=True)
class NotebookInfo:
    """A runbook notebook: its name, title, the codes it explains, its default sample."""

    name: str
    title: str
    codes: tuple[Code, ...]
    sample: str
    runbook: str


#: The runbook notebooks, in report order. ``overview`` runs every rule.
NOTEBOOKS: dict[str, NotebookInfo] = {
    n.name: n
    for n in (
        NotebookInfo("overview", "Incident overview", tuple(Code), "waiting_for_fiber", "runbooks/README.md"),
        NotebookInfo(
            "fiber_metadata", "Fiber metadata not ready",
            (Code.FIBER_WAITING, Code.FIBER_METADATA_MISSING), "waiting_for_fiber", "runbooks/fiber_metadata.md",
        ),
        NotebookInfo("retry_storm", "Client retry storms", (Code.RETRY_STORM,), "waiting_for_fiber", "runbooks/retry_storm.md"),
        NotebookInfo(
            "crashloop", "Crash loops and their root cause",
            (Code.CRASHLOOP_DNS, Code.CRASHLOOP_DB_UNREACHABLE, Code.CRASHLOOP_OOM, Code.CRASHLOOP_OTHER),
            "waiting_for_fiber", "runbooks/crashloop.md",
        ),
        NotebookInfo(
            "consumer_delay", "Consumer creation: configure → pod → consumer ready",
            (Code.POD_NOT_CREATED, Code.CONSUMER_NOT_CREATED, Code.CONSUMER_SLOW), "consumer_slow",
            "runbooks/consumer_delay.md",
        ),
        NotebookInfo(
            "queues", "RabbitMQ queue backlogs and orphaned queues", (Code.QUEUE_BACKLOG, Code.QUEUE_ORPHANED),
            "consumer_slow", "runbooks/queues.md",
        ),
        NotebookInfo("alert_trace", "An alert's trip through the pipeline", (Code.ALERT_NOT_DELIVERED,), "alert_lost", "runbooks/alert_trace.md"),
    )
}


def notebook_dir() -> Path:
    """Where the runbook notebooks live: ``$PANDA_ANALYSIS_NOTEBOOKS``, else ``notebooks/`` of the checkout."""
    env = os.environ.get("PANDA_ANALYSIS_NOTEBOOKS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1] / "notebooks"


# ------------------------------------------------------------------ parameters


@functools.lru_cache(maxsize=8)
def _open(bundle: str) -> Bundle:
    return load_bundle(bundle)


def _bundle(bundle: object) -> Bundle:
    if not isinstance(bundle, str) or not bundle.strip():
        msg = f"parameter bundle={bundle!r} must be a bundle path, a .tar.gz or sample:<name>"
        raise ParameterError(msg)
    if bundle.startswith("sample:") or not Path(bundle).exists():
        return _open(bundle)  # samples are immutable; missing paths raise BundleError here
    return load_bundle(bundle)  # a directory on disk may change between runs: no cache


def load(bundle: str, *, since: str = "", until: str = "") -> Frames:
    """Validate the common notebook parameters and return the bundle's frames in the window.

    Parameters
    ----------
    bundle
        Directory, ``.tar.gz`` or ``sample:<name>``.
    since, until
        ISO-8601 UTC times or durations before the bundle's ``created_at`` (``"2h"``);
        ``""`` means open-ended.

    Raises
    ------
    ParameterError
        When a parameter is not usable, naming it and the accepted forms.
    """
    for name, value in (("since", since), ("until", until)):
        if not isinstance(value, str):
            msg = f"parameter {name}={value!r} must be a string: ISO-8601 UTC like '2025-11-08T13:00:00Z', a duration like '2h', or ''"
            raise ParameterError(msg)
    frames = _bundle(bundle).frames()
    try:
        return frames.window(since, until)
    except ValueError as err:
        msg = f"parameters since={since!r} / until={until!r}: {err}"
        raise ParameterError(msg) from err


def check(rule: Callable[..., Any], **params: Any) -> None:
    """Validate threshold parameters for ``rule`` (names exist, types match, numbers positive).

    Raises :class:`ParameterError` naming the parameter, its value and what is expected.
    """
    signature = inspect.signature(rule)
    for name, value in params.items():
        if name not in signature.parameters or signature.parameters[name].kind is not inspect.Parameter.KEYWORD_ONLY:
            options = [p for p, v in signature.parameters.items() if v.kind is inspect.Parameter.KEYWORD_ONLY]
            msg = f"parameter {name!r} is not a threshold of {rule.__name__}; it takes {options}"
            raise ParameterError(msg)
        default = signature.parameters[name].default
        if isinstance(default, bool) or isinstance(value, bool):
            if not isinstance(value, bool):
                msg = f"parameter {name}={value!r} must be true or false"
                raise ParameterError(msg)
            continue
        if isinstance(default, int | float) and default is not None:
            if not isinstance(value, int | float) or value != value:
                msg = f"parameter {name}={value!r} must be a number (default {default!r})"
                raise ParameterError(msg)
            if value <= 0 and default > 0:
                msg = f"parameter {name}={value!r} must be a positive number"
                raise ParameterError(msg)


def inventory(bundle: str) -> pd.DataFrame:
    """The bundle's evidence inventory (parts, files, rows, unparsed lines, time range)."""
    return _bundle(bundle).inventory()


# ------------------------------------------------------------------ display helpers

_SEVERITY_STYLE = {
    "critical": "background-color:#fde0e0;color:#8b0000;font-weight:bold",
    "warning": "background-color:#fff1d6;color:#7a4b00;font-weight:bold",
    "info": "background-color:#e3eefb;color:#1f4f8a",
}


def findings_table(findings: Sequence[Finding]) -> Any:
    """Findings worst first as a styled table (severity coloured, runbook as a link).

    Returns a pandas ``Styler`` (renders as HTML in notebooks and reports), or the plain
    message table ``No findings`` when the list is empty.
    """
    df = fnd.table(findings)
    if df.empty:
        return pd.DataFrame({"result": ["No findings: nothing wrong in this evidence for these rules."]})
    shown = df.assign(
        first_seen=df["first_seen"].dt.strftime("%Y-%m-%d %H:%M:%S"),
        last_seen=df["last_seen"].dt.strftime("%Y-%m-%d %H:%M:%S"),
    )
    styler = shown.style.hide(axis="index")
    styler = styler.map(lambda v: _SEVERITY_STYLE.get(str(v), ""), subset=["severity"])
    return styler.format({"runbook": lambda v: f'<a href="../{html.escape(str(v))}">{html.escape(str(v))}</a>'})


def evidence_table(findings: Sequence[Finding]) -> pd.DataFrame:
    """Every quoted evidence line of ``findings``: code, subject, where (``source:line_no``), ts, text."""
    rows = [
        {"code": str(f.code), "subject": f.subject, "where": e.where, "ts": e.ts, "text": e.text}
        for f in fnd.sort(findings)
        for e in f.evidence
    ]
    df = pd.DataFrame(rows, columns=["code", "subject", "where", "ts", "text"])
    df["ts"] = pd.to_datetime(df["ts"], utc=True).dt.as_unit("ns")
    return df


def next_steps(findings: Sequence[Finding]) -> Any:
    """Each finding's summary, next steps and runbook link as Markdown (an IPython display object)."""
    from IPython.display import Markdown

    if not findings:
        return Markdown("*No findings, so no next steps.*")
    parts = []
    for f in fnd.sort(findings):
        steps = "\n".join(f"{i}. {step}" for i, step in enumerate(f.next_steps, start=1))
        parts.append(
            f"### {f.severity.value.upper()} `{f.code}` — {f.title}\n\n{f.summary}\n\n"
            f"{steps}\n\nRunbook: [{f.runbook}](../{f.runbook})\n"
        )
    return Markdown("\n".join(parts))
