"""Findings: what a diagnostic concludes, as values (the DESIGN.md **contract**).

A :class:`Finding` has ``code``, ``severity``, ``title``, ``summary`` (one sentence with
the numbers), ``component``, ``first_seen``, ``last_seen``, ``evidence`` (quoted lines
with ``source``, ``line_no``, ``ts``), ``next_steps`` and ``runbook`` (a relative link
into ``runbooks/``). Codes and severities are defined once, here.

Examples
--------
>>> import pandas as pd
>>> f = Finding(
...     code=Code.RETRY_STORM, severity=Severity.WARNING, title="Retry storm on POST /configure",
...     summary="10.42.0.0 sent 36 POST /configure in 90 s (0.4/s), all 503.", component="focus-server",
...     first_seen=pd.Timestamp("2025-11-08T13:18:00Z"), last_seen=pd.Timestamp("2025-11-08T13:19:30Z"),
... )
>>> f.runbook
'runbooks/retry_storm.md#retry-storm'
>>> to_json([f])[0]["first_seen"]
'2025-11-08T13:18:00Z'
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import pandas as pd

from panda_analysis import _escape as escape

__all__ = [
    "CHANGES",
    "Code",
    "Evidence",
    "Finding",
    "Severity",
    "compare",
    "dedupe",
    "from_json",
    "select",
    "sort",
    "table",
    "to_json",
]

#: Longest evidence text kept (the rest is cut with an ellipsis).
MAX_EVIDENCE_CHARS = 500


class Severity(StrEnum):
    """How bad a finding is; :attr:`rank` orders them (critical first)."""

    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """0 for critical, 1 for warning, 2 for info (sort ascending for worst first)."""
        return {"critical": 0, "warning": 1, "info": 2}[self.value]


class Code(StrEnum):
    """Stable finding codes (DESIGN.md contract); each maps to its runbook section."""

    FIBER_WAITING = "FIBER_WAITING"
    FIBER_METADATA_MISSING = "FIBER_METADATA_MISSING"
    RETRY_STORM = "RETRY_STORM"
    CRASHLOOP_DNS = "CRASHLOOP_DNS"
    CRASHLOOP_DB_UNREACHABLE = "CRASHLOOP_DB_UNREACHABLE"
    CRASHLOOP_OOM = "CRASHLOOP_OOM"
    CRASHLOOP_OTHER = "CRASHLOOP_OTHER"
    POD_NOT_CREATED = "POD_NOT_CREATED"
    CONSUMER_NOT_CREATED = "CONSUMER_NOT_CREATED"
    CONSUMER_SLOW = "CONSUMER_SLOW"
    QUEUE_BACKLOG = "QUEUE_BACKLOG"
    QUEUE_ORPHANED = "QUEUE_ORPHANED"
    ALERT_NOT_DELIVERED = "ALERT_NOT_DELIVERED"
    ANALYSIS_ERROR = "ANALYSIS_ERROR"

    @property
    def runbook(self) -> str:
        """Relative link to the runbook section, e.g. ``runbooks/crashloop.md#dns``."""
        return RUNBOOK_ANCHORS[self]


#: Code → runbook section (tests check that every anchor is a heading in runbooks/).
RUNBOOK_ANCHORS: dict[Code, str] = {
    Code.FIBER_WAITING: "runbooks/fiber_metadata.md#waiting-for-fiber",
    Code.FIBER_METADATA_MISSING: "runbooks/fiber_metadata.md#missing-metadata-fields",
    Code.RETRY_STORM: "runbooks/retry_storm.md#retry-storm",
    Code.CRASHLOOP_DNS: "runbooks/crashloop.md#dns",
    Code.CRASHLOOP_DB_UNREACHABLE: "runbooks/crashloop.md#database-unreachable",
    Code.CRASHLOOP_OOM: "runbooks/crashloop.md#oom",
    Code.CRASHLOOP_OTHER: "runbooks/crashloop.md#other",
    Code.POD_NOT_CREATED: "runbooks/consumer_delay.md#pod-not-created",
    Code.CONSUMER_NOT_CREATED: "runbooks/consumer_delay.md#consumer-not-created",
    Code.CONSUMER_SLOW: "runbooks/consumer_delay.md#consumer-slow",
    Code.QUEUE_BACKLOG: "runbooks/queues.md#backlog",
    Code.QUEUE_ORPHANED: "runbooks/queues.md#orphaned",
    Code.ALERT_NOT_DELIVERED: "runbooks/alert_trace.md#alert-not-delivered",
    Code.ANALYSIS_ERROR: "runbooks/README.md#analysis-error",
}


def _ts(value: Any) -> pd.Timestamp | None:
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float) and value != value:
        return None
    ts = pd.Timestamp(value)
    if ts is pd.NaT:
        return None
    return (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).as_unit("ns")


def _iso(value: pd.Timestamp | None) -> str | None:
    if value is None:
        return None
    text = value.isoformat()
    return text.replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Evidence:
    """One quoted line (or document) that supports a finding."""

    source: str
    line_no: int | None
    ts: pd.Timestamp | None
    text: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "ts", _ts(self.ts))
        if self.line_no is not None and (self.line_no != self.line_no):  # NaN / pd.NA guard
            object.__setattr__(self, "line_no", None)
        elif self.line_no is not None:
            object.__setattr__(self, "line_no", int(self.line_no))
        text = str(self.text)
        if len(text) > MAX_EVIDENCE_CHARS:
            text = text[: MAX_EVIDENCE_CHARS - 1] + "…"
        object.__setattr__(self, "text", text)

    @property
    def where(self) -> str:
        """``source:line_no`` (or just ``source`` for documents)."""
        return f"{self.source}:{self.line_no}" if self.line_no is not None else self.source

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"source": self.source, "line_no": self.line_no, "ts": _iso(self.ts), "text": self.text}

    @classmethod
    def from_row(cls, row: Mapping[str, Any], *, text: str | None = None) -> Evidence:
        """Quote a DataFrame row (needs ``source``, ``line_no``, ``ts``; text from ``message``)."""
        line_no = row.get("line_no")
        if line_no is pd.NA or (isinstance(line_no, float) and line_no != line_no):
            line_no = None
        quoted = text if text is not None else str(row.get("message") or row.get("text") or "")
        return cls(source=str(row.get("source") or "?"), line_no=line_no, ts=row.get("ts"), text=quoted)


@dataclass(frozen=True, slots=True)
class Finding:
    """A diagnostic conclusion. Fields are the DESIGN.md contract; ``subject`` and
    ``metrics`` are additions (what the finding is about, and its numbers by name).

    ``change`` is set only by :func:`compare`: ``new``, ``persisting`` or ``resolved``
    relative to an earlier bundle (``""`` otherwise, and then left out of the JSON).
    """

    code: Code
    severity: Severity
    title: str
    summary: str
    component: str
    first_seen: pd.Timestamp | None = None
    last_seen: pd.Timestamp | None = None
    evidence: tuple[Evidence, ...] = ()
    next_steps: tuple[str, ...] = ()
    runbook: str = ""
    subject: str = ""
    metrics: Mapping[str, Any] = field(default_factory=dict)
    change: str = ""

    def __post_init__(self) -> None:
        if self.change not in CHANGES and self.change != "":
            msg = f"change={self.change!r}: use one of {', '.join(CHANGES)} (or leave it empty)"
            raise ValueError(msg)
        object.__setattr__(self, "code", Code(self.code))
        object.__setattr__(self, "severity", Severity(self.severity))
        object.__setattr__(self, "first_seen", _ts(self.first_seen))
        object.__setattr__(self, "last_seen", _ts(self.last_seen))
        object.__setattr__(self, "evidence", tuple(self.evidence))
        object.__setattr__(self, "next_steps", tuple(self.next_steps))
        if not self.runbook:
            object.__setattr__(self, "runbook", self.code.runbook)

    @property
    def match_key(self) -> tuple[str, str]:
        """``(code, subject)``: how :func:`compare` pairs a finding with one from an earlier bundle
        (the component when the subject is empty)."""
        return (str(self.code), self.subject or self.component)

    @property
    def key(self) -> str:
        """``code|component|subject``: identifies the same problem across runs and bundles."""
        return f"{self.code}|{self.component}|{self.subject}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (ISO-8601 UTC strings; what ``diagnose --json`` prints)."""
        out = {
            "code": str(self.code),
            "severity": str(self.severity),
            "title": self.title,
            "summary": self.summary,
            "component": self.component,
            "subject": self.subject,
            "first_seen": _iso(self.first_seen),
            "last_seen": _iso(self.last_seen),
            "evidence": [e.to_dict() for e in self.evidence],
            "next_steps": list(self.next_steps),
            "runbook": self.runbook,
            "metrics": {k: _jsonable(v) for k, v in self.metrics.items()},
        }
        if self.change:
            out["change"] = self.change
        return out

    def _repr_html_(self) -> str:
        """The finding as an HTML card (Jupyter); every text field escaped, evidence is data (issue #11)."""
        colour = {"critical": "#b00020", "warning": "#b26a00", "info": "#1f5fa8"}[self.severity.value]
        quotes = "".join(
            f"<li><code>{escape.html(e.where)}</code> {escape.html(e.text)}</li>" for e in self.evidence[:3]
        )
        steps = "".join(f"<li>{escape.html(s)}</li>" for s in self.next_steps)
        about = escape.html(self.component) + (f" / <code>{escape.html(self.subject)}</code>" if self.subject else "")
        return (
            f'<div style="border-left:4px solid {colour};padding:4px 10px;margin:6px 0">'
            f'<b style="color:{colour}">{self.severity.value.upper()}</b> <code>{escape.html(self.code)}</code> '
            f"<b>{escape.html(self.title)}</b><br>{about}<br>{escape.html(self.summary)}"
            f"{f'<ul>{quotes}</ul>' if quotes else ''}"
            f"{f'<b>Next steps</b><ol>{steps}</ol>' if steps else ''}"
            f'<a href="{escape.html(escape.href(self.runbook))}">runbook</a></div>'
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return _iso(_ts(value))
    if isinstance(value, pd.Timedelta):
        return value.total_seconds()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def select(
    findings: Iterable[Finding],
    *,
    codes: Iterable[str | Code] | None = None,
    about: str | None = None,
    min_severity: str | Severity | None = None,
) -> list[Finding]:
    """Findings with one of ``codes``, whose subject or component contains ``about``, at least ``min_severity``.

    Empty or ``None`` arguments do not filter (notebook parameters use ``""`` for "all").

    Examples
    --------
    >>> import panda_analysis as pa
    >>> found = pa.diagnose.run(pa.samples.consumer_slow())
    >>> [f.subject for f in select(found, about="19-6")]
    ['19-6']
    """
    wanted = {Code(c) for c in codes} if codes else None
    worst = Severity(min_severity).rank if min_severity else None
    out = []
    for f in findings:
        if wanted is not None and f.code not in wanted:
            continue
        if about and about not in f.subject and about not in f.component:
            continue
        if worst is not None and f.severity.rank > worst:
            continue
        out.append(f)
    return out


def sort(findings: Iterable[Finding]) -> list[Finding]:
    """Worst first: severity, then earliest ``first_seen``, then code and subject.

    Findings marked ``resolved`` by :func:`compare` come after every current one.
    """
    far = pd.Timestamp.max.tz_localize("UTC")
    return sorted(
        findings,
        key=lambda f: (f.change == "resolved", f.severity.rank, f.first_seen or far, str(f.code), f.component, f.subject),
    )


#: The values of :attr:`Finding.change` (``diagnose --baseline``).
CHANGES = ("new", "persisting", "resolved")


def compare(current: Iterable[Finding], baseline: Iterable[Finding]) -> list[Finding]:
    """Mark each finding ``new`` or ``persisting`` against an earlier bundle's, and add the
    earlier ones that are gone as ``resolved``; worst first, resolved last.

    Findings pair up by :attr:`Finding.match_key` (code and subject), one to one: two current
    retry storms from the same client and one earlier one give one ``persisting`` and one ``new``.
    Left over, a request seen in one bundle through the ingress (``POST /focus-server/configure``)
    and in the other only upstream (``POST /configure``) is the same finding.
    A persisting finding keeps its current severity and numbers.

    Examples
    --------
    >>> import panda_analysis as pa
    >>> now = pa.diagnose.run(pa.samples.waiting_for_fiber())
    >>> [f.change for f in compare(now, now)] == ["persisting"] * len(now)
    True
    >>> {f.change for f in compare([], now)}
    {'resolved'}
    """
    earlier: dict[tuple[str, str], list[Finding]] = {}
    for f in baseline:
        earlier.setdefault(f.match_key, []).append(f)
    out: list[Finding] = []
    unmatched: list[Finding] = []
    for f in current:
        matches = earlier.get(f.match_key)
        if matches:
            matches.pop(0)
            out.append(replace(f, change="persisting"))
        else:
            unmatched.append(f)
    left = [f for group in earlier.values() for f in group]
    for f in unmatched:  # second pass: the same request seen through the ingress prefix or upstream
        twin = next((b for b in left if b.code == f.code and _same_request(b.subject, f.subject)), None)
        if twin is not None:
            left.remove(twin)
        out.append(replace(f, change="persisting" if twin is not None else "new"))
    out += [replace(f, change="resolved") for f in left]
    return sort(out)


def _same_request(a: str, b: str) -> bool:
    """``10.42.0.0 POST /focus-server/configure`` (ingress log) and ``10.42.0.0 POST /configure``
    (Focus log): the same words, but one path ends with the other."""
    *head_a, path_a = a.split(" ") if a else [""]
    *head_b, path_b = b.split(" ") if b else [""]
    if not head_a or head_a != head_b or not path_a.startswith("/") or not path_b.startswith("/"):
        return False
    return path_a.endswith(path_b) or path_b.endswith(path_a)


def dedupe(findings: Iterable[Finding]) -> list[Finding]:
    """Keep the first finding of each :attr:`Finding.key` (order preserved)."""
    seen: set[str] = set()
    out = []
    for finding in findings:
        if finding.key not in seen:
            seen.add(finding.key)
            out.append(finding)
    return out


TABLE_COLUMNS = ("severity", "code", "component", "subject", "summary", "first_seen", "last_seen", "runbook")


def table(findings: Sequence[Finding]) -> pd.DataFrame:
    """Findings as a DataFrame, worst first, with a fixed column order."""
    rows = [
        {
            "severity": str(f.severity), "code": str(f.code), "component": f.component, "subject": f.subject,
            "summary": f.summary, "first_seen": f.first_seen, "last_seen": f.last_seen, "runbook": f.runbook,
        }
        for f in sort(findings)
    ]
    df = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    for col in ("first_seen", "last_seen"):
        df[col] = pd.to_datetime(df[col], utc=True).dt.as_unit("ns")
    for col in ("severity", "code", "component", "subject", "summary", "runbook"):
        df[col] = df[col].astype("string")
    return df


def to_json(findings: Iterable[Finding]) -> list[dict[str, Any]]:
    """Findings as JSON-ready dicts, worst first (``panda-analysis diagnose --json``)."""
    return [f.to_dict() for f in sort(findings)]


def from_json(records: str | Iterable[Mapping[str, Any]]) -> list[Finding]:
    """Rebuild findings from :func:`to_json` output (a list of dicts or its JSON text)."""
    items = json.loads(records) if isinstance(records, str) else records
    out = []
    for r in items:
        out.append(
            Finding(
                code=Code(r["code"]), severity=Severity(r["severity"]), title=r.get("title", ""),
                summary=r.get("summary", ""), component=r.get("component", ""),
                first_seen=r.get("first_seen"), last_seen=r.get("last_seen"),
                evidence=tuple(Evidence(**e) for e in r.get("evidence", [])),
                next_steps=tuple(r.get("next_steps", [])), runbook=r.get("runbook", ""),
                subject=r.get("subject", ""), metrics=dict(r.get("metrics", {})), change=r.get("change", ""),
            )
        )
    return out
