"""Report kernels side by side (issue #12): up to ``--jobs`` at once, every one stoppable.

Real kernels on small notebooks: two that can finish only if both run at the same time, and
slow ones interrupted with SIGTERM and Ctrl-C while two run and a third waits (every running
kernel interrupted, each partial page kept, the waiting notebook never started).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

import panda_analysis as pa
from panda_analysis import _procs

pytestmark = pytest.mark.notebook

CLI = [sys.executable, "-m", "panda_analysis"]
PARAMETERS = '''\
bundle: str = "sample:healthy"  # bundle directory, .tar.gz or sample:<name>
since: str = ""  # ISO-8601 UTC or a duration like 2h; empty means from the start
until: str = ""  # same forms; empty means to the end
'''


def _notebook(path: Path, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    parameters = nbformat.v4.new_code_cell(PARAMETERS)
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {path.stem}"), parameters, *map(nbformat.v4.new_code_cell, cells)]
    for number, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{number}"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


# A cell that says it runs (a file named after the notebook) and waits for its partner's file:
# it ends only if the partner runs at the same time.
MEET = """\
import os, pathlib, time
here = pathlib.Path(os.environ["PANDA_TEST_DIR"])
(here / "{me}").write_text("running")
deadline = time.monotonic() + 90
while not (here / "{partner}").exists():
    assert time.monotonic() < deadline, "{partner} never ran at the same time"
    time.sleep(0.1)
print("met {partner}")
"""


def test_kernels_run_side_by_side(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PANDA_TEST_DIR", str(tmp_path))
    a = _notebook(tmp_path / "nb" / "left.ipynb", MEET.format(me="left", partner="right"))
    b = _notebook(tmp_path / "nb" / "right.ipynb", MEET.format(me="right", partner="left"))
    lines: list[str] = []
    results = pa.report.run_all(
        "sample:healthy", out_dir=tmp_path / "out", notebooks=[str(a), str(b)], jobs=2, progress=False,
        on_progress=lines.append,
    )
    assert [r.html.stem for r in results] == ["left", "right"]  # run order, whatever order they ended in
    assert all(r.ok for r in results)
    assert "met right" in results[0].html.read_text(encoding="utf-8")
    assert "met left" in results[1].html.read_text(encoding="utf-8")
    assert lines[:2] == ["[1/2] left …", "[2/2] right …"]
    out = tmp_path / "out"
    assert not (out / "plotly.min.js").exists()  # no page has a figure: no plotly.js either
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []  # the frames cache is gone


SLOW = """\
import os, pathlib, time
pathlib.Path(os.environ["PANDA_TEST_DIR"], "{me}").write_text("running")
for second in range(120):
    time.sleep(1)
"""


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _wait_for(condition, *, timeout: float, what: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        assert process.poll() is None, f"the report ended ({process.returncode}) before {what}"
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize(
    ("signum", "status", "said"),
    [(signal.SIGTERM, 143, "interrupted by SIGTERM"), (signal.SIGINT, 130, "interrupted (Ctrl-C)")],
    ids=["SIGTERM", "SIGINT"],
)
def test_an_interrupt_stops_every_running_kernel_and_keeps_their_pages(
    tmp_path: Path, signum: int, status: int, said: str
) -> None:
    names = ["first", "second", "third"]
    for name in names:
        _notebook(tmp_path / "nb" / f"{name}.ipynb", "print('started')", SLOW.format(me=name), "print('never reached')")
    env = {**os.environ, "PANDA_TEST_DIR": str(tmp_path), "TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()
    env.pop("PYTHONWARNINGS", None)
    args = [*CLI, "report", "sample:healthy", "-o", "report", "--jobs", "2",
            *(x for name in names for x in ("-n", str(tmp_path / "nb" / f"{name}.ipynb")))]
    with (tmp_path / "run.out").open("wb") as out, (tmp_path / "run.err").open("wb") as err:
        run = subprocess.Popen(
            args, env=env, cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # Ctrl-C reaches it even from a background run
        )
    try:
        _wait_for(lambda: all((tmp_path / n).exists() for n in names[:2]), timeout=180, what="two slow cells", process=run)
        kernels = [p for p in _procs.descendants(run.pid) if "ipykernel" in _cmdline(p.pid)]
        assert len(kernels) == 2  # side by side, and the third waits
        started = time.monotonic()
        run.send_signal(signum)
        assert run.wait(timeout=30) == status
        stopped_s = time.monotonic() - started
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert not any(_procs.alive(k) for k in kernels)
    stderr = (tmp_path / "run.err").read_text(encoding="utf-8")
    assert said in stderr
    assert "Traceback" not in stderr
    assert "[1/3] first INTERRUPTED" in stderr
    assert "[2/3] second INTERRUPTED" in stderr
    assert "third" not in stderr  # never started
    report = tmp_path / "report"
    for name in names[:2]:
        nb = nbformat.read(report / f"{name}.ipynb", as_version=4)
        errors = [o.ename for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
        assert errors == ["KeyboardInterrupt"], name
        page = (report / f"{name}.html").read_text(encoding="utf-8")
        assert "started" in page
        assert "never reached" not in page
        assert "partial report" in page
    assert not (report / "third.ipynb").exists()
    assert not (report / "third.html").exists()
    assert not (tmp_path / "third").exists()
    index = (report / "index.html").read_text(encoding="utf-8")
    assert "first.html" in index
    assert "second.html" in index
    assert index.count("interrupted") >= 2
    assert isinstance(json.loads((report / "findings.json").read_text(encoding="utf-8")), list)
    assert [p.name for p in report.iterdir() if p.name.startswith(".")] == []  # the frames cache is removed
    assert sorted((tmp_path / "tmp").iterdir()) == []  # kernels' files too: an orderly shutdown
    print(f"report with two kernels stopped in {stopped_s:.1f} s")


STUBBORN = """\
import os, pathlib, signal, time
signal.signal(signal.SIGINT, signal.SIG_IGN)  # a cell that will not be interrupted
pathlib.Path(os.environ["PANDA_TEST_DIR"], "{me}").write_text("running")
for second in range(120):
    time.sleep(1)
"""


def test_a_kernel_that_ignores_the_interrupt_is_killed_and_the_other_still_stops_cleanly(tmp_path: Path) -> None:
    _notebook(tmp_path / "nb" / "stubborn.ipynb", "print('started')", STUBBORN.format(me="stubborn"))
    _notebook(tmp_path / "nb" / "polite.ipynb", "print('started')", SLOW.format(me="polite"))
    env = {**os.environ, "PANDA_TEST_DIR": str(tmp_path)}
    env.pop("PYTHONWARNINGS", None)
    args = [*CLI, "report", "sample:healthy", "-o", str(tmp_path / "report"), "--jobs", "2",
            "-n", str(tmp_path / "nb" / "stubborn.ipynb"), "-n", str(tmp_path / "nb" / "polite.ipynb")]
    with (tmp_path / "run.out").open("wb") as out, (tmp_path / "run.err").open("wb") as err:
        run = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
    try:
        _wait_for(lambda: (tmp_path / "stubborn").exists() and (tmp_path / "polite").exists(), timeout=180,
                  what="both slow cells", process=run)
        kernels = [p for p in _procs.descendants(run.pid) if "ipykernel" in _cmdline(p.pid)]
        assert len(kernels) == 2
        started = time.monotonic()
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=60) == 143
        stopped_s = time.monotonic() - started
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert not any(_procs.alive(k) for k in kernels)
    assert 9 < stopped_s < 30  # the 10 s grace, then the kill
    stderr = (tmp_path / "run.err").read_text(encoding="utf-8")
    assert "the kernel of stubborn did not stop on SIGINT: killing it" in stderr
    assert "polite did not stop" not in stderr
    assert "Traceback" not in stderr
    assert "[1/2] stubborn INTERRUPTED" in stderr
    assert "[2/2] polite INTERRUPTED" in stderr
    report = tmp_path / "report"
    polite = nbformat.read(report / "polite.ipynb", as_version=4)
    assert [o.ename for c in polite.cells for o in c.get("outputs", []) if o.output_type == "error"] == ["KeyboardInterrupt"]
    assert "partial report" in (report / "polite.html").read_text(encoding="utf-8")
    index = (report / "index.html").read_text(encoding="utf-8")
    assert "stubborn" in index
    assert "polite.html" in index
