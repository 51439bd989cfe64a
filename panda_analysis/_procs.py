"""Processes and temporary files that end with the tool, on Ctrl-C and on SIGTERM alike.

Three jobs, each small:

* **Signals.** :func:`install_signal_handlers` turns SIGTERM and SIGHUP (as ``timeout``,
  systemd, a container runtime or a closed terminal send them) into the unwind Ctrl-C already
  gives: :class:`Terminated`, a :class:`KeyboardInterrupt`, is raised in the main thread, so
  ``finally`` blocks, context managers, ``except KeyboardInterrupt`` stops and ``atexit`` all
  run. Without it Python's default action for SIGTERM kills the process on the spot and none
  of them do. :func:`exit_status` gives the shell's status for such a stop (130, 143, 129).
* **Temporary directories.** :func:`make_temp_dir` is ``tempfile.mkdtemp`` with the owner's
  pid in the name (``panda-bundle-pid4242.ns4026531836-k3j9x2ab``) and removal at exit
  (``atexit``, which the unwind above reaches); :func:`sweep_stale_temp_dirs` removes the
  ones left by runs that were SIGKILLed (OOM killer, ``kill -9``), which no handler can see.
* **Child processes.** :func:`descendants` and :func:`end_processes` find and end what a
  child started in sessions of its own (Jupyter's kernels), and :func:`parent_death_signal`
  makes a child get SIGTERM when its parent dies without cleaning up (Linux).

The library never installs signal handlers by itself (a notebook kernel or a host
application owns its signals): only the command line does, in ``cli.main``.

Examples
--------
>>> path = make_temp_dir("panda-doc-")
>>> path.is_dir() and path.name.startswith(f"panda-doc-pid{os.getpid()}.")
True
>>> remove_temp(path)
>>> path.exists()
False
>>> exit_status(Terminated(signal.SIGTERM)), exit_status(KeyboardInterrupt())
(143, 130)
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import re
import shutil
import signal
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

__all__ = [
    "Proc",
    "Terminated",
    "alive",
    "descendants",
    "describe",
    "end_processes",
    "exit_status",
    "install_signal_handlers",
    "make_temp_dir",
    "parent_death_signal",
    "register_temp",
    "remove_temp",
    "sweep_stale_temp_dirs",
]

log = logging.getLogger(__name__)

# ------------------------------------------------------------------ signals


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived; raised in the main thread so the process unwinds as for Ctrl-C.

    A subclass of :class:`KeyboardInterrupt`, so every ``except KeyboardInterrupt`` that
    stops a server or a run cleanly handles these signals too.

    Attributes
    ----------
    signum
        The signal number.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = int(signum)

    def __str__(self) -> str:
        return f"interrupted by {_signal_name(self.signum)}"


#: The signals :func:`install_signal_handlers` turns into :class:`Terminated` (those the platform has).
HANDLED = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))

_received: list[int] = []  # signals seen since the handlers were installed (the first one is raised)


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _on_signal(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    if len(_received) == 1:
        raise Terminated(signum)
    if len(_received) == 2:  # the first one's cleanup is running: let it finish (systemd, docker send SIGKILL later)
        with contextlib.suppress(OSError, ValueError):
            print(f"panda-analysis: {_signal_name(signum)} again, still stopping (send it once more to kill now)",
                  file=sys.stderr, flush=True)
        return
    signal.signal(signum, signal.SIG_DFL)  # the third: the default action, at once
    os.kill(os.getpid(), signum)


def install_signal_handlers() -> list[int]:
    """Make SIGTERM and SIGHUP raise :class:`Terminated` in the main thread (for ``cli.main``).

    Signals that are ignored (``nohup`` ignores SIGHUP; a background job in a script may have
    SIGINT ignored) stay ignored, and a handler someone else installed stays in place: only
    the default action (death without cleanup) is replaced. While the first signal's cleanup
    runs a second one is reported and ignored; a third one kills at once. Ctrl-C (SIGINT) keeps
    Python's own handler, which raises :class:`KeyboardInterrupt`. Idempotent; does nothing
    outside the main thread.

    Returns
    -------
    list[int]
        The signals now handled by this module.
    """
    if threading.current_thread() is not threading.main_thread():
        log.debug("not in the main thread: signal handlers left alone")
        return []
    handled = []
    for signum in HANDLED:
        current = signal.getsignal(signum)
        if current is _on_signal:
            handled.append(signum)
        elif current in (signal.SIG_DFL, None):
            signal.signal(signum, _on_signal)
            handled.append(signum)
        else:
            log.debug("%s keeps its handler %r", _signal_name(signum), current)
    return handled


def exit_status(err: BaseException) -> int:
    """The status a process stopped by ``err`` exits with: 128 + the signal (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP)."""
    if isinstance(err, Terminated):
        return 128 + err.signum
    return 128 + int(signal.SIGINT)


def describe(err: BaseException) -> str:
    """``"interrupted by SIGTERM"``, or ``"interrupted (Ctrl-C)"`` for a plain :class:`KeyboardInterrupt`."""
    if isinstance(err, Terminated):
        return str(err)
    return "interrupted (Ctrl-C)"


# ------------------------------------------------------------------ temporary directories

#: The owner tag's shape: ``<prefix>pid<pid>.ns<pid namespace>-<mkdtemp's random part>``.
_TAGGED = re.compile(
    r"^(?P<prefix>panda-[a-z0-9]+(?:-[a-z0-9]+)*-)pid(?P<pid>[1-9][0-9]*)\.ns(?P<ns>[0-9]+)-[a-z0-9_]+$"
)
_PREFIX = re.compile(r"^panda-[a-z0-9]+(?:-[a-z0-9]+)*-$")

_temps: dict[str, int] = {}  # path -> pid of the process that made it (a fork must not remove its parent's)
_lock = threading.Lock()
_swept: list[int] = []  # pids that have swept already (once per process, forks included)


def _pid_namespace() -> str:
    """The pid namespace's inode: a pid means something only inside its namespace (containers sharing /tmp)."""
    try:
        return str(Path("/proc/self/ns/pid").stat().st_ino)
    except OSError:
        return "0"


def make_temp_dir(prefix: str) -> Path:
    """``tempfile.mkdtemp(prefix=...)`` tagged with this process's pid and removed when it exits.

    The name is ``<prefix>pid<pid>.ns<pid-namespace>-<random>`` in ``tempfile.gettempdir()``
    (``$TMPDIR``). The directory is removed at exit (``atexit``: normal exit, ``sys.exit``, an
    uncaught exception, and SIGTERM/SIGHUP once :func:`install_signal_handlers` is in place);
    after a SIGKILL, the next process that calls this (or :func:`sweep_stale_temp_dirs`)
    removes it. The first call in a process sweeps.

    Parameters
    ----------
    prefix
        ``panda-<words>-``, e.g. ``"panda-bundle-"`` (lower-case letters, digits, dashes).

    Returns
    -------
    Path
        The new, empty directory (mode 0700, as ``mkdtemp`` makes it).
    """
    if not _PREFIX.match(prefix):
        msg = f"temporary directory prefix {prefix!r} must look like 'panda-<name>-' (lower case, digits, dashes)"
        raise ValueError(msg)
    if os.getpid() not in _swept:
        _swept.append(os.getpid())
        sweep_stale_temp_dirs()
    path = Path(tempfile.mkdtemp(prefix=f"{prefix}pid{os.getpid()}.ns{_pid_namespace()}-"))
    return register_temp(path)


def register_temp(path: str | os.PathLike[str]) -> Path:
    """Have ``path`` (a directory this process made) removed when the process exits; returns it."""
    target = Path(path)
    with _lock:
        _temps[os.fspath(target)] = os.getpid()
    return target


def remove_temp(path: str | os.PathLike[str]) -> None:
    """Remove a temporary directory now and forget it (for ``weakref.finalize``, ``finally``).

    A registered directory is removed only by the process that registered it, so a forked
    child that drops its copy of a Bundle leaves the parent's files alone.
    """
    key = os.fspath(path)
    with _lock:
        owner = _temps.get(key)
        if owner is not None and owner != os.getpid():
            return
        _temps.pop(key, None)
    _rmtree(Path(key))


def _rmtree(path: Path) -> bool:
    """Remove ``path`` if it exists, logging (not raising) what could not be removed."""
    if not path.exists():
        return False
    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=_not_removed)
    else:
        shutil.rmtree(path, onerror=lambda function, name, info: _not_removed(function, name, info[1]))
    return True


def _not_removed(function: object, name: str, exc: BaseException) -> None:
    log.warning("could not remove %s: %s", name, exc)


@atexit.register
def _remove_registered() -> None:
    with _lock:
        mine = [path for path, pid in _temps.items() if pid == os.getpid()]
        for path in mine:
            del _temps[path]
    for path in mine:
        _rmtree(Path(path))


def _alive_pid(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, another user's
        return True
    return True


def sweep_stale_temp_dirs(*, directory: str | os.PathLike[str] | None = None, min_age_s: float = 60) -> list[Path]:
    """Remove temporary directories left by panda-analysis processes that died without cleaning up.

    Only directories in ``directory`` (default ``tempfile.gettempdir()``) whose name carries
    the owner tag of :func:`make_temp_dir` are considered, and one is removed only when all
    hold: it is a real directory (not a link) owned by this user, its pid namespace is ours,
    its pid is not a running process, and it was last modified more than ``min_age_s`` ago.
    A live process's directory is never touched (a reused pid keeps a dead one's directory,
    the safe side). Untagged names (other tools, older versions) are left alone.

    Returns
    -------
    list[Path]
        The directories removed.
    """
    base = Path(directory) if directory is not None else Path(tempfile.gettempdir())
    namespace = _pid_namespace()
    uid = os.getuid() if hasattr(os, "getuid") else None
    now = time.time()
    removed: list[Path] = []
    try:
        entries = list(os.scandir(base))
    except OSError as err:
        log.debug("cannot list %s: %s", base, err)
        return removed
    for entry in entries:
        match = _TAGGED.match(entry.name)
        if match is None or match["ns"] != namespace:
            continue
        pid = int(match["pid"])
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or (uid is not None and info.st_uid != uid):
            continue
        if pid == os.getpid() or _alive_pid(pid) or now - info.st_mtime < min_age_s:
            continue
        log.info("removing %s, left by process %d which is gone", entry.path, pid)
        if _rmtree(Path(entry.path)):
            removed.append(Path(entry.path))
    return removed


# ------------------------------------------------------------------ child processes


@dataclass(frozen=True, slots=True)
class Proc:
    """A process as ``/proc`` shows it; ``start`` (clock ticks after boot) tells a reused pid apart."""

    pid: int
    ppid: int
    pgid: int
    start: int
    command: str = ""


def _read_proc(pid: int) -> tuple[Proc, str] | None:
    """``/proc/<pid>/stat`` as a Proc plus the state letter, or None when it is gone (or not Linux)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    # "pid (comm) state ppid pgrp session ..." where comm may hold spaces and parentheses: split after the last ')'
    head, _, rest = raw.rpartition(")")
    fields = rest.split()
    if len(fields) < 20:
        return None
    command = head.partition("(")[2]
    proc = Proc(pid=pid, ppid=int(fields[1]), pgid=int(fields[2]), start=int(fields[19]), command=command)
    return proc, fields[0]


def descendants(pid: int) -> list[Proc]:
    """Every live process below ``pid`` (children, theirs, ...), in any session; ``[]`` without ``/proc``."""
    table: dict[int, list[Proc]] = {}
    try:
        names = [entry.name for entry in Path("/proc").iterdir()]
    except OSError:
        return []
    for name in names:
        if not name.isdigit():
            continue
        read = _read_proc(int(name))
        if read is not None and read[1] not in "ZX":
            table.setdefault(read[0].ppid, []).append(read[0])
    found: list[Proc] = []
    todo = [pid]
    while todo:
        for child in table.get(todo.pop(), []):
            found.append(child)
            todo.append(child.pid)
    return found


def alive(proc: Proc) -> bool:
    """``proc`` still runs: the same pid with the same start time, and not a zombie."""
    read = _read_proc(proc.pid)
    return read is not None and read[0].start == proc.start and read[1] not in "ZX"


def end_processes(procs: Iterable[Proc], *, grace_s: float = 3) -> list[Proc]:
    """SIGTERM the ones of ``procs`` still alive, SIGKILL what is left after ``grace_s``.

    Returns
    -------
    list[Proc]
        The processes that were still alive and got a signal.
    """
    signalled = [p for p in procs if alive(p)]
    for proc in signalled:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    left = signalled
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in left if alive(p)]
    for proc in left:
        log.warning("process %d (%s) did not end on SIGTERM: killing it", proc.pid, proc.command)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(proc.pid, signal.SIGKILL)
    return signalled


def parent_death_signal(signum: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` for :class:`subprocess.Popen` that has the child sent ``signum`` when we die (Linux).

    Linux's ``prctl(PR_SET_PDEATHSIG)``: when the parent ends without cleaning up (SIGKILL,
    the OOM killer) the kernel signals the child, so a server does not outlive the command
    that started it. It fires when the *thread* that started the child ends, so start the
    child from the main thread (or a thread that lives as long as the child should). If the
    parent is already gone by the time the child runs, the child signals itself. ``None``
    where ``prctl`` is not available (macOS, Windows): there the child lives on after a
    SIGKILL of the parent.
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:  # runs in the child between fork and exec: no locks, no logging
        pr_set_pdeathsig = 1
        prctl(pr_set_pdeathsig, int(signum), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), int(signum))

    return preexec
