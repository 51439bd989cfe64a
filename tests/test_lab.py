"""``panda-analysis lab``: prepared notebooks, a real JupyterLab server, a notebook run in its kernel."""

from __future__ import annotations

import argparse
import gc
import json
import re
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import nbformat
import pytest
import websocket

from panda_analysis import lab, report
from panda_analysis.errors import BundleError

BUNDLE = "sample:consumer_slow"


def _injected(nb: Any) -> list[str]:
    return [c.source for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]


def test_prepare_sets_bundle_and_refuses_to_overwrite(tmp_path: Path) -> None:
    written = lab.prepare(BUNDLE, directory=tmp_path)
    assert [p.stem for p in written] == list(report.NOTEBOOKS)
    for path in written:
        assert _injected(nbformat.read(path, as_version=4)) == [f'# Parameters\nbundle = "{BUNDLE}"\n']
    before = written[0].read_bytes()
    with pytest.raises(lab.TargetExistsError, match=r"overview\.ipynb.*--force"):
        lab.prepare("sample:healthy", directory=tmp_path)
    assert written[0].read_bytes() == before
    lab.prepare("sample:healthy", directory=tmp_path, force=True, notebooks=["overview"])
    assert 'bundle = "sample:healthy"' in _injected(nbformat.read(written[0], as_version=4))[0]


def test_prepare_paths_absolute_defaults_kept_and_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from panda_analysis import samples

    monkeypatch.chdir(samples.path("healthy").parent)
    (out,) = lab.prepare("healthy", directory=tmp_path / "a", notebooks="queues")
    assert _injected(nbformat.read(out, as_version=4)) == [f"# Parameters\nbundle = {json.dumps(str(samples.path('healthy')))}\n"]
    (copied,) = lab.prepare(None, directory=tmp_path / "b", notebooks=["crashloop"])
    original = nbformat.read(report.notebook_dir() / "crashloop.ipynb", as_version=4)
    got = nbformat.read(copied, as_version=4)
    assert [c.source for c in got.cells if c.cell_type == "code"] == [c.source for c in original.cells if c.cell_type == "code"]
    assert [c.source.replace("](../runbooks/", "](runbooks/") for c in original.cells if c.cell_type == "markdown"] == [
        c.source for c in got.cells if c.cell_type == "markdown"
    ]
    with pytest.raises(BundleError, match="no such bundle"):
        lab.prepare("nowhere.tar.gz", directory=tmp_path / "c")
    with pytest.raises(BundleError, match="no such sample"):
        lab.prepare("sample:nope", directory=tmp_path / "c")
    with pytest.raises(report.ParameterError, match="'nope'"):
        lab.prepare(BUNDLE, directory=tmp_path / "c", notebooks=["nope"])
    assert not (tmp_path / "c").exists()


_MD_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _dead_links(path: Path, text: str) -> list[str]:
    dead = []
    for target in _MD_LINK.findall(text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        if not (path.parent / target.split("#", 1)[0]).exists():
            dead.append(f"{path.name}: {target}")
    return dead


def test_prepare_puts_runbooks_beside_the_notebooks_and_links_resolve(tmp_path: Path) -> None:
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "crashloop.md").write_text("my own notes\n", encoding="utf-8")
    written = lab.prepare(BUNDLE, directory=tmp_path)
    assert (tmp_path / "runbooks" / "crashloop.md").read_text(encoding="utf-8") == "my own notes\n"  # kept
    assert sorted(p.name for p in (tmp_path / "runbooks").glob("*.md")) == sorted(p.name for p in report.runbook_dir().glob("*.md"))
    dead = []
    for path in written:
        nb = nbformat.read(path, as_version=4)
        dead += _dead_links(path, "\n".join(c.source for c in nb.cells if c.cell_type == "markdown"))
    for page in (tmp_path / "runbooks").glob("*.md"):
        dead += _dead_links(page, page.read_text(encoding="utf-8"))
    assert dead == []
    assert "](runbooks/crashloop.md" in "".join(c.source for c in nbformat.read(tmp_path / "crashloop.ipynb", as_version=4).cells)
    lab.prepare(BUNDLE, directory=tmp_path, force=True, notebooks=["crashloop"])
    assert (tmp_path / "runbooks" / "crashloop.md").read_text(encoding="utf-8") != "my own notes\n"  # --force replaces


def test_runbook_links_in_output_follow_the_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    import panda_analysis as pa

    found = pa.diagnose.run(pa.load_bundle(BUNDLE))
    assert "](../runbooks/consumer_delay.md#consumer-slow)" in report.next_steps(found).data
    monkeypatch.setenv(report.RUNBOOK_PREFIX_ENV, "")
    assert "](runbooks/consumer_delay.md#consumer-slow)" in report.next_steps(found).data
    assert 'href="runbooks/consumer_delay.md#consumer-slow"' in report.findings_table(found).to_html()


def _execute(ws: websocket.WebSocket, code: str, session: str) -> str:
    """Send one execute_request (messaging protocol 5.3), check its execute_reply is ok; return its stdout."""
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test", "session": session,
                   "date": "", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True},
    }))
    errors: list[str] = []
    stdout: list[str] = []
    status = None
    idle = False
    # the reply (shell channel) and the output (iopub) may arrive in either order: the request is
    # done when both the execute_reply and iopub's status "idle" for it have come
    while status is None or not idle:
        reply = json.loads(ws.recv())
        if reply.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        if reply["msg_type"] == "error":
            errors.append(f"{reply['content']['ename']}: {reply['content']['evalue']}")
        if reply["msg_type"] == "stream" and reply["content"]["name"] == "stdout":
            stdout.append(reply["content"]["text"])
        if reply["msg_type"] == "status" and reply["content"]["execution_state"] == "idle":
            idle = True
        if reply["msg_type"] == "execute_reply":
            status = reply["content"]["status"]
    assert status == "ok", (code[:200], errors)
    return "".join(stdout)


def test_lab_server_lists_notebooks_and_runs_one_in_its_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("JUPYTERLAB_WORKSPACES_DIR", str(tmp_path / "workspaces"))
    work = tmp_path / "lab"
    lab.prepare(BUNDLE, directory=work)
    started = time.monotonic()
    server = lab.start(work, log_path=tmp_path / "lab.log")
    try:
        startup_s = time.monotonic() - started
        assert server.url == f"http://127.0.0.1:{server.port}/lab?token={server.token}"
        listing = server.api("/api/contents")
        names = sorted(item["name"] for item in listing["content"] if item["type"] == "notebook")
        assert names == sorted(f"{n}.ipynb" for n in report.NOTEBOOKS)
        model = server.api("/api/contents/consumer_delay.ipynb")
        assert _injected(nbformat.from_dict(model["content"])) == [f'# Parameters\nbundle = "{BUNDLE}"\n']
        with pytest.raises(urllib.error.HTTPError) as refused:  # the token is required
            urllib.request.urlopen(f"{server.base_url}/api/contents", timeout=5)
        assert refused.value.code == 403
        refused.value.close()  # an HTTPError holds the response's socket open until closed

        kernel = server.api("/api/kernels", method="POST", body={"name": "python3"})
        ws = websocket.create_connection(
            f"ws://127.0.0.1:{server.port}/api/kernels/{kernel['id']}/channels?token={server.token}", timeout=120
        )
        try:
            nb = nbformat.read(work / "consumer_delay.ipynb", as_version=4)
            session = uuid.uuid4().hex
            for cell in nb.cells:
                if cell.cell_type == "code":
                    _execute(ws, cell.source, session)
            out = _execute(ws, "print(__import__('json').dumps([bundle, [f.code.name for f in findings]]))", session)
            assert json.loads(out) == [BUNDLE, ["CONSUMER_SLOW"]]
            out = _execute(ws, "print(pa.report.runbook_prefix() == '' and (__import__('pathlib').Path('runbooks/consumer_delay.md').exists()))", session)
            assert out.strip() == "True", "kernels link findings to runbooks/ beside the notebooks"
        finally:
            ws.close()
        assert [k["id"] for k in server.api("/api/kernels")] == [kernel["id"]]
    finally:
        status = server.stop()
    assert server.process.poll() is not None
    assert status == 0
    gc.collect()  # a socket leaked by this test is reported here, not in a later test
    print(f"jupyterlab answered in {startup_s:.1f} s")


def test_main_prints_url_and_stops_on_ctrl_c(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    calls: dict[str, Any] = {}

    class FakeProcess:
        def wait(self) -> int:
            raise KeyboardInterrupt

    class FakeServer:
        url = "http://127.0.0.1:1/lab?token=abc"
        log_path = tmp_path / "lab.log"
        process = FakeProcess()

        def stop(self) -> int:
            calls["stopped"] = True
            return 0

    def fake_start(directory: Path, **kwargs: Any) -> FakeServer:
        calls.update(directory=directory, **kwargs)
        return FakeServer()

    monkeypatch.setattr(lab, "start", fake_start)
    parser = argparse.ArgumentParser()
    lab.add_parser(parser.add_subparsers())
    args = parser.parse_args(["lab", BUNDLE, "--dir", str(tmp_path / "w"), "--no-browser", "--port", "8899"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "http://127.0.0.1:1/lab?token=abc" in out
    assert "prepared 7 notebooks" in out
    assert calls == {"directory": tmp_path / "w", "port": 8899, "open_browser": False, "stopped": True}


def test_main_refuses_existing_without_force(tmp_path: Path) -> None:
    lab.prepare(BUNDLE, directory=tmp_path, notebooks=["queues"])
    parser = argparse.ArgumentParser()
    lab.add_parser(parser.add_subparsers())
    args = parser.parse_args(["lab", "--dir", str(tmp_path), "--no-browser"])
    with pytest.raises(lab.TargetExistsError, match=r"queues\.ipynb"):
        args.func(args)
