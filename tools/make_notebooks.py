"""Generate the runbook notebooks in ``notebooks/`` from one declaration each.

The notebooks are thin scripts of ``pa.`` calls (STYLE "Notebook conventions"): a title
cell linking the runbook, a ``parameters`` cell of annotated literals with help comments
(papermill's ``--help-notebook`` shows them), a cell that validates the parameters and
loads the evidence, then sections that mirror the runbook. Writing them from here keeps
them uniform, keeps the threshold defaults equal to the rules' defaults (read from the
rule signatures), and makes the files deterministic: stable cell ids, no outputs, no
execution counts, kernelspec ``python3``.

Usage::

    python tools/make_notebooks.py           # (re)write notebooks/*.ipynb
    python tools/make_notebooks.py --check   # exit 1 if a committed notebook differs
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

import panda_analysis as pa
from panda_analysis.report import NOTEBOOKS

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "notebooks"

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}

COMMON = (
    ("bundle", "bundle directory, .tar.gz or sample:<name>"),
    ("since", 'ISO-8601 UTC or a duration before the bundle\'s created_at like "2h"; "" means from the start'),
    ("until", 'ISO-8601 UTC or a duration before the bundle\'s created_at like "30min"; "" means to the end'),
)

#: Help comments for the rule thresholds (the defaults come from the rule signatures).
THRESHOLD_HELP: dict[str, dict[str, str]] = {
    "fiber": {
        "link_window_s": "seconds of slack around the first and last rejection when counting /configure 503s",
    },
    "retry_storm": {
        "min_attempts": "fewest failing attempts (429, 5xx) in a run for a storm",
        "min_rate_per_min": "lowest rate over the run, attempts per minute, for a storm",
        "min_duration_s": "shortest run (first to last attempt), seconds",
        "max_gap_s": "a pause longer than this, seconds, ends a run",
        "critical_rate_per_s": "at or above this rate, attempts per second, the storm is critical",
    },
    "crashloop": {
        "min_restarts": "fewest restarts (restartCount) that make a finding",
        "recent_s": "a restart at most this many seconds before collection makes it critical",
        "dns_window_s": "for DNS causes, name a CoreDNS pod that started within this many seconds of the crashes",
    },
    "consumer": {
        "pod_within_s": "seconds from configure within which the job's pod should exist",
        "consumer_within_s": "seconds from configure within which the consumer should be ready",
    },
    "queues": {
        "min_snapshots": "snapshots of a queue needed to judge growth",
        "growth_min_messages": "growth of messages_ready (last minus first snapshot) that is a growing backlog",
        "orphan_min_age_s": "seconds a per-job / per-connection queue must have had no consumer to be orphaned",
        "ready_min_messages": "ready messages that, with no consumer in the last snapshot, make a backlog",
    },
    "alerts": {
        "window_s": "how long after the previous stage a line may come and still count, seconds",
        "skew_s": "clock skew tolerated between pods, seconds",
        "exchange": "RabbitMQ exchange alerts are published to",
    },
}


@dataclass(frozen=True)
class Cell:
    """One notebook cell: a stable id, its kind and its source."""

    id: str
    kind: str  # "markdown" or "code"
    source: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Family:
    """What varies between the family notebooks."""

    name: str
    rule: str  # pa.diagnose.<rule>
    question: str
    filter_param: tuple[str, str] | None  # (name, help) of the subject filter, or None
    findings_intro: str
    sections: tuple[Cell, ...] = field(default=())
    evidence_intro: str = (
        "The lines the findings quote, with `source:line_no` inside the bundle: open them to see the context."
    )


def _md(cell_id: str, *lines: str) -> Cell:
    return Cell(cell_id, "markdown", "\n".join(lines))


def _code(cell_id: str, *lines: str, tags: tuple[str, ...] = ()) -> Cell:
    return Cell(cell_id, "code", "\n".join(lines), tags)


def _rule(name: str) -> Callable[..., Any]:
    rule: Callable[..., Any] = getattr(pa.diagnose, name)
    return rule


def thresholds(rule: str) -> list[tuple[str, Any, str]]:
    """(name, default, help) of the rule's notebook thresholds, in signature order."""
    helps = THRESHOLD_HELP[rule]
    params = inspect.signature(_rule(rule)).parameters
    missing = set(helps) - set(params)
    if missing:
        msg = f"pa.diagnose.{rule} has no thresholds {sorted(missing)}; update THRESHOLD_HELP"
        raise SystemExit(msg)
    return [(name, params[name].default, helps[name]) for name in params if name in helps]


def _literal(value: Any) -> tuple[str, str]:
    """(annotation, Python literal) of a JSON-like default."""
    if isinstance(value, bool):
        return "bool", repr(value)
    if isinstance(value, int):
        return "int", repr(value)
    if isinstance(value, float):
        return "float", repr(value)
    if isinstance(value, str):
        return "str", json.dumps(value)
    msg = f"default {value!r} is not a JSON-like primitive"
    raise SystemExit(msg)


def _assign(name: str, value: Any, help_text: str) -> str:
    if "=" in help_text or "=" in str(value):
        # papermill's inspector skips any parameter line holding a second "="
        msg = f"parameter {name}: no '=' in its default or help comment, papermill would not show it"
        raise SystemExit(msg)
    annotation, literal = _literal(value)
    return f"{name}: {annotation} = {literal}  # {help_text}"


def parameters_cell(name: str, rule: str | None, filter_param: tuple[str, str] | None) -> Cell:
    """The ``parameters`` cell: common parameters, the rule's thresholds, the family filter."""
    defaults = {"bundle": f"sample:{NOTEBOOKS[name].sample}", "since": "", "until": ""}
    lines = [_assign(p, defaults[p], h) for p, h in COMMON]
    if rule is not None:
        lines += [_assign(p, d, h) for p, d, h in thresholds(rule)]
    if filter_param is not None:
        lines.append(_assign(filter_param[0], "", filter_param[1]))
    return _code("parameters", *lines, tags=("parameters",))


def _call(head: str, args: list[str]) -> list[str]:
    """``head(args)`` laid out as ruff format would (line length 120), one source line per item."""
    one_line = f"{head}({', '.join(args)})"
    if len(one_line) <= 120:
        return [one_line]
    inner = "    " + ", ".join(args)
    if len(inner) <= 120:
        return [f"{head}(", inner, ")"]
    return [f"{head}(", *(f"    {a}," for a in args), ")"]


def _kwargs(rule: str) -> list[str]:
    return [f"{p}={p}" for p, _, _ in thresholds(rule)]


def title_cell(name: str, question: str) -> Cell:
    info = NOTEBOOKS[name]
    page = info.runbook.removeprefix("runbooks/")
    return _md(
        "title",
        f"# {info.title}",
        "",
        question,
        "",
        f"Runbook: [{page}](../{info.runbook}) — symptoms, the kubectl / curl commands to confirm by hand,",
        "causes, remediation and escalation.",
        "",
        "Set the parameters in the next cell (or with `panda-analysis report BUNDLE --notebook "
        f"{name} -p NAME VALUE`); the defaults run on the embedded sample `{info.sample}`.",
    )


def family_notebook(fam: Family) -> list[Cell]:
    """Cells of a family notebook: title, parameters, load, evidence, findings, sections, quotes, next steps."""
    target = "findings" if fam.filter_param is None else "found"
    select = _call(f"{target} = pa.diagnose.{fam.rule}", ["frames", *_kwargs(fam.rule)])
    if fam.filter_param is not None:
        select.append(f"findings = pa.findings.select(found, about={fam.filter_param[0]})")
    codes = ", ".join(f"`{c}`" for c in NOTEBOOKS[fam.name].codes)
    return [
        title_cell(fam.name, fam.question),
        parameters_cell(fam.name, fam.rule, fam.filter_param),
        _code(
            "load",
            "import panda_analysis as pa",
            "",
            *_call("pa.report.check", [f"pa.diagnose.{fam.rule}", *_kwargs(fam.rule)]),
            "frames = pa.report.load(bundle, since=since, until=until)",
        ),
        _md(
            "evidence-md",
            "## Evidence",
            "",
            "What the bundle holds: one row per part with its files, rows, unparsed lines and time range.",
            "A part with no evidence cannot produce a finding — *no finding is not the same as healthy*.",
        ),
        _code("evidence", "pa.report.inventory(bundle)"),
        _md("findings-md", "## Findings", "", f"This notebook explains {codes}. {fam.findings_intro}"),
        _code(
            "findings",
            *select,
            "pa.report.findings_table(findings)",
        ),
        *fam.sections,
        _md("quotes-md", "## Quoted evidence", "", fam.evidence_intro),
        _code("quotes", "pa.report.evidence_table(findings)"),
        _md(
            "next-steps-md",
            "## Next steps",
            "",
            "Each finding's next steps, with the names from this bundle filled in, and its runbook section.",
        ),
        _code("next-steps", "pa.report.next_steps(findings)"),
    ]


FAMILIES: tuple[Family, ...] = (
    Family(
        name="fiber_metadata",
        rule="fiber",
        question=(
            "**Does the Focus Server have usable fiber metadata?** Without `prr`, `dx` and the fiber "
            "start / length from the interrogator every `POST /configure` fails with 503, while read-only "
            "endpoints (`/live_metadata`, `/channels`, `/sensors`) keep answering 200, so the system looks "
            "half alive."
        ),
        filter_param=None,
        findings_intro=(
            "`FIBER_WAITING`: `GET /live_metadata` answers 200 with placeholder values (`prr` / `dx` 0, "
            '`sw_version` "waiting for fiber"). `FIBER_METADATA_MISSING`: the Focus Server rejects '
            "`POST /configure` with `Missing required fiber metadata fields: prr`. The first explains the second."
        ),
        sections=(
            _md(
                "fiber-plot-md",
                "## Live metadata over time",
                "",
                "Top: `prr` and `dx` from each `GET /live_metadata` probe; ready metadata is positive "
                "(`prr` usually 2000), 0 or missing means *waiting for fiber*, and not-ready periods are "
                "shaded red (`number_of_channels` is **not** a readiness signal). Bottom: the `POST /configure` "
                "503s per minute, the clients' side of the same problem.",
            ),
            _code("fiber-plot", "pa.plot.fiber(frames)"),
            _md(
                "rates-md",
                "## Requests over time",
                "",
                "Requests per minute by route: `POST /configure` failing while the read-only endpoints "
                "(`/live_metadata`, `/channels`, `/sensors`) keep answering, so the system looks half alive.",
            ),
            _code("rates", "pa.plot.rates(frames)"),
        ),
    ),
    Family(
        name="retry_storm",
        rule="retry_storm",
        question=(
            "**Are clients repeating a failing request at a sustained high rate?** A retry storm is the "
            "echo, not the cause: it almost always has a root-cause sibling (`FIBER_METADATA_MISSING`, "
            "`FIBER_WAITING`, a crash loop). Stopping the clients costs nothing and removes the noise."
        ),
        filter_param=("client", 'only this client address or request (substring); "" means all'),
        findings_intro=(
            "One finding per client and request: how many failing attempts, the rate and period, the "
            "status codes and the distinct request configurations being retried."
        ),
        sections=(
            _md(
                "storm-plot-md",
                "## Request rate by status and route",
                "",
                "Requests per 10 s, stacked by status class and route; each storm's window is shaded and "
                "labelled with its client. A steady band of 503s on `POST /configure`, every 2-3 s for as "
                "long as the clients run, is the storm.",
            ),
            _code("storm-plot", "pa.plot.retry_storm(frames, findings=findings)"),
        ),
    ),
    Family(
        name="crashloop",
        rule="crashloop",
        question=(
            "**Why do containers restart?** A restart count that moved is evidence even when the pod is "
            "`Running` now (`4 (28h ago)`). The reason is in the **previous** container's log and in the "
            "container's `lastState`: DNS, database unreachable, OOM or something else."
        ),
        filter_param=("pod", 'only this pod (substring); "" means all'),
        findings_intro=(
            "One finding per restarted container, classified by the previous log's last lines and "
            "`lastState`: name resolution (`CRASHLOOP_DNS`), a database that resolves but does not answer "
            "(`CRASHLOOP_DB_UNREACHABLE`), `OOMKilled` / exit 137 (`CRASHLOOP_OOM`), anything else "
            "(`CRASHLOOP_OTHER`). Check `first_seen` / `last_seen`: an old crash loop can be a separate "
            "problem from today's outage."
        ),
        sections=(
            _md(
                "restarts-plot-md",
                "## Restart history per container",
                "",
                "One row per container that restarted: its last run, a red ✕ at the last termination "
                "(hover: reason, exit code, restarts so far), its `BackOff` / `Killing` / `Started` events and "
                "its current state. `kubectl logs --previous` keeps only the last crashed instance and events "
                "expire (about 1 h): this is what the bundle preserved.",
            ),
            _code("restarts-plot", "pa.plot.crashloop(frames, pod=pod or None)"),
        ),
    ),
    Family(
        name="consumer_delay",
        rule="consumer",
        question=(
            "**Did each configured job get its pod and a ready RabbitMQ consumer, and how long did each "
            "stage take?** Every `POST /configure` starts a chain: `job_id` returned → Kubernetes Job → pod "
            "`grpc-job-<job_id>-*` → Baby Analyzer container → queue `grpc-job-<job_id>` declared → "
            "consumer attached. Until the last stage `GET /metadata/<job_id>` answers 404 — expected for "
            "the first seconds, a problem only when it lasts."
        ),
        filter_param=("job_id", 'only this job id, e.g. "19-6" (substring); "" means all'),
        findings_intro=(
            "`POD_NOT_CREATED`: no pod appeared; `CONSUMER_NOT_CREATED`: the pod ran but no consumer became "
            "ready; `CONSUMER_SLOW`: the consumer became ready but configure → pod took more than "
            "`pod_within_s` or configure → consumer more than `consumer_within_s`. The summary names the "
            "slowest stage."
        ),
        sections=(
            _md(
                "stages-md",
                "## Stage timeline",
                "",
                "One row per job and stage that has evidence, in order: configure, Job created, pod created, "
                "scheduled, image pulled, container started, queue declared, consumer attached, metadata "
                "ready; `since_configure_s` is the time from configure, and the quoted line proves the stage. "
                "A good run (job `19-5`): pod at 2.5 s, consumer ready at 5.2 s.",
            ),
            _code("stages", "pa.diagnose.consumer_stages(frames, job_id=job_id)"),
            _md(
                "waterfall-md",
                "## Configure → consumer waterfall",
                "",
                "One bar per job, one segment per step, seconds since configure; dotted lines mark the "
                "thresholds (pod within `pod_within_s`, consumer within `consumer_within_s`). The long "
                "segment is where the time went; a hatched one only has an upper bound.",
            ),
            _code("waterfall", "pa.plot.consumer(frames, job_id=job_id or None)"),
        ),
    ),
    Family(
        name="queues",
        rule="queues",
        question=(
            "**Are RabbitMQ queues backing up, or living on without a consumer?** "
            "`prisma-210-1000-alerts` should always have a consumer and near-zero ready messages; a "
            "`grpc-job-<job_id>` queue should have one consumer while its job runs and go away with it. "
            "One snapshot shows a state; **two or more** show a trend."
        ),
        filter_param=("queue", 'only this queue (substring); "" means all'),
        findings_intro=(
            "`QUEUE_BACKLOG`: `messages_ready` grows between snapshots, or messages sit in a queue with no "
            "consumer. `QUEUE_ORPHANED`: a per-job / per-connection queue has had no consumer for longer "
            "than `orphan_min_age_s`."
        ),
        sections=(
            _md(
                "queues-plot-md",
                "## Queue depth and consumers over time",
                "",
                "Top: `messages_ready` (solid) and `messages_unacknowledged` (dotted) per queue at each "
                "management-API snapshot; bottom: consumers per queue. Rising depth, or messages with zero "
                "consumers, is a backlog; a `grpc-job-*` queue at zero consumers for long is orphaned.",
            ),
            _code("queues-plot", "pa.plot.queues(frames, queue=queue or None)"),
        ),
    ),
    Family(
        name="alert_trace",
        rule="alerts",
        question=(
            "**Where did an alert stop between ingress and the UI?** An alert passes seven stages: ingress "
            "accepted the push, the Focus Server received it and published it to RabbitMQ, RabbitMQ routed "
            "and delivered it, the analyzer processed it, MongoDB stored it, and the UI played the alert "
            "sound. **A 201 at the ingress does not prove delivery.**"
        ),
        filter_param=("alert_id", 'only this alert id, e.g. "test-sd-124" (substring); "" means all'),
        findings_intro="`ALERT_NOT_DELIVERED` names the stage where the alert stopped and the line that proves it.",
        sections=(
            _md(
                "trace-md",
                "## The alert's path through the pipeline",
                "",
                "The table: one row per alert and stage (ingress request, Focus received, Focus published, "
                "RabbitMQ published, consumed, analyzer, front-end sound, MongoDB), passed / failed / missing, "
                "with the line that proves it. The grid below: green passed, red failed, orange missing, "
                "grey no evidence of that kind in the bundle.",
            ),
            _code(
                "trace",
                "pa.diagnose.alert_trace(frames, window_s=window_s, skew_s=skew_s, exchange=exchange, alert_id=alert_id)",
            ),
            _code("trace-plot", "pa.plot.alerts(frames, alert_id=alert_id or None)"),
        ),
    ),
)


def overview_notebook() -> list[Cell]:
    """The scheduled incident report: every rule, worst first, on one time axis."""
    links = [
        f"- [{info.title}]({name}.ipynb) — runbook [{info.runbook.removeprefix('runbooks/')}](../{info.runbook}): "
        + ", ".join(f"`{c}`" for c in info.codes)
        for name, info in NOTEBOOKS.items()
        if name != "overview"
    ]
    return [
        title_cell(
            "overview",
            "**What went wrong in this evidence, worst first, and when?** Every diagnostic rule runs; each "
            "finding links its runbook section. Fix the root, not the echo: load you control first "
            "(`RETRY_STORM`), then the root cause of the failing requests (`FIBER_WAITING`), then restarts, "
            "jobs and queues, then alerts.",
        ),
        parameters_cell("overview", None, None),
        _code(
            "load",
            "import panda_analysis as pa",
            "",
            "frames = pa.report.load(bundle, since=since, until=until)",
        ),
        _md(
            "evidence-md",
            "## Evidence",
            "",
            "What the bundle holds: one row per part with its files, rows, unparsed lines and time range.",
            "A part with no evidence cannot produce a finding — *no finding is not the same as healthy*.",
        ),
        _code("evidence", "pa.report.inventory(bundle)"),
        _md(
            "findings-md",
            "## Findings",
            "",
            "All findings, worst first. Read each in this order: `summary` (one sentence with the numbers), "
            "the quoted evidence, the next steps, then the runbook section it links.",
        ),
        _code("findings", "findings = pa.diagnose.run(frames)", "pa.report.findings_table(findings)"),
        _md(
            "timeline-md",
            "## Timeline",
            "",
            "One time axis (UTC). Findings first, one row per code: a marker at `first_seen`, a line to "
            "`last_seen`, a shaded band over their time. Below, one row per component with the events behind "
            "them: Kubernetes events, restarts, log errors, 5xx bursts, live-metadata and queue changes. "
            "What came first is usually the root, what follows the echo.",
        ),
        _code("timeline", "pa.plot.timeline(frames, findings=findings)"),
        _md(
            "quotes-md",
            "## Quoted evidence",
            "",
            "The lines the findings quote, with `source:line_no` inside the bundle: open them to see the context.",
        ),
        _code("quotes", "pa.report.evidence_table(findings)"),
        _md(
            "next-steps-md",
            "## Next steps",
            "",
            "Each finding's next steps, with the names from this bundle filled in, and its runbook section.",
        ),
        _code("next-steps", "pa.report.next_steps(findings)"),
        _md(
            "families",
            "## Problem families",
            "",
            "One notebook per family goes deeper (plots, stage tables, family filters); "
            "`panda-analysis report BUNDLE --notebook all` runs them all.",
            "",
            *links,
            "",
            "Runbook index: [runbooks/README.md](../runbooks/README.md).",
        ),
    ]


def build(cells: list[Cell]) -> nbformat.NotebookNode:
    """A v4.5 notebook with stable ids, no outputs and the ``python3`` kernelspec."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    for cell in cells:
        if cell.kind == "markdown":
            node = nbformat.v4.new_markdown_cell(cell.source, id=cell.id)
        else:
            node = nbformat.v4.new_code_cell(cell.source, id=cell.id)
        if cell.tags:
            node.metadata["tags"] = list(cell.tags)
        nb.cells.append(node)
    nbformat.validate(nb)
    return nb


def notebooks() -> dict[str, str]:
    """Every notebook's file name → its JSON text, in ``report.NOTEBOOKS`` order."""
    cells = {"overview": overview_notebook(), **{f.name: family_notebook(f) for f in FAMILIES}}
    if set(cells) != set(NOTEBOOKS):
        msg = f"notebooks {sorted(cells)} do not match report.NOTEBOOKS {sorted(NOTEBOOKS)}"
        raise SystemExit(msg)
    return {f"{name}.ipynb": nbformat.writes(build(cells[name])) + "\n" for name in NOTEBOOKS}


def main(argv: list[str] | None = None) -> int:
    """Write the notebooks, or with ``--check`` report those that are stale (exit 1)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a committed notebook is not up to date")
    parser.add_argument("--out", type=Path, default=OUT, help="directory to write (default: notebooks/)")
    args = parser.parse_args(argv)
    stale = []
    for filename, text in notebooks().items():
        path = args.out / filename
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(filename)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if args.check:
        if stale:
            print(f"stale notebooks in {args.out}: {', '.join(stale)}; run: python tools/make_notebooks.py")
            return 1
        print(f"{len(NOTEBOOKS)} notebooks up to date in {args.out}")
        return 0
    print(
        f"wrote {len(stale)} of {len(NOTEBOOKS)} notebooks to {args.out}" + (f": {', '.join(stale)}" if stale else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
