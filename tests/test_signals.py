"""Issue #11: what the tool starts ends with it, and its temporary files go, on Ctrl-C and SIGTERM alike.

Every process here is real: the command line (or a small script doing what it does) in a
subprocess with a private ``TMPDIR``, JupyterLab with a kernel, papermill with a kernel, the
``serve-bundle`` server; then a signal, and a look at ``/proc``, the port and ``$TMPDIR``.
Tests marked ``notebook`` start JupyterLab or kernels (about 10-40 s each on a busy machine).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest

import panda_analysis as pa
from panda_analysis import _procs

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")

CLI = [sys.executable, "-m", "panda_analysis"]


# --------------------------------------------------------------------------- helpers


def _default_sigint() -> None:
    # a test run started in the background (SIGINT ignored) must still give its children Ctrl-C
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _spawn(args: list[str], *, env: dict[str, str], out: Path, cwd: Path | None = None) -> subprocess.Popen[bytes]:
    with out.open("wb") as sink, out.with_suffix(".err").open("wb") as errors:
        return subprocess.Popen(
            args, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=sink, stderr=errors, preexec_fn=_default_sigint
        )


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    """The environment of a child with its own TMPDIR (so the test sees only that child's temp dirs)."""
    tmp.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TMPDIR": str(tmp), **extra}
    env.pop("PYTHONWARNINGS", None)
    return env


def _wait_for(condition: Callable[[], object], *, timeout: float, what: str, process: subprocess.Popen[bytes] | None = None) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if process is not None and process.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}" + ("" if process is None else f" (process status {process.poll()})"))


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Test cleanup: never leave a child behind even when an assertion failed."""
    if process.poll() is None:
        process.kill()
        process.wait()


def _stat(pid: int) -> list[str] | None:
    """``/proc/<pid>/stat`` fields after the command name, or None when the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return raw.rpartition(")")[2].split()


def _running(proc: _procs.Proc) -> bool:
    """Independent of _procs.alive: same pid, same start time, not a zombie."""
    fields = _stat(proc.pid)
    return fields is not None and int(fields[19]) == proc.start and fields[0] not in "ZX"


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and int(fields[2]) == pgid and fields[0] not in "ZX":
                members.append(int(entry.name))
    return members


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _temp_dirs(tmp: Path) -> list[str]:
    return sorted(p.name for p in tmp.iterdir() if p.name.startswith("panda-"))


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The healthy sample as a ``.tar.gz`` (opening it unpacks into ``$TMPDIR``)."""
    return pa.load_bundle("sample:healthy").save(tmp_path_factory.mktemp("archive") / "healthy.tar.gz")


# --------------------------------------------------------------------------- the signal handlers


def test_terminated_is_a_keyboard_interrupt_with_the_shells_status() -> None:
    err = _procs.Terminated(signal.SIGTERM)
    assert isinstance(err, KeyboardInterrupt)
    assert (_procs.exit_status(err), _procs.describe(err)) == (143, "interrupted by SIGTERM")
    assert _procs.exit_status(_procs.Terminated(signal.SIGHUP)) == 129
    assert (_procs.exit_status(KeyboardInterrupt()), _procs.describe(KeyboardInterrupt())) == (130, "interrupted (Ctrl-C)")


def test_install_replaces_only_the_default_action() -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as nohup leaves it
        assert _procs.install_signal_handlers() == [signal.SIGTERM]
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
        assert _procs.install_signal_handlers() == [signal.SIGTERM]  # idempotent

        def own(signum: int, frame: object) -> None: ...

        signal.signal(signal.SIGTERM, own)
        assert _procs.install_signal_handlers() == []  # someone else's handler stays
        assert signal.getsignal(signal.SIGTERM) is own
        result: list[list[int]] = []
        thread = threading.Thread(target=lambda: result.append(_procs.install_signal_handlers()))
        thread.start()
        thread.join()
        assert result == [[]]  # signal handlers live in the main thread only
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)


# a script doing what cli.main does: handlers, a temp dir, a finally block, exit with the status
_UNWIND = textwrap.dedent("""\
    import sys, time
    from pathlib import Path
    from panda_analysis import _procs
    _procs.install_signal_handlers()
    done = Path(sys.argv[1])
    path = _procs.make_temp_dir("panda-bundle-")
    (path / "big.log").write_bytes(b"x" * 100_000)
    try:
        try:
            print(path, flush=True)
            time.sleep(120)
        finally:
            time.sleep(float(sys.argv[2]))  # a slow cleanup, as stopping a server is
            done.write_text("cleanup ran")
    except KeyboardInterrupt as err:
        sys.exit(_procs.exit_status(err))
""")


@pytest.mark.parametrize(
    ("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGHUP", "SIGINT"]
)
def test_a_signal_unwinds_runs_finally_and_removes_the_temp_dir(tmp_path: Path, signum: int, status: int) -> None:
    tmp = tmp_path / "tmp"
    child = _spawn([sys.executable, "-c", _UNWIND, str(tmp_path / "done"), "0"], env=_env(tmp), out=tmp_path / "out")
    try:
        made = Path(str(_wait_for(lambda: (tmp_path / "out").read_text().strip(), timeout=60, what="the temp dir", process=child)))
        assert made.parent == tmp
        assert made.name.startswith(f"panda-bundle-pid{child.pid}.")
        assert (made / "big.log").exists()
        child.send_signal(signum)
        assert child.wait(timeout=10) == status
    finally:
        _stop(child)
    assert (tmp_path / "done").read_text() == "cleanup ran"
    assert _temp_dirs(tmp) == []
    assert "Traceback" not in (tmp_path / "out.err").read_text()


def test_a_second_sigterm_does_not_cut_the_cleanup_short_and_a_third_kills(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    child = _spawn([sys.executable, "-c", _UNWIND, str(tmp_path / "done"), "1.5"], env=_env(tmp), out=tmp_path / "out")
    try:
        _wait_for(lambda: (tmp_path / "out").read_text().strip(), timeout=60, what="the temp dir", process=child)
        child.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        child.send_signal(signal.SIGTERM)  # e.g. an impatient `kill` while the server stops
        assert child.wait(timeout=10) == 143
    finally:
        _stop(child)
    assert (tmp_path / "done").read_text() == "cleanup ran"
    assert "SIGTERM again, still stopping" in (tmp_path / "out.err").read_text()
    assert _temp_dirs(tmp) == []

    child = _spawn([sys.executable, "-c", _UNWIND, str(tmp_path / "done2"), "30"], env=_env(tmp), out=tmp_path / "out2")
    try:
        _wait_for(lambda: (tmp_path / "out2").read_text().strip(), timeout=60, what="the temp dir", process=child)
        for _ in range(3):
            child.send_signal(signal.SIGTERM)
            time.sleep(0.3)
        assert child.wait(timeout=10) == -signal.SIGTERM  # the third: the default action, at once
    finally:
        _stop(child)
    assert not (tmp_path / "done2").exists()


# --------------------------------------------------------------------------- temporary directories


def test_make_temp_dir_names_its_owner_and_refuses_foreign_prefixes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    path = _procs.make_temp_dir("panda-bundle-w-")
    assert path.parent == tmp_path
    assert path.name.startswith(f"panda-bundle-w-pid{os.getpid()}.ns")
    _procs.remove_temp(path)
    assert not path.exists()
    for prefix in ("bundle-", "panda-bundle", "../panda-x-", "panda-Bundle-", "/tmp/panda-x-"):
        with pytest.raises(ValueError, match="must look like"):
            _procs.make_temp_dir(prefix)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _aged(path: Path, seconds: float = 120) -> Path:
    path.mkdir(exist_ok=True)
    (path / "part.log").write_text("left behind\n")
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def test_sweep_removes_only_old_dirs_of_dead_owners_in_our_namespace(tmp_path: Path) -> None:
    ns = Path("/proc/self/ns/pid").stat().st_ino
    dead = _dead_pid()
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as live:
        try:
            stale = _aged(tmp_path / f"panda-bundle-pid{dead}.ns{ns}-abc_123")
            stale_writer = _aged(tmp_path / f"panda-bundle-w-pid{dead}.ns{ns}-k3j9x2ab")
            kept = [
                _aged(tmp_path / f"panda-bundle-pid{live.pid}.ns{ns}-live0001"),  # a live process's dir
                _aged(tmp_path / f"panda-bundle-pid{os.getpid()}.ns{ns}-mine0001"),  # our own
                _aged(tmp_path / f"panda-bundle-pid{dead}.ns{ns}-young001", seconds=5),  # too recent
                _aged(tmp_path / f"panda-bundle-pid{dead}.ns{ns + 1}-otherns1"),  # another pid namespace
                _aged(tmp_path / "panda-bundle-kube-3k2j1h0g"),  # untagged (not ours to judge)
                _aged(tmp_path / f"other-tool-pid{dead}.ns{ns}-abcdefgh"),  # not our prefix
            ]
            target = _aged(tmp_path / "precious")
            (tmp_path / f"panda-bundle-pid{dead}.ns{ns}-symlink1").symlink_to(target)  # a planted link
            (tmp_path / f"panda-bundle-pid{dead}.ns{ns}-afile001").write_text("a file, not a dir")
            removed = _procs.sweep_stale_temp_dirs(directory=tmp_path)
        finally:
            live.kill()
    assert sorted(removed) == sorted([stale, stale_writer])
    assert not stale.exists()
    assert not stale_writer.exists()
    assert all((p / "part.log").exists() for p in kept)
    assert (target / "part.log").exists()
    assert (tmp_path / f"panda-bundle-pid{dead}.ns{ns}-symlink1").is_symlink()
    assert (tmp_path / f"panda-bundle-pid{dead}.ns{ns}-afile001").is_file()


_HOLD_BUNDLE = textwrap.dedent("""\
    import sys, time
    import panda_analysis as pa
    from panda_analysis import _procs
    _procs.install_signal_handlers()
    bundle = pa.load_bundle(sys.argv[1])
    print(bundle.root, flush=True)
    try:
        time.sleep(120)
    except KeyboardInterrupt as err:
        sys.exit(_procs.exit_status(err))
""")


def test_sigterm_removes_the_unpacked_bundle(tmp_path: Path, archive: Path) -> None:
    tmp = tmp_path / "tmp"
    child = _spawn([sys.executable, "-c", _HOLD_BUNDLE, str(archive)], env=_env(tmp), out=tmp_path / "out")
    try:
        root = Path(str(_wait_for(lambda: (tmp_path / "out").read_text().strip(), timeout=60, what="the bundle", process=child)))
        assert tmp in root.parents
        assert (root / "manifest.json").is_file()
        assert len(_temp_dirs(tmp)) == 1
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=10) == 143
    finally:
        _stop(child)
    assert _temp_dirs(tmp) == []


def test_after_a_sigkill_the_next_run_sweeps_the_unpacked_bundle(tmp_path: Path, archive: Path) -> None:
    tmp = tmp_path / "tmp"
    killed = _spawn([sys.executable, "-c", _HOLD_BUNDLE, str(archive)], env=_env(tmp), out=tmp_path / "killed")
    holding = _spawn([sys.executable, "-c", _HOLD_BUNDLE, str(archive)], env=_env(tmp), out=tmp_path / "holding")
    try:
        for out, child in ((tmp_path / "killed", killed), (tmp_path / "holding", holding)):
            _wait_for(lambda out=out: out.read_text().strip(), timeout=60, what="the bundle", process=child)
        killed.kill()
        assert killed.wait(timeout=10) == -signal.SIGKILL
        left = _temp_dirs(tmp)
        assert len(left) == 2  # nothing runs on SIGKILL
        for name in left:  # a minute later
            _aged(tmp / name)
        # the next run that unpacks a bundle sweeps first: the dead one's dir goes, the live one's stays
        subprocess.run([*CLI, "inventory", str(archive)], env=_env(tmp), check=True, capture_output=True, timeout=120)
        assert _temp_dirs(tmp) == [n for n in left if f"-pid{holding.pid}." in n]
        holding.send_signal(signal.SIGTERM)
        assert holding.wait(timeout=10) == 143
    finally:
        _stop(killed)
        _stop(holding)
    assert _temp_dirs(tmp) == []


# --------------------------------------------------------------------------- serve-bundle


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_bundle_stops_and_cleans_up_on_a_signal(tmp_path: Path, archive: Path, signum: int) -> None:
    tmp = tmp_path / "tmp"
    port = _free_port()
    args = [*CLI, "serve-bundle", str(archive), "--port", str(port), "--kubeconfig", str(tmp_path / "kubeconfig")]
    server = _spawn(args, env=_env(tmp), out=tmp_path / "out")
    try:
        _wait_for(lambda: "Press Ctrl-C" in (tmp_path / "out").read_text(), timeout=60, what="serve-bundle", process=server)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/namespaces/panda/pods", timeout=10) as resp:
            assert json.load(resp)["kind"] == "PodList"
        assert len(_temp_dirs(tmp)) == 1
        server.send_signal(signum)
        assert server.wait(timeout=10) == 0  # a server's orderly stop is its normal end
    finally:
        _stop(server)
    assert not _answers(port)
    assert _temp_dirs(tmp) == []
    assert "Traceback" not in (tmp_path / "out.err").read_text()


# --------------------------------------------------------------------------- panda-analysis lab


def _start_lab(tmp_path: Path) -> tuple[subprocess.Popen[bytes], int, str, Path]:
    port = _free_port()
    env = _env(
        tmp_path / "tmp",
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"),
    )
    out = tmp_path / "lab.out"
    lab = _spawn([*CLI, "lab", "sample:healthy", "--no-browser", "--dir", str(tmp_path / "lab"), "--port", str(port)], env=env, out=out)

    def url() -> str:
        return next((line.split("token=", 1)[1] for line in out.read_text().splitlines() if line.startswith("JupyterLab: ")), "")

    token = str(_wait_for(url, timeout=180, what="JupyterLab's URL", process=lab))
    return lab, port, token, out


def _start_kernel(port: int, token: str, lab: subprocess.Popen[bytes]) -> list[_procs.Proc]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/kernels", data=b'{"name": "python3"}', method="POST",
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as resp:
        assert resp.status == 201

    def tree() -> list[_procs.Proc]:
        below = _procs.descendants(lab.pid)
        return below if any("ipykernel" in _cmdline(p.pid) for p in below) else []

    found = _wait_for(tree, timeout=60, what="the kernel process", process=lab)
    assert isinstance(found, list)
    return found


@pytest.mark.notebook
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_lab_ends_with_its_server_and_kernels_on_a_signal(tmp_path: Path, signum: int) -> None:
    lab, port, token, out = _start_lab(tmp_path)
    try:
        below = _start_kernel(port, token, lab)
        (server,) = [p for p in below if p.ppid == lab.pid]
        assert "jupyter" in _cmdline(server.pid)
        assert server.pgid == server.pid  # its own process group
        kernels = [p for p in below if "ipykernel" in _cmdline(p.pid)]
        assert kernels
        assert all(k.pgid != server.pgid for k in kernels)  # kernels run in sessions of their own
        started = time.monotonic()
        lab.send_signal(signum)
        assert lab.wait(timeout=30) == 0
        stopped_s = time.monotonic() - started
    finally:
        _stop(lab)
    assert [p for p in below if _running(p)] == []
    assert _group_members(server.pgid) == []
    assert not _answers(port)
    assert _temp_dirs(tmp_path / "tmp") == []
    assert "Traceback" not in out.with_suffix(".err").read_text()
    print(f"lab stopped in {stopped_s:.1f} s")


@pytest.mark.notebook
def test_lab_server_does_not_outlive_a_sigkilled_lab(tmp_path: Path) -> None:
    lab, port, token, _ = _start_lab(tmp_path)
    try:
        below = _start_kernel(port, token, lab)
        lab.kill()  # no handler runs: PR_SET_PDEATHSIG sends the server SIGTERM, the kernels watch their parent
        assert lab.wait(timeout=10) == -signal.SIGKILL
        _wait_for(lambda: not any(_running(p) for p in below), timeout=30, what="the server and kernels to end")
    finally:
        _stop(lab)
        _procs.end_processes(below, grace_s=1)
    assert not _answers(port)


# --------------------------------------------------------------------------- panda-analysis report


@pytest.fixture
def slow_notebooks(tiny_notebooks: Path, tmp_path: Path) -> Path:
    """The tiny notebooks, with an overview whose second cell says it runs (a file) and then takes its time."""
    root = tmp_path / "notebooks"
    shutil.copytree(tiny_notebooks, root)
    nb = nbformat.read(root / "overview.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", [])]
    code[0].source = "print('first cell ran')"
    code[1].source = (
        "import os, pathlib, time\n"
        "pathlib.Path(os.environ['PANDA_TEST_RUNNING']).write_text('running')\n"
        "for second in range(120):\n    time.sleep(1)"
    )
    nb.cells.append(nbformat.v4.new_code_cell("print('never reached')", id="cell-last"))
    nbformat.write(nb, root / "overview.ipynb")
    return root


@pytest.mark.notebook
@pytest.mark.parametrize(
    ("signum", "status", "said"),
    [(signal.SIGTERM, 143, "interrupted by SIGTERM"), (signal.SIGINT, 130, "interrupted (Ctrl-C)")],
    ids=["SIGTERM", "SIGINT"],
)
def test_report_interrupted_stops_its_kernel_and_keeps_the_partial_pages(
    tmp_path: Path, slow_notebooks: Path, signum: int, status: int, said: str
) -> None:
    running = tmp_path / "running"
    env = _env(tmp_path / "tmp", PANDA_ANALYSIS_NOTEBOOKS=str(slow_notebooks), PANDA_TEST_RUNNING=str(running))
    out = tmp_path / "report"
    # a relative --out, as people type it: the notebooks run in their own directory meanwhile; one
    # kernel at a time, so the notebook after the interrupted one is never started (kernels side by
    # side: tests/test_report_concurrent.py)
    args = [*CLI, "report", "sample:healthy", "-n", "overview", "-n", "crashloop", "-o", "report", "--jobs", "1"]
    run = _spawn(args, env=env, out=tmp_path / "run.out", cwd=tmp_path)
    try:
        _wait_for(running.exists, timeout=180, what="the slow cell", process=run)
        kernels = [p for p in _procs.descendants(run.pid) if "ipykernel" in _cmdline(p.pid)]
        assert len(kernels) == 1
        started = time.monotonic()
        run.send_signal(signum)
        assert run.wait(timeout=30) == status
        stopped_s = time.monotonic() - started
    finally:
        _stop(run)
    assert [k for k in kernels if _running(k)] == []
    stderr = (tmp_path / "run.err").read_text()
    assert said in stderr
    assert "Traceback" not in stderr
    assert "[1/2] overview INTERRUPTED" in stderr
    nb = nbformat.read(out / "overview.ipynb", as_version=4)  # the audit record: where it stopped
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert [e.ename for e in errors] == ["KeyboardInterrupt"]
    outputs = "".join(json.dumps(c.get("outputs", [])) for c in nb.cells)
    assert "first cell ran" in outputs
    assert "never reached" not in outputs
    page = (out / "overview.html").read_text(encoding="utf-8")
    assert "first cell ran" in page
    assert "partial report" in page
    assert not (out / "crashloop.html").exists()
    assert not (out / "crashloop.ipynb").exists()
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "overview.html" in index
    assert "interrupted" in index
    assert isinstance(json.loads((out / "findings.json").read_text()), list)
    assert sorted((tmp_path / "tmp").iterdir()) == []  # the kernel's connection file too: an orderly shutdown
    print(f"report stopped in {stopped_s:.1f} s")
