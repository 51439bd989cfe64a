"""One rule's failure never loses the others' findings: run each isolated, report failures.

A rule (or a parser) that raises on some evidence yields one ``ANALYSIS_ERROR`` finding
naming the rule, the exception and where it was raised; :func:`panda_analysis.diagnose.run`
goes on with the next rule, and the command line exits 3 ("a rule failed"), distinct from
1 ("a critical finding").
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterable
from pathlib import PurePath
from typing import Any

from panda_analysis.findings import Code, Evidence, Finding, Severity

__all__ = ["analysis_error", "run_isolated"]

log = logging.getLogger(__name__)

#: Longest exception message kept in a summary (the evidence keeps more).
_MESSAGE_CHARS = 300


def _where(err: BaseException) -> tuple[str, int | None]:
    """The innermost frame of the package in the traceback (``panda_analysis/...py``, line)."""
    frames = traceback.extract_tb(err.__traceback__)
    ours = [f for f in frames if "panda_analysis" in PurePath(f.filename).parts]
    if not (ours or frames):
        return "panda_analysis", None
    frame = (ours or frames)[-1]
    parts = PurePath(frame.filename).parts
    # from the last ``panda_analysis`` folder on (no machine-specific prefix)
    start = len(parts) - 1 - parts[::-1].index("panda_analysis") if "panda_analysis" in parts else len(parts) - 1
    return "/".join(parts[start:]), frame.lineno


def _message(err: BaseException) -> str:
    text = " ".join(str(err).split()) or "(no message)"
    return text if len(text) <= _MESSAGE_CHARS else text[: _MESSAGE_CHARS - 1] + "…"


def analysis_error(what: str, err: BaseException, *, codes: Iterable[Code] = (), kind: str = "rule") -> Finding:
    """The ``ANALYSIS_ERROR`` finding for ``what`` (a rule or parser name) failing with ``err``.

    Examples
    --------
    >>> f = analysis_error("consumer", TypeError("Cannot cast DatetimeArray to dtype float64"),
    ...                    codes=[Code.CONSUMER_SLOW])
    >>> f.code, f.severity, f.subject
    (<Code.ANALYSIS_ERROR: 'ANALYSIS_ERROR'>, <Severity.WARNING: 'warning'>, 'rule consumer')
    >>> f.summary
    'The consumer rule failed on this evidence with TypeError: Cannot cast DatetimeArray to dtype float64; its checks (CONSUMER_SLOW) did not run to the end, so their findings may be missing; every other rule ran.'
    """
    source, line_no = _where(err)
    name = type(err).__name__
    message = _message(err)
    checks = ", ".join(sorted(str(c) for c in codes))
    if kind == "rule":
        summary = (
            f"The {what} rule failed on this evidence with {name}: {message}; its checks"
            f"{f' ({checks})' if checks else ''} did not run to the end, so their findings may be missing; "
            "every other rule ran."
        )
    else:
        summary = (
            f"The {what} parser failed on this evidence with {name}: {message}; the frames it reads are "
            "empty in this run, so findings that need them may be missing; every other parser ran."
        )
    return Finding(
        code=Code.ANALYSIS_ERROR,
        severity=Severity.WARNING,
        title=f"Analysis {kind} failed",
        summary=summary,
        component="panda-analysis",
        subject=f"{kind} {what}",
        evidence=(Evidence(source=source, line_no=line_no, ts=None, text=f"{name}: {' '.join(str(err).split())}"),),
        next_steps=(
            f"Run `panda-analysis diagnose BUNDLE -vv` to see the traceback of the {what} {kind}; the other findings stand.",
            "Read the evidence this check uses by hand (its runbook section says how), so the incident is not judged on a partial run.",
            "Report it to the panda-analysis maintainers with the bundle (or the offending file) and this message.",
        ),
        metrics={"kind": kind, "name": what, "exception": name, "raised_at": f"{source}:{line_no}" if line_no else source},
    )


def run_isolated(name: str, rule: Callable[..., list[Finding]], codes: Iterable[Code], *args: Any, **kwargs: Any) -> list[Finding]:
    """``rule(*args, **kwargs)``, or ``[analysis_error(...)]`` when it raises."""
    try:
        return list(rule(*args, **kwargs))
    except Exception as err:  # isolation is the point: one rule must not lose the others
        log.warning("rule %s failed: %s: %s", name, type(err).__name__, err)
        log.debug("rule %s traceback", name, exc_info=True)
        return [analysis_error(name, err, codes=codes)]
