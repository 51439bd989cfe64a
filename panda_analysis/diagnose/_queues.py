"""RabbitMQ queues over management snapshots (seeds 001, 003): backlog and orphaned queues.

Reads ``frames.queues`` (``/api/queues``, one row per queue per snapshot) and
``frames.consumers`` (``/api/consumers``); links per-job queues (``grpc-job-<job_id>``)
to their Kubernetes Job and pod.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from panda_analysis.diagnose._util import fmt_duration, fmt_time, pick_quotes, plural
from panda_analysis.findings import Code, Evidence, Finding, Severity
from panda_analysis.schema import Frames

__all__ = ["queues"]

_COMPONENT = "rabbitmq"
_DEFAULT_NAMESPACE = "panda"
_DEFAULT_POD = "rabbitmq-panda-0"


def _null(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and value != value


def _num(value: Any) -> float | None:
    return None if _null(value) else float(value)


def _rabbit_pod(frames: Frames) -> tuple[str, str]:
    """(namespace, pod) of the RabbitMQ server, for ``kubectl exec`` next steps."""
    pods = frames.pods
    rabbit = pods[
        pods["pod"].astype("string").str.startswith("rabbitmq", na=False)
        | pods["app"].astype("string").str.contains("rabbitmq", na=False)
    ]
    if len(rabbit):
        return str(rabbit["namespace"].iloc[0]), str(rabbit["pod"].iloc[0])
    log = frames.rabbitmq_log.dropna(subset=["pod"])
    if len(log):
        return str(log["namespace"].iloc[0]), str(log["pod"].iloc[0])
    return _DEFAULT_NAMESPACE, _DEFAULT_POD


def consumers_per_row(frames: Frames) -> pd.Series:
    """Consumers of each queue row: ``consumer_count``, else counted in ``/api/consumers``.

    When the bundle has ``/api/consumers`` rows at all, a snapshot that lists none for a
    queue counts as 0 (an empty list leaves no rows); without any, the count stays unknown.
    """
    q = frames.queues
    counts = q["consumer_count"].astype("Float64")
    missing = counts.isna()
    if missing.any() and len(frames.consumers):
        c = frames.consumers
        tally = c.groupby(
            [c["ts"], c["vhost"].astype("string"), c["queue"].astype("string")], observed=True, dropna=False
        ).size()
        keys = zip(q["ts"], q["vhost"].astype("string"), q["queue"].astype("string"), strict=True)
        filled = [float(tally.get((ts, vhost, queue), 0)) for ts, vhost, queue in keys]
        counts = counts.where(~missing, pd.Series(filled, index=q.index, dtype="Float64"))
    return counts


def _slope_per_s(times: pd.Series, values: pd.Series) -> float:
    """Least-squares slope of ``values`` over ``times``, per second (0 when undefined)."""
    seconds = (times - times.iloc[0]).dt.total_seconds().to_numpy(dtype=float)
    y = values.to_numpy(dtype=float)
    if len(y) < 2 or np.ptp(seconds) == 0:
        return 0.0
    x = seconds - seconds.mean()
    return float((x * (y - y.mean())).sum() / (x * x).sum())


def _is_per_connection(row: Mapping[str, Any]) -> bool:
    name = str(row.get("queue") or "")
    return bool(row.get("exclusive") is True or row.get("auto_delete") is True or name.startswith("amq.gen-"))


def _owner(frames: Frames, job_id: str) -> dict[str, Any]:
    """What became of a per-job queue's Job and pod."""
    jobs = frames.jobs[frames.jobs["job_id"] == job_id]
    pods = frames.pods
    pattern = re.compile(rf"^grpc-job-{re.escape(job_id)}-[a-z0-9]+$")
    mine = pods[(pods["job_id"] == job_id) | pods["pod"].astype("string").str.fullmatch(pattern.pattern, na=False)]
    owner: dict[str, Any] = {
        "job_name": f"grpc-job-{job_id}",
        "job_state": "unknown",
        "job_row": None,
        "pod": None,
        "pod_phase": None,
        "pod_state": "unknown",
    }
    if len(jobs):
        row = jobs.sort_values("ts", kind="stable").iloc[-1].to_dict()
        owner["job_name"] = str(row["job_name"])
        owner["job_row"] = row
        condition = str(row.get("condition") or "")
        if condition == "Failed" or (not _null(row.get("failed")) and row["failed"] > 0 and _null(row.get("active"))):
            owner["job_state"] = "failed"
        elif condition == "Complete" or not _null(row.get("completed_at")):
            owner["job_state"] = "completed"
        elif not _null(row.get("active")) and row["active"] > 0:
            owner["job_state"] = "active"
        else:
            owner["job_state"] = "inactive"
    elif len(frames.jobs) or len(frames.pods):
        owner["job_state"] = "absent"
    if len(mine):
        row = mine.sort_values("ts", kind="stable").iloc[-1]
        owner["pod"], owner["pod_phase"] = str(row["pod"]), str(row["phase"])
        owner["pod_state"] = "present"
    elif len(pods):
        owner["pod_state"] = "absent"
    return owner


def _alive(owner: Mapping[str, Any]) -> bool:
    return owner["job_state"] == "active" or owner["pod_phase"] in {"Running", "Pending"}


def _owner_text(owner: Mapping[str, Any]) -> str:
    job = {
        "completed": f"Job {owner['job_name']} completed",
        "failed": f"Job {owner['job_name']} failed",
        "absent": f"no Job {owner['job_name']}",
        "inactive": f"Job {owner['job_name']} has no active pod",
        "active": f"Job {owner['job_name']} active",
    }.get(owner["job_state"])
    pod = {"absent": "no pod", "present": f"pod {owner['pod']} {owner['pod_phase']}"}.get(owner["pod_state"])
    return ", ".join(p for p in (job, pod) if p)


def _quote(row: Mapping[str, Any], consumers: float | None) -> Evidence:
    parts = [
        f"queue {row['queue']}: {row['messages_ready']} ready, {row['messages_unacknowledged']} unacked",
        f"{'?' if consumers is None else int(consumers)} consumers",
    ]
    for name in ("publish_rate", "deliver_rate"):
        if not _null(row.get(name)):
            parts.append(f"{name.removesuffix('_rate')} {float(row[name]):g}/s")
    text = ", ".join(parts).replace("<NA>", "?").replace("None", "?")
    return Evidence(source=str(row.get("source") or "?"), line_no=row.get("line_no"), ts=row.get("ts"), text=text)


def _subject(vhost: str, queue: str) -> str:
    return queue if vhost in {"/", "", "<NA>"} else f"{vhost}:{queue}"


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
    consumed is not a backlog.

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
    q = frames.queues
    if q.empty:
        return []
    q = q.assign(_consumers=consumers_per_row(frames)).sort_values("ts", kind="stable")
    last_snapshot = q["ts"].max()
    namespace, rabbit = _rabbit_pod(frames)
    out: list[Finding] = []
    for (vhost, name), group in q.groupby(
        [q["vhost"].astype("string").fillna("/"), q["queue"].astype("string")], sort=True, observed=True, dropna=False
    ):
        if _null(name) or group["ts"].iloc[-1] != last_snapshot:
            continue
        finding = _judge(
            frames,
            group.reset_index(drop=True),
            str(vhost),
            str(name),
            namespace=namespace,
            rabbit=rabbit,
            min_snapshots=min_snapshots,
            growth_min_messages=growth_min_messages,
            orphan_min_age_s=orphan_min_age_s,
            ready_min_messages=ready_min_messages,
        )
        if finding is not None:
            out.append(finding)
    return out


def _judge(
    frames: Frames,
    g: pd.DataFrame,
    vhost: str,
    name: str,
    *,
    namespace: str,
    rabbit: str,
    min_snapshots: int,
    growth_min_messages: int,
    orphan_min_age_s: float,
    ready_min_messages: int,
) -> Finding | None:
    last = g.iloc[-1].to_dict()
    consumers_now = _num(last["_consumers"])
    ready = g["messages_ready"].astype("Float64").fillna(g["messages"].astype("Float64"))
    known = g[ready.notna()]
    ready_known = ready[ready.notna()]
    ready_now = _num(ready.iloc[-1])
    job_id = None if _null(last.get("job_id")) else str(last["job_id"])
    vhost_arg = "/" if vhost in {"", "<NA>"} else vhost
    list_queues = (
        f"kubectl -n {namespace} exec {rabbit} -- rabbitmqctl list_queues -p {vhost_arg} name "
        f"messages_ready messages_unacknowledged consumers | grep {name}"
    )
    list_consumers = f"kubectl -n {namespace} exec {rabbit} -- rabbitmqctl list_consumers -p {vhost_arg} | grep {name}"
    common = {"component": _COMPONENT, "subject": _subject(vhost, name)}

    # 0 consumers since the start of the trailing run of zero-consumer snapshots
    zero = g["_consumers"].fillna(-1) == 0
    run_start = None
    if bool(zero.iloc[-1]):
        idx = len(g) - 1
        while idx > 0 and bool(zero.iloc[idx - 1]):
            idx -= 1
        run_start = g["ts"].iloc[idx]
    zero_age_s = (g["ts"].iloc[-1] - run_start).total_seconds() if run_start is not None else 0.0
    # no consumer in any snapshot and idle since before the first: the broker's idle_since counts too
    idle_since = None if _null(last.get("idle_since")) else pd.Timestamp(last["idle_since"])
    idle_s = 0.0
    if run_start is not None and run_start == g["ts"].iloc[0] and idle_since is not None and idle_since < run_start:
        idle_s = (g["ts"].iloc[-1] - idle_since).total_seconds()

    orphan_kind = "per-job" if job_id else ("per-connection" if _is_per_connection(last) else None)
    owner = _owner(frames, job_id) if job_id else None
    age_s = max(zero_age_s, idle_s)
    if orphan_kind and run_start is not None and age_s >= orphan_min_age_s and not (owner and _alive(owner)):
        messages = 0 if _null(last.get("messages")) else int(last["messages"])
        linked = f"; {_owner_text(owner)}" if owner and _owner_text(owner) else ""
        if idle_s > zero_age_s and idle_since is not None:
            summary = (
                f"{orphan_kind} queue {name} had no consumer in any snapshot ({fmt_duration(zero_age_s)} from "
                f"{fmt_time(run_start)}) and RabbitMQ reports it idle since {fmt_time(idle_since)}, "
                f"{fmt_duration(idle_s)} before the last snapshot; it holds {plural(messages, 'message')}{linked}"
            )
        else:
            summary = (
                f"{orphan_kind} queue {name} has had no consumer for {fmt_duration(zero_age_s)} "
                f"(since {fmt_time(run_start)}) and holds {plural(messages, 'message')}{linked}"
            )
        rows = g[g["ts"] >= run_start]
        quotes = [_quote(r, _num(r["_consumers"])) for r in pick_quotes(rows, limit=3).to_dict("records")]
        if owner and owner["job_row"] is not None:
            row = owner["job_row"]
            quotes.append(Evidence.from_row(row, text=f"Job {row['job_name']}: {_owner_text(owner)}"))
        steps = [list_queues, list_consumers]
        if owner is not None:
            steps.insert(0, f"kubectl -n {namespace} get job {owner['job_name']} -o wide")
        steps.append(
            f"kubectl -n {namespace} exec {rabbit} -- rabbitmqctl delete_queue -p {vhost_arg} {name}"
            "  # only once nobody needs its messages"
        )
        metrics: dict[str, Any] = {
            "queue": name,
            "vhost": vhost_arg,
            "kind": orphan_kind,
            "zero_consumers_s": round(zero_age_s, 3),
            "idle_s": round(idle_s, 3) if idle_s else None,
            "messages": messages,
            "messages_ready": None if ready_now is None else int(ready_now),
        }
        if owner is not None:
            metrics |= {"job_id": job_id, "job_state": owner["job_state"], "pod_state": owner["pod_state"]}
        return Finding(
            code=Code.QUEUE_ORPHANED,
            severity=Severity.WARNING,
            title="Orphaned queue",
            summary=summary,
            first_seen=run_start,
            last_seen=g["ts"].iloc[-1],
            evidence=tuple(quotes[:5]),
            next_steps=tuple(steps[:4]),
            metrics=metrics,
            **common,
        )

    # backlog
    growing = False
    slope = 0.0
    growth = 0.0
    span_s = 0.0
    if len(known) >= max(min_snapshots, 2):
        slope = _slope_per_s(known["ts"], ready_known)
        growth = float(ready_known.iloc[-1] - ready_known.iloc[0])
        span_s = (known["ts"].iloc[-1] - known["ts"].iloc[0]).total_seconds()
        growing = growth >= growth_min_messages and slope > 0
    unconsumed = consumers_now == 0 and ready_now is not None and ready_now >= ready_min_messages
    if not (unconsumed or growing):
        return None
    ready_int = int(ready_now or 0)
    publish, deliver = _num(last.get("publish_rate")), _num(last.get("deliver_rate"))
    if publish is not None and deliver is not None:
        net = deliver - publish
    else:
        net = -slope if len(known) >= 2 else float("nan")
    drain_s = ready_int / net if net == net and net > 0 and not unconsumed else None
    drain = (
        "never at the current consumer rate"
        if drain_s is None and net == net
        else "unknown (no rates)"
        if drain_s is None
        else f"about {fmt_duration(drain_s)}"
    )
    if unconsumed:
        severity = Severity.CRITICAL
        since = f" for {fmt_duration(zero_age_s)}" if zero_age_s > 0 else " in the last snapshot"
        summary = f"queue {name} holds {plural(ready_int, 'ready message')} and has had no consumer{since}"
        if growing:
            summary += f", growing {slope * 60:.1f}/min (+{growth:.0f} in {fmt_duration(span_s)})"
        if owner is not None:
            summary += f" ({_owner_text(owner)})"
        summary += "; it will never drain without a consumer"
        first_seen = run_start if run_start is not None else last["ts"]
    else:
        severity = Severity.WARNING
        n = 0 if consumers_now is None else int(consumers_now)
        summary = (
            f"queue {name}: ready messages grew from {ready_known.iloc[0]:.0f} to {ready_int} in "
            f"{fmt_duration(span_s)} ({slope * 60:.1f}/min) with {plural(n, 'consumer')}; time to drain "
            f"{drain}"
        )
        first_seen = known["ts"].iloc[0]
    quotes = [_quote(r, _num(r["_consumers"])) for r in pick_quotes(g, limit=3).to_dict("records")]
    steps = [list_queues, list_consumers]
    if owner is not None and owner["pod"]:
        steps.append(f"kubectl -n {namespace} logs {owner['pod']} --timestamps --tail=200")
    elif job_id:
        steps.append(f"kubectl -n {namespace} get job {owner['job_name'] if owner else f'grpc-job-{job_id}'} -o wide")
    else:
        steps.append(f"kubectl -n {namespace} exec {rabbit} -- rabbitmqctl list_connections name peer_host state")
    metrics = {
        "queue": name,
        "vhost": vhost_arg,
        "messages_ready": ready_int,
        "consumers": None if consumers_now is None else int(consumers_now),
        "snapshots": len(g),
        "growth_messages": growth,
        "growth_per_min": round(slope * 60, 3),
        "span_s": span_s,
        "publish_rate": publish,
        "deliver_rate": deliver,
        "drain_s": None if drain_s is None else round(drain_s, 1),
        "zero_consumers_s": round(zero_age_s, 3),
    }
    if job_id:
        metrics["job_id"] = job_id
    return Finding(
        code=Code.QUEUE_BACKLOG,
        severity=severity,
        title="Queue backlog",
        summary=summary,
        first_seen=first_seen,
        last_seen=last["ts"],
        evidence=tuple(quotes),
        next_steps=tuple(steps),
        metrics=metrics,
        **common,
    )
