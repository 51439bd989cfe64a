"""Findings as a ticket comment: Markdown for a git host, or Jira wiki markup.

What an on-call engineer pastes into the incident ticket: what was examined (the bundle,
the time range of its logs and probes, the evidence it lacks), then each finding worst first
with its one-line summary, two or three quoted evidence lines (``source:line_no``), the next
steps and a link to its runbook section. With a baseline (an earlier bundle) each finding is
marked new or persisting, and the findings that are gone are listed as resolved, so the
ticket shows whether a fix worked.

Examples
--------
>>> import panda_analysis as pa
>>> bundle = pa.load_bundle("sample:waiting_for_fiber")
>>> text = render(pa.diagnose.run(bundle), bundle=bundle, fmt="markdown")
>>> text.splitlines()[0]
'### panda-analysis: 2 critical, 3 warning in `sample:waiting_for_fiber`'
>>> "runbooks/fiber_metadata.md#waiting-for-fiber" in text
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from panda_analysis import _escape as escape
from panda_analysis.bundle import LISTINGS
from panda_analysis.findings import Finding, Severity, sort
from panda_analysis.schema import STATE_FRAMES

if TYPE_CHECKING:
    from panda_analysis.bundle import LISTINGS, Bundle

__all__ = ["FORMATS", "Examined", "examined", "render", "runbook_link"]

#: Output formats of :func:`render` (``diagnose --format``).
FORMATS = ("markdown", "jira")

#: The longest comment Jira accepts (characters).
JIRA_MAX_CHARS = 32767

#: Evidence lines quoted per finding, and the longest quoted line.
EVIDENCE_LINES = 3
EVIDENCE_CHARS = 240

#: How a missing part is named in the "gaps" line (parts that share files share a label).
PART_LABELS: dict[str, str] = {
    "ingress": "ingress-nginx logs",
    "ingress_messages": "ingress-nginx logs",
    "focus": "Focus Server logs",
    "rabbitmq_log": "RabbitMQ server logs",
    "analyzer": "analyzer (grpc-job) logs",
    "other_logs": "other pod logs",
    "pods": "pods (k8s/pods.json)",
    "restarts": "pods (k8s/pods.json)",
    "events": "events (k8s/events.json)",
    "jobs": "jobs (k8s/jobs.json)",
    "services": "services (k8s/services.json)",
    "endpoints": "endpoints (k8s/endpoints.json)",
    "pods_text": "kubectl get pods text",
    "live_metadata": "GET /live_metadata probes",
    "job_metadata": "GET /metadata/{job_id} probes",
    "queues": "RabbitMQ management snapshots",
    "consumers": "RabbitMQ management snapshots",
    "rabbitmq_overview": "RabbitMQ management snapshots",
    "mongo": "MongoDB export",
}


#: Rule family → what it checks and the parts whose rows it reads; a family that ran on
#: evidence and found nothing is reported as "checked, nothing wrong" (seed 002 asks to
#: show that RabbitMQ is not the problem).
CHECKS: dict[str, tuple[str, tuple[str, ...]]] = {
    "fiber": ("fiber metadata", ("live_metadata", "focus")),
    "retry_storm": ("client retry storms", ("ingress",)),
    "crashloop": ("pod restarts", ("restarts", "pods_text")),
    "consumer": ("consumer creation", ("jobs", "job_metadata", "analyzer")),
    "queues": ("RabbitMQ queues and consumers", ("queues", "rabbitmq_log")),
    "alerts": ("alert delivery", ("analyzer", "mongo")),
}


#: How rows of a part are counted in the "checked" line.
PART_UNITS: dict[str, tuple[str, str]] = {
    "ingress": ("ingress request", "ingress requests"),
    "focus": ("Focus Server log record", "Focus Server log records"),
    "rabbitmq_log": ("RabbitMQ server log line", "RabbitMQ server log lines"),
    "analyzer": ("analyzer log record", "analyzer log records"),
    "restarts": ("container restart history", "container restart histories"),
    "pods_text": ("kubectl get pods row", "kubectl get pods rows"),
    "live_metadata": ("GET /live_metadata probe", "GET /live_metadata probes"),
    "job_metadata": ("GET /metadata/{job_id} probe", "GET /metadata/{job_id} probes"),
    "jobs": ("Kubernetes job", "Kubernetes jobs"),
    "queues": ("queue sample from the management API", "queue samples from the management API"),
    "mongo": ("MongoDB document", "MongoDB documents"),
}


def _amount(part: str, n: int) -> str:
    one, many = PART_UNITS.get(part, (f"{part} row", f"{part} rows"))
    return f"{n} {one if n == 1 else many}"


@dataclass(frozen=True, slots=True)
class Examined:
    """What a diagnosis looked at: the bundle, its log/probe window and what it lacks."""

    origin: str
    created_at: str
    first: pd.Timestamp | None
    last: pd.Timestamp | None
    rows: int
    unparsed: int
    unparsed_sample: str
    missing: tuple[str, ...]
    unrecognised: int
    rows_by_part: tuple[tuple[str, int], ...] = ()

    def rows_of(self, part: str) -> int:
        """Rows parsed for ``part`` (0 when absent)."""
        return dict(self.rows_by_part).get(part, 0)


def examined(bundle: Bundle) -> Examined:
    """Summarise a bundle's inventory for a ticket.

    The time range covers logs, probes, events and snapshots (not creation times of pods or
    services, which can be weeks old); ``missing`` names each absent kind of evidence once.
    """
    inv = bundle.inventory()
    parts = inv[~inv["part"].isin(LISTINGS)]
    present = parts[parts["present"].fillna(False).astype(bool)]
    timed = present[~present["part"].isin(STATE_FRAMES)]
    first = timed["first_ts"].dropna().min() if len(timed) else None
    last = timed["last_ts"].dropna().max() if len(timed) else None
    have = {PART_LABELS.get(p, p) for p in present["part"]}
    missing = tuple(dict.fromkeys(PART_LABELS.get(p, p) for p in parts.loc[~parts.index.isin(present.index), "part"]))
    samples = [s for s in parts["unparsed_sample"] if s]
    strays = inv.loc[inv["part"] == "unrecognised", "files"]
    return Examined(
        origin=bundle.origin,
        created_at=str(bundle.manifest.get("created_at") or "unknown"),
        first=None if first is None or pd.isna(first) else pd.Timestamp(first),
        last=None if last is None or pd.isna(last) else pd.Timestamp(last),
        rows=int(present["rows"].sum()),
        unparsed=int(parts["unparsed"].sum()),
        unparsed_sample=samples[0] if samples else "",
        missing=tuple(m for m in missing if m not in have),
        unrecognised=int(strays.iloc[0]) if len(strays) else 0,
        rows_by_part=tuple((str(p), int(r)) for p, r in zip(present["part"], present["rows"], strict=True)),
    )


def runbook_link(finding: Finding, base: str | None = None) -> str:
    """The finding's runbook section: relative to the repository, or under ``base``
    (``https://git.example.com/group/panda-analysis/-/blob/main`` → ``…/main/runbooks/x.md#y``)."""
    if not base:
        return finding.runbook
    return f"{base.rstrip('/')}/{finding.runbook.lstrip('/')}"


# ------------------------------------------------------------------ text helpers


def _when(ts: pd.Timestamp | None) -> str:
    return "?" if ts is None else ts.strftime("%Y-%m-%d %H:%M:%S")


def _created(text: str) -> str:
    try:
        ts = pd.Timestamp(text)
    except ValueError:
        return text
    if ts is pd.NaT:
        return text
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return f"{_when(ts)} UTC"


def _span(first: pd.Timestamp | None, last: pd.Timestamp | None) -> str:
    if first is None and last is None:
        return "no timestamps"
    if first is not None and last is not None and first.date() == last.date():
        return f"{_when(first)} to {last.strftime('%H:%M:%S')} UTC"
    return f"{_when(first)} to {_when(last)} UTC"


def _quote(finding: Finding) -> list[str]:
    lines = []
    for e in finding.evidence[:EVIDENCE_LINES]:
        text = " ".join(e.text.split())
        if len(text) > EVIDENCE_CHARS:
            text = text[: EVIDENCE_CHARS - 1] + "…"
        lines.append(f"{e.where}  {text}")
    return lines


def _counts(found: Sequence[Finding]) -> str:
    parts = [f"{sum(f.severity == s for f in found)} {s.value}" for s in Severity]
    shown = [p for p in parts if not p.startswith("0 ")]
    return ", ".join(shown) if shown else "no findings"


def _changes(found: Sequence[Finding]) -> str:
    counts = {c: sum(f.change == c for f in found) for c in ("new", "persisting", "resolved")}
    return ", ".join(f"{n} {c}" for c, n in counts.items())


class _Markup:
    """One output language: how to write headings, code, links, lists and plain text.

    Every piece of text from evidence goes through :meth:`text`, :meth:`code`, :meth:`prose`,
    :meth:`block` or a table cell, which escape it with :mod:`panda_analysis._escape` (issue
    #11): line breaks and markup anywhere in a string are neutralised, controls shown.
    """

    def heading(self, level: int, text: str) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def text(self, raw: str) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def code(self, raw: str) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def block(self, lines: Sequence[str]) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def link(self, label: str, url: str) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def bold(self, raw: str) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def numbered(self, items: Sequence[str]) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def table(self, header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def tag(self, word: str) -> str:
        """``[WORD]`` as plain text (a link in Jira unless escaped; inert in Markdown without a definition)."""
        return f"[{word}]"

    def prose(self, raw: str) -> str:
        """Summary text written by the rules: `code spans` become code, the rest is escaped."""
        return escape.prose(raw, plain=self.text, code=self.code)


class _Markdown(_Markup):
    """GitHub / GitLab flavoured Markdown, escaped only where a character would act as markup
    (``prr > 0`` and ``job_id`` stay readable in the source)."""

    def heading(self, level: int, text: str) -> str:
        return f"{'#' * level} {text}"

    def text(self, raw: str) -> str:
        return escape.markdown(raw)

    def code(self, raw: str) -> str:
        return escape.markdown_code(raw)

    def block(self, lines: Sequence[str]) -> list[str]:
        return escape.markdown_fence(lines)

    def link(self, label: str, url: str) -> str:
        return f"[{self.text(label)}]({escape.href(url)})"

    def bold(self, raw: str) -> str:
        return f"**{raw}**"

    def numbered(self, items: Sequence[str]) -> list[str]:
        return [f"{i}. {item}" for i, item in enumerate(items, start=1)]

    def table(self, header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
        """A GFM table of rendered cells (``|`` in a cell escaped, so every row stays one row)."""
        out = [f"| {' | '.join(header)} |", f"|{'|'.join('---' for _ in header)}|"]
        out += [f"| {' | '.join(escape.markdown_cell(c) for c in row)} |" for row in rows]
        return out


class _Jira(_Markup):
    """Jira wiki markup (Jira Server / Data Center, and Cloud's wiki renderer)."""

    def heading(self, level: int, text: str) -> str:
        return f"h{level}. {text}"

    def text(self, raw: str) -> str:
        return escape.jira(raw)

    def code(self, raw: str) -> str:
        return escape.jira_code(raw)

    def block(self, lines: Sequence[str]) -> list[str]:
        return escape.jira_block(lines)

    def link(self, label: str, url: str) -> str:
        return f"[{self.text(label)}|{escape.href(url)}]"

    def tag(self, word: str) -> str:
        return self.text(f"[{word}]")

    def bold(self, raw: str) -> str:
        return f"*{raw}*"

    def numbered(self, items: Sequence[str]) -> list[str]:
        return [f"# {item}" for item in items]

    def table(self, header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
        """A Jira table of rendered cells (their ``|`` already escaped by :meth:`text` / :meth:`code`)."""
        out = ["||" + "||".join(header) + "||"]
        out += ["|" + "|".join(escape.jira_cell(cell) for cell in row) + "|" for row in rows]
        return out


_MARKUPS: dict[str, type[_Markup]] = {"markdown": _Markdown, "jira": _Jira}


def _checked(found: Sequence[Finding], seen: Examined, ran: Sequence[str]) -> list[str]:
    from panda_analysis.diagnose import RULES

    flagged = {f.code for f in found if f.change != "resolved" and f.severity != Severity.INFO}
    out = []
    for family in ran:
        what, parts = CHECKS.get(family, (family, ()))
        codes = RULES[family][1] if family in RULES else frozenset()
        read = [p for p in parts if seen.rows_of(p)]
        if read and not (codes & flagged):
            out.append(f"{what} ({', '.join(_amount(p, seen.rows_of(p)) for p in read)})")
    return out


def _header(
    m: _Markup, found: Sequence[Finding], seen: Examined, baseline: Examined | None, ran: Sequence[str]
) -> list[str]:
    current = [f for f in found if f.change != "resolved"]
    lines = [m.heading(3, f"panda-analysis: {_counts(current)} in {m.code(seen.origin)}"), ""]
    lines.append(
        f"{m.bold('Examined:')} bundle {m.code(seen.origin)} (collected {m.text(_created(seen.created_at))}); logs and probes "
        f"from {m.text(_span(seen.first, seen.last))}; {seen.rows} rows parsed, {seen.unparsed} lines unparsed."
    )
    gaps = [f"no {m.text(label)}" for label in seen.missing]
    if seen.unparsed:
        gaps.append(f"{seen.unparsed} lines could not be parsed (first: {m.code(seen.unparsed_sample[:160])})")
    if seen.unrecognised:
        gaps.append(f"{seen.unrecognised} files in the bundle are not read by any parser")
    if gaps:
        lines += ["", f"{m.bold('Gaps:')} {'; '.join(gaps)}."]
    healthy = _checked(found, seen, ran)
    if healthy:
        lines += ["", f"{m.bold('Checked, nothing wrong:')} {m.text('; '.join(healthy))}."]
    if baseline is not None:
        lines += [
            "",
            f"{m.bold('Compared with')} {m.code(baseline.origin)} (collected {m.text(_created(baseline.created_at))}): "
            f"{_changes(found)}.",
        ]
    if current:
        rows = [
            [str(i), f.severity.value.upper(), m.code(str(f.code)), m.text(f.subject or f.component), _when(f.first_seen)]
            + ([f.change] if baseline is not None else [])
            for i, f in enumerate(current, start=1)
        ]
        header = ["#", "severity", "code", "about", "first seen (UTC)"] + (["change"] if baseline is not None else [])
        lines += ["", *m.table(header, rows)]
    else:
        lines += ["", "No findings: nothing wrong in this evidence."]
    return lines


def _finding(m: _Markup, number: int, f: Finding, *, runbook_url: str | None) -> list[str]:
    change = f" {m.tag(f.change.upper())}" if f.change else ""
    title = f"{number}. {f.severity.value.upper()} {m.code(str(f.code))} {m.text(f.title)}{change}"
    lines = ["", m.heading(4, title), "", m.prose(f.summary), ""]
    about = f"{m.text(f.component)}{' / ' + m.code(f.subject) if f.subject else ''}"
    lines.append(f"{about}; first seen {_when(f.first_seen)}, last seen {_when(f.last_seen)} UTC.")
    quoted = _quote(f)
    if quoted:
        lines += ["", *m.block(quoted)]
    if f.next_steps:
        lines += ["", m.bold("Next steps"), "", *m.numbered([m.prose(s) for s in f.next_steps])]
    link = runbook_link(f, runbook_url)
    lines += ["", f"{m.bold('Runbook:')} {m.link(f.runbook, link)}"]
    return lines


def _resolved(m: _Markup, gone: Sequence[Finding], *, runbook_url: str | None) -> list[str]:
    if not gone:
        return []
    lines = ["", m.heading(4, "Resolved since the baseline"), ""]
    items = [
        f"{f.severity.value} {m.code(str(f.code))} {m.text(f.title)} ({m.text(f.subject or f.component)}), "
        f"last seen {_when(f.last_seen)} UTC in the baseline; {m.link('runbook', runbook_link(f, runbook_url))}"
        for f in gone
    ]
    return lines + [("* " if isinstance(m, _Jira) else "- ") + item for item in items]


def render(
    findings: Sequence[Finding],
    *,
    bundle: Bundle | Examined,
    fmt: str = "markdown",
    runbook_url: str | None = None,
    baseline: Bundle | Examined | None = None,
    ran: Sequence[str] | None = None,
    max_details: int | None = None,
    version: str | None = None,
) -> str:
    """A ticket comment for ``findings`` of ``bundle``.

    Parameters
    ----------
    findings
        From :func:`panda_analysis.diagnose.run`, or from :func:`panda_analysis.findings.compare`
        (then each carries ``change`` and the resolved ones are listed last).
    bundle
        The bundle diagnosed (or its :func:`examined` summary).
    fmt
        ``markdown`` (renders on GitHub / GitLab) or ``jira`` (Jira wiki markup).
    runbook_url
        Base URL for runbook links (a wiki or a git host's file view); without it, links are
        paths relative to the repository root.
    baseline
        The earlier bundle the findings were compared with, named in the header.
    ran
        The rule families that ran (default: all of ``panda_analysis.diagnose.RULES``); those
        that read evidence and found nothing are listed as checked.
    max_details
        Write out only the first (worst) this many findings in full; the table still lists
        every one (``None``: all). Jira refuses comments over 32,767 characters.
    version
        The panda-analysis version for the footer (default: the installed one).

    Returns
    -------
    str
        The comment, ending with a newline.

    Raises
    ------
    ValueError
        For an unknown ``fmt``.
    """
    if fmt not in _MARKUPS:
        msg = f"format {fmt!r}: use one of {', '.join(FORMATS)}"
        raise ValueError(msg)
    m = _MARKUPS[fmt]()
    seen = bundle if isinstance(bundle, Examined) else examined(bundle)
    before = baseline if isinstance(baseline, Examined) or baseline is None else examined(baseline)
    ordered = sort(findings)
    if ran is None:
        from panda_analysis.diagnose import RULES

        ran = list(RULES)
    lines = _header(m, ordered, seen, before, ran)
    current = [f for f in ordered if f.change != "resolved"]
    shown = current if max_details is None else current[: max(0, max_details)]
    for number, f in enumerate(shown, start=1):
        lines += _finding(m, number, f, runbook_url=runbook_url)
    if len(shown) < len(current):
        rest = len(current) - len(shown)
        lines += [
            "",
            m.text(
                f"Details of the other {rest} finding{'s' if rest > 1 else ''} (#{len(shown) + 1}-{len(current)} in the table) "
                f"are left out to keep the comment short: see the report, or run the command below with a higher --max-details."
            ),
        ]
    lines += _resolved(m, [f for f in ordered if f.change == "resolved"], runbook_url=runbook_url)
    lines += ["", _footer(m, seen, version, fmt=fmt, baseline=before)]
    return "\n".join(lines).rstrip() + "\n"


def _footer(m: _Markup, seen: Examined, version: str | None, *, fmt: str, baseline: Examined | None) -> str:
    if version is None:
        from panda_analysis import __version__ as version
    against = f" --baseline {baseline.origin}" if baseline is not None else ""
    command = f"panda-analysis diagnose {seen.origin}{against} --format {fmt}"
    text = f"Generated by panda-analysis {version}: {m.code(command)}"
    return f"_{text}_"  # italic in both languages
