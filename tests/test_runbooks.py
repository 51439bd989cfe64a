"""The runbooks in ``runbooks/``: every finding's link lands on a heading, every relative
link resolves, every code is documented on its page and listed in the index.

Anchors follow GitHub's heading-slug rules (github-slugger): the heading's rendered text,
lowercased, with every character other than letters, digits, spaces, hyphens and
underscores removed, and each space turned into a hyphen; a repeated slug gets ``-1``,
``-2``, ... in document order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from panda_analysis.findings import RUNBOOK_ANCHORS, Code
from panda_analysis.report import NOTEBOOKS

ROOT = Path(__file__).resolve().parents[1]
RUNBOOKS = ROOT / "runbooks"
INDEX = RUNBOOKS / "README.md"
PAGES = (
    "README.md",
    "fiber_metadata.md",
    "retry_storm.md",
    "crashloop.md",
    "consumer_delay.md",
    "queues.md",
    "alert_trace.md",
)

_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})")  # any indent: fences inside list items
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*$")
_CLOSING_HASHES = re.compile(r"(?:^|[ \t]+)#+[ \t]*$")
_INLINE_CODE = re.compile(r"(`+)(.+?)\1")
_LINK = re.compile(r"(!?)\[([^\]]*)\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
_HTML_TAG = re.compile(r"<[^>]+>")
_EMPHASIS = re.compile(r"(\*{1,3}|(?<!\w)_{1,3}|~~)(?=\S)(.+?)(?<=\S)\1(?!\w)")
_NOT_SLUG = re.compile(r"[^\w\- ]")


# --------------------------------------------------------------------------- helpers


def _prose_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) for every line outside fenced code blocks."""
    fence: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        match = _FENCE.match(line)
        if fence is None:
            if match:
                fence = match.group(1)
                continue
            yield number, line
        elif match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence) and not line.strip("`~ \t"):
            fence = None


def rendered_text(markdown: str) -> str:
    """The plain text GitHub renders for inline Markdown (code, links, emphasis, tags)."""
    text = _INLINE_CODE.sub(lambda m: m.group(2).strip(), markdown)
    text = _LINK.sub(lambda m: m.group(2), text)
    text = _HTML_TAG.sub("", text)
    previous = None
    while previous != text:
        previous, text = text, _EMPHASIS.sub(lambda m: m.group(2), text)
    return text


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's Markdown text (without duplicate numbering)."""
    return _NOT_SLUG.sub("", rendered_text(heading).strip().lower()).replace(" ", "-")


def headings(text: str) -> list[str]:
    """ATX heading texts outside code blocks, in order."""
    out = []
    for _, line in _prose_lines(text):
        match = _ATX.match(line)
        if match:
            out.append(_CLOSING_HASHES.sub("", match.group(2) or "").strip())
    return out


def anchors(text: str) -> list[str]:
    """Every heading's anchor in document order, duplicates numbered like GitHub does."""
    seen: dict[str, int] = {}
    out = []
    for heading in headings(text):
        base = slug(heading)
        candidate = base
        while candidate in seen:
            seen[base] += 1
            candidate = f"{base}-{seen[base]}"
        seen[candidate] = 0
        out.append(candidate)
    return out


def relative_links(text: str) -> list[tuple[int, str]]:
    """(line number, target) of every link that is not external, outside code."""
    out = []
    for number, line in _prose_lines(text):
        prose = _INLINE_CODE.sub("", line)
        for match in _LINK.finditer(prose):
            target = match.group(3)
            if not target or re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) or target.startswith("//"):
                continue
            out.append((number, target))
    return out


def broken_links(page: Path) -> list[str]:
    """Human-readable problems with ``page``'s relative links (empty when all resolve)."""
    problems = []
    for number, target in relative_links(page.read_text(encoding="utf-8")):
        path_part, _, anchor = target.partition("#")
        dest = (page.parent / path_part).resolve() if path_part else page
        where = f"{page.name}:{number}: {target}"
        if not dest.exists():
            problems.append(f"{where}: no file {dest}")
            continue
        if anchor and dest.suffix == ".md" and anchor not in anchors(dest.read_text(encoding="utf-8")):
            problems.append(f"{where}: no heading with anchor #{anchor} in {dest.name}")
    return problems


def section_after(text: str, anchor: str) -> list[str]:
    """Non-empty prose lines after the heading with ``anchor``, up to the next heading."""
    wanted = anchors(text).index(anchor)
    lines: list[str] = []
    count = -1
    for _, line in _prose_lines(text):
        if _ATX.match(line):
            count += 1
            if count > wanted:
                break
            continue
        if count == wanted and line.strip():
            lines.append(line.strip())
    return lines


def _page(link: str) -> tuple[Path, str]:
    path, _, anchor = link.partition("#")
    return ROOT / path, anchor


# --------------------------------------------------------------------------- the helpers themselves


@pytest.mark.parametrize(
    ("heading", "expected"),
    [
        ("Waiting for fiber", "waiting-for-fiber"),
        ("DNS", "dns"),
        ("OOM", "oom"),
        ("Database unreachable", "database-unreachable"),
        ("  Alert not delivered  ", "alert-not-delivered"),
        ("`CRASHLOOP_DNS` — name resolution", "crashloop_dns--name-resolution"),
        ("What's new? (v1.2)", "whats-new-v12"),
        ("POST /configure → 503", "post-configure--503"),
        ("Retry  storm", "retry--storm"),
        ("**Bold** and _emphasis_", "bold-and-emphasis"),
        ("snake_case_name", "snake_case_name"),
        ("[Link text](other.md#x) here", "link-text-here"),
        ("Über Größe", "über-größe"),
        ("Step 1: kubectl get pods -n panda", "step-1-kubectl-get-pods--n-panda"),
        ("<code>x</code> y", "x-y"),
    ],
)
def test_slug_follows_github_rules(heading: str, expected: str) -> None:
    assert slug(heading) == expected


def test_anchors_number_duplicates_and_skip_code_blocks() -> None:
    text = "\n".join(
        [
            "# Title",
            "## Symptoms",
            "```bash",
            "# a shell comment, not a heading",
            "## nor this",
            "```",
            "## Symptoms",
            "~~~",
            "## Symptoms",
            "~~~",
            "- a list item:",
            "     ```yaml",
            "  # yaml comment, not a heading",
            "     ```",
            "### Symptoms ##",
            "#not-a-heading",
            "## Symptoms-1",
        ]
    )
    assert anchors(text) == ["title", "symptoms", "symptoms-1", "symptoms-2", "symptoms-1-1"]


def test_link_checker_reports_missing_files_and_anchors(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other\n## Real section\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "\n".join(
            [
                "# Page",
                "[ok](other.md#real-section) [ok too](#page) [ext](https://example.com/x.md#nope)",
                "[bad file](missing.md) [bad anchor](other.md#imaginary) [bad local](#nowhere)",
                "`[in code](ignored.md)`",
                "```",
                "[in a block](ignored.md)",
                "```",
            ]
        ),
        encoding="utf-8",
    )
    problems = broken_links(page)
    assert len(problems) == 3, problems
    assert any("missing.md" in p for p in problems)
    assert any("#imaginary" in p for p in problems)
    assert any("#nowhere" in p for p in problems)


# --------------------------------------------------------------------------- the runbooks


@pytest.mark.parametrize("name", PAGES)
def test_page_exists(name: str) -> None:
    page = RUNBOOKS / name
    assert page.is_file(), f"missing runbook page {page}"
    assert headings(page.read_text(encoding="utf-8")), f"{name} has no headings"


def test_every_code_has_a_runbook_anchor() -> None:
    assert set(RUNBOOK_ANCHORS) == set(Code)
    for code, link in RUNBOOK_ANCHORS.items():
        assert link.startswith("runbooks/"), f"{code}: {link}"
        assert "#" in link, f"{code}: {link} has no anchor"


@pytest.mark.parametrize("code", list(Code), ids=str)
def test_runbook_anchor_is_a_heading(code: Code) -> None:
    page, anchor = _page(RUNBOOK_ANCHORS[code])
    assert page.is_file(), f"{code}: {page} does not exist"
    found = anchors(page.read_text(encoding="utf-8"))
    assert anchor in found, f"{code}: no heading with anchor #{anchor} in {page.name}; anchors are {found}"


@pytest.mark.parametrize("code", list(Code), ids=str)
def test_code_is_named_on_its_page_and_in_its_section(code: Code) -> None:
    page, anchor = _page(RUNBOOK_ANCHORS[code])
    text = page.read_text(encoding="utf-8")
    assert str(code) in text, f"{code} does not appear in {page.name}"
    section = section_after(text, anchor)
    assert section, f"{page.name}#{anchor} is empty"
    assert f"`{code}`" in section[0], f"{page.name}#{anchor}: first line should name `{code}`, got {section[0]!r}"


@pytest.mark.parametrize("name", PAGES)
def test_relative_links_resolve(name: str) -> None:
    assert broken_links(RUNBOOKS / name) == []


def test_index_lists_every_code_with_its_link() -> None:
    text = INDEX.read_text(encoding="utf-8")
    rows = [line for _, line in _prose_lines(text) if line.lstrip().startswith("|")]
    for code in Code:
        target = RUNBOOK_ANCHORS[code].removeprefix("runbooks/")
        matching = [row for row in rows if f"`{code}`" in row]
        assert matching, f"the index table has no row for {code}"
        assert any(f"]({target})" in row for row in matching), f"the index row for {code} does not link {target}"


def test_index_links_every_page() -> None:
    linked = {target.partition("#")[0] for _, target in relative_links(INDEX.read_text(encoding="utf-8"))}
    assert set(PAGES) - {"README.md"} <= linked


def test_pages_hold_no_credentials() -> None:
    secret = re.compile(r"(amqp|mongodb)://[^/\s:@]+:[^@\s$<]+@|-u\s+[^\s:]+:(?![$<])\S+", re.IGNORECASE)
    for name in PAGES:
        text = (RUNBOOKS / name).read_text(encoding="utf-8")
        assert not secret.search(text), f"{name}: {secret.search(text)}"


# --------------------------------------------------------------------------- runbooks ↔ notebooks


@pytest.mark.parametrize("name", [n for n in NOTEBOOKS if n != "overview"])
def test_page_links_its_notebook_in_every_how_to_confirm(name: str) -> None:
    page = ROOT / NOTEBOOKS[name].runbook
    text = page.read_text(encoding="utf-8")
    target = f"../notebooks/{name}.ipynb"
    assert target in {t for _, t in relative_links(text)}, f"{page.name} does not link {target}"
    assert (page.parent / target).resolve().is_file()
    confirms = [a for a in anchors(text) if a.startswith("how-to-confirm")]
    assert confirms, f"{page.name} has no How to confirm section"
    for anchor in confirms:
        section = " ".join(section_after(text, anchor))
        assert f"]({target})" in section, f"{page.name}#{anchor} does not link {target}"
        assert f"`panda-analysis report BUNDLE --notebook {name}`" in section, (
            f"{page.name}#{anchor}: no report command"
        )


def test_index_links_every_notebook() -> None:
    linked = {target for _, target in relative_links(INDEX.read_text(encoding="utf-8"))}
    for name in NOTEBOOKS:
        assert f"../notebooks/{name}.ipynb" in linked, f"the index does not link notebook {name}"
        assert (ROOT / "notebooks" / f"{name}.ipynb").is_file()


@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_notebook_title_links_an_existing_runbook_page(name: str) -> None:
    notebook = ROOT / "notebooks" / f"{name}.ipynb"
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    first = next(c for c in cells if c["cell_type"] == "markdown")
    source = "".join(first["source"])
    targets = [m.group(3) for m in _LINK.finditer(source) if m.group(3).startswith("../runbooks/")]
    assert targets, f"{notebook.name}: its first markdown cell links no runbook page"
    for target in targets:
        dest = (notebook.parent / target.partition("#")[0]).resolve()
        assert dest.is_file(), f"{notebook.name}: {target} does not exist"
    assert f"../{NOTEBOOKS[name].runbook}" in targets
