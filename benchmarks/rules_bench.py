"""Benchmark of the consumer rule on a platform with many job pods (issue #11: 2,000 pods hang).

Usage::

    python benchmarks/rules_bench.py [--jobs N] [--seed S] [--check]

Builds a synthetic :class:`~panda_analysis.schema.Frames` with N (default 2,000) grpc-job
pods in the shapes the seeds and samples show (seed 004's stage timeline, seed 003's
queues), then times ``pa.diagnose.consumer_stages`` and ``pa.diagnose.consumer`` on it and
prints the times, the row counts and the finding counts per code. Every twelfth job of
each kind, in turn:

* healthy: Focus ``Job <id> configured`` line, Job, pod (``job-name`` label), Scheduled /
  Pulled / Started events, container status, queue ``grpc-job-<id>`` in the snapshots,
  consumer attached, the first 200 ``GET /metadata/<id>`` poll (6 kinds of 12);
* slow: the consumer attaches 40 s after configure, metadata ready only in the Focus
  access log (no polls);
* no pod: the Job reports no pod and a ``FailedCreate`` Warning event (quota);
* no consumer: the pod runs, the queue exists, no consumer, metadata polls answer 404;
* configure outside the window (``collect --since 2h``): only the pod, with a ``job_id``
  label, and its events; no configure line, no Job, no poll;
* name pattern only: no Job and no labels, a duplicate pod row, container restarts with
  ``startedAt`` and ``lastState.terminated.startedAt``, and a pod known only from a
  ``Created pod`` event;
* label only (pod ``baby-analyzer-*``), configure taken from the first poll, the consumer
  seen in ``/api/consumers`` by queue name; clock skew: the pod's creation stamped before
  configure.

Plus an orphaned queue per 50 jobs (a job id that appears only in a queue name).

The exit status is 0 (it is a report), unless ``--check`` is given: then 1 when the rule
takes more than ``TARGET_S`` seconds for 2,000 jobs (scaled linearly for other N).
"""

from __future__ import annotations

import argparse
import json
import random
import string
import sys
import time
from collections import Counter
from typing import Any

import pandas as pd

import panda_analysis as pa
from panda_analysis import schema
from panda_analysis.schema import Frames

#: Seconds the consumer rule may take for 2,000 job pods (issue #11: "a few seconds").
TARGET_S = 5.0

T0 = pd.Timestamp("2025-11-13T08:00:00Z")
NAMESPACE = "panda"
FOCUS_POD = "panda-panda-focus-server-78dbcfd9d9-kjj77"
FOCUS_LOG = f"logs/{NAMESPACE}/{FOCUS_POD}/focus-server.log"
ALERTS_QUEUE = "prisma-210-1000-alerts"  # seed 003
SNAPSHOT_EVERY_S = 45.0  # the collector's default interval in the queue_backlog sample
KINDS = (
    "healthy",
    "healthy",
    "healthy",
    "healthy",
    "healthy",
    "healthy",
    "slow",
    "no_pod",
    "no_consumer",
    "outside_window",
    "pattern_only",
    "label_only",
)


class _Rows:
    """Row lists per frame, with a line counter per source file."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.lines: Counter[str] = Counter()
        self.items: Counter[str] = Counter()

    def line(self, frame: str, source: str, **row: Any) -> None:
        self.lines[source] += 1
        self.rows.setdefault(frame, []).append({"source": source, "line_no": self.lines[source], **row})

    def item(self, frame: str, document: str, **row: Any) -> None:
        n = self.items[document]
        self.items[document] += 1
        self.rows.setdefault(frame, []).append({"source": f"{document}#/items/{n}", **row})


def _at(seconds: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(seconds=seconds)


def _suffix(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(5))


def _pod(
    out: _Rows,
    name: str,
    s: float,
    *,
    job_id: str | None,
    job_name: str | None,
    labels: dict[str, str],
    scheduled: bool = True,
) -> None:
    out.item(
        "pods",
        "k8s/pods.json",
        ts=_at(s),
        namespace=NAMESPACE,
        pod=name,
        phase="Running",
        node="worker-2",
        app="baby-analyzer",
        job_name=job_name,
        job_id=job_id,
        owner_kind="Job" if job_name else None,
        owner_name=job_name,
        labels=json.dumps(labels, sort_keys=True),
        container_count=1,
        ready_count=1,
        restart_count=0,
        is_ready=True,
        started_at=_at(s + 0.5),
        scheduled_at=_at(s) if scheduled else None,
    )


def _event(out: _Rows, kind: str, name: str, reason: str, s: float, message: str, type_: str = "Normal") -> None:
    out.item(
        "events",
        "k8s/events.json",
        ts=_at(s),
        namespace=NAMESPACE,
        object_kind=kind,
        object_name=name,
        pod=name if kind == "Pod" else None,
        type=type_,
        reason=reason,
        message=message,
        count=1,
        first_ts=_at(s),
        last_ts=_at(s),
    )


def _pod_events(out: _Rows, name: str, s: float, started_s: float) -> None:
    image = "registry.example.internal/panda/baby-analyzer:2.14"
    _event(out, "Pod", name, "Scheduled", s, f"Successfully assigned {NAMESPACE}/{name} to worker-2")
    _event(out, "Pod", name, "Pulled", s + 0.4, f'Container image "{image}" already present on machine')
    _event(out, "Pod", name, "Started", started_s, "Started container baby-analyzer")


def _restart(out: _Rows, name: str, started_s: float, *, last_s: float | None = None) -> None:
    out.item(
        "restarts",
        "k8s/pods.json",
        ts=_at(started_s),
        namespace=NAMESPACE,
        pod=name,
        container="baby-analyzer",
        is_init=False,
        image="registry.example.internal/panda/baby-analyzer:2.14",
        restart_count=0 if last_s is None else 1,
        is_ready=True,
        state="running",
        started_at=_at(started_s),
        last_reason=None if last_s is None else "Error",
        last_exit_code=None if last_s is None else 1,
        last_started_at=None if last_s is None else _at(last_s),
        last_finished_at=None if last_s is None else _at(last_s + 0.2),
    )


def _analyzer(out: _Rows, job_id: str, pod: str, s: float, event: str, message: str) -> None:
    out.line(
        "analyzer",
        f"logs/{NAMESPACE}/{pod}/baby-analyzer.log",
        ts=_at(s),
        namespace=NAMESPACE,
        pod=pod,
        container="baby-analyzer",
        job_id=job_id,
        level="info",
        message=message,
        event=event,
        queue=f"grpc-job-{job_id}",
    )


def _poll(out: _Rows, job_id: str, s: float, status: int | None) -> None:
    body = '{"status":"running"}' if status == 200 else '{"detail":"Invalid job_id"}'
    out.line(
        "job_metadata",
        "http/focus/job_metadata.jsonl",
        ts=_at(s),
        job_id=job_id,
        status=status,
        error=None if status == 200 else "Invalid job_id",
        body=body,
    )


def _focus(out: _Rows, s: float, **row: Any) -> None:
    out.line("focus", FOCUS_LOG, ts=_at(s), namespace=NAMESPACE, pod=FOCUS_POD, container="focus-server", **row)


def _job(out: _Rows, job_id: str, s: float, *, active: int) -> None:
    out.item(
        "jobs",
        "k8s/jobs.json",
        ts=_at(s),
        namespace=NAMESPACE,
        job_name=f"grpc-job-{job_id}",
        job_id=job_id,
        labels=json.dumps({"app": "baby-analyzer", "job_id": job_id}, sort_keys=True),
        active=active,
        succeeded=0,
        failed=0,
        backoff_limit=0,
        started_at=_at(s),
    )


def synthetic_rows(n_jobs: int = 2000, *, seed: int = 11) -> tuple[dict[str, list[dict[str, Any]]], pd.Timestamp]:
    """Rows per frame for ``n_jobs`` job pods (see the module docstring), and the collection time."""
    rng = random.Random(seed)
    out = _Rows()
    spacing_s = 1.5
    queues: list[tuple[str, str | None, float, float | None]] = []  # queue, job id, declared, consumer
    consumers: list[tuple[str, str | None, float]] = []
    for i in range(n_jobs):
        kind = KINDS[i % len(KINDS)]
        job_id = f"{20 + i // 50}-{i % 50}"
        name = f"grpc-job-{job_id}"
        pod = f"{name}-{_suffix(rng)}"
        c = i * spacing_s  # configure, seconds after T0
        message = f"Job {job_id} configured, creating k8s job {name}"
        if kind not in ("outside_window", "label_only"):
            _focus(out, c, kind="record", level="info", logger="pz.focus_server", message=message, job_id=job_id)
        if kind == "no_pod":
            _job(out, job_id, c, active=0)
            quota = f'Error creating: pods "{pod}" is forbidden: exceeded quota: panda-quota'
            _event(out, "Job", name, "FailedCreate", c + 0.2, quota, type_="Warning")
            _poll(out, job_id, c + 0.3, 404)
            continue
        if kind == "outside_window":
            # the pod of a job configured before the window: no configure line, no Job
            _pod(out, pod, c - 7200, job_id=job_id, job_name=None, labels={"job_id": job_id})
            _pod_events(out, pod, c - 7200, c - 7198)
            continue
        pod_s = c + rng.uniform(0.8, 3.0)
        started_s = pod_s + rng.uniform(0.5, 1.5)
        if kind == "label_only":
            pod = f"baby-analyzer-{_suffix(rng)}"
            _poll(out, job_id, c, 404)  # configure falls back to the first poll
            _pod(out, pod, c - 0.4, job_id=job_id, job_name=None, labels={"job_id": job_id})  # clock skew
            _pod_events(out, pod, pod_s, started_s)
            _poll(out, job_id, started_s + 1.6, 200)
            consumers.append((name, None, started_s + 1.5))
            queues.append((name, job_id, started_s + 1.0, started_s + 1.5))
            continue
        if kind == "pattern_only":
            _pod(out, pod, pod_s, job_id=None, job_name=None, labels={}, scheduled=i % 24 != 10)
            _pod(out, pod, pod_s, job_id=None, job_name=None, labels={})  # the same pod listed twice
            _restart(out, pod, started_s, last_s=pod_s + 0.2)
            _pod_events(out, pod, pod_s, started_s)
            gone = f"{name}-{_suffix(rng)}"  # a pod deleted since: only its Job's event names it
            _event(out, "Job", name, "SuccessfulCreate", pod_s - 0.1, f"Created pod: {gone}")
            _analyzer(out, job_id, pod, started_s + 1.0, "queue_declared", f"Declared queue {name}")
            _analyzer(out, job_id, pod, started_s + 1.5, "consumer_started", f"Consumer started on queue {name}")
            _poll(out, job_id, started_s + 1.7, 200)
            continue
        _job(out, job_id, c + 0.05, active=1)
        _event(out, "Job", name, "SuccessfulCreate", pod_s, f"Created pod: {pod}")
        labels = {"app": "baby-analyzer", "batch.kubernetes.io/job-name": name, "job-name": name}
        _pod(out, pod, pod_s, job_id=None, job_name=name, labels=labels)
        _pod_events(out, pod, pod_s, started_s)
        _restart(out, pod, started_s)
        declared_s = started_s + 1.0
        _analyzer(out, job_id, pod, declared_s, "queue_declared", f"Declared queue {name}")
        if kind == "no_consumer":
            queues.append((name, job_id, declared_s, None))
            for k in range(5):
                _poll(out, job_id, c + 0.3 + 10 * k, 404)
            continue
        attached_s = c + 40.0 if kind == "slow" else declared_s + 0.5
        _analyzer(out, job_id, pod, attached_s, "consumer_started", f"Consumer started on queue {name}")
        queues.append((name, job_id, declared_s, attached_s))
        consumers.append((name, job_id, attached_s))
        if kind == "slow":
            line = f'10.42.0.0:58018 - "GET /metadata/{job_id} HTTP/1.1" 200 OK'
            _focus(
                out,
                attached_s + 0.1,
                kind="access",
                level="info",
                message=line,
                method="GET",
                path=f"/metadata/{job_id}",
                route="/metadata/{job_id}",
                status=200,
                job_id=job_id,
            )
        else:
            _poll(out, job_id, c + 0.3, 404)
            _poll(out, job_id, attached_s + 0.05, 200)
    for k in range(max(1, n_jobs // 50)):  # orphaned queues: a job id known only from its queue name
        queues.append((f"grpc-job-9-{k}", f"9-{k}", -3600.0, None))
    end_s = n_jobs * spacing_s + 600
    _snapshots(out, queues, consumers, end_s)
    return out.rows, _at(end_s)


def _snapshots(
    out: _Rows,
    queues: list[tuple[str, str | None, float, float | None]],
    consumers: list[tuple[str, str | None, float]],
    end_s: float,
) -> None:
    """Management API snapshots every SNAPSHOT_EVERY_S seconds over the last 10 minutes."""
    source = "rabbitmq/snapshots.jsonl"
    t = end_s - 600
    while t <= end_s:
        out.lines[source] += 1
        line_no = out.lines[source]
        common = {"ts": _at(t), "source": source, "line_no": line_no, "vhost": "/"}
        out.rows.setdefault("queues", []).append(
            {**common, "queue": ALERTS_QUEUE, "durable": True, "messages_ready": 0, "consumer_count": 1}
        )
        for queue, job_id, declared_s, consumer_s in queues:
            if declared_s <= t:
                attached = consumer_s is not None and consumer_s <= t
                out.rows["queues"].append(
                    {
                        **common,
                        "queue": queue,
                        "job_id": job_id,
                        "durable": False,
                        "messages_ready": 0,
                        "consumer_count": 1 if attached else 0,
                    }
                )
        for n, (queue, job_id, attached_s) in enumerate(consumers):
            if attached_s <= t:
                out.rows.setdefault("consumers", []).append(
                    {
                        **common,
                        "queue": queue,
                        "job_id": job_id,
                        "consumer_tag": f"ctag1.{n:08x}",
                        "connection": f"10.42.1.{n % 250}:4{n % 1000:04d} -> 10.42.0.7:5672",
                    }
                )
        t += SNAPSHOT_EVERY_S


def synthetic_frames(n_jobs: int = 2000, *, seed: int = 11) -> Frames:
    """A conformed :class:`Frames` with ``n_jobs`` job pods (see the module docstring)."""
    rows, created_at = synthetic_rows(n_jobs, seed=seed)
    conformed = {name: schema.FRAMES[name].conform(part) for name, part in rows.items()}
    return Frames(**conformed, meta={"created_at": created_at.isoformat(), "source": "rules_bench"})


def measure(n_jobs: int, *, seed: int = 11) -> dict[str, Any]:
    """Build the frames, run the stage table and the rule once each; times in seconds."""
    started = time.perf_counter()
    frames = synthetic_frames(n_jobs, seed=seed)
    build_s = time.perf_counter() - started
    started = time.perf_counter()
    stages = pa.diagnose.consumer_stages(frames)
    stages_s = time.perf_counter() - started
    started = time.perf_counter()
    findings = pa.diagnose.consumer(frames)
    rule_s = time.perf_counter() - started
    return {
        "jobs": n_jobs,
        "rows": {name: len(df) for name, df in frames.items() if len(df)},
        "build_s": build_s,
        "stages_s": stages_s,
        "stage_rows": len(stages),
        "rule_s": rule_s,
        "findings": dict(sorted(Counter(str(f.code) for f in findings).items())),
    }


def main(argv: list[str] | None = None) -> int:
    """Print the measures; with ``--check`` exit 1 when the rule is over its target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000, help="job pods to generate (default 2000)")
    parser.add_argument("--seed", type=int, default=11, help="random seed (default 11)")
    parser.add_argument("--check", action="store_true", help="exit 1 when the rule misses its target")
    args = parser.parse_args(argv)
    result = measure(args.jobs, seed=args.seed)
    target_s = TARGET_S * max(args.jobs, 1) / 2000
    rows = ", ".join(f"{name} {n}" for name, n in result["rows"].items())
    print(f"synthetic frames: {result['jobs']} job pods ({rows}), built in {result['build_s']:.2f} s")
    print(f"consumer_stages: {result['stages_s']:.2f} s, {result['stage_rows']} stage rows")
    verdict = "PASS" if result["rule_s"] <= target_s else "FAIL"
    print(f"consumer rule:   {result['rule_s']:.2f} s (target {target_s:g} s) {verdict}")
    print("findings: " + (", ".join(f"{code} {n}" for code, n in result["findings"].items()) or "none"))
    return 1 if args.check and verdict == "FAIL" else 0


if __name__ == "__main__":
    sys.exit(main())
