"""The HTML report in a real headless browser (Debian's chromium, see conftest ``browser``).

Plotly figures in nbconvert HTML are easy to lose (plotly#5365: a kernel showing figures as
plotly's JSON mimetype gives HTML with no plot at all, and the ``notebook`` renderer pulls
require.js / MathJax from CDNs). These tests load the page from file:// with every network
request blocked and check what a reader would see: no script errors, every figure drawn with
data, the findings table present, no code.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import plotly.offline
import pytest

import panda_analysis as pa
from panda_analysis import runbook_html
from panda_analysis.report import NOTEBOOKS

PLOTLY_MIME = "application/vnd.plotly.v1+json"
pytestmark = pytest.mark.notebook


def _figures_in(notebook: Path) -> int:
    nb = nbformat.read(notebook, as_version=4)
    return sum(PLOTLY_MIME in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))


def _codes_in(findings: Path) -> list[str]:
    return sorted({f["code"] for f in json.loads(findings.read_text(encoding="utf-8"))})


def test_report_renders_in_a_browser(tiny_report, browser):
    assert _figures_in(tiny_report.notebook) == 2
    page = browser.open(tiny_report.html)
    assert page.problems(figures=2, codes=["CRASHLOOP_DNS"]) == []
    assert page.figures == 2
    assert page.title == "Crash loops and their root cause"
    assert page.code_inputs == 0


def test_checker_catches_figures_lost_by_plain_nbconvert(tiny_report, browser, tmp_path):
    # what `jupyter nbconvert --to html --no-input` makes of a plotly_mimetype notebook: no plots
    from nbconvert import HTMLExporter

    with pytest.warns(UserWarning, match="vnd.plotly.v1.json.* is not able to be represented"):
        body, _ = HTMLExporter(exclude_input=True).from_filename(str(tiny_report.notebook))
    lost = tmp_path / "lost.html"
    lost.write_text(body, encoding="utf-8")
    problems = browser.open(lost).problems(figures=2, codes=["CRASHLOOP_DNS"])
    assert any(p.startswith("missing plots: 0 of 2") for p in problems), problems
    assert any(p.startswith("request outside the file: https://cdnjs.cloudflare.com") for p in problems), problems


def test_checker_catches_figures_without_plotly_js(tiny_report, browser, tmp_path, monkeypatch):
    # figure <div>s present but no plotly.js (an empty plotly.min.js beside the page): the page throws and draws nothing
    monkeypatch.setattr(plotly.offline, "get_plotlyjs", lambda: "")
    broken = pa.report.export_html(tiny_report.notebook, out=tmp_path / "broken.html")
    page = browser.open(broken, settle_s=2)
    problems = page.problems(figures=2, codes=["CRASHLOOP_DNS"])
    assert page.figures == 2
    assert any("Plotly is not defined" in p for p in problems), problems
    assert any(p.startswith("missing plots: 0 of 2") for p in problems), problems


def test_pages_load_the_runs_one_plotly_js(tiny_report, browser, tmp_path):
    # issue #12: plotly.js once per run, beside the pages, not 5 MB inside each page
    shared = tiny_report.html.parent / pa.report.PLOTLY_JS
    assert shared.read_text(encoding="utf-8") == plotly.offline.get_plotlyjs()
    page = tiny_report.html.read_text(encoding="utf-8")
    assert re.findall(r"<script[^>]*\bsrc=\"([^\"]*)\"", page) == ["plotly.min.js"]  # relative: works from file://
    assert len(page.encode("utf-8")) < 1_000_000
    assert plotly.offline.get_plotlyjs()[:2000] not in page
    # the page without that file: the checker sees it draw nothing
    alone = tmp_path / "alone.html"
    alone.write_text(page, encoding="utf-8")
    problems = browser.open(alone, settle_s=2).problems(figures=2, codes=["CRASHLOOP_DNS"])
    assert any("Plotly is not defined" in p for p in problems), problems
    assert any(p.startswith("missing plots: 0 of 2") for p in problems), problems


def test_a_page_with_plotly_js_embedded_stands_alone(tiny_report, browser, tmp_path):
    page = pa.report.export_html(tiny_report.notebook, out=tmp_path / "alone.html", embed_plotlyjs=True)
    assert not (tmp_path / pa.report.PLOTLY_JS).exists()
    assert browser.open(page).problems(figures=2, codes=["CRASHLOOP_DNS"]) == []


def test_checker_catches_a_missing_findings_table(tiny_report, browser):
    problems = browser.open(tiny_report.html).problems(figures=2, codes=["CRASHLOOP_DNS", "RETRY_STORM"])
    assert problems == ["no table lists finding code RETRY_STORM"]


@pytest.fixture(scope="module")
def runbook_reports(tmp_path_factory) -> dict[str, pa.report.ReportOutput | BaseException]:
    """Every runbook notebook run by pa.report.run on its own sample, two kernels at a time."""
    from concurrent.futures import ThreadPoolExecutor

    names = [n for n in NOTEBOOKS if (pa.report.notebook_dir() / f"{n}.ipynb").exists()]
    out = tmp_path_factory.mktemp("runbook-reports")

    def one(name: str) -> pa.report.ReportOutput | BaseException:
        from jupyter_core.utils import ensure_event_loop

        try:
            return pa.report.run(name, bundle=f"sample:{NOTEBOOKS[name].sample}", out_dir=out / name)
        except pa.errors.PandaAnalysisError as err:
            return err
        finally:  # papermill's per-thread event loop: closed here, not left to the GC (ResourceWarning)
            ensure_event_loop().close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(names, pool.map(one, names), strict=True))


@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_runbook_notebook_report_renders(name, browser, runbook_reports):
    info = NOTEBOOKS[name]
    if name not in runbook_reports:
        pytest.skip(f"notebooks/{name}.ipynb not written yet")
    out = runbook_reports[name]
    if isinstance(out, BaseException):
        raise out
    codes = _codes_in(out.findings)  # empty for queues: no sample has a queue finding yet
    figures = _figures_in(out.notebook)
    assert figures >= 1, f"{name} shows no plotly figure"
    page = browser.open(out.html)
    assert page.problems(figures=figures, codes=codes) == []
    if not codes:
        assert any("No findings" in t for t in page.tables), page.tables
    assert page.code_inputs == 0
    assert page.title == info.title


class _Links(HTMLParser):
    """Every ``href`` and every element ``id`` of a page."""

    def __init__(self, path: Path) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self.ids: set[str] = set()
        self.feed(path.read_text(encoding="utf-8"))
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(values["id"] or "")
        if tag == "a" and values.get("href"):
            self.hrefs.append(values["href"] or "")


@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_runbook_notebook_report_links_rendered_runbook_sections(name, runbook_reports):
    if name not in runbook_reports:
        pytest.skip(f"notebooks/{name}.ipynb not written yet")
    out = runbook_reports[name]
    if isinstance(out, BaseException):
        raise out
    into_runbooks = [h for h in _Links(out.html).hrefs if h.startswith("runbooks/")]
    for href in into_runbooks:
        path, _, anchor = href.partition("#")
        target = out.html.parent / path
        assert target.suffix == ".html", f"{name}: {href} is not a rendered page"
        assert target.is_file(), f"{name}: {href} does not exist"
        if anchor:
            assert anchor in _Links(target).ids, f"{name}: {href}: no element with that id"
    assert runbook_html.page_link(NOTEBOOKS[name].runbook) in into_runbooks  # the title cell's runbook link
    for finding in json.loads(out.findings.read_text(encoding="utf-8")):
        assert runbook_html.page_link(finding["runbook"]) in into_runbooks, f"{name}: no link for {finding['code']}"
