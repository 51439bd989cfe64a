"""The Markdown runbooks rendered to HTML pages that travel with each report.

A report directory gets ``runbooks/<name>.html`` for every ``runbooks/<name>.md``, so a
finding's runbook link (``runbooks/crashloop.md#dns``) opens the right section offline,
from ``file://``, next to the report that quotes it. Headings carry ``id`` attributes made
with GitHub's slug rules, so the anchors tickets use on GitHub work on these pages too:
the heading's rendered text, lowercased, with every character other than letters, digits,
spaces, hyphens and underscores removed and each space turned into a hyphen; a repeated
slug gets ``-1``, ``-2``, ... in document order (github-slugger).

Examples
--------
>>> slug("CRASHLOOP_DNS — name resolution")
'crashloop_dns--name-resolution'
>>> slugger = Slugger()
>>> [slugger.slug(t) for t in ("Symptoms", "Symptoms", "Symptoms-1")]
['symptoms', 'symptoms-1', 'symptoms-1-1']
>>> print(to_html("## What's new? (v1.2)").strip())
<h2 id="whats-new-v12">What's new? (v1.2) <a class="anchor" href="#whats-new-v12" title="link to this section">¶</a></h2>
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import mistune
from mistune.util import striptags

from panda_analysis.errors import PandaAnalysisError

__all__ = ["Heading", "RunbookError", "Slugger", "page_link", "render", "slug", "to_html"]

#: The mistune plugins a runbook needs: GitHub-style tables and ``~~strikethrough~~``.
PLUGINS = ("table", "strikethrough")

# github-slugger keeps letters, digits, "_", "-" and spaces; Python's \w is Unicode-aware,
# so Hebrew, Cyrillic, accented Latin ... stay.
_NOT_SLUG = re.compile(r"[^\w\- ]")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)
_NOTEBOOK = re.compile(r"^\.\./notebooks/([A-Za-z0-9_\-]+)\.ipynb$")
_RUNBOOK_LINK = re.compile(r"^(runbooks/[A-Za-z0-9_\-]+)\.md(#.*)?$")

_CSS = """\
:root { color-scheme: light; }
body { font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
  max-width: 60rem; margin: 0 auto; padding: 0 1.5rem 3rem; background: #fff; }
nav.pa-nav { font-size: 13px; color: #57606a; background: #f6f8fa; border-bottom: 1px solid #d0d7de;
  margin: 0 -1.5rem 1rem; padding: 8px 1.5rem; }
nav.pa-nav a { margin-right: 1rem; }
h1, h2, h3, h4 { line-height: 1.25; margin: 1.6em 0 0.6em; }
h1, h2 { border-bottom: 1px solid #d8dee4; padding-bottom: 0.3em; }
h1 .anchor, h2 .anchor, h3 .anchor, h4 .anchor, h5 .anchor, h6 .anchor { visibility: hidden;
  text-decoration: none; color: #8c959f; font-weight: normal; }
h1:hover .anchor, h2:hover .anchor, h3:hover .anchor, h4:hover .anchor, h5:hover .anchor,
h6:hover .anchor { visibility: visible; }
:target { background: #fff8c5; }
a { color: #0969da; }
code { font: 0.9em/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #eff1f3;
  padding: 0.1em 0.35em; border-radius: 4px; }
pre { background: #f6f8fa; border: 1px solid #d0d7de; border-radius: 6px; padding: 12px 14px;
  overflow-x: auto; line-height: 1.45; }
pre code { background: none; padding: 0; font-size: 13px; white-space: pre; }
table { border-collapse: collapse; margin: 1em 0; display: block; overflow-x: auto; }
th, td { border: 1px solid #d0d7de; padding: 6px 10px; vertical-align: top; text-align: left; }
th { background: #f6f8fa; }
tr:nth-child(even) td { background: #fbfcfd; }
blockquote { margin: 1em 0; padding: 0 1em; color: #57606a; border-left: 4px solid #d0d7de; }
footer { margin-top: 3rem; font-size: 12px; color: #6e7781; }
"""


class RunbookError(PandaAnalysisError):
    """The runbooks cannot be rendered (the given source directory is missing or unreadable)."""


def slug(text: str) -> str:
    """GitHub's anchor for a heading's rendered (plain) text, before duplicate numbering.

    Parameters
    ----------
    text
        The heading as a reader sees it: Markdown already rendered to text (inline code
        without backticks, link text without the target, no tags).

    Returns
    -------
    str
        Lowercase; characters other than letters, digits, spaces, ``-`` and ``_`` removed;
        spaces turned into hyphens (each one: ``"a  b"`` gives ``"a--b"``).

    Examples
    --------
    >>> slug("POST /configure → 503")
    'post-configure--503'
    >>> slug("Über Größe")
    'über-größe'
    """
    return _NOT_SLUG.sub("", text.strip().lower()).replace(" ", "-")


class Slugger:
    """Anchors for the headings of one document, numbering repeats as GitHub does.

    A slug already handed out gets ``-1``, ``-2``, ... appended (the first free one), in
    document order; a heading whose own text is ``Symptoms-1`` counts as a repeat too when
    an earlier ``Symptoms`` took that name.
    """

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def slug(self, text: str) -> str:
        """The next unique anchor for a heading's plain ``text`` in this document."""
        base = slug(text)
        candidate = base
        while candidate in self._seen:
            self._seen[base] += 1
            candidate = f"{base}-{self._seen[base]}"
        self._seen[candidate] = 0
        return candidate


@dataclass(frozen=True, slots=True)
class Heading:
    """A heading of a rendered page: level (1-6), ``id`` and plain text."""

    level: int
    id: str
    text: str


class _Renderer(mistune.HTMLRenderer):
    """mistune's HTML renderer with GitHub heading ids and rewritten relative links."""

    def __init__(self, *, link: Callable[[str], str] | None) -> None:
        # runbooks are reviewed repository content: raw inline HTML passes through as on GitHub
        super().__init__(escape=False)
        self._rewrite = link
        self._slugger = Slugger()
        self.headings: list[Heading] = []

    def heading(self, text: str, level: int, **attrs: Any) -> str:
        plain = html.unescape(striptags(text)).strip()
        anchor = self._slugger.slug(plain)
        self.headings.append(Heading(level, anchor, plain))
        ident = html.escape(anchor, quote=True)
        return (
            f'<h{level} id="{ident}">{text} <a class="anchor" href="#{ident}" title="link to this section">¶</a>'
            f"</h{level}>\n"
        )

    def link(self, text: str, url: str, title: str | None = None) -> str:
        return super().link(text, self._rewrite(url) if self._rewrite else url, title)


def _convert(text: str, *, link: Callable[[str], str] | None) -> tuple[str, list[Heading]]:
    renderer = _Renderer(link=link)
    markdown = mistune.create_markdown(renderer=renderer, plugins=list(PLUGINS))
    return cast(str, markdown(text)), renderer.headings


def to_html(text: str, *, link: Callable[[str], str] | None = None) -> str:
    """Render Markdown to an HTML fragment: headings with GitHub ids, tables, fenced code.

    Parameters
    ----------
    text
        The Markdown source (CommonMark plus GitHub tables and strikethrough).
    link
        Called with every link target; returns the target to write (default: unchanged).

    Returns
    -------
    str
        The HTML fragment (no ``<html>`` wrapper). Each heading has an ``id`` and a ``¶``
        link to itself.
    """
    return _convert(text, link=link)[0]


def page_link(link: str) -> str:
    """A finding's runbook link as the rendered page's link: ``runbooks/x.md#a`` → ``runbooks/x.html#a``.

    Anything that is not a ``runbooks/<name>.md`` link comes back unchanged.

    Examples
    --------
    >>> page_link("runbooks/crashloop.md#dns")
    'runbooks/crashloop.html#dns'
    """
    match = _RUNBOOK_LINK.match(link)
    return f"{match[1]}.html{match[2] or ''}" if match else link


def _linker(*, source: Path, out_dir: Path, pages: Collection[str]) -> Callable[[str], str]:
    """Where a runbook's relative link should point once the page sits in ``out_dir/runbooks``."""
    home = source.resolve()
    rendered = {p.name for p in source.glob("*.md")}

    def rewrite(url: str) -> str:
        if not url or url.startswith(("#", "//")) or _SCHEME.match(url):
            return url
        path, hashmark, fragment = url.partition("#")
        suffix = f"{hashmark}{fragment}"
        target = (source / path).resolve()
        if path and target.parent == home and target.name in rendered:  # a runbook rendered beside this one
            return f"{target.stem}.html{suffix}"
        notebook = _NOTEBOOK.match(path)
        if notebook and (notebook[1] in pages or (out_dir / f"{notebook[1]}.html").is_file()):
            return f"../{notebook[1]}.html{suffix}"  # the notebook's report page in this run
        return url

    return rewrite


def _page(body: str, *, title: str, name: str, index: bool, readme: bool) -> str:
    from panda_analysis import __version__

    nav = []
    if index:
        nav.append('<a href="../index.html">← Report index</a>')
    if readme and name != "README":
        nav.append('<a href="README.html">Runbooks</a>')
    bar = f'<nav class="pa-nav">{"".join(nav)}</nav>\n' if nav else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>\n{_CSS}</style>\n</head>\n<body>\n"
        f"{bar}<main>\n{body}</main>\n"
        f"<footer>Rendered from <code>runbooks/{html.escape(name)}.md</code> by panda-analysis "
        f"{html.escape(__version__)}.</footer>\n</body>\n</html>\n"
    )


def render(
    out_dir: str | os.PathLike[str],
    *,
    source: str | os.PathLike[str] | None = None,
    pages: Collection[str] = (),
    index: bool | None = None,
) -> list[Path]:
    """Render every ``*.md`` runbook into ``out_dir/runbooks/<name>.html``.

    Each page is standalone HTML5 with a small inline stylesheet and no external resource
    (it works offline, from ``file://``). Links are rewritten for where the page now sits:
    ``x.md#a`` → ``x.html#a`` for the runbooks rendered beside it, and
    ``../notebooks/<name>.ipynb`` → ``../<name>.html`` when that report page is written in
    this run (``pages``) or already exists in ``out_dir``; other links are left as they are.

    Parameters
    ----------
    out_dir
        The report directory; the pages go to its ``runbooks/`` folder (created if needed).
    source
        The directory of Markdown runbooks (default: :func:`panda_analysis.report.runbook_dir`).
        When the default does not exist (an installed package has no ``runbooks/``), nothing
        is written.
    pages
        Names of the report pages (notebooks) written in this run.
    index
        Link each page back to the run's ``../index.html``; default: when that file exists.

    Returns
    -------
    list[Path]
        The HTML files written, in name order (empty when there are no runbooks).

    Raises
    ------
    RunbookError
        An explicitly given ``source`` is not a directory, or a runbook cannot be read.
    """
    if source is None:
        from panda_analysis.report import runbook_dir

        folder = runbook_dir()
        if not folder.is_dir():
            return []
    else:
        folder = Path(source)
        if not folder.is_dir():
            msg = f"runbook directory {folder} does not exist; pass the folder holding the runbooks' *.md files"
            raise RunbookError(msg)
    out = Path(out_dir)
    target = out / "runbooks"
    link = _linker(source=folder, out_dir=out, pages=set(pages))
    with_index = (out / "index.html").is_file() if index is None else index
    readme = (folder / "README.md").is_file()
    written = []
    for markdown in sorted(folder.glob("*.md")):
        try:
            text = markdown.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            msg = f"cannot read runbook {markdown}: {err}"
            raise RunbookError(msg) from err
        body, headings = _convert(text, link=link)
        title = next((h.text for h in headings if h.level == 1), markdown.stem)
        target.mkdir(parents=True, exist_ok=True)
        page = target / f"{markdown.stem}.html"
        page.write_text(_page(body, title=title, name=markdown.stem, index=with_index, readme=readme), encoding="utf-8")
        written.append(page)
    return written
