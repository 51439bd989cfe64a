"""The rule registry, filters, and the expected findings of every sample."""

from __future__ import annotations

import inspect
import json
import typing
from pathlib import Path

import pandas as pd
import pytest

import panda_analysis as pa
from panda_analysis.findings import Code, Finding, Severity

EXPECTED = Path(__file__).resolve().parents[1] / "data" / "expected"


@pytest.mark.parametrize("name", pa.samples.names())
def test_each_sample_yields_exactly_its_expected_findings(name):
    expected = json.loads((EXPECTED / f"{name}.json").read_text())
    found = pa.diagnose.run(f"sample:{name}")
    got = [{"code": str(f.code), "severity": str(f.severity), "component": f.component} for f in found]
    key = lambda r: (r["code"], r["severity"], r["component"])  # noqa: E731
    assert sorted(got, key=key) == sorted(expected, key=key)


def test_healthy_has_no_warning_or_critical():
    assert [f for f in pa.diagnose.run("sample:healthy") if f.severity != Severity.INFO] == []


def test_run_is_worst_first_and_deterministic():
    a = pa.diagnose.run("sample:waiting_for_fiber")
    b = pa.diagnose.run(pa.samples.waiting_for_fiber().frames())
    assert [f.to_dict() for f in a] == [f.to_dict() for f in b]
    ranks = [f.severity.rank for f in a]
    assert ranks == sorted(ranks)


def test_only_filters_codes_and_skips_other_rules(monkeypatch):
    called = []
    original = dict(pa.diagnose.RULES)
    for name, (rule, codes) in original.items():
        def spy(frames, _rule=rule, _name=name, **kw):
            called.append(_name)
            return _rule(frames, **kw)
        monkeypatch.setitem(pa.diagnose.RULES, name, (spy, codes))
    found = pa.diagnose.run("sample:waiting_for_fiber", only=["RETRY_STORM"])
    assert {f.code for f in found} == {Code.RETRY_STORM}
    assert called == ["retry_storm"]


def test_since_until_keep_overlapping_findings():
    frames = pa.samples.waiting_for_fiber().frames()
    recent = pa.diagnose.run(frames, since="2025-11-08T00:00:00Z")
    assert Code.CRASHLOOP_DNS not in {f.code for f in recent}  # the crash loop was on 2025-11-07
    assert Code.RETRY_STORM in {f.code for f in recent}
    old = pa.diagnose.run(frames, until="2025-11-07T23:59:59Z")
    assert {f.code for f in old} == {Code.CRASHLOOP_DNS}
    relative = pa.diagnose.run(frames, since="1h")  # one hour before created_at 13:25
    assert {f.code for f in relative} == {f.code for f in recent}


def test_options_reach_the_rule_and_unknown_rules_are_refused():
    loose = pa.diagnose.run("sample:waiting_for_fiber", options={"retry_storm": {"min_attempts": 1000}})
    assert Code.RETRY_STORM not in {f.code for f in loose}
    with pytest.raises(ValueError, match="unknown rules"):
        pa.diagnose.run("sample:healthy", options={"nope": {}})


def test_every_rule_follows_the_layer_convention():
    for name, (rule, codes) in pa.diagnose.RULES.items():
        params = list(inspect.signature(rule).parameters.values())
        assert params[0].name == "frames", name
        assert all(p.kind is p.KEYWORD_ONLY for p in params[1:]), name
        assert typing.get_type_hints(rule)["return"] == list[Finding], name
        assert codes, name
        doc = inspect.getdoc(rule) or ""
        for code in codes:
            assert str(code) in doc, f"{name} docstring does not mention {code}"


def test_every_rule_is_silent_on_empty_frames():
    empty = pa.Frames()
    for rule, _ in pa.diagnose.RULES.values():
        assert rule(empty) == []


def test_every_code_has_a_rule():
    emitted = set().union(*(codes for _, codes in pa.diagnose.RULES.values()))
    # ANALYSIS_ERROR is run()'s own: a rule or parser that raised
    assert emitted | {Code.ANALYSIS_ERROR} == set(Code)
    assert Code.ANALYSIS_ERROR not in emitted


@pytest.mark.parametrize("name", ["waiting_for_fiber", "consumer_slow", "alert_lost"])
def test_findings_quote_real_lines(name):
    bundle_root = pa.samples.path(name)
    found = pa.diagnose.run(f"sample:{name}")
    assert found
    for finding in found:
        assert finding.next_steps, finding.code
        assert finding.evidence, finding.code
        for ev in finding.evidence:
            file = bundle_root / ev.source.split("#", 1)[0]
            assert file.is_file(), ev.source
            if ev.line_no is not None:
                lines = file.read_text(encoding="utf-8").split("\n")
                assert 1 <= ev.line_no <= len(lines)
                line = lines[ev.line_no - 1]
                words = [w for w in ev.text.replace('"', " ").split() if len(w) > 6][:3]
                assert any(w in line for w in words) or not words, (ev.where, ev.text, line)


def test_timeline_has_the_findings():
    frames = pa.samples.waiting_for_fiber().frames()
    found = pa.diagnose.run(frames)
    tl = pa.diagnose.timeline(frames, findings=found)
    assert tl["ts"].is_monotonic_increasing
    assert str(tl["ts"].dtype) == "datetime64[ns, UTC]"
    assert (tl["kind"] == "finding").sum() == len(found)
    assert tl["ts"].min() < pd.Timestamp("2025-11-08T00:00:00Z")  # the 2025-11-07 restart is on the axis
