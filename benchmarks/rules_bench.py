"""Benchmark of the rules on a platform with many job pods (issue #11: 2,000 pods hang; issue #12: every rule).

Usage::

    python benchmarks/rules_bench.py [--jobs N] [--pods P] [--seed S] [--check]

Builds a synthetic :class:`~panda_analysis.schema.Frames` with N (default 2,000) grpc-job
pods in the shapes the seeds and samples show (seed 004's stage timeline, seed 003's
queues), then times every rule of ``pa.diagnose.RULES``, ``pa.diagnose.consumer_stages``
and ``pa.diagnose.timeline`` on it and prints the times, the row counts and the finding
counts per code (target: each rule at most ``RULE_TARGET_S`` for 2,000 jobs). Every twelfth job of
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

Plus an orphaned queue per 50 jobs (a job id that appears only in a queue name); per 100
jobs a work queue whose backlog grows under one slow consumer and an exclusive
``amq.gen-*`` queue left behind; and for the restarted containers (name pattern only) a
previous log ending in a DNS, connection or other error, and a BackOff event.

Then (``--pods``, default 20,000; none when only ``--jobs`` is given) it writes a
panda-bundle/1 directory of a big shared cluster (:func:`write_pods_bundle`: ``pods.json``
with P pods, their Jobs, events, previous logs and Focus log) and times it end to end:
``load_bundle`` + ``pa.parse.frames`` + ``pa.diagnose.run`` (target ``PODS_TARGET_S``),
with ``pa.parse.pods`` and every rule on their own.

The exit status is 0 (it is a report), unless ``--check`` is given: then 1 when a rule
takes more than ``RULE_TARGET_S`` seconds for 2,000 jobs (scaled linearly for other N), or
the pods bundle more than ``PODS_TARGET_S``.
"""

from __future__ import annotations

import argparse
import json
import random
import string
import sys
import tempfile
import time
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

import panda_analysis as pa
from panda_analysis import schema
from panda_analysis.schema import Frames

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


# the last lines of a crashed container (``kubectl logs --previous``), one cause in three each
_CRASH_TAILS = (
    (
        "Connecting to mongodb:27017",
        "pymongo.errors.ServerSelectionTimeoutError: mongodb:27017: [Errno -3] Temporary failure in name resolution",
    ),
    (
        "Connecting to rabbitmq-panda:5672",
        "pika.exceptions.AMQPConnectionError: [Errno 111] Connection refused",
    ),
    ("Loading model weights", "RuntimeError: CUDA error: an illegal memory access was encountered"),
)


def _crash_log(out: _Rows, pod: str, s: float, *, cause: int) -> None:
    """A previous log ending in an error, and the kubelet's BackOff event for the container."""
    source = f"logs/{NAMESPACE}/{pod}/baby-analyzer.previous.log"
    for k, message in enumerate(("Starting baby-analyzer 2.14", *_CRASH_TAILS[cause])):
        out.line(
            "analyzer",
            source,
            ts=_at(s + 0.05 * k),
            namespace=NAMESPACE,
            pod=pod,
            container="baby-analyzer",
            is_previous=True,
            level="error" if k == 2 else "info",
            message=message,
        )
    _event(out, "Pod", pod, "BackOff", s + 0.3, "Back-off restarting failed container baby-analyzer", "Warning")


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
            _crash_log(out, pod, pod_s, cause=(i // len(KINDS)) % 3)
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
    _snapshots(out, queues, consumers, end_s, extra=max(1, n_jobs // 100))
    return out.rows, _at(end_s)


def _snapshots(
    out: _Rows,
    queues: list[tuple[str, str | None, float, float | None]],
    consumers: list[tuple[str, str | None, float]],
    end_s: float,
    *,
    extra: int = 1,
) -> None:
    """Management API snapshots every SNAPSHOT_EVERY_S seconds over the last 10 minutes.

    Besides the job queues: ``extra`` work queues whose backlog grows under one slow
    consumer (seed 001), and as many exclusive ``amq.gen-*`` reply queues left without a
    consumer since before the first snapshot.
    """
    source = "rabbitmq/snapshots.jsonl"
    t = end_s - 600
    n = 0
    while t <= end_s:
        out.lines[source] += 1
        line_no = out.lines[source]
        common = {"ts": _at(t), "source": source, "line_no": line_no, "vhost": "/"}
        out.rows.setdefault("queues", []).append(
            {**common, "queue": ALERTS_QUEUE, "durable": True, "messages_ready": 0, "consumer_count": 1}
        )
        for k in range(extra):
            ready = 40 * k + 25 * n
            out.rows["queues"].append(
                {
                    **common,
                    "queue": f"prisma-{210 + k}-1000-work",
                    "durable": True,
                    "messages_ready": ready,
                    "messages_unacknowledged": 2,
                    "messages": ready + 2,
                    "consumer_count": 1,
                    "publish_rate": 1.2,
                    "deliver_rate": 0.6,
                }
            )
            out.rows["queues"].append(
                {
                    **common,
                    "queue": f"amq.gen-{k:04d}RkZq0pcYl2nQ",
                    "durable": False,
                    "exclusive": True,
                    "auto_delete": True,
                    "messages_ready": 3,
                    "messages": 3,
                    "consumer_count": 0,
                    "idle_since": _at(end_s - 4000),
                }
            )
        n += 1
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


def _timed(call: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = call(*args, **kwargs)
    return result, time.perf_counter() - started


def time_rules(frames: Frames) -> dict[str, dict[str, Any]]:
    """Run every rule of ``pa.diagnose.RULES``, ``consumer_stages`` and ``timeline`` once: seconds and output size."""
    out: dict[str, dict[str, Any]] = {}
    for name, (rule, _) in pa.diagnose.RULES.items():
        found, took = _timed(rule, frames)
        out[name] = {"s": took, "findings": dict(sorted(Counter(str(f.code) for f in found).items()))}
    stages, took = _timed(pa.diagnose.consumer_stages, frames)
    out["consumer_stages"] = {"s": took, "rows": len(stages)}
    tl, took = _timed(pa.diagnose.timeline, frames)
    out["timeline"] = {"s": took, "rows": len(tl)}
    return out


def measure(n_jobs: int, *, seed: int = 11) -> dict[str, Any]:
    """Build the frames, then time every rule, the stage table and the timeline once each; seconds."""
    frames, build_s = _timed(synthetic_frames, n_jobs, seed=seed)
    rules = time_rules(frames)
    return {
        "jobs": n_jobs,
        "rows": {name: len(df) for name, df in frames.items() if len(df)},
        "build_s": build_s,
        "rules": rules,
        # the consumer rule's own figures, as this benchmark printed them first (issue #11)
        "stages_s": rules["consumer_stages"]["s"],
        "stage_rows": rules["consumer_stages"]["rows"],
        "rule_s": rules["consumer"]["s"],
        "findings": rules["consumer"]["findings"],
    }


# --------------------------------------------------------------------------- a 20,000-pod bundle

_IMAGE = "registry.example.internal/panda/baby-analyzer:2.14"


def _h(text: str) -> int:
    """A stable number for a name (``hash`` differs between runs)."""
    return zlib.crc32(text.encode())


def _iso(seconds: float) -> str:
    return _at(seconds).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pod_object(
    name: str, *, s: float, job: str | None, crash: int | None, app: str, namespace: str = NAMESPACE
) -> dict[str, Any]:
    """One v1 Pod as ``kubectl get pods -o json`` prints it: a Job pod, or a Deployment pod."""
    labels = {"app": app}
    owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": name.rsplit("-", 1)[0], "controller": True}
    if job is not None:
        labels |= {"batch.kubernetes.io/job-name": job, "job-name": job}
        owner = {"apiVersion": "batch/v1", "kind": "Job", "name": job, "controller": True}
    owner["uid"] = f"0000{_h(owner['name']) % 10**12:012d}-0000-4000-8000-000000000000"[-36:]
    container = app
    status: dict[str, Any] = {
        "name": container,
        "image": _IMAGE,
        "imageID": "",
        "ready": crash is None,
        "restartCount": 0,
        "started": crash is None,
        "state": {"running": {"startedAt": _iso(s + 2)}},
    }
    phase = "Running"
    if job is not None and crash is None and s < 0:
        phase = "Succeeded"
        status |= {
            "ready": False,
            "started": False,
            "state": {
                "terminated": {
                    "exitCode": 0,
                    "reason": "Completed",
                    "startedAt": _iso(s + 2),
                    "finishedAt": _iso(s + 40),
                }
            },
        }
    if crash is not None:
        status |= {
            "restartCount": 3 + crash % 20,
            "state": {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off 5m0s restarting failed container={container} pod={name}",
                }
            },
            "lastState": {
                "terminated": {
                    "exitCode": 137 if crash % 7 == 3 else 1,
                    "reason": "OOMKilled" if crash % 7 == 3 else "Error",
                    "startedAt": _iso(s + 500),
                    "finishedAt": _iso(s + 520),
                }
            },
        }
    ready = "True" if crash is None and phase == "Running" else "False"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "creationTimestamp": _iso(s),
            "labels": labels,
            "name": name,
            "namespace": namespace,
            "ownerReferences": [owner],
            "resourceVersion": str(4844918 + int(abs(s))),
            "uid": f"86f79a2b-b11c-42ec-bf94-{_h(name) % 10**12:012d}",
        },
        "spec": {
            "containers": [{"name": container, "image": _IMAGE, "resources": {"limits": {"memory": "1Gi"}}}],
            "nodeName": f"worker-{_h(name) % 12}",
            "restartPolicy": "Never" if job else "Always",
        },
        "status": {
            "conditions": [
                {"type": "Initialized", "status": "True", "lastTransitionTime": _iso(s)},
                {"type": "Ready", "status": ready, "lastTransitionTime": _iso(s + 3)},
                {"type": "ContainersReady", "status": ready, "lastTransitionTime": _iso(s + 3)},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": _iso(s)},
            ],
            "containerStatuses": [status],
            "hostIP": "10.0.0.12",
            "phase": phase,
            "podIP": f"10.42.{_h(name) % 250}.{_h(name) % 199 + 2}",
            "qosClass": "Burstable",
            "startTime": _iso(s),
        },
    }


def _event_object(
    name: str, reason: str, message: str, s: float, *, kind: str = "Pod", count: int = 1, namespace: str = NAMESPACE
) -> dict[str, Any]:
    type_ = "Warning" if reason in {"BackOff", "FailedCreate"} else "Normal"
    involved: dict[str, Any] = {"kind": kind, "name": name, "namespace": namespace}
    if kind == "Pod":
        involved["fieldPath"] = "spec.containers{baby-analyzer}"
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{name}.{_h(name + reason) % 16**16:016x}", "namespace": namespace},
        "involvedObject": involved,
        "reason": reason,
        "message": message,
        "type": type_,
        "count": count,
        "firstTimestamp": _iso(s),
        "lastTimestamp": _iso(s + 30 * (count - 1)),
        "source": {"component": "kubelet" if kind == "Pod" else "job-controller"},
    }


def write_pods_bundle(root: Any, n_pods: int = 20000, *, seed: int = 11) -> dict[str, int]:
    """Write a panda-bundle/1 directory of a big shared cluster with ``n_pods`` pods; returns what it holds.

    ``k8s/pods.json`` (``kubectl get pods -A -o json``) holds ``n_pods`` pods: one in ten a
    Job pod ``grpc-job-<id>-<suffix>`` in namespace ``panda`` (completed, the newest
    running), the rest Deployment pods of 40 team namespaces. One pod in a hundred
    crash-loops (CrashLoopBackOff, exit 1 or OOMKilled) with a BackOff event; the first
    50 of them have a previous log ending in a name-resolution or connection error.
    ``k8s/jobs.json`` has the Job of every Job pod, ``k8s/events.json`` the scheduling
    events of the newest 1,000 pods, and the Focus log a configure line for the newest 200
    jobs and the first 200 ``GET /metadata/{job_id}`` of every job.
    """
    rng = random.Random(seed)
    root = Path(root)
    (root / "k8s").mkdir(parents=True, exist_ok=True)
    created = _at(n_pods * 0.5 + 600)
    (root / "manifest.json").write_text(
        json.dumps({"format": "panda-bundle/1", "created_at": created.isoformat(), "source": "rules_bench"}),
        encoding="utf-8",
    )
    pods, jobs, events = [], [], []
    focus: list[tuple[float, str]] = []
    crashing = 0
    for i in range(n_pods):
        s = i * 0.5 - (n_pods - 2000) * 0.5  # the newest 2,000 pods inside the last 1,000 s
        crash = i if i % 100 == 37 else None
        namespace = NAMESPACE
        if i % 10:
            namespace = f"team-{i % 40:02d}"
            app = f"svc-{(i // 10) % 250:03d}"
            name = f"{app}-5d9c7b8f6d-{_suffix(rng)}"
            pods.append(_pod_object(name, s=s, job=None, crash=crash, app=app, namespace=namespace))
        else:
            job_id = f"{100 + i // 1000}-{(i // 10) % 100}"
            job = f"grpc-job-{job_id}"
            name = f"{job}-{_suffix(rng)}"
            pods.append(_pod_object(name, s=s, job=job, crash=crash, app="baby-analyzer"))
            done = s < 0 and crash is None
            status: dict[str, Any] = {"startTime": _iso(s), "active": 0 if done else 1}
            if done:
                status |= {
                    "succeeded": 1,
                    "completionTime": _iso(s + 41),
                    "conditions": [{"type": "Complete", "status": "True", "lastTransitionTime": _iso(s + 41)}],
                }
            jobs.append(
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "metadata": {
                        "name": job,
                        "namespace": NAMESPACE,
                        "creationTimestamp": _iso(s - 0.2),
                        "labels": {"app": "baby-analyzer", "job_id": job_id},
                    },
                    "spec": {"backoffLimit": 0},
                    "status": status,
                }
            )
            if i >= n_pods - 2000:
                line = f"Job {job_id} configured, creating k8s job {job}"
                focus.append((s - 0.3, f"{_iso(s - 0.3).replace('Z', '+0000')} INFO pz.focus_server {line}"))
            access = f'10.42.0.0:58018 - "GET /metadata/{job_id} HTTP/1.1" 200 OK'
            focus.append((s + 5, f"{_iso(s + 5)} INFO:     {access}"))
        if i >= n_pods - 1000:
            assigned = f"Successfully assigned {namespace}/{name} to worker-2"
            events.append(_event_object(name, "Scheduled", assigned, s, namespace=namespace))
            pulled = f'Container image "{_IMAGE}" already present on machine'
            events.append(_event_object(name, "Pulled", pulled, s + 1, namespace=namespace))
            events.append(_event_object(name, "Started", "Started container", s + 2, namespace=namespace))
        if crash is not None:
            back_off = "Back-off restarting failed container"
            events.append(_event_object(name, "BackOff", back_off, s + 520, count=3 + crash % 20, namespace=namespace))
            if crashing < 50:
                container = pods[-1]["spec"]["containers"][0]["name"]
                log = root / "logs" / namespace / name / f"{container}.previous.log"
                log.parent.mkdir(parents=True, exist_ok=True)
                tail = _CRASH_TAILS[crashing % 2]
                lines = [f"{_iso(s + 500 + k)} {'ERROR' if k else 'INFO'} {m}" for k, m in enumerate(tail)]
                log.write_text("\n".join(lines) + "\n", encoding="utf-8")
            crashing += 1
    for name, items in (("pods", pods), ("jobs", jobs), ("events", events)):
        doc = {"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}}
        (root / "k8s" / f"{name}.json").write_text(json.dumps(doc, indent=4), encoding="utf-8")
    log = root / "logs" / NAMESPACE / FOCUS_POD / "focus-server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("\n".join(line for _, line in sorted(focus)) + "\n", encoding="utf-8")
    return {"pods": len(pods), "jobs": len(jobs), "events": len(events), "crashing": crashing}


def measure_pods_bundle(n_pods: int, *, seed: int = 11) -> dict[str, Any]:
    """Write the ``n_pods`` bundle to a temporary directory, then time parsing, every rule and ``diagnose.run``."""
    with tempfile.TemporaryDirectory(prefix="rules_bench_") as tmp:
        held = write_pods_bundle(tmp, n_pods, seed=seed)
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
        started = time.perf_counter()
        bundle = pa.load_bundle(tmp)
        pods, pods_s = _timed(pa.parse.pods, bundle)
        frames, parse_s = _timed(pa.parse.frames, bundle)
        found, run_s = _timed(pa.diagnose.run, frames)
        total_s = time.perf_counter() - started - pods_s  # load + parse every frame + run
        rules = time_rules(frames)
    return {
        "held": held,
        "bytes": size,
        "pods_rows": len(pods),
        "pods_s": pods_s,
        "parse_s": parse_s,
        "run_s": run_s,
        "total_s": total_s,
        "findings": dict(sorted(Counter(str(f.code) for f in found).items())),
        "rules": rules,
    }


#: Seconds each rule may take on 2,000 job pods (issue #12: "under about 1 s").
RULE_TARGET_S = 1.0
#: Seconds a 20,000-pod bundle may take end to end: load, parse, every rule (issue #12).
PODS_TARGET_S = 10.0


def _rule_lines(rules: dict[str, dict[str, Any]], target_s: float | None) -> tuple[list[str], bool]:
    lines, ok = [], True
    for name, r in rules.items():
        out = ", ".join(f"{k} {v}" for k, v in r["findings"].items()) if "findings" in r else f"{r['rows']} rows"
        verdict = ""
        if target_s is not None:
            verdict = " PASS" if r["s"] <= target_s else " FAIL"
            ok &= r["s"] <= target_s
        lines.append(f"  {name:<16}{r['s']:7.2f} s{verdict}  ({out or 'no findings'})")
    return lines, ok


def main(argv: list[str] | None = None) -> int:
    """Print the measures; with ``--check`` exit 1 when a rule or the pods bundle is over its target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000, help="job pods to generate (default 2000; 0: skip)")
    parser.add_argument(
        "--pods",
        type=int,
        default=None,
        help="pods of the pods.json bundle (default 20000, or none when --jobs is given; 0: skip)",
    )
    parser.add_argument("--seed", type=int, default=11, help="random seed (default 11)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    if args.pods is None:  # `--jobs N` alone times the rules only (as before the pods bundle existed)
        given = sys.argv[1:] if argv is None else argv
        args.pods = 0 if any(a.startswith("--jobs") for a in given) else 20000
    ok = True
    if args.jobs:
        result = measure(args.jobs, seed=args.seed)
        target_s = RULE_TARGET_S * max(args.jobs, 1) / 2000
        rows = ", ".join(f"{name} {n}" for name, n in result["rows"].items())
        print(f"synthetic frames: {result['jobs']} job pods ({rows}), built in {result['build_s']:.2f} s")
        print(f"every rule (target {target_s:g} s each):")
        lines, fine = _rule_lines(result["rules"], target_s)
        print("\n".join(lines))
        ok &= fine
        verdict = "PASS" if result["rule_s"] <= target_s else "FAIL"
        print(f"consumer rule:   {result['rule_s']:.2f} s (target {target_s:g} s) {verdict}")
        print("findings: " + (", ".join(f"{code} {n}" for code, n in result["findings"].items()) or "none"))
    if args.pods:
        r = measure_pods_bundle(args.pods, seed=args.seed)
        held = ", ".join(f"{k} {v}" for k, v in r["held"].items())
        verdict = "PASS" if r["total_s"] <= PODS_TARGET_S else "FAIL"
        ok &= verdict == "PASS"
        print(f"pods bundle: {held}, {r['bytes'] / 2**20:.1f} MiB")
        print(f"  pa.parse.pods {r['pods_s']:.2f} s ({r['pods_rows']} rows); pa.parse.frames {r['parse_s']:.2f} s")
        print(
            f"  diagnose.run {r['run_s']:.2f} s; load + parse + run {r['total_s']:.2f} s (target {PODS_TARGET_S:g} s) {verdict}"
        )
        print("  findings: " + (", ".join(f"{c} {n}" for c, n in r["findings"].items()) or "none"))
        lines, _ = _rule_lines(r["rules"], None)
        print("\n".join(lines))
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
