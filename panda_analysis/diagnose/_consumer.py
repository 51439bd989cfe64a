"""Consumer creation (seed 004): the stage timeline of every job, and the rule over it.

A configured job goes through ``configure`` (``POST /configure`` answered with a job id)
→ Kubernetes Job created → pod created → pod scheduled → image pulled → container started
→ queue ``grpc-job-<job_id>`` declared → consumer attached → first ``GET
/metadata/{job_id}`` answered 200. :func:`consumer_stages` puts each of those on one UTC
axis per job, from whichever evidence the bundle has (Focus logs, Kubernetes Jobs / pods /
events / container status, metadata polls, RabbitMQ snapshots, analyzer logs);
:func:`consumer` judges the timeline: ``POD_NOT_CREATED``, ``CONSUMER_NOT_CREATED``,
``CONSUMER_SLOW``.

Shape (STYLE.md, after ``_alerts.alert_trace``): :func:`_select` cuts every frame once into
per-job and per-pod row lists (one pass or one vectorised mask per frame); the stage table
and the rule then read only a job's own rows. The rule is select (:class:`_Job`) → verdict
(:func:`_verdict`: the code and its numbers) → narration (:func:`_narrate`: summary,
evidence, next steps). ``benchmarks/rules_bench.py`` times it on 2,000 job pods.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from panda_analysis._time import UTC_NS
from panda_analysis.diagnose._util import (
    JOB_PREFIX,
    NAMESPACE,
    FocusServer,
    fmt_duration,
    fmt_time,
    focus_server,
    is_value,
    job_key,
    job_of_pod,
    rabbitmq_pod,
    records,
)
from panda_analysis.diagnose._util import job_name as _job_name
from panda_analysis.diagnose._util import missing as _null
from panda_analysis.diagnose._util import text as _str
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
# pod events that date a stage (kubelet / scheduler reasons)
_STAGE_OF_EVENT = {"Scheduled": "pod_scheduled", "Pulled": "image_pulled", "Started": "container_started"}
_POD_EVENTS = tuple(_STAGE_OF_EVENT)
_COMPONENT = "grpc-job"


# --------------------------------------------------------------------------- helpers


def _bound(row: Mapping[str, Any]) -> bool:
    value = row.get("is_upper_bound")
    return False if _null(value) else bool(value)


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


def _timed(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with a time, in time order (ties keep their order): evidence without a time dates nothing."""
    return sorted((r for r in rows if not _null(r.get("ts"))), key=lambda r: r["ts"])


def _text_col(df: pd.DataFrame, column: str) -> pd.Series:
    return df[column].astype("string")


# A row list keyed by job id, pod or object name; rows keep their frame position so that
# the rows of several keys (a job's pods, a job's names) can be merged back in frame order.
_Positioned = list[tuple[int, dict[str, Any]]]


def _grouped(df: pd.DataFrame, column: str) -> dict[str, _Positioned]:
    """Rows of ``df`` under their (non-null) ``column`` value, in frame order."""
    out: dict[str, _Positioned] = {}
    if not len(df):
        return out
    for pos, (key, row) in enumerate(zip(_text_col(df, column), records(df), strict=True)):
        if not _null(key):
            out.setdefault(str(key), []).append((pos, row))
    return out


def _merged(index: Mapping[str, _Positioned], keys: Iterable[str]) -> list[dict[str, Any]]:
    """The rows of every key, each once, in frame order."""
    hits = {pos: row for key in keys for pos, row in index.get(key, ())}
    return [hits[pos] for pos in sorted(hits)]


# --------------------------------------------------------------------------- select


@dataclass(frozen=True, slots=True)
class _Selection:
    """Every row the stage table and the rule read, cut once into per-job and per-pod lists.

    Built by :func:`_select` with one pass (or one vectorised mask) per frame; each job is
    then judged on its own few rows (issue #11: a whole-frame filter per job took minutes
    for 2,000 job pods).
    """

    job_ids: list[str]
    job_names: dict[str, set[str]]  # job id → Job names (and grpc-job-<id>)
    configure_lines: dict[str, list[dict[str, Any]]]  # Focus "Job <id> configured" lines
    polls: dict[str, list[dict[str, Any]]]  # GET /metadata/<id> polls, frame order
    jobs: dict[str, list[dict[str, Any]]]  # Kubernetes Jobs
    pods: dict[str, dict[str, str]]  # job id → {pod: label / name / pattern}
    pod_rows: dict[str, _Positioned]  # pods frame by pod name
    created_events: dict[str, _Positioned]  # Job SuccessfulCreate "Created pod: X" by Job name
    pod_events: dict[str, _Positioned]  # Scheduled / Pulled / Started by pod
    warning_events: dict[str, _Positioned]  # Warning events by object name
    event_namespace: dict[str, Any]  # object name → namespace of its first event
    restarts: dict[str, _Positioned]  # app container statuses by pod
    first_queue: dict[str, dict[str, Any]]  # job id → first snapshot of grpc-job-<id>
    first_attached: dict[str, dict[str, Any]]  # ... and the first with a consumer
    first_consumer: dict[str, dict[str, Any]]  # job id → first /api/consumers row on its queue
    analyzer: dict[tuple[str, str], list[dict[str, Any]]]  # (event, job id) → analyzer lines
    analyzer_jobs: set[str]  # job ids with any analyzer line
    access_ready: dict[str, list[dict[str, Any]]]  # Focus access 2xx GET /metadata/{job_id}
    snapshot_start: pd.Timestamp | None


def _select(frames: Frames) -> _Selection:
    # positions, not index labels, line rows up below (a hand-built frame may repeat labels)
    focus, jobs_df, pods_df, events, restarts, queues, consumers, analyzer, polls = (
        getattr(frames, name).reset_index(drop=True)
        for name in ("focus", "jobs", "pods", "events", "restarts", "queues", "consumers", "analyzer", "job_metadata")
    )
    with_job = focus[focus["job_id"].notna().to_numpy(dtype=bool)]  # the pattern is read only where a job is named
    configure = with_job[_text_col(with_job, "message").fillna("").str.contains(_CONFIGURED).astype(bool).to_numpy()]
    access = focus[
        is_value(focus["kind"], "access")
        & focus["job_id"].notna()
        & _text_col(focus, "route").fillna("").str.endswith("/metadata/{job_id}").astype(bool)
        & focus["status"].between(200, 299).fillna(False).astype(bool)
    ]
    # a busy Focus log answers tens of thousands of polls: keep only what a candidate reads
    access = access[[c for c in _EVIDENCE_COLUMNS if c in access.columns]]
    configure = configure[[c for c in _EVIDENCE_COLUMNS if c in configure.columns]]
    ids: set[str] = set()
    for series in (
        configure["job_id"],
        jobs_df["job_id"],
        pods_df["job_id"],
        queues["job_id"],
        polls["job_id"],
        analyzer["job_id"],
    ):
        ids.update(str(v) for v in series.dropna().unique())
    ids.discard("")  # an empty id names no job (and would match every pod without a job_id label)
    job_ids = sorted(ids, key=job_key)

    jobs = _grouped(jobs_df, "job_id")
    job_names = {job: {_job_name(job)} for job in job_ids}
    for job, rows in jobs.items():
        job_names[job] |= {str(r["job_name"]) for _, r in rows if not _null(r.get("job_name"))}
    jobs_named: dict[str, set[str]] = {}
    for job, names in job_names.items():
        for name in names:
            jobs_named.setdefault(name, set()).add(job)

    kind = _text_col(events, "object_kind")
    created = _text_col(events, "message").str.extract(_CREATED_POD, expand=False).astype("string")
    is_created = (kind == "Job").fillna(False).astype(bool) & created.notna()
    job_events = events[is_created].assign(_pod=created[is_created])
    pod_events = events[(kind == "Pod").fillna(False).astype(bool) & _text_col(events, "reason").isin(_POD_EVENTS)]
    app_restarts = restarts[~restarts["is_init"].fillna(False).astype(bool)]

    pods = _match_pods(
        pods_df,
        set(job_ids),
        jobs_named,
        created=list(zip(_text_col(job_events, "object_name"), job_events["_pod"], strict=True)),
        seen=pd.concat([_text_col(events, "pod"), _text_col(restarts, "pod")]).dropna().unique(),
    )
    created_events = _grouped(job_events[is_value(job_events["reason"], "SuccessfulCreate")], "object_name")
    # only the pods of some job become row lists (a big cluster lists 20,000 pods, most of them not jobs')
    matched = {pod for mine in pods.values() for pod in mine}

    in_time = queues.sort_values("ts", kind="stable")
    per_job = in_time[in_time["job_id"].notna()]
    first_queue = _first_by(per_job, "job_id")
    first_attached = _first_by(per_job[(per_job["consumer_count"].fillna(0) >= 1).to_numpy(dtype=bool)], "job_id")

    lines = analyzer[_text_col(analyzer, "event").isin(["queue_declared", "consumer_started"])]
    by_event: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for event in ("queue_declared", "consumer_started"):
        mine = lines[is_value(lines["event"], event)]
        index = _by_job_or_queue(mine)
        for job in job_ids:
            hits = _merged(index, (f"job:{job}", f"queue:{_job_name(job)}"))
            if hits:
                by_event[(event, job)] = hits

    return _Selection(
        job_ids=job_ids,
        job_names=job_names,
        configure_lines=_rows_of(_grouped(configure, "job_id")),
        polls=_rows_of(_grouped(polls, "job_id")),
        jobs=_rows_of(jobs),
        pods=pods,
        pod_rows=_grouped(_of_pods(pods_df, "pod", matched), "pod"),
        created_events=created_events,
        pod_events=_grouped(pod_events, "object_name"),
        warning_events=_grouped(events[is_value(events["type"], "Warning")], "object_name"),
        event_namespace={name: r.get("namespace") for name, r in _first_by(events, "object_name").items()},
        restarts=_grouped(_of_pods(app_restarts, "pod", matched), "pod"),
        first_queue=first_queue,
        first_attached=first_attached,
        first_consumer=_first_consumers(consumers),
        analyzer=by_event,
        analyzer_jobs={str(v) for v in analyzer["job_id"].dropna().unique()},
        access_ready=_rows_of(_grouped(access, "job_id")),
        snapshot_start=_snapshot_start(frames),
    )


#: The columns of a Focus line :func:`_candidate` and the stage texts read.
_EVIDENCE_COLUMNS = ("ts", "source", "line_no", "message", "job_id")


def _of_pods(df: pd.DataFrame, column: str, pods: set[str]) -> pd.DataFrame:
    """The rows of ``df`` whose ``column`` names one of ``pods`` (frame order kept)."""
    return df[_text_col(df, column).isin(pods).fillna(False).to_numpy(dtype=bool)]


def _rows_of(index: Mapping[str, _Positioned]) -> dict[str, list[dict[str, Any]]]:
    return {key: [row for _, row in rows] for key, rows in index.items()}


def _first_by(df: pd.DataFrame, column: str) -> dict[str, dict[str, Any]]:
    """The first row of ``df`` (already in the wanted order) per non-null ``column`` value."""
    keys = _text_col(df, column)
    first = df[(keys.notna() & ~keys.duplicated()).to_numpy(dtype=bool)]
    return dict(zip(_text_col(first, column).astype(str), records(first), strict=True))


def _by_job_or_queue(df: pd.DataFrame) -> dict[str, _Positioned]:
    """Rows under ``job:<job_id>`` and ``queue:<queue>`` (a row may name a job either way)."""
    out: dict[str, _Positioned] = {}
    if not len(df):
        return out
    rows = zip(_text_col(df, "job_id"), _text_col(df, "queue"), records(df), strict=True)
    for pos, (job, queue, row) in enumerate(rows):
        if not _null(job):
            out.setdefault(f"job:{job}", []).append((pos, row))
        if not _null(queue):
            out.setdefault(f"queue:{queue}", []).append((pos, row))
    return out


def _first_consumers(consumers: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Job id → the earliest consumer row with that ``job_id`` or on queue ``grpc-job-<id>``."""
    if not len(consumers):
        return {}
    queue = _text_col(consumers, "queue")
    by_queue = queue.str.slice(len(JOB_PREFIX)).where(queue.str.startswith(JOB_PREFIX).fillna(False).astype(bool))
    consumers = consumers.reset_index(drop=True)
    pos = pd.Series(range(len(consumers)))
    keyed = pd.concat(
        [
            pd.DataFrame({"key": _text_col(consumers, "job_id"), "pos": pos, "ts": consumers["ts"]}),
            pd.DataFrame({"key": by_queue.reset_index(drop=True), "pos": pos, "ts": consumers["ts"]}),
        ],
        ignore_index=True,
    )
    keyed = keyed[keyed["key"].notna()].drop_duplicates(["key", "pos"])
    # earliest first, ties (and rows without a time, last) in frame order: a stable sort by ts
    first = keyed.sort_values(["ts", "pos"], kind="stable").drop_duplicates("key")
    rows = records(consumers.iloc[[int(p) for p in first["pos"]]])  # only the first row of each job
    return {str(k): row for k, row in zip(first["key"], rows, strict=True)}


def _match_pods(
    pods: pd.DataFrame,
    job_ids: set[str],
    jobs_named: Mapping[str, set[str]],
    *,
    created: list[tuple[Any, Any]],
    seen: Iterable[Any],
) -> dict[str, dict[str, str]]:
    """Pods of each job → how they matched: ``label`` (``job_id``), ``name`` (Job name), ``pattern``.

    A pod row belongs to the job of its ``job_id`` label, to the jobs whose Job name it
    carries (``job-name`` label or owner reference) and to the job its name spells; the
    strongest way wins per job, a later row of the same pod overrides an earlier one.
    ``created`` are the (Job name, pod) pairs of the Jobs' ``Created pod`` events, ``seen``
    the pod names of events and container statuses.
    """
    matched: dict[str, dict[str, str]] = {job: {} for job in job_ids}
    if len(pods):
        rows = zip(
            _text_col(pods, "pod"),
            pods["labels"],
            _text_col(pods, "job_name"),
            _text_col(pods, "owner_kind"),
            _text_col(pods, "owner_name"),
            strict=True,
        )
        for pod, labels, job_name, owner_kind, owner_name in rows:
            if _null(pod):
                continue
            label = str(_labels(labels).get("job_id", "")) if "job_id" in str(labels) else ""
            by_name = set(jobs_named.get(str(job_name), ())) if not _null(job_name) else set()
            if not _null(owner_kind) and owner_kind == "Job" and not _null(owner_name):
                by_name |= jobs_named.get(str(owner_name), set())
            spelled = job_of_pod(str(pod)) or ""
            for job in {label, spelled, *by_name} & job_ids:
                if job == label:
                    matched[job][str(pod)] = "label"
                elif job in by_name:
                    matched[job][str(pod)] = "name"
                else:
                    matched[job][str(pod)] = "pattern"
    # the Job controller names its pods in events: "Created pod: grpc-job-19-5-cj8hc"
    for job_name, pod in created:
        for job in jobs_named.get(str(job_name), ()):
            matched[job].setdefault(str(pod), "name")
    # pods known only from events or container status (deleted since): the name pattern
    for pod in seen:
        from_name = job_of_pod(str(pod))
        if from_name is not None and from_name in job_ids:
            matched[from_name].setdefault(str(pod), "pattern")
    return matched


# --------------------------------------------------------------------------- the stage table


def _configure(sel: _Selection, job_id: str) -> list[dict[str, Any]]:
    lines = [r for r in sel.configure_lines.get(job_id, ()) if not _null(r.get("ts"))]
    if lines:
        return [_candidate(job_id, "configure", r, text=str(r["message"])) for r in lines]
    polls = _timed(sel.polls.get(job_id, ()))
    if polls:
        first = polls[0]
        if _null(first.get("status")) and _null(first.get("error")):  # the consumer probe's own POST record
            text = f"POST /configure for job {job_id} sent by the consumer probe (its first line for the job)"
        else:
            status = "no answer" if _null(first.get("status")) else first["status"]
            text = f"first GET /metadata/{job_id} poll ({status}); no configure line, first poll taken as configure"
        return [_candidate(job_id, "configure", first, text=text)]
    jobs = _timed(sel.jobs.get(job_id, ()))
    if jobs:
        first = jobs[0]
        text = f"Job {first['job_name']} created; no configure line or metadata poll, Job creation taken as configure"
        return [_candidate(job_id, "configure", first, text=text)]
    return []


def _k8s(sel: _Selection, job_id: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    pods = sel.pods.get(job_id, {})
    for r in sel.jobs.get(job_id, ()):
        counts = ", ".join(f"{k} {0 if _null(r.get(k)) else int(r[k])}" for k in ("active", "succeeded", "failed"))
        out.append(_candidate(job_id, "job_created", r, text=f"Job {r['job_name']} created ({counts})"))
    for r in _merged(sel.pod_rows, pods):
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
    for r in _merged(sel.created_events, sel.job_names.get(job_id, ())):
        pod = str(r["_pod"])
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
    for r in _merged(sel.pod_events, pods):
        pod = str(r["object_name"])
        out.append(
            _candidate(
                job_id,
                _STAGE_OF_EVENT[str(r["reason"])],
                r,
                text=f"{r['reason']} pod/{pod}: {r['message']}",
                matched_by=pods[pod],
                pod=pod,
                priority=1,
            )
        )
    for r in _merged(sel.restarts, pods):
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


def _rabbit(sel: _Selection, job_id: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    start = sel.snapshot_start

    def bound(ts: Any) -> bool:
        return start is not None and not _null(ts) and ts <= start

    r = sel.first_queue.get(job_id)
    if r is not None:
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
    r = sel.first_attached.get(job_id)
    if r is not None:
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
    r = sel.first_consumer.get(job_id)
    if r is not None:
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
    for event, stage in (("queue_declared", "queue_declared"), ("consumer_started", "consumer_attached")):
        out.extend(
            _candidate(job_id, stage, r, text=str(r["message"]), pod=_str(r.get("pod")))
            for r in sel.analyzer.get((event, job_id), ())
        )
    return out


def _metadata(sel: _Selection, job_id: str) -> list[dict[str, Any]]:
    polls = sel.polls.get(job_id, [])
    ok = [r for r in polls if not _null(r.get("status")) and 200 <= int(r["status"]) <= 299]
    out = [
        _candidate(
            job_id,
            "metadata_ready",
            r,
            text=f"GET /metadata/{job_id} → {r['status']} {_str(r.get('body')) or ''}".strip(),
        )
        for r in ok
    ]
    if polls:
        return out
    # no client-side polls for this job: the Focus access log's 2xx answer is the evidence
    out.extend(
        _candidate(job_id, "metadata_ready", r, text=str(r["message"]), priority=1)
        for r in sel.access_ready.get(job_id, ())
    )
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


def _stage_table(sel: _Selection, job_id: str | None = None) -> pd.DataFrame:
    candidates: list[dict[str, Any]] = []
    for job in sel.job_ids:
        candidates += _configure(sel, job)
        candidates += _k8s(sel, job)
        candidates += _rabbit(sel, job)
        candidates += _metadata(sel, job)
    if not candidates:
        return _empty_stages()
    df = pd.DataFrame(candidates)
    df["ts"] = pd.to_datetime(df["ts"], utc=True).dt.as_unit("ns")
    df = df[df["ts"].notna()]
    # earliest evidence per stage; on a tie, exact before upper bound, then source priority
    df = df.sort_values(["ts", "is_upper_bound", "priority"], kind="stable")
    df = df.drop_duplicates(["job_id", "stage"], keep="first")
    # a dict, not a Series, as the mapping: Series.map casts an empty Series mapper to float64,
    # which fails for datetimes (issue #11: no job with a configure in the window)
    conf = df[df["stage"] == "configure"]
    configured = dict(zip(conf["job_id"], conf["ts"], strict=True))
    origin = pd.Series([configured.get(j, pd.NaT) for j in df["job_id"]], index=df.index, dtype=UTC_NS)
    df["since_configure_s"] = (df["ts"] - origin).dt.total_seconds()
    df["job_key"] = df["job_id"].map(job_key)
    df["stage_no"] = df["stage"].map(STAGES.index)
    df = df.sort_values(["job_key", "stage_no"], kind="stable")
    if job_id:
        df = df[df["job_id"].astype("string").str.contains(str(job_id), regex=False, na=False).astype(bool)]
    return _conform(df)


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
    the Focus access log's 2xx answer only when the bundle has no polls of that job). When
    several sources have a stage the earliest wins. Evidence without a time dates nothing
    and is left out (a configure line without a time gives way to the first timed poll).
    A job seen without any configure evidence (configured before the collected window, or
    known only from its queue name) keeps its rows, with ``since_configure_s`` NaN.

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
    return _stage_table(_select(frames), job_id)


# --------------------------------------------------------------------------- the rule


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
    sel = _select(frames)
    stages = _stage_table(sel)
    if stages.empty:
        return []
    context = _context(frames)
    thresholds = _Thresholds(pod_within_s=pod_within_s, consumer_within_s=consumer_within_s, steps=limits)
    out: list[Finding] = []
    for job in _jobs(sel, stages):
        verdict = _verdict(job, context, thresholds)
        if verdict is not None:
            out.append(_narrate(verdict, sel, context))
    return out


# --------------------------------------------------------------------------- the rule: select


@dataclass(frozen=True, slots=True)
class _Thresholds:
    pod_within_s: float
    consumer_within_s: float
    steps: Mapping[str, float]  # stage → longest acceptable step into it


@dataclass(frozen=True, slots=True)
class _Context:
    """Facts of the bundle as a whole, looked up once per run."""

    end: pd.Timestamp | None  # the newest time the evidence speaks for
    has_k8s: bool  # any pod, event or Job at all
    focus: FocusServer  # its pod, namespace and Service (diagnose._util)
    rabbit: tuple[str, str]  # namespace, pod


@dataclass(frozen=True, slots=True)
class _Job:
    """One job's stage rows (stage order) and the facts about it the verdict needs."""

    job_id: str
    rows: list[dict[str, Any]]
    by_stage: dict[str, dict[str, Any]]
    job_name: str
    job_exists: bool
    job_has_pods: bool  # the Job reports an active / succeeded / failed pod
    analyzer_lines: bool  # the job's container wrote analyzer lines

    @property
    def configured_at(self) -> pd.Timestamp:
        return self.by_stage["configure"]["ts"]

    @property
    def pod(self) -> str | None:
        return next((str(r["pod"]) for r in self.rows if not _null(r.get("pod"))), None)

    @property
    def ready(self) -> dict[str, Any] | None:
        return self.by_stage.get("metadata_ready") or self.by_stage.get("consumer_attached")

    @property
    def pod_stage(self) -> dict[str, Any] | None:
        return next((self.by_stage[s] for s in _POD_STAGES if s in self.by_stage), None)


def _context(frames: Frames) -> _Context:
    return _Context(
        end=_evidence_end(frames),
        has_k8s=bool(len(frames.pods) or len(frames.events) or len(frames.jobs)),
        focus=focus_server(frames),
        rabbit=rabbitmq_pod(frames),
    )


def _jobs(sel: _Selection, stages: pd.DataFrame) -> Iterator[_Job]:
    """The jobs with a ``configure`` stage, in stage-table order, each with its own rows."""
    per_job: dict[str, list[dict[str, Any]]] = {}
    for row in records(stages):
        per_job.setdefault(str(row["job_id"]), []).append(row)
    for job_id, rows in per_job.items():
        by_stage = {str(r["stage"]): r for r in rows}
        if "configure" not in by_stage:
            continue  # no time to measure from (a queue or pod seen without its configure)
        jobs = sel.jobs.get(job_id, [])
        counts = [0 if _null(r.get(k)) else int(r[k]) for r in jobs for k in ("active", "succeeded", "failed")]
        yield _Job(
            job_id=job_id,
            rows=rows,
            by_stage=by_stage,
            job_name=(_str(jobs[0]["job_name"]) if jobs else None) or _job_name(job_id),
            job_exists=bool(jobs),
            job_has_pods=sum(counts) > 0,
            analyzer_lines=job_id in sel.analyzer_jobs,
        )


# --------------------------------------------------------------------------- the rule: verdict


@dataclass(frozen=True, slots=True)
class _Verdict:
    """What is wrong with one job, and the numbers that show it (no prose)."""

    code: Code
    job: _Job
    seen_s: float  # configure → end of evidence
    thresholds: _Thresholds
    row: dict[str, Any]  # the stage it turns on: configure (no pod), the last stage reached
    # (no consumer), the ready stage (slow)
    missing: str = ""  # CONSUMER_NOT_CREATED: the first stage missing after ``row``
    ready_s: float | None = None  # CONSUMER_SLOW: configure → ready (None: upper bound only)
    pod_s: float | None = None  # configure → first pod stage (None: none exactly timed)
    slow_steps: tuple[tuple[str, str, float], ...] = ()  # steps over their stage threshold
    slowest: tuple[str, str, float] | None = None  # the longest step


def _steps(rows: list[dict[str, Any]]) -> list[tuple[str, str, float]]:
    """(from stage, to stage, seconds) between consecutive exactly-timed stages.

    A stage stamped before the one it follows (clock skew between pods) is a step of 0 s,
    and the next step is measured from the later of the two.
    """
    out = []
    previous: tuple[str, pd.Timestamp] | None = None
    for r in rows:
        if _bound(r):
            continue
        if previous is not None:
            out.append((previous[0], str(r["stage"]), max((r["ts"] - previous[1]).total_seconds(), 0.0)))
        if previous is None or r["ts"] >= previous[1]:
            previous = (str(r["stage"]), r["ts"])
    return out


def _verdict(job: _Job, context: _Context, limits: _Thresholds) -> _Verdict | None:
    end = context.end
    seen_s = (end - job.configured_at).total_seconds() if end is not None else 0.0
    ran = any(s in job.by_stage for s in _RUN_STAGES) or job.analyzer_lines
    if job.pod_stage is None and not job.job_has_pods and not ran:
        if not context.has_k8s or seen_s < limits.pod_within_s:
            return None
        return _Verdict(Code.POD_NOT_CREATED, job, seen_s, limits, row=job.by_stage["configure"])

    ready = job.ready
    if ready is None:
        if seen_s < limits.consumer_within_s:
            return None
        reached = [r for r in job.rows if str(r["stage"]) != "configure"]
        last = reached[-1] if reached else job.by_stage["configure"]
        missing = STAGES[STAGES.index(str(last["stage"])) + 1]
        return _Verdict(Code.CONSUMER_NOT_CREATED, job, seen_s, limits, row=last, missing=missing)

    ready_s = None if _bound(ready) else float(ready["since_configure_s"])
    pod_stage = job.pod_stage
    pod_s = float(pod_stage["since_configure_s"]) if pod_stage is not None and not _bound(pod_stage) else None
    steps = _steps(job.rows)
    slow_steps = tuple((a, b, s) for a, b, s in steps if b in limits.steps and s > limits.steps[b])
    late = ready_s is not None and ready_s > limits.consumer_within_s
    pod_late = pod_s is not None and pod_s > limits.pod_within_s
    if not (late or pod_late or slow_steps):
        return None
    return _Verdict(
        Code.CONSUMER_SLOW,
        job,
        seen_s,
        limits,
        row=ready,
        ready_s=ready_s,
        pod_s=pod_s,
        slow_steps=slow_steps,
        slowest=max(steps, key=lambda step: step[2]) if steps else None,
    )


# --------------------------------------------------------------------------- the rule: narration


def _quote(row: Mapping[str, Any]) -> Evidence:
    return Evidence.from_row(dict(row), text=_str(row.get("text")) or "")


def _namespace(sel: _Selection, context: _Context, pod: str | None, job_id: str) -> str:
    if pod is not None:
        rows = sel.pod_rows.get(pod)
        if rows and not _null(rows[0][1].get("namespace")):
            return str(rows[0][1]["namespace"])
        if not _null(sel.event_namespace.get(pod)):
            return str(sel.event_namespace[pod])
    jobs = sel.jobs.get(job_id)
    if jobs and not _null(jobs[0].get("namespace")):
        return str(jobs[0]["namespace"])
    return context.focus.namespace or NAMESPACE


def _container(sel: _Selection, pod: str | None) -> str | None:
    rows = sel.restarts.get(pod) if pod is not None else None
    return str(rows[0][1]["container"]) if rows else None


def _fmt_s(seconds: float) -> str:
    return f"{seconds:.1f} s"


def _fmt_offset(seconds: float) -> str:
    """``+4.2 s`` after configure; ``-0.4 s`` for a stage stamped before it (clock skew)."""
    return f"{seconds:+.1f} s"


def _fmt_limit(seconds: float) -> str:
    return f"{seconds:g} s"


def _stage_evidence(rows: list[dict[str, Any]], stages: Iterable[str]) -> tuple[Evidence, ...]:
    by_stage = {str(r["stage"]): r for r in rows}
    picked = [by_stage[s] for s in dict.fromkeys(stages) if s in by_stage]
    return tuple(_quote(r) for r in picked[:5])


def _event_quotes(sel: _Selection, names: Iterable[str], limit: int) -> list[Evidence]:
    """The first ``limit`` Warning events (in time order) about any of ``names``."""
    rows = sorted(
        _merged(sel.warning_events, names), key=lambda r: (_null(r.get("ts")), 0 if _null(r.get("ts")) else r["ts"])
    )
    return [
        Evidence.from_row(r, text=f"{r['type']} {r['reason']} {r['object_kind']}/{r['object_name']}: {r['message']}")
        for r in rows[: max(limit, 0)]
    ]


def _narrate(verdict: _Verdict, sel: _Selection, context: _Context) -> Finding:
    job = verdict.job
    jid, job_name, pod = job.job_id, job.job_name, job.pod
    names = sel.job_names.get(jid, {_job_name(jid)})
    conf = job.by_stage["configure"]
    namespace = _namespace(sel, context, pod, jid)
    limits = verdict.thresholds
    common: dict[str, Any] = {"component": _COMPONENT, "subject": jid, "first_seen": job.configured_at}

    if verdict.code == Code.POD_NOT_CREATED:
        state = (
            f"Job {job_name} exists but reports no pod" if job.job_exists else f"no Kubernetes Job {job_name} either"
        )
        summary = (
            f"job {jid}: no pod {fmt_duration(verdict.seen_s)} after configure at {fmt_time(job.configured_at)} "
            f"(threshold {_fmt_limit(limits.pod_within_s)}); {state}"
        )
        quotes = [_quote(conf)]
        if "job_created" in job.by_stage:
            quotes.append(_quote(job.by_stage["job_created"]))
        quotes += _event_quotes(sel, names, 5 - len(quotes))
        steps = [
            f"kubectl -n {namespace} describe job {job_name}",
            f"kubectl -n {namespace} get events --field-selector involvedObject.name={job_name} --sort-by=.lastTimestamp",
        ]
        if context.focus.pod is not None:
            steps.append(f"kubectl -n {namespace} logs {context.focus.pod} --timestamps | grep -e '{jid}' -e ERROR")
        steps.append(f"kubectl -n {namespace} get resourcequota,limitrange")
        return Finding(
            code=Code.POD_NOT_CREATED,
            severity=Severity.CRITICAL,
            title="Pod not created for job",
            summary=summary,
            last_seen=context.end,
            evidence=tuple(quotes),
            next_steps=tuple(steps),
            metrics={
                "job_id": jid,
                "configured_at": job.configured_at,
                "observed_s": round(verdict.seen_s, 3),
                "pod_within_s": limits.pod_within_s,
                "job_exists": job.job_exists,
            },
            **common,
        )

    rabbit_ns, rabbit = context.rabbit
    queue = _job_name(jid)
    container = _container(sel, pod)
    logs_cmd = (
        f"kubectl -n {namespace} logs {pod}{f' -c {container}' if container else ''} --timestamps"
        if pod
        else f"kubectl -n {namespace} logs job/{job_name} --timestamps"
    )
    focus_url = context.focus.url(namespace)
    metadata_cmd = f"curl -s -w ' %{{http_code}}\\n' {focus_url}/metadata/{jid}"
    rabbit_cmd = (
        f"kubectl -n {rabbit_ns} exec {rabbit} -- rabbitmqctl list_queues name messages_ready consumers | grep {queue}"
    )
    describe = (
        f"kubectl -n {namespace} describe pod {pod}" if pod else f"kubectl -n {namespace} describe job {job_name}"
    )

    if verdict.code == Code.CONSUMER_NOT_CREATED:
        last, last_stage = verdict.row, str(verdict.row["stage"])
        where = f"pod {pod}" if pod else f"Job {job_name}"
        summary = (
            f"job {jid}: no consumer {fmt_duration(verdict.seen_s)} after configure (threshold "
            f"{_fmt_limit(limits.consumer_within_s)}); {where} reached {STAGE_LABELS[last_stage]} at "
            f"{_fmt_offset(float(last['since_configure_s']))}, then no {STAGE_LABELS[verdict.missing]}"
        )
        reached = [r for r in job.rows if str(r["stage"]) != "configure"]
        quotes = [_quote(conf), *(_quote(r) for r in reached[-2:])]
        quotes += _event_quotes(sel, [*names, *([pod] if pod else [])], 5 - len(quotes))
        return Finding(
            code=Code.CONSUMER_NOT_CREATED,
            severity=Severity.CRITICAL,
            title="Consumer not created for job",
            summary=summary,
            last_seen=context.end,
            evidence=tuple(quotes[:5]),
            next_steps=(logs_cmd, describe, rabbit_cmd, metadata_cmd),
            metrics={
                "job_id": jid,
                "pod": pod or "",
                "configured_at": job.configured_at,
                "observed_s": round(verdict.seen_s, 3),
                "last_stage": last_stage,
                "last_stage_s": float(last["since_configure_s"]),
                "missing_stage": STAGE_LABELS[verdict.missing],
                "consumer_within_s": limits.consumer_within_s,
            },
            **common,
        )

    # CONSUMER_SLOW: the consumer became ready, but late or through a slow step
    ready = verdict.row
    ready_s, pod_s, slowest = verdict.ready_s, verdict.pod_s, verdict.slowest
    reasons = []
    if ready_s is not None and ready_s > limits.consumer_within_s:
        reasons.append(
            f"consumer ready {_fmt_s(ready_s)} after configure (threshold {_fmt_limit(limits.consumer_within_s)})"
        )
    if pod_s is not None and pod_s > limits.pod_within_s:
        pod_label = STAGE_LABELS[str(job.pod_stage["stage"])] if job.pod_stage is not None else "pod"
        reasons.append(f"{pod_label} {_fmt_s(pod_s)} after configure (threshold {_fmt_limit(limits.pod_within_s)})")
    reasons += [
        f"{STAGE_LABELS[a]} → {STAGE_LABELS[b]} {_fmt_s(s)} (threshold {_fmt_limit(limits.steps[b])})"
        for a, b, s in verdict.slow_steps
    ]
    if ready_s is not None and not any(r.startswith("consumer ready") for r in reasons):
        reasons.append(f"consumer ready {_fmt_s(ready_s)} after configure")
    summary = f"job {jid}: " + "; ".join(reasons)
    if slowest is not None:
        summary += f"; slowest stage: {STAGE_LABELS[slowest[0]]} → {STAGE_LABELS[slowest[1]]}, {_fmt_s(slowest[2])}"
    quoted = ["configure"] + ([slowest[0], slowest[1]] if slowest else []) + [str(ready["stage"])]
    slow_end = slowest[1] if slowest else str(ready["stage"])
    if slow_end in _POD_STAGES or slow_end == "job_created":
        events_cmd = (
            f"kubectl -n {namespace} get events --field-selector involvedObject.name={pod or job_name} "
            f"--sort-by=.lastTimestamp"
        )
        steps = [events_cmd, describe, logs_cmd]
    else:
        steps = [logs_cmd, f"kubectl -n {namespace} top pod {pod}" if pod else rabbit_cmd, rabbit_cmd, metadata_cmd]
    metrics: dict[str, Any] = {
        "job_id": jid,
        "pod": pod or "",
        "configured_at": job.configured_at,
        "ready_at": ready["ts"],
        "ready_s": ready_s,
        "pod_s": pod_s,
        "pod_within_s": limits.pod_within_s,
        "consumer_within_s": limits.consumer_within_s,
    }
    for stage in STAGES[1:]:
        if stage in job.by_stage and not _bound(job.by_stage[stage]):
            metrics[f"{stage}_s"] = round(float(job.by_stage[stage]["since_configure_s"]), 3)
    if slowest is not None:
        metrics |= {"slowest_from": slowest[0], "slowest_to": slowest[1], "slowest_s": round(slowest[2], 3)}
    return Finding(
        code=Code.CONSUMER_SLOW,
        severity=Severity.WARNING,
        title="Consumer creation slow",
        summary=summary,
        last_seen=ready["ts"],
        evidence=_stage_evidence(job.rows, quoted),
        next_steps=tuple(dict.fromkeys(steps)),
        metrics=metrics,
        **common,
    )
