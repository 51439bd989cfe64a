"""Notebook-facing helpers: parameter validation, windowing, selection, display tables."""

from __future__ import annotations

import pandas as pd
import pytest

import panda_analysis as pa
from panda_analysis.errors import BundleError
from panda_analysis.report import ParameterError


def test_load_windows_every_frame():
    full = pa.report.load("sample:waiting_for_fiber")
    part = pa.report.load("sample:waiting_for_fiber", since="2025-11-08T13:19:00Z", until="2025-11-08T13:19:30Z")
    assert 0 < len(part.ingress) < len(full.ingress)
    assert part.ingress["ts"].min() >= pd.Timestamp("2025-11-08T13:19:00Z")
    assert part.ingress["ts"].max() <= pd.Timestamp("2025-11-08T13:19:30Z")
    assert part.live_metadata["ts"].between(pd.Timestamp("2025-11-08T13:19:00Z"), pd.Timestamp("2025-11-08T13:19:30Z")).all()
    # state frames (pods as collected) are not cut by the window
    assert len(part.pods_text) == len(full.pods_text)


def test_load_relative_window_counts_back_from_created_at():
    frames = pa.report.load("sample:waiting_for_fiber", since="10min")  # created_at 13:25 → since 13:15
    assert frames.focus["ts"].min() >= pd.Timestamp("2025-11-08T13:15:00Z")
    assert not frames.focus.empty


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bundle": ""}, "parameter bundle=''"),
        ({"bundle": "sample:healthy", "since": 5}, "parameter since=5 must be a string"),
        ({"bundle": "sample:healthy", "since": "yesterday"}, "cannot read time 'yesterday'"),
        ({"bundle": "sample:healthy", "since": "2025-11-10T10:00Z", "until": "2025-11-10T09:00Z"}, "empty time window"),
    ],
)
def test_load_rejects_bad_parameters_clearly(kwargs, message):
    bundle = kwargs.pop("bundle")
    with pytest.raises(ParameterError, match=message):
        pa.report.load(bundle, **kwargs)


def test_load_unknown_bundle_names_the_parameter():
    with pytest.raises(ParameterError, match="parameter bundle='sample:nope': no sample named 'nope'") as info:
        pa.report.load("sample:nope")
    assert isinstance(info.value.__cause__, BundleError)


def test_check_thresholds():
    pa.report.check(pa.diagnose.retry_storm, min_attempts=20, max_gap_s=10.0)
    pa.report.check(pa.diagnose.retry_storm, min_attempts=20.0)  # papermill may pass a float
    with pytest.raises(ParameterError, match="not a threshold of retry_storm"):
        pa.report.check(pa.diagnose.retry_storm, min_atempts=20)
    with pytest.raises(ParameterError, match="must be a number"):
        pa.report.check(pa.diagnose.retry_storm, min_attempts="20")
    with pytest.raises(ParameterError, match="must be a positive number"):
        pa.report.check(pa.diagnose.crashloop, min_restarts=0)
    with pytest.raises(ParameterError, match="must be a number"):
        pa.report.check(pa.diagnose.crashloop, recent_s=float("nan"))


def test_select_by_code_subject_and_severity():
    found = pa.diagnose.run("sample:waiting_for_fiber")
    storms = pa.findings.select(found, codes=["RETRY_STORM"])
    assert len(storms) == 2
    assert [f.subject for f in pa.findings.select(found, about="10.42.2.0")] == ["10.42.2.0 POST /focus-server/configure"]
    assert {f.code for f in pa.findings.select(found, min_severity="critical")} == {"FIBER_WAITING", "FIBER_METADATA_MISSING"}
    assert pa.findings.select(found, codes=[], about="") == found


def test_display_tables():
    found = pa.diagnose.run("sample:alert_lost")
    styled = pa.report.findings_table(found)
    page = styled.to_html()
    assert "ALERT_NOT_DELIVERED" in page
    assert 'href="../runbooks/alert_trace.md#alert-not-delivered"' in page
    quotes = pa.report.evidence_table(found).data
    assert "test-sd-124" in pa.report.evidence_table(found).to_html()
    assert list(quotes.columns) == ["code", "subject", "where", "ts", "text"]
    assert len(quotes) == len(found[0].evidence)
    assert quotes["where"].str.contains(":").all()
    empty = pa.report.findings_table([])
    assert "No findings" in empty.to_html()
    steps = pa.report.next_steps(found)
    assert "Runbook: [runbooks/alert_trace.md#alert-not-delivered]" in steps.data


def test_inventory_display_is_readable():
    styled = pa.report.inventory("sample:waiting_for_fiber")
    assert list(styled.data.columns)[:3] == ["part", "present", "files"]
    page = styled.to_html()
    assert "2025-11-08 13:00:02.118" in page  # first live_metadata probe, to the millisecond
    assert "+00:00" not in page
