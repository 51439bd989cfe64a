"""The runbook notebooks in ``notebooks/``: shape, thin cells, and that they run.

Structure (fast): every notebook of ``report.NOTEBOOKS`` exists; cell 1 is a title linking
its runbook; cell 2 is the one ``parameters`` cell, annotated literals with help comments
that papermill's inspector reads, defaults equal to the rules'; no outputs are committed;
every other code cell is library calls only (checked with ``ast``); the committed files
are what ``tools/make_notebooks.py`` generates.

Execution (``-m notebook``, slow): each notebook runs under papermill on its sample(s) and
on ``sample:healthy`` and shows the expected findings; invalid parameters stop the run at
the first code cell with a message naming them; ``pytest --nbval-lax notebooks/`` passes.
The kernels run in a thread pool, started once for every execution test selected.
"""

from __future__ import annotations

import ast
import functools
import inspect
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest

import panda_analysis as pa
from panda_analysis.findings import Code
from panda_analysis.report import NOTEBOOKS

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NAMES = list(NOTEBOOKS)
COMMON = ("bundle", "since", "until")
FILTERS = {
    "retry_storm": "client",
    "crashloop": "pod",
    "consumer_delay": "job_id",
    "queues": "queue",
    "alert_trace": "alert_id",
}
RULES = {
    "fiber_metadata": "fiber",
    "retry_storm": "retry_storm",
    "crashloop": "crashloop",
    "consumer_delay": "consumer",
    "queues": "queues",
    "alert_trace": "alerts",
}
#: Plain-pandas escape hatches that would put logic into a notebook.
FORBIDDEN_ATTRIBUTES = {"apply", "eval", "iloc", "loc", "map", "query", "str"}
FORBIDDEN_NODES = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Lambda,
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
    ast.ImportFrom,
    ast.BinOp,
    ast.Subscript,
    ast.AugAssign,
    ast.If,
    ast.With,
    ast.Try,
    ast.Global,
    ast.Nonlocal,
)


def _read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)


def _code_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if c.cell_type == "code"]


# --------------------------------------------------------------------------- the checkers


def parameter_problems(source: str) -> tuple[dict[str, Any], list[str]]:
    """The parameters cell's ``{name: default}`` and what is wrong with it (STYLE rule 12)."""
    problems: list[str] = []
    values: dict[str, Any] = {}
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        return values, [f"syntax error: {err}"]
    lines = source.splitlines()
    used_lines: set[int] = set()
    for node in tree.body:
        where = f"line {node.lineno}"
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None):
            problems.append(f"{where}: not an annotated assignment `name: type = literal`")
            continue
        name = node.target.id
        if node.lineno != node.end_lineno or node.lineno in used_lines:
            problems.append(f"{where}: {name}: one assignment per line")
        used_lines.add(node.lineno)
        annotation = ast.unparse(node.annotation)
        try:
            value = ast.literal_eval(node.value)
        except ValueError:
            problems.append(f"{where}: {name}: default is not a literal")
            continue
        expected = {"str": str, "int": int, "float": float, "bool": bool}.get(annotation)
        if expected is None or type(value) is not expected:
            problems.append(f"{where}: {name}: annotation {annotation} does not match default {value!r}")
        comment = lines[node.lineno - 1][node.end_col_offset :].strip()
        if not comment.startswith("#") or len(comment.lstrip("# ")) < 5:
            problems.append(f"{where}: {name}: no trailing `# help` comment")
        elif "=" in comment:
            problems.append(f"{where}: {name}: papermill skips a line holding a second '='")
        values[name] = value
    if not values:
        problems.append("no parameters")
    return values, problems


def code_problems(source: str, known: set[str]) -> list[str]:
    """What makes a code cell more than library calls; ``known`` grows with its assignments."""
    problems: list[str] = []
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        return [f"syntax error: {err}"]
    calls = 0
    for stmt in tree.body:
        if isinstance(stmt, ast.Import):
            if [(a.name, a.asname) for a in stmt.names] != [("panda_analysis", "pa")]:
                problems.append(f"line {stmt.lineno}: only `import panda_analysis as pa` is allowed")
            known.add("pa")
            continue
        if isinstance(stmt, ast.Assign):
            if len(stmt.targets) != 1 or not isinstance(stmt.targets[0], ast.Name):
                problems.append(f"line {stmt.lineno}: assign one name")
            if not isinstance(stmt.value, ast.Call):
                problems.append(f"line {stmt.lineno}: assign only the result of a `pa.` call")
        elif not isinstance(stmt, ast.Expr):
            problems.append(f"line {stmt.lineno}: {type(stmt).__name__} statement")
        for node in ast.walk(stmt):
            if isinstance(node, FORBIDDEN_NODES):
                problems.append(f"line {node.lineno}: {type(node).__name__} (no logic in notebooks)")
            elif isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_ATTRIBUTES:
                problems.append(f"line {node.lineno}: .{node.attr} (pandas logic belongs in the library)")
            elif isinstance(node, ast.Call):
                calls += 1
                root = node.func
                while isinstance(root, ast.Attribute):
                    root = root.value
                if not isinstance(node.func, ast.Attribute) or not isinstance(root, ast.Name) or root.id not in known:
                    problems.append(f"line {node.lineno}: call {ast.unparse(node.func)}() is not on `pa.` or a result")
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in known:
                problems.append(f"line {node.lineno}: name {node.id!r} is not a parameter or an earlier result")
        if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
            known.add(stmt.targets[0].id)
    top_calls = sum(isinstance(s, ast.Expr | ast.Assign) for s in tree.body)
    if top_calls > 5:
        problems.append(f"{top_calls} statements; keep a cell to ~5 library calls")
    return problems


@pytest.mark.parametrize(
    "source",
    [
        "bundle = 'sample:healthy'  # no annotation",
        "min_restarts: int = 1",
        "min_restarts: int = 1  #",
        "min_restarts: int = 1.5  # wrong type",
        "x: float = float('nan')  # not a literal",
        "a: int = 1; b: int = 2  # two per line",
        "since: str = ''  # '' = all, a second equals sign",
        "import panda_analysis as pa",
    ],
)
def test_parameter_checker_rejects(source: str) -> None:
    assert parameter_problems(source)[1]


@pytest.mark.parametrize(
    "source",
    [
        "def f():\n    return pa.diagnose.run(frames)",
        "import re",
        "import pandas as pd",
        "from panda_analysis import plot",
        "x = [f for f in findings]",
        "frames.ingress['status']",
        "n = pa.report.load(bundle) + 1",
        "print(findings)",
        "display(findings)",
        "pa.findings.select(findings, about=lambda f: f)",
        "for f in findings:\n    pa.report.next_steps(f)",
        "frames.ingress.query('status == 503')",
        "pa.plot.crashloop(undefined_name)",
        "x = 1",
        "if bundle:\n    pa.report.inventory(bundle)",
        "\n".join(["pa.report.inventory(bundle)"] * 6),
    ],
)
def test_code_checker_rejects(source: str) -> None:
    assert code_problems(source, {"pa", "bundle", "frames", "findings"})


def test_code_checker_accepts_library_calls() -> None:
    source = (
        "found = pa.diagnose.crashloop(frames, min_restarts=min_restarts)\n"
        "findings = pa.findings.select(found, about=pod)\n"
        "pa.plot.crashloop(frames, pod=pod or None)\n"
        "frames.window(since, until)"
    )
    known = {"pa", "frames", "min_restarts", "pod", "since", "until"}
    assert code_problems(source, known) == []
    assert {"found", "findings"} <= known


# --------------------------------------------------------------------------- structure


def test_every_registered_notebook_exists_and_nothing_else() -> None:
    assert {p.stem for p in NOTEBOOK_DIR.glob("*.ipynb")} == set(NOTEBOOKS)


@pytest.mark.parametrize("name", NAMES)
def test_title_cell_links_its_runbook(name: str) -> None:
    first = _read(name).cells[0]
    assert first.cell_type == "markdown"
    assert first.source.startswith(f"# {NOTEBOOKS[name].title}\n")
    page = NOTEBOOKS[name].runbook
    assert f"](../{page})" in first.source, f"{name}: cell 1 does not link ../{page}"
    assert (ROOT / page).is_file()


@pytest.mark.parametrize("name", NAMES)
def test_one_parameters_cell_of_annotated_literals(name: str) -> None:
    import papermill

    nb = _read(name)
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert tagged == [1], f"{name}: cells tagged parameters: {tagged} (want exactly cell 2)"
    cell = nb.cells[1]
    assert cell.cell_type == "code"
    values, problems = parameter_problems(cell.source)
    assert problems == [], f"{name}: {problems}"
    assert tuple(values)[:3] == COMMON
    assert values["bundle"] == f"sample:{NOTEBOOKS[name].sample}"
    assert NOTEBOOKS[name].sample in pa.samples.names()
    assert values["since"] == values["until"] == ""
    # what `papermill --help-notebook` shows: every parameter, each with its help
    inspected = papermill.inspect_notebook(NOTEBOOK_DIR / f"{name}.ipynb")
    assert list(inspected) == list(values)
    assert all(p["help"] for p in inspected.values()), inspected


@pytest.mark.parametrize("name", [n for n in NAMES if n != "overview"])
def test_thresholds_are_the_rules_with_their_defaults(name: str) -> None:
    values, _ = parameter_problems(_read(name).cells[1].source)
    rule = getattr(pa.diagnose, RULES[name])
    signature = inspect.signature(rule).parameters
    thresholds = {k: v for k, v in values.items() if k not in COMMON and k != FILTERS.get(name)}
    assert thresholds, f"{name} exposes no thresholds of pa.diagnose.{RULES[name]}"
    for key, value in thresholds.items():
        assert key in signature, f"{name}: {key} is not a threshold of pa.diagnose.{RULES[name]}"
        assert signature[key].default == value, (
            f"{name}: {key}={value!r}, the rule's default is {signature[key].default!r}"
        )
    if name in FILTERS:
        assert values[FILTERS[name]] == ""
    assert set(pa.report.FILTER_PARAMETERS) >= set(FILTERS.values())


@pytest.mark.parametrize("name", NAMES)
def test_no_outputs_committed(name: str) -> None:
    nb = _read(name)
    assert nb.metadata.kernelspec.name == "python3"
    assert nb.nbformat == 4
    nbformat.validate(nb)
    for cell in _code_cells(nb):
        assert cell.outputs == [], f"{name}: cell {cell.id} has outputs"
        assert cell.execution_count is None, f"{name}: cell {cell.id} has an execution count"
        assert set(cell.metadata) <= {"tags"}, f"{name}: cell {cell.id} metadata {dict(cell.metadata)}"
    ids = [c.id for c in nb.cells]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z][a-z0-9-]*", i) for i in ids), ids  # chosen, not random


@pytest.mark.parametrize("name", NAMES)
def test_cells_are_library_calls_only(name: str) -> None:
    nb = _read(name)
    values, _ = parameter_problems(nb.cells[1].source)
    known = set(values)
    problems = []
    for cell in _code_cells(nb)[1:]:
        problems += [f"cell {cell.id}: {p}" for p in code_problems(cell.source, known)]
    assert problems == []
    assert 8 <= len(nb.cells) <= 25
    assert 4 <= len(_code_cells(nb)) <= 12
    load = _code_cells(nb)[1].source
    assert load.startswith("import panda_analysis as pa\n")
    assert "pa.report.load(bundle, since=since, until=until)" in load
    if name != "overview":
        assert f"pa.report.check(pa.diagnose.{RULES[name]}" in load.replace("(\n    ", "(")


@pytest.mark.parametrize("name", NAMES)
def test_every_parameter_is_used(name: str) -> None:
    nb = _read(name)
    values, _ = parameter_problems(nb.cells[1].source)
    used = {
        node.id
        for cell in _code_cells(nb)[1:]
        for node in ast.walk(ast.parse(cell.source))
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
    }
    assert set(values) - used == set(), f"{name}: parameters never used"


@pytest.mark.parametrize("name", NAMES)
def test_sections_mirror_the_runbook(name: str) -> None:
    headings = [c.source.splitlines()[0] for c in _read(name).cells if c.cell_type == "markdown"]
    wanted = ["## Evidence", "## Findings", "## Quoted evidence", "## Next steps"]
    positions = [headings.index(h) for h in wanted]
    assert positions == sorted(positions), headings
    assert len(headings) > len(wanted) + 1, f"{name}: no plot section"


def test_overview_links_every_family_notebook_and_runbook() -> None:
    text = "\n".join(c.source for c in _read("overview").cells if c.cell_type == "markdown")
    for name, info in NOTEBOOKS.items():
        if name != "overview":
            assert f"]({name}.ipynb)" in text
            assert f"](../{info.runbook})" in text


def test_python3_kernel_runs_this_environment() -> None:
    """papermill and nbval start the ``python3`` kernelspec: it must be this interpreter's."""
    from jupyter_client.kernelspec import KernelSpecManager

    argv = KernelSpecManager().get_kernel_spec("python3").argv
    # jupyter_client replaces a bare "python" / "python3" / "python3.11" with sys.executable
    bare = {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info[:2])}
    assert argv[0] in bare or Path(argv[0]).resolve() == Path(sys.executable).resolve(), argv


def test_generator_check_passes_on_the_committed_notebooks() -> None:
    result = subprocess.run(
        [sys.executable, "tools/make_notebooks.py", "--check"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_generator_check_reports_a_stale_notebook(tmp_path: Path) -> None:
    tool = [sys.executable, "tools/make_notebooks.py"]
    subprocess.run([*tool, "--out", str(tmp_path)], cwd=ROOT, check=True, capture_output=True)
    stale = tmp_path / "crashloop.ipynb"
    stale.write_text(stale.read_text(encoding="utf-8").replace("min_restarts: int = 1", "min_restarts: int = 2"))
    result = subprocess.run(
        [*tool, "--check", "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert "crashloop.ipynb" in result.stdout


# --------------------------------------------------------------------------- execution


#: (notebook, sample) → the finding codes its findings table must show ("No findings" when empty).
EXPECTED: dict[tuple[str, str], set[str]] = {
    ("overview", "waiting_for_fiber"): {"FIBER_WAITING", "FIBER_METADATA_MISSING", "RETRY_STORM", "CRASHLOOP_DNS"},
    ("overview", "consumer_slow"): {"CONSUMER_SLOW"},
    ("overview", "alert_lost"): {"ALERT_NOT_DELIVERED"},
    ("fiber_metadata", "waiting_for_fiber"): {"FIBER_WAITING", "FIBER_METADATA_MISSING"},
    ("retry_storm", "waiting_for_fiber"): {"RETRY_STORM"},
    ("crashloop", "waiting_for_fiber"): {"CRASHLOOP_DNS"},
    ("consumer_delay", "consumer_slow"): {"CONSUMER_SLOW"},
    ("queues", "consumer_slow"): set(),  # no queue problem in that sample: the notebook must say so
    ("queues", "queue_backlog"): {"QUEUE_BACKLOG", "QUEUE_ORPHANED"},
    ("overview", "queue_backlog"): {"QUEUE_BACKLOG", "QUEUE_ORPHANED"},
    ("alert_trace", "alert_lost"): {"ALERT_NOT_DELIVERED"},
    **{(name, "healthy"): set() for name in NOTEBOOKS},
}
#: Invalid parameters: (notebook, parameters, words the error must contain).
INVALID: dict[str, tuple[str, dict[str, Any], tuple[str, ...]]] = {
    "negative-threshold": ("crashloop", {"min_restarts": -1}, ("min_restarts", "-1", "positive")),
    "unknown-sample": ("overview", {"bundle": "sample:nope"}, ("nope", "healthy")),
    "bad-since": ("consumer_delay", {"since": "yesterday"}, ("since", "yesterday", "ISO-8601")),
}
FILTERED = ("retry_storm", {"client": "10.42.0.0"})


def _execute(name: str, out: Path, parameters: dict[str, Any]) -> nbformat.NotebookNode:
    import papermill
    from jupyter_core.utils import ensure_event_loop

    try:
        return papermill.execute_notebook(
            str(NOTEBOOK_DIR / f"{name}.ipynb"),
            str(out),
            kernel_name="python3",
            parameters=parameters,
            progress_bar=False,
            log_output=False,
            cwd=str(NOTEBOOK_DIR),
            execution_timeout=300,
            extra_arguments=list(pa.report.KERNEL_ARGUMENTS),  # the kernel a report run starts
        )
    finally:
        # nbclient runs on an event loop jupyter_core makes for this worker thread and never
        # closes; left to the garbage collector it is a ResourceWarning (an error here)
        ensure_event_loop().close()


def _nbval() -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    command = [
        sys.executable,
        "-m",
        "pytest",
        "--nbval-lax",
        "--nbval-current-env",
        "-p",
        "no:cacheprovider",
        "-v",
        "notebooks/",
    ]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)


@dataclass(frozen=True)
class Runs:
    """The executions under way: ``result(case)`` waits for one; ``out`` holds the notebooks."""

    out: Path
    futures: dict[str, Future[Any]]

    def result(self, case: str) -> Any:
        return self.futures[case].result()


@pytest.fixture(scope="module")
def runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    """Start every selected notebook execution at once in a pool; tests wait for their own."""
    wanted: set[str] = set()
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "case" in callspec.params:
            wanted.add(callspec.params["case"])
    out = tmp_path_factory.mktemp("notebooks")
    jobs: dict[str, Callable[[], Any]] = {}
    for name, sample in EXPECTED:
        key = f"{name}-{sample}"
        jobs[key] = functools.partial(_execute, name, out / f"{key}.ipynb", {"bundle": f"sample:{sample}"})
    for key, (name, parameters, _words) in INVALID.items():
        jobs[key] = functools.partial(_execute, name, out / f"{key}.ipynb", parameters)
    jobs["filtered"] = functools.partial(_execute, FILTERED[0], out / "filtered.ipynb", FILTERED[1])
    jobs["nbval"] = _nbval
    workers = min(4, (os.cpu_count() or 2) + 1)
    with ThreadPoolExecutor(workers, thread_name_prefix="notebook") as pool:
        # nbval first: it is the longest single job (seven notebooks in a row)
        order = sorted((k for k in jobs if k in wanted), key=lambda k: k != "nbval")
        futures = {key: pool.submit(jobs[key]) for key in order}
        yield Runs(out, futures)
        for future in futures.values():
            future.cancel()


def _outputs_text(cell: nbformat.NotebookNode) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts += [str(v) for v in output.get("data", {}).values()]
        parts.append(str(output.get("text", "")))
    return "\n".join(parts)


def _has_points(trace: dict[str, Any]) -> bool:
    """Whether a plotly trace (JSON) holds any x / y values, plain lists or typed arrays."""
    for axis in ("x", "y"):
        values = trace.get(axis)
        if isinstance(values, dict):  # plotly ≥ 6 typed array: {"dtype": ..., "bdata": base64}
            if values.get("bdata"):
                return True
        elif values is not None and len(values) > 0:
            return True
    return False


def _cell(nb: nbformat.NotebookNode, cell_id: str) -> nbformat.NotebookNode:
    return next(c for c in nb.cells if c.get("id") == cell_id)


@pytest.mark.notebook
@pytest.mark.parametrize("case", [f"{n}-{s}" for n, s in EXPECTED])
def test_notebook_runs_and_shows_its_findings(case: str, runs: Runs) -> None:
    name, sample = next((n, s) for n, s in EXPECTED if f"{n}-{s}" == case)
    nb = runs.result(case)
    errors = [o for c in _code_cells(nb) for o in c.outputs if o.output_type == "error"]
    assert errors == []
    assert all(c.execution_count is not None for c in _code_cells(nb)), "a cell did not run"
    shown = _outputs_text(_cell(nb, "findings"))
    codes = set(re.findall(r"\b(?:" + "|".join(c.value for c in Code) + r")\b", shown))
    expected = EXPECTED[(name, sample)]
    assert codes == expected, f"{case}: findings table shows {sorted(codes)}"
    assert ("No findings" in shown) == (not expected)
    if sample == "healthy":
        assert "No findings" in _outputs_text(_cell(nb, "next-steps"))
    for cell in _code_cells(nb):
        if "pa.plot." in cell.source:
            figures = [o.data.get("application/vnd.plotly.v1+json") for o in cell.outputs if "data" in o]
            figures = [f for f in figures if f is not None]
            assert len(figures) == 1, f"{case}: cell {cell.id} shows {len(figures)} plotly figures"
            if sample != "healthy":  # the incident samples have something to draw in every plot
                assert any(_has_points(trace) for trace in figures[0]["data"]), f"{case}: {cell.id} has no data"


@pytest.mark.notebook
@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_parameter_stops_the_run_at_once(case: str, runs: Runs) -> None:
    import papermill

    _name, _parameters, words = INVALID[case]
    with pytest.raises(papermill.PapermillExecutionError) as info:
        runs.result(case)
    message = str(info.value)
    for word in words:
        assert word in message, f"{case}: {word!r} not in {message!r}"
    partial = nbformat.read(runs.out / f"{case}.ipynb", as_version=4)
    ran = [c.id for c in _code_cells(partial) if c.execution_count is not None]
    assert ran[-1] == "load", f"{case}: ran {ran}: the run must stop at the load cell"


@pytest.mark.notebook
@pytest.mark.parametrize("case", ["filtered"])
def test_family_filter_selects_findings(case: str, runs: Runs) -> None:
    nb = runs.result(case)
    shown = _outputs_text(_cell(nb, "findings"))
    assert "10.42.0.0" in shown
    assert "10.42.2.0" not in shown  # the other storming client of the sample is filtered out
    assert "RETRY_STORM" in shown


@pytest.mark.notebook
@pytest.mark.parametrize("case", ["nbval"])
def test_nbval_runs_every_notebook(case: str, runs: Runs) -> None:
    result = runs.result(case)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    ran = set(re.findall(r"^notebooks/(\w+)(?:\.|::)ipynb::Cell \d+ PASSED", result.stdout, re.MULTILINE))
    assert ran == set(NOTEBOOKS), result.stdout[-2000:]
    assert not re.search(r"::Cell \d+ (FAILED|ERROR|SKIPPED)", result.stdout)
