"""The ingress benchmark script runs and reports its measures (not its speed)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "ingress_bench.py"


def _bench():
    spec = importlib.util.spec_from_file_location("ingress_bench", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_benchmark_reports_every_measure_with_and_without_the_prefix() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--lines", "2000"], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.count("generated 2,000 lines") == 2
    for label in ("kubelet prefix", "no prefix"):
        for measure, target in (
            ("parser lines/s", ">= 800,000"),
            ("baseline (re loop) lines/s", None),
            ("ratio parser / re loop", ">= 12x"),
            ("DataFrame MB per 1M lines", "<= 300"),
            ("peak RSS MB per 1M lines", "<= 1000"),
        ):
            line = next(line for line in out.splitlines() if line.startswith(f"{measure} ({label})"))
            if target is not None:
                assert target in line
                assert line.split()[-1] in {"PASS", "FAIL"}
        # both parsers read the same rows of the same file
        rows_line = next(line for line in out.splitlines() if line.startswith(f"{label}: rows:"))
        parser_rows = rows_line.split("parser ")[1].split(" ")[0]
        baseline_rows = rows_line.split("re loop ")[1].split(" ")[0]
        assert parser_rows == baseline_rows


def test_check_exits_1_when_a_target_is_missed(monkeypatch) -> None:
    bench = _bench()
    monkeypatch.setattr(bench, "TARGET_LINES_PER_S", 10**12)
    assert bench.main(["--lines", "500"]) == 0  # a report
    assert bench.main(["--lines", "500", "--check"]) == 1


def test_generated_data_has_cut_lines_with_and_without_prefix(tmp_path: Path) -> None:
    bench = _bench()
    prefix = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z ")
    texts = {}
    for kubelet in (True, False):
        whole, cut = tmp_path / f"whole-{kubelet}.log", tmp_path / f"cut-{kubelet}.log"
        bench.generate(whole, 20_000, kubelet=kubelet, cut=0)
        bench.generate(cut, 20_000, kubelet=kubelet, cut=0.005)
        intact = set(whole.read_text().splitlines())
        lines = cut.read_text().splitlines()
        changed = [line for line in lines if line not in intact]
        assert 60 <= len(changed) <= 250  # about 0.5% of 20,000 cut, half of them split in two
        assert sum(line.count('"') % 2 for line in changed) >= 30  # most cut inside a quoted field or after one
        starts = sum(bool(prefix.match(line)) for line in lines)
        assert (starts > 0.98 * len(lines)) if kubelet else starts == 0
        texts[kubelet] = whole.read_text().splitlines()
    # the same requests either way
    assert [prefix.sub("", line) for line in texts[True]] == texts[False]
