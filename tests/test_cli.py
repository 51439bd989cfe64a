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
