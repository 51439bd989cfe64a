"""Consumer creation (seed 004): the stage timeline of every job, and the rule over it.

A configured job goes through ``configure`` (``POST /configure`` answered with a job id)
→ Kubernetes Job created → pod created → pod scheduled → image pulled → container started
→ queue ``grpc-job-<job_id>`` declared → consumer attached → first ``GET
/metadata/{job_id}`` answered 200. :func:`consumer_stages` puts each of those on one UTC
axis per job, from whichever evidence the bundle has (Focus logs, Kubernetes Jobs / pods /
events / container status, metadata polls, RabbitMQ snapshots, analyzer logs);
:func:`consumer` judges the timeline: ``POD_NOT_CREATED``, ``CONSUMER_NOT_CREATED``,
``CONSUMER_SLOW``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from panda_analysis._time import UTC_NS
from panda_analysis.diagnose._util import fmt_duration, fmt_time
from panda_analysis.findings import Code, Evidence, Finding, Severity
from panda_analysis.schema import Frames

__all__ = ["STAGES", "consumer", "consumer_stages"]

#: The stages of consumer creation, in order (seed 004).
STAGES: tuple[str, ...] = (
    "configure",
    "job_created",
    "pod_created",
    "pod_scheduled",
    "image_pulled",
    "container_started",
    "queue_declared",
    "consumer_attached",
    "metadata_ready",
)

#: How a stage reads in a sentence.
STAGE_LABELS: dict[str, str] = {
    "configure": "configure",
    "job_created": "Job created",
    "pod_created": "pod created",
    "pod_scheduled": "pod scheduled",
    "image_pulled": "image pulled",
    "container_started": "container started",
    "queue_declared": "queue declared",
    "consumer_attached": "consumer attached",
    "metadata_ready": "metadata ready",
}

_POD_STAGES = ("pod_created", "pod_scheduled", "image_pulled", "container_started")
# stages that can only happen once the job's container runs
_RUN_STAGES = ("queue_declared", "consumer_attached", "metadata_ready")

_STAGE_DTYPE = pd.CategoricalDtype(list(STAGES), ordered=True)
_COLUMNS: dict[str, Any] = {
    "job_id": "string",
    "stage": _STAGE_DTYPE,
    "ts": UTC_NS,
    "since_configure_s": "float64",
    "source": "string",
    "line_no": "Int64",
    "text": "string",
    "matched_by": "category",
    "pod": "string",
    "is_upper_bound": "boolean",
}

_CONFIGURED = re.compile(r"\bconfigured\b|\bcreating k8s job\b", re.I)
_CREATED_POD = re.compile(r"Created pod:\s*(\S+)")
_COMPONENT = "grpc-job"
_DEFAULT_NAMESPACE = "panda"


# --------------------------------------------------------------------------- helpers


def _null(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and value != value


def _bound(row: Mapping[str, Any]) -> bool:
    value = row.get("is_upper_bound")
    return False if _null(value) else bool(value)


def _str(value: Any) -> str | None:
    return None if _null(value) else str(value)


def _job_key(job_id: str) -> tuple[tuple[int, Any], ...]:
    """Natural order of job ids: ``19-5`` < ``19-6`` < ``19-10``."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[-_.]", job_id))


def _pattern_match(job_id: str, pod: str) -> bool:
    """``grpc-job-<job_id>-<suffix>`` with a one-word suffix (``grpc-job-19-5-cj8hc``)."""
    prefix = f"grpc-job-{job_id}-"
    return pod.startswith(prefix) and re.fullmatch(r"[a-z0-9]+", pod[len(prefix) :]) is not None


def _labels(value: Any) -> dict[str, Any]:
    if _null(value):
        return {}
    try:
        parsed = json.loads(str(value))
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _evidence_end(frames: Frames) -> pd.Timestamp | None:
    """The latest time any evidence speaks for: the newest ``ts`` of any frame, or ``created_at``."""
    times = [frames.created_at]
    for _, df in frames.items():
        if len(df) and "ts" in df.columns:
            times.append(df["ts"].max())
    valid: list[pd.Timestamp] = [pd.Timestamp(t) for t in times if not _null(t)]
    return max(valid) if valid else None


def _snapshot_start(frames: Frames) -> pd.Timestamp | None:
    """Time of the first RabbitMQ snapshot: anything seen in it may have happened earlier."""
    times = [df["ts"].min() for df in (frames.queues, frames.consumers, frames.rabbitmq_overview) if len(df)]
    valid = [t for t in times if not _null(t)]
    return min(valid) if valid else None


def _candidate(
    job_id: str,
    stage: str,
    row: Mapping[str, Any],
    *,
    ts: Any = None,
    text: str,
    matched_by: str | None = None,
    pod: str | None = None,
    bound: bool = False,
    priority: int = 0,
) -> dict[str, Any]:
    when = row.get("ts") if ts is None else ts
    line_no: Any = row.get("line_no")
    return {
        "job_id": job_id,
        "stage": stage,
        "ts": when,
        "source": _str(row.get("source")) or "?",
        "line_no": None if _null(line_no) else int(line_no),
        "text": text,
        "matched_by": matched_by,
        "pod": pod,
        "is_upper_bound": bound,
        "priority": priority,
    }


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return df.to_dict("records") if len(df) else []


# --------------------------------------------------------------------------- the stage table


def _job_ids(frames: Frames) -> list[str]:
    focus = frames.focus
    configure = focus[focus["job_id"].notna() & focus["message"].fillna("").str.contains(_CONFIGURED)]
    ids: set[str] = set()
    for series in (
        configure["job_id"],
        frames.jobs["job_id"],
        frames.pods["job_id"],
        frames.queues["job_id"],
        frames.job_metadata["job_id"],
        frames.analyzer["job_id"],
    ):
        ids.update(str(v) for v in series.dropna().unique())
    return sorted(ids, key=_job_key)


def _job_names(frames: Frames, job_id: str) -> set[str]:
    jobs = frames.jobs
    names = {str(n) for n in jobs.loc[jobs["job_id"] == job_id, "job_name"].dropna()}
    return names | {f"grpc-job-{job_id}"}


def _match_pods(frames: Frames, job_id: str, job_names: set[str]) -> dict[str, str]:
    """Pods of a job → how they matched: ``label`` (``job_id``), ``name`` (Job name), ``pattern``."""
    matched: dict[str, str] = {}
    for row in _records(frames.pods):
        pod = _str(row.get("pod"))
        if pod is None:
            continue
        if str(_labels(row.get("labels")).get("job_id", "")) == job_id:
            matched[pod] = "label"
        elif _str(row.get("job_name")) in job_names or (
            _str(row.get("owner_kind")) == "Job" and _str(row.get("owner_name")) in job_names
        ):
            matched[pod] = "name"
        elif _pattern_match(job_id, pod):
            matched[pod] = "pattern"
    # the Job controller names its pods in events: "Created pod: grpc-job-19-5-cj8hc"
    events = frames.events
    for row in _records(events[(events["object_kind"] == "Job") & events["object_name"].isin(job_names)]):
        m = _CREATED_POD.search(str(row.get("message") or ""))
        if m and m.group(1) not in matched:
            matched[m.group(1)] = "name"
    # pods known only from events or container status (deleted since): the name pattern
    for pod in pd.concat([events["pod"].astype("string"), frames.restarts["pod"].astype("string")]).dropna().unique():
        if str(pod) not in matched and _pattern_match(job_id, str(pod)):
            matched[str(pod)] = "pattern"
    return matched


def _configure(frames: Frames, job_id: str) -> list[dict[str, Any]]:
    focus = frames.focus
    lines = focus[(focus["job_id"] == job_id) & focus["message"].fillna("").str.contains(_CONFIGURED)]
    out = [_candidate(job_id, "configure", r, text=str(r["message"])) for r in _records(lines)]
    if out:
        return out
    polls = frames.job_metadata[frames.job_metadata["job_id"] == job_id]
    if len(polls):
        first = polls.sort_values("ts", kind="stable").iloc[0].to_dict()
        if pd.isna(first["status"]) and pd.isna(first.get("error")):  # the consumer probe's own POST record
            text = f"POST /configure for job {job_id} sent by the consumer probe (its first line for the job)"
        else:
            status = "no answer" if pd.isna(first["status"]) else first["status"]
            text = f"first GET /metadata/{job_id} poll ({status}); no configure line, first poll taken as configure"
        return [_candidate(job_id, "configure", first, text=text)]
    jobs = frames.jobs[frames.jobs["job_id"] == job_id]
    if len(jobs):
        first = jobs.sort_values("ts", kind="stable").iloc[0].to_dict()
        text = f"Job {first['job_name']} created; no configure line or metadata poll, Job creation taken as configure"
        return [_candidate(job_id, "configure", first, text=text)]
    return []


def _k8s(frames: Frames, job_id: str, job_names: set[str], pods: dict[str, str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    jobs = frames.jobs
    for r in _records(jobs[jobs["job_id"] == job_id]):
        counts = ", ".join(f"{k} {0 if _null(r.get(k)) else int(r[k])}" for k in ("active", "succeeded", "failed"))
        out.append(_candidate(job_id, "job_created", r, text=f"Job {r['job_name']} created ({counts})"))
    for r in _records(frames.pods[frames.pods["pod"].astype("string").isin(list(pods))]):
        pod = str(r["pod"])
        how = pods[pod]
        out.append(
            _candidate(
                job_id, "pod_created", r, text=f"pod {pod} created (phase {r['phase']})", matched_by=how, pod=pod
            )
        )
        if not _null(r.get("scheduled_at")):
            out.append(
                _candidate(
                    job_id,
                    "pod_scheduled",
                    r,
                    ts=r["scheduled_at"],
                    matched_by=how,
                    pod=pod,
                    text=f"pod {pod} PodScheduled condition True",
                )
            )
    events = frames.events
    for r in _records(events[(events["object_kind"] == "Job") & events["object_name"].isin(job_names)]):
        m = _CREATED_POD.search(str(r.get("message") or ""))
        if str(r.get("reason")) == "SuccessfulCreate" and m:
            pod = m.group(1)
            out.append(
                _candidate(
                    job_id,
                    "pod_created",
                    r,
                    text=f"Job {r['object_name']}: {r['message']}",
                    matched_by=pods.get(pod, "name"),
                    pod=pod,
                    priority=1,
                )
            )
    pod_events = events[events["object_name"].astype("string").isin(list(pods)) & (events["object_kind"] == "Pod")]
    stage_of = {"Scheduled": "pod_scheduled", "Pulled": "image_pulled", "Started": "container_started"}
    for r in _records(pod_events):
        stage = stage_of.get(str(r.get("reason")))
        if stage is None:
            continue
        pod = str(r["object_name"])
        out.append(
            _candidate(
                job_id,
                stage,
                r,
                text=f"{r['reason']} pod/{pod}: {r['message']}",
                matched_by=pods[pod],
                pod=pod,
                priority=1,
            )
        )
    restarts = frames.restarts
    mine = restarts[restarts["pod"].astype("string").isin(list(pods)) & ~restarts["is_init"].fillna(False).astype(bool)]
    for r in _records(mine):
        pod = str(r["pod"])
        for column in ("started_at", "last_started_at"):
            if not _null(r.get(column)):
                text = f"container {r['container']} of pod {pod} started ({column.replace('_', ' ')})"
                out.append(
                    _candidate(
                        job_id,
                        "container_started",
                        r,
                        ts=r[column],
                        text=text,
                        matched_by=pods[pod],
                        pod=pod,
                        priority=2,
                    )
                )
    return out


def _rabbit(frames: Frames, job_id: str, start: pd.Timestamp | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    queue = f"grpc-job-{job_id}"

    def bound(ts: Any) -> bool:
        return start is not None and not _null(ts) and ts <= start

    queues = frames.queues[frames.queues["job_id"] == job_id].sort_values("ts", kind="stable")
    if len(queues):
        r = queues.iloc[0].to_dict()
        out.append(
            _candidate(
                job_id,
                "queue_declared",
                r,
                bound=bound(r["ts"]),
                priority=1,
                text=f"snapshot: queue {r['queue']} exists ({r['consumer_count']} consumers)",
            )
        )
    attached = queues[queues["consumer_count"].fillna(0) >= 1]
    if len(attached):
        r = attached.iloc[0].to_dict()
        out.append(
            _candidate(
                job_id,
                "consumer_attached",
                r,
                bound=bound(r["ts"]),
                priority=1,
                text=f"snapshot: queue {r['queue']} has {r['consumer_count']} consumer(s)",
            )
        )
    consumers = frames.consumers
    mine = consumers[(consumers["job_id"] == job_id) | (consumers["queue"].astype("string") == queue)]
    if len(mine):
        r = mine.sort_values("ts", kind="stable").iloc[0].to_dict()
        out.append(
            _candidate(
                job_id,
                "consumer_attached",
                r,
                bound=bound(r["ts"]),
                priority=1,
                text=f"snapshot: consumer {r['consumer_tag']} on {r['queue']} from {r['connection']}",
            )
        )
    analyzer = frames.analyzer
    for event, stage in (("queue_declared", "queue_declared"), ("consumer_started", "consumer_attached")):
        rows = analyzer[(analyzer["event"] == event) & ((analyzer["job_id"] == job_id) | (analyzer["queue"] == queue))]
        out.extend(_candidate(job_id, stage, r, text=str(r["message"]), pod=_str(r.get("pod"))) for r in _records(rows))
    return out


def _metadata(frames: Frames, job_id: str) -> list[dict[str, Any]]:
    polls = frames.job_metadata
    ok = polls[(polls["job_id"] == job_id) & polls["status"].between(200, 299)]
    out = [
        _candidate(
            job_id, "metadata_ready", r, text=f"GET /metadata/{job_id} → {r['status']} {r['body'] or ''}".strip()
        )
        for r in _records(ok)
    ]
    if (polls["job_id"] == job_id).any():
        return out
    # no client-side polls for this job: the Focus access log's 2xx answer is the evidence
    focus = frames.focus
    access = focus[
        (focus["kind"] == "access")
        & (focus["job_id"] == job_id)
        & (focus["route"].astype("string").fillna("").str.endswith("/metadata/{job_id}"))
        & focus["status"].between(200, 299)
    ]
    out.extend(_candidate(job_id, "metadata_ready", r, text=str(r["message"]), priority=1) for r in _records(access))
    return out


def _empty_stages() -> pd.DataFrame:
    return _conform(pd.DataFrame({c: [] for c in _COLUMNS}))


def _conform(df: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(index=pd.RangeIndex(len(df)))
    for column, dtype in _COLUMNS.items():
        values = df[column].reset_index(drop=True) if column in df.columns else pd.Series([None] * len(df))
        if isinstance(dtype, pd.CategoricalDtype):  # (an ordered dtype also == "category")
            out[column] = values.astype("string").astype(dtype)
        elif dtype == UTC_NS:
            out[column] = pd.to_datetime(values, utc=True).dt.as_unit("ns")
        elif dtype == "boolean":
            out[column] = values.astype("object").where(values.notna(), None).astype("boolean")
        elif dtype == "category":
            out[column] = values.astype("string").astype("category")
        else:
            out[column] = values.astype(dtype)
    return out


def consumer_stages(frames: Frames, *, job_id: str | None = None) -> pd.DataFrame:
    """The consumer-creation timeline: one row per job id and stage that has evidence.

    Stages (seed 004), in order: ``configure`` (Focus ``Job 19-5 configured, creating k8s job
    grpc-job-19-5``; else the job's first ``GET /metadata/{job_id}`` poll; else the Job's
    creation), ``job_created`` (the Kubernetes Job), ``pod_created`` (pod
    ``creationTimestamp`` or the Job's ``SuccessfulCreate`` event), ``pod_scheduled``
    (PodScheduled condition or ``Scheduled`` event), ``image_pulled`` (``Pulled`` event),
    ``container_started`` (``Started`` event or container ``startedAt``), ``queue_declared``
    (first RabbitMQ snapshot listing ``grpc-job-<job_id>`` or the analyzer's ``Declared
    queue``), ``consumer_attached`` (first snapshot with a consumer on it, or the analyzer's
    ``Consumer started``) and ``metadata_ready`` (first 2xx ``GET /metadata/{job_id}`` poll;
    the Focus access log's 2xx answer only when the bundle has no polls of that job). When several sources have a stage the earliest wins.

    Job ids are those of Focus configure lines, Jobs, pods, per-job queues, metadata polls
    and analyzer logs. Pods belong to a job by their ``job_id`` label (``label``), their
    Job's name (``name``: ``job-name`` label, owner reference, or the Job's ``Created pod``
    event) or the name pattern ``grpc-job-<job_id>-<suffix>`` (``pattern``).

    Parameters
    ----------
    frames
        Parsed frames of one bundle.
    job_id
        Keep only the jobs whose id contains this text (``"19-6"``); ``None`` or ``""``: all.

    Returns
    -------
    pandas.DataFrame
        Sorted by job id (natural order) and stage:

        ==================  =============================================================
        column              meaning
        ==================  =============================================================
        job_id              job id (``19-5``)
        stage               ordered categorical, ``configure`` … ``metadata_ready``
        ts                  when the stage happened (earliest evidence), UTC
        since_configure_s   seconds since the job's ``configure`` (NaN without one)
        source, line_no     where the evidence is (file and line, or JSON pointer)
        text                the evidence, quoted or described
        matched_by          ``label`` / ``name`` / ``pattern`` for pod stages, else null
        pod                 the pod the evidence is about, if any
        is_upper_bound      ``ts`` is only an upper bound: the stage was already visible in
                            the first RabbitMQ snapshot, so it may have happened earlier
        ==================  =============================================================

    Examples
    --------
    >>> import panda_analysis as pa
    >>> stages = pa.diagnose.consumer_stages(pa.samples.consumer_slow().frames())
    >>> job = stages[stages["job_id"] == "19-6"]
    >>> print(job[["stage", "since_configure_s", "matched_by"]].round(3).to_string(index=False))
                stage  since_configure_s matched_by
            configure              0.000       <NA>
          job_created              0.000       <NA>
          pod_created              3.000       name
        pod_scheduled              3.000       name
         image_pulled              5.000       name
    container_started              6.000       name
       queue_declared              8.000       <NA>
    consumer_attached             40.982       <NA>
       metadata_ready             41.087       <NA>
    """
    candidates: list[dict[str, Any]] = []
    start = _snapshot_start(frames)
    for job in _job_ids(frames):
        names = _job_names(frames, job)
        pods = _match_pods(frames, job, names)
        candidates += _configure(frames, job)
        candidates += _k8s(frames, job, names, pods)
        candidates += _rabbit(frames, job, start)
        candidates += _metadata(frames, job)
    if not candidates:
        return _empty_stages()
    df = pd.DataFrame(candidates)
    df["ts"] = pd.to_datetime(df["ts"], utc=True).dt.as_unit("ns")
    df = df[df["ts"].notna()]
    # earliest evidence per stage; on a tie, exact before upper bound, then source priority
    df = df.sort_values(["ts", "is_upper_bound", "priority"], kind="stable")
    df = df.drop_duplicates(["job_id", "stage"], keep="first")
    configure = df[df["stage"] == "configure"].set_index("job_id")["ts"]
    df["since_configure_s"] = (df["ts"] - df["job_id"].map(configure)).dt.total_seconds()
    df["job_key"] = df["job_id"].map(_job_key)
    df["stage_no"] = df["stage"].map(STAGES.index)
    df = df.sort_values(["job_key", "stage_no"], kind="stable")
    if job_id:
        df = df[df["job_id"].astype("string").str.contains(str(job_id), regex=False, na=False).astype(bool)]
    return _conform(df)


# --------------------------------------------------------------------------- the rule


def _quote(row: Mapping[str, Any]) -> Evidence:
    return Evidence.from_row(dict(row), text=str(row.get("text") or ""))


def _steps(rows: pd.DataFrame) -> list[tuple[str, str, float]]:
    """(from stage, to stage, seconds) between consecutive exactly-timed stages."""
    exact = rows[~rows["is_upper_bound"].fillna(False).astype(bool)]
    out = []
    previous: tuple[str, pd.Timestamp] | None = None
    for r in _records(exact):
        if previous is not None:
            out.append((previous[0], str(r["stage"]), max((r["ts"] - previous[1]).total_seconds(), 0.0)))
        if previous is None or r["ts"] >= previous[1]:
            previous = (str(r["stage"]), r["ts"])
    return out


def _namespace(frames: Frames, pods: Iterable[str], job_id: str) -> str:
    for df, column in ((frames.pods, "pod"), (frames.events, "object_name")):
        rows = df[df[column].astype("string").isin(list(pods))]
        if len(rows) and not _null(rows["namespace"].iloc[0]):
            return str(rows["namespace"].iloc[0])
    jobs = frames.jobs[frames.jobs["job_id"] == job_id]
    if len(jobs) and not _null(jobs["namespace"].iloc[0]):
        return str(jobs["namespace"].iloc[0])
    focus = frames.focus["namespace"].dropna()
    return str(focus.iloc[0]) if len(focus) else _DEFAULT_NAMESPACE


def _rabbit_pod(frames: Frames) -> tuple[str, str]:
    pods = frames.pods
    rabbit = pods[
        pods["pod"].astype("string").str.startswith("rabbitmq")
        | pods["app"].astype("string").fillna("").str.contains("rabbitmq")
    ]
    if len(rabbit):
        return str(rabbit["namespace"].iloc[0]), str(rabbit["pod"].iloc[0])
    log = frames.rabbitmq_log.dropna(subset=["pod"])
    if len(log):
        return str(log["namespace"].iloc[0]), str(log["pod"].iloc[0])
    return _DEFAULT_NAMESPACE, "rabbitmq-panda-0"


def _focus_url(frames: Frames, namespace: str) -> str:
    services = frames.services
    focus = services[services["service"].astype("string").str.contains("focus", na=False)]
    if len(focus):
        row = focus.iloc[0]
        port = re.search(r":(\d+)/", str(row["ports"] or ""))
        return f"http://{row['service']}.{row['namespace']}:{port.group(1) if port else 80}"
    return f"http://panda-focus-server.{namespace}:5000"


def _container(frames: Frames, pod: str | None) -> str | None:
    if pod is None:
        return None
    rows = frames.restarts[
        (frames.restarts["pod"].astype("string") == pod) & ~frames.restarts["is_init"].fillna(False).astype(bool)
    ]
    return str(rows["container"].iloc[0]) if len(rows) else None


def _fmt_s(seconds: float) -> str:
    return f"{seconds:.1f} s"


def _fmt_limit(seconds: float) -> str:
    return f"{seconds:g} s"


def _stage_evidence(rows: pd.DataFrame, stages: Iterable[str]) -> tuple[Evidence, ...]:
    out: list[Evidence] = []
    seen: set[str] = set()
    for stage in stages:
        hit = rows[rows["stage"] == stage]
        if len(hit) and stage not in seen:
            seen.add(stage)
            out.append(_quote(hit.iloc[0].to_dict()))
    return tuple(out[:5])


def _warning_events(frames: Frames, names: Iterable[str]) -> pd.DataFrame:
    events = frames.events
    return events[(events["type"] == "Warning") & events["object_name"].astype("string").isin(list(names))]


def _event_quotes(df: pd.DataFrame, limit: int) -> list[Evidence]:
    return [
        Evidence.from_row(r, text=f"{r['type']} {r['reason']} {r['object_kind']}/{r['object_name']}: {r['message']}")
        for r in _records(df.sort_values("ts", kind="stable").head(limit))
    ]


def consumer(
    frames: Frames,
    *,
    pod_within_s: float = 10.0,
    consumer_within_s: float = 30.0,
    stage_thresholds: dict[str, float] | None = None,
) -> list[Finding]:
    """Judge every job's consumer creation: pod missing, consumer missing, or slow.

    Reads the timeline of :func:`consumer_stages`. For each job with a ``configure`` time:

    - ``POD_NOT_CREATED`` (critical): no pod evidence at all (no pod, pod event or
      container status matched to the job, the Job reports no active / succeeded / failed
      pod, and nothing shows the job's container running: no queue, consumer or analyzer
      line), and the evidence reaches at least ``pod_within_s`` past configure. Not judged
      when the bundle holds no Kubernetes evidence (pods, events and Jobs all empty).
    - ``CONSUMER_NOT_CREATED`` (critical): the pod exists (or its container ran) but
      neither ``consumer_attached`` nor ``metadata_ready`` happened, and the evidence
      reaches at least ``consumer_within_s`` past configure. The summary names the last
      stage reached and the first one missing (e.g. stuck before ``container_started``).
    - ``CONSUMER_SLOW`` (warning): the consumer became ready (first 2xx ``GET
      /metadata/{job_id}``, else the consumer attached), but configure → pod took more
      than ``pod_within_s``, configure → ready more than ``consumer_within_s``, or a step
      more than its ``stage_thresholds`` entry. The summary names the slowest step.

    "The evidence reaches" means the newest ``ts`` of any frame, or the bundle's
    ``created_at``: a bundle collected too early to tell yields nothing. Stages seen only
    in the first RabbitMQ snapshot (already there when observation began) have no exact
    time and are not timed.

    Parameters
    ----------
    frames
        Parsed frames of one bundle.
    pod_within_s
        Seconds from configure within which a pod should exist (seed 004: 1-10 s).
        Default 10.0.
    consumer_within_s
        Seconds from configure within which the consumer should be ready (seed 004: the
        test waits 30 s). Default 30.0.
    stage_thresholds
        Optional ``{stage: seconds}``: the longest acceptable step *into* that stage from
        the previous stage with evidence, e.g. ``{"consumer_attached": 20.0}``. Stage
        names are those of :data:`STAGES`. Default None (no per-step limits).

    Returns
    -------
    list[Finding]
        Codes ``POD_NOT_CREATED``, ``CONSUMER_NOT_CREATED``, ``CONSUMER_SLOW``; component
        ``grpc-job``; subject the job id. Empty when every job was ready in time.

    Examples
    --------
    >>> import panda_analysis as pa
    >>> found = pa.diagnose.consumer(pa.samples.consumer_slow().frames())
    >>> [(str(f.code), str(f.severity), f.subject) for f in found]
    [('CONSUMER_SLOW', 'warning', '19-6')]
    >>> found[0].summary
    'job 19-6: consumer ready 41.1 s after configure (threshold 30 s); slowest stage: queue declared → consumer attached, 33.0 s'
    >>> pa.diagnose.consumer(pa.samples.healthy().frames())
    []
    """
    limits = dict(stage_thresholds or {})
    unknown = sorted(set(limits) - set(STAGES))
    if unknown:
        msg = f"stage_thresholds has unknown stages {unknown}; stages are {list(STAGES)}"
        raise ValueError(msg)
    stages = consumer_stages(frames)
    if stages.empty:
        return []
    end = _evidence_end(frames)
    has_k8s = bool(len(frames.pods) or len(frames.events) or len(frames.jobs))
    out: list[Finding] = []
    for job_id, rows in stages.groupby("job_id", sort=False, observed=True):
        job = str(job_id)
        rows = rows.reset_index(drop=True)
        by_stage = {str(r["stage"]): r for r in _records(rows)}
        conf = by_stage.get("configure")
        if conf is None:
            continue
        finding = _judge(
            frames,
            job,
            rows,
            by_stage,
            end=end,
            has_k8s=has_k8s,
            pod_within_s=pod_within_s,
            consumer_within_s=consumer_within_s,
            limits=limits,
        )
        if finding is not None:
            out.append(finding)
    return out


def _judge(
    frames: Frames,
    job: str,
    rows: pd.DataFrame,
    by_stage: dict[str, dict[str, Any]],
    *,
    end: pd.Timestamp | None,
    has_k8s: bool,
    pod_within_s: float,
    consumer_within_s: float,
    limits: dict[str, float],
) -> Finding | None:
    conf = by_stage["configure"]
    configured_at: pd.Timestamp = conf["ts"]
    seen_s = (end - configured_at).total_seconds() if end is not None else 0.0
    names = _job_names(frames, job)
    jobs = frames.jobs[frames.jobs["job_id"] == job]
    job_name = str(jobs["job_name"].iloc[0]) if len(jobs) else f"grpc-job-{job}"
    pod_rows = rows[rows["pod"].notna()]
    pod = str(pod_rows["pod"].iloc[0]) if len(pod_rows) else None
    namespace = _namespace(frames, [pod] if pod else [], job)
    ready = by_stage.get("metadata_ready") or by_stage.get("consumer_attached")
    pod_stage = next((by_stage[s] for s in _POD_STAGES if s in by_stage), None)
    job_has_pods = bool(len(jobs) and (jobs[["active", "succeeded", "failed"]].fillna(0).to_numpy().sum() > 0))
    ran = any(s in by_stage for s in _RUN_STAGES) or bool(len(frames.analyzer[frames.analyzer["job_id"] == job]))
    common = {"component": _COMPONENT, "subject": job, "first_seen": configured_at}

    if pod_stage is None and not job_has_pods and not ran:
        if not has_k8s or seen_s < pod_within_s:
            return None
        state = f"Job {job_name} exists but reports no pod" if len(jobs) else f"no Kubernetes Job {job_name} either"
        summary = (
            f"job {job}: no pod {fmt_duration(seen_s)} after configure at {fmt_time(configured_at)} "
            f"(threshold {_fmt_limit(pod_within_s)}); {state}"
        )
        quotes = [_quote(conf)]
        if "job_created" in by_stage:
            quotes.append(_quote(by_stage["job_created"]))
        quotes += _event_quotes(_warning_events(frames, names), 5 - len(quotes))
        focus_pod = frames.focus["pod"].dropna()
        steps = [
            f"kubectl -n {namespace} describe job {job_name}",
            f"kubectl -n {namespace} get events --field-selector involvedObject.name={job_name} --sort-by=.lastTimestamp",
        ]
        if len(focus_pod):
            steps.append(f"kubectl -n {namespace} logs {focus_pod.iloc[0]} --timestamps | grep -e '{job}' -e ERROR")
        steps.append(f"kubectl -n {namespace} get resourcequota,limitrange")
        return Finding(
            code=Code.POD_NOT_CREATED,
            severity=Severity.CRITICAL,
            title="Pod not created for job",
            summary=summary,
            last_seen=end,
            evidence=tuple(quotes),
            next_steps=tuple(steps),
            metrics={
                "job_id": job,
                "configured_at": configured_at,
                "observed_s": round(seen_s, 3),
                "pod_within_s": pod_within_s,
                "job_exists": bool(len(jobs)),
            },
            **common,
        )

    rabbit_ns, rabbit = _rabbit_pod(frames)
    queue = f"grpc-job-{job}"
    container = _container(frames, pod)
    logs_cmd = (
        f"kubectl -n {namespace} logs {pod}{f' -c {container}' if container else ''} --timestamps"
        if pod
        else f"kubectl -n {namespace} logs job/{job_name} --timestamps"
    )
    metadata_cmd = f"curl -s -w ' %{{http_code}}\\n' {_focus_url(frames, namespace)}/metadata/{job}"
    rabbit_cmd = (
        f"kubectl -n {rabbit_ns} exec {rabbit} -- rabbitmqctl list_queues name messages_ready consumers | grep {queue}"
    )

    if ready is None:
        if seen_s < consumer_within_s:
            return None
        reached = rows[rows["stage"] != "configure"]
        last = reached.iloc[-1].to_dict() if len(reached) else conf
        last_stage = str(last["stage"])
        missing = STAGE_LABELS[STAGES[STAGES.index(last_stage) + 1]]
        where = f"pod {pod}" if pod else f"Job {job_name}"
        summary = (
            f"job {job}: no consumer {fmt_duration(seen_s)} after configure (threshold "
            f"{_fmt_limit(consumer_within_s)}); {where} reached {STAGE_LABELS[last_stage]} at "
            f"+{_fmt_s(float(last['since_configure_s']))}, then no {missing}"
        )
        quotes = [_quote(conf), *(_quote(r) for r in _records(reached.tail(2)))]
        quotes += _event_quotes(_warning_events(frames, [*names, *([pod] if pod else [])]), 5 - len(quotes))
        steps = [
            logs_cmd,
            f"kubectl -n {namespace} describe pod {pod}" if pod else f"kubectl -n {namespace} describe job {job_name}",
            rabbit_cmd,
            metadata_cmd,
        ]
        return Finding(
            code=Code.CONSUMER_NOT_CREATED,
            severity=Severity.CRITICAL,
            title="Consumer not created for job",
            summary=summary,
            last_seen=end,
            evidence=tuple(quotes[:5]),
            next_steps=tuple(steps),
            metrics={
                "job_id": job,
                "pod": pod or "",
                "configured_at": configured_at,
                "observed_s": round(seen_s, 3),
                "last_stage": last_stage,
                "last_stage_s": float(last["since_configure_s"]),
                "missing_stage": missing,
                "consumer_within_s": consumer_within_s,
            },
            **common,
        )

    # the consumer became ready: was any stage slow?
    ready_s = None if _bound(ready) else float(ready["since_configure_s"])
    pod_s = None
    pod_label = ""
    if pod_stage is not None and not _bound(pod_stage):
        pod_s = float(pod_stage["since_configure_s"])
        pod_label = STAGE_LABELS[str(pod_stage["stage"])]
    steps_s = _steps(rows)
    slow_steps = [(a, b, s) for a, b, s in steps_s if b in limits and s > limits[b]]
    reasons = []
    if ready_s is not None and ready_s > consumer_within_s:
        reasons.append(f"consumer ready {_fmt_s(ready_s)} after configure (threshold {_fmt_limit(consumer_within_s)})")
    if pod_s is not None and pod_s > pod_within_s:
        reasons.append(f"{pod_label} {_fmt_s(pod_s)} after configure (threshold {_fmt_limit(pod_within_s)})")
    reasons += [
        f"{STAGE_LABELS[a]} → {STAGE_LABELS[b]} {_fmt_s(s)} (threshold {_fmt_limit(limits[b])})"
        for a, b, s in slow_steps
    ]
    if not reasons:
        return None
    if ready_s is not None and not any(r.startswith("consumer ready") for r in reasons):
        reasons.append(f"consumer ready {_fmt_s(ready_s)} after configure")
    slowest = max(steps_s, key=lambda step: step[2]) if steps_s else None
    summary = f"job {job}: " + "; ".join(reasons)
    if slowest is not None:
        summary += f"; slowest stage: {STAGE_LABELS[slowest[0]]} → {STAGE_LABELS[slowest[1]]}, {_fmt_s(slowest[2])}"
    quoted = ["configure"] + ([slowest[0], slowest[1]] if slowest else []) + [str(ready["stage"])]
    slow_end = slowest[1] if slowest else str(ready["stage"])
    if slow_end in _POD_STAGES or slow_end == "job_created":
        first_step = (
            f"kubectl -n {namespace} get events --field-selector involvedObject.name={pod or job_name} "
            f"--sort-by=.lastTimestamp"
        )
        steps = [
            first_step,
            f"kubectl -n {namespace} describe pod {pod}" if pod else f"kubectl -n {namespace} describe job {job_name}",
            logs_cmd,
        ]
    else:
        steps = [logs_cmd, f"kubectl -n {namespace} top pod {pod}" if pod else rabbit_cmd, rabbit_cmd, metadata_cmd]
    metrics: dict[str, Any] = {
        "job_id": job,
        "pod": pod or "",
        "configured_at": configured_at,
        "ready_at": ready["ts"],
        "ready_s": ready_s,
        "pod_s": pod_s,
        "pod_within_s": pod_within_s,
        "consumer_within_s": consumer_within_s,
    }
    for stage in STAGES[1:]:
        if stage in by_stage and not _bound(by_stage[stage]):
            metrics[f"{stage}_s"] = round(float(by_stage[stage]["since_configure_s"]), 3)
    if slowest is not None:
        metrics |= {"slowest_from": slowest[0], "slowest_to": slowest[1], "slowest_s": round(slowest[2], 3)}
    return Finding(
        code=Code.CONSUMER_SLOW,
        severity=Severity.WARNING,
        title="Consumer creation slow",
        summary=summary,
        last_seen=ready["ts"],
        evidence=_stage_evidence(rows, quoted),
        next_steps=tuple(dict.fromkeys(steps)),
        metrics=metrics,
        **common,
    )
