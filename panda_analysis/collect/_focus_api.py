"""Focus Server HTTP probes → ``http/focus/live_metadata.jsonl`` and ``job_metadata.jsonl`` (seeds 002, 004).

Read-only: ``GET /live_metadata`` a few times some seconds apart (is the fiber metadata
ready: ``prr`` / ``dx`` positive, no "waiting for fiber"?) and ``GET /metadata/{job_id}``
once for each job id seen in the rest of the evidence (404 ``{"detail": "Invalid
job_id"}`` means the job has no consumer). Lines are written exactly as
:mod:`panda_analysis.parse` reads them (``panda-bundle/1`` contract)::

    {"at": "2025-11-08T13:20:00.118Z", "status": 200, "body": {"prr": 0.0, ...}}
    {"at": "...", "status": null, "body": null, "error": "connect timeout (...)"}
    {"at": "...", "job_id": "19-5", "status": 404, "body": {"detail": "Invalid job_id"}}

A failed request is a line with ``status`` null and an ``error``, not an exception; only
when nothing at all was answered does :func:`focus_api` raise
:class:`~panda_analysis.errors.CollectError`. TLS is verified by default; the seeds reach
the server with ``curl -k`` (a self-signed certificate), which is ``verify=False``
(``--insecure``) here.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from panda_analysis.collect import _http
from panda_analysis.errors import CollectError

if TYPE_CHECKING:
    import requests

    from panda_analysis.bundle import Bundle, BundleWriter
    from panda_analysis.schema import Frames

__all__ = [
    "JOB_METADATA",
    "LIVE_METADATA",
    "MAX_BODY_BYTES",
    "MAX_JOB_IDS",
    "MAX_SAMPLES",
    "FocusResult",
    "base_url",
    "focus_api",
    "job_ids_in",
]

log = logging.getLogger(__name__)

#: Bundle files written (the paths the parsers read).
LIVE_METADATA = "http/focus/live_metadata.jsonl"
JOB_METADATA = "http/focus/job_metadata.jsonl"
#: Most ``/live_metadata`` samples one call takes.
MAX_SAMPLES = 100
#: Longest wait between two samples (seconds).
MAX_INTERVAL_S = 600.0
#: Most job ids asked about in one call (the newest ids in natural order are kept).
MAX_JOB_IDS = 200
#: Largest body kept; a Focus metadata answer is a few hundred bytes.
MAX_BODY_BYTES = 1 << 20
#: Frames whose ``job_id`` column names jobs worth asking ``/metadata/{job_id}`` about.
_JOB_FRAMES = ("focus", "jobs", "pods", "queues", "consumers", "analyzer")
_JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


def now_iso() -> str:
    """The current UTC time as the bundle writes it: ISO-8601 with milliseconds and ``Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def base_url(url: str) -> str:
    """The Focus Server base URL: no trailing ``/`` and no endpoint path.

    ``https://10.10.10.100/focus-server/live_metadata`` (as pasted from the seeds' curl
    commands) becomes ``https://10.10.10.100/focus-server``. Userinfo stays (the session
    turns it into Basic auth, and :func:`~panda_analysis.collect._http.redact_url`
    hides its password).

    Examples
    --------
    >>> base_url("https://10.10.10.100/focus-server/live_metadata")
    'https://10.10.10.100/focus-server'
    >>> base_url("http://127.0.0.1:5000/")
    'http://127.0.0.1:5000'
    """
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        msg = (
            f"Focus Server URL {_http.redact_url(url)!r} is not an http(s) URL with a host; "
            "give the base the API lives under, e.g. https://10.10.10.100/focus-server"
        )
        raise CollectError(msg)
    path = parts.path.rstrip("/")
    for endpoint in ("/live_metadata", "/configure"):
        path = path.removesuffix(endpoint)
    path = re.sub(r"/metadata/[^/]*$", "", path)
    return f"{parts.scheme}://{parts.netloc}{path}"


@contextlib.contextmanager
def _tls_quiet(verify: bool | str) -> Iterator[None]:
    """Silence urllib3's per-request InsecureRequestWarning when the user chose ``--insecure``.

    The choice is logged once by the caller; a warning per request would only bury it.
    """
    if verify is not False:
        yield
        return
    import urllib3

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
        yield


def request(
    s: requests.Session,
    method: str,
    url: str,
    *,
    verify: bool | str = True,
    timeout_s: float | None = None,
    json_body: Any = None,
) -> tuple[int | None, Any, str | None]:
    """One request: ``(status, body, error)``; never raises for a failed request.

    ``body`` is the decoded JSON, else the text (first :data:`MAX_BODY_BYTES`), else
    None; ``error`` is a redacted one-line description of a transport failure. Redirects
    are followed for GET only: a 307 / 308 would send a POST a second time.
    """
    import requests

    kwargs: dict[str, Any] = {"stream": True, "headers": {"Accept": "application/json"}}
    # True leaves the session's own setting (it may hold a CA bundle). False or a CA path is
    # passed per request: requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a
    # *session's* CA path (psf/requests#3829), never a per-request one.
    if verify is not True:
        kwargs["verify"] = verify
    if timeout_s is not None:
        kwargs["timeout"] = timeout_s
    if method != "GET":
        kwargs["allow_redirects"] = False
    if json_body is not None:
        kwargs["json"] = json_body
    try:
        with _tls_quiet(verify), s.request(method, url, **kwargs) as resp:
            chunks, size, truncated = [], 0, False
            for chunk in resp.iter_content(chunk_size=1 << 14):
                size += len(chunk)
                chunks.append(chunk)
                if size > MAX_BODY_BYTES:
                    truncated = True
                    break
            status = int(resp.status_code)
    except requests.RequestException as err:
        return None, None, _http.describe(err)
    raw = b"".join(chunks)[:MAX_BODY_BYTES]
    if not raw:
        return status, None, None
    if not truncated:
        try:
            return status, json.loads(raw), None
        except (UnicodeDecodeError, json.JSONDecodeError):
            pass  # not JSON (an ingress error page, say): kept as text below
    text = raw.decode("utf-8", errors="replace")
    return status, text, (f"body larger than {MAX_BODY_BYTES} bytes; truncated" if truncated else None)


def probe_line(
    at: str, status: int | None, body: Any, error: str | None, *, job_id: str | None = None
) -> dict[str, Any]:
    """One JSONL record as the parsers read it (``error`` only when there is one)."""
    line: dict[str, Any] = {"at": at}
    if job_id is not None:
        line["job_id"] = job_id
    line["status"] = status
    line["body"] = body
    if error is not None:
        line["error"] = error
    return line


def _answered(line: dict[str, Any]) -> bool:
    """Did the Focus Server itself answer? 2xx, or a FastAPI ``detail`` for an unknown job."""
    status = line.get("status")
    if status is None:
        return False
    if 200 <= status < 300:
        return True
    body = line.get("body")
    return "job_id" in line and status == 404 and isinstance(body, dict) and "detail" in body


@dataclass(frozen=True, slots=True)
class FocusResult:
    """What :func:`focus_api` collected.

    Attributes
    ----------
    url
        The base URL, password redacted.
    live_metadata
        The ``GET /live_metadata`` lines, as written.
    job_metadata
        The ``GET /metadata/{job_id}`` lines, as written.
    ok
        Requests the Focus Server answered (2xx, or 404 "Invalid job_id" for a job).
    failed
        Requests that failed (transport error, or another status).
    skipped_job_ids
        Job ids not asked about (invalid, or over :data:`MAX_JOB_IDS`).
    """

    url: str
    live_metadata: list[dict[str, Any]] = field(default_factory=list)
    job_metadata: list[dict[str, Any]] = field(default_factory=list)
    ok: int = 0
    failed: int = 0
    skipped_job_ids: tuple[str, ...] = ()

    @property
    def ready(self) -> bool | None:
        """Was the fiber metadata ready in the last answered sample (None: no answer)?"""
        for line in reversed(self.live_metadata):
            if line.get("status") is not None and 200 <= line["status"] < 300:
                return not_ready_reason(line.get("body")) is None
        return None


def not_ready_reason(body: Any) -> str | None:
    """Why a ``/live_metadata`` body says the fiber is not ready (None when it is ready).

    Not ready (seed 002): ``prr`` missing or not positive, ``dx`` not positive, or
    "waiting for fiber" in ``sw_version`` / ``fiber_description``.

    Examples
    --------
    >>> not_ready_reason({"prr": 0.0, "dx": 0.0, "sw_version": "waiting for fiber"})
    'prr is 0.0 (not positive); dx is 0.0 (not positive); sw_version says "waiting for fiber"'
    >>> not_ready_reason({"prr": 2000.0, "dx": 1.0209, "sw_version": "2.14.1"}) is None
    True
    """
    if not isinstance(body, dict):
        return f"the answer is not a metadata object ({type(body).__name__})"
    reasons = []
    prr = body.get("prr")
    if prr is None:
        reasons.append("prr is missing")
    elif isinstance(prr, bool) or not isinstance(prr, int | float) or not prr > 0:
        reasons.append(f"prr is {prr!r} (not positive)")
    dx = body.get("dx")
    if dx is not None and (isinstance(dx, bool) or not isinstance(dx, int | float) or not dx > 0):
        reasons.append(f"dx is {dx!r} (not positive)")
    for key in ("sw_version", "fiber_description"):
        value = body.get(key)
        if isinstance(value, str) and "waiting for fiber" in value.lower():
            reasons.append(f'{key} says "waiting for fiber"')
    return "; ".join(reasons) or None


def _clean_job_ids(job_ids: Sequence[str]) -> tuple[list[str], list[str]]:
    if isinstance(job_ids, str):  # one id passed bare: ("19-5") is a str, not a tuple
        job_ids = [job_ids]
    wanted: list[str] = []
    skipped: list[str] = []
    for raw in dict.fromkeys(str(j).strip() for j in job_ids):
        (wanted if _JOB_ID.fullmatch(raw) else skipped).append(raw)
    if len(wanted) > MAX_JOB_IDS:
        skipped += wanted[:-MAX_JOB_IDS]
        wanted = wanted[-MAX_JOB_IDS:]  # job ids come in natural order: keep the newest
    return wanted, skipped


def _failure_message(shown: str, lines: list[dict[str, Any]], verify: bool | str) -> str:
    reasons = []
    for line in lines:
        if line.get("error"):
            reasons.append(str(line["error"]))
        elif line.get("status") is not None:
            body = line.get("body")
            detail = body.get("detail") if isinstance(body, dict) else None
            reasons.append(f"HTTP {line['status']}" + (f" ({detail})" if detail else ""))
    text = "; ".join(dict.fromkeys(reasons)) or "no request was made"
    hints = ["that the URL includes the path prefix the ingress serves it under (e.g. /focus-server)"]
    if any("TLS" in r for r in reasons) and verify is not False:
        hints.insert(
            0, "the server's certificate (the seeds use curl -k: pass --insecure / verify=False if you trust it)"
        )
    hints.append("that the host is reachable from here (or kubectl port-forward the focus-server service)")
    return f"Focus Server at {shown}: no request was answered ({len(lines)} tried): {text}; check " + ", ".join(hints)


def focus_api(
    out: BundleWriter | None = None,
    *,
    url: str,
    samples: int = 3,
    interval_s: float = 5.0,
    job_ids: Sequence[str] = (),
    verify: bool | str = True,
    session: requests.Session | None = None,
    on_progress: Callable[[int, int, str], None] | None = None,
) -> FocusResult:
    """Probe the Focus Server (read-only) and write ``http/focus/*.jsonl``.

    ``GET /live_metadata`` is sampled ``samples`` times, ``interval_s`` apart (from the
    start of one to the start of the next), then ``GET /metadata/{job_id}`` is asked once
    for each of ``job_ids``. Every answer and every failure becomes a line (see the
    module docstring); bodies are kept as the server sent them.

    Parameters
    ----------
    out
        Where to write ``http/focus/live_metadata.jsonl`` and (when ``job_ids`` is not
        empty) ``http/focus/job_metadata.jsonl``, through ``out.add_jsonl`` so the writer's
        redaction applies; ``None`` only returns the lines. The manifest gets
        ``"focus_api": {"url", "samples", "job_ids", "ok", "failed", "verify"}`` (URL
        password redacted).
    url
        The base the API lives under, e.g. ``https://10.10.10.100/focus-server``
        (``/live_metadata`` pasted at the end is accepted).
    samples
        ``GET /live_metadata`` samples, 1 to 100.
    interval_s
        Seconds between two samples, 0 to 600.
    job_ids
        Jobs to ask ``/metadata/{job_id}`` about (see :func:`job_ids_in`); at most
        :data:`MAX_JOB_IDS`, ids that are not plain names (letters, digits, ``.-_``) are
        skipped.
    verify
        TLS verification: True (default), False (``--insecure``; the seeds use
        ``curl -k``), or a CA bundle path. With an injected session, True leaves the
        session's own setting.
    session
        A ``requests.Session`` (tests inject one); by default one from
        :func:`panda_analysis.collect._http.session` (10 s timeout, 2 retries with backoff
        for GET on connection errors / 502 / 503 / 504), closed at the end.
    on_progress
        Called as ``on_progress(done, total, text)`` after each request.

    Returns
    -------
    FocusResult
        The lines written and the counts.

    Raises
    ------
    CollectError
        When the Focus Server answered none of the requests (every one failed or got a
        status other than 2xx, or 404 "Invalid job_id" for a job). The lines are written
        to ``out`` first, so the bundle still shows what was tried. The message names the
        URL (password redacted), what went wrong and what to check.

    Examples
    --------
    Three samples, 5 s apart, and the jobs the Kubernetes evidence names (needs a
    reachable server):

    >>> import panda_analysis as pa
    >>> with pa.BundleWriter("evidence/") as out:  # doctest: +SKIP
    ...     ids = pa.collect.job_ids_in(out)
    ...     pa.collect.focus_api(out, url="https://10.10.10.100/focus-server", job_ids=ids, verify=False)

    Nothing listens on port 9 of loopback:

    >>> from panda_analysis.collect import _http
    >>> with _http.session(retries=0, timeout_s=2.0) as s:  # doctest: +ELLIPSIS
    ...     focus_api(url="http://127.0.0.1:9/focus-server", samples=1, session=s)
    Traceback (most recent call last):
    ...
    panda_analysis.errors.CollectError: Focus Server at http://127.0.0.1:9/focus-server: no request was answered (1 tried): connection failed ...
    """
    if isinstance(samples, bool) or not isinstance(samples, int) or not 1 <= samples <= MAX_SAMPLES:
        msg = f"samples must be an integer from 1 to {MAX_SAMPLES}, got {samples!r}"
        raise ValueError(msg)
    if not 0 <= interval_s <= MAX_INTERVAL_S:
        msg = f"interval_s must be from 0 to {MAX_INTERVAL_S:g} seconds, got {interval_s!r}"
        raise ValueError(msg)
    base = base_url(url)
    shown = _http.redact_url(base)
    wanted, skipped = _clean_job_ids(job_ids)
    if skipped:
        log.warning("Focus Server: %d job id(s) not asked about: %s", len(skipped), ", ".join(skipped[:10]))
    if verify is False:
        log.warning("Focus Server %s: TLS certificate verification is off (--insecure)", shown)
    total = samples + len(wanted)
    log.info(
        "Focus Server %s: %d live_metadata sample(s) %g s apart, %d job(s)", shown, samples, interval_s, len(wanted)
    )

    own = session is None
    s = _http.session(verify=verify) if session is None else session
    live: list[dict[str, Any]] = []
    jobs: list[dict[str, Any]] = []
    done = 0

    def progress(text: str) -> None:
        nonlocal done
        done += 1
        if on_progress is not None:
            on_progress(done, total, text)

    try:
        started = time.monotonic()
        for i in range(samples):
            if i:
                time.sleep(max(0.0, started + i * interval_s - time.monotonic()))
            at = now_iso()
            status, body, error = request(s, "GET", f"{base}/live_metadata", verify=verify)
            live.append(probe_line(at, status, body, error))
            progress(f"Focus live_metadata {i + 1}/{samples} ({error or f'HTTP {status}'})")
        for job_id in wanted:
            at = now_iso()
            status, body, error = request(s, "GET", f"{base}/metadata/{quote(job_id, safe='')}", verify=verify)
            jobs.append(probe_line(at, status, body, error, job_id=job_id))
            progress(f"Focus metadata/{job_id} ({error or f'HTTP {status}'})")
    finally:
        if own:
            s.close()

    lines = live + jobs
    ok = sum(_answered(line) for line in lines)
    result = FocusResult(
        url=shown,
        live_metadata=live,
        job_metadata=jobs,
        ok=ok,
        failed=len(lines) - ok,
        skipped_job_ids=tuple(skipped),
    )
    if out is not None:
        out.add_jsonl(LIVE_METADATA, live)
        if jobs:
            out.add_jsonl(JOB_METADATA, jobs)
        out.manifest["focus_api"] = {
            "url": shown,
            "samples": samples,
            "interval_s": interval_s,
            "job_ids": wanted,
            "skipped_job_ids": skipped,
            "ok": ok,
            "failed": len(lines) - ok,
            "verify": verify is not False,
        }
    if not ok:
        raise CollectError(_failure_message(shown, lines, verify))
    return result


def job_ids_in(source: Bundle | Frames | BundleWriter | str | os.PathLike[str]) -> list[str]:
    """Job ids the evidence names (Focus logs, Jobs, pods, per-job queues and consumers, analyzer logs).

    The ids ``collect`` asks ``GET /metadata/{job_id}`` about, in natural order (``19-5`` <
    ``19-10``).

    Parameters
    ----------
    source
        Parsed :class:`~panda_analysis.schema.Frames`, a Bundle or a bundle path, or a
        :class:`~panda_analysis.bundle.BundleWriter` still being written (what other
        collectors wrote so far is read).

    Returns
    -------
    list of str

    Examples
    --------
    >>> import panda_analysis as pa
    >>> job_ids_in(pa.samples.consumer_slow())
    ['19-5', '19-6']
    """
    from panda_analysis.bundle import Bundle, BundleWriter, is_bundle, load_bundle
    from panda_analysis.schema import Frames

    if isinstance(source, Frames):
        frames = source
    else:
        if isinstance(source, BundleWriter):
            # the writer stages its files in a directory until close(); read them there
            staging = source.staging
            bundle = Bundle(staging, origin=os.fspath(source.path), manifest={})
        elif is_bundle(source):
            bundle = source
        else:
            bundle = load_bundle(source)
        frames = bundle.frames()
    ids: set[str] = set()
    for name in _JOB_FRAMES:
        df = frames[name]
        if "job_id" in df.columns:
            ids.update(str(v) for v in df["job_id"].dropna().unique())
    return sorted((i for i in ids if _JOB_ID.fullmatch(i)), key=_natural)


def _natural(job_id: str) -> tuple[tuple[int, Any], ...]:
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[-_.]", job_id))
