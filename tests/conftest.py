"""Shared fixtures: a small bundle builder and the embedded samples."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

import panda_analysis as pa

BundleFactory = Callable[..., Path]


@pytest.fixture
def make_bundle(tmp_path: Path) -> BundleFactory:
    """Build a bundle directory from ``{relative_path: str | bytes | dict | list}``.

    dict/list values are written as JSON; ``manifest=None`` omits manifest.json.
    """
    counter = {"n": 0}

    def build(files: dict[str, object], *, manifest: dict | str | None = "default") -> Path:
        counter["n"] += 1
        root = tmp_path / f"bundle{counter['n']}"
        root.mkdir()
        if manifest == "default":
            manifest = {"format": "panda-bundle/1", "created_at": "2025-11-08T13:25:00Z", "source": "test"}
        if manifest is not None:
            (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
        for rel, content in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            elif isinstance(content, str):
                path.write_text(content, encoding="utf-8")
            else:
                path.write_text(json.dumps(content), encoding="utf-8")
        return root

    return build


@pytest.fixture(
    scope="session", params=["waiting_for_fiber", "consumer_slow", "alert_lost", "healthy", "queue_backlog"]
)
def sample_bundle(request: pytest.FixtureRequest) -> pa.Bundle:
    """Each embedded sample, opened once per session."""
    return pa.load_bundle(f"sample:{request.param}")


# ---------------------------------------------------------------- a real headless browser (report HTML)

CHROMIUM = "/usr/bin/chromium"  # Debian's package; tests never download a browser
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
    "--disable-component-update", "--disable-sync", "--disable-extensions", "--mute-audio",
)
# Everything a file:// report might try to reach; Network.setBlockedURLs refuses them
BLOCKED_URLS = ["http://*", "https://*", "ws://*", "wss://*", "ftp://*"]
# What a page looks like after it loaded (run in the page, returns JSON)
PAGE_PROBE = """JSON.stringify({
  title: document.title,
  plotly: typeof window.Plotly,
  figures: document.querySelectorAll('div.plotly-graph-div').length,
  plots: Array.from(document.querySelectorAll('.js-plotly-plot')).map(el => ({
    id: el.id,
    data: (el.data || []).length,
    svg: el.querySelectorAll('svg.main-svg').length,
    traces: el.querySelectorAll('svg.main-svg .trace').length,
  })),
  tables: Array.from(document.querySelectorAll('table')).map(t => t.innerText.slice(0, 4000)),
  code_inputs: document.querySelectorAll('.jp-CodeCell .jp-InputArea, .jp-CodeMirrorEditor, div.input_area').length,
})"""


@dataclass
class PageReport:
    """What a browser saw on one page: errors, outside requests, plots, tables."""

    url: str
    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    outside_requests: list[str] = field(default_factory=list)
    title: str = ""
    figures: int = 0  # plotly <div>s in the page
    plots: list[dict] = field(default_factory=list)  # rendered .js-plotly-plot elements
    tables: list[str] = field(default_factory=list)
    code_inputs: int = 0

    def problems(self, *, figures: int, codes: Sequence[str] = ()) -> list[str]:
        """Everything wrong with the page, as sentences (empty when the report is fine)."""
        out = [f"uncaught page error: {e}" for e in self.page_errors]
        out += [f"console error: {e}" for e in self.console_errors]
        out += [f"request outside the file: {u}" for u in self.outside_requests]
        rendered = [p for p in self.plots if p["data"] > 0 and p["svg"] > 0 and p["traces"] > 0]
        if len(rendered) != figures:
            out.append(f"missing plots: {len(rendered)} of {figures} figures rendered with data ({self.plots})")
        out += [f"plot {p['id']} has no data or no drawn trace: {p}" for p in self.plots if p not in rendered]
        for code in codes:
            if not any(code in t for t in self.tables):
                out.append(f"no table lists finding code {code}")
        return out


class Chromium:
    """Headless Chromium driven over the DevTools protocol on a pipe (no port, no extra package)."""

    def __init__(self, executable: str, profile: Path) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # chromium's --remote-debugging-pipe reads commands on fd 3 and writes replies on fd 4
        fds = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_browser_r, from_browser_w)]
        os.close(to_browser_r)
        os.close(from_browser_w)

        def child_fds() -> None:
            os.dup2(fds[0], 3)
            os.dup2(fds[1], 4)

        self.proc = subprocess.Popen(
            [executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=False, preexec_fn=child_fds,  # our fds are non-inheritable (PEP 446) except 3 and 4
        )
        for fd in fds:
            os.close(fd)
        self._next_id = 0
        self._replies: dict[int, dict] = {}
        self._events: list[dict] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buffer = b""
        while chunk := os.read(self._from_browser, 1 << 16):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            with self._cond:
                for raw in messages:
                    message = json.loads(raw)
                    if "id" in message:
                        self._replies[message["id"]] = message
                    else:
                        self._events.append(message)
                self._cond.notify_all()

    def send(self, method: str, params: dict | None = None, *, session: str | None = None, timeout: float = 30) -> dict:
        with self._cond:
            self._next_id += 1
            ident = self._next_id
        message: dict = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        with self._cond:
            if not self._cond.wait_for(lambda: ident in self._replies, timeout=timeout):
                raise TimeoutError(f"chromium did not answer {method} within {timeout} s")
            reply = self._replies.pop(ident)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def _wait_event(self, method: str, session: str, timeout: float) -> None:
        with self._cond:
            found = self._cond.wait_for(
                lambda: any(e["method"] == method and e.get("sessionId") == session for e in self._events), timeout=timeout
            )
        if not found:
            raise TimeoutError(f"no {method} within {timeout} s")

    def open(self, path: Path, *, settle_s: float = 10.0) -> PageReport:
        """Load ``path`` from file:// with every network request blocked; report what happened."""
        url = path.resolve().as_uri()
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        try:
            for domain in ("Runtime", "Log", "Page", "Network"):
                self.send(f"{domain}.enable", session=session)
            self.send("Network.setBlockedURLs", {"urls": BLOCKED_URLS}, session=session)
            self.send("Page.navigate", {"url": url}, session=session)
            self._wait_event("Page.loadEventFired", session, timeout=60)
            deadline = time.monotonic() + settle_s
            while True:  # plotly draws asynchronously after load: wait until every figure has drawn or time is up
                probe = json.loads(
                    self.send("Runtime.evaluate", {"expression": PAGE_PROBE, "returnByValue": True}, session=session)[
                        "result"
                    ]["value"]
                )
                drawn = sum(p["svg"] > 0 and p["traces"] > 0 for p in probe["plots"])
                if drawn >= probe["figures"] or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            time.sleep(0.2)  # late console errors
        finally:
            self.send("Target.closeTarget", {"targetId": target})
        report = PageReport(
            url=url, title=probe["title"], figures=probe["figures"], plots=probe["plots"], tables=probe["tables"],
            code_inputs=probe["code_inputs"],
        )
        with self._cond:
            events = [e for e in self._events if e.get("sessionId") == session]
        for event in events:
            params = event.get("params", {})
            if event["method"] == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                report.page_errors.append(details.get("exception", {}).get("description") or details.get("text", ""))
            elif event["method"] == "Runtime.consoleAPICalled" and params.get("type") in {"error", "assert"}:
                report.console_errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params["args"]))
            elif event["method"] == "Log.entryAdded" and params["entry"]["level"] == "error":
                report.console_errors.append(f"{params['entry']['text']} {params['entry'].get('url', '')}".strip())
            elif event["method"] == "Network.requestWillBeSent":
                requested = params["request"]["url"]
                if not requested.startswith(("file:", "data:", "blob:", "about:")):
                    report.outside_requests.append(requested)
        return report

    def close(self) -> None:
        with contextlib.suppress(OSError, TimeoutError, RuntimeError):
            self.send("Browser.close", timeout=5)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        self._reader.join(timeout=5)
        os.close(self._from_browser)


def _chromium_executable() -> str:
    if Path(CHROMIUM).exists():
        return CHROMIUM
    if os.geteuid() == 0 and shutil.which("apt-get"):
        # the test set-up installs Debian's chromium (as .ci/run does up front)
        for command in (["apt-get", "install", "-y", "-qq", "chromium"], ["apt-get", "update", "-qq"],
                        ["apt-get", "install", "-y", "-qq", "chromium"]):
            done = subprocess.run(command, capture_output=True, check=False, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
            if done.returncode == 0 and Path(CHROMIUM).exists():
                return CHROMIUM
    pytest.skip(f"{CHROMIUM} is missing and cannot be installed here (needs root and apt-get): apt-get install chromium")


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    """One headless Debian chromium for the session (fresh profile); ``browser.open(path)`` checks a page."""
    chromium = Chromium(_chromium_executable(), tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield chromium
    finally:
        chromium.close()


# ---------------------------------------------------------------- tiny notebooks for report tests

TINY_PARAMETERS = '''\
bundle: str = "sample:waiting_for_fiber"  # bundle directory, .tar.gz or sample:<name>
since: str = ""  # ISO-8601 UTC or a duration like 2h; empty means from the start
until: str = ""  # same forms; empty means to the end
'''
# name -> (extra parameter lines, code cells after the parameters cell)
TINY_NOTEBOOKS: dict[str, tuple[str, list[str]]] = {
    "crashloop": (
        'min_restarts: int = 1  # restarts before a container counts as crash looping\npod: str = ""  # only this pod (substring)\n',
        [
            "import panda_analysis as pa\nframes = pa.report.load(bundle, since=since, until=until)\n"
            "pa.report.check(pa.diagnose.crashloop, min_restarts=min_restarts)",
            "findings = pa.findings.select(pa.diagnose.crashloop(frames, min_restarts=min_restarts), about=pod)\n"
            "pa.report.findings_table(findings)",
            "import plotly.graph_objects as go\ngo.Figure(go.Scatter(x=[1, 2, 3], y=[3, 1, 2], name='restarts'), layout={'title': 'first'})",
            "go.Figure(go.Bar(x=['a', 'b'], y=[2, 5], name='requests'), layout={'title': 'second'})",
        ],
    ),
    "overview": (
        "",
        [
            "import panda_analysis as pa\nframes = pa.report.load(bundle, since=since, until=until)",
            "pa.report.findings_table(pa.diagnose.run(frames))",
        ],
    ),
    "retry_storm": (
        'min_attempts: int = 10  # failing attempts before a storm\nclient: str = ""  # only this client (substring)\n',
        ["import panda_analysis as pa\nframes = pa.report.load(bundle, since=since, until=until)"],
    ),
    "failing": (
        "",
        [
            "print('cell before the failure ran')",
            "raise RuntimeError('deliberate failure for the test')",
            "print('cell after the failure ran')",
        ],
    ),
    "strict": (
        "limit: int = 5  # handed to a rule inside the notebook only\n",
        ["import panda_analysis as pa\npa.report.check(pa.diagnose.crashloop, min_restarts=limit)"],
    ),
    "slow": ("", ["import time\ntime.sleep(60)"]),
}


def write_tiny_notebook(path: Path, extra_parameters: str, cells: Sequence[str]) -> Path:
    """A runbook-shaped notebook: title, tagged parameters cell, then ``cells``."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    parameters = nbformat.v4.new_code_cell(TINY_PARAMETERS + extra_parameters)
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = [
        nbformat.v4.new_markdown_cell(f"# Tiny {path.stem}\n\nA test notebook; see [the runbook](../runbooks/crashloop.md) and [the overview](overview.ipynb)."),
        parameters,
        *(nbformat.v4.new_code_cell(source) for source in cells),
    ]
    for number, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{number}"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="session")
def tiny_notebooks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory of small notebooks (see TINY_NOTEBOOKS) standing in for ``notebooks/``."""
    root = tmp_path_factory.mktemp("tiny-notebooks")
    for name, (extra, cells) in TINY_NOTEBOOKS.items():
        write_tiny_notebook(root / f"{name}.ipynb", extra, cells)
    return root


@pytest.fixture(scope="session")
def tiny_report(tiny_notebooks: Path, tmp_path_factory: pytest.TempPathFactory) -> pa.report.ReportOutput:
    """The tiny crashloop notebook executed once by ``pa.report.run`` (a real kernel) on waiting_for_fiber."""
    out = tmp_path_factory.mktemp("tiny-report")
    with pytest.MonkeyPatch.context() as mp:
        # a caller's own renderer choice must not reach the report kernel (run() pins plotly_mimetype)
        mp.setenv("PLOTLY_RENDERER", "json")
        return pa.report.run(
            tiny_notebooks / "crashloop.ipynb", bundle="sample:waiting_for_fiber", out_dir=out,
            parameters={"min_restarts": 1, "pod": "focus"},
        )


# --------------------------------------------------------------------------- links between HTML pages


class _Anchors(HTMLParser):
    """The ``id`` attributes and ``<a href>`` targets of one HTML page."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.hrefs: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if "id" in values:
            self.ids.add(values["id"])
        if tag == "a" and "href" in values:
            self.hrefs.append(values["href"])


def _anchor_ids(page: Path) -> set[str]:
    return _Anchors(page.read_text(encoding="utf-8")).ids


def _broken_links(page: Path) -> list[str]:
    """Every relative link of ``page`` whose file is missing or whose fragment is no id there,
    as ``page: href: problem``."""
    problems = []
    for href in _Anchors(page.read_text(encoding="utf-8")).hrefs:
        parts = urlsplit(href)
        if parts.scheme or parts.netloc:
            continue
        target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
        if not target.is_file():
            problems.append(f"{page.name}: {href}: no file {target}")
        elif parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in _anchor_ids(target):
            problems.append(f"{page.name}: {href}: no id {parts.fragment!r} in {target.name}")
    return problems


@pytest.fixture(scope="session")
def broken_links() -> Callable[[Path], list[str]]:
    """``broken_links(page)``: the relative links of an HTML page that lead nowhere (file or anchor)."""
    return _broken_links
