"""Finding values: ordering, JSON round trip, table form, evidence quoting."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from panda_analysis import findings as fnd
from panda_analysis.findings import Code, Evidence, Finding, Severity


def _finding(code=Code.CRASHLOOP_DNS, severity=Severity.CRITICAL, first="2025-11-08T13:00:00Z", subject="s", **kw):
    return Finding(
        code=code, severity=severity, title="t", summary="one sentence with 4 numbers.", component="focus-server",
        first_seen=first, last_seen="2025-11-08T13:19:30Z", subject=subject, **kw,
    )


def test_values_are_normalised_at_construction():
    f = _finding(code="RETRY_STORM", severity="warning", first="2025-11-08T15:00:00+02:00")
    assert f.code is Code.RETRY_STORM
    assert f.severity is Severity.WARNING
    assert f.first_seen == pd.Timestamp("2025-11-08T13:00:00Z")
    assert str(f.first_seen.tz) == "UTC"
    assert f.runbook == "runbooks/retry_storm.md#retry-storm"
    with pytest.raises(ValueError, match="NOT_A_CODE"):
        _finding(code="NOT_A_CODE")


def test_findings_are_frozen():
    f = _finding()
    with pytest.raises(AttributeError):
        f.summary = "changed"  # type: ignore[misc]


def test_sort_worst_first_then_earliest():
    info = _finding(severity=Severity.INFO, first="2025-11-08T10:00:00Z", subject="a")
    late_crit = _finding(first="2025-11-08T13:00:00Z", subject="b")
    early_crit = _finding(first="2025-11-08T12:00:00Z", subject="c")
    undated_warn = _finding(severity=Severity.WARNING, first=None, subject="d")
    assert [f.subject for f in fnd.sort([info, undated_warn, late_crit, early_crit])] == ["c", "b", "d", "a"]


def test_json_round_trip_keeps_everything():
    f = _finding(
        evidence=(Evidence("logs/panda/p/c.previous.log", 17, "2025-11-07T09:12:01.5Z", "gaierror"),),
        next_steps=("kubectl get endpoints -n panda mongodb",),
        metrics={"restarts": 4, "gap_s": pd.Timedelta(seconds=90), "at": pd.Timestamp("2025-11-08T13:00:00Z")},
    )
    records = fnd.to_json([f])
    text = json.dumps(records)
    assert records[0]["first_seen"] == "2025-11-08T13:00:00Z"
    assert records[0]["evidence"][0] == {
        "source": "logs/panda/p/c.previous.log", "line_no": 17, "ts": "2025-11-07T09:12:01.500000Z", "text": "gaierror",
    }
    assert records[0]["metrics"] == {"restarts": 4, "gap_s": 90.0, "at": "2025-11-08T13:00:00Z"}
    (back,) = fnd.from_json(text)
    assert back.key == f.key
    assert back.evidence == f.evidence
    assert back.first_seen == f.first_seen


def test_contract_fields_are_in_the_json():
    record = fnd.to_json([_finding()])[0]
    for name in ("code", "severity", "component", "summary", "first_seen", "last_seen", "runbook", "title", "evidence", "next_steps"):
        assert name in record


def test_table_has_fixed_columns_even_when_empty():
    empty = fnd.table([])
    assert list(empty.columns) == list(fnd.TABLE_COLUMNS)
    assert str(empty["first_seen"].dtype) == "datetime64[ns, UTC]"
    df = fnd.table([_finding(severity=Severity.INFO, subject="x"), _finding(subject="y")])
    assert df["subject"].tolist() == ["y", "x"]


def test_evidence_from_row_and_truncation():
    row = {"source": "logs/a.log", "line_no": pd.NA, "ts": pd.NaT, "message": "x" * 2000}
    e = Evidence.from_row(row)
    assert e.line_no is None
    assert e.ts is None
    assert len(e.text) == fnd.MAX_EVIDENCE_CHARS
    assert e.where == "logs/a.log"
    assert Evidence("k8s/pods.json#/items/0", 3.0, None, "x").where == "k8s/pods.json#/items/0:3"


def test_dedupe_by_key():
    a = _finding(subject="same")
    b = _finding(subject="same", first="2025-11-08T14:00:00Z")
    c = _finding(subject="other")
    assert fnd.dedupe([a, b, c]) == [a, c]


def test_html_card_escapes():
    f = _finding(evidence=(Evidence("s", 1, None, "<script>alert(1)</script>"),))
    card = f._repr_html_()
    assert "<script>" not in card
    assert "CRITICAL" in card
