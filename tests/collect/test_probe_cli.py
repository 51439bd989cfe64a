"""`panda-analysis probe consumer` end to end against the Focus Server look-alike."""

from __future__ import annotations

import sys
from pathlib import Path

import panda_analysis as pa
from panda_analysis.cli import main

sys.path.insert(0, str(Path(__file__).parent))
from fake_focus import FakeFocus


def test_dry_run_configures_nothing(tmp_path, capsys):
    with FakeFocus(ready=True) as focus:
        code = main(["probe", "consumer", "--focus-url", focus.url, "--out", str(tmp_path / "p")])
        assert focus.count("POST") == 0
    assert code == 0
    assert "Dry run: nothing was configured" in capsys.readouterr().out
    assert not (tmp_path / "p").exists()


def test_refuses_while_waiting_for_fiber(tmp_path, capsys):
    with FakeFocus(ready=False) as focus:
        code = main(["probe", "consumer", "--focus-url", focus.url, "--yes", "--out", str(tmp_path / "p")])
        assert focus.count("POST") == 0
    assert code == 2
    assert "probe refused" in capsys.readouterr().err


def test_yes_configures_once_and_writes_a_bundle_the_diagnosis_reads(tmp_path, capsys):
    out = tmp_path / "probe.tar.gz"
    with FakeFocus(ready=True, ready_after_s=0.3) as focus:
        code = main(
            ["probe", "consumer", "--focus-url", focus.url, "--yes", "--out", str(out), "--interval", "0.1s", "--deadline", "10s"]
        )
        assert focus.count("POST") == 1
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "Probe ready: job 19-5" in printed
    stages = pa.diagnose.consumer_stages(pa.load_bundle(out).frames())
    got = set(stages.loc[stages["job_id"] == "19-5", "stage"].astype(str))
    assert {"configure", "metadata_ready"} <= got
