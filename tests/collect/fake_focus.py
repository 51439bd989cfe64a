"""A small loopback HTTP server that behaves like the Focus Server in the seeds.

Scriptable state, so the collector and the probe meet the situations the seeds describe:

- ``GET /live_metadata``: the seed 002 "waiting for fiber" body (prr 0.0, dx 0.0) or a
  ready one (prr 2000.0, as in the embedded samples); the first ``live_failures``
  requests answer 500 (a crashing server);
- ``POST /configure``: 200 ``{"job_id": "19-5", ...}`` (ids count up from 19-5), or 503
  ``{"detail": "Cannot proceed: Missing required fiber metadata fields: prr"}`` while
  the fiber is not ready (seed 002), or whatever ``configure_status`` forces; every POST
  is counted;
- ``GET /metadata/{job_id}``: 404 ``{"detail": "Invalid job_id"}`` until
  ``ready_after_s`` seconds after that job's configure (by ``clock``, which a test may
  share with the probe to run a 35 s scenario in milliseconds), then 200 with a metadata
  body (seed 004);
- anything else: FastAPI's 404 ``{"detail": "Not Found"}``.

Everything is served under ``prefix`` (``/focus-server``, as behind the seeds' ingress)
on 127.0.0.1 with a free port, plain HTTP or TLS with a given certificate.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

#: ``GET /live_metadata`` during the seed 002 incident (staging, 2025-11-08).
WAITING_BODY: dict[str, Any] = {
    "dx": 0.0,
    "prr": 0.0,
    "fiber_start_meters": None,
    "fiber_length_meters": None,
    "sw_version": "waiting for fiber",
    "number_of_channels": 2337,
    "fiber_description": "waiting for fiber",
}
#: ``GET /live_metadata`` of a healthy system (as in the embedded samples).
READY_BODY: dict[str, Any] = {
    "dx": 1.0209,
    "prr": 2000.0,
    "fiber_start_meters": 0.0,
    "fiber_length_meters": 42000.0,
    "sw_version": "2.14.1",
    "number_of_channels": 2337,
    "fiber_description": "SMF-28 loop A",
}
MISSING_PRR = "Cannot proceed: Missing required fiber metadata fields: prr"


class FakeFocus:
    """A Focus Server look-alike on 127.0.0.1; use as a context manager.

    Attributes
    ----------
    requests
        ``(method, path)`` of every request received, in order (path without the prefix).
    configured
        ``{job_id: clock() at configure}``.
    """

    def __init__(
        self,
        *,
        ready: bool = True,
        configure_status: int | None = None,
        ready_after_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        prefix: str = "/focus-server",
        tls: tuple[Path, Path] | None = None,
        live_failures: int = 0,
        first_job: int = 5,
    ):
        self.ready = ready
        self.configure_status = configure_status
        self.ready_after_s = ready_after_s
        self.clock = clock
        self.prefix = prefix.rstrip("/")
        self.tls = tls
        self.live_failures = live_failures
        self.requests: list[tuple[str, str]] = []
        self.bodies: list[Any] = []  # JSON bodies of the POSTs
        self.configured: dict[str, float] = {}
        self._next_job = first_job
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ counting
    def count(self, method: str, path: str | None = None) -> int:
        """Requests received with ``method`` (and, if given, a path starting with ``path``)."""
        with self._lock:
            return sum(1 for m, p in self.requests if m == method and (path is None or p.startswith(path)))

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:41234/focus-server``."""
        assert self._server is not None, "start the server first"
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}{self.prefix}"

    # ------------------------------------------------------------------ behaviour
    def _live(self) -> tuple[int, Any]:
        with self._lock:
            failing = self._count_locked("GET", "/live_metadata") <= self.live_failures
        if failing:
            return 500, "Internal Server Error"
        return 200, dict(READY_BODY if self.ready else WAITING_BODY)

    def _count_locked(self, method: str, path: str) -> int:
        return sum(1 for m, p in self.requests if m == method and p.startswith(path))

    def _configure(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict):
            return 422, {
                "detail": [{"loc": ["body"], "msg": "Input should be a valid dictionary", "type": "dict_type"}]
            }
        status = self.configure_status or (200 if self.ready else 503)
        if status == 503:
            return 503, {"detail": MISSING_PRR}
        if not 200 <= status < 300:
            return status, {"detail": f"forced {status}"}
        with self._lock:
            job_id = f"19-{self._next_job}"
            self._next_job += 1
            self.configured[job_id] = self.clock()
        return status, {"job_id": job_id, "status": "configured", "queue": f"grpc-job-{job_id}"}

    def _metadata(self, job_id: str) -> tuple[int, Any]:
        with self._lock:
            at = self.configured.get(job_id)
        if at is None or self.clock() - at < self.ready_after_s:
            return 404, {"detail": "Invalid job_id"}
        return 200, {
            "job_id": job_id,
            "prr": READY_BODY["prr"],
            "dx": READY_BODY["dx"],
            "number_of_channels": 99,
            "channels": {"min": 11, "max": 109},
            "frequency_range": {"min": 0, "max": 1000},
            "nfft": 1024,
            "display_time_axis_duration": 30,
            "queue": f"grpc-job-{job_id}",
            "status": "running",
        }

    def handle(self, method: str, raw_path: str, body: bytes) -> tuple[int, Any]:
        path = raw_path.split("?", 1)[0]
        if not path.startswith(self.prefix + "/"):
            with self._lock:
                self.requests.append((method, path))
            return 404, {"detail": "Not Found"}
        path = path[len(self.prefix) :]
        with self._lock:
            self.requests.append((method, path))
        if method == "GET" and path == "/live_metadata":
            return self._live()
        if method == "POST" and path == "/configure":
            try:
                parsed = json.loads(body or b"null")
            except ValueError:
                parsed = None
            with self._lock:
                self.bodies.append(parsed)
            return self._configure(parsed)
        if method == "GET" and path.startswith("/metadata/"):
            return self._metadata(path.removeprefix("/metadata/"))
        return 404, {"detail": "Not Found"}

    # ------------------------------------------------------------------ serving
    def __enter__(self) -> FakeFocus:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, payload = fake.handle(method, self.path, body)
                if isinstance(payload, str):
                    data, ctype = payload.encode(), "text/plain; charset=utf-8"
                else:
                    data, ctype = json.dumps(payload).encode(), "application/json"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        if self.tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(self.tls[0]), str(self.tls[1]))
            server.socket = ctx.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


class FakeClock:
    """A monotonic clock that only moves when someone sleeps (or calls :meth:`advance`).

    ``tick_s`` is added on every reading, as if time passed between readings.
    """

    def __init__(self, start: float = 1000.0, *, tick_s: float = 0.0):
        self.now = start
        self.tick_s = tick_s
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            self.now += self.tick_s
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += max(0.0, seconds)
