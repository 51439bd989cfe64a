"""RabbitMQ queues over management snapshots (seeds 001, 003): backlog and orphaned queues.

Reads ``frames.queues`` (``/api/queues``, one row per queue per snapshot) and
``frames.consumers`` (``/api/consumers``); links per-job queues (``grpc-job-<job_id>``)
to their Kubernetes Job and pod.

Shape (STYLE.md, as ``_consumer``): :func:`_select` sorts the snapshots once, measures
every queue with grouped, vectorised operations (last snapshot, consumers and ready
messages now, growth, a trailing run without consumers) and keeps only the queues that
can be a finding, each with its own few rows; the Jobs and pods are indexed once by job
id. :func:`_verdict` judges one queue on its rows (orphaned, unconsumed or growing, and
the numbers); :func:`_narrate` writes the summary, evidence and next steps. No
whole-frame operation runs per queue (issue #12: 2,000 job queues took 10 s).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from panda_analysis.diagnose._util import (
    fmt_duration,
    fmt_time,
    instant,
    job_name,
    job_of_pod,
    missing,
    number,
    plural,
    quote_positions,
    rabbitmq_pod,
    records,
    text,
)
from panda_analysis.findings import Code, Evidence, Finding, Severity
from panda_analysis.schema import Frames

__all__ = ["queues"]

_COMPONENT = "rabbitmq"
# the columns of a snapshot row the verdict and the quotes read
_ROW_COLUMNS = (
    "ts",
    "source",
    "line_no",
    "queue",
    "job_id",
    "exclusive",
    "auto_delete",
    "messages",
    "messages_ready",
    "messages_unacknowledged",
    "publish_rate",
    "deliver_rate",
    "idle_since",
    "_consumers",
    "_ready",
)


def consumers_per_row(frames: Frames) -> pd.Series:
    """Consumers of each queue row: ``consumer_count``, else counted in ``/api/consumers``.

    When the bundle has ``/api/consumers`` rows at all, a snapshot that lists none for a
    queue counts as 0 (an empty list leaves no rows); without any, the count stays unknown.
    """
    q = frames.queues
    counts = q["consumer_count"].astype("Float64")
    missing_counts = counts.isna()
    if missing_counts.any() and len(frames.consumers):
        c = frames.consumers
        tally = c.groupby(
            [c["ts"], c["vhost"].astype("string"), c["queue"].astype("string")], observed=True, dropna=False
        ).size()
        keys = zip(q["ts"], q["vhost"].astype("string"), q["queue"].astype("string"), strict=True)
        filled = [float(tally.get((ts, vhost, queue), 0)) for ts, vhost, queue in keys]
        counts = counts.where(~missing_counts, pd.Series(filled, index=q.index, dtype="Float64"))
    return counts


# --------------------------------------------------------------------------- select


@dataclass(frozen=True, slots=True)
class _Limits:
    min_snapshots: int
    growth_min_messages: int
    orphan_min_age_s: float
    ready_min_messages: int


@dataclass(frozen=True, slots=True)
class _Queue:
    """One queue still present in the last snapshot, with its snapshots in time order."""

    vhost: str
    name: str
    rows: list[dict[str, Any]]  # its snapshot rows (``_consumers`` and ``_ready`` added)

    @property
    def last(self) -> dict[str, Any]:
        return self.rows[-1]

    @property
    def job_id(self) -> str | None:
        return text(self.last.get("job_id"))

    @property
    def vhost_arg(self) -> str:
        return "/" if self.vhost in {"", "<NA>"} else self.vhost

    @property
    def subject(self) -> str:
        return self.name if self.vhost in {"/", "", "<NA>"} else f"{self.vhost}:{self.name}"


@dataclass(frozen=True, slots=True)
class _Owners:
    """Jobs and pods by job id (the newest row of each), to say what became of a per-job queue."""

    jobs: dict[str, dict[str, Any]]
    pods: dict[str, dict[str, Any]]  # by ``job_id`` label / column, and by the job id a pod name spells
    has_jobs: bool
    has_pods: bool

    def of(self, job_id: str) -> dict[str, Any]:
        """What became of a per-job queue's Job and pod."""
        owner: dict[str, Any] = {
            "job_name": job_name(job_id),
            "job_state": "unknown",
            "job_row": None,
            "pod": None,
            "pod_phase": None,
            "pod_state": "unknown",
        }
        row = self.jobs.get(job_id)
        if row is not None:
            owner["job_name"] = str(row["job_name"])
            owner["job_row"] = row
            condition = str(row.get("condition") or "")
            if condition == "Failed" or (
                not missing(row.get("failed")) and row["failed"] > 0 and missing(row.get("active"))
            ):
                owner["job_state"] = "failed"
            elif condition == "Complete" or not missing(row.get("completed_at")):
                owner["job_state"] = "completed"
            elif not missing(row.get("active")) and row["active"] > 0:
                owner["job_state"] = "active"
            else:
                owner["job_state"] = "inactive"
        elif self.has_jobs or self.has_pods:
            owner["job_state"] = "absent"
        pod = self.pods.get(job_id)
        if pod is not None:
            owner["pod"], owner["pod_phase"] = str(pod["pod"]), text(pod["phase"])
            owner["pod_state"] = "present"
        elif self.has_pods:
            owner["pod_state"] = "absent"
        return owner


def _newest_by(df: pd.DataFrame, keys_of: Any) -> dict[str, dict[str, Any]]:
    """The last row (in ``ts`` order, stable, rows without a time last) under each key ``keys_of(row)`` gives."""
    out: dict[str, dict[str, Any]] = {}
    for row in records(df.sort_values("ts", kind="stable")):
        for key in keys_of(row):
            out[key] = row
    return out


def _owners(frames: Frames, job_ids: set[str]) -> _Owners:
    """The Jobs and pods of ``job_ids`` (one vectorised mask per frame, then their own rows only)."""
    jobs, pods = frames.jobs, frames.pods
    job_col = jobs["job_id"].astype("string")
    mine = jobs[job_col.isin(job_ids).fillna(False).to_numpy(dtype=bool)]
    pod_names = pods["pod"].astype("string").to_numpy(dtype=object, na_value=None)
    spelled = pd.Series([job_of_pod(p) if p is not None else None for p in pod_names], dtype="string")
    labelled = pods["job_id"].astype("string").reset_index(drop=True)
    hit = (labelled.isin(job_ids) | spelled.isin(job_ids)).fillna(False).to_numpy(dtype=bool)

    def pod_keys(row: Mapping[str, Any]) -> set[str]:
        pod = text(row.get("pod"))
        keys = {text(row.get("job_id")), job_of_pod(pod) if pod is not None else None}
        return {k for k in keys if k is not None}

    return _Owners(
        jobs=_newest_by(mine, lambda r: [text(r.get("job_id"))]),
        pods=_newest_by(pods[hit], pod_keys),
        has_jobs=bool(len(jobs)),
        has_pods=bool(len(pods)),
    )


def _select(frames: Frames, limits: _Limits) -> list[_Queue]:
    """The queues that can be a finding, in (vhost, queue) order, each with its own rows."""
    q = frames.queues
    q = (
        q.assign(
            _consumers=consumers_per_row(frames),
            _ready=q["messages_ready"].astype("Float64").fillna(q["messages"].astype("Float64")),
        )
        .sort_values("ts", kind="stable")
        .reset_index(drop=True)
    )
    vhost = q["vhost"].astype("string").fillna("/")
    name = q["queue"].astype("string")
    key = pd.DataFrame({"vhost": vhost, "queue": name})
    is_last = ~key.duplicated(keep="last").to_numpy()
    consumers = q["_consumers"]
    ready = q["_ready"]
    # per queue (one row each, at its last snapshot): what the verdict needs to say anything
    last = q[is_last]
    now_consumers = consumers[is_last]
    now_ready = ready[is_last]
    unconsumed = ((now_consumers == 0) & (now_ready >= limits.ready_min_messages)).fillna(False).to_numpy(dtype=bool)
    per_job = last["job_id"].notna().to_numpy()
    per_connection = (
        last["exclusive"].fillna(False).astype(bool).to_numpy()
        | last["auto_delete"].fillna(False).astype(bool).to_numpy()
        | name[is_last].str.startswith("amq.gen-").fillna(False).to_numpy(dtype=bool)
    )
    orphan = (now_consumers == 0).fillna(False).to_numpy(dtype=bool) & (per_job | per_connection)
    known = key[ready.notna().to_numpy()]
    grouped = ready[ready.notna().to_numpy()].groupby([known["vhost"], known["queue"]], observed=True, sort=False)
    stats = pd.DataFrame({"n": grouped.size(), "growth": grouped.last() - grouped.first()})
    at_last = pd.MultiIndex.from_frame(key[is_last])
    stats = stats.reindex(at_last)
    growing = (
        ((stats["n"] >= max(limits.min_snapshots, 2)) & (stats["growth"] >= limits.growth_min_messages))
        .fillna(False)
        .to_numpy(dtype=bool)
    )
    judged = (
        (last["ts"] == q["ts"].max()).fillna(False).to_numpy(dtype=bool)
        & name[is_last].notna().to_numpy()
        & (unconsumed | orphan | growing)
    )
    wanted = key[is_last][judged]
    if wanted.empty:
        return []
    # only the judged queues' rows become records
    index = pd.MultiIndex.from_frame(wanted)
    mine = pd.MultiIndex.from_frame(key).isin(index)
    rows = records(q.loc[mine, [c for c in _ROW_COLUMNS if c in q.columns]])
    positions = key[mine].reset_index(drop=True).groupby(["vhost", "queue"], sort=False).indices
    order = sorted(zip(wanted["vhost"], wanted["queue"], strict=True))
    return [_Queue(str(v), str(n), [rows[i] for i in positions[(v, n)]]) for v, n in order]


# --------------------------------------------------------------------------- verdict


@dataclass(frozen=True, slots=True)
class _Verdict:
    """What is wrong with one queue and the numbers that show it (no prose)."""

    code: Code
    queue: _Queue
    severity: Severity
    run_start: pd.Timestamp | None  # start of the trailing run of snapshots without a consumer
    zero_age_s: float  # how long that run lasts up to the last snapshot
    idle_s: float  # the broker's idle time, when it says more than the run
    idle_since: pd.Timestamp | None
    owner: dict[str, Any] | None  # what became of a per-job queue's Job and pod
    orphan_kind: str | None = None  # QUEUE_ORPHANED: per-job / per-connection
    consumers_now: float | None = None
    ready_now: float | None = None
    unconsumed: bool = False  # QUEUE_BACKLOG: messages and no consumer now
    growing: bool = False  # ... ready messages grew while consumed
    slope: float = 0.0  # least-squares growth of ready messages, per second
    growth: float = 0.0  # last minus first known ready count
    span_s: float = 0.0  # between the first and last snapshot with a ready count
    first_ready: float | None = None
    drain_s: float | None = None
    net: float = float("nan")  # drain rate, messages/s (deliver - publish, else -slope)


def _slope_per_s(times: list[pd.Timestamp], values: list[float]) -> float:
    """Least-squares slope of ``values`` over ``times``, per second (0 when undefined)."""
    ns = np.array([t.value for t in times], dtype=np.int64)
    seconds = (ns - ns[0]) / 1e9
    y = np.array(values, dtype=float)
    if len(y) < 2 or np.ptp(seconds) == 0:
        return 0.0
    x = seconds - seconds.mean()
    return float((x * (y - y.mean())).sum() / (x * x).sum())


def _is_per_connection(row: Mapping[str, Any]) -> bool:
    name = str(row.get("queue") or "")
    return bool(row.get("exclusive") is True or row.get("auto_delete") is True or name.startswith("amq.gen-"))


def _verdict(queue: _Queue, owners: _Owners, limits: _Limits) -> _Verdict | None:
    rows, last = queue.rows, queue.last
    consumers_now = number(last["_consumers"])
    known = [r for r in rows if not missing(r["_ready"])]
    ready_now = number(last["_ready"])
    job_id = queue.job_id

    # 0 consumers since the start of the trailing run of zero-consumer snapshots
    zero = [number(r["_consumers"]) == 0 for r in rows]
    run_start = None
    if zero[-1]:
        idx = len(rows) - 1
        while idx > 0 and zero[idx - 1]:
            idx -= 1
        run_start = rows[idx]["ts"]
    zero_age_s = (last["ts"] - run_start).total_seconds() if run_start is not None else 0.0
    # no consumer in any snapshot and idle since before the first: the broker's idle_since counts too
    idle_since = instant(last.get("idle_since"))
    idle_s = 0.0
    if run_start is not None and run_start == rows[0]["ts"] and idle_since is not None and idle_since < run_start:
        idle_s = (last["ts"] - idle_since).total_seconds()

    orphan_kind = "per-job" if job_id else ("per-connection" if _is_per_connection(last) else None)
    owner = owners.of(job_id) if job_id else None
    age_s = max(zero_age_s, idle_s)
    common: dict[str, Any] = {
        "queue": queue,
        "run_start": run_start,
        "zero_age_s": zero_age_s,
        "idle_s": idle_s,
        "idle_since": idle_since,
        "owner": owner,
        "consumers_now": consumers_now,
        "ready_now": ready_now,
    }
    if orphan_kind and run_start is not None and age_s >= limits.orphan_min_age_s and not (owner and _alive(owner)):
        return _Verdict(Code.QUEUE_ORPHANED, severity=Severity.WARNING, orphan_kind=orphan_kind, **common)

    # backlog
    growing = False
    slope = growth = span_s = 0.0
    first_ready = None
    if len(known) >= max(limits.min_snapshots, 2):
        slope = _slope_per_s([r["ts"] for r in known], [float(r["_ready"]) for r in known])
        first_ready = float(known[0]["_ready"])
        growth = float(known[-1]["_ready"] - known[0]["_ready"])
        span_s = (known[-1]["ts"] - known[0]["ts"]).total_seconds()
        growing = growth >= limits.growth_min_messages and slope > 0
    unconsumed = consumers_now == 0 and ready_now is not None and ready_now >= limits.ready_min_messages
    if not (unconsumed or growing):
        return None
    publish, deliver = number(last.get("publish_rate")), number(last.get("deliver_rate"))
    if publish is not None and deliver is not None:
        net = deliver - publish
    else:
        net = -slope if len(known) >= 2 else float("nan")
    ready_int = int(ready_now or 0)
    drain_s = ready_int / net if net == net and net > 0 and not unconsumed else None
    return _Verdict(
        Code.QUEUE_BACKLOG,
        severity=Severity.CRITICAL if unconsumed else Severity.WARNING,
        unconsumed=unconsumed,
        growing=growing,
        slope=slope,
        growth=growth,
        span_s=span_s,
        first_ready=first_ready,
        drain_s=drain_s,
        net=net,
        **common,
    )


def _alive(owner: Mapping[str, Any]) -> bool:
    return owner["job_state"] == "active" or owner["pod_phase"] in {"Running", "Pending"}


# --------------------------------------------------------------------------- narration


def _owner_text(owner: Mapping[str, Any]) -> str:
    job = {
        "completed": f"Job {owner['job_name']} completed",
        "failed": f"Job {owner['job_name']} failed",
        "absent": f"no Job {owner['job_name']}",
        "inactive": f"Job {owner['job_name']} has no active pod",
        "active": f"Job {owner['job_name']} active",
    }.get(owner["job_state"])
    phase = f" {owner['pod_phase']}" if owner["pod_phase"] else ""  # a pod without a phase says none
    pod = {"absent": "no pod", "present": f"pod {owner['pod']}{phase}"}.get(owner["pod_state"])
    return ", ".join(p for p in (job, pod) if p)


def _quote(row: Mapping[str, Any]) -> Evidence:
    consumers = number(row["_consumers"])
    parts = [
        f"queue {row['queue']}: {row['messages_ready']} ready, {row['messages_unacknowledged']} unacked",
        f"{'?' if consumers is None else int(consumers)} consumers",
    ]
    for name in ("publish_rate", "deliver_rate"):
        if not missing(row.get(name)):
            parts.append(f"{name.removesuffix('_rate')} {float(row[name]):g}/s")
    said = ", ".join(parts).replace("<NA>", "?").replace("None", "?")
    return Evidence(source=str(row.get("source") or "?"), line_no=row.get("line_no"), ts=row.get("ts"), text=said)


def _quotes(rows: list[dict[str, Any]]) -> list[Evidence]:
    """First, middle and last of ``rows``."""
    return [_quote(rows[i]) for i in quote_positions(len(rows), limit=3)]


def _narrate(v: _Verdict, rabbit: tuple[str, str]) -> Finding:
    queue, owner = v.queue, v.owner
    name, vhost_arg, last, job_id = queue.name, queue.vhost_arg, queue.last, queue.job_id
    namespace, pod = rabbit
    list_queues = (
        f"kubectl -n {namespace} exec {pod} -- rabbitmqctl list_queues -p {vhost_arg} name "
        f"messages_ready messages_unacknowledged consumers | grep {name}"
    )
    list_consumers = f"kubectl -n {namespace} exec {pod} -- rabbitmqctl list_consumers -p {vhost_arg} | grep {name}"
    common = {"component": _COMPONENT, "subject": queue.subject}
    ready_now = v.ready_now

    if v.code is Code.QUEUE_ORPHANED:
        messages = 0 if missing(last.get("messages")) else int(last["messages"])
        linked = f"; {_owner_text(owner)}" if owner and _owner_text(owner) else ""
        if v.idle_s > v.zero_age_s and v.idle_since is not None:
            summary = (
                f"{v.orphan_kind} queue {name} had no consumer in any snapshot ({fmt_duration(v.zero_age_s)} from "
                f"{fmt_time(v.run_start)}) and RabbitMQ reports it idle since {fmt_time(v.idle_since)}, "
                f"{fmt_duration(v.idle_s)} before the last snapshot; it holds {plural(messages, 'message')}{linked}"
            )
        else:
            summary = (
                f"{v.orphan_kind} queue {name} has had no consumer for {fmt_duration(v.zero_age_s)} "
                f"(since {fmt_time(v.run_start)}) and holds {plural(messages, 'message')}{linked}"
            )
        quotes = _quotes([r for r in queue.rows if r["ts"] >= v.run_start])
        if owner and owner["job_row"] is not None:
            row = owner["job_row"]
            quotes.append(Evidence.from_row(row, text=f"Job {row['job_name']}: {_owner_text(owner)}"))
        steps = [list_queues, list_consumers]
        if owner is not None:
            steps.insert(0, f"kubectl -n {namespace} get job {owner['job_name']} -o wide")
        steps.append(
            f"kubectl -n {namespace} exec {pod} -- rabbitmqctl delete_queue -p {vhost_arg} {name}"
            "  # only once nobody needs its messages"
        )
        metrics: dict[str, Any] = {
            "queue": name,
            "vhost": vhost_arg,
            "kind": v.orphan_kind,
            "zero_consumers_s": round(v.zero_age_s, 3),
            "idle_s": round(v.idle_s, 3) if v.idle_s else None,
            "messages": messages,
            "messages_ready": None if ready_now is None else int(ready_now),
        }
        if owner is not None:
            metrics |= {"job_id": job_id, "job_state": owner["job_state"], "pod_state": owner["pod_state"]}
        return Finding(
            code=Code.QUEUE_ORPHANED,
            severity=v.severity,
            title="Orphaned queue",
            summary=summary,
            first_seen=v.run_start,
            last_seen=last["ts"],
            evidence=tuple(quotes[:5]),
            next_steps=tuple(steps[:4]),
            metrics=metrics,
            **common,
        )

    ready_int = int(ready_now or 0)
    net, drain_s, slope = v.net, v.drain_s, v.slope
    drain = (
        "never at the current consumer rate"
        if drain_s is None and net == net
        else "unknown (no rates)"
        if drain_s is None
        else f"about {fmt_duration(drain_s)}"
    )
    if v.unconsumed:
        since = f" for {fmt_duration(v.zero_age_s)}" if v.zero_age_s > 0 else " in the last snapshot"
        summary = f"queue {name} holds {plural(ready_int, 'ready message')} and has had no consumer{since}"
        if v.growing:
            summary += f", growing {slope * 60:.1f}/min (+{v.growth:.0f} in {fmt_duration(v.span_s)})"
        if owner is not None:
            summary += f" ({_owner_text(owner)})"
        summary += "; it will never drain without a consumer"
        first_seen = v.run_start if v.run_start is not None else last["ts"]
    else:
        n = 0 if v.consumers_now is None else int(v.consumers_now)
        summary = (
            f"queue {name}: ready messages grew from {v.first_ready:.0f} to {ready_int} in "
            f"{fmt_duration(v.span_s)} ({slope * 60:.1f}/min) with {plural(n, 'consumer')}; time to drain "
            f"{drain}"
        )
        first_seen = next(r["ts"] for r in queue.rows if not missing(r["_ready"]))
    steps = [list_queues, list_consumers]
    if owner is not None and owner["pod"]:
        steps.append(f"kubectl -n {namespace} logs {owner['pod']} --timestamps --tail=200")
    elif job_id:
        steps.append(f"kubectl -n {namespace} get job {owner['job_name'] if owner else job_name(job_id)} -o wide")
    else:
        steps.append(f"kubectl -n {namespace} exec {pod} -- rabbitmqctl list_connections name peer_host state")
    metrics = {
        "queue": name,
        "vhost": vhost_arg,
        "messages_ready": ready_int,
        "consumers": None if v.consumers_now is None else int(v.consumers_now),
        "snapshots": len(queue.rows),
        "growth_messages": v.growth,
        "growth_per_min": round(slope * 60, 3),
        "span_s": v.span_s,
        "publish_rate": number(last.get("publish_rate")),
        "deliver_rate": number(last.get("deliver_rate")),
        "drain_s": None if drain_s is None else round(drain_s, 1),
        "zero_consumers_s": round(v.zero_age_s, 3),
    }
    if job_id:
        metrics["job_id"] = job_id
    return Finding(
        code=Code.QUEUE_BACKLOG,
        severity=v.severity,
        title="Queue backlog",
        summary=summary,
        first_seen=first_seen,
        last_seen=last["ts"],
        evidence=tuple(_quotes(queue.rows)),
        next_steps=tuple(steps),
        metrics=metrics,
        **common,
    )


# --------------------------------------------------------------------------- the rule


def queues(
    frames: Frames,
    *,
    min_snapshots: int = 2,
    growth_min_messages: int = 10,
    orphan_min_age_s: float = 60.0,
    ready_min_messages: int = 1,
) -> list[Finding]:
    """Find growing or unconsumed backlogs and queues left behind, from RabbitMQ snapshots.

    Only queues present in the last snapshot are judged (a queue that disappeared was
    deleted). Per queue, over its snapshots:

    - ``QUEUE_BACKLOG`` **critical** when the last snapshot has at least
      ``ready_min_messages`` ready messages and no consumer (one snapshot is enough);
      **warning** when ``messages_ready`` grew by at least ``growth_min_messages`` from
      the first to the last of at least ``min_snapshots`` snapshots with a positive
      least-squares slope while consumers are attached (a slow consumer, not a missing
      one). The summary gives the growth rate per minute and the time to drain, ``ready /
      (deliver_rate - publish_rate)`` from the last snapshot (else from the slope), or
      "never at the current consumer rate".
    - ``QUEUE_ORPHANED`` **warning** when a per-job queue (``grpc-job-<job_id>``) or a
      per-connection queue (exclusive, auto-delete or ``amq.gen-*``) has had 0 consumers
      for at least ``orphan_min_age_s`` up to the last snapshot and its owner is not alive
      (its Job is not active and no pod of it is Running / Pending). When the queue had no
      consumer in every snapshot and the broker reports it idle (``idle_since``: no publish,
      delivery or consumer activity) since before the first snapshot, the idle time counts
      too. The summary gives the age, the message count and what became of the Job and pod. An orphaned queue
      is not also reported as a backlog; a per-job queue whose Job is still alive is
      judged as a backlog instead (its missing consumer is the ``consumer`` rule's
      finding).

    A queue that gets its consumer later (``grpc-job-19-6`` waits ~30 s at 0 consumers in
    ``consumer_slow``) is neither; a non-empty queue that is steady or shrinking while
    consumed is not a backlog. One finding per queue at most, however many snapshots.

    Parameters
    ----------
    frames
        Parsed frames of one bundle (``queues``, ``consumers``, ``jobs``, ``pods``).
    min_snapshots
        Snapshots of a queue needed to judge growth. Default 2.
    growth_min_messages
        Growth of ``messages_ready`` (last minus first snapshot) that counts as a growing
        backlog. Default 10.
    orphan_min_age_s
        Seconds a per-job / per-connection queue must have had no consumer (measured
        between snapshots) to count as orphaned. Default 60.0.
    ready_min_messages
        Ready messages that, with no consumer in the last snapshot, make a backlog.
        Default 1.

    Returns
    -------
    list[Finding]
        Codes ``QUEUE_BACKLOG``, ``QUEUE_ORPHANED``; component ``rabbitmq``; subject the
        queue name (``vhost:queue`` outside vhost ``/``).

    Examples
    --------
    >>> import panda_analysis as pa
    >>> pa.diagnose.queues(pa.samples.consumer_slow().frames())
    []
    >>> pa.diagnose.queues(pa.samples.healthy().frames())
    []
    """
    if frames.queues.empty:
        return []
    limits = _Limits(
        min_snapshots=min_snapshots,
        growth_min_messages=growth_min_messages,
        orphan_min_age_s=orphan_min_age_s,
        ready_min_messages=ready_min_messages,
    )
    candidates = _select(frames, limits)
    if not candidates:
        return []
    owners = _owners(frames, {job for q in candidates if (job := q.job_id)})
    rabbit = rabbitmq_pod(frames)
    out: list[Finding] = []
    for queue in candidates:
        verdict = _verdict(queue, owners, limits)
        if verdict is not None:
            out.append(_narrate(verdict, rabbit))
    return out
