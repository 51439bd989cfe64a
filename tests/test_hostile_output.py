"""Hostile evidence in every output (issue #11): markup and control characters stay text.

Evidence is written by whoever sends requests to the ingress, names pods or hands over a bundle.
These tests plant markup (``<script>``, ``<img onerror>``, ``"><svg onload>``, ``javascript:``
links, ``\\r\\n### heading``, ``| a | b |`` rows, ``{code}`` / ``{html}`` / ``[x|javascript:..]``)
and control characters (OSC ``ESC ]0;title BEL``, ``ESC [2J``, bidi overrides, backticks) in
every text field of a Finding and in a bundle built from the ``waiting_for_fiber`` sample (a
pod name, a log line, a termination message, the ingress client address, ``sw_version`` and an
unparsable line), then read each output the way its reader does:

* HTML: parsed (and, marked ``notebook``, the report pages loaded in headless Chromium, where
  every payload would set ``document.title`` if it ran);
* Markdown: rendered by mistune with raw HTML passed through (as a git host before sanitising),
  compared element for element with the comment of a *twin* bundle whose planted texts are
  harmless: evidence can change what a comment says, never its structure;
* Jira: every line classified by the block it starts, compared with the twin's;
* the terminal: ``panda-analysis diagnose`` output holds no control character but the tool's
  own colour codes.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import mistune
import pytest

import panda_analysis as pa
from panda_analysis import _escape as escape
from panda_analysis import ticket
from panda_analysis.bundle import BundleWriter
from panda_analysis.cli import main
from panda_analysis.findings import Code, Evidence, Finding, Severity

# ------------------------------------------------------------------ payloads

#: Every kind of markup and control character the issue names, each on its own.
PAYLOADS: dict[str, str] = {
    "script": "<script>document.title='PWNED-script'</script>",
    "img": "<img src=x onerror=\"document.title='PWNED-img'\">",
    "attr-break": "\"><svg onload=document.title='PWNED-svg'>",
    "md-link": "[click](javascript:document.title='PWNED-link')",
    "autolink": "<javascript:alert(1)>",
    "crlf-heading": "ok\r\n### heading from evidence",
    "lf-setext": "title\n===",
    "table-row": "| a | b |\n|---|---|",
    "line-separators": "a\x0bb\x0cc\x85d\u2028e\u2029# f",
    "jira-code": "{code}x{code} {noformat}",
    "jira-html": "{html}<b>x</b>{html}",
    "jira-link": "[x|javascript:alert(1)] [~admin] !http://evil.example/x.png!",
    "jira-block": "\nh1. big\nbq. quote\n# one\n* two\n----",
    "jira-effects": "*bold* _em_ -del- +ins+ ^sup^ ~sub~ ??cite?? {{mono}} (x) :) \\\\ C:\\temp",
    "osc-title": "\x1b]0;PWNED-osc\x07",
    "osc-link": "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\",
    "clear-screen": "\x1b[2J\x1b[H\x1b[31mred",
    "c1-csi": "\x9b2J\x9d0;t\x9c",
    "cr-overwrite": "real text\rfake",
    "bidi": "\u202eevil\u202c \u2066iso\u2069 \u200f",
    "nul-del": "a\x00b\x7fc",
    "backticks": "`one` ``two`` ```three``` ````",
    "md-specials": "**b** __u__ ~~s~~ &amp; &#60;b&#62; <!-- c --> <?php ?> 1. x",
    "indent": "    indented code",
}
#: All of them in one string, as a log line full of tricks would carry them.
HOSTILE = " ".join(PAYLOADS.values())
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


class _Dom(HTMLParser):
    """Elements, attributes and text of an HTML fragment or page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str, str]] = []
        self.text: list[str] = []
        self.title: str | None = None
        self._in: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [(tag, k, v or "") for k, v in attrs]
        self._in.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._in:
            del self._in[len(self._in) - 1 - self._in[::-1].index(tag) :]

    def handle_data(self, data: str) -> None:
        if self._in and self._in[-1] == "title" and self.title is None:
            self.title = data
        if not (self._in and self._in[-1] in {"script", "style"}):  # what a reader sees, not code
            self.text.append(data)

    @property
    def visible(self) -> str:
        return "".join(self.text)


def _dom(markup: str) -> _Dom:
    parsed = _Dom()
    parsed.feed(markup)
    parsed.close()
    return parsed


_EXECUTABLE_URL = re.compile(r"^\s*(?:javascript|vbscript|data):", re.IGNORECASE)


#: Elements only a payload would bring into our fragments (a report page has its own scripts and
#: plotly's svg, counted separately).
PLANTED_ELEMENTS = frozenset({"script", "img", "svg", "iframe", "object", "embed", "form", "input"})


def _dangers(dom: _Dom, *, elements: frozenset[str] = PLANTED_ELEMENTS) -> list[str]:
    """What in parsed HTML could run or lead away: handlers, script URLs, elements from payloads."""
    out = [f"<{t} {k}=...>" for t, k, _ in dom.attrs if k.startswith("on")]
    out += [
        f"<{t} {k}={v!r}>"
        for t, k, v in dom.attrs
        if k in {"href", "src", "xlink:href", "action"} and _EXECUTABLE_URL.match(v)
    ]
    out += [f"<{t} {k}={v!r}>" for t, k, v in dom.attrs if k in {"href", "src"} and "evil.example" in v]
    out += [f"<{t}>" for t in dom.tags if t in elements]
    return out


def _structure(dom: _Dom) -> list[str]:
    """Element names in document order, code spans left out: a backtick in evidence inside a rule's
    summary moves where code spans start (inert, every part still escaped), nothing else may change."""
    return [t for t in dom.tags if t != "code"]


def _md(markdown: str) -> _Dom:
    """Markdown as a git host renders it before sanitising: CommonMark + GFM tables, raw HTML passed."""
    render = mistune.create_markdown(escape=False, plugins=["table", "strikethrough"])
    return _dom(str(render(markdown)))


# ------------------------------------------------------------------ the escapers, one payload at a time


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_html_escaper_keeps_every_payload_text(payload):
    dom = _dom(f'<p title="{escape.html(payload)}">{escape.html(payload)}</p>')
    assert dom.tags == ["p"]
    assert dom.attrs == [("p", "title", escape.visible(payload, keep="\t\n"))]
    assert dom.visible == escape.visible(payload, keep="\t\n")
    assert not CONTROL.search(dom.visible.replace("\t", "").replace("\n", ""))


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_markdown_escaper_makes_one_paragraph_wherever_the_text_goes(payload):
    shown = " ".join(escape.visible(re.sub("\r\n|[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]", " ↵ ", payload)).split())
    for template, structure in (
        ("{}", ["p"]),  # a paragraph of its own
        ("1. {}", ["ol", "li"]),  # a list item's text (after "1. ")
        ("Summary: {} end", ["p"]),  # inside a sentence
        ("> {}", ["blockquote", "p"]),
    ):
        dom = _md(template.format(escape.markdown(payload)))
        assert dom.tags == structure, (template, escape.markdown(payload))
        assert shown in " ".join(dom.visible.split())
    table = _md(f"| h |\n|---|\n| {escape.markdown_cell(escape.markdown(payload))} |\n")
    assert table.tags.count("tr") == 2
    assert table.tags.count("td") == 1
    assert shown in " ".join(table.visible.split())


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_markdown_code_and_fence_quote_verbatim(payload):
    shown = escape.visible(re.sub("\r\n|[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]", " ↵ ", payload))
    inline = _md(f"run {escape.markdown_code(payload)} now")
    assert inline.tags == ["p", "code"]
    assert shown.strip() in inline.visible
    block = _md("\n".join(escape.markdown_fence([payload, "after"])) + "\n\nnext paragraph\n")
    assert block.tags == ["pre", "code", "p"]
    assert block.visible.startswith(shown + "\nafter\n")


_JIRA_BLOCK_START = re.compile(r"^(?:h[1-6]\.|bq\.|[#*-]+ |----|\|)")
_JIRA_BARE = re.compile(r"(?<!\\)[\[\]{}|!]|(?<![A-Za-z0-9\\])[*_+^~-](?=\S)|(?<!\\)\?\?|\\\\")


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_jira_escaper_leaves_no_markup_and_no_line_start(payload):
    for text in (escape.jira(payload), escape.jira_code(payload)[2:-2]):
        assert "\n" not in text
        assert "\r" not in text
        assert not _JIRA_BLOCK_START.match(text), text
        assert not _JIRA_BARE.findall(text), text
        assert not CONTROL.search(text)
    block = escape.jira_block([payload, "second"])
    assert [line for line in block if re.search(r"\{(?:code|noformat)", line, re.IGNORECASE)] == ["{code}", "{code}"]
    assert len(block) == 4


def test_jira_checker_catches_markup():
    for raw in ("[x|http://a]", "{code}", "*bold*", "a\\\\b", "h1. x"):
        assert _JIRA_BARE.findall(raw) or _JIRA_BLOCK_START.match(raw), raw


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_terminal_and_plotly_escapers_show_controls(payload):
    shown = escape.terminal(payload)
    assert not CONTROL.search(shown)
    assert "\x1b" not in shown
    assert escape.terminal(shown) == shown  # nothing left to escape
    label = escape.plotly(payload)
    assert not CONTROL.search(label)
    assert "<" not in label
    assert ">" not in label


def test_visible_names_the_characters():
    assert escape.terminal("\x1b]0;t\x07\x1b[2J\r\u202e\x9b") == "\\x1b]0;t\\x07\\x1b[2J\\r\\u202e\\x9b"
    assert escape.html("\x1b[2J<b>") == "\\x1b[2J&lt;b&gt;"
    undecodable = b"pod-\xff".decode("utf-8", errors="surrogateescape")
    assert escape.terminal(undecodable) == "pod-\\xff"
    assert escape.terminal(undecodable).encode("utf-8")  # printable: no lone surrogate left


def test_href_refuses_script_schemes_and_keeps_runbook_links():
    assert escape.href("javascript:alert(1)") == "#"
    assert escape.href(" JaVaScRiPt:alert(1)") == "#"
    assert escape.href("data:text/html,<script>") == "#"
    assert escape.href("../runbooks/crashloop.md#dns") == "../runbooks/crashloop.md#dns"
    assert escape.href('https://wiki.example.com/a b)|]"') == "https://wiki.example.com/a%20b%29%7C%5D%22"


# ------------------------------------------------------------------ every text field of a Finding


#: HOSTILE without backticks: what a rule may put inside the `code spans` of a summary or step. A
#: backtick in there ends the rule's span early (the pairing moves, every part is still escaped),
#: which changes how many code elements the comment has, not what else it has.
UNTICKED = HOSTILE.replace("`", "")


def _hostile_finding(
    code: Code = Code.CRASHLOOP_OTHER, severity: Severity = Severity.CRITICAL, *, plant: str = HOSTILE
) -> Finding:
    """A finding with ``plant`` (hostile, or a harmless word for its twin) in every text field."""
    inner = plant.replace("`", "")
    return Finding(
        code=code,
        severity=severity,
        title=f"title {plant}",
        summary=f"summary `code {inner}` {plant}",
        component=f"component {plant}",
        subject=f"subject {plant}",
        first_seen="2025-11-08T13:18:00Z",
        last_seen="2025-11-08T13:19:30Z",
        evidence=(
            Evidence(f"logs/panda/{plant}/c.log", 7, "2025-11-08T13:18:00Z", plant),
            Evidence(
                "k8s/pods.json#/items/0", None, None, f"{PAYLOADS['jira-code'] if plant == HOSTILE else ''} {plant}"
            ),
        ),
        next_steps=(f"step {plant}", f"`kubectl logs {inner}`"),
    )


#: The twin of HOSTILE: no markup, no control character, no backtick.
HARMLESS = "harmless words"


def test_finding_repr_html_escapes_every_field():
    dom = _dom(_hostile_finding()._repr_html_())
    assert _dangers(dom) == []
    assert dom.tags == _dom(_hostile_finding(plant=HARMLESS)._repr_html_()).tags
    assert [v for t, k, v in dom.attrs if t == "a"] == ["runbooks/crashloop.md#other"]
    for field in (PAYLOADS["script"], PAYLOADS["img"], PAYLOADS["attr-break"]):
        assert field in dom.visible


def test_a_forged_runbook_link_is_not_followed():
    forged = Finding(
        code=Code.CRASHLOOP_OTHER,
        severity=Severity.INFO,
        title="t",
        summary="s",
        component="c",
        runbook="javascript:document.title='PWNED'",
    )
    dom = _dom(forged._repr_html_())
    assert [v for t, k, v in dom.attrs if t == "a" and k == "href"] == ["#"]
    table = _dom(pa.report.findings_table([forged]).to_html())
    assert _dangers(table) == []  # ../javascript:... is a relative path, not a script
    comment = ticket.render([forged], bundle=_examined(), fmt="markdown")
    assert "javascript:" not in "".join(v for t, k, v in _md(comment).attrs if k == "href")


def _examined(origin: str = "sample:x", sample: str = "") -> ticket.Examined:
    return ticket.Examined(origin, "2025-11-08T13:25:00Z", None, None, 10, 1 if sample else 0, sample, (), 0)


def test_report_display_helpers_escape_every_field():
    found = [_hostile_finding(), _hostile_finding(Code.RETRY_STORM, Severity.WARNING)]
    twins = [_hostile_finding(plant=HARMLESS), _hostile_finding(Code.RETRY_STORM, Severity.WARNING, plant=HARMLESS)]
    for helper in (pa.report.findings_table, pa.report.evidence_table):
        dom = _dom(helper(found).to_html())
        assert _dangers(dom) == [], _dangers(dom)
        assert _structure(dom) == _structure(_dom(helper(twins).to_html()))
        assert PAYLOADS["script"] in dom.visible
        assert not CONTROL.search(dom.visible.replace("\n", "").replace("\t", ""))
    steps = _md(pa.report.next_steps(found).data)
    assert _dangers(steps) == []
    assert _structure(steps) == _structure(_md(pa.report.next_steps(twins).data))
    assert PAYLOADS["attr-break"] in steps.visible


def test_ticket_of_hostile_findings_keeps_its_structure():
    found = [_hostile_finding(), _hostile_finding(Code.RETRY_STORM, Severity.WARNING)]
    seen = _examined(origin=f"bundle-{PAYLOADS['script']}.tar.gz", sample=f"x.log:3: {HOSTILE}")
    twins = [_hostile_finding(plant=HARMLESS), _hostile_finding(Code.RETRY_STORM, Severity.WARNING, plant=HARMLESS)]
    calm = _examined(origin="bundle.tar.gz", sample=f"x.log:3: {HARMLESS}")
    dom = _md(ticket.render(found, bundle=seen, fmt="markdown"))
    assert _dangers(dom) == []
    assert _structure(dom) == _structure(_md(ticket.render(twins, bundle=calm, fmt="markdown")))
    assert dom.tags.count("tr") == 1 + len(found)
    assert PAYLOADS["script"] in dom.visible
    jira = ticket.render(found, bundle=seen, fmt="jira")
    assert _jira_kinds(jira) == _jira_kinds(ticket.render(twins, bundle=calm, fmt="jira"))
    _assert_jira_structure(jira, findings=len(found))
    assert "{ code}x{ code}" in jira  # the planted {code} quoted inside our {code} block, neutralised


# ------------------------------------------------------------------ a hostile bundle, and its harmless twin

SAMPLE = Path(pa.samples.__file__).resolve().parent / "waiting_for_fiber"
POD = "panda-panda-focus-server-78dbcfd9d9-kjj77"
CLIENT = "10.42.0.0"


@dataclass(frozen=True)
class Plants:
    """What a bundle carries where: the pod name, the client address, text in logs and status."""

    pod: str
    client: str
    log: str
    termination: str
    sw_version: str
    unparsed: str


HOSTILE_PLANTS = Plants(
    # a tab separates HTML attributes and is allowed in a directory name (a "/" is not), and so
    # are ESC and BEL: the parsers count a log line with controls as unparsed, a name they keep
    pod="panda-panda-focus-server-<svg\tonload=document.title='PWNED-pod'>\x1b]0;PWNED-osc\x07",
    client="<img/src=x/onerror=document.title='PWNED-addr'>\u202egro.live",  # a bidi override reverses the rest
    log=HOSTILE,
    termination=f"{{code}}{{html}}<script>document.title='PWNED-term'</script>\r\n### heading\n| t | t |\x1b[2J {PAYLOADS['bidi']}",
    sw_version=f"<svg onload=document.title='PWNED-sw'> {PAYLOADS['osc-title']} {PAYLOADS['jira-link']}",
    unparsed=f"<script>document.title='PWNED-unparsed'</script> {PAYLOADS['osc-title']} {PAYLOADS['jira-block']}",
)
TWIN_PLANTS = Plants(
    pod="panda-panda-focus-server-twin000pod",
    client="10.42.0.99",
    log="harmless words",
    termination="harmless message",
    sw_version="harmless version",
    unparsed="harmless line that is no access log",
)


def _plant(out: Path, plants: Plants) -> Path:
    """The waiting_for_fiber sample with ``plants`` put into it, written with BundleWriter."""
    manifest = json.loads((SAMPLE / "manifest.json").read_text(encoding="utf-8"))
    with BundleWriter(out, manifest={**manifest, "source": "test_hostile_output"}) as writer:
        for path in sorted(p for p in SAMPLE.rglob("*") if p.is_file()):
            rel = path.relative_to(SAMPLE).as_posix()
            if rel in {"manifest.json", "README.md"}:
                continue
            text = path.read_text(encoding="utf-8")
            if rel == "k8s/pods.json":
                pods = json.loads(text)
                for pod in pods["items"]:
                    for status in pod["status"].get("containerStatuses", []):
                        if "terminated" in status.get("lastState", {}):
                            status["lastState"]["terminated"]["message"] = plants.termination
                text = json.dumps(pods, indent=2)
            elif rel.endswith("controller.log"):
                text = text.replace(f"Z {CLIENT} ", f"Z {plants.client} ")
                text += f"2025-11-08T13:24:59.000000000Z {plants.unparsed}\n"
            elif rel.endswith("focus-server.previous.log"):
                anchor = "Temporary failure in name resolution,"
                text = text.replace(anchor, f"{anchor} {plants.log}", 1)
            elif rel.endswith("live_metadata.jsonl"):
                text = text.replace('"sw_version":"waiting for fiber"', f'"sw_version":{json.dumps(plants.sw_version)}')
            if rel != "k8s/pods.txt":  # pasted text is split on whitespace; it keeps the real name
                text = text.replace(
                    POD, json.dumps(plants.pod)[1:-1] if rel.endswith((".json", ".jsonl")) else plants.pod
                )
            writer.add_text(rel.replace(POD, plants.pod), text)
    return out


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _plant(tmp_path_factory.mktemp("hostile") / "bundle", HOSTILE_PLANTS)


@pytest.fixture(scope="module")
def twin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _plant(tmp_path_factory.mktemp("twin") / "bundle", TWIN_PLANTS)


@pytest.fixture(scope="module")
def found(hostile: Path) -> list[Finding]:
    return pa.diagnose.run(pa.load_bundle(hostile))


def _texts(found: Iterable[Finding]) -> str:
    return "\n".join(
        "\n".join(
            [f.title, f.summary, f.component, f.subject, *f.next_steps, *(f"{e.where} {e.text}" for e in f.evidence)]
        )
        for f in found
    )


def test_the_hostile_bundle_carries_its_plants_into_findings(hostile, twin, found):
    # the test is only as good as its bundle: every plant must reach a finding or the inventory
    text = _texts(found)
    for planted in (
        "PWNED-pod",
        "PWNED-addr",
        "PWNED-term",
        "PWNED-sw",
        "PWNED-script",
        "\x1b]0;PWNED-osc\x07",
        "\u202e",
    ):
        assert planted in text, planted
    inventory = pa.load_bundle(hostile).inventory()
    assert any("PWNED-unparsed" in s for s in inventory["unparsed_sample"])
    assert {f.code for f in found} >= {Code.CRASHLOOP_DNS, Code.RETRY_STORM, Code.FIBER_WAITING}
    twins = pa.diagnose.run(pa.load_bundle(twin))
    assert [(f.code, len(f.evidence), len(f.next_steps)) for f in twins] == [
        (f.code, len(f.evidence), len(f.next_steps)) for f in found
    ]


def test_markdown_ticket_from_a_hostile_bundle(hostile, twin, found):
    text = ticket.render(found, bundle=pa.load_bundle(hostile), fmt="markdown")
    dom = _md(text)
    same = _md(ticket.render(pa.diagnose.run(pa.load_bundle(twin)), bundle=pa.load_bundle(twin), fmt="markdown"))
    assert _dangers(dom) == []
    assert "script" not in dom.tags
    # element for element: no heading, row, list, quote or HTML from evidence
    assert _structure(dom) == _structure(same)
    assert dom.tags.count("tr") == 1 + len(found)
    assert dom.tags.count("h4") == len(found)
    for planted in ("<img/src=x/onerror=document.title='PWNED-addr'>", "onload=document.title='PWNED-pod'>"):
        assert planted in dom.visible
    assert not CONTROL.search(text.replace("\n", ""))


def _jira_kinds(text: str) -> list[str]:
    """Each line by the block it starts, as Jira's renderer reads line starts ({code} bodies are literal)."""
    kinds, inside = [], False
    for line in text.split("\n"):
        if line == "{code}":
            inside = not inside
            kinds.append("{code}")
        elif inside:
            kinds.append("code line")
        else:
            start = re.match(r"h[1-6]\. |bq\. |\|\||\||[#*-]+ |----|\{\w+", line)
            kinds.append(start[0] if start else "text" if line else "")
    assert not inside, "unbalanced {code}"
    return kinds


def _assert_jira_structure(text: str, *, findings: int) -> None:
    lines = text.split("\n")
    assert "\r" not in text
    assert not CONTROL.search(text.replace("\n", ""))
    rows = [line for line in lines if line.startswith("|") and not line.startswith("||")]
    assert len(rows) == findings
    assert all(row.endswith("|") for row in rows)
    kinds = _jira_kinds(text)
    assert kinds.count("{code}") == 2 * findings
    for line, kind in zip(lines, kinds, strict=True):
        if kind in {"text", "|", "# ", "h4. "}:
            body = re.sub(r"^(?:\|[^|]*\||# |h4\. )", "", line)
            # our own structure: *bold* labels, {{code}}, [label|url] links, _footer_, escapes
            body = re.sub(
                r"\*[A-Z][a-z ,]+:?\*|\{\{.*?\}\}(?!\})|\[[^\[\]|]*\|[^\]\s]*\]|^_|_$|\\.|&#\d+;|&amp;", " ", body
            )
            assert not re.findall(r"[\[\]{}!]|(?<![A-Za-z0-9])[*_+^~-](?=\S)", body), line


def test_jira_ticket_from_a_hostile_bundle(hostile, twin, found):
    text = ticket.render(found, bundle=pa.load_bundle(hostile), fmt="jira")
    same = ticket.render(pa.diagnose.run(pa.load_bundle(twin)), bundle=pa.load_bundle(twin), fmt="jira")
    assert _jira_kinds(text) == _jira_kinds(same)  # no line from evidence starts a block
    _assert_jira_structure(text, findings=len(found))
    assert "{ code}{html}<script>" in text  # the planted {code} is quoted inside ours, neutralised


def test_jira_structure_check_can_fail():
    with pytest.raises(AssertionError):
        _assert_jira_structure("||#||\n|1|a|\n|2|b\nc|\n{code}\nx\n{code}\n", findings=2)
    with pytest.raises(AssertionError, match="unbalanced"):
        _jira_kinds("{code}\n{code}x\n")


_OWN_COLOURS = re.compile(r"\x1b\[(?:1;31|1;33|36|0)m")


def test_diagnose_text_shows_control_characters(hostile, capsys):
    assert main(["diagnose", str(hostile), "--color", "always"]) == 1
    out = capsys.readouterr().out
    assert _OWN_COLOURS.search(out)  # the colours are on ...
    bare = _OWN_COLOURS.sub("", out)
    assert not CONTROL.search(bare.replace("\n", "")), repr(CONTROL.findall(bare.replace("\n", "")))
    assert "\x1b" not in bare
    assert "panda-panda-focus-server-<svg\\tonload=document.title='PWNED-pod'>" in out  # ... and the tab shown
    assert main(["diagnose", str(hostile), "--color", "never"]) == 1
    assert not CONTROL.search(capsys.readouterr().out.replace("\n", ""))


def test_inventory_text_shows_control_characters(hostile, capsys):
    assert main(["inventory", str(hostile), "--tables"]) == 0
    out = capsys.readouterr().out
    assert not CONTROL.search(out.replace("\n", "")), repr(CONTROL.findall(out.replace("\n", "")))
    assert "\\x1b]0;PWNED-osc\\x07" in out  # sw_version in --tables, the unparsed sample in the inventory


def test_the_terminal_check_can_fail(capsys):
    print("pod \x1b]0;x\x07")
    assert CONTROL.search(_OWN_COLOURS.sub("", capsys.readouterr().out).replace("\n", ""))


def test_report_helpers_on_the_hostile_bundle(hostile, found, tmp_path):
    pages = {
        "inventory": pa.report.inventory(str(hostile)).to_html(),
        "findings": pa.report.findings_table(found).to_html(),
        "evidence": pa.report.evidence_table(found).to_html(),
        "index": pa.report.write_index(tmp_path, [], found, bundle=str(hostile)).read_text(encoding="utf-8"),
    }
    for name, page in pages.items():
        dom = _dom(page)
        assert _dangers(dom) == [], (name, _dangers(dom))
        assert "script" not in dom.tags, name
    assert "<script>document.title='PWNED-unparsed'</script>" in _dom(pages["inventory"]).visible
    assert "<img/src=x/onerror=document.title='PWNED-addr'>" in _dom(pages["findings"]).visible
    assert PAYLOADS["script"] in _dom(pages["evidence"]).visible
    steps = _md(pa.report.next_steps(found).data)
    assert _dangers(steps) == []
    assert steps.tags.count("h3") == len(found)


def _strings(node: Any, key: str = "") -> Iterable[tuple[str, str]]:
    if isinstance(node, str):
        yield key, node
    elif isinstance(node, Mapping):
        for k, v in node.items():
            yield from _strings(v, str(k))
    elif isinstance(node, list | tuple):
        for v in node:
            yield from _strings(v, key)


_PLOTLY_TEXT_KEYS = {"text", "hovertext", "hovertemplate", "name", "ticktext"}
_OWN_PLOTLY_TAGS = re.compile(r"</?(?:br|b|extra)>")


def test_plot_labels_from_a_hostile_bundle(hostile, found):
    frames = pa.load_bundle(hostile).frames()
    figures = {
        "timeline": pa.plot.timeline(frames, findings=found),
        "crashloop": pa.plot.crashloop(frames),
        "retry_storm": pa.plot.retry_storm(frames, findings=found),
        "rates": pa.plot.rates(frames, by="remote_addr"),
        "fiber": pa.plot.fiber(frames),
    }
    seen = ""
    for name, fig in figures.items():
        for key, value in _strings(fig.to_plotly_json()):
            if key in _PLOTLY_TEXT_KEYS:
                seen += value
                assert "<" not in _OWN_PLOTLY_TAGS.sub("", value), (name, key, value[:200])
                assert not CONTROL.search(value), (name, key, value[:200])
    assert "&lt;img/src=x/onerror=document.title='PWNED-addr'&gt;" in seen  # the client, escaped, is drawn
    for planted in ("PWNED-pod", "PWNED-term", "PWNED-sw"):
        assert planted in seen
    ticks = figures["crashloop"].layout.yaxis.ticktext
    assert any("&lt;svg\\tonload" in t for t in ticks)


# ------------------------------------------------------------------ the report in a real browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run")


def _dump_dom(page: Path, profile: Path) -> _Dom:
    """The page's DOM after its scripts ran (plotly drew its labels), from headless Chromium."""
    done = subprocess.run(
        [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom",
         page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return _dom(done.stdout)


@pytest.fixture(scope="module")
def hostile_report(hostile: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hostile-report")
    results = pa.report.run_all(str(hostile), out_dir=out, notebooks="overview,crashloop", progress=False)
    assert all(r.ok for r in results), [r.error for r in results]
    return out


@pytest.mark.notebook
@pytest.mark.parametrize(
    ("page", "title"),
    [
        ("overview.html", "Incident overview"),
        ("crashloop.html", "Crash loops and their root cause"),
        ("index.html", None),
    ],
)
def test_report_pages_run_no_planted_script(hostile_report, browser, tmp_path, page, title):
    if not CHROMIUM.exists():  # pragma: no cover - the browser fixture skips first
        pytest.skip("needs /usr/bin/chromium")
    path = hostile_report / page
    seen = browser.open(path)  # every payload would set document.title
    assert "PWNED" not in seen.title
    if title is not None:
        assert seen.title == title
    assert seen.page_errors == []
    assert seen.outside_requests == []
    assert not [e for e in seen.console_errors if "ERR_FILE_NOT_FOUND" in e]  # no planted <img src=x> was made
    dom = _dump_dom(path, tmp_path / "profile")
    assert "PWNED" not in (dom.title or "")
    assert _dangers(dom, elements=PLANTED_ELEMENTS - {"script", "svg"}) == []
    # no script element added by evidence: the page has as many after its scripts ran as in its file
    scripts = [t for t in dom.tags if t == "script"]
    assert scripts == [t for t in _dom(path.read_text(encoding="utf-8")).tags if t == "script"]
    text = dom.visible  # text nodes, plotly's drawn labels included, scripts left out
    if page != "crashloop.html":  # the retry storm's client
        assert "<img/src=x/onerror=document.title='PWNED-addr'>\\u202egro.live" in text  # shown as text
    if page != "index.html":
        assert "<script>document.title='PWNED-unparsed'</script>" in text  # the inventory's unparsed sample
        assert "PWNED-pod" in text
        assert "PWNED-term" in text
    if page == "overview.html":
        assert "PWNED-sw" in text
        assert PAYLOADS["script"] in text


@pytest.mark.notebook
def test_browser_check_sees_a_script_that_runs(browser, tmp_path):
    # the checks above can fail: the same payload, unescaped, does set the title and add an <img>
    page = tmp_path / "raw.html"
    page.write_text(
        f"<!DOCTYPE html><html><head><title>ok</title></head><body><p>{HOSTILE_PLANTS.client}</p>{PAYLOADS['script']}</body></html>",
        encoding="utf-8",
    )
    seen = browser.open(page, settle_s=1)
    assert seen.title.startswith("PWNED")
    dom = _dump_dom(page, tmp_path / "profile")
    assert "img" in dom.tags
    assert _dangers(dom) != []
