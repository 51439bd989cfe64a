"""A rule that fails on the evidence (issue #11): ``report`` keeps every page and exits 3.

The failure is planted through ``sitecustomize`` on ``PYTHONPATH``, so that the command and
every kernel it starts run the same broken rule, as they would with a real bug: the
overview page (which runs every rule isolated) shows the ANALYSIS_ERROR and every other
finding, the consumer page (which calls the rule directly) is kept as a partial page, and
``findings.json`` has the ANALYSIS_ERROR next to the other findings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.notebook

SITECUSTOMIZE = '''
import functools

import panda_analysis.diagnose as diagnose

original, codes = diagnose.RULES["consumer"]


@functools.wraps(original)  # the same signature, so parameter checks pass
def consumer(frames, **kwargs):
    raise TypeError("Cannot cast DatetimeArray to dtype float64")


diagnose.RULES["consumer"] = (consumer, codes)
diagnose.consumer = consumer
'''


def test_a_failing_rule_keeps_the_report_and_exits_3(tmp_path: Path) -> None:
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH", "")]))}
    out = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, "-m", "panda_analysis", "report", "sample:waiting_for_fiber", "--out", str(out),
         "-n", "overview", "-n", "consumer_delay"],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    assert "consumer rule failed" in done.stderr
    found = json.loads((out / "findings.json").read_text(encoding="utf-8"))
    codes = {f["code"] for f in found}
    assert "ANALYSIS_ERROR" in codes
    assert codes - {"ANALYSIS_ERROR"}, "the other rules' findings are kept"
    overview = (out / "overview.html").read_text(encoding="utf-8")
    assert "ANALYSIS_ERROR" in overview
    partial = out / "consumer_delay.html"
    assert partial.is_file(), "the failed notebook's partial page is kept"
    assert "Cannot cast DatetimeArray" in partial.read_text(encoding="utf-8")
    assert "PARTIAL" in done.stdout
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "ANALYSIS_ERROR" in index
