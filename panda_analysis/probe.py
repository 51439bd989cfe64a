"""The consumer-timing probe (seed 004) as an explicit, opt-in action that writes a bundle.

Everything else in panda_analysis only reads. This measurement has to *write*: it
configures one job on the Focus Server (``POST /configure``) and times how long the
platform takes to give it a consumer. DESIGN's "Live collection rules" for such an
action, and how :func:`consumer_probe` keeps them:

- **check first** (the seed 002 lesson: a client that configures while the fiber is
  "waiting for fiber" only feeds a retry storm): one ``GET /live_metadata``; if ``prr``
  or ``dx`` is not positive, the body says "waiting for fiber", or the request fails,
  :class:`ProbeRefused` is raised and nothing else is sent;
- **opt-in**: without ``yes=True`` (``--yes``) the probe only returns the plan;
- **one write, never retried**: exactly one ``POST /configure``, through a session that
  cannot resend it (checked before anything is sent; no redirects either); a failure
  is written down and ends the probe;
- **bounded**: ``GET /metadata/{job_id}`` at most every ``poll_interval_s`` (at least
  0.1 s) until it answers 200 or ``deadline_s`` passes; optional Kubernetes and RabbitMQ
  observations at most once a second.

The bundle it writes reads like any other: ``pa.diagnose.consumer_stages`` shows the
``configure`` (the POST, recorded as a ``job_metadata`` line without a status, so it is
the job's first poll) and ``metadata_ready`` stages, and ``pa.diagnose.consumer`` judges
them (``CONSUMER_SLOW`` beyond 30 s). Timestamps come from one monotonic clock anchored
to UTC once, so a wall-clock step during the probe cannot distort the timings.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from panda_analysis.errors import CollectError

if TYPE_CHECKING:
    import requests

    from panda_analysis.bundle import BundleWriter

__all__ = [
    "DEFAULT_CONFIGURATION",
    "MIN_POLL_INTERVAL_S",
    "ProbeRefused",
    "ProbeResult",
    "consumer_probe",
]

log = logging.getLogger(__name__)

#: The job configuration of seed 002's test clients (display height 200, channels 11-109,
#: frequencies up to 1000 Hz), as ``POST /configure`` takes it.
DEFAULT_CONFIGURATION: Mapping[str, Any] = {
    "displayTimeAxisDuration": 30,
    "nfftSelection": 1024,
    "displayInfo": {"height": 200},
    "channels": {"min": 11, "max": 109},
    "frequencyRange": {"min": 0, "max": 1000},
    "start": None,
    "end": None,
    "view_type": "0",
}
#: The fastest the probe polls ``/metadata/{job_id}`` (seed 004 polls every 100 ms).
MIN_POLL_INTERVAL_S = 0.1
#: The fastest it lists Kubernetes objects or takes RabbitMQ snapshots.
AUX_INTERVAL_S = 1.0
#: Longest a probe may be told to wait.
MAX_DEADLINE_S = 900.0


class ProbeRefused(CollectError):
    """The probe did not start: the Focus Server's live metadata is not ready (or unreadable).

    Attributes
    ----------
    reason
        Why, e.g. ``prr is 0.0 (not positive); sw_version says "waiting for fiber"``.
    result
        The :class:`ProbeResult` (status ``"refused"``).
    """

    def __init__(self, msg: str, *, reason: str, result: ProbeResult):
        super().__init__(msg)
        self.reason = reason
        self.result = result


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What :func:`consumer_probe` did and measured.

    Attributes
    ----------
    status
        ``"refused"`` (metadata not ready, nothing sent), ``"plan"`` (no ``yes``, nothing
        sent), ``"configure_failed"`` (the one POST failed), ``"ready"`` (``/metadata``
        answered 200) or ``"timeout"`` (not ready by the deadline).
    url
        The Focus Server base URL, password redacted.
    job_id
        The job the POST created (None before / without one).
    configured_at, ready_at
        UTC ISO times the POST was sent and the first 200 poll was sent.
    configure_s
        How long ``POST /configure`` took to answer (seed 004: 0.2-0.5 s).
    ready_s
        Seconds from sending the POST to the first poll answered 200; None when not
        ready by the deadline.
    polls
        ``GET /metadata/{job_id}`` requests sent.
    configure_status
        HTTP status of the POST (None: no answer, or not sent).
    refused
        Why the probe refused to start (status ``"refused"``).
    plan
        What the probe would do (status ``"plan"``), or did.
    error
        What went wrong (configure failure, last poll error).
    live_metadata
        The ``/live_metadata`` body of the readiness check.
    """

    status: str
    url: str
    job_id: str | None = None
    configured_at: str | None = None
    ready_at: str | None = None
    configure_s: float | None = None
    ready_s: float | None = None
    polls: int = 0
    configure_status: int | None = None
    refused: str | None = None
    plan: str | None = None
    error: str | None = None
    live_metadata: Any = None

    @property
    def ready(self) -> bool:
        """Did the job's metadata answer 200 before the deadline?"""
        return self.status == "ready"


def _post_may_repeat(s: Any, url: str) -> str | None:
    """Why ``s`` might send a POST to ``url`` twice (None when it cannot).

    urllib3 retries a POST on "other" errors whatever the method, and on read errors and
    statuses when its ``allowed_methods`` admit POST; connect errors are retried for any
    method too, but then nothing reached the server. A session without adapters (a test
    double) cannot be checked and is trusted.
    """
    get_adapter = getattr(s, "get_adapter", None)
    if get_adapter is None:
        return None
    retry = getattr(get_adapter(url), "max_retries", None)
    if retry is None or not hasattr(retry, "allowed_methods"):
        return None
    if retry.total == 0 or retry.total is False:
        return None
    methods = retry.allowed_methods
    if not methods or "POST" in {str(m).upper() for m in methods}:
        return f"its Retry allows POST to be retried (allowed_methods={methods!r})"
    if retry.other is None or retry.other:
        return f"its Retry retries other errors for any method (other={retry.other!r})"
    return None


def _anchor(clock: Callable[[], float]) -> Callable[[float], str]:
    """``at(t)``: the UTC ISO time of clock reading ``t`` (one wall reading, then the clock)."""
    t0 = clock()
    wall0 = datetime.now(UTC)

    def at(t: float) -> str:
        return (wall0 + timedelta(seconds=t - t0)).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    return at


def _plan(
    shown: str,
    configuration: Mapping[str, Any],
    deadline_s: float,
    poll_s: float,
    namespace: str,
    *,
    kube: bool,
    rabbit: bool,
) -> str:
    polls = int(deadline_s / poll_s) + 1
    text = (
        f"would send ONE POST {shown}/configure with {json.dumps(dict(configuration), separators=(',', ':'))} "
        f"(never retried), then GET {shown}/metadata/<job_id> every {poll_s:g} s until it answers 200 "
        f"or {deadline_s:g} s pass (at most {polls} polls)"
    )
    extras = []
    if kube:
        extras.append(f"list the job's Kubernetes Job, pods and events in namespace {namespace}")
    if rabbit:
        extras.append("take RabbitMQ management snapshots")
    if extras:
        text += f", and {' and '.join(extras)} at most every {max(poll_s, AUX_INTERVAL_S):g} s"
    return text + "; the live metadata is ready. Run again with yes=True (--yes) to do it."


# --------------------------------------------------------------------------- Kubernetes


def _as_json(value: Any) -> Any:
    """A Kubernetes client answer as API JSON: raw (``_preload_content=False``), dict, or model."""
    if isinstance(value, Mapping):
        return dict(value)
    data = getattr(value, "data", None)
    if isinstance(data, bytes | str):
        return json.loads(data)
    from kubernetes.client import ApiClient  # a model object: serialise it as the API would

    return ApiClient().sanitize_for_serialization(value)


def _kube_call(apis: Sequence[Any], method: str, namespace: str) -> dict[str, Any] | None:
    for api in apis:
        fn = getattr(api, method, None)
        if fn is not None:
            answer = _as_json(fn(namespace, _preload_content=False, _request_timeout=5))
            return answer if isinstance(answer, dict) else None
    return None


def _mine(obj: Mapping[str, Any], job_id: str, names: set[str]) -> bool:
    """Is a pod / Job this job's? By label ``job_id``, the Job name, or ``grpc-job-<id>-<suffix>``."""
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    name = str(meta.get("name") or "")
    if str(labels.get("job_id", "")) == job_id:
        return True
    if labels.get("job-name") in names or labels.get("batch.kubernetes.io/job-name") in names:
        return True
    return name in names or name.startswith(f"grpc-job-{job_id}-")


class _Kube:
    """Keeps the newest version of the job's Job, pods and the events about them."""

    def __init__(self, apis: Sequence[Any], namespace: str, job_id: str):
        self.apis, self.namespace, self.job_id = apis, namespace, job_id
        self.names = {f"grpc-job-{job_id}"}
        self.lists: dict[str, dict[str, Any]] = {}
        self.items: dict[str, dict[str, dict[str, Any]]] = {"pods": {}, "jobs": {}, "events": {}}
        self.errors: list[str] = []

    def observe(self) -> None:
        for part, method in (
            ("jobs", "list_namespaced_job"),
            ("pods", "list_namespaced_pod"),
            ("events", "list_namespaced_event"),
        ):
            try:
                answer = _kube_call(self.apis, method, self.namespace)
            except Exception as err:  # noqa: BLE001 - any client failure is recorded; the timing goes on
                self.errors.append(f"{method}: {type(err).__name__}: {err}"[:300])
                continue
            if answer is None:
                continue
            self.lists.setdefault(part, {k: v for k, v in answer.items() if k != "items"})
            for item in answer.get("items") or []:
                if not isinstance(item, dict):
                    continue
                meta = item.get("metadata") or {}
                key = str(meta.get("uid") or meta.get("name"))
                if part == "events":
                    involved = item.get("involvedObject") or {}
                    if involved.get("name") not in self.names | set(self.items["pods"]):
                        continue
                elif not _mine(item, self.job_id, self.names):
                    continue
                if part == "jobs":
                    self.names.add(str(meta.get("name")))
                if part == "pods":
                    key = str(meta.get("name"))
                self.items[part][key] = item

    def write(self, out: BundleWriter) -> None:
        kinds = {"pods": ("v1", "PodList"), "jobs": ("batch/v1", "JobList"), "events": ("v1", "EventList")}
        for part, (version, kind) in kinds.items():
            if part not in self.lists:
                continue
            head = {"apiVersion": version, "kind": kind, "metadata": {}, **self.lists[part]}
            out.add_json(f"k8s/{part}.json", {**head, "items": list(self.items[part].values())})


# --------------------------------------------------------------------------- the probe


def consumer_probe(
    out: BundleWriter | None,
    *,
    focus_url: str,
    configuration: Mapping[str, Any] | None = None,
    deadline_s: float = 60.0,
    poll_interval_s: float = 0.5,
    verify: bool | str = True,
    yes: bool = False,
    session: requests.Session | None = None,
    kube_api: Any = None,
    namespace: str = "panda",
    rabbit: Callable[[], Mapping[str, Any]] | None = None,
    timeout_s: float = 10.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> ProbeResult:
    """Configure one job and time its consumer (seed 004), writing the timings into a bundle.

    1. ``GET /live_metadata``; not ready (``prr`` missing or not positive, ``dx`` not
       positive, "waiting for fiber") or unreadable → :class:`ProbeRefused`, nothing else
       is sent;
    2. without ``yes``: return the plan (status ``"plan"``), send and write nothing more;
    3. exactly one ``POST /configure`` with ``configuration``; a non-2xx answer, no
       answer or no ``job_id`` ends the probe (status ``"configure_failed"``), never a
       retry;
    4. ``GET /metadata/{job_id}`` at most every ``poll_interval_s`` until 200 or
       ``deadline_s`` after the POST (``kube_api`` and ``rabbit`` observed alongside, at
       most once a second, and once more when ready);
    5. write ``http/focus/live_metadata.jsonl`` (the check), ``http/focus/job_metadata.jsonl``
       (the POST as a line without status, then every poll), ``k8s/{jobs,pods,events}.json``
       and ``rabbitmq/snapshots.jsonl`` when those sources were given, and
       ``manifest["probe"]``.

    Parameters
    ----------
    out
        The bundle to write (also for a refusal: the check and ``manifest["probe"]``);
        None writes nothing.
    focus_url
        The Focus Server base, e.g. ``https://10.10.10.100/focus-server``.
    configuration
        The ``POST /configure`` body; default :data:`DEFAULT_CONFIGURATION`.
    deadline_s
        Longest wait for the consumer after the POST, seconds (0 < d ≤ 900).
    poll_interval_s
        Least time between two ``/metadata`` polls; raised to 0.1 s if smaller.
    verify
        TLS verification: True, False (``--insecure``) or a CA bundle path.
    yes
        Really configure a job. Without it the probe only checks and plans.
    session
        A ``requests.Session`` (tests inject one). It must not be able to resend a POST
        (checked: ValueError otherwise). Default: a
        :func:`panda_analysis.collect._http.session` without retries (polling is the
        retry), closed at the end.
    kube_api
        Optional Kubernetes API object(s) with ``list_namespaced_job`` /
        ``list_namespaced_pod`` / ``list_namespaced_event`` (a ``CoreV1Api`` and a
        ``BatchV1Api`` as a tuple), read in ``namespace``; the job's objects are kept.
    namespace
        Namespace of the job's pods (default ``panda``).
    rabbit
        Optional callable returning a management snapshot ``{"overview", "queues",
        "consumers"}`` (bodies as the API returns them).
    timeout_s
        Timeout of each request (never beyond the deadline by more than a second).
    clock, sleep
        Monotonic clock and sleep (tests pass a fake pair to run a 35 s scenario at once).

    Returns
    -------
    ProbeResult

    Raises
    ------
    ProbeRefused
        The live metadata is not ready or could not be read; nothing was configured.
    ValueError
        Bad arguments, or a session that could resend the POST.

    Examples
    --------
    Without ``yes`` nothing is configured (needs a reachable Focus Server):

    >>> import panda_analysis as pa
    >>> plan = pa.probe.consumer_probe(None, focus_url="https://10.10.10.100/focus-server")  # doctest: +SKIP
    >>> plan.status  # doctest: +SKIP
    'plan'
    """
    from panda_analysis.collect import _focus_api, _http

    if not 0 < deadline_s <= MAX_DEADLINE_S:
        msg = f"deadline_s must be more than 0 and at most {MAX_DEADLINE_S:g} seconds, got {deadline_s!r}"
        raise ValueError(msg)
    poll_s = max(float(poll_interval_s), MIN_POLL_INTERVAL_S)
    config = dict(DEFAULT_CONFIGURATION if configuration is None else configuration)
    base = _focus_api.base_url(focus_url)
    shown = _http.redact_url(base)
    apis: list[Any] = []
    if kube_api is not None:
        apis = list(kube_api) if isinstance(kube_api, list | tuple) else [kube_api]

    own = session is None
    s = _http.session(verify=verify, retries=0, timeout_s=timeout_s) if session is None else session
    try:
        why = _post_may_repeat(s, f"{base}/configure")
        if why is not None:
            msg = f"the session could send POST /configure more than once: {why}; use _http.session() or Retry(0)"
            raise ValueError(msg)
        return _run(
            out,
            s,
            base=base,
            shown=shown,
            config=config,
            deadline_s=deadline_s,
            poll_s=poll_s,
            verify=verify,
            yes=yes,
            apis=apis,
            namespace=namespace,
            rabbit=rabbit,
            timeout_s=timeout_s,
            clock=clock,
            sleep=sleep,
        )
    finally:
        if own:
            s.close()


def _run(
    out: BundleWriter | None,
    s: Any,
    *,
    base: str,
    shown: str,
    config: dict[str, Any],
    deadline_s: float,
    poll_s: float,
    verify: bool | str,
    yes: bool,
    apis: list[Any],
    namespace: str,
    rabbit: Callable[[], Mapping[str, Any]] | None,
    timeout_s: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> ProbeResult:
    from panda_analysis.collect import _focus_api

    at = _anchor(clock)
    settings = {"url": shown, "configuration": config, "deadline_s": deadline_s, "poll_interval_s": poll_s}

    # 1. is the system ready? (seed 002: configuring while "waiting for fiber" only feeds a storm)
    t = clock()
    status, body, error = _focus_api.request(s, "GET", f"{base}/live_metadata", verify=verify, timeout_s=timeout_s)
    check = _focus_api.probe_line(at(t), status, body, error)
    reason: str | None
    if error is not None or status is None:
        reason = f"GET /live_metadata failed: {error}"
    elif not 200 <= status < 300:
        reason = f"GET /live_metadata answered HTTP {status}"
    else:
        reason = _focus_api.not_ready_reason(body)
    if reason is not None:
        result = ProbeResult(status="refused", url=shown, refused=reason, live_metadata=body)
        if out is not None:
            out.add_jsonl(_focus_api.LIVE_METADATA, [check])
            out.manifest["probe"] = {**settings, "status": "refused", "reason": reason}
        msg = (
            f"Focus Server at {shown}: live metadata is not ready ({reason}); the consumer probe did not "
            "configure anything. Wait until GET /live_metadata shows prr > 0 (see runbooks/fiber_metadata.md#waiting-for-fiber)."
        )
        raise ProbeRefused(msg, reason=reason, result=result)

    plan = _plan(shown, config, deadline_s, poll_s, namespace, kube=bool(apis), rabbit=rabbit is not None)
    # 2. opt-in only
    if not yes:
        log.info("consumer probe (dry run): %s", plan)
        return ProbeResult(status="plan", url=shown, plan=plan, live_metadata=body)

    # 3. exactly one POST /configure, never retried
    log.warning("consumer probe: configuring ONE job on %s", shown)
    sent = clock()
    c_status, c_body, c_error = _focus_api.request(
        s, "POST", f"{base}/configure", verify=verify, timeout_s=timeout_s, json_body=config
    )
    answered = clock()
    configure_s = round(answered - sent, 3)
    raw_id = c_body.get("job_id") if isinstance(c_body, dict) else None
    job_id = str(raw_id) if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) and str(raw_id) else None
    common: dict[str, Any] = {
        "url": shown,
        "configured_at": at(sent),
        "configure_s": configure_s,
        "configure_status": c_status,
    }
    lines: list[dict[str, Any]] = []
    if c_error is not None or c_status is None or not 200 <= c_status < 300 or job_id is None:
        if c_error is not None:
            failure = f"POST /configure failed: {c_error}"
        elif c_status is None or not 200 <= c_status < 300:
            detail = c_body.get("detail") if isinstance(c_body, dict) else c_body
            failure = f"POST /configure answered HTTP {c_status}" + (f": {detail}" if detail else "")
        else:
            failure = f"POST /configure answered HTTP {c_status} without a job_id: {c_body!r}"[:500]
        log.error("consumer probe: %s; not retried", failure)
        result = ProbeResult(
            status="configure_failed", job_id=job_id, plan=plan, error=failure, live_metadata=body, **common
        )
        if out is not None:
            out.add_jsonl(_focus_api.LIVE_METADATA, [check])
            out.manifest["probe"] = {
                **settings,
                **common,
                "job_id": job_id,
                "status": "configure_failed",
                "error": failure,
                "configure_body": c_body,
                "ready_at": None,
                "ready_s": None,
                "polls": 0,
            }
        return result

    # The POST as the job's first metadata line: no status (it is not a GET answer, and a 2xx
    # would read as "metadata ready"), the configure answer as body. The consumer diagnosis
    # takes the first line of a job as its configure time.
    lines.append(
        {
            "at": at(sent),
            "job_id": job_id,
            "status": None,
            "body": c_body,
            "request": "POST /configure",
            "configure_status": c_status,
            "configure_s": configure_s,
        }
    )

    # 4. poll, bounded
    kube = _Kube(apis, namespace, job_id) if apis else None
    snapshots: list[dict[str, Any]] = []
    aux_errors: list[str] = []

    def observe() -> None:
        if kube is not None:
            kube.observe()
        if rabbit is not None:
            t_snap = clock()
            try:
                snap = dict(rabbit())
            except Exception as err:  # noqa: BLE001 - any source failure is recorded; the timing goes on
                aux_errors.append(f"rabbit: {type(err).__name__}: {err}"[:300])
                return
            snap.setdefault("at", at(t_snap))
            snapshots.append(snap)

    deadline_at = sent + deadline_s
    next_aux = answered
    polls = 0
    ready_t: float | None = None
    last_error: str | None = None
    url = f"{base}/metadata/{quote(job_id, safe='')}"
    while True:
        now = clock()
        if now > deadline_at:
            break
        if (kube is not None or rabbit is not None) and now >= next_aux:
            observe()
            next_aux = now + max(poll_s, AUX_INTERVAL_S)
        t = clock()
        remaining = deadline_at - t
        p_status, p_body, p_error = _focus_api.request(
            s, "GET", url, verify=verify, timeout_s=max(0.5, min(timeout_s, remaining + 1.0))
        )
        polls += 1
        lines.append(_focus_api.probe_line(at(t), p_status, p_body, p_error, job_id=job_id))
        last_error = p_error
        if p_status is not None and 200 <= p_status < 300:
            ready_t = t
            break
        next_poll = t + poll_s
        if next_poll > deadline_at:
            break
        sleep(max(0.0, next_poll - clock()))
    if ready_t is not None and (kube is not None or rabbit is not None):
        observe()  # the consumer exists now: one more look shows it attached

    ready_s = None if ready_t is None else round(ready_t - sent, 3)
    state = "ready" if ready_t is not None else "timeout"
    if state == "timeout":
        last_error = last_error or f"GET /metadata/{job_id} did not answer 200 within {deadline_s:g} s ({polls} polls)"
        log.warning("consumer probe: job %s not ready after %g s", job_id, deadline_s)
    result = ProbeResult(
        status=state,
        job_id=job_id,
        ready_at=None if ready_t is None else at(ready_t),
        ready_s=ready_s,
        polls=polls,
        plan=plan,
        error=None if state == "ready" else last_error,
        live_metadata=body,
        **common,
    )
    if out is not None:
        out.add_jsonl(_focus_api.LIVE_METADATA, [check])
        out.add_jsonl(_focus_api.JOB_METADATA, lines)
        if snapshots:
            out.add_jsonl("rabbitmq/snapshots.jsonl", snapshots)
        if kube is not None:
            kube.write(out)
            aux_errors += kube.errors
        out.manifest["probe"] = {
            **settings,
            **common,
            "job_id": job_id,
            "status": state,
            "ready_at": result.ready_at,
            "ready_s": ready_s,
            "polls": polls,
            "error": result.error,
            "source_errors": aux_errors[:20],
        }
    return result
