"""Evidence text escaped for each output it reaches: HTML, plotly labels, Markdown, Jira, terminal.

Evidence is written by whoever sends requests to the ingress, names pods or hands over a
bundle (issue #11), so it is data, never markup. The one place that writes an output calls
that output's escaper on every piece of text that can come from evidence (log lines, pod and
queue names, termination messages, client addresses, ``sw_version``, unparsed samples, and
the summaries and titles that quote them):

================  ===================================================  ==============================
output            escapers                                             written by
================  ===================================================  ==============================
HTML              :func:`html`, :func:`href`                           ``report`` Stylers and index,
                                                                       ``Finding._repr_html_``
plotly text       :func:`plotly`                                       ``plot`` (hover, names, ticks)
Markdown          :func:`markdown`, :func:`markdown_cell`,             ``ticket``, ``report.next_steps``
                  :func:`markdown_code`, :func:`markdown_fence`
Jira wiki markup  :func:`jira`, :func:`jira_cell`, :func:`jira_code`,  ``ticket``
                  :func:`jira_block`
terminal          :func:`terminal`                                     ``cli``
================  ===================================================  ==============================

Every escaper also shows control characters visibly (:func:`visible`): a terminal escape
sequence, a bidi override that reorders what a reader sees (CVE-2021-42574, "Trojan
Source"), a NUL or a stray CR becomes a few readable characters instead of acting. Line
breaks inside a Markdown or Jira string become ``↵`` (:data:`LINE_BREAK`), so no text from
evidence can start a line, and so no heading, table row, list, quote or raw HTML block.

Examples
--------
>>> html('<img src=x onerror="alert(1)">')
'&lt;img src=x onerror=&quot;alert(1)&quot;&gt;'
>>> terminal("\\x1b]0;pwned\\x07\\x1b[2J ok")
'\\\\x1b]0;pwned\\\\x07\\\\x1b[2J ok'
>>> markdown("ok\\r\\n### not a heading <b>")
'ok ↵ ### not a heading &lt;b>'
>>> jira("ok\\nh1. not a heading [x|javascript:alert(1)]")
'ok ↵ h1. not a heading \\\\[x\\\\|javascript:alert(1)\\\\]'
"""

from __future__ import annotations

import html as _html
import re
from collections.abc import Callable, Sequence

__all__ = [
    "LINE_BREAK",
    "href",
    "html",
    "jira",
    "jira_block",
    "jira_cell",
    "jira_code",
    "markdown",
    "markdown_cell",
    "markdown_code",
    "markdown_fence",
    "plotly",
    "prose",
    "terminal",
    "visible",
]

#: What a line break inside one Markdown or Jira string becomes (with a space either side).
LINE_BREAK = "↵"

# C0 controls, DEL, C1 controls (NEL U+0085 among them), the bidi marks, embeddings, overrides
# and isolates (U+061C, U+200E/F, U+202A-E, U+2066-9), line/paragraph separators (U+2028/9)
# and lone surrogates: what `errors="surrogateescape"` makes of undecodable bytes (U+DC80-DCFF).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff]")
_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
# what str.splitlines() splits on: a line break for some reader of Markdown, Jira or a terminal
_BREAKS = re.compile("\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def _show(char: str) -> str:
    point = ord(char)
    if char in _SHORT:
        return _SHORT[char]
    if 0xDC80 <= point <= 0xDCFF:  # an undecodable byte, as surrogateescape kept it
        return f"\\x{point - 0xDC00:02x}"
    return f"\\x{point:02x}" if point <= 0xFF else f"\\u{point:04x}"


def visible(text: object, *, keep: str = "") -> str:
    r"""``text`` with every control character shown as a short escape (``\x1b``, ``\u202e``, ``\n``).

    C0 and C1 controls and DEL become ``\xNN`` (tab, LF and CR ``\t``, ``\n``, ``\r``), bidi
    controls and line separators ``\uNNNN``, a byte that was not UTF-8 (kept as a lone
    surrogate by ``surrogateescape``) ``\xNN``; characters in ``keep`` stay. A backslash in the
    text stays as it is, so ``\x1b`` typed in a log line looks like an escaped ESC.

    Examples
    --------
    >>> visible("a\x1b[31mred\u202eevil\tend", keep="\t")
    'a\\x1b[31mred\\u202eevil\tend'
    >>> visible(b"\xff caf\xc3".decode("utf-8", "surrogateescape"))
    '\\xff caf\\xc3'
    """
    raw = "" if text is None else str(text)
    return _CONTROL.sub(lambda m: m[0] if m[0] in keep else _show(m[0]), raw)


def _one_line(text: object) -> str:
    raw = "" if text is None else str(text)
    return _BREAKS.sub(f" {LINE_BREAK} ", raw)


# ------------------------------------------------------------------ HTML and plotly


def html(text: object) -> str:
    """Text for HTML (element content or a quoted attribute): ``& < > " '`` escaped, controls visible.

    Tabs and newlines stay (whitespace to HTML; line breaks in a ``pre-wrap`` cell).

    >>> html("<script>alert('x')</script>\\r")
    '&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;\\\\r'
    """
    return _html.escape(visible(text, keep="\t\n"), quote=True)


_SCHEME = re.compile(r"^\s*([A-Za-z][A-Za-z0-9+.\-]*):")
_SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
_URL_UNSAFE = re.compile(r"[\s\"'<>()\[\]{}|\\^`\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def _percent(match: re.Match[str]) -> str:
    point = ord(match[0])
    if 0xD800 <= point <= 0xDFFF:  # a byte that was not UTF-8 (surrogateescape), else U+FFFD
        return f"%{point - 0xDC00:02X}" if 0xDC80 <= point <= 0xDCFF else "%EF%BF%BD"
    return "".join(f"%{b:02X}" for b in match[0].encode("utf-8"))


def href(url: object) -> str:
    """A link target safe in HTML, Markdown and Jira: relative, ``http(s):`` or ``mailto:``, else ``#``.

    Spaces, quotes, brackets, parentheses, ``|``, backslashes and controls are percent-encoded,
    so the target cannot end a Markdown ``(...)`` or a Jira ``[label|url]`` early; HTML
    attributes still need :func:`html` around it.

    >>> href("runbooks/crashloop.md#dns")
    'runbooks/crashloop.md#dns'
    >>> href("JavaScript:alert(1)"), href("https://wiki.example.com/a b|c")
    ('#', 'https://wiki.example.com/a%20b%7Cc')
    """
    raw = "" if url is None else str(url)
    scheme = _SCHEME.match(raw)
    if scheme and scheme[1].lower() not in _SAFE_SCHEMES:
        return "#"
    return _URL_UNSAFE.sub(_percent, raw.strip())


def plotly(text: object, *, template: bool = False) -> str:
    """Text for a plotly label (hover text, trace name, tick label, title, annotation).

    Plotly draws its strings as a small HTML subset (``<br>``, ``<b>``, ``<a href>``, ...) and
    decodes ``&lt;``-style entities, so ``& < >`` are escaped; quotes stay (plotly does not
    decode ``&quot;``), and controls, line breaks included, are shown visibly. With
    ``template`` (text put into a ``hovertemplate``) ``%`` is written ``&#37;`` as well, so a
    ``%{y}`` in a queue name is shown, not filled in.

    >>> plotly('<a href="https://evil.example">"click"</a>\\n')
    '&lt;a href="https://evil.example"&gt;"click"&lt;/a&gt;\\\\n'
    >>> plotly("q-%{y}", template=True)
    'q-&#37;{y}'
    """
    out = _html.escape(visible(text), quote=False)
    return out.replace("%", "&#37;") if template else out


# ------------------------------------------------------------------ Markdown (CommonMark + GFM)

_MD_INLINE = re.compile(
    r"[\\`*\[\]~]"  # escapes, code spans, emphasis, links and images, strikethrough
    r"|<"  # raw HTML and autolinks
    r"|&(?=#?\w+;)"  # entity references
    r"|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])"  # emphasis (an intraword _ is not)
)
# what makes a block when it starts a line (or a list item's text): ATX heading, quote, list
# item, setext underline / thematic break, table, fence, indented code
_MD_START = re.compile(r"^(?:#(?=#{0,5}(?:[ \t]|$))|[>=|-]|\+(?=[ \t]|$)|(\d{1,9})([.)])(?=[ \t]|$)| (?= ))")


def _md_inline(match: re.Match[str]) -> str:
    char = match[0]
    if char == "<":
        return "&lt;"
    if char == "&":
        return "&amp;"
    return "\\" + char


def _md_start(match: re.Match[str]) -> str:
    if match[1]:
        return f"{match[1]}\\{match[2]}"
    if match[0] == " ":  # two or more leading spaces: indented code after a list marker
        return "&#32;"
    return "\\" + match[0]


def markdown(text: object) -> str:
    r"""Inline Markdown text: nothing in it acts as markup, wherever it is put.

    Line breaks become ``↵`` and controls are visible; ``\ ` * [ ] ~`` and ``_`` at a word's
    edge are backslash-escaped, ``<`` and entity-like ``&`` written as entities, and what would
    start a block at the start (``# ``, ``>``, ``+ ``, ``-``, ``=``, ``|``, ``1. ``, two spaces)
    escaped, so the text may start a line or a list item.
    What reads fine as it is (``prr > 0``, ``job_id``, ``a | b`` outside a table) stays.

    >>> markdown("**bold** [x](javascript:alert(1)) <img src=x> &amp; snake_case _em_")
    '\\*\\*bold\\*\\* \\[x\\](javascript:alert(1)) &lt;img src=x> &amp;amp; snake_case \\_em\\_'
    >>> markdown("1. not a list"), markdown("| a | b |"), markdown("10.42.0.0 #1")
    ('1\\. not a list', '\\| a | b |', '10.42.0.0 #1')
    """
    flat = visible(_one_line(text))
    return _MD_START.sub(_md_start, _MD_INLINE.sub(_md_inline, flat), count=1)


_UNESCAPED_PIPE = re.compile(r"(?<!\\)((?:\\\\)*)\|")


def markdown_cell(fragment: str) -> str:
    r"""A rendered inline fragment (:func:`markdown`, :func:`markdown_code`) made one GFM table cell.

    Every ``|`` not yet escaped gets a backslash, code spans included (GFM reads ``\|`` there
    as ``|``). A ``|`` is escaped when an odd number of backslashes precede it, as GFM and
    mistune split cells; an empty cell stays empty.

    >>> markdown_cell(markdown("a|b") + " " + markdown_code("x|y") + " " + markdown("| \\|"))
    'a\\|b `x\\|y` \\| \\\\\\|'
    """
    return _UNESCAPED_PIPE.sub(r"\1\\|", fragment)


def markdown_code(text: object) -> str:
    """Inline code: a backtick fence longer than any run of backticks inside, padded when needed.

    Line breaks become ``↵`` and controls are visible (code spans are literal otherwise).

    >>> markdown_code("kubectl get pods"), markdown_code("a `b` c"), markdown_code("`x")
    ('`kubectl get pods`', '``a `b` c``', '`` `x ``')
    """
    raw = visible(_one_line(text))
    if not raw:
        return "` `"
    longest = max((len(run) for run in re.findall(r"`+", raw)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if raw[0] in "` " or raw[-1] in "` " else ""
    return f"{fence}{pad}{raw}{pad}{fence}"


def markdown_fence(lines: Sequence[object], *, info: str = "text") -> list[str]:
    """A fenced code block quoting ``lines`` verbatim (each one line, controls visible).

    The fence is longer than any run of backticks in the lines, so none of them can close it.

    >>> markdown_fence(["ok", "``` not the end"])
    ['````text', 'ok', '``` not the end', '````']
    """
    body = [visible(_one_line(line)) for line in lines]
    longest = max((len(run) for line in body for run in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{info}", *body, fence]


# ------------------------------------------------------------------ Jira wiki markup

_JIRA_INLINE = re.compile(
    r"&(?=#?\w+;)"  # entity references
    r"|\\"  # a backslash escapes, and two are a line break: written as an entity
    r"|[\[\]{}|!]"  # links and mentions, macros ({code}, {html}, {color}), table cells, images
    r"|(?<![A-Za-z0-9])[*_+^~-]|[*_+^~-](?![A-Za-z0-9])"  # *strong* _em_ -del- +ins+ ^sup^ ~sub~, lists, ----
    r"|\?\?"  # ??citation??
    r"|\((?=(?:[ynix/!+?*-]|on|off|flag|flagoff|\*[rgby])\))|:(?=[()PD])|;(?=\))"  # emoticons (x) :) ;)
)
# what makes a block at the start of a line: headings, quotes, numbered lists (bullets and
# tables are escaped wherever they are)
_JIRA_START = re.compile(r"^(?:(h)(?=[1-6]\.)|(b)(?=q\.)|#)")


def _jira_inline(match: re.Match[str]) -> str:
    char = match[0]
    if char == "&":
        return "&amp;"
    if char == "\\":
        return "&#92;"
    if char == "??":
        return "?\\?"
    return "\\" + char


def _jira_start(match: re.Match[str]) -> str:
    letter = match[1] or match[2]
    return f"&#{ord(letter)};" if letter else "\\#"


def jira(text: object) -> str:
    r"""Inline Jira wiki text: nothing in it acts as markup, wherever it is put.

    Line breaks become ``↵`` and controls are visible; ``[ ] { } | !`` and the text-effect
    characters ``* _ + ^ ~ -`` at a word's edge are backslash-escaped, ``??`` and emoticons
    broken, a backslash (unescapable in Jira; two are a line break) and entity-like ``&``
    written as entities, and a leading ``h1.`` / ``bq.`` / ``#`` neutralised.

    >>> jira("{code}x{html}<b>{{mono}} *bold* -del- C:\\temp ??cite?? (x)")
    '\\{code\\}x\\{html\\}<b>\\{\\{mono\\}\\} \\*bold\\* \\-del\\- C:&#92;temp ?\\?cite?\\? \\(x)'
    >>> jira("h1. big"), jira("bq. quote"), jira("grpc-job-19-6 prr=0")
    ('&#104;1. big', '&#98;q. quote', 'grpc-job-19-6 prr=0')
    """
    flat = visible(_one_line(text))
    return _JIRA_START.sub(_jira_start, _JIRA_INLINE.sub(_jira_inline, flat), count=1)


def jira_cell(fragment: str) -> str:
    """A rendered inline fragment (:func:`jira`, :func:`jira_code`) as one table cell (never empty).

    >>> jira_cell(""), jira_cell(jira("a|b"))
    (' ', 'a\\\\|b')
    """
    return fragment or " "


def jira_code(text: object) -> str:
    """Monospaced ``{{text}}`` (Jira still reads markup inside, so the text is :func:`jira` escaped).

    >>> jira_code("a}}b")
    '{{a\\\\}\\\\}b}}'
    """
    return "{{" + (jira(text) or " ") + "}}"


_JIRA_MACRO_END = re.compile(r"\{(?=(?:code|noformat)\b)", re.IGNORECASE)


def jira_block(lines: Sequence[object]) -> list[str]:
    """A ``{code}`` block quoting ``lines`` verbatim (each one line, controls visible).

    Inside ``{code}`` only ``{code}`` is markup: a ``{code`` or ``{noformat`` in a line gets a
    space after its brace, so the block ends where we end it.

    >>> jira_block(["ok", "{code}{html}<script>"])
    ['{code}', 'ok', '{ code}{html}<script>', '{code}']
    """
    body = [_JIRA_MACRO_END.sub("{ ", visible(_one_line(line))) for line in lines]
    return ["{code}", *body, "{code}"]


# ------------------------------------------------------------------ terminal


def terminal(text: object) -> str:
    r"""Text for a terminal: every control character shown (``\x1b``, ``\x07``, ``\r``, ``\u202e``).

    No escape sequence from evidence reaches the terminal (OSC title changes, clear screen,
    cursor moves, hyperlinks), nor a CR that overwrites the line, nor a bidi override.

    >>> terminal("pod\x1b]8;;https://evil.example\x07x\x1b]8;;\x07\rfake")
    'pod\\x1b]8;;https://evil.example\\x07x\\x1b]8;;\\x07\\rfake'
    """
    return visible(text)


# ------------------------------------------------------------------ prose written by the rules

_CODE_SPAN = re.compile(r"(`+)(.+?)\1")


def prose(text: object, *, plain: Callable[[str], str], code: Callable[[str], str]) -> str:
    """A rule's summary or next step: its ```code spans``` through ``code``, the rest through ``plain``.

    >>> prose("run `kubectl get pods` <now>", plain=markdown, code=markdown_code)
    'run `kubectl get pods` &lt;now>'
    """
    raw = "" if text is None else str(text)
    out, at = [], 0
    for match in _CODE_SPAN.finditer(raw):
        out.append(plain(raw[at : match.start()]))
        out.append(code(match[2]))
        at = match.end()
    out.append(plain(raw[at:]))
    return "".join(out)
