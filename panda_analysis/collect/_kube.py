"""Kubernetes API → ``k8s/*.json`` and ``logs/<ns>/<pod>/<container>[.previous].log`` (issue #6).

Read-only (DESIGN "Live collection rules"): the only calls are ``GET /version`` (is the
API there at all?), ``list`` of pods, events, jobs, services and endpoints per namespace,
and pod ``log`` reads. Objects are kept exactly as the API sent them (raw JSON, not the
client's typed models, which drop unknown fields and rename to snake_case); each item
gets back the ``kind`` / ``apiVersion`` that list items lack, as ``kubectl get -o json``
does, and the lists of all namespaces are merged into one ``"kind": "List"`` per file.

Logs, fetched by a small pool of concurrent requests:

- every container (init and ephemeral containers too) with kubelet timestamps, its
  **current** log limited to the ``since`` window;
- the **previous** log of every container that has restarted, *not* limited by
  ``since``: the crash may be a day old (seed 002's ``4 (28h ago)``) and its last lines
  hold the cause;
- each log capped to ``max_lines`` lines and ``max_bytes`` bytes, **keeping the newest
  lines**. The server's ``limitBytes`` keeps the *oldest* bytes of what it sends, so
  when a log is cut by it the request is repeated with a smaller ``tailLines`` (the
  count of lines that fitted) until the newest lines fit; every request stays bounded;
- a container that never started (``waiting``, no restart) has no log and is skipped.

One pod whose log fails (pod gone: 404, no previous container: 400, timeout, 5xx) does
not stop the others: the failure is recorded in :attr:`KubeResult.failures` and in the
manifest (``"kube": {"failures": [...]}``). Only an API that cannot be reached at all
(or refuses the credentials) raises :class:`~panda_analysis.errors.CollectError`.

Every request has a timeout (``timeout_s``, the client's *total* time for connect and
response headers; a log body must then arrive within ``READ_DEADLINE_FACTOR`` times
that). With a configuration this module loads itself, GETs are retried at most twice,
with backoff, on connection errors and 502 / 503 / 504, and never after a read
timeout. The kubeconfig is read with ``persist_config=False``: a refreshed token is
never written back. Everything goes through the :class:`~panda_analysis.bundle.BundleWriter`,
so its redaction hook (tokens in logs, secret-looking ``env`` values in pod specs)
applies before anything touches disk.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from panda_analysis.errors import CollectError, MissingDependencyError

if TYPE_CHECKING:
    from panda_analysis.bundle import BundleWriter

__all__ = ["KINDS", "KubeResult", "kube"]

log = logging.getLogger(__name__)

#: What is listed per namespace: (bundle file stem, API group object, list method, apiVersion, kind).
KINDS: tuple[tuple[str, str, str, str, str], ...] = (
    ("pods", "core", "list_namespaced_pod", "v1", "Pod"),
    ("events", "core", "list_namespaced_event", "v1", "Event"),
    ("jobs", "batch", "list_namespaced_job", "batch/v1", "Job"),
    ("services", "core", "list_namespaced_service", "v1", "Service"),
    ("endpoints", "core", "list_namespaced_endpoints", "v1", "Endpoints"),
)
#: Items per list request (kubectl's chunk size) and most pages per namespace and kind.
PAGE_SIZE = 500
MAX_PAGES = 200
#: A log body must arrive within this many ``timeout_s`` (each read also has ``timeout_s``).
READ_DEADLINE_FACTOR = 3.0
#: Most requests spent on one log to keep its newest lines under the byte cap.
BYTE_CAP_ATTEMPTS = 4
#: Retries of an idempotent GET (connection errors, 502 / 503 / 504), and their backoff factor.
RETRIES = 2
BACKOFF_S = 0.5


@dataclass
class KubeResult:
    """What :func:`kube` collected and what it could not.

    Attributes
    ----------
    server
        The API server URL (credentials never included).
    context
        The kubeconfig context used (``"in-cluster"``, or ``None`` for an injected client).
    objects
        Items written per kind: ``{"pods": 7, "events": 6, ...}`` (a kind whose list
        failed in every namespace is absent).
    logs_written, previous_logs_written
        Current and previous container logs written (empty logs are not written).
    truncated
        Logs cut by a cap: ``{"file", "by": "lines" | "bytes"}``.
    skipped
        Containers with no log to read: ``{"namespace", "pod", "container", "reason"}``.
    failures
        ``{"what", "namespace", "pod", "container", "error"}`` for every call that failed
        (``what`` is ``"log"``, ``"previous log"`` or ``"list <kind>"``).
    elapsed_s
        Wall time of the collection.
    """

    server: str
    context: str | None
    objects: dict[str, int] = field(default_factory=dict)
    logs_written: int = 0
    previous_logs_written: int = 0
    truncated: list[dict[str, str]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    failures: list[dict[str, str | None]] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.failures

    def summary(self) -> str:
        """A few lines for a terminal: what was collected, then one line per failure.

        Examples
        --------
        >>> r = KubeResult(server="https://10.0.0.1:6443", context="staging", objects={"pods": 7})
        >>> r.failures.append({"what": "log", "namespace": "panda", "pod": "grpc-job-19-5-cj8hc",
        ...                    "container": "baby-analyzer", "error": '404 NotFound: pods "grpc-job-19-5-cj8hc" not found'})
        >>> print(r.summary())
        kubernetes https://10.0.0.1:6443 (context staging): 7 pods; 0 logs, 0 previous logs
          FAILED log panda/grpc-job-19-5-cj8hc/baby-analyzer: 404 NotFound: pods "grpc-job-19-5-cj8hc" not found
        """
        counts = ", ".join(f"{n} {kind}" for kind, n in self.objects.items()) or "no objects"
        head = (
            f"kubernetes {self.server} (context {self.context}): {counts}; "
            f"{self.logs_written} logs, {self.previous_logs_written} previous logs"
        )
        if self.truncated:
            head += f", {len(self.truncated)} cut by the caps"
        lines = [head]
        for f in self.failures:
            where = "/".join(str(p) for p in (f.get("namespace"), f.get("pod"), f.get("container")) if p)
            lines.append(f"  FAILED {f['what']} {where}: {f['error']}")
        return "\n".join(lines)


@dataclass(frozen=True)
class _LogTask:
    namespace: str
    pod: str
    container: str
    previous: bool

    @property
    def rel(self) -> str:
        return f"logs/{self.namespace}/{self.pod}/{self.container}{'.previous' if self.previous else ''}.log"

    @property
    def what(self) -> str:
        return "previous log" if self.previous else "log"


class _LogFailed(Exception):
    """One log read failed; the message is safe to record (no credentials)."""


# --------------------------------------------------------------------------- helpers
def _import_kubernetes() -> Any:
    try:
        import kubernetes
    except ImportError as err:  # pragma: no cover - kubernetes is a core dependency
        msg = "collecting from Kubernetes needs the 'kubernetes' package: pip install kubernetes"
        raise MissingDependencyError(msg) from err
    return kubernetes


def _since_seconds(since: str | float | None) -> int | None:
    """``"2h"`` → 7200 (rounded up to whole seconds, as the API takes them); ``None`` → no window."""
    if since is None:
        return None
    from panda_analysis._time import parse_duration

    seconds = parse_duration(since).total_seconds()
    if not seconds > 0:
        msg = f"since must be a positive duration such as '2h' or '30m', got {since!r}"
        raise ValueError(msg)
    return max(1, math.ceil(seconds))


def _retry_policy() -> Any:
    """urllib3 Retry for read-only collection (the same policy as :mod:`._http`)."""
    from urllib3.util.retry import Retry

    return Retry(
        total=RETRIES,
        connect=RETRIES,
        read=0,  # a request that reached the server and timed out is not repeated
        status=RETRIES,
        other=0,
        redirect=0,
        allowed_methods=frozenset({"GET", "HEAD"}),
        status_forcelist=(502, 503, 504),
        backoff_factor=BACKOFF_S,
        backoff_max=10.0,
        raise_on_status=False,  # the last 503 reaches the caller, who records it
        respect_retry_after_header=False,  # a server must not stretch a bounded run
    )


def _load_client(kubernetes: Any, *, context: str | None, kubeconfig: str | None, workers: int) -> tuple[Any, str]:
    """A fresh ``ApiClient`` (the global default configuration is left alone) and its context name."""
    from kubernetes.config.config_exception import ConfigException

    cfg = kubernetes.client.Configuration()
    try:
        kubernetes.config.load_kube_config(
            config_file=kubeconfig, context=context, client_configuration=cfg, persist_config=False
        )
        if context is None:
            _, current = kubernetes.config.list_kube_config_contexts(config_file=kubeconfig)
            context = str((current or {}).get("name")) if current else None
    except (ConfigException, OSError, ValueError, TypeError) as err:
        if kubeconfig is not None or context is not None:
            msg = (
                f"cannot load kubeconfig {kubeconfig or '$KUBECONFIG / ~/.kube/config'}"
                f"{f' context {context!r}' if context else ''}: {err}; check the file and `kubectl config get-contexts`"
            )
            raise CollectError(msg) from err
        try:
            kubernetes.config.load_incluster_config(client_configuration=cfg)
        except ConfigException as err2:
            msg = (
                f"no Kubernetes configuration: no kubeconfig ({err}) and not running in a pod ({err2}); "
                "set KUBECONFIG, pass --kubeconfig / --context, or run inside the cluster"
            )
            raise CollectError(msg) from err2
        context = "in-cluster"
    cfg.retries = _retry_policy()
    cfg.connection_pool_maxsize = max(int(cfg.connection_pool_maxsize or 0), workers + 2)
    return kubernetes.client.ApiClient(cfg), str(context) if context is not None else "default"


def _server(api_client: Any) -> str:
    from panda_analysis.collect._http import redact_url

    host = getattr(getattr(api_client, "configuration", None), "host", None)
    return redact_url(str(host)) if host else "the Kubernetes API"


def _describe(err: BaseException) -> str:
    """One line for an error, safe to write: API status and message, or the transport failure."""
    import urllib3

    from panda_analysis.collect import _http

    status = getattr(err, "status", None)
    if isinstance(status, int) and status > 0:  # kubernetes ApiException: the body is a Status object
        body = getattr(err, "body", None)
        try:
            doc = json.loads(body) if body else {}
        except (TypeError, ValueError):
            doc = {}
        if isinstance(doc, Mapping) and doc.get("message"):
            return f"{status} {doc.get('reason') or getattr(err, 'reason', '')}: {doc['message']}"
        return f"{status} {getattr(err, 'reason', '') or ''}".strip()
    cause = err.reason if isinstance(err, urllib3.exceptions.MaxRetryError) and err.reason else err
    return _http.describe(cause)


def _transport_errors() -> tuple[type[BaseException], ...]:
    import urllib3
    from kubernetes.client.exceptions import OpenApiException

    return (OpenApiException, urllib3.exceptions.HTTPError, OSError, ValueError)


def _read_body(resp: Any, *, limit: int, deadline: float) -> bytes:
    """Read at most ``limit + 1`` bytes of a streamed response before ``deadline``.

    A body read to its end gives the connection back to the pool; one left unread is
    closed (a pooled connection with unread bytes would garble the next answer).
    """
    chunks: list[bytes] = []
    size = 0
    finished = False
    try:
        for chunk in resp.stream(64 << 10, decode_content=True):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                break
            if time.monotonic() > deadline:
                msg = "log body still arriving at the read deadline; try a larger timeout_s or smaller caps"
                raise _LogFailed(msg)
        else:
            finished = True
    finally:
        if finished:
            resp.release_conn()
        else:
            resp.close()
    return b"".join(chunks)


def _keep_newest(body: bytes, max_lines: int) -> tuple[bytes, bool]:
    lines = body.splitlines(keepends=True)
    if len(lines) > max_lines:
        return b"".join(lines[len(lines) - max_lines :]), True
    return body, False


def _fetch_log(
    core: Any,
    task: _LogTask,
    *,
    since_s: int | None,
    max_lines: int,
    max_bytes: int,
    timeout_s: float,
) -> tuple[bytes, str | None]:
    """One container log, the newest lines within the caps: ``(body, cut_by)``.

    Asks for one line and one byte more than the caps, so that "cut by a cap" is known
    for sure. ``limitBytes`` keeps the *oldest* bytes of the answer; when it cuts, the
    request is repeated for as many of the newest lines as fitted. Raises
    :class:`_LogFailed` with a message safe to record.
    """
    errors = _transport_errors()
    tail = max_lines + 1
    cut_by: str | None = None
    body = b""
    for _attempt in range(BYTE_CAP_ATTEMPTS):
        kwargs: dict[str, Any] = {
            "container": task.container,
            "timestamps": True,
            "tail_lines": tail,
            "limit_bytes": max_bytes + 1,
            "previous": task.previous,
            "_preload_content": False,
            "_request_timeout": timeout_s,
        }
        if since_s is not None and not task.previous:  # previous logs: the crash may be a day old
            kwargs["since_seconds"] = since_s
        started = time.monotonic()
        try:
            resp = core.read_namespaced_pod_log(task.pod, task.namespace, **kwargs)
            body = _read_body(resp, limit=max_bytes, deadline=started + READ_DEADLINE_FACTOR * timeout_s)
        except _LogFailed:
            raise
        except errors as err:
            raise _LogFailed(_describe(err)) from err
        if len(body) <= max_bytes:
            break
        cut_by = "bytes"
        body = body[:max_bytes]
        whole = body.count(b"\n")
        if whole == 0:  # one line longer than the cap: keep its start
            break
        body = body[: body.rfind(b"\n") + 1]  # the partial last line limitBytes left
        tail = whole  # < tail: the lines that fitted; the newest ones may be longer, so loop
    body, by_lines = _keep_newest(body, max_lines)
    if by_lines and cut_by is None:
        cut_by = "lines"
    return body, cut_by


def _containers(pod: Mapping[str, Any]) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    """``(with a current log, with a previous log, [(never started, reason)])`` for one pod."""
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    names = [
        str(c.get("name"))
        for key in ("initContainers", "containers", "ephemeralContainers")
        for c in spec.get(key) or []
        if isinstance(c, Mapping) and c.get("name")
    ]
    statuses = {
        str(s.get("name")): s
        for key in ("initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses")
        for s in status.get(key) or []
        if isinstance(s, Mapping) and s.get("name")
    }
    current: list[str] = []
    skipped: list[tuple[str, str]] = []
    for name in names:
        st = statuses.get(name)
        state = (st or {}).get("state") or {}
        ran = bool((st or {}).get("restartCount")) or bool((st or {}).get("lastState")) or set(state) - {"waiting"}
        if st is not None and not ran:
            reason = (state.get("waiting") or {}).get("reason") or "not started"
            skipped.append((name, f"never started ({reason})"))
            continue
        current.append(name)
    previous = [n for n in names if int((statuses.get(n) or {}).get("restartCount") or 0) > 0]
    return current, previous, skipped


# --------------------------------------------------------------------------- collector
def kube(
    out: BundleWriter,
    *,
    namespaces: Sequence[str] = ("panda", "kube-system"),
    context: str | None = None,
    kubeconfig: str | None = None,
    since: str | None = "2h",
    max_lines: int = 20000,
    max_bytes: int = 10_000_000,
    workers: int = 4,
    timeout_s: float = 20.0,
    api_client: Any = None,
    on_progress: Callable[[int, int, str], None] | None = None,
) -> KubeResult:
    """Collect pods, events, jobs, services, endpoints and container logs into a bundle (read-only).

    Parameters
    ----------
    out
        The bundle being written; files go through its redaction hook, and its
        manifest gets ``"namespaces"`` and ``"kube"`` (server, context, since, caps,
        truncated logs, failures).
    namespaces
        Namespaces to read (default ``panda`` and the ingress controller's ``kube-system``).
    context, kubeconfig
        kubeconfig context and file (default: the current context of ``$KUBECONFIG`` /
        ``~/.kube/config``; with neither file nor arguments, the in-cluster service
        account). Ignored when ``api_client`` is given.
    since
        Window of *current* logs (``"2h"``, ``"30m"``; ``None`` for everything).
        Previous logs are never cut by it.
    max_lines, max_bytes
        Per-log caps; the newest lines are kept.
    workers
        Concurrent log requests.
    timeout_s
        Timeout of each request in seconds (see the module docstring).
    api_client
        A ready ``kubernetes.client.ApiClient`` (tests, or a caller with its own
        configuration); its own retry policy is used.
    on_progress
        Called as ``on_progress(done, total, text)`` after the lists and after each log.

    Returns
    -------
    KubeResult
        Counts, logs written, logs cut by the caps, and failures (also in the manifest).

    Raises
    ------
    CollectError
        When no configuration can be loaded, or the API server cannot be reached or
        rejects the credentials. Failures of single lists or logs are recorded instead.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import panda_analysis as pa
    >>> from panda_analysis.bundle import BundleWriter
    >>> from panda_analysis.serve import BundleServer
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> with BundleServer("sample:waiting_for_fiber") as server, BundleWriter(tmp / "evidence", redact=True) as out:
    ...     result = kube(out, kubeconfig=str(server.write_kubeconfig(tmp / "kubeconfig")), since="10m")
    >>> result.objects["pods"], result.previous_logs_written, result.failures
    (7, 1, [])
    >>> [f.code.value for f in pa.diagnose.crashloop(pa.load_bundle(tmp / "evidence").frames())]
    ['CRASHLOOP_DNS']
    """
    if max_lines < 1 or max_bytes < 1 or workers < 1:
        msg = f"max_lines, max_bytes and workers must be positive (got {max_lines}, {max_bytes}, {workers})"
        raise ValueError(msg)
    if not timeout_s > 0:
        msg = f"timeout_s must be positive, got {timeout_s!r}: every live request needs a timeout"
        raise ValueError(msg)
    since_s = _since_seconds(since)
    started = time.monotonic()
    kubernetes = _import_kubernetes()
    context_name: str | None
    if api_client is None:
        api_client, context_name = _load_client(kubernetes, context=context, kubeconfig=kubeconfig, workers=workers)
        own_client = True
    else:
        context_name, own_client = context, False
    wanted = list(dict.fromkeys(str(n) for n in namespaces))
    result = KubeResult(server=_server(api_client), context=context_name)
    try:
        _probe(kubernetes, api_client, result.server, timeout_s)
        apis = {"core": kubernetes.client.CoreV1Api(api_client), "batch": kubernetes.client.BatchV1Api(api_client)}
        lists = _list_all(apis, wanted, timeout_s, result)
        for stem, _group, _method, _api_version, _kind in KINDS:
            if stem in lists:
                out.add_json(
                    f"k8s/{stem}.json",
                    {"apiVersion": "v1", "kind": "List", "items": lists[stem], "metadata": {"resourceVersion": ""}},
                )
                result.objects[stem] = len(lists[stem])
        tasks = _log_tasks(lists.get("pods", []), result)
        if on_progress is not None:
            on_progress(0, len(tasks), f"kubernetes: listed {', '.join(f'{n} {k}' for k, n in result.objects.items())}")
        _collect_logs(
            out,
            apis["core"],
            tasks,
            since_s=since_s,
            max_lines=max_lines,
            max_bytes=max_bytes,
            workers=workers,
            timeout_s=timeout_s,
            result=result,
            on_progress=on_progress,
        )
    finally:
        if own_client:
            api_client.close()
        result.elapsed_s = time.monotonic() - started
        known = [str(n) for n in out.manifest.get("namespaces") or []]
        out.manifest["namespaces"] = list(dict.fromkeys([*known, *wanted]))
        out.manifest["kube"] = {
            "server": result.server,
            "context": result.context,
            "since": since,
            "caps": {"max_lines": max_lines, "max_bytes": max_bytes, "timeout_s": timeout_s, "workers": workers},
            "objects": dict(result.objects),
            "logs_written": result.logs_written,
            "previous_logs_written": result.previous_logs_written,
            "truncated": list(result.truncated),
            "skipped": list(result.skipped),
            "failures": list(result.failures),
        }
    log.info("%s", result.summary())
    return result


def _probe(kubernetes: Any, api_client: Any, server: str, timeout_s: float) -> None:
    """``GET /version``: raise CollectError when the API cannot be reached or refuses us."""
    try:
        resp = kubernetes.client.VersionApi(api_client).get_code(_preload_content=False, _request_timeout=timeout_s)
        _ = resp.data  # read to the end, so the pooled connection is clean for the next request
        resp.release_conn()
    except kubernetes.client.exceptions.ApiException as err:
        if err.status == 401:
            msg = (
                f"the Kubernetes API at {server} rejected the credentials ({_describe(err)}); "
                "check the kubeconfig user (`kubectl auth whoami`), or refresh the token / re-login"
            )
            raise CollectError(msg) from err
        if not err.status:  # status 0: TLS or transport failure the client wrapped
            msg = f"cannot talk to the Kubernetes API at {server}: {_describe(err)}; check the CA / certificates in the kubeconfig"
            raise CollectError(msg) from err
        log.debug("GET /version answered %s; going on (some clusters hide it)", err.status)
    except _transport_errors() as err:
        msg = (
            f"cannot reach the Kubernetes API at {server}: {_describe(err)}; "
            "check the kubeconfig context (`kubectl config current-context`), the VPN / network, "
            "and that `kubectl cluster-info` answers"
        )
        raise CollectError(msg) from err


def _list_all(
    apis: Mapping[str, Any], namespaces: Sequence[str], timeout_s: float, result: KubeResult
) -> dict[str, list[dict[str, Any]]]:
    """Every kind, every namespace, page by page; a failed list is recorded, not raised."""
    errors = _transport_errors()
    lists: dict[str, list[dict[str, Any]]] = {}
    for stem, group, method, api_version, kind in KINDS:
        listed = getattr(apis[group], method)
        for ns in namespaces:
            items: list[dict[str, Any]] = []
            token: str | None = None
            try:
                for _page in range(MAX_PAGES):
                    resp = listed(
                        ns, limit=PAGE_SIZE, _continue=token, _preload_content=False, _request_timeout=timeout_s
                    )
                    try:
                        doc = json.loads(resp.data)
                    finally:
                        resp.release_conn()
                    if not isinstance(doc, dict):
                        msg = f"list {stem} in {ns}: the API answered {type(doc).__name__}, not a list object"
                        raise ValueError(msg)
                    # list items lack kind / apiVersion: add them first, as kubectl prints them
                    items += [
                        {"apiVersion": api_version, "kind": kind, **i}
                        for i in doc.get("items") or []
                        if isinstance(i, dict)
                    ]
                    token = (doc.get("metadata") or {}).get("continue") or None
                    if token is None:
                        break
                else:
                    log.warning("list %s in %s: stopped after %d pages of %d", stem, ns, MAX_PAGES, PAGE_SIZE)
            except errors as err:
                result.failures.append(
                    {"what": f"list {stem}", "namespace": ns, "pod": None, "container": None, "error": _describe(err)}
                )
                if not items:
                    continue
            lists.setdefault(stem, []).extend(items)
    return lists


def _log_tasks(pods: Sequence[Mapping[str, Any]], result: KubeResult) -> list[_LogTask]:
    tasks: list[_LogTask] = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        ns, name = meta.get("namespace"), meta.get("name")
        if not ns or not name:
            continue
        current, previous, skipped = _containers(pod)
        tasks += [_LogTask(str(ns), str(name), c, previous=False) for c in current]
        tasks += [_LogTask(str(ns), str(name), c, previous=True) for c in previous]
        result.skipped += [{"namespace": str(ns), "pod": str(name), "container": c, "reason": r} for c, r in skipped]
    return tasks


def _collect_logs(
    out: BundleWriter,
    core: Any,
    tasks: Sequence[_LogTask],
    *,
    since_s: int | None,
    max_lines: int,
    max_bytes: int,
    workers: int,
    timeout_s: float,
    result: KubeResult,
    on_progress: Callable[[int, int, str], None] | None,
) -> None:
    """Fetch logs in a small pool; write them from this thread (the writer is not thread-safe)."""
    if not tasks:
        return
    done = 0
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="panda-kube-log") as pool:
        pending: dict[Future[tuple[bytes, str | None]], _LogTask] = {
            pool.submit(
                _fetch_log, core, t, since_s=since_s, max_lines=max_lines, max_bytes=max_bytes, timeout_s=timeout_s
            ): t
            for t in tasks
        }
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                task = pending.pop(fut)
                done += 1
                try:
                    body, cut_by = fut.result()
                except _LogFailed as err:
                    result.failures.append(
                        {
                            "what": task.what,
                            "namespace": task.namespace,
                            "pod": task.pod,
                            "container": task.container,
                            "error": str(err),
                        }
                    )
                    state = f"FAILED: {err}"
                else:
                    if body:
                        out.add_bytes(task.rel, body)
                        if task.previous:
                            result.previous_logs_written += 1
                        else:
                            result.logs_written += 1
                        if cut_by is not None:
                            result.truncated.append({"file": task.rel, "by": cut_by})
                        state = f"{len(body.splitlines())} lines"
                    else:
                        state = "empty"
                if on_progress is not None:
                    on_progress(
                        done,
                        len(tasks),
                        f"kubernetes: {task.what} {task.namespace}/{task.pod}/{task.container}: {state}",
                    )
    result.truncated.sort(key=lambda t: t["file"])
    result.failures.sort(key=lambda f: (str(f["what"]), str(f["namespace"]), str(f["pod"]), str(f["container"])))
