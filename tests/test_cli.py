"""The panda-analysis command, end to end."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from panda_analysis.cli import main


def test_inventory_prints_parts_and_gaps(capsys, make_bundle):
    root = make_bundle({"logs/panda/mongodb-0/mongodb.log": "2025-11-08T13:00:00Z started\n"})
    assert main(["inventory", str(root)]) == 0
    out = capsys.readouterr().out
    assert "format panda-bundle/1" in out
    assert "other_logs" in out
    assert "(no evidence)" in out


def test_inventory_json(capsys, make_bundle):
    root = make_bundle({"logs/panda/mongodb-0/mongodb.log": "2025-11-08T13:00:00Z started\n"})
    assert main(["inventory", str(root), "--json"]) == 0
    records = {r["part"]: r for r in json.loads(capsys.readouterr().out)}
    assert records["other_logs"]["rows"] == 1
    assert records["other_logs"]["first_ts"].startswith("2025-11-08T13:00:00")
    assert records["pods"]["present"] is False


def test_bad_bundle_exits_2_with_a_message(capsys, tmp_path):
    assert main(["inventory", str(tmp_path / "missing")]) == 2
    assert "no such bundle" in capsys.readouterr().err


def test_usage_error_exits_2():
    with pytest.raises(SystemExit) as info:
        main(["inventory"])
    assert info.value.code == 2


def test_samples_command_lists_samples(capsys):
    assert main(["samples"]) == 0
    assert "sample:healthy" in capsys.readouterr().out


def test_python_dash_m_runs_the_cli():
    result = subprocess.run(
        [sys.executable, "-m", "panda_analysis", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert "inventory" in result.stdout


# ---------------------------------------------------------------- diagnose, end to end


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "panda_analysis", *args], capture_output=True, text=True, check=False, timeout=300
    )


def test_diagnose_prints_findings_worst_first_and_exits_1_on_critical():
    result = _run("diagnose", "sample:waiting_for_fiber", "--color", "never")
    assert result.returncode == 1, result.stderr
    out = result.stdout
    assert "Evidence: " in out
    assert "0 unparsed lines" in out
    assert "no evidence for analyzer" in out
    assert "5 findings: 2 critical, 3 warning, 0 info" in out
    first_crit = out.index("CRITICAL FIBER_")
    first_warn = out.index("WARNING ")
    assert first_crit < first_warn
    assert "runbook: runbooks/fiber_metadata.md#waiting-for-fiber" in out
    assert "> http/focus/live_metadata.jsonl:" in out
    assert "\033[" not in out


def test_diagnose_healthy_exits_0():
    result = _run("diagnose", "sample:healthy")
    assert result.returncode == 0, result.stderr
    assert "No findings" in result.stdout


def test_diagnose_warning_only_exits_0():
    result = _run("diagnose", "sample:consumer_slow")
    assert result.returncode == 0
    assert "WARNING CONSUMER_SLOW" in result.stdout


def test_diagnose_json_is_the_contract():
    result = _run("diagnose", "sample:alert_lost", "--json")
    assert result.returncode == 1
    records = json.loads(result.stdout)
    assert [r["code"] for r in records] == ["ALERT_NOT_DELIVERED"]
    record = records[0]
    for field in ("code", "severity", "component", "summary", "first_seen", "last_seen", "runbook"):
        assert record[field], field
    assert record["first_seen"].endswith("Z")
    assert record["runbook"] == "runbooks/alert_trace.md#alert-not-delivered"


def test_diagnose_only_and_window_filters():
    only = json.loads(_run("diagnose", "sample:waiting_for_fiber", "--json", "--only", "retry_storm").stdout)
    assert {r["code"] for r in only} == {"RETRY_STORM"}
    window = _run("diagnose", "sample:waiting_for_fiber", "--json", "--until", "2025-11-07T23:00:00Z")
    assert window.returncode == 0  # only the (warning) crash loop of 2025-11-07 is left
    assert [r["code"] for r in json.loads(window.stdout)] == ["CRASHLOOP_DNS"]


def test_diagnose_usage_and_bundle_errors_exit_2(tmp_path):
    assert _run("diagnose", "sample:healthy", "--only", "NOT_A_CODE").returncode == 2
    bad_time = _run("diagnose", "sample:healthy", "--since", "tomorrow-ish")
    assert bad_time.returncode == 2
    assert "cannot read time" in bad_time.stderr
    (tmp_path / "manifest.json").write_text("{not json")
    broken = _run("diagnose", str(tmp_path))
    assert broken.returncode == 2
    assert "manifest.json: line 1 column 2: malformed JSON" in broken.stderr
