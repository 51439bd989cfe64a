"""RabbitMQ management API snapshots → ``rabbitmq/snapshots.jsonl`` (seeds 001, 003, 004).

Read-only: plain ``GET /api/overview``, ``/api/queues`` and ``/api/consumers``, a few
times some seconds apart, so the queue parsers can see backlogs grow and consumers come
and go. The bodies are kept exactly as the API returns them (``panda-bundle/1``
contract); a part that could not be read is ``null`` and the snapshot says why in
``errors``. Credentials are used for the requests only and never written.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from panda_analysis.collect import _http
from panda_analysis.errors import CollectError

if TYPE_CHECKING:
    import requests

    from panda_analysis.bundle import BundleWriter

__all__ = ["MAX_BODY_BYTES", "MAX_INTERVAL_S", "MAX_SAMPLES", "PARTS", "rabbit_api"]

log = logging.getLogger(__name__)

#: Where each snapshot part comes from (management HTTP API paths).
PARTS: tuple[tuple[str, str], ...] = (
    ("overview", "/api/overview"),
    ("queues", "/api/queues"),
    ("consumers", "/api/consumers"),
)
#: Most snapshots one call takes (the run stays bounded).
MAX_SAMPLES = 100
#: Longest wait between two snapshots (seconds).
MAX_INTERVAL_S = 600.0
#: Largest body read for one part; a bigger one is recorded as an error, not truncated JSON.
MAX_BODY_BYTES = 64 << 20
#: Longest one part may take to download, whatever the per-read timeout.
PART_DEADLINE_S = 120.0
_SNAPSHOTS = "rabbitmq/snapshots.jsonl"
_AUTH_STATUSES = (401, 403)


class _PartError(Exception):
    def __init__(self, text: str, *, status: int | None = None):
        super().__init__(text)
        self.status = status


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() in {"localhost", "localhost.localdomain"}:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _base_url(url: str) -> tuple[str, str | None]:
    """``(base, host)``: the API root without userinfo, query or a trailing ``/api``."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        msg = (
            f"RabbitMQ management URL {_http.redact_url(url)!r} is not an http(s) URL with a host; "
            "give the management listener, e.g. http://rabbitmq-panda:15672"
        )
        raise CollectError(msg)
    path = parts.path.rstrip("/")
    path = path.removesuffix("/api")
    return f"{parts.scheme}://{parts.netloc}{path}", parts.hostname


def _credentials(
    url_auth: tuple[str, str] | None, user: str | None, password: str | None, host: str | None, session_auth: object
) -> tuple[tuple[str, str] | None, str]:
    """``(auth, where it came from)``; ``None`` auth means the injected session's own."""
    if user is not None or password is not None:
        if user is None or password is None:
            msg = "give both user= and password= for the RabbitMQ management API (or neither)"
            raise ValueError(msg)
        return (user, password), "arguments"
    if url_auth is not None:
        return url_auth, "url"
    env_user, env_password = os.environ.get("RABBITMQ_USER"), os.environ.get("RABBITMQ_PASSWORD")
    if env_user and env_password is not None:
        return (env_user, env_password), "environment"
    if session_auth is not None:
        return None, "session"
    if _is_loopback(host):
        return ("guest", "guest"), "default guest (loopback only)"
    msg = (
        f"no credentials for the RabbitMQ management API on {host}: pass user= and password= "
        "(or --rabbitmq-url http://USER:PASSWORD@HOST:15672), or set RABBITMQ_USER and RABBITMQ_PASSWORD; "
        "the guest account only works from loopback"
    )
    raise CollectError(msg)


def _get(s: requests.Session, url: str, auth: tuple[str, str] | None) -> Any:
    """One part: the decoded JSON body, or :class:`_PartError` with a redacted reason."""
    import requests

    started = time.monotonic()
    try:
        kwargs: dict[str, Any] = {"stream": True, "headers": {"Accept": "application/json"}}
        if auth is not None:
            kwargs["auth"] = auth
        with s.get(url, **kwargs) as resp:
            if resp.status_code != 200:
                snippet = " ".join(resp.raw.read(300, decode_content=True).decode("utf-8", "replace").split())
                text = f"HTTP {resp.status_code} {resp.reason or ''}".rstrip()
                raise _PartError(f"{text}: {snippet}" if snippet else text, status=resp.status_code)
            chunks, size = [], 0
            for chunk in resp.iter_content(chunk_size=1 << 16):
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    msg = f"body larger than {MAX_BODY_BYTES} bytes; not kept (use vhost= to narrow it)"
                    raise _PartError(msg, status=200)
                if time.monotonic() - started > PART_DEADLINE_S:
                    msg = f"body still arriving after {PART_DEADLINE_S:g} s; not kept"
                    raise _PartError(msg, status=200)
                chunks.append(chunk)
    except requests.RequestException as err:
        raise _PartError(_http.describe(err)) from err
    try:
        return json.loads(b"".join(chunks))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        msg = f"HTTP 200 but the body is not JSON ({err}); is this the management listener (port 15672)?"
        raise _PartError(msg, status=200) from err


def _snapshot(
    s: requests.Session, base: str, paths: tuple[tuple[str, str], ...], auth: tuple[str, str] | None
) -> tuple[dict[str, Any], list[_PartError]]:
    snapshot: dict[str, Any] = {"at": _now_iso()}
    errors: list[dict[str, str]] = []
    failures: list[_PartError] = []
    for part, path in paths:
        try:
            snapshot[part] = _get(s, base + path, auth)
        except _PartError as err:
            snapshot[part] = None
            errors.append({"part": part, "error": str(err)})
            failures.append(err)
            log.warning("RabbitMQ %s%s: %s", _http.redact_url(base), path, err)
    if errors:
        snapshot["errors"] = errors
    return snapshot, failures


def _failure_message(shown: str, tried: int, failures: list[_PartError]) -> str:
    reasons = "; ".join(dict.fromkeys(str(f) for f in failures)) or "no answer"
    statuses = {f.status for f in failures}
    if statuses & set(_AUTH_STATUSES):
        check = (
            "check the credentials (user= / password=, the URL's user:password@, or RABBITMQ_USER / "
            "RABBITMQ_PASSWORD) and that the user has the 'monitoring' tag"
        )
    elif 404 in statuses or any("not JSON" in str(f) for f in failures):
        check = "check that this is the management listener (usually port 15672, not AMQP 5672) and its path prefix"
    else:
        check = (
            "check that the management plugin is enabled (rabbitmq-plugins enable rabbitmq_management), "
            "that the host and port are reachable from here (kubectl port-forward svc/rabbitmq-panda 15672), "
            "and the timeout"
        )
    return f"RabbitMQ management API at {shown}: no snapshot succeeded ({tried} tried): {reasons}; {check}"


def rabbit_api(
    out: BundleWriter | None = None,
    *,
    url: str,
    user: str | None = None,
    password: str | None = None,
    samples: int = 3,
    interval_s: float = 5.0,
    session: requests.Session | None = None,
    vhost: str | None = None,
    on_progress: Callable[[int, int, str], None] | None = None,
) -> list[dict[str, Any]]:
    """Take RabbitMQ management API snapshots (read-only) and write ``rabbitmq/snapshots.jsonl``.

    Each snapshot GETs ``/api/overview``, ``/api/queues`` and ``/api/consumers`` and is
    ``{"at": ISO UTC with ms, "overview": ..., "queues": ..., "consumers": ...}`` with the
    bodies exactly as the API returns them. A part that fails (HTTP error, timeout,
    refused) is ``null`` and the snapshot gets ``"errors": [{"part", "error"}]``; the run
    goes on. Snapshots start ``interval_s`` apart (a slow one is followed at once).

    Parameters
    ----------
    out
        Where to write ``rabbitmq/snapshots.jsonl`` (through ``out.add_jsonl``, so the
        writer's redaction applies); ``None`` only returns the snapshots. The manifest
        gets ``"rabbitmq_api": {"url", "samples", "ok", "failed_parts"}`` with the URL
        redacted.
    url
        The management listener, e.g. ``http://rabbitmq-panda:15672`` (a trailing
        ``/api`` is accepted). ``user:password@`` in it is removed and used as the
        credentials.
    user, password
        Credentials; else the URL's, else the environment's ``RABBITMQ_USER`` /
        ``RABBITMQ_PASSWORD``, else the injected session's auth, else ``guest`` /
        ``guest`` for a loopback URL only. Never written anywhere. A read-only account
        needs the ``monitoring`` tag *and* access to the vhosts (any permissions, even
        ``"^$"``): without vhost access RabbitMQ answers ``/api/queues`` with ``[]``.
    samples
        Number of snapshots, 1 to 100.
    interval_s
        Seconds between the starts of two snapshots, 0 to 600.
    session
        A ``requests.Session`` to use (tests inject one); by default one from
        :func:`panda_analysis.collect._http.session` (10 s timeout, 2 retries for GET on
        connect errors / 502 / 503 / 504), closed at the end.
    vhost
        Only this virtual host's queues and consumers (``/api/queues/<vhost>``); the
        overview is always broker-wide.
    on_progress
        Called as ``on_progress(done, total, text)`` after each snapshot.

    Returns
    -------
    list of dict
        The snapshots as written.

    Raises
    ------
    CollectError
        When no snapshot had any part read (or no credentials exist for a non-loopback
        URL); the message names the URL without its password, the HTTP status or
        exception, and what to check. An authentication failure on the first snapshot
        stops the run at once.

    Examples
    --------
    Three snapshots, 5 s apart, into a bundle (needs a reachable broker):

    >>> import panda_analysis as pa
    >>> with pa.BundleWriter("evidence/") as out:  # doctest: +SKIP
    ...     snaps = pa.collect.rabbit_api(out, url="http://rabbitmq-panda:15672", samples=3)

    Against a broker that is not there (nothing listens on port 9 of loopback), the
    error names the URL without its password:

    >>> from panda_analysis import collect
    >>> from panda_analysis.collect import _http
    >>> with _http.session(retries=0, timeout_s=2.0) as s:  # doctest: +ELLIPSIS
    ...     collect.rabbit_api(url="http://guest:guest@127.0.0.1:9", samples=1, session=s)
    Traceback (most recent call last):
    ...
    panda_analysis.errors.CollectError: RabbitMQ management API at http://guest:<redacted>@127.0.0.1:9: no snapshot ...
    """
    if isinstance(samples, bool) or not isinstance(samples, int) or not 1 <= samples <= MAX_SAMPLES:
        msg = f"samples must be an integer from 1 to {MAX_SAMPLES}, got {samples!r}"
        raise ValueError(msg)
    if not 0 <= interval_s <= MAX_INTERVAL_S:
        msg = f"interval_s must be from 0 to {MAX_INTERVAL_S:g} seconds, got {interval_s!r}"
        raise ValueError(msg)
    shown = _http.redact_url(url)
    clean, url_auth = _http.split_userinfo(url)
    base, host = _base_url(clean)
    auth, origin = _credentials(url_auth, user, password, host, session.auth if session is not None else None)
    log.info(
        "RabbitMQ management API %s: %d snapshot(s) %g s apart, credentials from %s", shown, samples, interval_s, origin
    )
    paths = PARTS
    if vhost is not None:
        encoded = quote(vhost, safe="")
        paths = (PARTS[0], ("queues", f"/api/queues/{encoded}"), ("consumers", f"/api/consumers/{encoded}"))

    own = session is None
    s = _http.session() if session is None else session
    snapshots: list[dict[str, Any]] = []
    failures: list[_PartError] = []
    ok = 0
    try:
        started = time.monotonic()
        for i in range(samples):
            if i:
                time.sleep(max(0.0, started + i * interval_s - time.monotonic()))
            snapshot, failed = _snapshot(s, base, paths, auth)
            snapshots.append(snapshot)
            failures.extend(failed)
            if len(failed) < len(paths):
                ok += 1
            if on_progress is not None:
                state = "ok" if not failed else f"{len(failed)} of {len(paths)} parts failed"
                on_progress(i + 1, samples, f"RabbitMQ snapshot {i + 1}/{samples} ({state})")
            # wrong credentials do not heal: stop instead of waiting out every interval
            if not ok and failed and all(f.status in _AUTH_STATUSES for f in failed):
                break
    finally:
        if own:
            s.close()
    if not ok:
        raise CollectError(_failure_message(shown, len(snapshots), failures))
    if out is not None:
        out.add_jsonl(_SNAPSHOTS, snapshots)
        out.manifest["rabbitmq_api"] = {
            "url": _http.redact_url(base),
            "vhost": vhost,
            "samples": len(snapshots),
            "ok": ok,
            "failed_parts": len(failures),
        }
    return snapshots
