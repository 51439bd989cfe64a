"""Ticket comments (``diagnose --format markdown|jira``) and baselines (``--baseline``), end to end.

Markdown is checked by rendering it with a CommonMark + GFM-tables renderer (mistune) with raw
HTML passed through, as a git host would before sanitising: what the reader sees must be the
finding's own text. Jira wiki markup has no renderer here, so the Jira checks read the markup
the way Jira's renderer does: outside ``{code}`` blocks, every markup character is either part
of the structure we wrote or escaped with a backslash.
"""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import mistune
import pandas as pd
import pytest

import panda_analysis as pa
from panda_analysis import findings as fnd
from panda_analysis import ticket
from panda_analysis.cli import main
from panda_analysis.findings import Code, Evidence, Finding, Severity

SAMPLES = Path(pa.samples.__file__).resolve().parent
HOSTILE = "<script>alert(1)</script> *not bold* _not italic_ [not](a link) a|b ~~no~~ &amp; -x- +y+ ^z^ {w} (x) ??q?? !img!"


class _Text(HTMLParser):
    """Visible text, element names, link targets and code blocks of rendered HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.tags: list[str] = []
        self.hrefs: list[str] = []
        self.pre: list[str] = []
        self._in_pre = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "a":
            self.hrefs.append(dict(attrs).get("href") or "")
        if tag == "pre":
            self._in_pre = True
            self.pre.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre":
            self._in_pre = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_pre:
            self.pre[-1] += data


def _html(markdown: str) -> _Text:
    render = mistune.create_markdown(escape=False, plugins=["table", "strikethrough"])
    parsed = _Text()
    parsed.feed(str(render(markdown)))
    return parsed


def _visible(markdown: str) -> str:
    return " ".join("".join(_html(markdown).text).split())


def _finding(summary: str = "x", **kw: object) -> Finding:
    base: dict[str, object] = {
        "code": Code.RETRY_STORM, "severity": Severity.WARNING, "title": "Retry storm on POST /configure",
        "summary": summary, "component": "focus-server", "subject": "10.42.0.0 POST /configure",
        "first_seen": "2025-11-08T13:18:00Z", "last_seen": "2025-11-08T13:19:30Z",
        "evidence": (
            Evidence("logs/kube-system/ingress/controller.log", 12, "2025-11-08T13:18:00Z", 'x "POST /configure" 503'),
            Evidence("logs/kube-system/ingress/controller.log", 40, "2025-11-08T13:18:30Z", "```fenced``` inside"),
        ),
        "next_steps": ("Stop the client: `kubectl -n panda get pods -o wide`",),
    }
    base.update(kw)
    return Finding(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def fiber() -> tuple[pa.Bundle, list[Finding]]:
    bundle = pa.load_bundle("sample:waiting_for_fiber")
    return bundle, pa.diagnose.run(bundle)


# ------------------------------------------------------------------ seed 002 as a ticket


def test_seed_002_markdown_ticket_reads_like_an_on_call_paste(fiber):
    bundle, found = fiber
    text = ticket.render(found, bundle=bundle, fmt="markdown")
    lines = text.splitlines()
    assert lines[0] == "### panda-analysis: 2 critical, 3 warning in `sample:waiting_for_fiber`"
    # what was examined: bundle, collection time, the window of logs and probes, the gaps
    assert "collected 2025-11-08 13:25:00 UTC" in text
    assert "logs and probes from 2025-11-07 09:11:39 to 2025-11-08 13:24:59 UTC" in text
    gaps = next(line for line in lines if line.startswith("**Gaps:**"))
    assert "analyzer (grpc-job) logs" in gaps
    assert "MongoDB export" in gaps
    assert "ingress" not in gaps
    # seed 002 asks to show that RabbitMQ is not the problem
    checked = next(line for line in lines if line.startswith("**Checked, nothing wrong:**"))
    assert "RabbitMQ queues and consumers" in checked
    assert "50 RabbitMQ server log lines" in checked
    assert "fiber metadata" not in checked
    assert "retry storms" not in checked
    html = _html(text)
    # one h3 title, one h4 per finding, in worst-first order, each with its quoted evidence
    assert html.tags.count("h3") == 1
    assert html.tags.count("h4") == len(found)
    headings = [line for line in lines if line.startswith("#### ")]
    assert [re.search(r"`(\w+)`", h)[1] for h in headings] == [str(f.code) for f in fnd.sort(found)]
    assert html.tags.count("table") == 1
    assert html.tags.count("tr") == len(found) + 1
    assert len(html.pre) == len(found)
    for block, f in zip(html.pre, fnd.sort(found), strict=True):
        quoted = block.strip().splitlines()
        assert 2 <= len(quoted) <= 3
        assert [q.split("  ", 1)[0] for q in quoted] == [e.where for e in f.evidence[:3]]
    # every summary reads exactly as the rule wrote it (code spans become code)
    visible = _visible(text)
    for f in found:
        assert " ".join(f.summary.replace("`", "").split()) in visible
    # runbook links: relative paths into the repository, one per finding
    runbooks = [h for h in html.hrefs if h.startswith("runbooks/")]
    assert runbooks == [f.runbook for f in fnd.sort(found)]
    assert "Next steps" in visible
    assert "kubectl -n panda logs panda-panda-focus-server-78dbcfd9d9-kjj77" in visible
    assert "Missing required fiber metadata fields: prr" in text  # the log line itself, quoted
    assert lines[-1].startswith("_Generated by panda-analysis")
    assert "--format markdown" in lines[-1]


def test_runbook_url_makes_links_absolute(fiber):
    bundle, found = fiber
    base = "https://git.example.com/sre/panda-analysis/-/blob/main/"
    html = _html(ticket.render(found, bundle=bundle, fmt="markdown", runbook_url=base))
    links = [h for h in html.hrefs if "runbooks/" in h]
    assert links
    assert all(h.startswith(base + "runbooks/") for h in links)
    assert "https://git.example.com/sre/panda-analysis/-/blob/main/runbooks/crashloop.md#dns" in links


def test_jira_ticket_uses_wiki_markup(fiber):
    bundle, found = fiber
    text = ticket.render(found, bundle=bundle, fmt="jira", runbook_url="https://wiki.example.com/panda")
    lines = text.splitlines()
    assert lines[0].startswith("h3. panda-analysis: 2 critical, 3 warning in {{sample:waiting_for_fiber}}")
    assert sum(line.startswith("h4. ") for line in lines) == len(found)
    assert text.count("{code}") == 2 * len(found)
    assert lines[lines.index("||#||severity||code||about||first seen (UTC)||") + 1].startswith("|1|CRITICAL|{{FIBER_WAITING}}|")
    assert "[runbooks/crashloop.md#dns|https://wiki.example.com/panda/runbooks/crashloop.md#dns]" in text
    assert "# Check the metadata now:" in text  # numbered next steps
    assert "```" not in text
    assert "**" not in text
    _assert_jira_clean(text)


# ------------------------------------------------------------------ escaping


def _outside_code_blocks(text: str) -> list[str]:
    out, inside = [], False
    for line in text.splitlines():
        if line == "{code}":
            inside = not inside
            continue
        if not inside:
            out.append(line)
    assert not inside, "unbalanced {code}"
    return out


_JIRA_STRUCTURE = re.compile(
    r"^h\d\. |^\|\|.*\|\|$|^\|.*\|$|^# |^\* |\{\{|\}\}|\[[^\[\]|]*\|[^\]]*\]|(?<!\\)\*[A-Za-z ,]+:?\*|^_|_$|\\."
)


def _assert_jira_clean(text: str) -> None:
    """Outside {code}: after removing our structure and escapes, no markup character is left."""
    for line in _outside_code_blocks(text):
        rest = _JIRA_STRUCTURE.sub(" ", line)
        rest = re.sub(r"^\|(.*)\|$", r"\1", rest)
        bare = re.findall(r"[\[\]{}!]|(?<![A-Za-z0-9\\])[*_+^~-](?=\S)|\?\?|\((?:x|i|y|n|/|!|\?|\+|-|on|off)\)", rest)
        assert not bare, f"unescaped Jira markup {bare} in: {line}"


def test_markdown_escapes_text_from_logs():
    f = _finding(HOSTILE, title="<b>title</b> *x*", subject="a|b <i>")
    bundle = ticket.Examined("sample:x", "2025-11-08T13:25:00Z", None, None, 1, 0, "", (), 0)
    text = ticket.render([f], bundle=bundle, fmt="markdown")
    html = _html(text)
    assert "script" not in html.tags
    assert "b" not in html.tags
    assert "i" not in html.tags
    assert "del" not in html.tags
    assert html.tags.count("em") == 1
    assert "strong" in html.tags
    visible = _visible(text)
    assert HOSTILE in visible
    assert "<b>title</b> *x*" in visible
    # a table cell with a pipe stays one cell
    assert html.tags.count("td") == 5
    # evidence with a ``` fence is quoted inside a longer fence, verbatim
    assert any("```fenced``` inside" in block for block in html.pre)


def test_jira_escapes_text_from_logs():
    f = _finding(HOSTILE, title="[link|x] -struck-", subject="a|b")
    bundle = ticket.Examined("sample:x", "2025-11-08T13:25:00Z", None, None, 1, 0, "", (), 0)
    text = ticket.render([f], bundle=bundle, fmt="jira")
    _assert_jira_clean(text)
    assert "\\[not\\](a link)" in text
    assert "a\\|b" in text
    assert "\\{w\\}" in text
    assert "```fenced``` inside" in text  # code blocks are verbatim


def test_jira_checker_catches_unescaped_markup():
    with pytest.raises(AssertionError, match="unescaped"):
        _assert_jira_clean("summary with [a link] and {curly}")
    with pytest.raises(AssertionError, match="unescaped"):
        _assert_jira_clean("a -struck- word")
    _assert_jira_clean("a \\-struck\\- word and grpc-job-19-5 and prr=0")


def test_unknown_format_is_refused(fiber):
    bundle, found = fiber
    with pytest.raises(ValueError, match="use one of markdown, jira"):
        ticket.render(found, bundle=bundle, fmt="html")


def test_gaps_name_unparsed_lines_and_stray_files(make_bundle):
    root = make_bundle(
        {
            "logs/kube-system/ingress-nginx-controller-1/controller.log": "garbage that is not an access line\n",
            "notes/what-i-saw.txt": "hello\n",
        }
    )
    text = ticket.render([], bundle=pa.load_bundle(root), fmt="markdown")
    gaps = next(line for line in text.splitlines() if line.startswith("**Gaps:**"))
    assert "1 lines could not be parsed" in gaps
    assert "garbage that is not an access line" in gaps
    assert "1 files in the bundle are not read by any parser" in gaps
    assert "No findings: nothing wrong in this evidence." in text


# ------------------------------------------------------------------ baselines


def test_compare_pairs_by_code_and_subject():
    a, b = _finding(subject="10.42.0.0 POST /configure"), _finding(subject="10.42.2.0 POST /configure")
    c = _finding(code=Code.CRASHLOOP_DNS, subject="panda/focus-0/focus-server", severity=Severity.CRITICAL)
    out = fnd.compare([a, a, c], [a, b])
    changes = {(f.code, f.subject, f.change) for f in out}
    assert changes == {
        (Code.RETRY_STORM, a.subject, "persisting"), (Code.RETRY_STORM, a.subject, "new"),
        (Code.CRASHLOOP_DNS, c.subject, "new"), (Code.RETRY_STORM, b.subject, "resolved"),
    }
    assert out[0].code == Code.CRASHLOOP_DNS
    assert out[-1].change == "resolved"
    # a finding without a subject is matched by its component
    plain = _finding(subject="", component="rabbitmq")
    assert [f.change for f in fnd.compare([plain], [plain])] == ["persisting"]
    with pytest.raises(ValueError, match="change='gone'"):
        _finding(change="gone")


def _after_the_fix(tmp_path: Path) -> Path:
    """The seed 002 bundle as if the test clients had been stopped at 13:18:06: their last
    requests are all the ingress and Focus logs hold; the fiber is still not ready (the probes
    go on) and the restarts of the day before are still in the pod's history."""
    root = tmp_path / "after"
    shutil.copytree(SAMPLES / "waiting_for_fiber", root)
    for log in [*root.glob("logs/kube-system/*/controller.log"), *root.glob("logs/panda/*/focus-server.log")]:
        kept = [line for line in log.read_text(encoding="utf-8").splitlines(keepends=True) if line[:19] < "2025-11-08T13:18:06"]
        assert 4 <= len(kept) < 20
        log.write_text("".join(kept), encoding="utf-8")
    return root


def test_cli_baseline_shows_the_fix_worked(tmp_path, capsys):
    after = _after_the_fix(tmp_path)
    assert main(["diagnose", str(after), "--baseline", "sample:waiting_for_fiber", "--json"]) == 1
    records = json.loads(capsys.readouterr().out)
    got = sorted((r["code"], r["change"]) for r in records)
    assert got == sorted([
        ("FIBER_WAITING", "persisting"), ("FIBER_METADATA_MISSING", "persisting"), ("CRASHLOOP_DNS", "persisting"),
        ("RETRY_STORM", "resolved"), ("RETRY_STORM", "resolved"),
    ])
    assert [r["change"] for r in records][-2:] == ["resolved", "resolved"]
    assert {r["code"] for r in fnd.to_json(fnd.from_json(records))} == {r["code"] for r in records}
    assert all(r["change"] == f.change for r, f in zip(records, fnd.from_json(records), strict=True))

    assert main(["diagnose", str(after), "--baseline", "sample:waiting_for_fiber", "--format", "markdown"]) == 1
    text = capsys.readouterr().out
    assert "3 persisting" in text.split("\n\n")[4] or "0 new, 3 persisting, 2 resolved" in text
    assert "0 new, 3 persisting, 2 resolved" in text
    assert "#### Resolved since the baseline" in text
    resolved = text.split("#### Resolved since the baseline", 1)[1]
    assert resolved.count("`RETRY_STORM`") == 2
    assert "10.42.0.0 POST /focus-server/configure" in resolved
    assert text.count("[PERSISTING]") == 3
    assert "[NEW]" not in text


def test_cli_baseline_when_everything_resolved_exits_0(capsys):
    assert main(["diagnose", "sample:healthy", "--baseline", "sample:waiting_for_fiber"]) == 0
    out = capsys.readouterr().out
    assert "0 new, 0 persisting, 5 resolved" in out
    assert out.count("[RESOLVED] ") == 5


def test_json_without_baseline_has_no_change_field(capsys):
    assert main(["diagnose", "sample:consumer_slow", "--json"]) == 0
    assert all("change" not in r for r in json.loads(capsys.readouterr().out))


def test_cli_missing_baseline_is_a_clear_error(tmp_path, capsys):
    assert main(["diagnose", "sample:healthy", "--baseline", str(tmp_path / "nope.tar.gz")]) == 2
    err = capsys.readouterr().err
    assert "nope.tar.gz" in err
    assert "Traceback" not in err


def test_cli_markdown_and_runbook_url(capsys):
    base = "https://git.example.com/sre/panda-analysis/-/blob/main"
    assert main(["diagnose", "sample:waiting_for_fiber", "--format", "markdown", "--runbook-url", base]) == 1
    text = capsys.readouterr().out
    assert f"]({base}/runbooks/fiber_metadata.md#waiting-for-fiber)" in text
    assert main(["diagnose", "sample:waiting_for_fiber", "--runbook-url", base]) == 1
    assert f"runbook: {base}/runbooks/crashloop.md#dns" in capsys.readouterr().out
    assert main(["diagnose", "sample:waiting_for_fiber", "--json", "--runbook-url", base]) == 1
    assert json.loads(capsys.readouterr().out)[0]["runbook"] == "runbooks/fiber_metadata.md#waiting-for-fiber"


def test_cli_only_limits_what_is_claimed_as_checked(capsys):
    assert main(["diagnose", "sample:waiting_for_fiber", "--format", "markdown", "--only", "RETRY_STORM"]) == 0
    text = capsys.readouterr().out
    assert "RabbitMQ" not in text.split("|", 1)[0]  # the queues rule did not run: no claim about it
    assert text.count("#### ") == 2


def test_examined_window_ignores_old_object_creation_times():
    seen = ticket.examined(pa.load_bundle("sample:waiting_for_fiber"))
    assert seen.first == pd.Timestamp("2025-11-07T09:11:39Z")  # the previous log, not the pods created in October
    assert seen.last is not None
    assert seen.last <= pd.Timestamp("2025-11-08T13:25:00Z")
    assert seen.rows_of("live_metadata") == 50
    assert seen.rows_of("mongo") == 0


def test_max_details_keeps_the_table_whole_and_the_comment_short(fiber):
    bundle, found = fiber
    text = ticket.render(found, bundle=bundle, fmt="markdown", max_details=2)
    assert text.count("\n#### ") == 2
    assert _html(text).tags.count("tr") == len(found) + 1  # every finding still in the table
    assert "Details of the other 3 findings (#3-5 in the table) are left out" in text
    full = ticket.render(found, bundle=bundle, fmt="markdown")
    assert len(text) < len(full)
    assert "left out" not in full


def test_cli_warns_when_a_jira_comment_is_too_long(capsys, monkeypatch):
    monkeypatch.setattr(ticket, "JIRA_MAX_CHARS", 2000)
    assert main(["diagnose", "sample:waiting_for_fiber", "--format", "jira"]) == 1
    err = capsys.readouterr().err
    assert "more than Jira accepts (2000)" in err
    assert "--max-details (now 10)" in err
    assert main(["diagnose", "sample:waiting_for_fiber", "--format", "jira", "--max-details", "0"]) == 1
    captured = capsys.readouterr()
    assert captured.out.count("\nh4. ") == 0
    assert len(captured.out) < 2000
    assert captured.err == ""


def test_compare_matches_a_storm_seen_through_the_ingress_and_upstream():
    ingress = _finding(subject="10.42.0.0 POST /focus-server/configure")
    upstream = _finding(subject="10.42.0.0 POST /configure")
    other_client = _finding(subject="10.42.2.0 POST /configure")
    other_path = _finding(subject="10.42.0.0 POST /metadata")
    assert [f.change for f in fnd.compare([upstream], [ingress])] == ["persisting"]
    assert [f.change for f in fnd.compare([ingress], [upstream])] == ["persisting"]
    assert sorted(f.change for f in fnd.compare([other_client, other_path], [ingress])) == ["new", "new", "resolved"]
    # an exact pair wins over a suffix pair
    out = fnd.compare([upstream, ingress], [ingress])
    assert [(f.subject, f.change) for f in out if f.change == "persisting"] == [(ingress.subject, "persisting")]


def test_cli_baseline_with_only_focus_logs_left(tmp_path, capsys):
    """After the fix bundle lost its ingress logs: the storms seen in Focus logs still pair with the ingress ones."""
    root = tmp_path / "no-ingress"
    shutil.copytree(SAMPLES / "waiting_for_fiber", root)
    shutil.rmtree(root / "logs" / "kube-system")
    assert main(["diagnose", str(root), "--baseline", "sample:waiting_for_fiber", "--json", "--only", "RETRY_STORM"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert sorted((r["subject"], r["change"]) for r in records) == [
        ("10.42.0.0 POST /configure", "persisting"), ("10.42.2.0 POST /configure", "persisting"),
    ]
