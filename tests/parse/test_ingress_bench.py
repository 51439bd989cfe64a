"""The ingress benchmark script runs and reports its measures (not its speed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "ingress_bench.py"


def test_benchmark_reports_every_measure() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--lines", "2000"], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "generated 2,000 lines" in out
    for measure in (
        "parser lines/s",
        "baseline (re loop) lines/s",
        "ratio parser / re loop",
        "DataFrame MB per 1M lines",
        "peak RSS MB per 1M lines",
    ):
        assert measure in out
    ratio_line = next(line for line in out.splitlines() if line.startswith("ratio parser / re loop"))
    assert ratio_line.split()[-1] in {"PASS", "FAIL"}
    assert ">= 8x" in ratio_line
    # both parsers read the same rows of the same file
    rows_line = next(line for line in out.splitlines() if line.startswith("rows:"))
    parser_rows = rows_line.split("parser ")[1].split(" ")[0]
    baseline_rows = rows_line.split("re loop ")[1].split(";")[0]
    assert parser_rows == baseline_rows
