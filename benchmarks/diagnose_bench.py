"""Benchmark of ``panda-analysis diagnose`` on busy bundles (issue #12).

Usage::

    python benchmarks/diagnose_bench.py [--sizes 10000,100000,1000000] [--pods 20000]
                                        [--keep DIR] [--check] [--profile] [--generate-only]

Generates busy ``panda-bundle/1`` directories (in a temporary directory, removed afterwards
unless ``--keep DIR``), one per size of the ingress access log, each holding the seed 002
incident (``sample:waiting_for_fiber``: live metadata "waiting for fiber", every ``POST
/configure`` answered 503, two clients in retry storms, the Focus Server's crash loop on
``mongodb`` name resolution 28 h earlier) inside a busy, mostly healthy platform:

* N ingress-nginx ``upstreaminfo`` lines over the incident's 12-minute window (13:13-13:25
  UTC, about 1,400 requests/s at 1M lines); the Focus Server log grows with the traffic (a
  uvicorn access line for every request the ingress sent to it);
* 200 containers in Deployments of several namespaces, some of them restarted in the same
  DNS outage as the Focus Server (``restartCount``, ``lastState.terminated``, BackOff
  events, and a ``.previous.log`` ending in ``[Errno -3] Temporary failure in name
  resolution``);
* 500 jobs with the consumer stages of seed 004 (Focus ``got configuration`` / ``Job <id>
  configured`` lines and the ``POST /configure`` access lines, Kubernetes Jobs, pods,
  events, ``GET /metadata/<id>`` polls, the analyzer's start-up lines, RabbitMQ
  connections), the older ones completed, the newest still running;
* 300 queues in several RabbitMQ management snapshots (per-job queues of the running
  jobs, alert queues of other sites, ``amq.gen-*`` reply queues, service queues), all
  consumed;
* 2,000 alert pushes delivered end to end as in seed 000 (``POST .../push-to-rabbit`` 201
  through the ingress, the Focus Server's ``Received alert`` / ``Publishing alert`` /
  ``Alert published successfully``, RabbitMQ's ``Message published`` / ``Message
  consumed``, the analyzer's ``Alert detected``, the browser's ``alert_sound.mp3``, the
  MongoDB document);
* dirty data in every family: lines cut mid-field, odd and unbalanced quotes, huge values,
  start-up banners, NUL bytes, a byte that is no UTF-8.

The formats are those of the samples: the bundle starts from ``tools/make_samples.py``'s
``waiting_for_fiber()`` builder and its helpers (``make_pod``, ``make_job``,
``job_pod_events``, ``configure_ok``, ``metadata_polls``, ``queue_body``, ...); only the
bulk traffic is written with string templates over numpy arrays, for speed.

For each size, in fresh subprocesses: the wall time and peak RSS (the child's high-water
mark) of ``panda-analysis diagnose BUNDLE --json`` end to end; the parse time and the time
of each entry of ``pa.diagnose.RULES`` run on its own on the parsed frames; the findings
(count and codes); and the growth factor per 10x of the traffic. A bundle with
``--pods`` pods (20,000 by default: other tenants' workloads on a big cluster) is timed end
to end too, and the "small twin" (the seed 002 incident alone, with the same restarted
containers) gives the findings every busy bundle should reproduce.

Targets (issue #12), printed with PASS/FAIL: the largest size (1M lines) in at most 15 s and
1.5 GB; growth at most 11x per 10x; the 20,000-pod bundle in at most 10 s; every busy
bundle's findings equal the twin's (the same codes, each as many times: at most a few
dozen findings). The exit status is 0 (it is a report) unless ``--check``: then 1 when a
target is missed.

``--profile`` profiles one size instead (the first of ``--sizes``): the top functions by
cumulative time (cProfile) of parsing and diagnosing it in this process.

Other code may import the generator::

    from benchmarks.diagnose_bench import Plan, build_bundle, busy_bundle
    with busy_bundle(Plan(lines=100_000)) as path:
        findings = pa.diagnose.run(path)
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

#: Targets of issue #12 (on 2 cores).
TARGET_WALL_S = 15.0  # the 1M-line bundle, end to end
TARGET_RSS_MB = 1500.0  # its peak RSS (1.5 GB, 10^6 bytes)
TARGET_GROWTH = 11.0  # time(10x) / time(x)
TARGET_PODS_S = 10.0  # the 20,000-pod bundle, end to end
TARGET_MAX_FINDINGS = 36  # "at most a few dozen"

#: What the seed 002 incident alone yields (tests/data/expected/waiting_for_fiber.json).
TWIN_CODES = Counter({"FIBER_WAITING": 1, "FIBER_METADATA_MISSING": 1, "RETRY_STORM": 2, "CRASHLOOP_DNS": 1})


def _load_make_samples() -> ModuleType:
    """``tools/make_samples.py`` as a module (``tools/`` is no package); imported, never edited."""
    name = "panda_make_samples"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / "make_samples.py")
    if spec is None or spec.loader is None:  # pragma: no cover - the file is in the repository
        msg = "cannot import tools/make_samples.py"
        raise ImportError(msg)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


MS = _load_make_samples()

# --------------------------------------------------------------------------- the story's clock
CREATED_AT = datetime(2025, 11, 8, 13, 25, 0, tzinfo=UTC)  # the sample's collection time
WINDOW = (datetime(2025, 11, 8, 13, 13, 0, tzinfo=UTC), datetime(2025, 11, 8, 13, 24, 59, tzinfo=UTC))
JOBS_FROM = datetime(2025, 11, 8, 10, 58, 0, tzinfo=UTC)  # jobs configured before fiber went missing
JOBS_TO = datetime(2025, 11, 8, 12, 58, 0, tzinfo=UTC)
OUTAGE = datetime(2025, 11, 7, 9, 10, 3, tzinfo=UTC)  # the DNS outage of seed 002 (CoreDNS re-created 09:12:27)
FOCUS_POD = f"{MS.FOCUS_RS}-kjj77"
FOCUS_IP = "10.42.1.14"
ALERTS_QUEUE = "prisma-210-1000-alerts"
ROUTING_KEY = "Algorithm.AlertReport.MLGround"
ALERT_PATH = "/prisma-210-1000/api/push-to-rabbit"
WAITING_BODY = MS.compact(MS.WAITING_METADATA)


@dataclass(frozen=True)
class Plan:
    """What one busy bundle holds (defaults: the issue's busy platform at 100k lines)."""

    lines: int = 100_000  # ingress access-log lines (traffic, jobs' calls and alerts together)
    containers: int = 200  # containers of long-running pods (the sample's 7 and the restarted ones included)
    restarting: int = 4  # of those, restarted in the seed 002 DNS outage (besides the Focus Server)
    jobs: int = 500
    queues: int = 300
    alerts: int = 2_000
    snapshots: int = 6  # RabbitMQ management snapshots over the last 5 minutes
    pods: int | None = None  # total pods in pods.json (None: what the rest needs); extra = other tenants
    dirty: bool = True
    huge: int = 200_000  # characters of the one huge value per log family (dirty data)
    seed: int = 12

    @classmethod
    def twin(cls, plan: Plan | None = None) -> Plan:
        """The small twin of ``plan``: the seed 002 incident alone (with the same restarted containers)."""
        base = plan or cls()
        return cls(
            lines=0, containers=0, restarting=base.restarting, jobs=0, queues=0, alerts=0,
            snapshots=3, pods=None, dirty=False, seed=base.seed,
        )  # fmt: skip


@dataclass
class Built:
    """What :func:`build_bundle` wrote."""

    path: Path
    plan: Plan
    seconds: float
    files: int
    bytes: int
    lines: dict[str, int] = field(default_factory=dict)  # per family / part
    pods: int = 0
    containers: int = 0


# --------------------------------------------------------------------------- small helpers
def _ns(dt: datetime) -> int:
    return int(dt.timestamp()) * 1_000_000_000 + dt.microsecond * 1000


def _kubelet(ns: np.ndarray) -> np.ndarray:
    """RFC 3339 nanosecond kubelet prefixes (``2025-11-08T13:18:00.418159053Z``) for int64 ns times."""
    return np.char.add(np.datetime_as_string(ns.astype("datetime64[ns]"), unit="ns"), "Z")


def _prefix_ns(lines: Sequence[str]) -> np.ndarray:
    """Kubelet prefix times of rendered lines (the first 29 characters), as int64 ns."""
    if not lines:
        return np.zeros(0, dtype=np.int64)
    return np.array([line[:29] for line in lines], dtype="datetime64[ns]").astype(np.int64)


def _suffix(rng: np.random.Generator, n: int = 5) -> str:
    alphabet = MS.K8S_NAME_ALPHABET
    return "".join(alphabet[i] for i in rng.integers(0, len(alphabet), n))


# --------------------------------------------------------------------------- long-running workloads
#: Deployments of the busy platform: namespace, name, containers (name, image), talks to MongoDB.
WORKLOADS: tuple[tuple[str, str, tuple[tuple[str, str], ...], bool], ...] = (
    ("panda", "panda-panda-report-worker", (("report-worker", "panda/report-worker"),), True),
    ("panda", "panda-panda-alert-router", (("alert-router", "panda/alert-router"), ("metrics", "prom/statsd-exporter")), True),
    ("panda", "panda-panda-channel-exporter", (("channel-exporter", "panda/channel-exporter"),), True),
    ("panda", "panda-panda-fiber-monitor", (("fiber-monitor", "panda/fiber-monitor"),), False),
    ("panda", "panda-panda-segy-uploader", (("segy-uploader", "panda/segy-uploader"), ("log-shipper", "fluent/fluent-bit")), False),
    ("monitoring", "prometheus-kube-state-metrics", (("kube-state-metrics", "kube-state-metrics/kube-state-metrics"),), False),
    ("monitoring", "grafana", (("grafana", "grafana/grafana"), ("grafana-sc-dashboard", "kiwigrid/k8s-sidecar")), False),
    ("kube-system", "metrics-server", (("metrics-server", "metrics-server/metrics-server"),), False),
    ("logging", "fluent-bit-aggregator", (("fluent-bit", "fluent/fluent-bit"),), False),
)  # fmt: skip

_DNS_ERROR = (
    "pymongo.errors.ServerSelectionTimeoutError: mongodb:27017: [Errno -3] Temporary failure in name resolution, "
    "Timeout: 30s, Topology Description: <TopologyDescription id: {oid}, topology_type: Unknown, "
    "servers: [<ServerDescription ('mongodb', 27017) server_type: Unknown, rtt: None, "
    "error=AutoReconnect('mongodb:27017: [Errno -3] Temporary failure in name resolution')>]>"
)


def _rs_hash(rng: np.random.Generator) -> str:
    return _suffix(rng, 10)


def _workload_pods(s: Any, plan: Plan, rng: np.random.Generator) -> tuple[int, list[str]]:
    """Pods of :data:`WORKLOADS` until ``plan.containers`` containers exist; returns (containers, log paths).

    The ``plan.restarting`` pods restarted in the DNS outage come first (MongoDB clients, one
    container each), so they exist even when the budget is smaller (the twin asks for none).
    """
    have = sum(len(p["spec"]["containers"]) for p in s.pods)
    budget = max(plan.containers - have, 0)
    restart_left = plan.restarting
    logs: list[str] = []
    nodes = list(MS.NODES)
    hashes = {w[1]: _rs_hash(rng) for w in WORKLOADS}
    mongo_users = [w for w in WORKLOADS if w[3]]
    replica = 0
    while budget > 0 or restart_left > 0:
        if restart_left > 0:
            namespace, name, ctrs, uses_mongo = mongo_users[replica % len(mongo_users)]
            ctrs = ctrs[:1]
        else:
            namespace, name, ctrs, uses_mongo = WORKLOADS[replica % len(WORKLOADS)]
            ctrs = ctrs[:budget]
        budget = max(budget - len(ctrs), 0)
        replica += 1
        rs = f"{name}-{hashes[name]}"
        pod_name = f"{rs}-{_suffix(rng)}"
        created = MS.RELEASE + timedelta(seconds=30 + int(rng.integers(0, 600)))
        restarted = uses_mongo and restart_left > 0
        containers = []
        for k, (cname, image) in enumerate(ctrs):
            started = created + timedelta(seconds=8 + k)
            restart_count, last = 0, None
            if restarted and k == 0:
                restart_count = int(rng.integers(2, 5))
                run_start = OUTAGE + timedelta(seconds=int(rng.integers(0, 60)))
                run_end = run_start + timedelta(seconds=30, milliseconds=int(rng.integers(20, 90)))
                last = (run_start, run_end, 1, "Error")
                started = run_end + timedelta(seconds=int(rng.integers(20, 41)))
            containers.append(
                MS.Ctr(
                    cname,
                    f"{MS.REGISTRY}/{image}:{MS.VERSION if image.startswith('panda/') else '1.8.2'}",
                    started,
                    env=(("MONGO_URI", "mongodb://mongodb:27017/panda"),) if uses_mongo and k == 0 else (),
                    restart_count=restart_count,
                    last=last,
                )
            )
        node = nodes[replica % len(nodes)]
        ip = f"10.42.{replica % 3}.{40 + replica % 200}"
        pod = MS.make_pod(
            s,
            name=pod_name,
            labels={
                "app.kubernetes.io/instance": name.split("-")[0],
                "app.kubernetes.io/name": name,
                "pod-template-hash": hashes[name],
            },
            owner=("apps/v1", "ReplicaSet", rs, s.uid()),
            node=node,
            pod_ip=ip,
            created=created,
            containers=containers,
            namespace=namespace,
        )
        for c in containers:
            rel = f"logs/{namespace}/{pod_name}/{c.name}.log"
            logs.append(rel)
            _container_log(s, rel, c, plan, rng)
            if c.last is not None:
                restart_left -= 1
                _crashed(s, pod, c, rng)
    return sum(len(p["spec"]["containers"]) for p in s.pods), logs


def _container_log(s: Any, rel: str, c: Any, plan: Plan, rng: np.random.Generator) -> None:
    """A quiet container's log: its start-up lines, then one line a minute inside the window."""
    t = c.started_at + timedelta(milliseconds=int(rng.integers(100, 900)))
    s.log(rel, t, f'{{"level":"info","ts":"{MS.iso_ms(t)}","msg":"starting {c.name}","version":"{MS.VERSION}"}}')
    if any(k == "MONGO_URI" for k, _ in c.env):
        s.log(
            rel,
            t + timedelta(milliseconds=40),
            f'{{"level":"info","ts":"{MS.iso_ms(t)}","msg":"connected to mongodb:27017"}}',
        )
    t = WINDOW[0] + timedelta(seconds=int(rng.integers(0, 60)), milliseconds=int(rng.integers(0, 999)))
    while t < WINDOW[1]:
        s.log(
            rel,
            t,
            f'{{"level":"info","ts":"{MS.iso_ms(t)}","msg":"health ok","uptime_s":{int((t - c.started_at).total_seconds())}}}',
        )
        t += timedelta(seconds=60, milliseconds=int(rng.integers(0, 400)))


def _crashed(s: Any, pod: dict[str, Any], c: Any, rng: np.random.Generator) -> None:
    """The previous log and BackOff event of a container that died in the seed 002 DNS outage."""
    meta = pod["metadata"]
    prev = f"logs/{meta['namespace']}/{meta['name']}/{c.name}.previous.log"
    start, end, _, _ = c.last
    t0 = start + timedelta(milliseconds=512)
    s.log(prev, t0, f"INFO     Starting {c.name} {MS.VERSION}")
    s.log(prev, t0 + timedelta(milliseconds=9), "INFO     Connecting to MongoDB at mongodb:27017")
    oid = f"{int(start.timestamp()):08x}{int(rng.integers(0, 2**62)):016x}"
    s.log_block(
        prev,
        end,
        [
            f"ERROR    {c.name} startup failed",
            "Traceback (most recent call last):",
            f'  File "/app/{c.name.replace("-", "_")}/main.py", line 42, in main',
            '    client.admin.command("ping")',
            '  File "/usr/local/lib/python3.11/site-packages/pymongo/topology.py", line 303, in _select_servers_loop',
            "    raise ServerSelectionTimeoutError(",
            _DNS_ERROR.format(oid=oid),
        ],
    )
    MS.kubelet_event(
        s,
        pod,
        "BackOff",
        f"Back-off restarting failed container {c.name} in pod {meta['name']}_{meta['namespace']}({meta['uid']})",
        end + timedelta(seconds=1),
        end + timedelta(seconds=60),
        count=c.restart_count - 1 or 1,
        kind="Warning",
        container=c.name,
    )


def _tenant_pods(s: Any, total: int, rng: np.random.Generator) -> None:
    """Other tenants' healthy pods (a big shared cluster) until pods.json lists ``total`` pods."""
    missing = total - len(s.pods)
    nodes = list(MS.NODES)
    teams = ("billing", "search", "ingest", "ml-serving", "payments", "reports", "etl", "web")
    for i in range(max(missing, 0)):
        team = teams[i % len(teams)]
        namespace = f"tenant-{team}-{i % 97:02d}"
        deploy = f"{team}-svc-{i % 13}"
        rs = f"{deploy}-{_rs_hash(rng)}"
        created = MS.RELEASE - timedelta(days=1 + i % 9, seconds=i)
        MS.make_pod(
            s,
            name=f"{rs}-{_suffix(rng)}",
            labels={"app.kubernetes.io/name": deploy, "pod-template-hash": rs.rsplit("-", 1)[1], "team": team},
            owner=("apps/v1", "ReplicaSet", rs, s.uid()),
            node=nodes[i % len(nodes)],
            pod_ip=f"10.{44 + i // 65000}.{(i // 250) % 256}.{i % 250 + 2}",
            created=created,
            containers=[MS.Ctr(deploy, f"{MS.REGISTRY}/{team}/{deploy}:3.{i % 7}.0", created + timedelta(seconds=6))],
            namespace=namespace,
        )


# --------------------------------------------------------------------------- jobs (seed 004 stages)
@dataclass
class _Job:
    job_id: str
    pod: str
    ip: str
    rel: str  # analyzer log
    consuming: datetime
    running: bool
    peer: str


def _complete(s: Any, job: dict[str, Any], pod: dict[str, Any], end: datetime) -> None:
    """Mark a Job and its pod finished (``Complete``; the container terminated with exit 0, Completed)."""
    done = MS.k8s_time(end)
    job["status"] = {
        "completionTime": done,
        "conditions": [
            {"lastProbeTime": done, "lastTransitionTime": done, "status": "True", "type": "Complete"},
        ],
        "ready": 0,
        "startTime": job["status"]["startTime"],
        "succeeded": 1,
        "terminating": 0,
        "uncountedTerminatedPods": {},
    }
    status = pod["status"]
    status["phase"] = "Succeeded"
    for cond in status["conditions"]:
        if cond["type"] in ("Ready", "ContainersReady", "PodReadyToStartContainers"):
            cond["status"] = "False"
            cond["lastTransitionTime"] = done
            if cond["type"] != "PodReadyToStartContainers":
                cond["reason"] = "PodCompleted"
    for c in status["containerStatuses"]:
        started = c["state"]["running"]["startedAt"]
        c["ready"] = False
        c["started"] = False
        c["state"] = {
            "terminated": {
                "containerID": c["containerID"],
                "exitCode": 0,
                "finishedAt": done,
                "reason": "Completed",
                "startedAt": started,
            }
        }
    jmeta = job["metadata"]
    s.events.append(
        {
            "apiVersion": "v1",
            "count": 1,
            "eventTime": None,
            "firstTimestamp": done,
            "involvedObject": {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "name": jmeta["name"],
                "namespace": jmeta["namespace"],
                "resourceVersion": jmeta["resourceVersion"],
                "uid": jmeta["uid"],
            },
            "kind": "Event",
            "lastTimestamp": done,
            "message": "Job completed",
            "metadata": MS.event_meta(s, jmeta["name"], jmeta["namespace"], end),
            "reason": "Completed",
            "reportingComponent": "job-controller",
            "reportingInstance": "",
            "source": {"component": "job-controller"},
            "type": "Normal",
        }
    )


def _jobs(s: Any, p: Any, plan: Plan, running: int, rng: np.random.Generator) -> list[_Job]:
    """``plan.jobs`` jobs configured between JOBS_FROM and JOBS_TO, each ready within seconds (seed 004)."""
    out: list[_Job] = []
    if not plan.jobs:
        return out
    spacing = (JOBS_TO - JOBS_FROM).total_seconds() / plan.jobs
    nodes = list(MS.NODES)
    docs = []
    configs = (MS.CONFIG_A, MS.CONFIG_B, {"height": 600, "ch_min": 100, "ch_max": 400, "f_max": 750})
    for i in range(plan.jobs):
        job_id = f"{30 + i // 25}-{i % 25 + 1}"
        name = f"grpc-job-{job_id}"
        cfg = configs[i % len(configs)]
        start = JOBS_FROM + timedelta(seconds=i * spacing + float(rng.uniform(0, spacing / 2)))
        conf_s = round(float(rng.uniform(0.25, 0.45)), 3)
        MS.configure_ok(s, p, start, job_id, cfg, conf_s)
        job, labels = MS.make_job(s, name, start + timedelta(seconds=conf_s - 0.05), job_id)
        pod_created = start + timedelta(seconds=float(rng.uniform(1.0, 2.5)))
        started = pod_created + timedelta(seconds=float(rng.uniform(0.8, 1.6)))
        node = nodes[2 - i % 2]
        ip = f"10.42.2.{30 + i % 200}"
        pod_name = f"{name}-{_suffix(rng)}"
        pod = MS.job_pod(
            s, job, labels, pod_name, node=node, ip=ip, created=pod_created, started=started, job_id=job_id
        )
        pull_ms = int(rng.integers(240, 420))
        MS.job_pod_events(
            s,
            pod,
            job,
            created=pod_created,
            scheduled=pod_created + timedelta(milliseconds=36),
            pulling=pod_created + timedelta(milliseconds=110),
            pulled=pod_created + timedelta(milliseconds=110 + pull_ms),
            pull_ms=pull_ms,
            started=started,
        )
        rel = f"logs/panda/{pod_name}/baby-analyzer.log"
        declared = started + timedelta(seconds=float(rng.uniform(1.0, 1.3)))
        consuming = declared + timedelta(seconds=float(rng.uniform(0.9, 1.4)))
        extra = [
            (declared + timedelta(milliseconds=30), "[INFO] Loading classifier model /models/ml_ground_v3.onnx"),
            (consuming - timedelta(milliseconds=120), "[INFO] Model loaded in 0.9s"),
        ]
        MS.analyzer_start(s, rel, job_id, started, declared, consuming, extra)
        peer = f"{ip}:{MS.Sample.port(s)}"
        pid = f"<0.{31000 + i * 217}.0>"
        MS.amqp_connection(s, p, started + timedelta(milliseconds=452), peer, pid)
        ready = consuming + timedelta(milliseconds=int(rng.integers(40, 200)))
        MS.metadata_polls(
            s, p, job_id, start + timedelta(seconds=0.308), ready, (900, 1300), MS.job_metadata_body(job_id, cfg)
        )
        is_running = i >= plan.jobs - running
        channels = cfg["ch_max"] - cfg["ch_min"] + 1
        end = (
            CREATED_AT - timedelta(seconds=2)
            if is_running
            else consuming + timedelta(minutes=float(rng.uniform(8, 40)))
        )
        end = min(end, CREATED_AT - timedelta(seconds=2))
        t, n = consuming + timedelta(seconds=2, milliseconds=140), 1
        while t <= end:  # one line every 2 minutes: the chunks in between are logged at debug level
            s.log(rel, t, f"[INFO] Processed chunk {n}: {channels} channels, 1024 samples, 0 alerts")
            t += timedelta(seconds=120, milliseconds=int(rng.integers(0, 250)))
            n += 8
        if not is_running:
            s.log(rel, end - timedelta(milliseconds=300), f"[INFO] Stopping consumer on queue {name}")
            s.log(rel, end - timedelta(milliseconds=80), f"[INFO] Baby Analyzer finished job {job_id}: {n} chunks")
            _complete(s, job, pod, end)
        docs.append((start + timedelta(seconds=conf_s - 0.06), job_id, cfg))
        out.append(_Job(job_id, pod_name, ip, rel, consuming, is_running, peer))
    MS.save_jobs_collection(s, docs)
    return out


# --------------------------------------------------------------------------- RabbitMQ snapshots
def _snapshots(s: Any, plan: Plan, jobs: list[_Job], alert_times: list[datetime], rng: np.random.Generator) -> None:
    """``plan.snapshots`` management snapshots from 13:20 to 13:25 with ``plan.queues`` queues, all consumed."""
    s.jsonl["rabbitmq/snapshots.jsonl"] = []
    count = max(plan.snapshots, 1)
    first, last = (
        datetime(2025, 11, 8, 13, 20, 0, 31000, tzinfo=UTC),
        datetime(2025, 11, 8, 13, 24, 59, 988000, tzinfo=UTC),
    )
    step = (last - first) / max(count - 1, 1)
    running = [j for j in jobs if j.running]
    extra = max(plan.queues - 2 - len(running), 0)
    sites = min(extra // 3, 40)
    replies = min((extra - sites) * 2 // 3, 150)
    services = extra - sites - replies
    reply_names = [f"amq.gen-{''.join(chr(65 + int(c) % 26) for c in rng.integers(0, 26, 22))}" for _ in range(replies)]
    tags: dict[str, str] = {}
    alert_ns = np.array([_ns(t) for t in alert_times], dtype=np.int64)
    for k in range(count):
        when = first + step * k
        sent = int(np.searchsorted(alert_ns, _ns(when)))
        recent = sent - int(np.searchsorted(alert_ns, _ns(when - timedelta(seconds=60))))
        alerts = MS.Q(ALERTS_QUEUE, consumers=1, published=57 + sent, delivered=57 + sent, publish_rate=round(recent / 60, 2),
                      idle_since=None if recent else datetime(2025, 11, 8, 11, 2, 13, 480000, tzinfo=UTC))  # fmt: skip
        events = MS.Q("focus-server-events", consumers=1, published=1312, delivered=1312,
                      idle_since=datetime(2025, 11, 7, 9, 13, 1, 22000, tzinfo=UTC))  # fmt: skip
        queues = [alerts, events]
        consumers = [MS.Consumer(alerts.name, f"{MS.WEBAPP_IP}:41766", "ctag1.0b1c5f0e8d2a4a7c9e3f6b1d2c4e5f6a"),
                     MS.Consumer(events.name, f"{FOCUS_IP}:52210", "ctag1.7c2e9b4d1a3f4e6b8d0c2a4e6f8b0d2c")]  # fmt: skip
        for job in running:
            chunks = max(int((when - job.consuming).total_seconds() // 15), 0)
            queues.append(MS.Q(f"grpc-job-{job.job_id}", consumers=1, published=chunks, delivered=chunks,
                               publish_rate=0.0667, auto_delete=True, durable=False))  # fmt: skip
            consumers.append(MS.Consumer(f"grpc-job-{job.job_id}", job.peer, tags.setdefault(job.job_id, MS.ctag(s))))
        for n in range(sites):
            name = f"prisma-{211 + n}-1000-alerts"
            queues.append(
                MS.Q(name, consumers=1, published=300 + 7 * n + k, delivered=300 + 7 * n + k, publish_rate=0.02)
            )
            consumers.append(MS.Consumer(name, f"10.42.1.{100 + n}:4{1000 + n}", tags.setdefault(name, MS.ctag(s))))
        for n, name in enumerate(reply_names):
            queues.append(MS.Q(name, consumers=1, auto_delete=True, durable=False))
            consumers.append(
                MS.Consumer(name, f"10.42.0.{60 + n % 150}:5{1000 + n}", tags.setdefault(name, MS.ctag(s)))
            )
        for n in range(services):
            name = f"segy-recorder.chunks.{n:03d}"
            ready = int(rng.integers(0, 4))  # a few in flight, not growing
            queues.append(MS.Q(name, consumers=1, ready=ready, published=9000 + 40 * k + n, delivered=9000 + 40 * k + n - ready,
                               publish_rate=0.67))  # fmt: skip
            consumers.append(MS.Consumer(name, f"10.42.2.17:3{3000 + n}", tags.setdefault(name, MS.ctag(s))))
        MS.snapshot(s, when, queues, consumers, connections=len({c.peer for c in consumers}))


# --------------------------------------------------------------------------- alerts (seed 000)
def _alerts(s: Any, p: Any, plan: Plan, jobs: list[_Job], rng: np.random.Generator) -> list[datetime]:
    """``plan.alerts`` pushes spread over the window, each delivered end to end (seed 000's test-sd-123)."""
    running = [j for j in jobs if j.running] or jobs
    times: list[datetime] = []
    if not plan.alerts:
        return times
    span = (WINDOW[1] - WINDOW[0]).total_seconds() - 45
    spacing = span / plan.alerts
    clients = ("10.42.0.0", "10.42.0.31", "10.42.2.44")
    for k in range(plan.alerts):
        push = WINDOW[0] + timedelta(seconds=5 + k * spacing + float(rng.uniform(0, spacing / 3)))
        times.append(push)
        aid = f"test-sd-{1000 + k}"
        cls, sev, dist = (104, 3, 4163) if k % 3 else (211, 2, int(rng.integers(100, 42000)))
        body = {"alertId": aid, "classId": cls, "severity": sev}
        s.log(p.focus, push + timedelta(milliseconds=11), f"[INFO] POST {ALERT_PATH}")
        s.log(p.focus, push + timedelta(milliseconds=13), f"[INFO] Received alert: {json.dumps(body)}")
        s.log(p.focus, push + timedelta(milliseconds=15), f"[INFO] Publishing alert to RabbitMQ: {aid}")
        published = push + timedelta(milliseconds=88)
        MS.rabbit_line(s, p, published - timedelta(milliseconds=2), "debug", "<0.4521.0>",
                       f"Message published to exchange 'prisma' with routing_key '{ROUTING_KEY}'")  # fmt: skip
        s.log(p.focus, published, "[INFO] Alert published successfully")
        s.log(
            p.focus,
            push + timedelta(milliseconds=97),
            MS.uvicorn_access(MS.WEBAPP_IP, s.port(), "POST", ALERT_PATH, 201),
        )
        req_time = round(float(rng.uniform(0.09, 0.12)), 3)
        s.log(
            p.ingress,
            push + timedelta(seconds=req_time, microseconds=420),
            MS.ingress_line(s, push + timedelta(seconds=req_time), client=clients[k % 3], method="POST",
                            uri=f"/prisma{ALERT_PATH}", status=201, body_bytes=450, ua=MS.TEST_UA, req_len=902,
                            req_time=req_time, upstream=MS.WEBAPP_UPSTREAM, upstream_addr=f"{MS.WEBAPP_IP}:80"),
        )  # fmt: skip
        job = running[k % len(running)]
        s.log(
            job.rel,
            push + timedelta(milliseconds=131),
            f"[INFO] Alert detected: class_id={cls}, severity={sev}, distance_m={dist}",
        )
        s.log(job.rel, push + timedelta(milliseconds=133), f"[INFO] Publishing alert to RabbitMQ: {ROUTING_KEY}")
        s.log(job.rel, push + timedelta(milliseconds=162), f"[INFO] Alert published successfully: {aid}")
        MS.rabbit_line(
            s,
            p,
            push + timedelta(milliseconds=171),
            "debug",
            "<0.3982.0>",
            f"Message consumed from queue '{ALERTS_QUEUE}'",
        )
        sound = push + timedelta(seconds=1, milliseconds=int(rng.integers(80, 400)))
        s.log(
            p.ingress,
            sound + timedelta(milliseconds=2),
            MS.ingress_line(s, sound, client="10.42.0.0", method="GET", uri="/assets/sounds/alert_sound.mp3", status=206,
                            body_bytes=25214, ua=MS.BROWSER_UA, req_len=64, req_time=0.002, upstream=MS.WEBAPP_UPSTREAM,
                            upstream_addr=f"{MS.WEBAPP_IP}:80", referer=f"https://{MS.STAGING_HOST}/prisma/", proto="HTTP/2.0"),
        )  # fmt: skip
        saved = push + timedelta(milliseconds=190)
        s.add_jsonl(
            "mongo/alerts.jsonl",
            {"_id": {"$oid": MS.object_id(saved, s.rng)}, "alertId": aid, "classId": cls, "severity": sev,
             "distance_m": dist, "jobId": job.job_id, "exchange": "prisma", "routingKey": ROUTING_KEY,
             "source": "push-to-rabbit", "createdAt": {"$date": MS.iso_ms(saved)}},
        )  # fmt: skip
    return times


# --------------------------------------------------------------------------- bulk traffic (vectorised)
#: Background requests: (weight, method, target template, upstream, status, body bytes, user agent kind, proto).
#: ``{job}`` is a running job id, ``{n}`` a number; focus-server targets also reach the Focus log.
_KINDS: tuple[tuple[float, str, str, str, int, int, int, str], ...] = (
    (0.14, "GET", "/focus-server/live_metadata", "focus", 200, len(WAITING_BODY), 1, "HTTP/1.1"),
    (0.08, "GET", "/focus-server/channels?start={n}&end={m}", "focus", 200, 2048, 1, "HTTP/1.1"),
    (0.07, "GET", "/focus-server/metadata/{job}", "focus", 200, 412, 1, "HTTP/1.1"),
    (0.03, "GET", "/focus-server/jobs?status=running", "focus", 200, 6120, 1, "HTTP/1.1"),
    (0.22, "GET", "/prisma/api/prisma-210-1000/api/alerts?limit=50", "webapp", 200, 3811, 0, "HTTP/2.0"),
    (0.10, "GET", "/prisma/api/prisma-210-1000/api/jobs", "webapp", 200, 9250, 0, "HTTP/2.0"),
    (0.12, "GET", "/socket.io/?EIO=4&transport=polling&t=P{n}", "webapp", 200, 96, 0, "HTTP/2.0"),
    (0.10, "GET", "/prisma/assets/index-6c1f9a2b.js", "webapp", 304, 0, 0, "HTTP/2.0"),
    (0.06, "GET", "/prisma/", "webapp", 200, 1520, 0, "HTTP/2.0"),
    (0.05, "GET", "/prisma/api/prisma-210-1000/api/fiber/status", "webapp", 200, 230, 2, "HTTP/1.1"),
    (0.03, "GET", "/healthz", "webapp", 200, 2, 3, "HTTP/1.1"),
)
_AGENTS = (
    (MS.BROWSER_UA, "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0",
     "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15"),
    (MS.TEST_UA, "python-requests/2.31.0", MS.PROBE_UA),
    (MS.TEST_UA, "Go-http-client/1.1"),
    ("kube-probe/1.31",),
)  # fmt: skip
_REASONS = {200: "OK", 304: "Not Modified", 404: "Not Found"}
_UPSTREAMS = {
    "focus": (MS.FOCUS_UPSTREAM, (f"{FOCUS_IP}:5000",)),
    "webapp": (MS.WEBAPP_UPSTREAM, (f"{MS.WEBAPP_IP}:80",)),
}


def _traffic(
    n: int, job_ids: Sequence[str], rng: np.random.Generator
) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    """``n`` background access lines (ingress, sorted) and the Focus log's uvicorn lines for those it served."""
    if n <= 0:
        empty = np.zeros(0, dtype=np.int64)
        return [], empty, [], empty
    lo, hi = _ns(WINDOW[0]), _ns(WINDOW[1])
    end_ns = np.sort(rng.integers(lo, hi, n, dtype=np.int64))
    weights = np.array([k[0] for k in _KINDS])
    kind = rng.choice(len(_KINDS), n, p=weights / weights.sum())
    clients = [f"10.42.{a}.{b}" for a in range(3) for b in range(1, 21)] + [f"10.10.20.{b}" for b in range(11, 31)]
    client = rng.integers(0, len(clients), n)
    roll = rng.random(n)
    req_time = np.round(rng.exponential(0.02, n) + 0.001, 3)
    req_len = rng.integers(60, 700, n)
    nums = rng.integers(1, 2000, n)
    agent_pick = rng.integers(0, 3, n)
    port = rng.integers(32768, 60999, n)
    jobs = list(job_ids) or ["30-1"]
    job_pick = rng.integers(0, len(jobs), n)
    ids = rng.bytes(16 * n).hex()
    kubelet = _kubelet(end_ns + rng.integers(300_000, 2_500_000, n)).tolist()
    seconds = end_ns // 1_000_000_000
    local_of = {int(sec): MS.nginx_time(datetime.fromtimestamp(int(sec), UTC)) for sec in np.unique(seconds)}
    ingress: list[str] = []
    focus: list[str] = []
    focus_ns: list[int] = []
    missing_paths = (
        "/favicon.ico",
        "/robots.txt",
        "/.env",
        "/wp-login.php",
        "/prisma/api/prisma-210-1000/api/v2/alerts",
    )
    for i in range(n):
        _, method, target, up, status, size, ua_kind, proto = _KINDS[kind[i]]
        if "{" in target:
            target = target.format(n=nums[i], m=nums[i] + 50, job=jobs[job_pick[i]])
        agents = _AGENTS[ua_kind]
        agent = agents[agent_pick[i] % len(agents)]
        upstream, addrs = _UPSTREAMS[up]
        r = roll[i]
        addr, ulen, utime, ustatus = addrs[0], str(size), f"{req_time[i]:.3f}", str(status)
        if r < 0.0003:  # the upstream failed this once (not repeated: no storm)
            status, size = (502, 150) if r < 0.00015 else (504, 160)
            ulen, utime, ustatus = "0", f"{req_time[i] + 5:.3f}", str(status)
        elif r < 0.0023:  # scanners and stale bookmarks
            target, status, size = missing_paths[i % len(missing_paths)], 404, 153
            upstream, addr = _UPSTREAMS["webapp"][0], _UPSTREAMS["webapp"][1][0]
            ulen, ustatus = "153", "404"
        elif r < 0.0033:  # the client went away before the answer
            status, size = 499, 0
            addr = ulen = utime = ustatus = "-"
        cli = clients[client[i]]
        ingress.append(
            f'{kubelet[i]} {cli} - - [{local_of[int(seconds[i])]}] "{method} {target} {proto}" {status} {size} "-" "{agent}" '
            f"{req_len[i]} {req_time[i]:.3f} [{upstream}] [] {addr} {ulen} {utime} {ustatus} {ids[32 * i : 32 * i + 32]}"
        )
        if up == "focus" and status in _REASONS and upstream == MS.FOCUS_UPSTREAM:
            path = target.removeprefix("/focus-server")
            at = int(end_ns[i]) - 1_000_000
            focus_ns.append(at)
            focus.append(f'INFO:     {cli}:{port[i]} - "{method} {path} HTTP/1.1" {status} {_REASONS[status]}')
    fns = np.array(focus_ns, dtype=np.int64)
    prefixed = [f"{k} {line}" for k, line in zip(_kubelet(fns).tolist(), focus, strict=True)]
    return ingress, end_ns, prefixed, fns


# --------------------------------------------------------------------------- dirty data
_INGRESS_BANNER = (
    "-------------------------------------------------------------------------------",
    "NGINX Ingress controller",
    "  Release:       v1.11.3",
    "  Build:         0106de65cfccb74405a6dfa7d9daffc6f0a6ef1a",
    "  Repository:    https://github.com/kubernetes/ingress-nginx",
    "  nginx version: nginx/1.25.5",
    "",
    "-------------------------------------------------------------------------------",
)
_RABBIT_BANNER = (
    "",
    "  ##  ##      RabbitMQ 3.12.13",
    "  ##  ##",
    "  ##########  Copyright (c) 2007-2024 Broadcom Inc and/or its subsidiaries",
    "  ######  ##",
    "  ##########  Licensed under the MPL 2.0. Website: https://rabbitmq.com",
    "",
    "  Erlang:      26.2.5 [jit]",
    "  TLS Library: OpenSSL - OpenSSL 3.1.6 4 Jun 2024",
    "  Release series support status: supported",
)
_FOCUS_BANNER = (
    "/usr/local/lib/python3.11/site-packages/pydantic/_internal/_config.py:341: UserWarning: Valid config keys have changed in V2:",
    "* 'orm_mode' has been renamed to 'from_attributes'",
    "  warnings.warn(message, UserWarning)",
)


def _dirty(
    lines: list[str],
    keys: np.ndarray,
    family: str,
    rng: np.random.Generator,
    *,
    copy_from: Sequence[int],
    huge: int = 200_000,
) -> tuple[list[str], np.ndarray]:
    """Add the dirt real logs carry (each an extra line; no evidence line is changed).

    Cut copies of ordinary lines (about 0.05%, at least 3: log rotation and kubelet line
    splitting cut them mid-field, leaving a ``"`` unbalanced), lines with odd and escaped
    quotes, a start-up banner without kubelet prefixes, NUL runs (a preallocated file), one
    huge value (200 KB) and, in busy logs, one line over the readers' 256 KiB cap, and a
    byte that is no UTF-8 (written through ``surrogateescape``).
    """
    if not lines:
        return lines, keys
    extra: list[tuple[int, str]] = []
    count = max(3, len(lines) // 2000)
    pool = list(copy_from) or list(range(len(lines)))
    for pos in rng.choice(pool, size=min(count, len(pool)), replace=False):
        line = lines[int(pos)]
        cut = int(rng.integers(31, max(len(line) - 1, 32)))
        extra.append((int(pos), line[:cut]))
    pos = int(pool[int(rng.integers(0, len(pool)))])
    sample = lines[pos]
    stamp = sample[:31]
    banner: tuple[str, ...]
    if family == "ingress":
        extra.append(
            (
                pos,
                stamp
                + '10.42.0.9 - - [08/Nov/2025:13:19:02 +0000] "GET /prisma/?q="x" HTTP/1.1" 200 1520 "-" "Mozilla/5.0 "quoted" agent" 511 0.004 [webapp-webapp-pz-web-webapp-ui-80] [] 10.42.1.9:80 1520 0.004 200 5b6c1f0e8d2a4a7c9e3f6b1d2c4e5f6a',
            )
        )
        extra.append(
            (
                pos,
                stamp
                + '10.42.0.9 - - [08/Nov/2025:13:19:02 +0000] "GET /prisma/?q=\\x22x\\x22 HTTP/1.1" 200 1520 "http://10.10.10.100/prisma/?q=\\x22x\\x22" "Mozilla/5.0 \\x22escaped\\x22" 511 0.004 [webapp-webapp-pz-web-webapp-ui-80] [] 10.42.1.9:80 1520 0.004 200 6b6c1f0e8d2a4a7c9e3f6b1d2c4e5f6a',
            )
        )
        huge_ua = "Mozilla/5.0 " + "A" * huge
        extra.append(
            (
                pos,
                stamp
                + f'10.42.0.9 - - [08/Nov/2025:13:19:03 +0000] "GET /prisma/ HTTP/1.1" 200 1520 "-" "{huge_ua}" 511 0.004 [webapp-webapp-pz-web-webapp-ui-80] [] 10.42.1.9:80 1520 0.004 200 7b6c1f0e8d2a4a7c9e3f6b1d2c4e5f6a',
            )
        )
        banner = _INGRESS_BANNER
    elif family == "focus":
        extra.append(
            (
                pos,
                stamp
                + '2025-11-08T13:19:02+0000 WARNING pz.focus_server client sent "display"Info" with an \'odd "quote',
            )
        )
        extra.append(
            (
                pos,
                stamp + "2025-11-08T13:19:03+0000 INFO pz.focus_server channel map: " + "ch=1,d=1.0209;" * (huge // 14),
            )
        )
        banner = _FOCUS_BANNER
    elif family == "rabbitmq":
        extra.append(
            (
                pos,
                stamp
                + "2025-11-08 13:19:02.000114+00:00 [warning] <0.812.0> HTTP access denied: user 'guest' - \"invalid credentials\" from '10.42.0.9",
            )
        )
        extra.append((pos, stamp + "2025-11-08 13:19:03.000114+00:00 [info] <0.812.0> " + "x" * huge))
        banner = _RABBIT_BANNER
    else:
        extra.append((pos, stamp + "[WARNING] unexpected \"quote in 'message"))
        extra.append((pos, stamp + "[INFO] " + "y" * huge))
        banner = ()
    extra.append((pos, stamp + "\x00" * 64 + sample[31:]))
    extra.append((pos, "\x00" * 512))
    extra.append((pos, stamp + "[INFO] caf\udce9 au lait (latin-1 byte)"))
    if len(lines) > 200_000:
        extra.append((pos, stamp + "z" * 300_000))  # over the 256 KiB line cap: cut and counted
    extra.extend((pos, b) for b in banner)
    ordered = sorted(extra, key=lambda e: e[0])
    positions = np.array([e[0] for e in ordered], dtype=np.int64)
    new_lines = list(lines)
    for offset, (at, text) in enumerate(ordered):
        new_lines.insert(at + offset + 1, text)
    new_keys = np.insert(keys, positions + 1, keys[positions])
    return new_lines, new_keys


def _dirty_jsonl(text: str, rng: np.random.Generator, huge: int = 120_000) -> str:
    """A cut copy of a line, a NUL run and a line with an unescaped quote among the lines (all
    three unreadable, to be counted); and one real record given an extra huge string field."""
    lines = text.splitlines(keepends=True)
    if not lines:
        return text
    k = int(rng.integers(0, len(lines)))
    pick = lines[k]
    cut = pick[: max(len(pick) // 3, 5)] + "\n"
    odd = '{"' + pick[1:]  # {""at": ...: an unescaped quote
    try:
        obj = json.loads(pick)
        obj["note"] = "n" * huge
        lines[k] = json.dumps(obj, separators=(",", ":"), ensure_ascii=False) + "\n"
    except ValueError:  # pragma: no cover - the generator writes JSON
        pass
    middle = len(lines) // 2
    return "".join([*lines[:middle], cut, "\x00" * 300 + "\n", odd, *lines[middle:]])


# --------------------------------------------------------------------------- the bundle
def _merge(small: list[str], big: list[str], big_ns: np.ndarray) -> tuple[list[str], np.ndarray]:
    keys = np.concatenate([_prefix_ns(small), big_ns])
    order = np.argsort(keys, kind="stable")
    lines = small + big
    return [lines[i] for i in order], keys[order]


def build_bundle(out: Path | str, plan: Plan | None = None) -> Built:
    """Write the busy bundle of ``plan`` into the directory ``out`` (created; must not hold a bundle)."""
    plan = plan or Plan()
    started = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(plan.seed)
    s = MS.waiting_for_fiber()  # the seed 002 incident, as the sample has it
    s.description = (
        f"diagnose_bench busy bundle ({plan.lines:,} ingress lines, {plan.jobs} jobs, {plan.queues} queues, "
        f"{plan.alerts} alerts) around the seed 002 incident: " + s.description
    )
    s.readme = f"# diagnose_bench bundle\n\nGenerated by `benchmarks/diagnose_bench.py` from {asdict(plan)}.\n"
    p = MS.Paths(focus=f"logs/panda/{FOCUS_POD}/focus-server.log")
    _workload_pods(s, plan, rng)
    running = min(max(plan.jobs * 3 // 10, 1), max((plan.queues - 2) // 2, 1), plan.jobs) if plan.jobs else 0
    jobs = _jobs(s, p, plan, running, rng)
    alert_times = _alerts(s, p, plan, jobs, rng)
    if plan.queues or plan.snapshots != 3:
        _snapshots(s, plan, jobs, alert_times, rng)
    if plan.pods:
        _tenant_pods(s, plan.pods, rng)

    # the two logs that grow with the traffic: rendered from the builder, merged with the bulk
    ingress_small = s.render_log(p.ingress).splitlines()
    focus_small = s.render_log(p.focus).splitlines()
    del s.logs[p.ingress], s.logs[p.focus]
    running_ids = [j.job_id for j in jobs if j.running]
    bulk, bulk_ns, focus_bulk, focus_ns = _traffic(plan.lines - len(ingress_small), running_ids, rng)
    big = {
        p.ingress: (*_merge(ingress_small, bulk, bulk_ns), "ingress"),
        p.focus: (*_merge(focus_small, focus_bulk, focus_ns), "focus"),
    }

    files = s.files()
    written = 0
    counts: Counter[str] = Counter()
    for rel, (lines, keys, family) in big.items():
        if plan.dirty:
            ordinary = [
                i
                for i, line in enumerate(lines)
                if not any(w in line for w in ("push-to-rabbit", "lert", "configur", "metadata/"))
            ]
            lines, keys = _dirty(
                lines, keys, family, rng, copy_from=ordinary[:: max(len(ordinary) // 5000, 1)], huge=plan.huge
            )
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:  # in pieces: no second and third copy of a 300 MB log
            for start in range(0, len(lines), 100_000):
                piece = ("\n".join(lines[start : start + 100_000]) + "\n").encode("utf-8", "surrogateescape")
                handle.write(piece)
                written += len(piece)
        counts[family] += len(lines)
    del big, lines, keys, bulk, focus_bulk
    for rel, data in files.items():
        if plan.dirty and rel.endswith(".log"):
            text = data.decode("utf-8")
            lines = text.splitlines()
            family = "rabbitmq" if "/rabbitmq-" in rel else "other"
            if family == "rabbitmq" or (
                rel.endswith(("baby-analyzer.log", "report-worker.log")) and zlib.crc32(rel.encode()) % 7 == 0
            ):
                peer = [
                    i
                    for i, line in enumerate(lines)
                    if "Peer discovery" in line or "Processed chunk" in line or "health ok" in line
                ]
                lines, _ = _dirty(lines, _prefix_ns(lines), family, rng, copy_from=peer, huge=plan.huge)
                data = ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape")
                files[rel] = data
        elif plan.dirty and rel.endswith(".jsonl"):
            data = _dirty_jsonl(data.decode("utf-8"), rng, plan.huge * 3 // 5).encode()
            files[rel] = data
        if rel.endswith(".jsonl"):
            counts[rel.rsplit("/", 1)[-1].removesuffix(".jsonl")] += data.count(b"\n")
        elif rel.endswith(".log"):
            counts["other logs"] += data.count(b"\n")
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written += len(data)
    _trim()
    return Built(
        path=out,
        plan=plan,
        seconds=time.perf_counter() - started,
        files=len(files) + 2,
        bytes=written,
        lines=dict(counts),
        pods=len(s.pods),
        containers=sum(len(pod["spec"]["containers"]) for pod in s.pods),
    )


def _trim() -> None:
    """Give the generator's freed memory back to the system (glibc keeps it otherwise)."""
    import ctypes
    import gc

    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


@contextlib.contextmanager
def busy_bundle(plan: Plan | None = None, *, keep: Path | str | None = None) -> Iterator[Path]:
    """A busy bundle in a temporary directory (removed afterwards unless ``keep`` names where to put it)."""
    plan = plan or Plan()
    if keep is not None:
        target = Path(keep) / _name(plan)
        if target.exists():
            shutil.rmtree(target)
        _BUILD_SECONDS[str(target)] = build_bundle(target, plan).seconds
        yield target
        return
    with tempfile.TemporaryDirectory(prefix="diagnose_bench_") as tmp:
        target = Path(tmp) / _name(plan)
        _BUILD_SECONDS[str(target)] = build_bundle(target, plan).seconds
        yield target


def _name(plan: Plan) -> str:
    if plan.lines == 0 and plan.jobs == 0:
        return "twin"
    return f"busy-{plan.lines}" + (f"-pods-{plan.pods}" if plan.pods else "")


# --------------------------------------------------------------------------- measures
@dataclass
class Run:
    """One end-to-end ``panda-analysis diagnose BUNDLE --json`` in a fresh process."""

    wall_s: float
    rss_mb: float | None  # the child's peak RSS (ru_maxrss of wait4: its VmHWM), 10^6 bytes
    exit_status: int | None  # None: killed at the timeout
    codes: Counter[str] = field(default_factory=Counter)
    error: str | None = None

    @property
    def count(self) -> int:
        return sum(self.codes.values())


#: ``--code DIR``: measure the ``panda_analysis`` package in DIR instead of the installed one
#: (e.g. ``git archive <commit> panda_analysis | tar -x -C DIR``; other engineers' uncommitted
#: work in the checkout then does not move the numbers).
CODE: Path | None = None


#: The measured process: what the ``panda-analysis`` console script runs (``panda_analysis.cli:main``),
#: plus its own peak RSS written at exit. ``VmHWM`` belongs to the process's memory after exec;
#: the ``ru_maxrss`` that ``wait4`` reports does not (Linux keeps the high-water mark of the
#: forked copy of this, possibly big, process across ``execve``).
_CHILD = """\
import atexit, os, sys
def _hwm():
    try:
        with open("/proc/self/status") as status:
            kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
        with open(os.environ["DIAGNOSE_BENCH_HWM"], "w") as out:
            out.write(str(kib))
    except (OSError, StopIteration, KeyError, ValueError):
        pass
atexit.register(_hwm)
from panda_analysis.cli import main
sys.argv[0] = "panda-analysis"
sys.exit(main())
"""


def _cli() -> list[str]:
    return [sys.executable, "-c", _CHILD]


def _vmhwm_mb(pid: int) -> float | None:
    """``VmHWM`` of a running process, MB (10^6 bytes); None once it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) * 1024 / 1e6
    except (OSError, StopIteration, ValueError):
        return None


def _child_env() -> tuple[dict[str, str], str]:
    """Environment and working directory of a measured process (no checkout on ``sys.path[0]``)."""
    env = dict(os.environ)
    if CODE is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(CODE), *filter(None, [env.get("PYTHONPATH")])])
    return env, tempfile.gettempdir()


def measured_package() -> str:
    """Where the measured processes import ``panda_analysis`` from."""
    env, cwd = _child_env()
    code = "import panda_analysis, sys; sys.stdout.write(panda_analysis.__file__)"
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True, check=True)
    return str(Path(done.stdout).parent)


def _wait(
    proc: subprocess.Popen[bytes], timeout_s: float, hwm_file: Path | None = None
) -> tuple[int | None, float | None]:
    """Reap ``proc``, killing it at the timeout; its exit status (None: killed) and peak RSS, MB.

    The peak is the ``VmHWM`` the process wrote at exit (``hwm_file``), else the last one read
    from ``/proc/<pid>/status`` while it ran (polled every 20 ms; ``VmHWM`` only grows).
    """
    deadline = time.monotonic() + timeout_s
    polled: float | None = None
    while proc.poll() is None:
        polled = _vmhwm_mb(proc.pid) or polled
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            return None, polled
        time.sleep(0.02)
    if hwm_file is not None:
        with contextlib.suppress(OSError, ValueError):
            return proc.returncode, int(hwm_file.read_text()) * 1024 / 1e6
    return proc.returncode, polled


def measure_diagnose(path: Path | str, *, timeout_s: float = 1800.0) -> Run:
    """Wall time, peak RSS and findings of ``panda-analysis diagnose PATH --json`` in a fresh process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryDirectory() as tmp:
        env, cwd = _child_env()
        hwm = Path(tmp) / "vmhwm"
        env["DIAGNOSE_BENCH_HWM"] = str(hwm)
        cmd = [*_cli(), "diagnose", str(Path(path).resolve()), "--json"]
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd)
        status, rss = _wait(proc, timeout_s, hwm)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read().decode("utf-8", "replace")
    run = Run(wall_s=wall, rss_mb=rss, exit_status=status)
    if status is None:
        run.error = f"killed after {timeout_s:.0f} s"
        return run
    try:
        found = json.loads(stdout)
        run.codes = Counter(str(f["code"]) for f in found)
    except (ValueError, TypeError, KeyError):
        tail = stderr.strip().splitlines()[-1:] or ["no output"]
        run.error = f"exit {status}, no JSON: {tail[0][:200]}"
    return run


def _rules_child(path: str) -> dict[str, Any]:
    """In this (fresh) process: parse time, then each rule of ``pa.diagnose.RULES`` on its own."""
    import panda_analysis as pa

    parsers: dict[str, float] = {}
    wrapped = []
    for module in getattr(pa.parse, "_MODULES", ()):  # time each parser inside the one frames() call
        original = module._frames

        def timed(
            bundle: Any, _original: Any = original, _name: str = module.__name__.rsplit(".", 1)[-1].lstrip("_")
        ) -> Any:
            begun = time.perf_counter()
            try:
                return _original(bundle)
            finally:
                parsers[_name] = parsers.get(_name, 0.0) + time.perf_counter() - begun

        module._frames = timed
        wrapped.append((module, original))
    started = time.perf_counter()
    try:
        frames = pa.parse.frames(pa.load_bundle(path))
    finally:
        for module, original in wrapped:
            module._frames = original
    out: dict[str, Any] = {
        "parse_s": time.perf_counter() - started,
        "parsers": parsers,
        "rows": {n: len(df) for n, df in frames.items()},
    }
    rules: dict[str, Any] = {}
    for name, (rule, _) in pa.diagnose.RULES.items():
        started = time.perf_counter()
        try:
            found = rule(frames)
            codes = dict(Counter(str(f.code) for f in found))
            error = None
        except Exception as err:  # noqa: BLE001  # a failing rule is a measurement too
            codes, error = {}, f"{type(err).__name__}: {err}"[:200]
        rules[name] = {"s": time.perf_counter() - started, "codes": codes, "error": error}
    out["rules"] = rules
    return out


def measure_rules(path: Path | str, *, timeout_s: float = 1800.0) -> dict[str, Any]:
    """Parse time and the time of every rule on the parsed frames, in a fresh process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--rules-of", str(Path(path).resolve())]
        env, cwd = _child_env()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd)
        status, rss = _wait(proc, timeout_s)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read().decode("utf-8", "replace")
    if status != 0:
        why = f"killed after {timeout_s:.0f} s" if status is None else f"exit {status}: {stderr.strip()[-300:]}"
        return {"error": why}
    result: dict[str, Any] = json.loads(stdout.decode().strip().splitlines()[-1])
    result["rss_mb"] = rss
    return result


def profile(plan: Plan, *, top: int = 40) -> str:
    """cProfile of parsing and diagnosing ``plan``'s bundle in this process: the top functions, cumulative."""
    import cProfile
    import pstats

    if CODE is not None and "panda_analysis" not in sys.modules:
        sys.path.insert(0, str(CODE))
    import panda_analysis as pa

    with busy_bundle(plan) as path:
        prof = cProfile.Profile()
        prof.enable()
        frames = pa.parse.frames(pa.load_bundle(path))
        found = pa.diagnose.run(frames)
        prof.disable()
    text = io.StringIO()
    stats = pstats.Stats(prof, stream=text)
    stats.sort_stats("cumulative").print_stats(top)
    counts = Counter(str(f.code) for f in found)
    where = Path(pa.__file__).parent
    head = f"profile of {plan.lines:,} lines ({where}): {len(found)} findings ({_codes(counts)})\n"
    return head + text.getvalue()


# --------------------------------------------------------------------------- the report
def _codes(codes: Counter[str]) -> str:
    return ", ".join(f"{c} {n}" for c, n in sorted(codes.items())) or "none"


def expected_codes(plan: Plan) -> Counter[str]:
    """The twin's findings: seed 002's, plus one CRASHLOOP_DNS per container restarted in its DNS outage."""
    return TWIN_CODES + Counter({"CRASHLOOP_DNS": plan.restarting})


def _verdict(ok: bool | None) -> str:
    return "" if ok is None else ("PASS" if ok else "FAIL")


def _fmt_s(run: Run) -> str:
    return f"{run.wall_s:,.1f}" + (" (killed)" if run.exit_status is None else "")


def growth(sizes: Sequence[int], times: Sequence[float]) -> list[tuple[int, int, float]]:
    """(smaller, larger, factor per 10x) for consecutive sizes: (t2/t1) ** (1 / log10(n2/n1)).

    >>> growth([10, 100, 1000], [1.0, 5.0, 60.0])
    [(10, 100, 5.0), (100, 1000, 12.0)]
    """
    out = []
    for (n1, t1), (n2, t2) in zip(
        zip(sizes, times, strict=True), list(zip(sizes, times, strict=True))[1:], strict=False
    ):
        if n1 > 0 and n2 > n1 and t1 > 0:
            out.append((n1, n2, round((t2 / t1) ** (1 / np.log10(n2 / n1)), 3)))
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or ``--generate-only`` / ``--profile``); return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="ingress lines per bundle, comma-separated")
    parser.add_argument("--pods", type=int, default=20_000, help="pods of the big-cluster bundle (0: skip it)")
    parser.add_argument("--containers", type=int, default=Plan.containers, help="containers of long-running pods")
    parser.add_argument("--restarting", type=int, default=Plan.restarting, help="of those, restarted (DNS outage)")
    parser.add_argument("--jobs", type=int, default=Plan.jobs, help="jobs (seed 004 stages)")
    parser.add_argument("--queues", type=int, default=Plan.queues, help="queues in the RabbitMQ snapshots")
    parser.add_argument("--alerts", type=int, default=Plan.alerts, help="alert pushes (seed 000 pipeline)")
    parser.add_argument("--snapshots", type=int, default=Plan.snapshots, help="RabbitMQ management snapshots")
    parser.add_argument("--clean", action="store_true", help="no dirty lines")
    parser.add_argument("--keep", metavar="DIR", help="write the bundles into DIR and keep them")
    parser.add_argument("--generate-only", action="store_true", help="only write the bundles (needs --keep)")
    parser.add_argument("--no-rules", action="store_true", help="skip the per-rule timing (one run less per bundle)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds before a measured process is killed")
    parser.add_argument("--profile", action="store_true", help="profile the first size instead (cProfile, cumulative)")
    parser.add_argument("--top", type=int, default=40, help="functions --profile prints")
    parser.add_argument(
        "--code", metavar="DIR", help="measure the panda_analysis package in DIR (default: the installed one)"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--rules-of", metavar="BUNDLE", help=argparse.SUPPRESS)  # the per-rule child process
    args = parser.parse_args(argv)
    global CODE
    CODE = Path(args.code).resolve() if args.code else None
    if CODE is not None and not (CODE / "panda_analysis" / "__init__.py").is_file():
        parser.error(f"--code {args.code}: no panda_analysis/__init__.py there")
    if args.rules_of:
        print(json.dumps(_rules_child(args.rules_of)))
        return 0
    sizes = [int(x.replace("_", "")) for x in args.sizes.split(",") if x.strip()]
    base = Plan(
        containers=args.containers, restarting=args.restarting, jobs=args.jobs, queues=args.queues,
        alerts=args.alerts, snapshots=args.snapshots, dirty=not args.clean,
    )  # fmt: skip
    plans = [replace(base, lines=n) for n in sizes]
    if args.pods:
        plans.append(replace(base, lines=sizes[0] if sizes else 10_000, pods=args.pods))
    if args.profile:
        print(profile(plans[0], top=args.top))
        return 0
    if args.generate_only:
        if not args.keep:
            parser.error("--generate-only needs --keep DIR")
        for plan in [Plan.twin(base), *plans]:
            built = build_bundle(Path(args.keep) / _name(plan), plan)
            print(
                f"{built.path}: {built.bytes / 1e6:,.1f} MB, {built.pods:,} pods, {built.seconds:.1f} s, {built.lines}"
            )
        return 0
    return _benchmark(base, plans, args)


def _benchmark(base: Plan, plans: list[Plan], args: argparse.Namespace) -> int:
    print(f"measuring {measured_package()}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print("plan: " + ", ".join(f"{k} {v}" for k, v in asdict(base).items() if k not in ("lines", "pods")))
    twin_plan = Plan.twin(base)
    with busy_bundle(twin_plan, keep=args.keep) as path:
        twin = measure_diagnose(path, timeout_s=args.timeout)
    expected = expected_codes(base)
    print(
        f"twin (seed 002 alone): {twin.count} findings ({_codes(twin.codes)}) in {twin.wall_s:.1f} s; expected {_codes(expected)}"
    )
    runs: list[tuple[Plan, Built, Run, dict[str, Any] | None]] = []
    for plan in plans:
        with busy_bundle(plan, keep=args.keep) as path:
            built = _built_info(path, plan)
            run = measure_diagnose(path, timeout_s=args.timeout)
            rules = None if args.no_rules else measure_rules(path, timeout_s=args.timeout)
        rss = f"{run.rss_mb:,.0f} MB" if run.rss_mb is not None else "?"
        print(
            f"{_name(plan)}: {built.bytes / 1e6:,.0f} MB bundle, {built.pods:,} pods (generated in {built.seconds:.1f} s); "
            f"diagnose {_fmt_s(run)} s, {rss}, {run.count} findings ({_codes(run.codes)})"
            + (f"; {run.error}" if run.error else ""),
            flush=True,
        )
        runs.append((plan, built, run, rules))
    results = _targets(runs, twin, expected)
    print(f"\n{'measure':<44} {'value':>16} {'target':>10}  result")
    for name, value, target, ok in results:
        print(f"{name:<44} {value:>16} {target:>10}  {_verdict(ok)}")
    _rule_table([r for r in runs if r[3] is not None])
    missed = [name for name, _, _, ok in results if ok is False]
    return 1 if args.check and missed else 0


def _built_info(path: Path, plan: Plan) -> Built:
    files = [f for f in path.rglob("*") if f.is_file()]
    pods = len(json.loads((path / "k8s" / "pods.json").read_text())["items"])
    return Built(path=path, plan=plan, seconds=_BUILD_SECONDS.get(str(path), 0.0), files=len(files),
                 bytes=sum(f.stat().st_size for f in files), pods=pods)  # fmt: skip


_BUILD_SECONDS: dict[str, float] = {}


def _targets(
    runs: list[tuple[Plan, Built, Run, dict[str, Any] | None]], twin: Run, expected: Counter[str]
) -> list[tuple[str, str, str, bool | None]]:
    out: list[tuple[str, str, str, bool | None]] = []
    twin_ok = twin.codes == expected and twin.error is None
    out.append(("twin findings = seed 002 (+ restarted)", f"{twin.count}", f"{sum(expected.values())}", twin_ok))
    busy = [(plan, run) for plan, _, run, _ in runs if not plan.pods]
    for plan, run in busy:
        label = f"{plan.lines:,} lines"
        big = plan.lines >= 1_000_000
        out.append(
            (
                f"{label}: diagnose wall s",
                _fmt_s(run),
                f"<= {TARGET_WALL_S:g}" if big else "",
                run.wall_s <= TARGET_WALL_S if big else None,
            )
        )
        rss = run.rss_mb if run.rss_mb is not None else float("nan")
        out.append(
            (
                f"{label}: peak RSS MB",
                f"{rss:,.0f}",
                f"<= {TARGET_RSS_MB:,.0f}" if big else "",
                rss <= TARGET_RSS_MB if big else None,
            )
        )
        same = run.codes == twin.codes and run.count <= TARGET_MAX_FINDINGS and run.error is None
        out.append((f"{label}: findings = twin", f"{run.count}", f"{twin.count}", same))
    done = [(plan.lines, run.wall_s) for plan, run in busy if run.exit_status is not None]
    for n1, n2, factor in growth([n for n, _ in done], [t for _, t in done]):
        out.append(
            (f"growth per 10x, {n1:,} -> {n2:,}", f"{factor:.1f}x", f"<= {TARGET_GROWTH:g}x", factor <= TARGET_GROWTH)
        )
    for plan, _, run, _ in runs:
        if plan.pods:
            ok = run.wall_s <= TARGET_PODS_S and run.exit_status is not None
            out.append((f"{plan.pods:,} pods: diagnose wall s", _fmt_s(run), f"<= {TARGET_PODS_S:g}", ok))
            out.append(
                (f"{plan.pods:,} pods: findings = twin", f"{run.count}", f"{twin.count}", run.codes == twin.codes)
            )
    return out


def _rule_table(runs: list[tuple[Plan, Built, Run, dict[str, Any] | None]]) -> None:
    """Seconds of parsing and of each rule per size, and each one's growth per 10x (the last pair of sizes)."""
    if not runs:
        return
    parsers = next((list(r.get("parsers", {})) for *_, r in runs if r and "rules" in r), [])
    names = [
        "parse",
        *(f"  {p}" for p in parsers),
        *next((list(r["rules"]) for *_, r in runs if r and "rules" in r), []),
    ]
    runs = sorted(runs, key=lambda run: bool(run[0].pods))  # the big-cluster bundle last, out of the growth
    sizes = [plan.lines for plan, *_ in runs]
    heads = [f"{plan.pods:,} pods" if plan.pods else f"{plan.lines:,}" for plan, *_ in runs]
    busy = sum(1 for plan, *_ in runs if not plan.pods)
    print(f"\n{'seconds':<14}" + "".join(f"{h:>12}" for h in heads) + ("   growth/10x" if busy > 1 else ""))
    for name in names:
        values: list[float | None] = []
        cells = []
        for *_, r in runs:
            if r is None or "rules" not in r:
                values.append(None)
                cells.append("?")
            elif name == "parse" or name.startswith("  "):
                seconds = r["parse_s"] if name == "parse" else r.get("parsers", {}).get(name.strip())
                values.append(None if seconds is None else float(seconds))
                cells.append("?" if seconds is None else f"{seconds:.2f}")
            else:
                rule = r["rules"][name]
                values.append(None if rule["error"] else float(rule["s"]))
                cells.append("error" if rule["error"] else f"{rule['s']:.2f}")
        tail = ""
        a, b = busy - 2, busy - 1
        first, last = (values[a], values[b]) if busy > 1 else (None, None)
        if first is not None and last is not None and first >= 0.05:
            factors = growth([sizes[a], sizes[b]], [first, last])
            tail = f"{factors[0][2]:>12.1f}x" if factors else ""
        print(f"{name:<14}" + "".join(f"{c:>12}" for c in cells) + tail)
    for plan, _, _, r in runs:
        if r is None or "rules" not in r:
            print(f"{_name(plan)}: per-rule run failed: {(r or {}).get('error')}")
            continue
        found = "; ".join(
            f"{n}: {_codes(Counter(v['codes']))}" + (f" ({v['error']})" if v["error"] else "")
            for n, v in r["rules"].items()
        )
        print(f"{_name(plan)}, findings per rule: {found}")


if __name__ == "__main__":
    sys.exit(main())
