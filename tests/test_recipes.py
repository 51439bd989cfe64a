"""The README's three recipes (JupyterLab, scheduled reports, tickets), run as written.

Each test reads its recipe's ``bash`` block out of README.md and runs those command lines
in a shell, with the virtual environment's ``panda-analysis`` first on PATH, in a fresh
directory. If the README and the tool drift apart, these fail.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from panda_analysis import report

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BIN = Path(sys.executable).parent


def _section(title: str) -> str:
    """The README text under ``### title`` up to the next heading (headings inside code fences do not count)."""
    lines, inside, fenced = [], False, False
    for line in README.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            if inside:
                break
            inside = line == f"### {title}"
            continue
        if inside:
            lines.append(line)
    assert lines, f"no section {title!r} in README.md"
    return "\n".join(lines) + "\n"


def _blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, re.S)


def _commands(title: str) -> list[str]:
    """The command lines of the recipe's first bash block, comments removed."""
    block = _blocks(_section(title), "bash")[0]
    lines = [re.sub(r"\s+#.*$", "", line).strip() for line in block.splitlines()]
    return [line for line in lines if line]


def _env(tmp_path: Path) -> dict[str, str]:
    if not (BIN / "panda-analysis").exists():
        pytest.skip("panda-analysis is not installed next to this Python (run through `make test`)")
    return os.environ | {
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path / "home"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
    }


def _sh(line: str, *, cwd: Path, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", line], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


# ------------------------------------------------------------------ JupyterLab


def test_jupyterlab_recipe(tmp_path: Path) -> None:
    (line,) = _commands("Exploring in JupyterLab")
    assert line.startswith("panda-analysis lab ")
    bundle = line.split()[2]
    proc = subprocess.Popen(
        ["sh", "-c", f"exec {line}"], cwd=tmp_path, env=_env(tmp_path), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )
    try:
        url, seen = None, []
        deadline = time.monotonic() + 180
        assert proc.stdout is not None
        while url is None and time.monotonic() < deadline:
            out = proc.stdout.readline()
            if not out:
                break
            seen.append(out)
            match = re.match(r"JupyterLab: (http://127\.0\.0\.1:\d+)/lab\?token=(\w+)", out)
            if match:
                url = match.groups()
        assert url is not None, "".join(seen)
        base, token = url
        with urllib.request.urlopen(f"{base}/api/contents?token={token}", timeout=30) as response:
            listing = json.load(response)
        assert sorted(i["name"] for i in listing["content"] if i["type"] == "notebook") == sorted(
            f"{n}.ipynb" for n in report.NOTEBOOKS
        )
        with urllib.request.urlopen(f"{base}/api/contents/overview.ipynb?token={token}", timeout=30) as response:
            cells = json.load(response)["content"]["cells"]
        injected = [c["source"] for c in cells if "injected-parameters" in c["metadata"].get("tags", [])]
        assert injected == [f'# Parameters\nbundle = "{bundle}"\n']
        assert (tmp_path / "panda-lab" / "overview.ipynb").exists()
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C, as the recipe says
        try:
            status = proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
            if proc.stdout:
                proc.stdout.close()
    assert status == 0


# ------------------------------------------------------------------ scheduled reports


def test_scheduled_report_recipe(tmp_path: Path) -> None:
    """The report line with two notebooks instead of seven (the same code path, a third of the time);
    48 older dated runs are already there, so --keep 48 must remove exactly the oldest."""
    run_line, ls_line = _commands("Scheduled incident reports")
    assert "--dated --keep 48 --fail-on critical" in run_line
    reports = tmp_path / "reports"
    old = [reports / f"202511{day:02d}T{hour:02d}0000Z" for day in range(1, 3) for hour in range(24)]
    for d in old:
        d.mkdir(parents=True)
    env = _env(tmp_path)
    done = _sh(f"{run_line} -n overview -n retry_storm", cwd=tmp_path, env=env)
    assert done.returncode == 1, done.stderr  # seed 002 has critical findings
    latest = reports / "latest"
    assert latest.is_symlink()
    run = latest.resolve()
    assert re.fullmatch(r"\d{8}T\d{6}Z", run.name)
    assert run.parent == reports.resolve()
    kept = sorted(p.name for p in reports.iterdir() if p.name != "latest")
    assert len(kept) == 48
    assert old[0].name not in kept
    assert old[1].name in kept
    assert run.name in kept
    listed = _sh(ls_line, cwd=tmp_path, env=env)
    assert listed.returncode == 0
    names = set(listed.stdout.split())
    assert {"index.html", "overview.html", "retry_storm.html", "findings.json", "runbooks"} <= names
    index = (run / "index.html").read_text(encoding="utf-8")
    assert "FIBER_WAITING" in index
    assert 'href="overview.html"' in index
    assert "runbooks/" in index
    assert (run / "runbooks" / "fiber_metadata.html").exists()


# ------------------------------------------------------------------ tickets


def test_ticket_recipe(tmp_path: Path) -> None:
    markdown, jira, baseline = _commands("Tickets")
    env = _env(tmp_path)

    done = _sh(markdown, cwd=tmp_path, env=env)
    assert done.returncode == 1, done.stderr  # critical findings, as diagnose always says
    comment = (tmp_path / "comment.md").read_text(encoding="utf-8")
    excerpt = _blocks(_section("Tickets"), "markdown")[0]
    assert comment.startswith(excerpt), "the README's excerpt of the seed 002 comment is out of date"
    assert comment.count("\n#### ") == 5

    done = _sh(jira, cwd=tmp_path, env=env)
    assert done.returncode == 1, done.stderr
    url = jira.split("--runbook-url ")[1].split()[0]
    assert done.stdout.startswith("h3. panda-analysis: 2 critical, 3 warning")
    assert f"|{url}/runbooks/fiber_metadata.md#waiting-for-fiber]" in done.stdout

    done = _sh(baseline, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr  # everything resolved
    assert "0 new, 0 persisting, 5 resolved" in done.stdout
    assert "#### Resolved since the baseline" in done.stdout
