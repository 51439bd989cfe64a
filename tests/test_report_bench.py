"""``benchmarks/report_bench.py`` (issue #12) on two notebooks: what it prints and when ``--check`` fails.

The timing target is the lead's to judge on a quiet machine; here the figures must be there,
the run's own facts (one plotly.js shared by every page, every page written, no cache left,
the directory under its target) must PASS, and a missed target must make ``--check`` exit 1.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.notebook

ROOT = Path(__file__).resolve().parent.parent


def _bench() -> ModuleType:
    name = "report_bench"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / "report_bench.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def test_report_bench_on_two_notebooks(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    bench = _bench()
    monkeypatch.setattr(bench, "TARGET_S", 0.01)  # a target no run meets: --check must say so
    status = bench.main(["--notebooks", "overview,crashloop", "--keep", str(tmp_path), "--check"])
    printed = capsys.readouterr().out
    verdicts = {name: verdict for verdict, name in re.findall(r"^(PASS|FAIL)  (.+?)  ", printed, flags=re.MULTILINE)}
    assert verdicts == {
        "wall time": "FAIL", "run directory": "PASS", "plotly.js copies": "PASS", "pages sharing it": "PASS",
        "pages written": "PASS", "cache left behind": "PASS",
    }, printed
    assert status == 1
    assert re.search(r"^FAIL  wall time +[0-9.]+ s for 2 notebooks +\[target <= 0 s\]$", printed, flags=re.MULTILINE), printed
    assert re.search(r"^  overview +done +[0-9.]+ s$", printed, flags=re.MULTILINE), printed
    assert re.search(r"^  crashloop +done +[0-9.]+ s$", printed, flags=re.MULTILINE), printed
    assert "plotly.js copies   1 (plotly.min.js)" in printed
    assert "pages sharing it   2 of 2 pages with figures" in printed
    assert re.search(r"run directory: \.js 4\.\d MB", printed), printed  # plotly.min.js, the largest part
    # --keep left the run to look at: one plotly.min.js, two pages loading it
    run = tmp_path / "run"
    assert (run / "plotly.min.js").is_file()
    assert sorted(p.name for p in run.glob("*.html")) == ["crashloop.html", "index.html", "overview.html"]
