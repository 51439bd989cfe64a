"""Runbook notebooks and HTML incident reports.

Two halves:

* what the notebooks call (thin cells, logic here where it is tested): :func:`load`
  (validate the common parameters and load the evidence, windowed), :func:`check`
  (validate a rule's threshold parameters), :func:`inventory`, and display helpers
  :func:`findings_table`, :func:`evidence_table`, :func:`next_steps`;
* what runs them: :func:`run` executes one notebook with papermill into an output
  directory and exports an HTML page that works offline; :func:`run_all` runs several,
  side by side up to the number of cores. A run parses its bundle once: its findings, the
  index and every kernel (through a Parquet cache of the frames, :mod:`panda_analysis._frames_cache`,
  removed when the run ends) read that one parse, and its pages share one ``plotly.min.js``.
  Every run also writes ``index.html`` (:func:`write_index`: the run's findings worst first
  and its pages) and the runbooks rendered to HTML (``runbooks/<name>.html``, see
  :mod:`panda_analysis.runbook_html`), which the pages' runbook links open.

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

import ast
import contextlib
import dataclasses
import datetime
import functools
import html
import inspect
import json
import logging
import os
import queue
import re
import shutil
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd

from panda_analysis import _escape as escape
from panda_analysis import _frames_cache, _procs
from panda_analysis import findings as fnd
from panda_analysis.bundle import Bundle, load_bundle
from panda_analysis.errors import BundleError, PandaAnalysisError, ReportError
from panda_analysis.findings import Code, Finding, Severity
from panda_analysis.schema import Frames

__all__ = [
    "NOTEBOOKS",
    "NotebookInfo",
    "ParameterError",
    "ReportOutput",
    "check",
    "dated_dir",
    "declared_parameters",
    "evidence_table",
    "exit_status",
    "export_html",
    "findings_table",
    "inventory",
    "load",
    "next_steps",
    "notebook_dir",
    "prune",
    "run",
    "run_all",
    "runbook_dir",
    "update_latest",
    "write_index",
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
            "queue_backlog", "runbooks/queues.md",
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


# A report run parses its bundle once, in the command, and hands every kernel it starts the frames
# as a Parquet cache (issue #12): the kernel's environment names the cache (``_frames_cache.ENV``,
# set by the run's kernel arguments) and the bundle it holds. ``load`` and ``inventory`` of that
# bundle then read the cache; any other bundle, or a notebook run on its own, parses as before.
_caches: dict[str, _frames_cache.Cache | None] = {}  # per process: cache directory -> what it holds
_cache_bundles: dict[str, Bundle] = {}  # per process: cache directory -> its bundle, frames preset


def _from_cache(bundle: str) -> _frames_cache.Cache | None:
    where = os.environ.get(_frames_cache.ENV)
    if not where:
        return None
    if where not in _caches:
        try:
            _caches[where] = _frames_cache.read(where)
        except _frames_cache.CacheError as err:  # never wrong frames: parse instead
            log.warning("frames cache not used, parsing the bundle: %s", err)
            _caches[where] = None
    cache = _caches[where]
    return cache if cache is not None and cache.bundle == bundle else None


def _cached_bundle(bundle: str) -> Bundle | None:
    """The bundle of this run's frames cache, with its frames already parsed; ``None`` without a cache."""
    cache = _from_cache(bundle)
    if cache is None:
        return None
    where = os.environ[_frames_cache.ENV]
    if where not in _cache_bundles:
        try:  # its directory as the command had it (a .tar.gz is not unpacked again)
            opened = load_bundle(cache.root)
            opened.origin = bundle
        except BundleError:
            opened = _open(bundle) if bundle.startswith("sample:") else load_bundle(bundle)
        opened._frames = cache.frames  # what Bundle.frames() would parse, read back
        _cache_bundles[where] = opened
    return _cache_bundles[where]


def _bundle(bundle: object) -> Bundle:
    if not isinstance(bundle, str) or not bundle.strip():
        msg = f"parameter bundle={bundle!r} must be a bundle path, a .tar.gz or sample:<name>"
        raise ParameterError(msg)
    try:
        cached = _cached_bundle(bundle)
        if cached is not None:
            return cached
        if bundle.startswith("sample:") or not Path(bundle).exists():
            return _open(bundle)  # samples are immutable; missing paths raise BundleError here
        return load_bundle(bundle)  # a directory on disk may change between runs: no cache
    except BundleError as err:
        msg = f"parameter bundle={bundle!r}: {err}"
        raise ParameterError(msg) from err


def _check_window(since: object, until: object) -> None:
    for name, value in (("since", since), ("until", until)):
        if not isinstance(value, str):
            msg = f"parameter {name}={value!r} must be a string: ISO-8601 UTC like '2025-11-08T13:00:00Z', a duration like '2h', or ''"
            raise ParameterError(msg)


def _window(frames: Frames, *, since: object, until: object) -> Frames:
    """``frames`` cut to ``[since, until]``, the parameters checked and named when unusable."""
    _check_window(since, until)
    try:
        return frames.window(since, until)
    except ValueError as err:
        msg = f"parameters since={since!r} / until={until!r}: {err}"
        raise ParameterError(msg) from err


def load(bundle: str, *, since: str = "", until: str = "") -> Frames:
    """Validate the common notebook parameters and return the bundle's frames in the window.

    In a kernel that ``panda-analysis report`` started, the frames come from the run's cache
    (the bundle was parsed once, by the command); elsewhere the bundle is parsed here.

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
    _check_window(since, until)
    return _window(_bundle(bundle).frames(), since=since, until=until)


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


def _cell(value: object) -> str:
    """One table cell's text as HTML (a Styler does not escape): empty when missing, escaped (issue #11)."""
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value):
        return ""
    return escape.html(value)


def _text_columns(df: pd.DataFrame) -> list[str]:
    """Columns that may hold text (object, string, categorical): every value escaped when shown."""
    return [
        c for c in df.columns
        if not (pd.api.types.is_numeric_dtype(df[c]) or isinstance(df[c].dtype, pd.DatetimeTZDtype))
    ]


def _styled(df: pd.DataFrame, *, left: Sequence[str] = ()) -> Any:
    """A Styler without the index, times to the second (ms when present), text left-aligned, whole and escaped."""
    shown = df.copy()
    for column in shown.columns:
        if isinstance(shown[column].dtype, pd.DatetimeTZDtype):
            values = shown[column]
            fmt = "%Y-%m-%d %H:%M:%S.%f" if (values.dt.microsecond.fillna(0) > 0).any() else "%Y-%m-%d %H:%M:%S"
            text = values.dt.strftime(fmt)
            shown[column] = (text.str.slice(0, 23) if "%f" in fmt else text).fillna("")
    styler = shown.style.hide(axis="index").format(_cell, subset=_text_columns(shown))
    if left:
        styler = styler.set_properties(subset=list(left), **{"text-align": "left", "white-space": "pre-wrap"})
    return styler


def inventory(bundle: str) -> Any:
    """The bundle's evidence inventory (parts, files, rows, unparsed lines, time range), styled for reading.

    The plain DataFrame is ``pa.load_bundle(bundle).inventory()`` (or ``.data`` of the result).
    """
    return _styled(_bundle(bundle).inventory(), left=["part", "unparsed_sample"])


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
    prefix = runbook_prefix()
    # one format() call: a later call with a dict resets the columns it does not name
    formats: dict[str, Callable[[object], str]] = dict.fromkeys(_text_columns(shown), _cell)
    formats["runbook"] = lambda v: f'<a href="{escape.html(escape.href(f"{prefix}{v}"))}">{_cell(v)}</a>'
    styler = shown.style.hide(axis="index").format(formats)
    return styler.map(lambda v: _SEVERITY_STYLE.get(str(v), ""), subset=["severity"])


#: Environment variable: how notebook output links reach ``runbooks/`` (default ``../``, from notebooks/).
RUNBOOK_PREFIX_ENV = "PANDA_ANALYSIS_RUNBOOK_PREFIX"


def runbook_prefix() -> str:
    """What goes before a finding's ``runbooks/x.md#a`` in notebook output: ``../`` from the
    checkout's ``notebooks/`` (reports relink it), ``""`` in a ``panda-analysis lab`` directory
    (set through :data:`RUNBOOK_PREFIX_ENV` by the lab server)."""
    return os.environ.get(RUNBOOK_PREFIX_ENV, "../")


def evidence_table(findings: Sequence[Finding]) -> Any:
    """Every quoted evidence line of ``findings``: code, subject, where (``source:line_no``), ts, text.

    Returns a pandas ``Styler`` (whole lines, no index); its ``.data`` is the DataFrame.
    """
    rows = [
        {"code": str(f.code), "subject": f.subject, "where": e.where, "ts": e.ts, "text": e.text}
        for f in fnd.sort(findings)
        for e in f.evidence
    ]
    df = pd.DataFrame(rows, columns=["code", "subject", "where", "ts", "text"])
    df["ts"] = pd.to_datetime(df["ts"], utc=True).dt.as_unit("ns")
    return _styled(df, left=["where", "text"])


def _prose(text: str) -> str:
    """A rule's summary or step as Markdown: its `code spans` kept, everything else escaped."""
    return escape.prose(text, plain=escape.markdown, code=escape.markdown_code)


def next_steps(findings: Sequence[Finding]) -> Any:
    """Each finding's summary, next steps and runbook link as Markdown (an IPython display object).

    Titles, summaries and steps quote evidence, so they are escaped (:func:`panda_analysis._escape.markdown`):
    nothing from a log line or pod name becomes a heading, a link or raw HTML in the report.
    """
    from IPython.display import Markdown

    if not findings:
        return Markdown("*No findings, so no next steps.*")
    parts = []
    for f in fnd.sort(findings):
        steps = "\n".join(f"{i}. {_prose(step)}" for i, step in enumerate(f.next_steps, start=1))
        link = f"[{escape.markdown(f.runbook)}]({escape.href(runbook_prefix() + f.runbook)})"
        parts.append(
            f"### {f.severity.value.upper()} {escape.markdown_code(str(f.code))} — {escape.markdown(f.title)}\n\n"
            f"{_prose(f.summary)}\n\n{steps}\n\nRunbook: {link}\n"
        )
    return Markdown("\n".join(parts))


# ------------------------------------------------------------------ running notebooks into reports

log = logging.getLogger(__name__)

#: Family filters: a non-empty value keeps the findings whose subject or component contains it,
#: as the notebooks do with ``pa.findings.select(..., about=...)``.
FILTER_PARAMETERS = ("pod", "job_id", "alert_id", "queue", "client")
#: Arguments for the kernel papermill starts. Its figures are pinned to plotly's JSON mimetype
#: (what JupyterLab renders natively, whatever PLOTLY_RENDERER the caller has) and the HTML
#: export turns each into an interactive figure (plotly#5365). Set at kernel start-up, before
#: any cell, without touching our own environment (so runs can go in parallel threads).
#: The second line keeps ``rfc3987_syntax`` out of the kernel: plotly's renderers import nbformat,
#: whose jsonschema then imports it, and it compiles 39 lark grammars at import (about 2 s of every
#: kernel's 4, issue #12); jsonschema skips the IRI format checks without it, which no report uses.
#: ipykernel 7 warns on stderr that its local TCP transport is unencrypted: noise in a report run.
KERNEL_ARGUMENTS = (
    "--IPKernelApp.exec_lines=__import__('os').environ.__setitem__('PLOTLY_RENDERER', 'plotly_mimetype')",
    "--IPKernelApp.exec_lines=__import__('sys').modules.setdefault('rfc3987_syntax', None)",
    "--IPKernelApp.log_level=ERROR",
)


def _cache_argument(cache: Path) -> str:
    """The kernel argument that points :func:`load` at a run's frames cache (hex: any path, no quoting)."""
    hexed = os.fsencode(cache.resolve()).hex()
    return (
        f"--IPKernelApp.exec_lines=__import__('os').environ.__setitem__({_frames_cache.ENV!r}, "
        f"__import__('os').fsdecode(bytes.fromhex('{hexed}')))"
    )


#: The file every page of a run loads plotly.js from (written once, beside the pages).
PLOTLY_JS = "plotly.min.js"
_PLOTLY_MIME = "application/vnd.plotly.v1+json"
_TEMPLATE = "panda_report.html.j2"
# nbconvert's lab template loads require.js, MathJax and mermaid from CDNs; a report must work
# offline from file://, and require.js would also capture plotly.js's UMD definition so
# `window.Plotly` never exists. So: drop them, and load plotly.js in the head from the run's one
# copy beside the pages (`<script src>` works from file://; issue #12), or embed it.
_TEMPLATE_TEXT = """\
{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block extra_css -%}
<style>
.pa-report-meta { font: 13px/1.5 system-ui, sans-serif; color: #444; background: #f6f7f9;
  border-bottom: 1px solid #dde; padding: 8px 16px; margin-bottom: 8px; }
.pa-report-meta code { background: #eceef2; padding: 0 4px; border-radius: 3px; }
</style>
{%- endblock extra_css -%}
{%- block html_head_js -%}
{%- if resources.plotly_js or resources.plotly_src -%}
<script type="text/javascript">window.PlotlyConfig = {MathJaxConfig: 'local'};</script>
{%- endif -%}
{%- if resources.plotly_src -%}
<script type="text/javascript" src="{{ resources.plotly_src | e }}"></script>
{%- elif resources.plotly_js -%}
<script type="text/javascript">{{ resources.plotly_js }}</script>
{%- endif -%}
{%- endblock html_head_js -%}
{%- block body_header -%}
{{ super() }}
{{ resources.pa_header }}
{%- endblock body_header -%}
"""


@dataclass(frozen=True, slots=True)
class ReportOutput:
    """What one notebook run wrote.

    Attributes
    ----------
    notebook
        The executed notebook (the audit record; partial when the run failed).
    html
        The HTML page (code hidden, plots interactive, plotly.js from the run's ``plotly.min.js``).
    findings
        ``<name>.findings.json``: the library's findings for the notebook's codes.
    ok
        ``False`` when a cell failed (the files above are then partial).
    error
        One line saying which cell failed and why (empty when ``ok``).
    duration_s
        How long the run took (kernel start to HTML export), when measured.
    """

    notebook: Path
    html: Path
    findings: Path
    ok: bool = True
    error: str = ""
    duration_s: float | None = None


@dataclass(frozen=True, slots=True)
class _Plan:
    name: str
    path: Path
    title: str
    codes: tuple[Code, ...]
    parameters: dict[str, Any]
    findings: list[Finding]


def _resolve(notebook: str | os.PathLike[str]) -> tuple[str, Path, NotebookInfo | None]:
    text = os.fspath(notebook)
    if text in NOTEBOOKS:
        path = notebook_dir() / f"{text}.ipynb"
        if not path.is_file():
            msg = f"notebook {text!r} not found at {path} (set PANDA_ANALYSIS_NOTEBOOKS to the notebooks directory)"
            raise ParameterError(msg)
        return text, path, NOTEBOOKS[text]
    path = Path(text)
    if path.suffix == ".ipynb" and path.is_file():
        return path.stem, path.resolve(), NOTEBOOKS.get(path.stem)
    msg = f"unknown notebook {text!r}; notebooks are {', '.join(NOTEBOOKS)} (or a path to an .ipynb file)"
    raise ParameterError(msg)


def _rule_of(parameter: str) -> str | None:
    """The diagnose rule that has ``parameter`` as a keyword-only threshold, if any."""
    from panda_analysis.diagnose import RULES

    for rule_name, (rule, _codes) in RULES.items():
        param = inspect.signature(rule).parameters.get(parameter)
        if param is not None and param.kind is inspect.Parameter.KEYWORD_ONLY:
            return rule_name
    return None


_TYPE_CHECKS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "str": (str, "a string"),
    "int": (int, "an integer"),
    "float": ((int, float), "a number"),
    "bool": (bool, "true or false"),
    "list": (list, "a list"),
    "dict": (dict, "a mapping"),
}


def _check_type(name: str, value: Any, declared: str) -> Any:
    declared = declared.split("[", 1)[0].strip()
    if declared == "str" and isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # `-p job_id 19` on the command line reads as a number
    expected = _TYPE_CHECKS.get(declared)
    if expected is None:
        return value
    types, words = expected
    wrong_bool = isinstance(value, bool) and declared in {"int", "float"}
    if not isinstance(value, types) or wrong_bool:
        msg = f"parameter {name}={value!r} must be {words}"
        raise ParameterError(msg)
    return value


def _bundle_argument(bundle: object) -> str:
    if not isinstance(bundle, str) or not bundle.strip():
        msg = f"parameter bundle={bundle!r} must be a bundle path, a .tar.gz or sample:<name>"
        raise ParameterError(msg)
    if bundle.startswith("sample:"):
        return bundle
    # the kernel runs in the notebook's directory: hand it an absolute path
    return str(Path(bundle).expanduser().resolve())


def declared_parameters(notebook: str | os.PathLike[str]) -> dict[str, tuple[str, Any]]:
    """The parameters a notebook declares: ``{name: (type name, default)}`` from its ``parameters`` cell.

    Read with :mod:`ast` rather than papermill's line-based inspector, which drops a parameter
    whose help comment contains ``=``.

    Examples
    --------
    >>> declared_parameters("consumer_delay")["bundle"]
    ('str', 'sample:consumer_slow')
    """
    import nbformat

    _name, path, _info = _resolve(notebook)
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        msg = f"notebook {path} needs exactly one code cell tagged `parameters`, it has {len(cells)}"
        raise ParameterError(msg)
    try:
        tree = ast.parse(cells[0].source)
    except SyntaxError as err:
        msg = f"notebook {path}: the parameters cell does not parse: {err}"
        raise ParameterError(msg) from err
    out: dict[str, tuple[str, Any]] = {}
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            target, annotation, value = node.target.id, ast.unparse(node.annotation), node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target, annotation, value = node.targets[0].id, "", node.value
        else:
            continue
        try:
            default = ast.literal_eval(value)
        except ValueError:
            default = None
        out[target] = (annotation or type(default).__name__, default)
    return out


def _prepare(
    notebook: str | os.PathLike[str], *, bundle: str, parameters: Mapping[str, Any] | None, parsed: Callable[[], Frames]
) -> _Plan:
    """Resolve the notebook, validate every parameter and compute its findings (no kernel yet).

    ``parsed`` gives the bundle's frames, whole: the run's one parse, called once every
    parameter but the window is known good.
    """
    from panda_analysis import diagnose

    name, path, info = _resolve(notebook)
    declared = declared_parameters(path)
    if "bundle" not in declared:
        msg = f"notebook {path} has no `bundle` parameter (a cell tagged `parameters` declaring it)"
        raise ParameterError(msg)
    given = dict(parameters or {})
    if "bundle" in given and given.pop("bundle") != bundle:
        msg = "give the bundle once, as the `bundle` argument, not also as a parameter"
        raise ParameterError(msg)
    unknown = sorted(set(given) - set(declared))
    if unknown:
        msg = f"notebook {name!r} has no parameter {', '.join(map(repr, unknown))}; its parameters are {', '.join(declared)}"
        raise ParameterError(msg)
    values = {"bundle": _bundle_argument(bundle)}
    for key, value in given.items():
        values[key] = _check_type(key, value, declared[key][0])

    def effective(key: str) -> Any:  # the value the notebook will see
        return values[key] if key in values else declared[key][1]

    since = effective("since") if "since" in declared else ""
    until = effective("until") if "until" in declared else ""
    _check_window(since or "", until or "")
    frames = _window(parsed(), since=since or "", until=until or "")
    options: dict[str, dict[str, Any]] = {}
    for key in declared:
        rule = _rule_of(key)
        if rule is not None:
            options.setdefault(rule, {})[key] = effective(key)
    for rule, thresholds in options.items():
        check(diagnose.RULES[rule][0], **thresholds)
    only = list(info.codes if info is not None else Code)
    rules_needed = {r for r, (_f, cs) in diagnose.RULES.items() if cs & set(only)}
    found = diagnose.run(frames, only=only, options={r: o for r, o in options.items() if r in rules_needed})
    for key in FILTER_PARAMETERS:
        about = effective(key) if key in declared else ""
        if about:
            found = fnd.select(found, about=str(about))
    title = info.title if info is not None else name
    return _Plan(name, path, title, tuple(only), values, found)


def _write_json(path: Path, found: Sequence[Finding]) -> None:
    text = json.dumps(fnd.to_json(found), indent=2, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")


def _plotly_to_html(nb: Any) -> int:
    """Give every plotly JSON output an interactive ``text/html`` twin (in place); return how many."""
    import plotly.io as pio

    count = 0
    for index, cell in enumerate(nb.cells):
        for number, output in enumerate(cell.get("outputs", [])):
            data = output.get("data", {})
            if _PLOTLY_MIME not in data:
                continue
            figure = data[_PLOTLY_MIME]
            if isinstance(figure, str):
                figure = json.loads(figure)
            data["text/html"] = pio.to_html(
                figure, include_plotlyjs=False, include_mathjax=False, full_html=False, validate=False,
                default_width="100%", default_height=520, div_id=f"figure-{index}-{number}",
                config={"displaylogo": False, "responsive": True},
            )
            del data[_PLOTLY_MIME]  # nbconvert would otherwise fall back to text/plain for it
            data.pop("text/plain", None)
            count += 1
    return count


def runbook_dir() -> Path:
    """The Markdown runbooks of the checkout (``runbooks/`` next to ``notebooks/``)."""
    return Path(__file__).resolve().parents[1] / "runbooks"


_NOTEBOOK_LINK = re.compile(r"\]\((?:\.\./notebooks/)?([A-Za-z0-9_]+)\.ipynb(#[^)\s]*)?\)")
# a runbook link as findings_table / next_steps / the notebooks' Markdown write it (Markdown or
# an HTML attribute), ``../runbooks/x.md#a`` seen from notebooks/, or a Finding's own ``runbooks/x.md#a``
_RUNBOOK_REF = re.compile(r"""(\]\(|href=["'])(?:\.\./)?runbooks/([A-Za-z0-9_\-]+)\.md(#[^)"'\s]*)?""")


def _relink(nb: Any, *, here: Path, siblings: Collection[str]) -> None:
    """Point the notebook's relative links at what sits next to the report (in place).

    ``../runbooks/x.md#a`` becomes ``runbooks/x.html#a`` when the runbook was rendered beside the
    page (:func:`panda_analysis.runbook_html.render`); a link to another runbook notebook becomes
    its report page when that page is (being) written.
    """

    def runbook(match: re.Match[str]) -> str:
        if not (here / "runbooks" / f"{match[2]}.html").is_file():
            return match[0]  # no rendered runbooks (an installed package has no runbooks/): as it was
        return f"{match[1]}runbooks/{match[2]}.html{match[3] or ''}"

    def fix(text: str) -> str:
        text = _RUNBOOK_REF.sub(runbook, text)
        return _NOTEBOOK_LINK.sub(
            lambda m: f"]({m[1]}.html{m[2] or ''})" if m[1] in siblings or (here / f"{m[1]}.html").exists() else m[0],
            text,
        )

    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = fix(cell.source)
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            for mime in ("text/html", "text/markdown"):
                if isinstance(data.get(mime), str):
                    data[mime] = fix(data[mime])


def _render_runbooks(out_dir: Path, *, pages: Collection[str]) -> None:
    """The runbooks as HTML beside the report pages (nothing when the checkout has no runbooks/)."""
    from panda_analysis import runbook_html

    runbook_html.render(out_dir, pages=pages, index=True)  # every run writes index.html


def _header(plan_title: str, *, bundle: str, parameters: Mapping[str, Any], notebook: Path, ok: bool) -> str:
    from panda_analysis import __version__

    shown = ", ".join(f"<code>{html.escape(k)}={html.escape(json.dumps(v))}</code>" for k, v in parameters.items() if k != "bundle")
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    status = "" if ok else ' <strong style="color:#8b0000">— run FAILED: partial report</strong>'
    return (
        f'<div class="pa-report-meta"><strong>{html.escape(plan_title)}</strong>{status}<br>'
        f"bundle <code>{html.escape(bundle)}</code>{' · parameters ' + shown if shown else ''}"
        f" · generated {when} by panda-analysis {__version__}"
        f' · audit record <a href="{html.escape(notebook.name)}">{html.escape(notebook.name)}</a>'
        ' · <a href="index.html">run index</a></div>'
    )


_plotly_lock = threading.Lock()  # pages of one run are exported in parallel threads


def _write_plotly_js(directory: Path) -> Path:
    """``directory/plotly.min.js``: plotly.js as the installed plotly ships it, written once.

    Left alone when it already holds exactly that text (every page of a run shares it); replaced
    atomically otherwise, so a page loading meanwhile never reads half a file.
    """
    import plotly.offline

    text = plotly.offline.get_plotlyjs().encode("utf-8")
    target = directory / PLOTLY_JS
    with _plotly_lock:
        with contextlib.suppress(OSError):
            if target.stat().st_size == len(text) and target.read_bytes() == text:
                return target
        partial = directory / f".{PLOTLY_JS}.{os.getpid()}.tmp"
        partial.write_bytes(text)
        partial.replace(target)
    return target


def export_html(
    notebook: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    title: str | None = None,
    header: str = "",
    siblings: Collection[str] = (),
    embed_plotlyjs: bool = False,
) -> Path:
    """Export an executed notebook to an HTML page: code hidden, plots interactive, nothing from a network.

    Plotly figures (their JSON mimetype output) become interactive ``<div>``\\ s driven by
    plotly.js, which the page loads from ``plotly.min.js`` beside it (written there once and
    shared by every page of a report: one copy per run, not 5 MB per page), or embeds.
    Nothing is loaded from a CDN, so the page works offline and from ``file://``. Cells
    tagged ``injected-parameters`` (papermill) are left out.

    Parameters
    ----------
    notebook
        The executed ``.ipynb``.
    out
        The HTML path (default: next to the notebook, ``.html``).
    title
        The page title (default: the notebook's ``metadata.title`` or its file name).
    header
        Raw HTML put at the top of the page (the run's bundle, parameters and time).
    siblings
        Runbook notebooks whose report pages are being written next to this one: links to
        them (``crashloop.ipynb``) become links to their pages (``crashloop.html``).
    embed_plotlyjs
        Embed plotly.js in the page (one self-contained file, 5 MB larger) instead of
        loading ``plotly.min.js`` from beside it.

    Returns
    -------
    Path
        The HTML file written.
    """
    import nbformat
    import plotly.offline
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    source = Path(notebook)
    target = Path(out) if out is not None else source.with_suffix(".html")
    nb = nbformat.read(source, as_version=4)
    if title:
        nb.metadata["title"] = title
    _relink(nb, here=target.parent, siblings=siblings)
    figures = _plotly_to_html(nb)
    config = Config()
    config.TagRemovePreprocessor.enabled = True
    config.TagRemovePreprocessor.remove_cell_tags = {"injected-parameters", "remove_cell"}
    exporter = HTMLExporter(
        config=config, extra_loaders=[DictLoader({_TEMPLATE: _TEMPLATE_TEXT})], template_file=_TEMPLATE,
        exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
    )
    resources: dict[str, Any] = {"metadata": {"name": source.stem}, "pa_header": header}
    if figures and embed_plotlyjs:
        resources["plotly_js"] = plotly.offline.get_plotlyjs()
    elif figures:
        target.parent.mkdir(parents=True, exist_ok=True)
        resources["plotly_src"] = quote(_write_plotly_js(target.parent).name)
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    target.write_text(body, encoding="utf-8")
    return target


def _one_line(err: BaseException) -> str:
    ename = getattr(err, "ename", type(err).__name__)
    evalue = getattr(err, "evalue", str(err))
    cell = getattr(err, "exec_count", None)
    where = f"cell In [{cell}]" if cell is not None else "a cell"
    first = str(evalue).strip().splitlines()[0] if str(evalue).strip() else ""
    return f"{where} raised {ename}: {first}" if first else f"{where} raised {ename}"


class _Stopped(Exception):
    """Raised by nbclient's ``on_cell_start`` hook when an interrupt came while no cell was running."""


class _Source:
    """The run's bundle, opened and parsed once, on first use (issue #12: one parse per run).

    Every plan's findings, ``findings.json``, the index and (through the frames cache) every
    kernel read these frames. The Bundle is kept while the run lasts: a ``.tar.gz`` stays
    unpacked where the kernels find it.
    """

    def __init__(self, bundle: str, opened: Bundle | None = None) -> None:
        self.given = bundle
        self.bundle: Bundle | None = opened  # the caller's own opening (a .tar.gz unpacked once)

    def frames(self) -> Frames:
        if self.bundle is None:
            self.bundle = _bundle(_bundle_argument(self.given))
        return self.bundle.frames()


def _write_cache(source: _Source, out: Path) -> Path | None:
    """The run's frames as Parquet in a hidden directory of ``out`` (removed when the run ends)."""
    import tempfile

    if source.bundle is None:
        return None
    started = time.monotonic()
    cache = Path(tempfile.mkdtemp(prefix=".frames-", dir=out))
    _procs.register_temp(cache)  # removed at exit, and on SIGTERM, if the run cannot
    try:
        written = _frames_cache.write(source.frames(), cache, bundle=_bundle_argument(source.given), root=source.bundle.root)
    except OSError as err:  # a full disk, say: the kernels parse the bundle themselves, as without a cache
        log.warning("frames cache not written (%s): every notebook parses the bundle itself", err)
        written = None
    except BaseException:
        _procs.remove_temp(cache)
        raise
    if written is None:
        _procs.remove_temp(cache)
        return None
    log.info("frames cache %s written in %.2f s", cache, time.monotonic() - started)
    return written


class _Kernel:
    """One notebook's papermill run in a worker thread, and how another thread stops its kernel.

    :meth:`stop` does what Jupyter's interrupt button does (SIGINT to the kernel's process
    group): the running cell ends with KeyboardInterrupt, recorded in the notebook, papermill
    saves it and nbclient shuts the kernel down in order; a cell not yet started is not started
    (the ``on_cell_start`` hook). :meth:`kill` is for a kernel that ignored that.
    """

    def __init__(self, plan: _Plan) -> None:
        self.plan = plan
        self.managers: list[Any] = []
        self.interrupt: KeyboardInterrupt | None = None
        self.started = time.monotonic()
        self.thread: threading.Thread | None = None

    def manager_class(self) -> type:
        from jupyter_client import AsyncKernelManager  # nbclient's default kernel manager

        managers = self.managers

        class Manager(AsyncKernelManager):  # type: ignore[misc]  # records the manager nbclient makes, to signal its kernel
            def __init__(self, **options: Any) -> None:
                super().__init__(**options)
                managers.append(self)

        return Manager

    def cell_start(self, **_: Any) -> None:
        if self.interrupt is not None:
            msg = f"notebook {self.plan.name} interrupted before this cell"
            raise _Stopped(msg)

    def signal(self, signum: int) -> None:
        for manager in list(self.managers):
            provisioner = getattr(manager, "provisioner", None)
            pgid, process = getattr(provisioner, "pgid", None), getattr(provisioner, "process", None)
            with contextlib.suppress(OSError):
                if pgid:
                    os.killpg(pgid, signum)
                elif process is not None:
                    process.send_signal(signum)

    def stop(self, err: KeyboardInterrupt) -> None:
        import signal

        self.interrupt = err
        self.signal(signal.SIGINT)

    def kill(self) -> None:
        import signal

        log.warning("the kernel of %s did not stop on SIGINT: killing it", self.plan.name)
        self.signal(signal.SIGKILL)


def _papermill(plan: _Plan, ipynb: Path, *, progress: bool, timeout_s: float, kernel: _Kernel, arguments: Sequence[str]) -> None:
    """``papermill.execute_notebook`` for one plan, in this (worker) thread, stoppable through ``kernel``.

    The kernel starts in the notebook's directory through nbclient's ``resources`` path, not
    papermill's ``cwd``: that one is a process-wide ``chdir``, which kernels running side by
    side would undo under each other (and under a relative ``--out``).
    """
    import asyncio

    import papermill

    try:
        papermill.execute_notebook(
            str(plan.path), str(ipynb), parameters=plan.parameters, kernel_name="python3", progress_bar=progress,
            execution_timeout=timeout_s, extra_arguments=list(arguments),
            resources={"metadata": {"path": str(plan.path.parent)}}, shutdown_kernel="immediate",
            kernel_manager_class=kernel.manager_class(), on_cell_start=kernel.cell_start,
        )
    finally:  # nbclient's run_sync made this thread an event loop (jupyter_core.utils.ensure_event_loop)
        with contextlib.suppress(RuntimeError):
            loop = asyncio.get_event_loop_policy().get_event_loop()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
        asyncio.set_event_loop(None)


def _execute(
    plan: _Plan, *, out_dir: Path, progress: bool, timeout_s: float, kernel: _Kernel, arguments: Sequence[str],
    siblings: Collection[str] = (),
) -> ReportOutput:
    import nbclient.exceptions
    import papermill

    out_dir.mkdir(parents=True, exist_ok=True)
    ipynb = out_dir / f"{plan.name}.ipynb"
    page = out_dir / f"{plan.name}.html"
    findings_path = out_dir / f"{plan.name}.findings.json"
    _write_json(findings_path, plan.findings)
    failure: BaseException | None = None
    log.info("executing %s into %s", plan.path, ipynb)
    try:
        _papermill(plan, ipynb, progress=progress, timeout_s=timeout_s, kernel=kernel, arguments=arguments)
    except (papermill.PapermillExecutionError, nbclient.exceptions.CellTimeoutError,
            nbclient.exceptions.DeadKernelError) as err:
        failure = err
    except Exception as err:
        if kernel.interrupt is None:
            raise
        failure = err  # _Stopped, or whatever a killed kernel's teardown raised
    if failure is not None and kernel.interrupt is not None:  # Ctrl-C, or SIGTERM/SIGHUP as _procs.Terminated
        # the kernel was interrupted and shut down and papermill saved the notebook as far as it
        # ran (the cell that was running shows the KeyboardInterrupt): export that page too
        if ipynb.exists():
            header = _header(plan.title, bundle=plan.parameters["bundle"], parameters=plan.parameters, notebook=ipynb, ok=False)
            export_html(ipynb, out=page, title=plan.title, header=header, siblings=siblings)
        raise kernel.interrupt
    header = _header(plan.title, bundle=plan.parameters["bundle"], parameters=plan.parameters, notebook=ipynb, ok=failure is None)
    if not ipynb.exists():  # the kernel died before papermill saved anything
        msg = f"notebook {plan.name} failed before any output was written: {_one_line(failure or RuntimeError())}"
        raise ReportError(msg, notebook=None, html=None) from failure
    export_html(ipynb, out=page, title=plan.title, header=header, siblings=siblings)
    if failure is None:
        return ReportOutput(ipynb, page, findings_path)
    line = _one_line(failure)
    if getattr(failure, "ename", "") == ParameterError.__name__:
        msg = f"{getattr(failure, 'evalue', failure)} (notebook {plan.name}; partial output {ipynb})"
        raise ParameterError(msg) from failure
    msg = f"notebook {plan.name} failed: {line}; partial notebook {ipynb}; partial report {page}"
    raise ReportError(msg, notebook=ipynb, html=page) from failure


_Failure = ReportError | ParameterError | KeyboardInterrupt


def _interrupted(plan: _Plan, out_dir: Path, err: KeyboardInterrupt, *, started: float) -> ReportOutput:
    ipynb, page = out_dir / f"{plan.name}.ipynb", out_dir / f"{plan.name}.html"
    error = f"notebook {plan.name} {_procs.describe(err)}" + (
        f"; partial notebook {ipynb}; partial report {page}" if page.exists() else ""
    )
    return ReportOutput(
        ipynb, page, out_dir / f"{plan.name}.findings.json", ok=False, error=error, duration_s=time.monotonic() - started,
    )


def _attempt(
    plan: _Plan, *, out_dir: Path, progress: bool, timeout_s: float, kernel: _Kernel, arguments: Sequence[str],
    siblings: Collection[str] = (),
) -> tuple[ReportOutput, _Failure | None]:
    """Run one plan, timed; a failure comes back as a failed ReportOutput plus the error to raise.

    An interrupt (Ctrl-C, SIGTERM) comes back the same way, so that the caller writes
    ``findings.json`` and ``index.html`` before raising it.
    """
    started = kernel.started
    try:
        result = _execute(
            plan, out_dir=out_dir, progress=progress, timeout_s=timeout_s, kernel=kernel, arguments=arguments,
            siblings=siblings,
        )
    except KeyboardInterrupt as err:
        return _interrupted(plan, out_dir, err, started=started), err
    except (ReportError, ParameterError) as err:
        failed = ReportOutput(
            out_dir / f"{plan.name}.ipynb", out_dir / f"{plan.name}.html", out_dir / f"{plan.name}.findings.json",
            ok=False, error=str(err), duration_s=time.monotonic() - started,
        )
        return failed, err
    return dataclasses.replace(result, duration_s=time.monotonic() - started), None


def _jobs(jobs: int | None, plans: int) -> int:
    if jobs is None:
        jobs = os.cpu_count() or 1
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        msg = f"jobs={jobs!r}: run at least one notebook at a time (default: the number of cores, {os.cpu_count()})"
        raise ParameterError(msg)
    return max(1, min(jobs, plans))


#: How long stopped kernels get to end (SIGINT), and then to be gone once killed (SIGKILL).
_STOP_GRACE_S = 10.0
_KILL_GRACE_S = 5.0


def _execute_all(
    plans: Sequence[_Plan], *, out_dir: Path, jobs: int, progress: bool, on_progress: Callable[[str], None] | None,
    timeout_s: float, arguments: Sequence[str], siblings: Collection[str],
) -> tuple[list[tuple[ReportOutput, _Failure | None]], KeyboardInterrupt | None]:
    """Run ``plans``, up to ``jobs`` kernels at a time, in worker threads; this thread watches.

    Returns each started plan's outcome in plan order and the interrupt, if one came. An
    interrupt here (KeyboardInterrupt, or :class:`panda_analysis._procs.Terminated` for SIGTERM)
    stops every running kernel (:meth:`_Kernel.stop`) and starts no other; the kernels get
    10 s, a second Ctrl-C or that time kills them, and 5 s later a worker still running is left
    behind (a daemon thread). Every stopped notebook keeps its partial notebook and page.
    Outside the main thread no signal arrives, and the same code simply runs the plans.
    """
    total = len(plans)
    finished: queue.Queue[tuple[int, tuple[ReportOutput, _Failure | None] | BaseException]] = queue.Queue()
    pending = list(range(total))
    running: dict[int, _Kernel] = {}
    outcomes: dict[int, tuple[ReportOutput, _Failure | None]] = {}
    crashed: list[BaseException] = []

    def work(number: int, kernel: _Kernel) -> None:
        outcome: tuple[ReportOutput, _Failure | None] | BaseException
        try:
            outcome = _attempt(
                kernel.plan, out_dir=out_dir, progress=progress, timeout_s=timeout_s, kernel=kernel,
                arguments=arguments, siblings=siblings,
            )
        except BaseException as err:  # noqa: BLE001 - a bug, not a notebook failure: raised by the watcher
            outcome = err
        finished.put((number, outcome))

    def say(line: str) -> None:
        if on_progress:
            on_progress(line)

    def launch(number: int) -> None:
        plan = plans[number]
        say(f"[{number + 1}/{total}] {plan.name} …")
        kernel = _Kernel(plan)
        kernel.thread = threading.Thread(target=work, args=(number, kernel), name=f"papermill {plan.name}", daemon=True)
        running[number] = kernel
        kernel.thread.start()

    def collect(timeout: float) -> None:
        try:
            number, outcome = finished.get(timeout=timeout)
        except queue.Empty:
            return
        kernel = running.pop(number)
        if isinstance(outcome, BaseException):
            crashed.append(outcome)
            return
        outcomes[number] = outcome
        result, failure = outcome
        status = "done" if result.ok else "INTERRUPTED" if isinstance(failure, KeyboardInterrupt) else "FAILED"
        say(f"[{number + 1}/{total}] {kernel.plan.name} {status} in {result.duration_s or 0:.1f} s")

    def wait_all(seconds: float, err: KeyboardInterrupt) -> None:
        deadline = time.monotonic() + seconds
        while running and time.monotonic() < deadline:
            collect(min(0.2, max(0.0, deadline - time.monotonic())))
            # a worker that ended with nothing left in the queue: the interrupt came while collect()
            # held its outcome (threads put before they end, so check they ended first)
            ended = [n for n, k in running.items() if k.thread is not None and k.thread.ident and not k.thread.is_alive()]
            if ended and finished.empty():
                for number in ended:
                    kernel = running.pop(number)
                    outcomes[number] = (_interrupted(kernel.plan, out_dir, err, started=kernel.started), err)
                    say(f"[{number + 1}/{total}] {kernel.plan.name} INTERRUPTED")

    interrupted: KeyboardInterrupt | None = None
    try:
        while pending or running:
            while pending and len(running) < jobs and not crashed:
                launch(pending.pop(0))
            if not running:
                break
            collect(0.2)
    except KeyboardInterrupt as err:
        interrupted = err
        try:
            for number, kernel in list(running.items()):
                if kernel.thread is None or kernel.thread.ident is None:
                    del running[number]  # interrupted between registering and starting it: never ran
                else:
                    kernel.stop(err)
            wait_all(_STOP_GRACE_S, err)
        except KeyboardInterrupt:  # a second Ctrl-C: kill now
            pass
        finally:
            for kernel in running.values():
                kernel.kill()
            with contextlib.suppress(KeyboardInterrupt):
                wait_all(_KILL_GRACE_S, err)
        for number, kernel in running.items():  # give up on the worker: its partial notebook may lack the last outputs
            log.warning("notebook %s did not stop; its partial notebook may lack the last outputs", kernel.plan.name)
            outcomes[number] = (_interrupted(kernel.plan, out_dir, err, started=kernel.started), err)
            say(f"[{number + 1}/{total}] {kernel.plan.name} INTERRUPTED")
    if crashed:
        raise crashed[0]
    return [outcomes[n] for n in sorted(outcomes)], interrupted


def run(
    notebook: str | os.PathLike[str],
    *,
    bundle: str,
    out_dir: str | os.PathLike[str],
    parameters: Mapping[str, Any] | None = None,
    progress: bool = False,
    timeout_s: float = 600,
) -> ReportOutput:
    """Execute one runbook notebook with papermill into a report.

    Writes ``<out_dir>/<name>.ipynb`` (the executed notebook, the audit record),
    ``<name>.html`` (code hidden, interactive plots drawn by ``plotly.min.js`` beside it, nothing
    from a network), ``<name>.findings.json``
    (the library's findings for the notebook's codes, thresholds and filters — never scraped
    from the notebook), ``findings.json`` (the same, as the run's findings), ``index.html``
    (:func:`write_index`) and ``runbooks/*.html`` (every runbook, rendered by
    :func:`panda_analysis.runbook_html.render`; the page's runbook links open them).
    When a cell fails, ``findings.json`` and ``index.html`` are still written before the error.

    Parameters
    ----------
    notebook
        A name in :data:`NOTEBOOKS` (``"crashloop"``) or a path to an ``.ipynb``.
    bundle
        Directory, ``.tar.gz`` or ``sample:<name>``: the notebook's ``bundle`` parameter.
    out_dir
        Where to write; created if needed.
    parameters
        Other notebook parameters (``since``, ``until``, thresholds, filters). Every name must be
        declared in the notebook's ``parameters`` cell; values are checked before any kernel starts.
    progress
        Show papermill's per-cell progress bar on stderr.
    timeout_s
        Longest a single cell may run.

    Returns
    -------
    ReportOutput
        The paths written.

    Raises
    ------
    ParameterError
        Unknown notebook, unknown or invalid parameter (before execution), or a parameter
        the notebook itself rejected (one line).
    ReportError
        A cell failed; the partial notebook and HTML are written and named in the message.
    KeyboardInterrupt
        Ctrl-C (or :class:`panda_analysis._procs.Terminated` for SIGTERM / SIGHUP in the
        command line): the kernel is shut down, and the partial notebook, its HTML,
        ``findings.json`` and ``index.html`` are written before it is raised again.
    """
    source = _Source(bundle)
    plan = _prepare(notebook, bundle=bundle, parameters=parameters, parsed=source.frames)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _render_runbooks(out, pages=[plan.name])
    cache = _write_cache(source, out)
    try:
        arguments = [*KERNEL_ARGUMENTS, *([_cache_argument(cache)] if cache else [])]
        outcomes, interrupted = _execute_all(
            [plan], out_dir=out, jobs=1, progress=progress, on_progress=None, timeout_s=timeout_s,
            arguments=arguments, siblings=(),
        )
    finally:
        if cache is not None:
            _procs.remove_temp(cache)
    _write_json(out / "findings.json", plan.findings)
    write_index(out, [r for r, _ in outcomes], plan.findings, bundle=plan.parameters["bundle"])
    failure = interrupted or next((f for _, f in outcomes if f is not None), None)
    if failure is not None:
        raise failure
    return outcomes[0][0]


def _selection(notebooks: Sequence[str] | str) -> list[str]:
    names = [notebooks] if isinstance(notebooks, str) else list(notebooks)
    names = [n.strip() for item in names for n in str(item).split(",") if n.strip()]
    if not names or "all" in names:
        return list(NOTEBOOKS)
    order = {n: i for i, n in enumerate(NOTEBOOKS)}
    return sorted(dict.fromkeys(names), key=lambda n: order.get(n, len(order)))


def _run_many(
    bundle: str,
    *,
    out_dir: str | os.PathLike[str],
    notebooks: Sequence[str] | str = "all",
    parameters: Mapping[str, Any] | None = None,
    progress: bool = True,
    on_progress: Callable[[str], None] | None = None,
    timeout_s: float = 600,
    jobs: int | None = None,
    opened: Bundle | None = None,
) -> list[ReportOutput]:
    names = _selection(notebooks)
    given = dict(parameters or {})
    declared = {name: set(declared_parameters(name)) for name in names}
    nobody = sorted(k for k in given if not any(k in d for d in declared.values()))
    if nobody:
        msg = f"no selected notebook ({', '.join(names)}) has parameter {', '.join(map(repr, nobody))}"
        raise ParameterError(msg)
    width = _jobs(jobs, len(names))
    source = _Source(bundle, opened)  # parsed once, by the first plan; every other plan, the index and the kernels read it
    plans = [
        _prepare(name, bundle=bundle, parameters={k: v for k, v in given.items() if k in declared[name]}, parsed=source.frames)
        for name in names
    ]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    siblings = [p.name for p in plans]
    _render_runbooks(out, pages=siblings)
    cache = _write_cache(source, out)
    try:
        arguments = [*KERNEL_ARGUMENTS, *([_cache_argument(cache)] if cache else [])]
        # papermill's per-cell bars of kernels running side by side would overwrite each other
        outcomes, interrupted = _execute_all(
            plans, out_dir=out, jobs=width, progress=progress and width == 1, on_progress=on_progress,
            timeout_s=timeout_s, arguments=arguments, siblings=siblings,
        )
    finally:
        if cache is not None:
            _procs.remove_temp(cache)
    results = [result for result, _ in outcomes]
    # the findings come from the library for every plan (prepared above), run or not
    union = fnd.sort(fnd.dedupe(f for plan in plans for f in plan.findings))
    _write_json(out / "findings.json", union)
    write_index(out, results, union, bundle=_bundle_argument(bundle))
    if interrupted is not None:
        raise interrupted
    return results


def run_all(
    bundle: str,
    *,
    out_dir: str | os.PathLike[str],
    notebooks: Sequence[str] | str = "all",
    parameters: Mapping[str, Any] | None = None,
    progress: bool = True,
    on_progress: Callable[[str], None] | None = None,
    timeout_s: float = 600,
    jobs: int | None = None,
) -> list[ReportOutput]:
    """Run several notebooks (``overview`` first, then the families) into one report directory.

    Every notebook is prepared (parameters validated, findings computed) before the first
    kernel starts. The bundle is parsed once: the findings, ``findings.json``, the index and
    every kernel (through a Parquet cache of the frames in the run directory, removed when the
    run ends) read that one parse. Up to ``jobs`` kernels run at a time; every page loads
    plotly.js from the run's one ``plotly.min.js``. A parameter goes to the notebooks that declare it; one that no selected
    notebook declares is an error. A failing notebook does not stop the others; ``findings.json``
    holds the union of every notebook's findings and ``index.html`` (:func:`write_index`) lists
    them worst first above every page of the run.

    Parameters
    ----------
    bundle
        Directory, ``.tar.gz`` or ``sample:<name>``.
    out_dir
        Where to write.
    notebooks
        ``"all"``, names, or a comma-separated string of names.
    parameters
        Notebook parameters, given to each notebook that declares them.
    progress
        Show papermill's per-cell progress bars (only when one kernel runs at a time).
    on_progress
        Called with one line per notebook start and end (``"[2/7] crashloop done in 6.1 s"``),
        as they happen (with several kernels at a time, ends come in the order they finish).
    timeout_s
        Longest a single cell may run.
    jobs
        How many notebooks run at a time (default: the number of cores, ``os.cpu_count()``).

    Returns
    -------
    list[ReportOutput]
        One per notebook, in run order.

    Raises
    ------
    ParameterError
        Before anything runs, for an unknown notebook or an invalid parameter.
    ReportError
        After every notebook ran, when some failed; the message names each partial notebook and page.
    KeyboardInterrupt
        Ctrl-C (or :class:`panda_analysis._procs.Terminated`): every running notebook's kernel
        is interrupted and shut down, their partial notebooks and HTML, ``findings.json`` and
        ``index.html`` are written, and the notebooks not yet started are not started.
    """
    results = _run_many(
        bundle, out_dir=out_dir, notebooks=notebooks, parameters=parameters, progress=progress,
        on_progress=on_progress, timeout_s=timeout_s, jobs=jobs,
    )
    failed = [r for r in results if not r.ok]
    if failed:
        msg = f"{len(failed)} of {len(results)} notebooks failed: " + "; ".join(r.error for r in failed)
        raise ReportError(msg, notebook=failed[0].notebook, html=failed[0].html)
    return results


# ------------------------------------------------------------------ the run's index page

_INDEX_CSS = """\
body { font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
  margin: 0 auto; max-width: 90rem; padding: 0 1.5rem 3rem; }
header { background: #f6f7f9; border-bottom: 1px solid #dde; margin: 0 -1.5rem 1rem; padding: 10px 1.5rem; }
header h1 { font-size: 1.4rem; margin: 0 0 4px; }
header p { margin: 2px 0; color: #444; }
h2 { font-size: 1.15rem; margin: 1.6em 0 0.5em; }
code { font: 0.92em ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #eceef2;
  padding: 0 4px; border-radius: 3px; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #d0d7de; padding: 5px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.num { white-space: nowrap; text-align: right; }
td.when { min-width: 5.5rem; }
td.summary { min-width: 16rem; }
td.runbook { overflow-wrap: anywhere; min-width: 9rem; }
.subject { color: #57606a; }
.sev { font-weight: bold; white-space: nowrap; }
.sev-critical { background: #fde0e0; color: #8b0000; }
.sev-warning { background: #fff1d6; color: #7a4b00; }
.sev-info { background: #e3eefb; color: #1f4f8a; font-weight: normal; }
.ok { color: #116329; font-weight: bold; }
.failed { color: #8b0000; font-weight: bold; }
.error { font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; color: #8b0000;
  white-space: pre-wrap; word-break: break-word; }
p.none { font-weight: bold; color: #116329; }
.missing { color: #6e7781; }
"""


def _href(out: Path, path: Path) -> str | None:
    """A relative, URL-quoted link from ``out/index.html`` to ``path``, or ``None`` when it is not there."""
    if not path.is_file():
        return None
    relative = Path(os.path.relpath(path.resolve(), out.resolve())).as_posix()
    return quote(relative, safe="/")


def _anchor(href: str | None, text: str, *, missing: str = "—") -> str:
    if href is None:
        return f'<span class="missing">{escape.html(missing)}</span>'
    return f'<a href="{escape.html(href)}">{escape.html(text)}</a>'


def _page_codes(name: str) -> frozenset[Code]:
    info = NOTEBOOKS.get(name)
    return frozenset(info.codes) if info is not None else frozenset()


def _covering_page(code: Code, results: Sequence[ReportOutput]) -> ReportOutput | None:
    """The page that explains ``code``: its family notebook when run, else ``overview``; working pages first."""
    family = [r for r in results if r.html.stem != "overview" and code in _page_codes(r.html.stem)]
    overview = [r for r in results if r.html.stem == "overview"]
    candidates = [r for r in (*family, *overview) if r.html.is_file()]
    return next((r for r in candidates if r.ok), candidates[0] if candidates else None)


def _page_count(result: ReportOutput, findings: Sequence[Finding]) -> int:
    """How many findings a page covers: its ``<name>.findings.json``, else the run's findings of its codes."""
    with contextlib.suppress(OSError, ValueError):
        records = json.loads(result.findings.read_text(encoding="utf-8"))
        if isinstance(records, list):
            return len(records)
    codes = _page_codes(result.html.stem)
    return sum(f.code in codes for f in findings)


def _runbook_cell(out: Path, runbook: str) -> str:
    from panda_analysis import runbook_html

    page = runbook_html.page_link(runbook)
    path, _, fragment = page.partition("#")
    href = _href(out, out / path)
    if href is None or page == runbook:  # runbooks not rendered here: name the section, link nothing
        return f"<code>{escape.html(runbook)}</code>"
    return _anchor(f"{href}#{fragment}" if fragment else href, runbook.removeprefix("runbooks/"))


def _when(value: pd.Timestamp | None) -> str:
    if value is None:
        return ""
    iso = value.isoformat().replace("+00:00", "Z")
    return f'<time datetime="{escape.html(iso)}">{escape.html(value.strftime("%Y-%m-%d %H:%M:%S"))}</time>'


def _findings_section(out: Path, results: Sequence[ReportOutput], findings: Sequence[Finding]) -> str:
    ordered = fnd.sort(findings)
    counts = {s: sum(f.severity is s for f in ordered) for s in Severity}
    if not ordered:
        return (
            '<h2 id="findings">Findings</h2>\n'
            '<p class="none">No findings: nothing wrong in this evidence for the rules that ran.</p>\n'
        )
    rows = []
    for f in ordered:
        subject = f'<br><span class="subject">{escape.html(f.subject)}</span>' if f.subject and f.subject != f.component else ""
        page = _covering_page(f.code, results)
        report_link = _anchor(_href(out, page.html), _title_of(page.html.stem)) if page is not None else _anchor(None, "")
        severity = escape.html(str(f.severity))
        rows.append(
            f'<tr><td class="sev sev-{severity}">{severity}</td><td><code>{escape.html(str(f.code))}</code></td>'
            f"<td>{escape.html(f.component)}{subject}</td>"
            f'<td class="summary"><strong>{escape.html(f.title)}</strong><br>{_code_spans(f.summary)}</td>'
            f'<td class="when">{_when(f.first_seen)}</td><td class="when">{_when(f.last_seen)}</td>'
            f'<td>{report_link}</td><td class="runbook">{_runbook_cell(out, f.runbook)}</td></tr>'
        )
    summary = ", ".join(f"{counts[s]} {s}" for s in Severity)
    return (
        f'<h2 id="findings">Findings: {len(ordered)} ({summary}), worst first</h2>\n'
        '<table class="findings">\n<thead><tr><th>severity</th><th>code</th><th>component / subject</th>'
        "<th>summary</th><th>first seen (UTC)</th><th>last seen (UTC)</th><th>report page</th><th>runbook</th></tr></thead>\n"
        f"<tbody>\n{chr(10).join(rows)}\n</tbody>\n</table>\n"
    )


def _title_of(name: str) -> str:
    info = NOTEBOOKS.get(name)
    return info.title if info is not None else name


def _pages_section(out: Path, results: Sequence[ReportOutput], findings: Sequence[Finding]) -> str:
    rows = []
    for r in results:
        name = r.html.stem
        if r.ok:
            status = '<span class="ok">ok</span>'
        else:
            status = f'<span class="failed">FAILED</span><div class="error">{escape.html(r.error)}</div>'
        duration = f"{r.duration_s:.1f} s" if r.duration_s is not None else "—"
        rows.append(
            f"<tr><td>{escape.html(_title_of(name))}<br><code>{escape.html(name)}</code></td>"
            f"<td>{_anchor(_href(out, r.html), r.html.name)}</td><td>{_anchor(_href(out, r.notebook), r.notebook.name)}</td>"
            f"<td>{status}</td><td class=\"num\">{_page_count(r, findings)}</td>"
            f'<td class="num">{escape.html(duration)}</td></tr>'
        )
    if not rows:
        return '<h2 id="pages">Pages</h2>\n<p>No notebook ran.</p>\n'
    return (
        '<h2 id="pages">Pages</h2>\n<table class="pages">\n<thead><tr><th>notebook</th><th>report page</th>'
        "<th>audit record</th><th>status</th><th>findings</th><th>duration</th></tr></thead>\n"
        f"<tbody>\n{chr(10).join(rows)}\n</tbody>\n</table>\n"
    )


_CODE_SPAN = re.compile(r"`([^`]+)`")


def _code_spans(text: str) -> str:
    """Escaped text with the rules' `code spans` shown as ``<code>``."""
    return _CODE_SPAN.sub(lambda m: f"<code>{m[1]}</code>", escape.html(text))


def write_index(
    out_dir: str | os.PathLike[str],
    results: Sequence[ReportOutput],
    findings: Sequence[Finding],
    *,
    bundle: str,
    generated: datetime.datetime | None = None,
) -> Path:
    """Write ``out_dir/index.html``: the run's findings worst first, then every page of the run.

    The findings table gives each finding's severity (coloured), code, component and subject,
    title and summary, first and last seen (UTC), the report page that explains it (the
    family notebook's page when it ran, else ``overview``) and its section of the rendered
    runbook (``runbooks/<name>.html#<anchor>``). With no findings it says so in one line. The
    pages table gives each notebook's title, its HTML page and executed ``.ipynb`` (the audit
    record), ``ok`` or ``FAILED`` with the one-line error, how many findings it covers (its
    ``<name>.findings.json``) and how long it ran. The header names the bundle, the time and
    the panda-analysis version and links ``findings.json`` and the runbooks' index.

    The page is self-contained (inline CSS, no script, nothing fetched), every value is
    HTML-escaped (summaries quote logs), and it links only files that exist in ``out_dir``.

    Parameters
    ----------
    out_dir
        The report directory (created if needed).
    results
        The run's pages, in run order (failed ones included).
    findings
        The run's findings (the union written to ``findings.json``); shown worst first.
    bundle
        The bundle the run read, as shown in the header.
    generated
        When the run was made, tz-aware (default: now, UTC).

    Returns
    -------
    Path
        ``out_dir/index.html``.

    Raises
    ------
    ParameterError
        ``generated`` has no time zone.

    Examples
    --------
    >>> import tempfile
    >>> import panda_analysis as pa
    >>> found = pa.diagnose.run(pa.samples.consumer_slow())
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     page = write_index(tmp, [], found, bundle="sample:consumer_slow")
    ...     "CONSUMER_SLOW" in page.read_text(encoding="utf-8")
    True
    """
    from panda_analysis import __version__

    moment = generated or datetime.datetime.now(datetime.UTC)
    if moment.tzinfo is None:
        msg = f"generated={moment!r} has no time zone; pass an aware datetime (UTC)"
        raise ParameterError(msg)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    when = moment.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    links = [
        _anchor(_href(out, out / "findings.json"), "findings.json", missing="no findings.json"),
        _anchor(_href(out, out / "runbooks" / "README.html"), "runbooks", missing="no rendered runbooks"),
    ]
    failed = sum(not r.ok for r in results)
    state = f' · <span class="failed">{failed} of {len(results)} pages FAILED</span>' if failed else ""
    body = (
        f"<header><h1>Incident report</h1>\n"
        f"<p>bundle <code>{escape.html(bundle)}</code> · generated {escape.html(when)} by panda-analysis "
        f"{escape.html(__version__)}{state}</p>\n<p>{' · '.join(links)}</p></header>\n<main>\n"
        f"{_findings_section(out, results, findings)}{_pages_section(out, results, findings)}</main>\n"
    )
    page = out / "index.html"
    page.write_text(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>Incident report — {escape.html(bundle)}</title>\n<style>\n{_INDEX_CSS}</style>\n</head>\n"
        f"<body>\n{body}</body>\n</html>\n",
        encoding="utf-8",
    )
    return page


# ------------------------------------------------------------------ scheduled runs

_DATED = "%Y%m%dT%H%M%SZ"


def dated_dir(base: str | Path, *, now: datetime.datetime | None = None) -> Path:
    """``base/<UTC yyyymmddTHHMMSSZ>/`` for a scheduled run (a second later if that name is taken)."""
    moment = now or datetime.datetime.now(datetime.UTC)
    root = Path(base)
    while True:
        candidate = root / moment.strftime(_DATED)
        if not candidate.exists():
            return candidate
        moment += datetime.timedelta(seconds=1)


def _dated_runs(base: Path) -> list[Path]:
    runs = []
    for child in base.iterdir() if base.is_dir() else []:
        try:
            datetime.datetime.strptime(child.name, _DATED)
        except ValueError:
            continue
        if child.is_dir() and not child.is_symlink():
            runs.append(child)
    return sorted(runs, key=lambda p: p.name)


def update_latest(base: str | Path, run: Path) -> Path:
    """Point ``base/latest`` at ``run`` (a relative symlink, replaced atomically)."""
    root = Path(base)
    link = root / "latest"
    tmp = root / f".latest-{run.name}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(run.name, target_is_directory=True)
    tmp.replace(link)
    return link


def prune(base: str | Path, *, keep: int) -> list[Path]:
    """Remove the oldest dated runs under ``base`` beyond the newest ``keep``; returns what was removed."""
    if keep < 1:
        msg = f"keep={keep!r}: keep at least the newest report"
        raise ParameterError(msg)
    runs = _dated_runs(Path(base))
    doomed = runs[: max(0, len(runs) - keep)]
    for run in doomed:
        shutil.rmtree(run)
    return doomed


def exit_status(found: Sequence[Finding], *, fail_on: str = "critical") -> int:
    """1 when ``found`` has a finding at least as bad as ``fail_on`` (``never``: always 0)."""
    if fail_on not in {"critical", "warning", "never"}:
        msg = f"fail_on={fail_on!r}: use critical, warning or never"
        raise ParameterError(msg)
    if fail_on == "never":
        return 0
    worst = Severity(fail_on).rank
    return 1 if any(f.severity.rank <= worst for f in found) else 0
