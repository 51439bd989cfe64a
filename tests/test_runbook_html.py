"""The runbooks rendered to HTML beside each report (``pa.runbook_html``).

Every finding's runbook link must land on an element id of the rendered page, every
relative link inside the pages must resolve, and the heading ids must be the anchors GitHub
gives the same headings — checked against the independent implementation in
``tests/test_runbooks.py`` (the oracle), not against the library's own slugger.
"""

from __future__ import annotations

import importlib.util
import json
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit

import pytest

import panda_analysis as pa
from panda_analysis import runbook_html
from panda_analysis.findings import Code
from panda_analysis.report import NOTEBOOKS

ROOT = Path(__file__).resolve().parents[1]
RUNBOOKS = ROOT / "runbooks"
MARKDOWN = sorted(p.name for p in RUNBOOKS.glob("*.md"))


def _oracle() -> ModuleType:
    """tests/test_runbooks.py loaded as a module: its GitHub-slug implementation is the oracle."""
    spec = importlib.util.spec_from_file_location("runbooks_oracle", Path(__file__).with_name("test_runbooks.py"))
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ORACLE = _oracle()


class Page(HTMLParser):
    """What a rendered page holds: element ids, heading ids in order, links, tags, external loads."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.heading_ids: list[str] = []
        self.hrefs: list[str] = []
        self.tags: list[str] = []
        self.loads: list[str] = []  # src= / <link href> : what a browser would fetch
        self.title = ""
        self._in_title = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.tags.append(tag)
        if "id" in values:
            self.ids.add(values["id"])
            if tag in {"h1", "h2", "h3", "h4", "h5", "h6"}:
                self.heading_ids.append(values["id"])
        if tag == "a" and "href" in values:
            self.hrefs.append(values["href"])
        if "src" in values:
            self.loads.append(values["src"])
        if tag == "link" and "href" in values:
            self.loads.append(values["href"])
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def parse(path: Path) -> Page:
    return Page(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The checkout's runbooks rendered into a report directory where every notebook page and the index exist."""
    out = tmp_path_factory.mktemp("rendered-runbooks")
    for name in [*NOTEBOOKS, "index"]:
        (out / f"{name}.html").write_text(f"<!DOCTYPE html><title>{name}</title>", encoding="utf-8")
    written = runbook_html.render(out, pages=list(NOTEBOOKS))
    assert [p.name for p in written] == [m.replace(".md", ".html") for m in MARKDOWN]
    return out


# ---------------------------------------------------------------- the checkout's runbooks


@pytest.mark.parametrize("code", list(Code), ids=str)
def test_every_code_lands_on_an_id_of_its_rendered_page(rendered: Path, code: Code):
    link = runbook_html.page_link(code.runbook)
    path, _, anchor = link.partition("#")
    assert path.endswith(".html"), link
    assert anchor, link
    page = rendered / path
    assert page.is_file(), f"{code}: {code.runbook} rendered to no {page}"
    assert anchor in parse(page).heading_ids, f"{code}: no heading id {anchor!r} in {page.name}"


@pytest.mark.parametrize("name", MARKDOWN)
def test_heading_ids_are_githubs_anchors(rendered: Path, name: str):
    page = parse(rendered / "runbooks" / name.replace(".md", ".html"))
    expected = ORACLE.anchors((RUNBOOKS / name).read_text(encoding="utf-8"))
    assert page.heading_ids == expected


@pytest.mark.parametrize("name", MARKDOWN)
def test_relative_links_in_rendered_pages_resolve(rendered: Path, name: str, broken_links):
    page = rendered / "runbooks" / name.replace(".md", ".html")
    assert broken_links(page) == []
    hrefs = parse(page).hrefs
    assert not [h for h in hrefs if ".md" in urlsplit(h).path and not urlsplit(h).scheme], "a .md link was left"
    assert not [h for h in hrefs if h.endswith(".ipynb")], "a notebook link was not turned into its page"


@pytest.mark.parametrize("name", MARKDOWN)
def test_pages_are_standalone_and_offline(rendered: Path, name: str):
    text = (rendered / "runbooks" / name.replace(".md", ".html")).read_text(encoding="utf-8")
    page = Page(text)
    assert text.startswith("<!DOCTYPE html>")
    assert page.title.strip()
    assert "style" in page.tags
    assert "script" not in page.tags
    assert page.loads == []  # no stylesheet, script, image or font fetched
    assert "../index.html" in page.hrefs


def test_titles_come_from_the_first_heading(rendered: Path):
    assert parse(rendered / "runbooks" / "crashloop.html").title == "Crash loops and restarts"
    assert parse(rendered / "runbooks" / "README.html").title == "Panda on-call runbooks"


def test_tables_and_fenced_code_render(rendered: Path):
    crashloop = (rendered / "runbooks" / "crashloop.html").read_text(encoding="utf-8")
    assert "<table>" in crashloop
    assert '<pre><code class="language-bash">' in crashloop
    assert "<th>last lines / <code>lastState</code></th>" in crashloop
    assert "<td><code>1</code> (<code>Error</code>)</td>" in crashloop
    # shell comments in a fenced block are code, never headings
    assert "kubectl get pods -n panda                                     # RESTARTS column" in crashloop
    index = (rendered / "runbooks" / "README.html").read_text(encoding="utf-8")
    for code in Code:
        assert f"<td><code>{code}</code></td>" in index


def test_links_between_runbooks_and_to_notebook_pages(rendered: Path):
    hrefs = parse(rendered / "runbooks" / "README.html").hrefs
    assert "crashloop.html#dns" in hrefs
    assert "#build-a-bundle-by-hand" in hrefs
    assert "../crashloop.html" in hrefs  # ../notebooks/crashloop.ipynb: its report page in this run
    assert "../overview.html" in hrefs


def test_a_page_browsers_load_cleanly(rendered: Path, browser):
    page = browser.open(rendered / "runbooks" / "crashloop.html", settle_s=0)
    assert page.problems(figures=0) == []
    assert page.title == "Crash loops and restarts"
    assert any("Errno -3" in t for t in page.tables)


# ---------------------------------------------------------------- rendering rules on small inputs


def _write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_notebook_links_stay_unless_the_page_is_written(tmp_path: Path):
    source = _write(tmp_path / "src", {"a.md": "# A\n[nb](../notebooks/crashloop.ipynb) [q](../notebooks/queues.ipynb#x)\n"})
    out = tmp_path / "out"
    runbook_html.render(out, source=source)
    assert parse(out / "runbooks" / "a.html").hrefs[-2:] == ["../notebooks/crashloop.ipynb", "../notebooks/queues.ipynb#x"]
    runbook_html.render(out, source=source, pages=["queues"])
    assert parse(out / "runbooks" / "a.html").hrefs[-2:] == ["../notebooks/crashloop.ipynb", "../queues.html#x"]
    (out / "crashloop.html").write_text("<!DOCTYPE html>", encoding="utf-8")  # a page from an earlier run
    runbook_html.render(out, source=source)
    assert parse(out / "runbooks" / "a.html").hrefs[-2:] == ["../crashloop.html", "../notebooks/queues.ipynb#x"]


def test_links_between_pages_are_rewritten_and_others_kept(tmp_path: Path, broken_links):
    source = _write(
        tmp_path / "src",
        {
            "a.md": "# A\n\n[b](b.md#two) [b too](./b.md) [self](#a) [readme](../README.md) "
            "[ext](https://example.com/x.md#y) [mail](mailto:x@example.com) [missing](nope.md)\n",
            "b.md": "# B\n\n## Two\n",
        },
    )
    runbook_html.render(tmp_path / "out", source=source, index=False)
    hrefs = parse(tmp_path / "out" / "runbooks" / "a.html").hrefs
    assert [h for h in hrefs if not h.startswith("#a")] == [
        "b.html#two", "b.html", "../README.md", "https://example.com/x.md#y", "mailto:x@example.com", "nope.md",
    ]
    assert "../index.html" not in hrefs  # no index asked for
    assert broken_links(tmp_path / "out" / "runbooks" / "b.html") == []


def test_back_link_to_the_index_only_when_there_is_one(tmp_path: Path):
    source = _write(tmp_path / "src", {"a.md": "# A\n"})
    out = tmp_path / "out"
    runbook_html.render(out, source=source)
    assert "../index.html" not in parse(out / "runbooks" / "a.html").hrefs
    (out / "index.html").write_text("<!DOCTYPE html>", encoding="utf-8")
    runbook_html.render(out, source=source)
    assert "../index.html" in parse(out / "runbooks" / "a.html").hrefs


def test_raw_text_is_escaped_in_code_and_the_title(tmp_path: Path):
    source = _write(tmp_path / "src", {"a.md": "# Q & A `x<y>`\n\n```\n<script>alert(1)</script>\n```\n"})
    runbook_html.render(tmp_path / "out", source=source, index=False)
    text = (tmp_path / "out" / "runbooks" / "a.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<script>" not in text
    assert "<title>Q &amp; A x&lt;y&gt;</title>" in text


def test_without_runbooks_nothing_is_written(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(pa.report, "runbook_dir", lambda: tmp_path / "not-here")
    assert runbook_html.render(tmp_path / "out") == []
    assert not (tmp_path / "out" / "runbooks").exists()
    with pytest.raises(runbook_html.RunbookError, match="does not exist"):
        runbook_html.render(tmp_path / "out", source=tmp_path / "also-not-here")


# ---------------------------------------------------------------- GitHub slugs


SLUG_CASES = [
    ("Waiting for fiber", "waiting-for-fiber"),
    ("`CRASHLOOP_DNS` — name resolution", "crashloop_dns--name-resolution"),
    ("What's new? (v1.2)", "whats-new-v12"),
    ("POST /configure → 503", "post-configure--503"),
    ("Retry  storm", "retry--storm"),
    ("**Bold** and _emphasis_", "bold-and-emphasis"),
    ("snake_case_name", "snake_case_name"),
    ("[Link text](other.md#x) here", "link-text-here"),
    ("Über Größe", "über-größe"),
    ("<code>x</code> y", "x-y"),
    ("Symptoms (again!)", "symptoms-again"),
    ("`kubectl get pods` — RESTARTS `4 (28h ago)`", "kubectl-get-pods--restarts-4-28h-ago"),
    ("a.b/c:d, e; f", "abcd-e-f"),
    ("שלום עולם", "שלום-עולם"),  # Hebrew letters kept
    ("Привет, мир!", "привет-мир"),  # Cyrillic letters kept, lowercased
    ("Tom & Jerry", "tom--jerry"),
    ("under_score - dash", "under_score---dash"),
    ("2025-11-08 13:18 UTC", "2025-11-08-1318-utc"),
]


@pytest.mark.parametrize(("heading", "expected"), SLUG_CASES)
def test_heading_ids_follow_github_slug_rules(heading: str, expected: str):
    ids = Page(runbook_html.to_html(f"## {heading}")).heading_ids
    assert ids == [expected]
    assert ORACLE.slug(heading) == expected  # the oracle agrees on every added case


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Über Größe", "über-größe"), ("  DNS  ", "dns"), ("What's new? (v1.2)", "whats-new-v12"), ("שלום", "שלום")],
)
def test_slug_of_plain_text(text: str, expected: str):
    assert runbook_html.slug(text) == expected


def test_duplicates_are_numbered_in_document_order_and_code_blocks_skipped():
    text = "\n".join(
        [
            "# Title", "## Symptoms", "```bash", "# a shell comment, not a heading", "## nor this", "```",
            "## Symptoms", "~~~", "## Symptoms", "~~~", "- a list item:", "     ```yaml",
            "  # yaml comment, not a heading", "     ```", "### Symptoms ##", "#not-a-heading", "## Symptoms-1",
        ]
    )
    expected = ["title", "symptoms", "symptoms-1", "symptoms-2", "symptoms-1-1"]
    assert ORACLE.anchors(text) == expected
    assert Page(runbook_html.to_html(text)).heading_ids == expected
    slugger = runbook_html.Slugger()
    assert [slugger.slug(t) for t in ("Title", "Symptoms", "Symptoms", "Symptoms", "Symptoms-1")] == expected


# ---------------------------------------------------------------- a real report


@pytest.mark.notebook
def test_report_page_runbook_links_land_on_headings(tiny_report, broken_links):
    out = tiny_report.html.parent
    page = parse(tiny_report.html)
    into_runbooks = [h for h in page.hrefs if h.startswith("runbooks/")]
    assert into_runbooks, "the report page links no rendered runbook"
    for href in into_runbooks:
        path, _, anchor = href.partition("#")
        target = out / path
        assert target.suffix == ".html", href
        assert target.is_file(), href
        if anchor:
            assert anchor in parse(target).heading_ids, f"{href}: no heading with that id"
    assert not [h for h in page.hrefs if "runbooks/" in h and ".md" in h], "a Markdown runbook link was left"
    findings = json.loads(tiny_report.findings.read_text(encoding="utf-8"))
    assert findings
    for finding in findings:
        assert runbook_html.page_link(finding["runbook"]) in into_runbooks, finding["code"]
    # the one link left alone: the tiny notebook's overview.ipynb, with no overview page in this run
    assert [p.split(": ")[1] for p in broken_links(tiny_report.html)] == ["overview.ipynb"]
