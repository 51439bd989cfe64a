"""What a scheduler needs from `panda-analysis report`: dated runs, latest, pruning, exit policy."""

from __future__ import annotations

import datetime

import pytest

import panda_analysis as pa
from panda_analysis.cli import main
from panda_analysis.findings import Code, Finding, Severity
from panda_analysis.report import ParameterError


def _finding(severity: Severity) -> Finding:
    return Finding(code=Code.QUEUE_BACKLOG, severity=severity, title="t", summary="s.", component="rabbitmq")


def test_exit_status_policy():
    warning, critical = [_finding(Severity.WARNING)], [_finding(Severity.CRITICAL)]
    assert pa.report.exit_status(critical) == 1
    assert pa.report.exit_status(warning) == 0
    assert pa.report.exit_status(warning, fail_on="warning") == 1
    assert pa.report.exit_status([_finding(Severity.INFO)], fail_on="warning") == 0
    assert pa.report.exit_status(critical, fail_on="never") == 0
    with pytest.raises(ParameterError, match="use critical, warning or never"):
        pa.report.exit_status(critical, fail_on="sometimes")


def test_dated_dirs_latest_and_prune(tmp_path):
    at = datetime.datetime(2025, 11, 8, 13, 25, tzinfo=datetime.UTC)
    runs = []
    for minutes in (0, 30, 60):
        run = pa.report.dated_dir(tmp_path, now=at + datetime.timedelta(minutes=minutes))
        run.mkdir()
        runs.append(run)
        pa.report.update_latest(tmp_path, run)
    assert [r.name for r in runs] == ["20251108T132500Z", "20251108T135500Z", "20251108T142500Z"]
    assert (tmp_path / "latest").resolve() == runs[-1].resolve()
    (tmp_path / "notes").mkdir()  # not a dated run: never pruned
    assert pa.report.dated_dir(tmp_path, now=at).name == "20251108T132501Z"  # name taken: a second later
    removed = pa.report.prune(tmp_path, keep=2)
    assert removed == [runs[0]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["20251108T135500Z", "20251108T142500Z", "latest", "notes"]
    with pytest.raises(ParameterError, match="keep at least"):
        pa.report.prune(tmp_path, keep=0)


@pytest.mark.notebook
def test_cli_dated_keep_and_fail_on(tmp_path, capsys):
    base = tmp_path / "reports"
    args = ["report", "sample:consumer_slow", "-n", "consumer_delay", "-o", str(base), "--dated", "--keep", "1"]
    assert main(args) == 0  # CONSUMER_SLOW is a warning
    first = capsys.readouterr().out
    assert "latest" in first
    assert main([*args, "--fail-on", "warning"]) == 1
    runs = [p for p in base.iterdir() if p.name != "latest"]
    assert len(runs) == 1  # --keep 1 removed the first run
    assert (base / "latest" / "consumer_delay.html").is_file()
    assert "removed old report" in capsys.readouterr().out


def test_cli_keep_needs_dated(tmp_path, capsys):
    assert main(["report", "sample:healthy", "-o", str(tmp_path), "--keep", "2"]) == 2
    assert "--keep needs --dated" in capsys.readouterr().err
