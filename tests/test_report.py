"""pa.report.run / run_all and `panda-analysis report`: files written, parameters, failures, exit codes.

Tests marked ``notebook`` start real kernels on small notebooks (conftest ``tiny_notebooks``);
the others replace ``papermill.execute_notebook`` with a fake so they stay fast and prove that
nothing is executed when parameters are wrong.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill
import pytest

import panda_analysis as pa
from panda_analysis.cli import main
from panda_analysis.errors import BundleError, ReportError
from panda_analysis.report import NOTEBOOKS, ParameterError

PLOTLY_MIME = "application/vnd.plotly.v1+json"


def _library_findings(bundle: str, codes, *, options=None, about: str = "", since: str = "", until: str = "") -> list:
    frames = pa.report.load(bundle, since=since, until=until)
    found = pa.diagnose.run(frames, only=codes, options=options)
    return json.loads(json.dumps(pa.findings.to_json(pa.findings.select(found, about=about)), ensure_ascii=False))


def _read_json(path: Path) -> list:
    return json.loads(path.read_text(encoding="utf-8"))


class FakePapermill:
    """Stands in for papermill.execute_notebook: records calls, copies the notebook, can fail."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.fail: dict[str, str] = {}  # notebook stem -> ename

    def __call__(self, input_path, output_path, parameters=None, **kwargs):
        self.calls.append({"input": Path(input_path), "parameters": dict(parameters or {}), **kwargs})
        nb = nbformat.read(input_path, as_version=4)
        nbformat.write(nb, output_path)
        stem = Path(input_path).stem
        if stem in self.fail:
            raise papermill.PapermillExecutionError(
                cell_index=3, exec_count=2, source="raise", ename=self.fail[stem], evalue=f"{stem} went wrong\nsecond line",
                traceback=["Traceback ..."],
            )
        return nb


@pytest.fixture
def fake_papermill(monkeypatch) -> FakePapermill:
    fake = FakePapermill()
    monkeypatch.setattr(papermill, "execute_notebook", fake)
    return fake


@pytest.fixture
def notebooks_env(monkeypatch, tiny_notebooks: Path) -> Path:
    """Point PANDA_ANALYSIS_NOTEBOOKS at the tiny notebooks so names resolve there."""
    monkeypatch.setenv("PANDA_ANALYSIS_NOTEBOOKS", str(tiny_notebooks))
    return tiny_notebooks


# ---------------------------------------------------------------- parameters are checked before any kernel starts


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"min_restarts": -1}, "min_restarts=-1 must be a positive number"),
        ({"min_restarts": "3"}, "min_restarts='3' must be an integer"),
        ({"pod": 3.5}, "pod=3.5 must be a string"),
        ({"since": "yesterday"}, "since='yesterday'"),
        ({"job_id": "19-6"}, "notebook 'crashloop' has no parameter 'job_id'; its parameters are bundle, since, until, min_restarts, pod"),
        ({"bundle": "sample:healthy"}, "give the bundle once"),
    ],
)
def test_bad_parameters_stop_before_execution(fake_papermill, notebooks_env, tmp_path, parameters, message):
    with pytest.raises(ParameterError, match=r"^.*$") as info:
        pa.report.run("crashloop", bundle="sample:waiting_for_fiber", out_dir=tmp_path, parameters=parameters)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert fake_papermill.calls == []
    assert list(tmp_path.iterdir()) == []


def test_unknown_notebook_lists_the_notebooks(fake_papermill, tmp_path):
    with pytest.raises(ParameterError) as info:
        pa.report.run("crashlop", bundle="sample:healthy", out_dir=tmp_path)
    assert all(name in str(info.value) for name in NOTEBOOKS)
    assert fake_papermill.calls == []


def test_missing_bundle_is_a_parameter_error_naming_it(fake_papermill, notebooks_env, tmp_path):
    with pytest.raises(ParameterError, match=r"parameter bundle=.*nope.*no such bundle") as info:
        pa.report.run("crashloop", bundle=str(tmp_path / "nope"), out_dir=tmp_path / "out")
    assert isinstance(info.value.__cause__, BundleError)
    assert fake_papermill.calls == []


def test_run_passes_parameters_and_pins_the_kernel(fake_papermill, notebooks_env, tmp_path, make_bundle, monkeypatch):
    bundle = make_bundle({"logs/panda/mongodb-0/mongodb.log": "2025-11-08T13:00:00Z started\n"})
    monkeypatch.chdir(bundle.parent)  # a relative bundle path reaches the kernel as an absolute one
    out = pa.report.run("crashloop", bundle=bundle.name, out_dir=tmp_path / "out", parameters={"pod": 19})
    (call,) = fake_papermill.calls
    assert call["parameters"] == {"bundle": str(bundle.resolve()), "pod": "19"}  # absolute; CLI numbers → str
    assert call["kernel_name"] == "python3"
    assert call["input"] == notebooks_env / "crashloop.ipynb"
    assert out.ok
    assert out.notebook.exists()
    assert out.html.exists()
    assert out.findings.exists()
    # runbooks travel with the report, rendered to HTML, and the page links to them
    page = out.html.read_text(encoding="utf-8")
    assert (tmp_path / "out" / "runbooks" / "crashloop.html").exists()
    assert not (tmp_path / "out" / "runbooks" / "crashloop.md").exists()
    assert 'href="runbooks/crashloop.html"' in page
    assert 'href="index.html"' in page  # the header links the run's index
    assert (tmp_path / "out" / "index.html").exists()
    assert 'href="overview.ipynb"' in page  # no overview page in this run: link left alone


def test_findings_json_is_the_library_computation(fake_papermill, notebooks_env, tmp_path):
    codes = NOTEBOOKS["retry_storm"].codes
    out = pa.report.run("retry_storm", bundle="sample:waiting_for_fiber", out_dir=tmp_path)
    everything = _library_findings("sample:waiting_for_fiber", codes)
    assert [f["code"] for f in everything] == ["RETRY_STORM", "RETRY_STORM"]
    assert _read_json(out.findings) == everything
    assert _read_json(tmp_path / "findings.json") == everything
    # a family filter keeps what the notebook keeps; thresholds reach the rule
    out = pa.report.run("retry_storm", bundle="sample:waiting_for_fiber", out_dir=tmp_path, parameters={"client": "10.42.2"})
    assert _read_json(out.findings) == _library_findings("sample:waiting_for_fiber", codes, about="10.42.2")
    assert len(_read_json(out.findings)) == 1
    out = pa.report.run("retry_storm", bundle="sample:waiting_for_fiber", out_dir=tmp_path, parameters={"min_attempts": 100000})
    assert _read_json(out.findings) == []


@pytest.mark.parametrize("jobs", [1, 2])
def test_run_all_continues_after_a_failure_and_reports_it(fake_papermill, notebooks_env, tmp_path, jobs):
    fake_papermill.fail["crashloop"] = "RuntimeError"
    lines: list[str] = []
    with pytest.raises(ReportError) as info:
        pa.report.run_all(
            "sample:waiting_for_fiber", out_dir=tmp_path, notebooks="crashloop,overview", progress=False,
            on_progress=lines.append, parameters={"min_restarts": 2}, jobs=jobs,
        )
    calls = {c["input"].stem: c for c in fake_papermill.calls}
    assert sorted(calls) == ["crashloop", "overview"]
    assert calls["crashloop"]["parameters"]["min_restarts"] == 2
    assert "min_restarts" not in calls["overview"]["parameters"]  # only notebooks that declare it
    assert "1 of 2 notebooks failed" in str(info.value)
    assert str(tmp_path / "crashloop.ipynb") in str(info.value)
    assert str(tmp_path / "crashloop.html") in str(info.value)
    assert (tmp_path / "overview.html").exists()
    assert 'href="overview.html"' in (tmp_path / "crashloop.html").read_text(encoding="utf-8")  # sibling page
    assert len(lines) == 4
    if jobs == 1:  # one after the other, overview first
        assert [c["input"].stem for c in fake_papermill.calls] == ["overview", "crashloop"]
        assert lines[0] == "[1/2] overview …"
        assert lines[1].startswith("[1/2] overview done in ")
        assert lines[2] == "[2/2] crashloop …"
        assert lines[3].startswith("[2/2] crashloop FAILED in ")
    else:  # both start at once, overview first; each ends when it ends
        assert lines[:2] == ["[1/2] overview …", "[2/2] crashloop …"]
        assert sorted(line.split(" in ")[0] for line in lines[2:]) == ["[1/2] overview done", "[2/2] crashloop FAILED"]
    union = _library_findings("sample:waiting_for_fiber", list(pa.findings.Code))
    assert _read_json(tmp_path / "findings.json") == union
    pages = (tmp_path / "index.html").read_text(encoding="utf-8").split('id="pages"')[1]
    assert pages.index("overview.html") < pages.index("crashloop.html")  # pages listed in run order


def test_jobs_must_be_a_positive_count(fake_papermill, notebooks_env, tmp_path):
    with pytest.raises(ParameterError, match="jobs=0: run at least one notebook at a time"):
        pa.report.run_all("sample:healthy", out_dir=tmp_path, notebooks="overview", jobs=0)
    assert fake_papermill.calls == []


def test_run_all_rejects_a_parameter_no_notebook_declares(fake_papermill, notebooks_env, tmp_path):
    with pytest.raises(ParameterError, match="no selected notebook"):
        pa.report.run_all("sample:healthy", out_dir=tmp_path, notebooks=["overview"], parameters={"pod": "x"})
    assert fake_papermill.calls == []


def test_notebook_parameter_error_is_one_clean_line(fake_papermill, notebooks_env, tmp_path):
    fake_papermill.fail["strict"] = "ParameterError"
    with pytest.raises(ParameterError) as info:
        pa.report.run(notebooks_env / "strict.ipynb", bundle="sample:healthy", out_dir=tmp_path)
    text = str(info.value)
    assert text.startswith("strict went wrong")
    assert "\n" not in text.replace("strict went wrong\nsecond line", "")
    assert str(tmp_path / "strict.ipynb") in text


# ---------------------------------------------------------------- the command line (fast: fake papermill)


def test_cli_report_exit_codes_and_paths(fake_papermill, notebooks_env, tmp_path, capsys):
    out = tmp_path / "healthy"
    assert main(["report", "sample:healthy", "--notebook", "overview", "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert str((out / "overview.html").resolve()) in printed.out
    assert str((out / "findings.json").resolve()) in printed.out
    assert "Findings: " in printed.out
    assert "[1/1] overview done in" in printed.err

    out = tmp_path / "incident"
    assert main(["report", "sample:waiting_for_fiber", "-n", "overview", "-o", str(out)]) == 1  # critical findings
    assert "2 critical" in capsys.readouterr().out

    fake_papermill.fail["crashloop"] = "RuntimeError"
    out = tmp_path / "failed"
    status = main(["report", "sample:healthy", "-n", "overview", "-n", "crashloop", "-o", str(out), "-p", "min_restarts", "3"])
    assert status == 3
    printed = capsys.readouterr()
    assert "crashloop went wrong" in printed.err
    assert f"partial notebook: {(out / 'crashloop.ipynb').resolve()}" in printed.err
    assert f"partial report:   {(out / 'crashloop.html').resolve()}" in printed.err
    (crashloop,) = [c for c in fake_papermill.calls if c["input"].stem == "crashloop"]
    assert crashloop["parameters"]["min_restarts"] == 3  # -p values read as JSON


@pytest.mark.parametrize(
    "argv",
    [
        ["report", "sample:healthy", "-n", "nope"],
        ["report", "sample:healthy", "-p", "min_restarts", "-1", "-n", "crashloop"],
        ["report", "sample:healthy", "-p", "nonsense", "1"],
        ["report", "sample:no_such_sample"],
    ],
)
def test_cli_report_usage_errors_exit_2(fake_papermill, notebooks_env, tmp_path, capsys, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("panda-analysis: error: ")
    assert len(err.strip().splitlines()) == 1
    assert fake_papermill.calls == []


def test_cli_default_out_dir_is_timestamped_under_reports(fake_papermill, notebooks_env, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["report", "sample:healthy", "-n", "overview"]) == 0
    (made,) = (tmp_path / "reports").iterdir()
    assert made.name.startswith("healthy-")
    assert made.name.endswith("Z")
    assert (made / "overview.html").exists()


@pytest.mark.parametrize(("text", "value"), [("3", 3), ("2.5", 2.5), ("true", True), ("False", False), ("19-6", "19-6"), ('["a"]', ["a"]), ("abc", "abc")])
def test_cli_parameter_values(text, value):
    from panda_analysis.cli import _param_value

    assert _param_value(text) == value


# ---------------------------------------------------------------- real kernels


@pytest.mark.notebook
def test_run_writes_the_audit_notebook_html_and_findings(tiny_report):
    assert tiny_report.ok
    executed = nbformat.read(tiny_report.notebook, as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1
    assert "min_restarts = 1" in injected[0].source
    assert 'pod = "focus"' in injected[0].source
    assert 'bundle = "sample:waiting_for_fiber"' in injected[0].source
    figures = [o for c in executed.cells for o in c.get("outputs", []) if PLOTLY_MIME in o.get("data", {})]
    assert len(figures) == 2  # the kernel was pinned to plotly's JSON mimetype
    page = tiny_report.html.read_text(encoding="utf-8")
    assert "frames = pa.report.load" not in page  # code is hidden
    assert "min_restarts = 1" not in page  # so are the injected parameters
    assert "<title>Crash loops and their root cause</title>" in page
    assert page.count('class="plotly-graph-div"') == 2
    assert page.count("Plotly.newPlot(") == 2
    assert "CRASHLOOP_DNS" in page
    assert "cdn.plot.ly/plotly" not in page
    assert "require.min.js" not in page
    codes = NOTEBOOKS["crashloop"].codes
    expected = _library_findings("sample:waiting_for_fiber", codes, options={"crashloop": {"min_restarts": 1}}, about="focus")
    assert [f["code"] for f in expected] == ["CRASHLOOP_DNS"]
    assert _read_json(tiny_report.findings) == expected


@pytest.mark.notebook
def test_failing_cell_keeps_partial_notebook_and_html(tiny_notebooks, tmp_path):
    with pytest.raises(ReportError) as info:
        pa.report.run(tiny_notebooks / "failing.ipynb", bundle="sample:healthy", out_dir=tmp_path)
    err = info.value
    assert err.notebook == tmp_path / "failing.ipynb"
    assert err.html == tmp_path / "failing.html"
    assert err.notebook.exists()
    assert err.html.exists()
    assert str(err.notebook) in str(err)
    assert str(err.html) in str(err)
    assert "RuntimeError: deliberate failure for the test" in str(err)
    page = err.html.read_text(encoding="utf-8")
    assert "cell before the failure ran" in page
    assert "deliberate failure for the test" in page
    assert "cell after the failure ran" not in page
    assert "run FAILED" in page


@pytest.mark.notebook
def test_parameter_rejected_inside_the_notebook_is_one_line(tiny_notebooks, tmp_path):
    with pytest.raises(ParameterError) as info:
        pa.report.run(tiny_notebooks / "strict.ipynb", bundle="sample:healthy", out_dir=tmp_path, parameters={"limit": -3})
    text = str(info.value)
    assert text.startswith("parameter min_restarts=-3 must be a positive number")
    assert "\n" not in text
    assert (tmp_path / "strict.html").exists()


@pytest.mark.notebook
def test_a_hung_cell_times_out_into_a_report_error(tiny_notebooks, tmp_path):
    with pytest.raises(ReportError, match="CellTimeoutError") as info:
        pa.report.run(tiny_notebooks / "slow.ipynb", bundle="sample:healthy", out_dir=tmp_path, timeout_s=2)
    assert info.value.html is not None
    assert info.value.html.exists()


@pytest.mark.notebook
def test_cli_report_end_to_end_with_a_failing_notebook(tiny_notebooks, tmp_path):
    out = tmp_path / "report"
    result = subprocess.run(
        [sys.executable, "-m", "panda_analysis", "report", "sample:waiting_for_fiber", "--out", str(out),
         "--notebook", f"overview,{tiny_notebooks / 'failing.ipynb'}"],
        capture_output=True, text=True, check=False,
        env={**os.environ, "PANDA_ANALYSIS_NOTEBOOKS": str(tiny_notebooks)},
    )
    assert result.returncode == 3, result.stderr
    assert str((out / "overview.html").resolve()) in result.stdout
    assert str((out / "findings.json").resolve()) in result.stdout
    assert "2 critical" in result.stdout
    assert "[2/2] failing FAILED in" in result.stderr
    assert f"partial notebook: {(out / 'failing.ipynb').resolve()}" in result.stderr
    assert f"partial report:   {(out / 'failing.html').resolve()}" in result.stderr
    assert "WARNING" not in result.stderr  # no kernel noise
    assert (out / "failing.html").exists()
