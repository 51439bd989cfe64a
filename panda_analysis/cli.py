"""The ``panda-analysis`` command (thin over the library).

Exit status (also 130 after Ctrl-C, 143 after SIGTERM, 129 after SIGHUP, each after an
orderly stop): 0 success, 1 critical findings (``diagnose``, ``report``), 2 usage, bundle or
parameter error, or a bundle with no evidence at all, 3 a check failed: a rule or parser
raised (``ANALYSIS_ERROR``), a report notebook failed (its partial notebook and HTML are
kept), or the tool itself crashed.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import logging
import re
import shutil
import sys
import textwrap
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from panda_analysis import _procs, diagnose, report, samples, ticket
from panda_analysis import findings as fnd
from panda_analysis._escape import terminal
from panda_analysis.bundle import LISTINGS, Bundle, load_bundle
from panda_analysis.errors import PandaAnalysisError
from panda_analysis.findings import Code, Finding, Severity

__all__ = ["main"]

log = logging.getLogger("panda_analysis.cli")

#: Columns whose top values summarise a frame (``inventory --tables``).
SUMMARY_COLUMNS: dict[str, tuple[str, ...]] = {
    "ingress": ("status", "route", "remote_addr"),
    "ingress_messages": ("kind", "level"),
    "focus": ("level", "kind", "status", "exception_type", "config_id"),
    "rabbitmq_log": ("level",),
    "analyzer": ("event", "job_id"),
    "other_logs": ("pod",),
    "pods": ("phase", "app"),
    "restarts": ("container", "last_reason", "waiting_reason"),
    "events": ("reason", "type"),
    "jobs": ("condition",),
    "services": ("type",),
    "endpoints": ("service",),
    "pods_text": ("status",),
    "live_metadata": ("sw_version", "prr", "status"),
    "job_metadata": ("job_id", "status"),
    "queues": ("queue",),
    "consumers": ("queue",),
    "rabbitmq_overview": ("rabbitmq_version",),
    "mongo": ("collection",),
}


def _fmt_ts(value: object) -> str:
    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return "-"
    return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M:%S")


def _print_inventory(bundle: Bundle, *, out: TextIO) -> None:
    inv = bundle.inventory()
    created = bundle.manifest.get("created_at", "unknown")
    # evidence text (names, samples, manifest values) never reaches the terminal raw (issue #11)
    print(f"Bundle {terminal(bundle.origin)}  (format {terminal(bundle.format)}, created {terminal(created)})", file=out)
    header = f"{'part':<18} {'files':>5} {'rows':>7} {'unparsed':>8}  {'first (UTC)':<19}  {'last (UTC)':<19}"
    print(header, file=out)
    print("-" * len(header), file=out)
    for row in inv.itertuples(index=False):
        if row.part in LISTINGS and not row.files:
            continue
        rows = "-" if not row.present else str(row.rows)
        line = (
            f"{terminal(row.part):<18} {row.files:>5} {rows:>7} {row.unparsed:>8}  "
            f"{_fmt_ts(row.first_ts):<19}  {_fmt_ts(row.last_ts):<19}"
        )
        if not row.present:
            line += "  (no evidence)"
        print(line, file=out)
    bad = inv[inv["unparsed"] > 0]
    for row in bad.itertuples(index=False):
        print(f"  unparsed in {terminal(row.part)}: {row.unparsed} line(s) or value(s), e.g. {terminal(row.unparsed_sample)}", file=out)
    strays = inv[(inv["part"] == "unrecognised") & (inv["files"] > 0)]
    for row in strays.itertuples(index=False):
        print(f"  {row.files} file(s) no parser reads, e.g. {terminal(row.unparsed_sample)}", file=out)
    refused = inv[(inv["part"] == "refused") & (inv["files"] > 0)]
    for row in refused.itertuples(index=False):
        print(
            f"  {row.files} entr{'y' if row.files == 1 else 'ies'} refused (never read), e.g. {terminal(row.unparsed_sample)}",
            file=out,
        )


def _print_tables(bundle: Bundle, *, out: TextIO) -> None:
    for name, df in bundle.frames().items():
        if df.empty:
            continue
        print(f"\n== {name}: {len(df)} rows, {_fmt_ts(df['ts'].min())} .. {_fmt_ts(df['ts'].max())} UTC", file=out)
        for column in SUMMARY_COLUMNS.get(name, ()):
            counts = df[column].value_counts(dropna=True)
            if counts.empty:
                continue
            top = ", ".join(f"{terminal(value)} ×{count}" for value, count in counts.head(5).items())
            more = f" (+{len(counts) - 5} more)" if len(counts) > 5 else ""
            print(f"   {column}: {top}{more}", file=out)


# characters json.dumps leaves raw that a terminal acts on (C1 controls, bidi, line separators)
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def _json_text(obj: Any) -> str:
    r"""Indented JSON, UTF-8 text kept, with the characters a terminal would act on ``\u``-escaped.

    (``json.dumps`` escapes C0 controls itself; the result is the same JSON value.)

    >>> _json_text(["\u202eevil\x9b2J"])
    '[\n  "\\u202eevil\\u009b2J"\n]'
    """
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m[0]):04x}", json.dumps(obj, indent=2, ensure_ascii=False))


#: Exit status when a check failed (ANALYSIS_ERROR, a failed notebook, a crash).
EXIT_CHECK_FAILED = 3


def _no_evidence(bundle: Bundle) -> str | None:
    """The error to print when ``bundle`` holds no evidence at all (else None)."""
    if bundle.has_evidence():
        return None
    files = bundle.files()
    refused = bundle.refused()
    what = (
        f"its {len(files)} file(s) are empty or none of them is evidence this tool reads (e.g. {files[0]})"
        if files else "it holds no evidence files"
    )
    if refused:
        what += f"; {len(refused)} entr{'y was' if len(refused) == 1 else 'ies were'} refused (e.g. {refused[0][0]}: {refused[0][1]})"
    return (
        f"no evidence in {bundle.origin}: {what}. Nothing was diagnosed, so this is not a healthy result; "
        "see `panda-analysis inventory` and the bundle layout in runbooks/README.md"
    )


def _failed_checks(found: list[Finding]) -> list[Finding]:
    """The ANALYSIS_ERROR findings, each also said on stderr."""
    failed = [f for f in found if f.code == Code.ANALYSIS_ERROR and f.change != "resolved"]
    for f in failed:
        print(f"panda-analysis: error: {terminal(f.summary)}", file=sys.stderr)
    return failed


def _cmd_inventory(args: argparse.Namespace) -> int:
    bundle = load_bundle(args.bundle)
    if args.json:
        inv = bundle.inventory()
        records = json.loads(inv.to_json(orient="records", date_format="iso", date_unit="ns"))
        print(_json_text(records))
    else:
        _print_inventory(bundle, out=sys.stdout)
        if args.tables:
            _print_tables(bundle, out=sys.stdout)
    problem = _no_evidence(bundle)
    if problem:
        print(f"panda-analysis: error: {terminal(problem)}", file=sys.stderr)
        return 2
    return 0


def _inventory_line(bundle: Bundle) -> str:
    """One line: what evidence there is, how much did not parse, what is missing."""
    inv = bundle.inventory()
    listing = inv["part"].isin(LISTINGS)
    present = inv[inv["present"].fillna(False).astype(bool) & ~listing]
    absent = inv[~inv["present"].fillna(False).astype(bool) & ~listing]
    rows = int(present["rows"].sum())
    unparsed = int(inv["unparsed"].sum())
    first = present["first_ts"].min()
    last = present["last_ts"].max()
    span = f"{_fmt_ts(first)} .. {_fmt_ts(last)} UTC" if len(present) else "no timestamps"
    text = (
        f"Evidence: {len(present)} parts, {int(present['files'].sum())} files, {rows} rows, "
        f"{unparsed} unparsed lines; {span}"
    )
    if len(absent):
        text += f"; no evidence for {', '.join(absent['part'])}"
    strays = inv.loc[inv["part"] == "unrecognised", "files"].iloc[0]
    if strays:
        text += f"; {strays} unrecognised files"
    refused = inv.loc[inv["part"] == "refused", "files"].iloc[0]
    if refused:
        text += f"; {refused} refused (links out of the bundle or special files, never read)"
    return text


_COLOURS = {Severity.CRITICAL: "\033[1;31m", Severity.WARNING: "\033[1;33m", Severity.INFO: "\033[36m"}


def _print_findings(found: list[Finding], *, out: TextIO, colour: bool, runbook_url: str | None = None) -> None:
    width = max(60, min(shutil.get_terminal_size((110, 24)).columns, 140))
    wrap = textwrap.TextWrapper(width=width, initial_indent="    ", subsequent_indent="    ")
    if not found:
        print("No findings: nothing wrong in this evidence.", file=out)
        return
    current = [f for f in found if f.change != "resolved"]
    counts = {s: sum(f.severity == s for f in current) for s in Severity}
    print(
        f"{len(current)} finding{'' if len(current) == 1 else 's'}: {counts[Severity.CRITICAL]} critical, {counts[Severity.WARNING]} warning, "
        f"{counts[Severity.INFO]} info (worst first)",
        file=out,
    )
    if any(f.change for f in found):
        changes = {c: sum(f.change == c for f in found) for c in fnd.CHANGES}
        print("against the baseline: " + ", ".join(f"{n} {c}" for c, n in changes.items()), file=out)
    for f in found:
        sev = f.severity.value.upper()
        if colour:
            sev = f"{_COLOURS[f.severity]}{sev}\033[0m"
        when = f"{_fmt_ts(f.first_seen)} .. {_fmt_ts(f.last_seen)} UTC"
        change = f"[{f.change.upper()}] " if f.change else ""
        # every text from evidence through terminal(): no escape sequence, CR or bidi override acts (issue #11)
        about = terminal(f.component) + (f" [{terminal(f.subject)}]" if f.subject else "")
        print(f"\n{change}{sev} {f.code}  {about}  {when}", file=out)
        print(wrap.fill(terminal(f.summary)), file=out)
        for e in f.evidence[:3]:
            where = terminal(e.where)
            room = max(80, width - 8 - len(where))
            text = terminal(" ".join(e.text.split()))
            print(f"    > {where}: {text if len(text) <= room else text[: room - 1] + '…'}", file=out)
        for i, step in enumerate(f.next_steps, start=1):
            print(textwrap.fill(terminal(step), width=width, initial_indent=f"    {i}. ", subsequent_indent="       "), file=out)
        print(f"    runbook: {terminal(ticket.runbook_link(f, runbook_url))}", file=out)


def _cmd_diagnose(args: argparse.Namespace) -> int:
    fmt = "json" if args.json else args.format
    bundle = load_bundle(args.bundle)
    earlier = load_bundle(args.baseline) if args.baseline else None
    for opened in (bundle, earlier):
        problem = _no_evidence(opened) if opened is not None else None
        if problem:
            print(f"panda-analysis: error: {terminal(problem)}", file=sys.stderr)
            return 2
    try:
        found = diagnose.run(bundle, only=args.only, since=args.since, until=args.until)
    except ValueError as err:
        print(f"panda-analysis: error: {err}", file=sys.stderr)
        return 2
    if earlier is not None:
        found = fnd.compare(found, diagnose.run(earlier, only=args.only))
    ran = [name for name, (_, codes) in diagnose.RULES.items() if not args.only or codes & set(args.only)]
    if fmt == "json":
        print(_json_text(fnd.to_json(found)))
    elif fmt in ticket.FORMATS:
        text = ticket.render(
            found, bundle=bundle, fmt=fmt, runbook_url=args.runbook_url, baseline=earlier, ran=ran,
            max_details=args.max_details,
        )
        sys.stdout.write(text)
        if fmt == "jira" and len(text) > ticket.JIRA_MAX_CHARS:
            print(
                f"panda-analysis: warning: the comment is {len(text)} characters, more than Jira accepts "
                f"({ticket.JIRA_MAX_CHARS}); use a smaller --max-details (now {args.max_details})",
                file=sys.stderr,
            )
    else:
        print(f"Bundle {terminal(bundle.origin)}  (created {terminal(bundle.manifest.get('created_at', 'unknown'))})")
        if earlier is not None:
            print(f"Baseline {terminal(earlier.origin)}  (created {terminal(earlier.manifest.get('created_at', 'unknown'))})")
        print(terminal(_inventory_line(bundle)))
        print()
        colour = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
        _print_findings(found, out=sys.stdout, colour=colour, runbook_url=args.runbook_url)
    if _failed_checks(found):
        return EXIT_CHECK_FAILED
    current = [f for f in found if f.change != "resolved"]
    return 1 if any(f.severity == Severity.CRITICAL for f in current) else 0


def _cmd_collect(args: argparse.Namespace) -> int:
    from panda_analysis import collect
    from panda_analysis._time import parse_duration

    try:
        interval_s = parse_duration(args.interval).total_seconds()
        if args.since:
            parse_duration(args.since)
    except ValueError as err:
        print(f"panda-analysis: error: {err}", file=sys.stderr)
        return 2
    if args.samples < 1 or args.samples > 100:
        print("panda-analysis: error: --samples must be between 1 and 100", file=sys.stderr)
        return 2
    namespaces = args.namespace or ["panda", "kube-system"]
    started = time.monotonic()
    summary = collect.bundle(
        args.out,
        namespaces=namespaces,
        context=args.context,
        kubeconfig=args.kubeconfig,
        since=args.since or None,
        focus_url=args.focus_url,
        insecure=args.insecure,
        rabbitmq_url=args.rabbitmq_url,
        mongo_uri=args.mongo_uri,
        samples=args.samples,
        interval_s=interval_s,
        kubernetes=not args.no_kube,
        on_progress=lambda text: print(f"[{time.monotonic() - started:6.1f}s] {text}", file=sys.stderr, flush=True),
    )
    print(f"Bundle written to {Path(args.out).resolve()}")
    for name in summary.collected:
        print(f"  collected  {name}")
    for text in summary.failed:
        print(f"  FAILED     {text}")
    for text in summary.skipped:
        print(f"  skipped    {text}")
    if not summary.collected:
        print("Nothing could be collected; see the failures above.", file=sys.stderr)
        return 2
    print(f"Next: panda-analysis diagnose {args.out}")
    return 0 if summary.ok else 1


def _cmd_probe_consumer(args: argparse.Namespace) -> int:
    from panda_analysis import probe
    from panda_analysis._time import parse_duration
    from panda_analysis.bundle import BundleWriter

    try:
        deadline_s = parse_duration(args.deadline).total_seconds()
        interval_s = parse_duration(args.interval).total_seconds()
        configuration = json.loads(args.configuration) if args.configuration else None
    except (ValueError, json.JSONDecodeError) as err:
        print(f"panda-analysis: error: {err}", file=sys.stderr)
        return 2
    common = {
        "focus_url": args.focus_url, "configuration": configuration, "deadline_s": deadline_s,
        "poll_interval_s": interval_s, "verify": not args.insecure,
    }
    try:
        if not args.yes:
            result = probe.consumer_probe(None, yes=False, **common)
            print("Dry run: nothing was configured. With --yes the probe would:")
            print(result.plan or "")
            return 0
        out = args.out or f"probe-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.tar.gz"
        with BundleWriter(out, manifest={"source": "panda-analysis probe consumer"}, redact=True) as writer:
            result = probe.consumer_probe(writer, yes=True, **common)
    except probe.ProbeRefused as err:
        print(f"panda-analysis: probe refused: {err.reason}", file=sys.stderr)
        return 2
    print(f"Probe {result.status}: job {result.job_id or '-'}; configure {result.configure_s} s; "
          f"ready {result.ready_s if result.ready_s is not None else 'not by the deadline'} s; {result.polls} polls")
    print(f"Bundle written to {Path(out).resolve()}")
    print(f"Next: panda-analysis diagnose {out} --only POD_NOT_CREATED CONSUMER_NOT_CREATED CONSUMER_SLOW")
    return 0 if result.status == "ready" else 1


def _code(text: str) -> Code:
    try:
        return Code(text.upper())
    except ValueError:
        msg = f"unknown finding code {text!r}; codes are: {', '.join(c.value for c in Code)}"
        raise argparse.ArgumentTypeError(msg) from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        msg = f"{text!r} is not a positive whole number"
        raise argparse.ArgumentTypeError(msg)
    return value


def _cmd_samples(args: argparse.Namespace) -> int:
    for name in samples.names():
        doc = (getattr(samples, name).__doc__ or "").strip().splitlines()[0]
        print(f"sample:{name:<20} {doc}")
    return 0


def _param_value(text: str) -> Any:
    """A ``-p NAME VALUE`` value: JSON when it parses (numbers, true/false, lists), else the text."""
    python_words = {"True": True, "False": False, "None": None}
    if text in python_words:  # as papermill's -p reads them
        return python_words[text]
    try:
        return json.loads(text)
    except ValueError:
        return text


def _default_out(bundle: str) -> Path:
    name = bundle.removeprefix("sample:").rstrip("/\\")
    name = Path(name).name.removesuffix(".tar.gz").removesuffix(".tgz") or "bundle"
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path("reports") / f"{name}-{stamp}"


def _cmd_report(args: argparse.Namespace) -> int:
    parameters = {name: _param_value(value) for name, value in args.parameter}
    if args.keep is not None and not args.dated:
        print("panda-analysis: error: --keep needs --dated (it prunes dated runs under --out)", file=sys.stderr)
        return 2
    opened = load_bundle(args.bundle)  # once: the run parses this opening (a .tar.gz is unpacked once)
    problem = _no_evidence(opened)
    if problem:
        print(f"panda-analysis: error: {terminal(problem)}", file=sys.stderr)
        return 2
    if args.dated:
        base = Path(args.out or "reports")
        out_dir = report.dated_dir(base)
    else:
        out_dir = Path(args.out) if args.out else _default_out(args.bundle)

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    results = report._run_many(
        args.bundle, out_dir=out_dir, notebooks=args.notebook or "all", parameters=parameters,
        progress=sys.stderr.isatty(), on_progress=progress, timeout_s=args.timeout, jobs=args.jobs,
        opened=opened,
    )
    found = fnd.from_json((out_dir / "findings.json").read_text(encoding="utf-8"))
    print(f"Report written to {out_dir.resolve()}")
    width = max(len(r.html.stem) for r in results)
    print(f"  {'index':<{width}}  {(out_dir / 'index.html').resolve()}  (open this first)")
    for r in results:
        print(f"  {r.html.stem:<{width}}  {r.html.resolve()}{'' if r.ok else '  (PARTIAL: notebook failed)'}")
    print(f"  {'findings':<{width}}  {(out_dir / 'findings.json').resolve()}")
    counts = {s: sum(f.severity == s for f in found) for s in Severity}
    codes = ", ".join(dict.fromkeys(str(f.code) for f in found))
    print(
        f"Findings: {len(found)} ({counts[Severity.CRITICAL]} critical, {counts[Severity.WARNING]} warning, "
        f"{counts[Severity.INFO]} info){': ' + codes if codes else ''}"
    )
    failed = [r for r in results if not r.ok]
    for r in failed:
        print(f"panda-analysis: error: {r.error}", file=sys.stderr)
        print(f"  partial notebook: {r.notebook.resolve()}\n  partial report:   {r.html.resolve()}", file=sys.stderr)
    if args.dated:
        print(f"  {'latest':<{width}}  {report.update_latest(base, out_dir).resolve()} -> {out_dir.name}")
        if args.keep is not None:
            for gone in report.prune(base, keep=args.keep):
                print(f"  removed old report {gone}")
    if _failed_checks(found) or failed:
        return EXIT_CHECK_FAILED
    return report.exit_status(found, fail_on=args.fail_on)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="panda-analysis",
        description="Incident analysis for the Panda / Prisma platform: read an evidence bundle, "
        "parse its logs into tables, diagnose.",
        epilog="BUNDLE is a directory, a .tar.gz of one, or sample:<name> (see `panda-analysis samples`).",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    inv = sub.add_parser("inventory", help="list what a bundle holds and how much of it parsed")
    inv.add_argument("bundle", metavar="BUNDLE", help="bundle directory, .tar.gz, or sample:<name>")
    inv.add_argument("--tables", action="store_true", help="also summarise every parsed table")
    inv.add_argument("--json", action="store_true", help="print the inventory as JSON")
    inv.set_defaults(func=_cmd_inventory)

    dia = sub.add_parser(
        "diagnose",
        help="diagnose a bundle: findings worst first",
        description="Run every diagnostic rule on BUNDLE and print the findings, worst first: as text,\n"
        "as JSON (the DESIGN.md contract), or as a ticket comment (Markdown for a git host, Jira\n"
        "wiki markup). Exit status: 0 no critical finding, 1 at least one critical finding\n"
        "(resolved ones from --baseline do not count), 2 usage or bundle error or no evidence\n"
        "in BUNDLE, 3 a check failed on this evidence (ANALYSIS_ERROR; the other findings stand).",
        epilog="examples:\n"
        "  panda-analysis diagnose sample:waiting_for_fiber --format markdown\n"
        "  panda-analysis diagnose after.tar.gz --baseline before.tar.gz --format jira \\\n"
        "      --runbook-url https://git.example.com/sre/panda-analysis/-/blob/main",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    dia.add_argument("bundle", metavar="BUNDLE", help="bundle directory, .tar.gz, or sample:<name>")
    dia.add_argument(
        "--format", choices=("text", "json", *ticket.FORMATS), default="text",
        help="text (default), json (the DESIGN.md contract), markdown or jira (a ticket comment)",
    )
    dia.add_argument("--json", action="store_true", help="same as --format json")
    dia.add_argument(
        "--baseline", metavar="EARLIER_BUNDLE",
        help="compare with an earlier bundle: mark each finding new, persisting or resolved "
        "(matched by code and subject; --only applies to both, --since/--until to BUNDLE only)",
    )
    dia.add_argument(
        "--max-details", type=int, default=10, metavar="N",
        help="markdown / jira: write out the worst N findings in full, list the rest in the table only (default 10)",
    )
    dia.add_argument(
        "--runbook-url", metavar="BASE",
        help="base URL for runbook links, e.g. a git host's file view of this repository "
        "(default: paths relative to the repository; JSON keeps them relative)",
    )
    dia.add_argument("--only", nargs="+", type=_code, metavar="CODE", help="keep only these finding codes")
    dia.add_argument("--since", metavar="TIME", help="keep findings seen after TIME (ISO-8601 UTC, or e.g. 2h before the bundle's created_at)")
    dia.add_argument("--until", metavar="TIME", help="keep findings seen before TIME (same forms as --since)")
    dia.add_argument("--color", choices=("auto", "always", "never"), default="auto", help="colour severities (default: auto)")
    dia.set_defaults(func=_cmd_diagnose)

    rep = sub.add_parser(
        "report",
        help="run the runbook notebooks into an HTML incident report",
        description="Execute the runbook notebooks on BUNDLE with papermill and write, per notebook, the "
        "executed .ipynb (the audit record), an HTML page that works offline (code hidden, plots interactive, "
        "plotly.js from the run's one plotly.min.js) and "
        "<name>.findings.json, plus findings.json for the whole run. Exit status: 0 no critical finding, "
        "1 at least one critical finding, 2 usage, bundle or parameter error, 3 a notebook failed (its "
        "partial .ipynb and .html are kept and named).",
    )
    rep.add_argument("bundle", metavar="BUNDLE", help="bundle directory, .tar.gz, or sample:<name>")
    rep.add_argument(
        "-n", "--notebook", action="append", metavar="NAME",
        help=f"notebook to run: {', '.join(report.NOTEBOOKS)}, a comma list, or all (default); repeatable",
    )
    rep.add_argument("-o", "--out", metavar="DIR", help="output directory (default: ./reports/<bundle>-<UTC time>/)")
    rep.add_argument(
        "-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
        help="notebook parameter (since, until, thresholds, pod, job_id, ...); VALUE is read as JSON when it "
        "parses (numbers, true/false), else as text; given to every notebook that declares NAME",
    )
    rep.add_argument("--timeout", type=float, default=600.0, metavar="S", help="longest a notebook cell may run (default 600)")
    rep.add_argument(
        "-j", "--jobs", type=_positive_int, metavar="N",
        help="how many notebooks run at a time, each in its own kernel (default: the number of cores)",
    )
    rep.add_argument("--dated", action="store_true", help="write into OUT/<UTC yyyymmddTHHMMSSZ>/ (OUT default ./reports) and point OUT/latest at it")
    rep.add_argument("--keep", type=int, metavar="N", help="with --dated: remove the oldest dated reports beyond the newest N")
    rep.add_argument(
        "--fail-on", choices=("critical", "warning", "never"), default="critical",
        help="exit status 1 when a finding is at least this bad (default critical; never: always 0 unless a notebook fails)",
    )
    rep.set_defaults(func=_cmd_report)

    col = sub.add_parser(
        "collect",
        help="capture evidence from a live cluster into a bundle (read-only)",
        description="Collect a panda-bundle/1 from the live platform: Kubernetes objects and logs (current and "
        "--previous), Focus Server probes, RabbitMQ management snapshots, MongoDB connectivity and recent "
        "documents. Read-only, every call with a timeout, secrets redacted before anything is written. "
        "Exit status: 0 everything collected, 1 partial (failures listed), 2 nothing collected or usage error.",
    )
    col.add_argument("--out", "-o", required=True, metavar="PATH", help="bundle directory, or a .tar.gz file")
    col.add_argument("--context", metavar="CTX", help="kubeconfig context (default: the current one)")
    col.add_argument("--kubeconfig", metavar="FILE", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)")
    col.add_argument("-n", "--namespace", action="append", metavar="NAMESPACE", help="namespace to read (repeatable; default panda and kube-system)")
    col.add_argument("--since", default="2h", metavar="DURATION", help="window of current logs (default 2h; previous logs are never cut)")
    col.add_argument("--no-kube", action="store_true", help="do not read the Kubernetes API")
    col.add_argument("--focus-url", metavar="URL", help="Focus Server base URL, e.g. https://10.10.10.100/focus-server")
    col.add_argument("--insecure", action="store_true", help="do not verify TLS certificates (like curl -k)")
    col.add_argument("--rabbitmq-url", metavar="URL", help="RabbitMQ management URL; credentials from RABBITMQ_USER / RABBITMQ_PASSWORD")
    col.add_argument("--mongo-uri", metavar="URI", help="MongoDB URI (connectivity check and a capped export)")
    col.add_argument("--samples", type=int, default=3, metavar="N", help="probes / snapshots to take (default 3)")
    col.add_argument("--interval", default="5s", metavar="DURATION", help="time between samples (default 5s)")
    col.set_defaults(func=_cmd_collect)

    prb = sub.add_parser("probe", help="opt-in actions that touch the platform (need --yes)")
    prb_sub = prb.add_subparsers(dest="probe", metavar="PROBE")
    prb_sub.required = True
    pc = prb_sub.add_parser(
        "consumer",
        help="configure ONE job and time configure → pod → consumer ready (seed 004)",
        description="Configure one job on the Focus Server and follow it until its consumer is ready or the "
        "deadline, writing the timings into a bundle the consumer diagnosis reads. Refuses while live metadata "
        "is not ready (no storms), sends exactly one POST /configure (never retried), polls at a bounded rate. "
        "Without --yes it only says what it would do.",
    )
    pc.add_argument("--focus-url", required=True, metavar="URL", help="Focus Server base URL")
    pc.add_argument("--yes", action="store_true", help="really configure the job (otherwise: a dry run)")
    pc.add_argument("--out", "-o", metavar="PATH", help="bundle to write (default ./probe-<UTC time>.tar.gz)")
    pc.add_argument("--deadline", default="60s", metavar="DURATION", help="give up after (default 60s)")
    pc.add_argument("--interval", default="0.5s", metavar="DURATION", help="between /metadata polls (default 0.5s, minimum 0.1s)")
    pc.add_argument("--configuration", metavar="JSON", help="the configure body (default: the seed 002 configuration)")
    pc.add_argument("--insecure", action="store_true", help="do not verify TLS certificates (like curl -k)")
    pc.set_defaults(func=_cmd_probe_consumer)

    from panda_analysis import lab, serve

    serve.add_parser(sub)
    lab.add_parser(sub)

    smp = sub.add_parser("samples", help="list the embedded sample bundles")
    smp.set_defaults(func=_cmd_samples)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # SIGTERM / SIGHUP unwind like Ctrl-C: servers, kernels and JupyterLab stop, temp files go
    _procs.install_signal_handlers()
    _procs.sweep_stale_temp_dirs()  # what runs killed with SIGKILL left in $TMPDIR
    try:
        return int(args.func(args))
    except KeyboardInterrupt as err:  # Ctrl-C, or SIGTERM / SIGHUP (_procs.Terminated)
        with contextlib.suppress(OSError):  # after a hangup the terminal may be gone
            print(f"panda-analysis: {_procs.describe(err)}; stopped", file=sys.stderr)
        return _procs.exit_status(err)
    except PandaAnalysisError as err:
        print(f"panda-analysis: error: {terminal(str(err))}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `panda-analysis inventory ... | head`
        return 0
    except Exception as err:  # a crash is not "critical finding" (1): say so, exit 3
        if args.verbose:
            log.exception("internal error")
        where = traceback.extract_tb(err.__traceback__)[-1]
        print(
            f"panda-analysis: internal error: {type(err).__name__}: {terminal(str(err))} "
            f"(at {Path(where.filename).name}:{where.lineno}; run with -v for the traceback and report it)",
            file=sys.stderr,
        )
        return EXIT_CHECK_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
