"""Explore a bundle in JupyterLab with the runbook notebooks (``panda-analysis lab``).

``panda-analysis lab BUNDLE`` writes the runbook notebooks into a working directory
(default ``./panda-lab/``) with their ``bundle`` parameter set to BUNDLE — by papermill's
prepare-only mode, so the injected ``# Parameters`` cell (tagged ``injected-parameters``)
is exactly the one a scheduled ``panda-analysis report`` run gets — then starts the real
JupyterLab server there on 127.0.0.1 and prints its URL with the token.

* :func:`prepare` writes the notebooks; it never overwrites an existing file unless
  ``force=True`` and refuses before writing anything, naming the files in the way.
* :func:`start` starts ``python -m jupyter lab`` on loopback and returns a
  :class:`LabServer` once ``/api/status`` answers; :meth:`LabServer.stop` shuts it down
  (its kernels too).

The server ends with ``panda-analysis lab``: on Ctrl-C, SIGTERM and SIGHUP (see
:mod:`panda_analysis._procs`) :meth:`LabServer.stop` asks Jupyter to shut down (which shuts
its kernels down), then signals its process group, then ends any process it left (kernels
run in sessions of their own). When ``panda-analysis lab`` itself is SIGKILLed, Linux sends
the server SIGTERM (``prctl(PR_SET_PDEATHSIG)``), and the kernels' own parent watch
(ipykernel's ``JPY_PARENT_PID`` poller) ends them within about a second of the server.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> with tempfile.TemporaryDirectory() as tmp:
...     written = prepare("sample:consumer_slow", directory=Path(tmp), notebooks=["consumer_delay"])
...     [p.name for p in written]
['consumer_delay.ipynb']
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from panda_analysis import _procs, report
from panda_analysis.errors import BundleError, PandaAnalysisError

__all__ = ["LabError", "LabServer", "TargetExistsError", "add_parser", "main", "prepare", "start"]

log = logging.getLogger(__name__)

#: Where ``panda-analysis lab`` prepares the notebooks unless ``--dir`` is given.
DEFAULT_DIR = Path("panda-lab")


class LabError(PandaAnalysisError):
    """JupyterLab could not be started (the message quotes the end of its log)."""


class TargetExistsError(PandaAnalysisError, FileExistsError):
    """A notebook to prepare already exists and ``force`` was not given (nothing was written)."""


def _bundle_argument(bundle: str) -> str:
    """The ``bundle`` value as the notebook needs it when run from another directory."""
    if bundle.startswith("sample:"):
        from panda_analysis import samples

        name = bundle.removeprefix("sample:")
        if name not in samples.names():
            msg = f"{bundle}: no such sample (samples: {', '.join(samples.names())})"
            raise BundleError(msg)
        return bundle
    path = Path(bundle).expanduser()
    if not path.exists():
        msg = f"{bundle}: no such bundle (give a directory, a .tar.gz, or sample:<name>)"
        raise BundleError(msg)
    return str(path.resolve())


def prepare(
    bundle: str | None,
    *,
    directory: str | os.PathLike[str],
    force: bool = False,
    notebooks: Sequence[str] | str | None = None,
) -> list[Path]:
    """Write the runbook notebooks into ``directory`` with their ``bundle`` parameter set.

    Parameters
    ----------
    bundle
        Directory, ``.tar.gz`` or ``sample:<name>``; a path is made absolute so that the
        notebooks find it from ``directory``. ``None`` keeps each notebook's own default
        (the notebooks are copied unchanged).
    directory
        Where to write (created if needed).
    force
        Overwrite notebooks that already exist there.
    notebooks
        Names in :data:`panda_analysis.report.NOTEBOOKS` (default: all of them, overview first).

    Returns
    -------
    list[Path]
        The notebooks written, in report order.

    Raises
    ------
    TargetExistsError
        Some notebooks exist and ``force`` is false; nothing was written.
    BundleError
        The bundle path or sample does not exist.
    panda_analysis.report.ParameterError
        An unknown notebook name.
    """
    names = report._selection("all" if notebooks is None else notebooks)
    unknown = [n for n in names if n not in report.NOTEBOOKS]
    if unknown:
        msg = f"no runbook notebook {', '.join(map(repr, unknown))} (notebooks: {', '.join(report.NOTEBOOKS)})"
        raise report.ParameterError(msg)
    value = None if bundle is None else _bundle_argument(bundle)
    source_dir = report.notebook_dir()
    target_dir = Path(directory)
    targets = [(source_dir / f"{name}.ipynb", target_dir / f"{name}.ipynb") for name in names]
    existing = [str(dst) for _, dst in targets if dst.exists()]
    if existing and not force:
        msg = f"will not overwrite {', '.join(existing)} (give --force / force=True, or another directory)"
        raise TargetExistsError(msg)
    target_dir.mkdir(parents=True, exist_ok=True)
    if value is None:
        for src, dst in targets:
            shutil.copyfile(src, dst)
    else:
        import papermill

        for src, dst in targets:
            log.info("preparing %s with bundle=%s", dst, value)
            papermill.execute_notebook(
                str(src), str(dst), parameters={"bundle": value}, prepare_only=True, kernel_name="python3",
                progress_bar=False,
            )
    _add_runbooks(target_dir, [dst for _, dst in targets], force=force)
    return [dst for _, dst in targets]


def _add_runbooks(directory: Path, notebooks: Sequence[Path], *, force: bool) -> None:
    """Put the Markdown runbooks in ``directory/runbooks/`` (JupyterLab opens them) and point the
    notebooks' ``../runbooks/`` and ``../notebooks/`` links there; existing runbook files are kept
    unless ``force``."""
    import nbformat

    source = report.runbook_dir()
    if not source.is_dir():  # an installed package without the checkout's runbooks/
        return
    target = directory / "runbooks"
    target.mkdir(exist_ok=True)
    for page in sorted(source.glob("*.md")):
        if force or not (target / page.name).exists():  # their notebook links: ../notebooks/x → ../x
            text = page.read_text(encoding="utf-8").replace("](../notebooks/", "](../")
            (target / page.name).write_text(text, encoding="utf-8")
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        changed = False
        for cell in nb.cells:
            if cell.cell_type == "markdown" and ("../runbooks/" in cell.source or "../notebooks/" in cell.source):
                cell.source = cell.source.replace("](../runbooks/", "](runbooks/").replace("](../notebooks/", "](")
                changed = True
        if changed:
            nbformat.write(nb, path)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LabServer:
    """A running JupyterLab server on 127.0.0.1 (see :func:`start`)."""

    process: subprocess.Popen[bytes]
    port: int
    token: str
    directory: Path
    log_path: Path
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (no token)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The URL to open in a browser, with the token."""
        return f"{self.base_url}/lab?token={self.token}"

    def api(self, path: str, *, method: str = "GET", body: Any = None, timeout: float = 10) -> Any:
        """Call the server's REST API (``/api/...``) with the token; returns the decoded JSON or ``None``."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.base_url}{path}", data=data, method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            payload = resp.read()
        return json.loads(payload) if payload else None

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the server's log."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 10) -> int:
        """Shut the server and its kernels down; returns the server's exit status.

        ``POST /api/shutdown`` (Jupyter shuts its kernels down and exits) and up to ``timeout``
        seconds for that; then SIGTERM to the server's process group, 5 s more, then SIGKILL.
        Whatever the server started and left running (kernels live in sessions of their own) is
        ended last. A second Ctrl-C while this runs skips straight to SIGKILL.
        """
        running = self.process.poll() is None
        started = _procs.descendants(self.process.pid) if running else []
        try:
            if running:
                with contextlib.suppress(OSError, urllib.error.URLError, ValueError):
                    self.api("/api/shutdown", method="POST", timeout=5)
                try:
                    self.process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    log.warning("jupyter lab did not shut down in %g s: SIGTERM", timeout)
                    self._signal_group(signal.SIGTERM)
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        self.process.wait(timeout=5)
        finally:
            if self.process.poll() is None:
                self._signal_group(signal.SIGKILL)
                self.process.wait()
            if running:  # the group outlives its leader while a member runs (a pgid in use is not reused)
                self._signal_group(signal.SIGKILL)
            _procs.end_processes(started, grace_s=3)
            if self._log is not None:
                self._log.close()
                self._log = None
        return int(self.process.returncode)

    def _signal_group(self, signum: int) -> None:
        """Signal the server's process group (its own session, see :func:`start`)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signum)

    def __enter__(self) -> LabServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start(
    directory: str | os.PathLike[str],
    *,
    port: int = 0,
    open_browser: bool = False,
    token: str | None = None,
    timeout_s: float = 60,
    log_path: str | os.PathLike[str] | None = None,
) -> LabServer:
    """Start the JupyterLab server in ``directory`` on 127.0.0.1 and wait until it answers.

    Parameters
    ----------
    directory
        The server's root directory (the notebooks it lists).
    port
        TCP port on 127.0.0.1; ``0`` picks a free one.
    open_browser
        Let JupyterLab open a browser tab.
    token
        The access token (default: a new random one).
    timeout_s
        How long to wait for ``GET /api/status`` to answer.
    log_path
        Where the server's output goes (default: a new temporary file).

    Returns
    -------
    LabServer
        The running server; call :meth:`LabServer.stop` (or use it as a context manager).

    Raises
    ------
    LabError
        The server exited or did not answer in time (it is stopped; the message quotes its log).
    """
    root = Path(directory).resolve()
    if not root.is_dir():
        msg = f"{root}: not a directory"
        raise LabError(msg)
    port = port or _free_port()
    token = token or secrets.token_hex(24)
    log_file = Path(log_path) if log_path is not None else _procs.make_temp_dir("panda-lab-") / "jupyterlab.log"
    command = [
        sys.executable, "-m", "jupyter", "lab",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}",
        f"--ServerApp.open_browser={open_browser}",
    ]
    if not open_browser:
        command.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers: Jupyter refuses root unless told
        command.append("--allow-root")
    sink = log_file.open("wb")
    log.info("starting %s (log %s)", " ".join(command), log_file)
    # the token goes through the environment (not visible in `ps`); a new session keeps the terminal's
    # Ctrl-C away from the server, which would otherwise ask for confirmation: stop() shuts it down
    # (and it makes the server's process group one that stop() can signal without hitting us)
    # kernels inherit this: findings link runbooks/x.md beside the notebooks (see prepare)
    env = {**os.environ, "JUPYTER_TOKEN": token, report.RUNBOOK_PREFIX_ENV: ""}
    # PR_SET_PDEATHSIG fires when the starting *thread* ends: only from the main thread, which lives as long as we do
    in_main = threading.current_thread() is threading.main_thread()
    process = subprocess.Popen(
        command, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
        start_new_session=True, preexec_fn=_procs.parent_death_signal() if in_main else None,
    )
    server = LabServer(process=process, port=port, token=token, directory=root, log_path=log_file, _log=sink)
    try:
        _wait_until_serving(server, timeout_s=timeout_s)
    except BaseException:  # LabError, and Ctrl-C / SIGTERM while it starts: no server is left behind
        server.stop(timeout=5)
        raise
    return server


def _wait_until_serving(server: LabServer, *, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if server.process.poll() is not None:
            msg = f"jupyter lab exited with status {server.process.returncode} (log {server.log_path}):\n{server.log_tail()}"
            raise LabError(msg)
        with contextlib.suppress(OSError, urllib.error.URLError, ValueError):
            server.api("/api/status", timeout=2)
            return
        if time.monotonic() > deadline:
            msg = (
                f"jupyter lab did not answer on port {server.port} within {timeout_s:g} s "
                f"(log {server.log_path}):\n{server.log_tail()}"
            )
            raise LabError(msg)
        time.sleep(0.25)


def add_parser(subparsers: Any) -> None:
    """Add ``lab [BUNDLE] [--dir DIR] [--port N] [--no-browser] [--force]`` to the CLI's subparsers."""
    cmd = subparsers.add_parser(
        "lab",
        help="open the runbook notebooks for a bundle in JupyterLab",
        description="Write the runbook notebooks into DIR with their bundle parameter set to BUNDLE "
        "(as papermill injects it for a report), start JupyterLab there on 127.0.0.1 and print its URL "
        "with the token. Existing notebooks in DIR are not overwritten unless --force. Stop with Ctrl-C "
        "(or SIGTERM / SIGHUP): the server and its kernels end with it.",
    )
    cmd.add_argument(
        "bundle", metavar="BUNDLE", nargs="?", default=None,
        help="bundle directory, .tar.gz, or sample:<name> (default: each notebook's own sample)",
    )
    cmd.add_argument("--dir", metavar="DIR", type=Path, default=DEFAULT_DIR, help=f"working directory (default ./{DEFAULT_DIR}/)")
    cmd.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (default: a free port)")
    cmd.add_argument("--no-browser", action="store_true", help="do not open a browser tab")
    cmd.add_argument("--force", action="store_true", help="overwrite notebooks already in DIR")
    cmd.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Run ``lab``: prepare, start, print the URL, wait for Ctrl-C (or the server to exit), stop.

    Ctrl-C, and SIGTERM / SIGHUP once ``cli.main`` has called
    :func:`panda_analysis._procs.install_signal_handlers`, stop the server (and its kernels) and
    return 0: that is how a lab session ends. A server that exits by itself returns 2.
    """
    written = prepare(args.bundle, directory=args.dir, force=args.force)
    shown = args.bundle if args.bundle is not None else "each notebook's default sample"
    print(f"prepared {len(written)} notebooks in {Path(args.dir).resolve()} (bundle: {shown})", file=sys.stdout)
    server = start(args.dir, port=args.port, open_browser=not args.no_browser)
    status = 0
    try:
        print(f"JupyterLab: {server.url}", file=sys.stdout)
        print(f"  open {written[0].name} first; server log {server.log_path}\nPress Ctrl-C to stop.", file=sys.stdout, flush=True)
        code = server.process.wait()
        print(f"jupyter lab exited with status {code}:\n{server.log_tail()}", file=sys.stderr)
        status = 2
    except KeyboardInterrupt as err:  # Ctrl-C, or SIGTERM / SIGHUP (_procs.Terminated)
        log.info("stopping jupyter lab: %s", _procs.describe(err))
    finally:
        server.stop()
    return status
