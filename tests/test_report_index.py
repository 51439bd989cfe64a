"""``index.html`` of a report run (``pa.report.write_index``): findings worst first, then every page.

Unit tests feed fabricated ReportOutputs and findings; one end-to-end run executes two real
runbook notebooks and a failing one with ``run_all`` and checks the index links, order and
what a headless browser makes of it.
"""

from __future__ import annotations

import datetime
import json
import random
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

import panda_analysis as pa
from panda_analysis import runbook_html
from panda_analysis.errors import ReportError
from panda_analysis.findings import Code, Finding, Severity
from panda_analysis.report import NOTEBOOKS, ParameterError, ReportOutput

GENERATED = datetime.datetime(2025, 11, 8, 13, 25, tzinfo=datetime.UTC)


class Index(HTMLParser):
    """An index page as data: ids, every href, and each table's rows as (cell texts, hrefs, classes)."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.hrefs: list[str] = []
        self.tags: list[str] = []
        self.tables: dict[str, list[dict]] = {}
        self.title = ""
        self._table: str | None = None
        self._row: dict | None = None
        self._cell: list[str] | None = None
        self._in_title = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.tags.append(tag)
        if "id" in values:
            self.ids.add(values["id"])
        if tag == "table":
            self._table = values.get("class", "")
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self._row = {"cells": [], "hrefs": [], "classes": []}
        elif tag in {"td", "th"} and self._row is not None:
            self._cell = []
            self._row["classes"].append(values.get("class", ""))
        elif tag in {"br", "div"} and self._cell is not None:
            self._cell.append(" ")  # what a reader sees as a line break
        elif tag == "a" and "href" in values:
            self.hrefs.append(values["href"])
            if self._row is not None:
                self._row["hrefs"].append(values["href"])
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False
        if tag in {"td", "th"} and self._row is not None and self._cell is not None:
            self._row["cells"].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._in_title:
            self.title += data

    def rows(self, table: str) -> list[dict]:
        """Body rows of the table with class ``table`` (its header row dropped)."""
        return self.tables.get(table, [])[1:]


def read(path: Path) -> Index:
    return Index(path.read_text(encoding="utf-8"))


def _finding(code: Code, severity: Severity, *, minute: int, summary: str = "", component: str = "focus-server",
             subject: str = "") -> Finding:
    start = pd.Timestamp("2025-11-08T13:00:00Z") + pd.Timedelta(minutes=minute)
    return Finding(
        code=code, severity=severity, title=f"{code} title", summary=summary or f"{code} happened 3 times.",
        component=component, subject=subject, first_seen=start, last_seen=start + pd.Timedelta(minutes=5),
    )


FINDINGS = [
    _finding(Code.QUEUE_ORPHANED, Severity.INFO, minute=1, component="rabbitmq", subject="grpc-job-19-6"),
    _finding(Code.RETRY_STORM, Severity.WARNING, minute=2, component="ingress", subject="10.42.0.7"),
    _finding(
        Code.CRASHLOOP_DNS, Severity.CRITICAL, minute=3,
        summary="focus restarted 4 times; last line <script>alert('pwned')</script> & more", component="<b>focus</b>",
    ),
    _finding(Code.FIBER_WAITING, Severity.CRITICAL, minute=0, component="focus-server"),
]


def _page(out: Path, name: str, *, ok: bool = True, error: str = "", duration_s: float | None = 2.25,
          findings: list[Finding] | None = None, files: bool = True) -> ReportOutput:
    result = ReportOutput(
        out / f"{name}.ipynb", out / f"{name}.html", out / f"{name}.findings.json", ok=ok, error=error,
        duration_s=duration_s,
    )
    if files:
        result.notebook.write_text("{}", encoding="utf-8")
        result.html.write_text(f"<!DOCTYPE html><title>{name}</title>", encoding="utf-8")
    if findings is not None:
        result.findings.write_text(json.dumps(pa.findings.to_json(findings)), encoding="utf-8")
    return result


@pytest.fixture
def report_dir(tmp_path: Path) -> tuple[Path, list[ReportOutput]]:
    """A report directory with overview and crashloop pages, a failed retry_storm and rendered runbooks."""
    out = tmp_path / "run"
    out.mkdir()
    results = [
        _page(out, "overview"),
        _page(out, "retry_storm", ok=False, error="notebook retry_storm failed: cell In [3] raised RuntimeError: <boom>"),
        _page(out, "crashloop", findings=[FINDINGS[2]], duration_s=None),
    ]
    (out / "findings.json").write_text("[]", encoding="utf-8")
    runbook_html.render(out, pages=["overview", "retry_storm", "crashloop"], index=True)
    return out, results


# ---------------------------------------------------------------- unit: fabricated runs


def test_findings_worst_first_with_their_pages_and_runbook_sections(report_dir, broken_links):
    out, results = report_dir
    shuffled = random.Random(4).sample(FINDINGS, k=len(FINDINGS))
    page = pa.report.write_index(out, results, shuffled, bundle="sample:waiting_for_fiber", generated=GENERATED)
    assert page == out / "index.html"
    rows = read(page).rows("findings")
    assert [r["cells"][1] for r in rows] == ["FIBER_WAITING", "CRASHLOOP_DNS", "RETRY_STORM", "QUEUE_ORPHANED"]
    assert [r["cells"][1] for r in rows] == [str(f.code) for f in pa.findings.sort(FINDINGS)]
    assert [r["cells"][0] for r in rows] == ["critical", "critical", "warning", "info"]
    assert [r["classes"][0] for r in rows] == ["sev sev-critical", "sev sev-critical", "sev sev-warning", "sev sev-info"]
    by_code = {r["cells"][1]: r for r in rows}
    # the family page when it ran fine, else overview (retry_storm failed; queues did not run)
    assert by_code["CRASHLOOP_DNS"]["hrefs"] == ["crashloop.html", "runbooks/crashloop.html#dns"]
    assert by_code["RETRY_STORM"]["hrefs"] == ["overview.html", "runbooks/retry_storm.html#retry-storm"]
    assert by_code["QUEUE_ORPHANED"]["hrefs"] == ["overview.html", "runbooks/queues.html#orphaned"]
    assert by_code["QUEUE_ORPHANED"]["cells"][2] == "rabbitmq grpc-job-19-6"  # component / subject
    assert by_code["FIBER_WAITING"]["cells"][4:6] == ["2025-11-08 13:00:00", "2025-11-08 13:05:00"]
    assert "FIBER_WAITING happened 3 times." in by_code["FIBER_WAITING"]["cells"][3]
    assert broken_links(page) == []


def test_pages_with_status_counts_and_durations(report_dir):
    out, results = report_dir
    page = pa.report.write_index(out, results, FINDINGS, bundle="sample:waiting_for_fiber", generated=GENERATED)
    rows = read(page).rows("pages")
    assert [r["cells"][0] for r in rows] == [
        "Incident overview overview", "Client retry storms retry_storm", "Crash loops and their root cause crashloop",
    ]
    assert [r["hrefs"] for r in rows] == [
        ["overview.html", "overview.ipynb"], ["retry_storm.html", "retry_storm.ipynb"], ["crashloop.html", "crashloop.ipynb"],
    ]
    assert rows[0]["cells"][3] == "ok"
    assert rows[1]["cells"][3] == "FAILED notebook retry_storm failed: cell In [3] raised RuntimeError: <boom>"
    # findings covered: crashloop's own <name>.findings.json; else the run's findings of the page's codes
    assert [r["cells"][4] for r in rows] == ["4", "1", "1"]
    assert [r["cells"][5] for r in rows] == ["2.2 s", "2.2 s", "—"]


def test_header_names_the_run_and_links_findings_and_runbooks(report_dir):
    out, results = report_dir
    page = pa.report.write_index(out, results, FINDINGS, bundle="/data/bundle <1>.tar.gz", generated=GENERATED)
    text = page.read_text(encoding="utf-8")
    index = read(page)
    assert "bundle /data/bundle <1>.tar.gz" not in text
    assert "<code>/data/bundle &lt;1&gt;.tar.gz</code>" in text
    assert "generated 2025-11-08 13:25:00 UTC" in text
    assert f"panda-analysis {pa.__version__}" in text
    assert index.hrefs[:2] == ["findings.json", "runbooks/README.html"]
    assert "1 of 3 pages FAILED" in text
    assert index.title == "Incident report — /data/bundle <1>.tar.gz"


def test_everything_from_logs_is_escaped_and_nothing_is_loaded(report_dir):
    out, results = report_dir
    text = pa.report.write_index(out, results, FINDINGS, bundle="b", generated=GENERATED).read_text(encoding="utf-8")
    index = Index(text)
    assert "script" not in index.tags
    assert "<script>" not in text
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt; &amp; more" in text
    assert "<b>focus</b>" not in text
    assert "&lt;b&gt;focus&lt;/b&gt;" in text
    assert "RuntimeError: &lt;boom&gt;" in text
    assert "src=" not in text
    assert "<link" not in text
    assert "http" not in text.replace("http-equiv", "")


def test_no_findings_is_one_clear_line(report_dir):
    out, results = report_dir
    text = pa.report.write_index(out, results, [], bundle="sample:healthy", generated=GENERATED).read_text(encoding="utf-8")
    assert "No findings: nothing wrong in this evidence for the rules that ran." in text
    assert read(out / "index.html").rows("findings") == []
    assert [r["cells"][4] for r in read(out / "index.html").rows("pages")] == ["0", "0", "1"]


def test_links_only_what_exists(tmp_path: Path):
    # an installed package (no rendered runbooks), no findings.json, a page whose kernel died before any output
    died = _page(tmp_path, "crashloop", ok=False, error="notebook crashloop failed before any output was written",
                 files=False)
    page = pa.report.write_index(tmp_path, [died], FINDINGS[2:3], bundle="b", generated=GENERATED)
    index = read(page)
    assert index.hrefs == []
    (row,) = index.rows("findings")
    assert row["cells"][6:] == ["—", "runbooks/crashloop.md#dns"]
    assert "no findings.json" in page.read_text(encoding="utf-8")
    assert "no rendered runbooks" in page.read_text(encoding="utf-8")


def test_a_partial_family_page_is_linked_when_no_page_ran_fine(tmp_path: Path):
    results = [_page(tmp_path, "crashloop", ok=False, error="failed")]
    index = read(pa.report.write_index(tmp_path, results, FINDINGS[2:3], bundle="b", generated=GENERATED))
    assert index.rows("findings")[0]["hrefs"][0] == "crashloop.html"


def test_generated_must_be_aware(tmp_path: Path):
    with pytest.raises(ParameterError, match="no time zone"):
        pa.report.write_index(tmp_path, [], [], bundle="b", generated=datetime.datetime(2025, 11, 8, 13, 25))


def test_run_writes_the_index_even_when_the_notebook_fails(tmp_path, monkeypatch, tiny_notebooks, broken_links):
    import papermill

    def fail(input_path, output_path, **_kwargs):
        Path(output_path).write_text(Path(input_path).read_text(encoding="utf-8"), encoding="utf-8")
        raise papermill.PapermillExecutionError(
            cell_index=3, exec_count=2, source="raise", ename="RuntimeError", evalue="went wrong", traceback=[],
        )

    monkeypatch.setattr(papermill, "execute_notebook", fail)
    with pytest.raises(ReportError, match="went wrong"):
        pa.report.run(tiny_notebooks / "crashloop.ipynb", bundle="sample:waiting_for_fiber", out_dir=tmp_path)
    index = read(tmp_path / "index.html")
    (row,) = index.rows("pages")
    assert row["cells"][3].startswith("FAILED notebook crashloop failed: cell In [2] raised RuntimeError: went wrong")
    assert [r["cells"][1] for r in index.rows("findings")] == ["CRASHLOOP_DNS"]
    assert (tmp_path / "findings.json").is_file()
    assert broken_links(tmp_path / "index.html") == []


# ---------------------------------------------------------------- end to end: real notebooks, a failing one


@pytest.fixture(scope="module")
def index_run(tiny_notebooks: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """overview and retry_storm (the real notebooks) plus the tiny failing one, by run_all."""
    out = tmp_path_factory.mktemp("index-run")
    with pytest.raises(ReportError, match="1 of 3 notebooks failed"):
        pa.report.run_all(
            "sample:waiting_for_fiber", out_dir=out, progress=False,
            notebooks=["overview", "retry_storm", str(tiny_notebooks / "failing.ipynb")],
        )
    return out


@pytest.mark.notebook
def test_index_of_a_real_run(index_run: Path, broken_links):
    page = index_run / "index.html"
    assert broken_links(page) == []
    index = read(page)
    found = json.loads((index_run / "findings.json").read_text(encoding="utf-8"))
    rows = index.rows("findings")
    assert [(r["cells"][0], r["cells"][1]) for r in rows] == [(f["severity"], f["code"]) for f in found]
    ranks = [Severity(r["cells"][0]).rank for r in rows]
    assert ranks == sorted(ranks)  # worst first
    assert {r["cells"][1] for r in rows} == {"FIBER_WAITING", "FIBER_METADATA_MISSING", "RETRY_STORM", "CRASHLOOP_DNS"}
    for row in rows:
        expected_page = "retry_storm.html" if row["cells"][1] == "RETRY_STORM" else "overview.html"
        assert row["hrefs"][0] == expected_page
        assert row["hrefs"][1] == runbook_html.page_link(Code(row["cells"][1]).runbook)
    pages = index.rows("pages")
    assert [r["cells"][3].split(" ")[0] for r in pages] == ["ok", "ok", "FAILED"]
    assert "deliberate failure for the test" in pages[2]["cells"][3]
    assert all(r["cells"][5].endswith(" s") for r in pages)
    assert pages[1]["cells"][4] == str(sum(f["code"] == "RETRY_STORM" for f in found))


@pytest.mark.notebook
def test_every_page_of_a_real_run_links_runbook_headings(index_run: Path):
    for name in ("overview", "retry_storm"):
        page = index_run / f"{name}.html"
        hrefs = [h for h in read(page).hrefs if h.startswith("runbooks/")]
        assert hrefs, f"{name}.html links no runbook"
        for href in hrefs:
            path, _, anchor = href.partition("#")
            assert (index_run / path).is_file(), href
            if anchor:
                assert anchor in read(index_run / path).ids, href
        codes = NOTEBOOKS[name].codes
        for finding in json.loads((index_run / f"{name}.findings.json").read_text(encoding="utf-8")):
            assert Code(finding["code"]) in codes
            assert runbook_html.page_link(finding["runbook"]) in hrefs, (name, finding["code"])


@pytest.mark.notebook
def test_index_loads_in_a_browser(index_run: Path, browser):
    codes = sorted({f["code"] for f in json.loads((index_run / "findings.json").read_text(encoding="utf-8"))})
    page = browser.open(index_run / "index.html", settle_s=0)
    assert page.problems(figures=0, codes=codes) == []
    assert page.title == "Incident report — sample:waiting_for_fiber"
    assert any("deliberate failure for the test" in t for t in page.tables)


def test_code_spans_in_summaries_show_as_code_and_stay_escaped(report_dir):
    out, results = report_dir
    found = [_finding(Code.CRASHLOOP_DNS, Severity.WARNING, minute=1, summary="log ends in `[Errno -3] <resolve>` then exits")]
    text = pa.report.write_index(out, results, found, bundle="b", generated=GENERATED).read_text(encoding="utf-8")
    assert "log ends in <code>[Errno -3] &lt;resolve&gt;</code> then exits" in text
    assert "`" not in text.split("<table", 1)[1].split("</table>", 1)[0]
