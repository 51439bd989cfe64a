"""Regenerate the embedded sample bundles in ``panda_analysis/samples/<name>/``.

Deterministic: every run writes the same bytes (fixed seeds derived from the sample
names, fixed times, no clock, no environment). The scenarios follow the seed documents
in ``/work/shared/seeds`` (digest in their README): their log lines, API answers and
pod names are reproduced to the letter, and the rest of each bundle is built around
them the way kubectl, the kubelet, ingress-nginx, uvicorn, RabbitMQ and mongoexport
really print things.

Usage::

    python tools/make_samples.py                  # rewrite panda_analysis/samples/*
    python tools/make_samples.py --out /tmp/x     # write elsewhere (tests use this)
    python tools/make_samples.py healthy          # only some samples
    python tools/make_samples.py --check          # exit 1 if a committed sample differs (writes nothing)

Formats reproduced (each checked against its real producer's documentation):

* ``k8s/*.json``: ``kubectl get <kind> -A -o json`` (``"kind": "List"``, keys sorted,
  4-space indent); every object validates with ``kubernetes_validate`` (strict, 1.31);
* ``k8s/pods.txt``: ``kubectl get pods -n panda`` (tabwriter columns, kubectl's
  HumanDuration ages, ``4 (28h ago)`` restarts);
* ``logs/<ns>/<pod>/<container>[.previous].log``: ``kubectl logs --timestamps``
  (kubelet RFC 3339 nanosecond prefix on every physical line);
* ingress-nginx ``upstreaminfo`` access lines, klog lines and nginx error lines;
* Focus Server records ``2025-11-08T13:18:33+0000 INFO pz.focus_server ...`` and uvicorn
  access lines ``INFO:     10.42.0.0:51234 - "POST /configure HTTP/1.1" 503 ...``;
* RabbitMQ 3.12 log lines ``2025-11-08 13:12:24.748786+00:00 [debug] <0.928.0> ...`` and
  management API bodies (``/api/overview``, ``/api/queues``, ``/api/consumers``);
* ``mongo/<collection>.jsonl``: mongoexport relaxed Extended JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import sys
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "panda_analysis" / "samples"

REGISTRY = "registry.example.internal"
VERSION = "2.14.1"
K8S_VERSION = "v1.31.4+k3s1"
RABBITMQ_VERSION = "3.12.13"
ERLANG_VERSION = "26.2.5"
RABBIT_NODE = "rabbit@rabbitmq-panda-0.rabbitmq-panda-headless.panda.svc.cluster.local"
RABBIT_IP = "10.42.0.15"
STAGING_HOST = "10.10.10.100"  # the address the seeds reach the cluster on (RFC 1918)
NODES = {"staging-node-1": "10.10.10.101", "staging-node-2": "10.10.10.102", "staging-node-3": "10.10.10.103"}
K8S_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # k8s generateName / pod-template-hash alphabet
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
REASONS = {200: "OK", 201: "Created", 404: "Not Found", 503: "Service Unavailable"}

FOCUS_RS = "panda-panda-focus-server-78dbcfd9d9"
WEBAPP_RS = "panda-panda-prisma-web-app-6c8d7f9b5"
SEGY_RS = "panda-panda-segy-recorder-5f7b8c9d6d"
MONGO_RS = "mongodb-7cb5d67cc5"
INGRESS_RS = "ingress-nginx-controller-55694fd6ff"
INGRESS_POD = f"{INGRESS_RS}-rqgp9"
FOCUS_UPSTREAM = "panda-panda-focus-server-5000"
WEBAPP_UPSTREAM = "webapp-webapp-pz-web-webapp-ui-80"
WEBAPP_IP = "10.42.1.9"
TEST_UA = "python-requests/2.32.5"
PROBE_UA = "curl/8.5.0"
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"

CONFIG_A = {"height": 200, "ch_min": 11, "ch_max": 109, "f_max": 1000}
CONFIG_B = {"height": 1000, "ch_min": 1, "ch_max": 50, "f_max": 500}
READY_METADATA = {
    "dx": 1.0209,
    "prr": 2000.0,
    "fiber_start_meters": 0.0,
    "fiber_length_meters": 42000.0,
    "sw_version": VERSION,
    "number_of_channels": 2337,
    "fiber_description": "SMF-28 loop A",
}
WAITING_METADATA = {
    "dx": 0.0,
    "prr": 0.0,
    "fiber_start_meters": None,
    "fiber_length_meters": None,
    "sw_version": "waiting for fiber",
    "number_of_channels": 2337,
    "fiber_description": "waiting for fiber",
}
NOT_READY_DETAIL = (
    "Cannot configure job - validation failed: Cannot proceed: Missing required fiber metadata fields: prr"
)


# --------------------------------------------------------------------------- time helpers
def at(text: str) -> datetime:
    """Parse ``2025-11-08T13:18:00.25Z`` (fixed format) into an aware UTC datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def k8s_time(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_time(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def iso_ms(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def nginx_time(dt: datetime) -> str:
    return f"{dt:%d}/{MONTHS[dt.month - 1]}/{dt:%Y:%H:%M:%S} +0000"


def focus_time(dt: datetime) -> str:
    return f"{dt:%Y-%m-%dT%H:%M:%S}+0000"


def rabbit_time(dt: datetime) -> str:
    return f"{dt:%Y-%m-%d %H:%M:%S.%f}+00:00"


def klog_time(dt: datetime) -> str:
    return f"{dt:%m%d %H:%M:%S.%f}"


def human_duration(delta: timedelta) -> str:
    """kubectl's ``duration.HumanDuration`` (k8s.io/apimachinery/pkg/util/duration)."""
    seconds = int(delta.total_seconds())
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        return f"{minutes}m" if seconds % 60 == 0 else f"{minutes}m{seconds % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    return f"{hours // 24}d"


def object_id(dt: datetime, rng: random.Random) -> str:
    """A MongoDB ObjectId for time ``dt`` (4-byte seconds, then 8 random bytes)."""
    return f"{int(dt.timestamp()):08x}{rng.getrandbits(64):016x}"


def compact(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


# --------------------------------------------------------------------------- the sample builder
@dataclass
class Sample:
    """One bundle being built: files, log lines, Kubernetes objects."""

    name: str
    created_at: datetime
    description: str
    readme: str
    rng: random.Random = field(init=False)
    logs: dict[str, list[tuple[datetime, int, int, str]]] = field(default_factory=dict)
    pods: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    services: list[dict[str, Any]] = field(default_factory=list)
    endpoints: list[dict[str, Any]] = field(default_factory=list)
    jsonl: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _rv: int = 0

    def __post_init__(self) -> None:
        seed = int.from_bytes(hashlib.sha256(self.name.encode()).digest()[:8], "big")
        self.rng = random.Random(seed)
        self._rv = 4_100_000 + self.rng.randrange(900_000)

    # ---- identifiers
    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def hex(self, n: int) -> str:
        return f"{self.rng.getrandbits(4 * n):0{n}x}"

    def suffix(self, n: int = 5) -> str:
        return "".join(self.rng.choice(K8S_NAME_ALPHABET) for _ in range(n))

    def rv(self) -> str:
        self._rv += self.rng.randrange(3, 400)
        return str(self._rv)

    def port(self) -> int:
        return self.rng.randrange(32768, 60999)

    def pod(self, name: str) -> dict[str, Any]:
        return next(p for p in self.pods if p["metadata"]["name"] == name)

    # ---- logs
    def log(self, rel: str, dt: datetime, text: str) -> None:
        """Add one physical line written at ``dt``; the kubelet reads it a little later."""
        lines = self.logs.setdefault(rel, [])
        lines.append((dt, len(lines), self.rng.randrange(80_000, 2_500_000), text))

    def log_block(self, rel: str, dt: datetime, lines: Iterable[str]) -> None:
        """Several physical lines written at once (a traceback)."""
        for line in lines:
            self.log(rel, dt, line)

    def render_log(self, rel: str) -> str:
        """``kubectl logs --timestamps``: the kubelet's RFC 3339 nanosecond time, strictly increasing."""
        out = []
        last = 0
        for dt, _, delay_ns, text in sorted(self.logs[rel], key=lambda item: (item[0], item[1])):
            seen = max(int(dt.timestamp()) * 1_000_000_000 + dt.microsecond * 1000 + delay_ns, last + 1_117)
            last = seen
            stamp = datetime.fromtimestamp(seen // 1_000_000_000, UTC)
            out.append(f"{stamp:%Y-%m-%dT%H:%M:%S}.{seen % 1_000_000_000:09d}Z {text}\n")
        return "".join(out)

    def add_jsonl(self, rel: str, record: dict[str, Any]) -> None:
        self.jsonl.setdefault(rel, []).append(record)

    # ---- output
    def files(self) -> dict[str, bytes]:
        manifest = {
            "format": "panda-bundle/1",
            "created_at": k8s_time(self.created_at),
            "source": "sample",
            "namespaces": ["panda", "kube-system"],
            "redacted": [],
            "description": self.description,
        }
        out: dict[str, bytes] = {
            "manifest.json": (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode(),
            "README.md": self.readme.encode(),
        }
        for rel, items in (
            ("k8s/pods.json", self.pods),
            ("k8s/events.json", self.events),
            ("k8s/jobs.json", self.jobs),
            ("k8s/services.json", self.services),
            ("k8s/endpoints.json", self.endpoints),
        ):
            doc = {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}
            out[rel] = (json.dumps(doc, indent=4, sort_keys=True, ensure_ascii=False) + "\n").encode()
        out["k8s/pods.txt"] = self.pods_text().encode()
        for rel in self.logs:
            out[rel] = self.render_log(rel).encode()
        for rel, records in self.jsonl.items():
            out[rel] = "".join(compact(r) + "\n" for r in records).encode()
        return dict(sorted(out.items()))

    def pods_text(self) -> str:
        """``kubectl get pods -n panda`` as printed (tabwriter, padding 3)."""
        rows = [("NAME", "READY", "STATUS", "RESTARTS", "AGE")]
        for pod in sorted(self.pods, key=lambda p: p["metadata"]["name"]):
            if pod["metadata"]["namespace"] != "panda":
                continue
            statuses = pod["status"]["containerStatuses"]
            ready = f"{sum(c['ready'] for c in statuses)}/{len(statuses)}"
            restarts = sum(c["restartCount"] for c in statuses)
            restart_text = str(restarts)
            finished = [c["lastState"]["terminated"]["finishedAt"] for c in statuses if "terminated" in c["lastState"]]
            if restarts and finished:
                restart_text += f" ({human_duration(self.created_at - at(max(finished)))} ago)"
            age = human_duration(self.created_at - at(pod["metadata"]["creationTimestamp"]))
            rows.append((pod["metadata"]["name"], ready, pod["status"]["phase"], restart_text, age))
        widths = [max(len(r[i]) for r in rows) + 3 for i in range(4)]
        return "".join("".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + r[4] + "\n" for r in rows)


# --------------------------------------------------------------------------- Kubernetes objects
def ui_alert_polls(
    s: Sample, ingress: str, start: datetime, end: datetime, *, every_s: int, jitter_ms: int, body_bytes: int
) -> None:
    """The web UI polling the alert list through the web app (browser, HTTP/2, all 200)."""
    t = start
    while t <= end:
        dur = 0.006 + 0.001 * s.rng.randrange(0, 8)
        done = t + timedelta(seconds=dur)
        line = ingress_line(
            s, done, client="10.42.0.0", method="GET", uri="/prisma/api/prisma-210-1000/api/alerts?limit=50",
            status=200, body_bytes=body_bytes, ua=BROWSER_UA, req_len=71, req_time=dur, upstream=WEBAPP_UPSTREAM,
            upstream_addr=f"{WEBAPP_IP}:80", referer=f"https://{STAGING_HOST}/prisma/", proto="HTTP/2.0",
        )
        s.log(ingress, done, line)
        t += timedelta(seconds=every_s, milliseconds=s.rng.randrange(0, jitter_ms))


def image_id(image: str) -> str:
    repo = image.rsplit(":", 1)[0]
    return f"{repo}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


def api_access_volume(s: Sample) -> tuple[dict[str, Any], dict[str, Any]]:
    name = f"kube-api-access-{s.suffix()}"
    volume = {
        "name": name,
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"items": [{"key": "ca.crt", "path": "ca.crt"}], "name": "kube-root-ca.crt"}},
                {
                    "downwardAPI": {
                        "items": [
                            {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}, "path": "namespace"}
                        ]
                    }
                },
            ],
        },
    }
    mount = {"mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "name": name, "readOnly": True}
    return volume, mount


@dataclass
class Ctr:
    """One container of a pod, as the spec and the status need it."""

    name: str
    image: str
    started_at: datetime
    ports: tuple[tuple[str, int], ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    args: tuple[str, ...] = ()
    restart_count: int = 0
    last: tuple[datetime, datetime, int, str] | None = None  # started, finished, exit code, reason
    requests: tuple[str, str] = ("100m", "128Mi")
    limits: tuple[str, str] | None = ("1", "1Gi")
    readiness_path: str | None = None


def container_spec(c: Ctr, mount: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "image": c.image,
        "imagePullPolicy": "IfNotPresent",
        "name": c.name,
        "resources": {"requests": {"cpu": c.requests[0], "memory": c.requests[1]}},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "volumeMounts": [mount],
    }
    if c.limits:
        spec["resources"]["limits"] = {"cpu": c.limits[0], "memory": c.limits[1]}
    if c.ports:
        spec["ports"] = [{"containerPort": p, "name": n, "protocol": "TCP"} for n, p in c.ports]
    if c.env:
        spec["env"] = [{"name": k, "value": v} for k, v in c.env]
    if c.args:
        spec["args"] = list(c.args)
    if c.readiness_path:
        spec["readinessProbe"] = {
            "failureThreshold": 3,
            "httpGet": {"path": c.readiness_path, "port": c.ports[0][1], "scheme": "HTTP"},
            "periodSeconds": 10,
            "successThreshold": 1,
            "timeoutSeconds": 1,
        }
    return spec


def make_pod(
    s: Sample,
    *,
    name: str,
    labels: dict[str, str],
    owner: tuple[str, str, str, str],  # apiVersion, kind, name, uid
    node: str,
    pod_ip: str,
    created: datetime,
    containers: list[Ctr],
    ready_at: datetime | None = None,
    namespace: str = "panda",
    restart_policy: str = "Always",
    finalizers: list[str] | None = None,
    uid: str | None = None,
    priority_class: str | None = None,
) -> dict[str, Any]:
    """A Running pod as ``kubectl get pods -o json`` shows it (Kubernetes 1.31)."""
    uid = uid or s.uid()
    volume, mount = api_access_volume(s)
    scheduled = created
    sandbox_ready = created + timedelta(seconds=1)  # the pod sandbox (pause container) is up
    ready_at = ready_at or max(c.started_at for c in containers) + timedelta(seconds=1)
    statuses = []
    for c in containers:
        status: dict[str, Any] = {
            "containerID": f"containerd://{s.hex(64)}",
            "image": c.image,
            "imageID": image_id(c.image),
            "lastState": {},
            "name": c.name,
            "ready": True,
            "restartCount": c.restart_count,
            "started": True,
            "state": {"running": {"startedAt": k8s_time(c.started_at)}},
        }
        if c.last:
            l_start, l_end, code, reason = c.last
            status["lastState"] = {
                "terminated": {
                    "containerID": f"containerd://{s.hex(64)}",
                    "exitCode": code,
                    "finishedAt": k8s_time(l_end),
                    "reason": reason,
                    "startedAt": k8s_time(l_start),
                }
            }
        statuses.append(status)
    owner_api, owner_kind, owner_name, owner_uid = owner
    metadata: dict[str, Any] = {
        "creationTimestamp": k8s_time(created),
        "generateName": f"{owner_name}-" if owner_kind != "StatefulSet" else None,
        "labels": labels,
        "name": name,
        "namespace": namespace,
        "ownerReferences": [
            {
                "apiVersion": owner_api,
                "blockOwnerDeletion": True,
                "controller": True,
                "kind": owner_kind,
                "name": owner_name,
                "uid": owner_uid,
            }
        ],
        "resourceVersion": s.rv(),
        "uid": uid,
    }
    if metadata["generateName"] is None:
        del metadata["generateName"]
    if finalizers:
        metadata["finalizers"] = finalizers
    spec: dict[str, Any] = {
        "containers": [container_spec(c, mount) for c in containers],
        "dnsPolicy": "ClusterFirst",
        "enableServiceLinks": True,
        "nodeName": node,
        "preemptionPolicy": "PreemptLowerPriority",
        "priority": 0,
        "restartPolicy": restart_policy,
        "schedulerName": "default-scheduler",
        "securityContext": {},
        "serviceAccount": "default",
        "serviceAccountName": "default",
        "terminationGracePeriodSeconds": 30,
        "tolerations": [
            {
                "effect": "NoExecute",
                "key": "node.kubernetes.io/not-ready",
                "operator": "Exists",
                "tolerationSeconds": 300,
            },
            {
                "effect": "NoExecute",
                "key": "node.kubernetes.io/unreachable",
                "operator": "Exists",
                "tolerationSeconds": 300,
            },
        ],
        "volumes": [volume],
    }
    if priority_class:
        spec["priorityClassName"] = priority_class
        spec["priority"] = 2000000000
    conditions = [
        ("PodReadyToStartContainers", sandbox_ready),
        ("Initialized", scheduled),
        ("Ready", ready_at),
        ("ContainersReady", ready_at),
        ("PodScheduled", scheduled),
    ]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": spec,
        "status": {
            "conditions": [
                {"lastProbeTime": None, "lastTransitionTime": k8s_time(t), "status": "True", "type": kind}
                for kind, t in conditions
            ],
            "containerStatuses": statuses,
            "hostIP": NODES[node],
            "hostIPs": [{"ip": NODES[node]}],
            "phase": "Running",
            "podIP": pod_ip,
            "podIPs": [{"ip": pod_ip}],
            "qosClass": "Burstable",
            "startTime": k8s_time(created),
        },
    }
    s.pods.append(pod)
    return pod


def involved(pod: dict[str, Any], container: str | None = None) -> dict[str, Any]:
    ref = {
        "apiVersion": "v1",
        "kind": "Pod",
        "name": pod["metadata"]["name"],
        "namespace": pod["metadata"]["namespace"],
        "resourceVersion": pod["metadata"]["resourceVersion"],
        "uid": pod["metadata"]["uid"],
    }
    if container:
        ref["fieldPath"] = f"spec.containers{{{container}}}"
    return ref


def event_meta(s: Sample, obj_name: str, namespace: str, first: datetime) -> dict[str, Any]:
    # the apiserver names recorder events "<object>.<UnixNano of the first occurrence, hex>"
    nanos = int(first.timestamp()) * 1_000_000_000 + first.microsecond * 1000 + s.rng.randrange(1_000_000)
    return {
        "creationTimestamp": k8s_time(first),
        "name": f"{obj_name}.{nanos:x}",
        "namespace": namespace,
        "resourceVersion": s.rv(),
        "uid": s.uid(),
    }


def kubelet_event(
    s: Sample,
    pod: dict[str, Any],
    reason: str,
    message: str,
    first: datetime,
    last: datetime | None = None,
    count: int = 1,
    kind: str = "Normal",
    container: str | None = None,
) -> None:
    node = pod["spec"]["nodeName"]
    s.events.append(
        {
            "apiVersion": "v1",
            "count": count,
            "eventTime": None,
            "firstTimestamp": k8s_time(first),
            "involvedObject": involved(pod, container),
            "kind": "Event",
            "lastTimestamp": k8s_time(last or first),
            "message": message,
            "metadata": event_meta(s, pod["metadata"]["name"], pod["metadata"]["namespace"], first),
            "reason": reason,
            "reportingComponent": "kubelet",
            "reportingInstance": node,
            "source": {"component": "kubelet", "host": node},
            "type": kind,
        }
    )


def scheduled_event(s: Sample, pod: dict[str, Any], when: datetime) -> None:
    """``Scheduled`` as the scheduler writes it (events.k8s.io: eventTime only)."""
    meta = pod["metadata"]
    s.events.append(
        {
            "action": "Binding",
            "apiVersion": "v1",
            "eventTime": micro_time(when + timedelta(microseconds=s.rng.randrange(0, 1000))),
            "firstTimestamp": None,
            "involvedObject": involved(pod),
            "kind": "Event",
            "lastTimestamp": None,
            "message": f"Successfully assigned {meta['namespace']}/{meta['name']} to {pod['spec']['nodeName']}",
            "metadata": event_meta(s, meta["name"], meta["namespace"], when),
            "reason": "Scheduled",
            "reportingComponent": "default-scheduler",
            "reportingInstance": "default-scheduler-staging-node-1",
            "source": {},
            "type": "Normal",
        }
    )


def job_pod_events(
    s: Sample,
    pod: dict[str, Any],
    job: dict[str, Any],
    *,
    created: datetime,
    scheduled: datetime,
    pulling: datetime,
    pulled: datetime,
    pull_ms: int,
    started: datetime,
) -> None:
    """The events of one grpc-job pod: SuccessfulCreate, Scheduled, Pulling, Pulled, Created, Started."""
    jmeta = job["metadata"]
    s.events.append(
        {
            "apiVersion": "v1",
            "count": 1,
            "eventTime": None,
            "firstTimestamp": k8s_time(created),
            "involvedObject": {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "name": jmeta["name"],
                "namespace": jmeta["namespace"],
                "resourceVersion": jmeta["resourceVersion"],
                "uid": jmeta["uid"],
            },
            "kind": "Event",
            "lastTimestamp": k8s_time(created),
            "message": f"Created pod: {pod['metadata']['name']}",
            "metadata": event_meta(s, jmeta["name"], jmeta["namespace"], created),
            "reason": "SuccessfulCreate",
            "reportingComponent": "job-controller",
            "reportingInstance": "",
            "source": {"component": "job-controller"},
            "type": "Normal",
        }
    )
    scheduled_event(s, pod, scheduled)
    container = pod["spec"]["containers"][0]
    image, name = container["image"], container["name"]
    size = 280_000_000 + int(hashlib.sha256(image.encode()).hexdigest()[:6], 16) % 40_000_000
    kubelet_event(s, pod, "Pulling", f'Pulling image "{image}"', pulling, container=name)
    seconds = f"{pull_ms}ms" if pull_ms < 1000 else f"{pull_ms / 1000:.3f}s"
    kubelet_event(
        s,
        pod,
        "Pulled",
        f'Successfully pulled image "{image}" in {seconds} ({seconds} including waiting). Image size: {size} bytes.',
        pulled,
        container=name,
    )
    kubelet_event(s, pod, "Created", f"Created container {name}", started, container=name)
    kubelet_event(s, pod, "Started", f"Started container {name}", started + timedelta(milliseconds=41), container=name)


def make_job(s: Sample, name: str, created: datetime, job_id: str) -> tuple[dict[str, Any], dict[str, str]]:
    uid = s.uid()
    labels = {
        "batch.kubernetes.io/controller-uid": uid,
        "batch.kubernetes.io/job-name": name,
        "controller-uid": uid,
        "job-name": name,
    }
    container = {
        "env": [
            {"name": "JOB_ID", "value": job_id},
            {"name": "RABBITMQ_URL", "value": "amqp://rabbitmq-panda:5672"},
            {"name": "QUEUE_NAME", "value": name},
        ],
        "image": f"{REGISTRY}/panda/baby-analyzer:{VERSION}",
        "imagePullPolicy": "IfNotPresent",
        "name": "baby-analyzer",
        "resources": {"limits": {"cpu": "2", "memory": "4Gi"}, "requests": {"cpu": "500m", "memory": "1Gi"}},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "creationTimestamp": k8s_time(created),
            "generation": 1,
            "labels": dict(labels),
            "name": name,
            "namespace": "panda",
            "resourceVersion": s.rv(),
            "uid": uid,
        },
        "spec": {
            "backoffLimit": 0,
            "completionMode": "NonIndexed",
            "completions": 1,
            "manualSelector": False,
            "parallelism": 1,
            "podReplacementPolicy": "TerminatingOrFailed",
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}},
            "suspend": False,
            "template": {
                "metadata": {"creationTimestamp": None, "labels": dict(labels)},
                "spec": {
                    "containers": [container],
                    "dnsPolicy": "ClusterFirst",
                    "restartPolicy": "Never",
                    "schedulerName": "default-scheduler",
                    "securityContext": {},
                    "terminationGracePeriodSeconds": 30,
                },
            },
            "ttlSecondsAfterFinished": 3600,
        },
        "status": {
            "active": 1,
            "ready": 1,
            "startTime": k8s_time(created),
            "terminating": 0,
            "uncountedTerminatedPods": {},
        },
    }
    s.jobs.append(job)
    return job, labels


def job_pod(
    s: Sample,
    job: dict[str, Any],
    labels: dict[str, str],
    pod_name: str,
    *,
    node: str,
    ip: str,
    created: datetime,
    started: datetime,
    job_id: str,
) -> dict[str, Any]:
    name = job["metadata"]["name"]
    return make_pod(
        s,
        name=pod_name,
        labels=dict(labels),
        owner=("batch/v1", "Job", name, job["metadata"]["uid"]),
        node=node,
        pod_ip=ip,
        created=created,
        containers=[
            Ctr(
                "baby-analyzer",
                f"{REGISTRY}/panda/baby-analyzer:{VERSION}",
                started,
                env=(("JOB_ID", job_id), ("RABBITMQ_URL", "amqp://rabbitmq-panda:5672"), ("QUEUE_NAME", name)),
                requests=("500m", "1Gi"),
                limits=("2", "4Gi"),
            )
        ],
        ready_at=started,
        restart_policy="Never",
        finalizers=["batch.kubernetes.io/job-tracking"],
    )


RELEASE = datetime(2025, 11, 6, 15, 19, 7, tzinfo=UTC)  # helm upgrade of the panda release
RABBIT_CREATED = datetime(2025, 11, 1, 12, 16, 40, tzinfo=UTC)
MONGO_CREATED = datetime(2025, 11, 1, 12, 15, 58, tzinfo=UTC)
INGRESS_CREATED = datetime(2025, 10, 25, 9, 2, 11, tzinfo=UTC)


def platform_pods(
    s: Sample,
    *,
    focus_pod: str,
    focus_created: datetime,
    focus_ctr: Ctr,
    focus_ready: datetime | None,
    coredns_created: datetime | None = None,
) -> None:
    """The long-running pods every sample has (Focus Server, web app, RabbitMQ, MongoDB, SEGY, ingress).

    Their creation times are the same in every sample (one cluster seen on different days); only
    the Focus Server pod differs (it was replaced after the 2025-11-07 crash loop, then again).
    """
    base = RELEASE
    helm = {"app.kubernetes.io/instance": "panda", "app.kubernetes.io/managed-by": "Helm"}
    rs = lambda name: ("apps/v1", "ReplicaSet", name, s.uid())  # noqa: E731
    make_pod(
        s,
        name=focus_pod,
        labels={
            **helm,
            "app.kubernetes.io/name": "panda-panda-focus-server",
            "pod-template-hash": FOCUS_RS.rsplit("-", 1)[1],
        },
        owner=rs(FOCUS_RS),
        node="staging-node-2",
        pod_ip="10.42.1.14",
        created=focus_created,
        containers=[focus_ctr],
        ready_at=focus_ready,
    )
    started = base + timedelta(seconds=14)
    make_pod(
        s,
        name=f"{WEBAPP_RS}-x2vqp",
        labels={
            **helm,
            "app.kubernetes.io/name": "panda-panda-prisma-web-app",
            "pod-template-hash": WEBAPP_RS.rsplit("-", 1)[1],
        },
        owner=rs(WEBAPP_RS),
        node="staging-node-2",
        pod_ip=WEBAPP_IP,
        created=base + timedelta(seconds=2),
        containers=[
            Ctr(
                "prisma-web-app",
                f"{REGISTRY}/panda/prisma-web-app:{VERSION}",
                started,
                ports=(("http", 80),),
                env=(("FOCUS_SERVER_URL", "http://panda-focus-server:5000"),),
            )
        ],
    )
    make_pod(
        s,
        name="rabbitmq-panda-0",
        labels={
            "app.kubernetes.io/instance": "rabbitmq-panda",
            "app.kubernetes.io/managed-by": "Helm",
            "app.kubernetes.io/name": "rabbitmq",
            "apps.kubernetes.io/pod-index": "0",
            "controller-revision-hash": "rabbitmq-panda-7f9c6d8b5c",
            "statefulset.kubernetes.io/pod-name": "rabbitmq-panda-0",
        },
        owner=("apps/v1", "StatefulSet", "rabbitmq-panda", s.uid()),
        node="staging-node-1",
        pod_ip=RABBIT_IP,
        created=RABBIT_CREATED,
        containers=[
            Ctr(
                "rabbitmq",
                f"{REGISTRY}/bitnami/rabbitmq:{RABBITMQ_VERSION}",
                RABBIT_CREATED + timedelta(seconds=9),
                ports=(("amqp", 5672), ("dist", 25672), ("stats", 15672), ("epmd", 4369)),
                env=(("RABBITMQ_NODE_NAME", RABBIT_NODE), ("RABBITMQ_LOGS", "-")),
                requests=("250m", "512Mi"),
                limits=("1", "2Gi"),
            )
        ],
    )
    make_pod(
        s,
        name=f"{MONGO_RS}-wb7qz",
        labels={"app.kubernetes.io/name": "mongodb", "pod-template-hash": MONGO_RS.rsplit("-", 1)[1]},
        owner=rs(MONGO_RS),
        node="staging-node-3",
        pod_ip="10.42.2.11",
        created=MONGO_CREATED,
        containers=[
            Ctr(
                "mongodb",
                f"{REGISTRY}/library/mongo:7.0.14",
                MONGO_CREATED + timedelta(seconds=6),
                ports=(("mongodb", 27017),),
                requests=("250m", "1Gi"),
                limits=("2", "4Gi"),
            )
        ],
    )
    make_pod(
        s,
        name=f"{SEGY_RS}-p8r2m",
        labels={
            **helm,
            "app.kubernetes.io/name": "panda-panda-segy-recorder",
            "pod-template-hash": SEGY_RS.rsplit("-", 1)[1],
        },
        owner=rs(SEGY_RS),
        node="staging-node-3",
        pod_ip="10.42.2.17",
        created=base + timedelta(seconds=3),
        containers=[Ctr("segy-recorder", f"{REGISTRY}/panda/segy-recorder:{VERSION}", base + timedelta(seconds=17))],
    )
    make_pod(
        s,
        name=INGRESS_POD,
        namespace="kube-system",
        labels={
            "app.kubernetes.io/component": "controller",
            "app.kubernetes.io/instance": "ingress-nginx",
            "app.kubernetes.io/name": "ingress-nginx",
            "pod-template-hash": INGRESS_RS.rsplit("-", 1)[1],
        },
        owner=rs(INGRESS_RS),
        node="staging-node-1",
        pod_ip="10.42.0.7",
        created=INGRESS_CREATED,
        containers=[
            Ctr(
                "controller",
                f"{REGISTRY}/ingress-nginx/controller:v1.11.3",
                INGRESS_CREATED + timedelta(seconds=4),
                ports=(("http", 80), ("https", 443), ("webhook", 8443)),
                args=(
                    "/nginx-ingress-controller",
                    "--publish-service=$(POD_NAMESPACE)/ingress-nginx-controller",
                    "--election-id=ingress-nginx-leader",
                    "--controller-class=k8s.io/ingress-nginx",
                    "--ingress-class=nginx",
                    "--configmap=$(POD_NAMESPACE)/ingress-nginx-controller",
                ),
                requests=("100m", "90Mi"),
                limits=None,
            )
        ],
    )
    if coredns_created is not None:
        make_pod(
            s,
            name="coredns-ccb96694c-7xk2p",
            namespace="kube-system",
            labels={"k8s-app": "kube-dns", "pod-template-hash": "ccb96694c"},
            owner=rs("coredns-ccb96694c"),
            node="staging-node-1",
            pod_ip="10.42.0.22",
            created=coredns_created,
            containers=[
                Ctr(
                    "coredns",
                    f"{REGISTRY}/rancher/mirrored-coredns-coredns:1.11.3",
                    coredns_created + timedelta(seconds=3),
                    ports=(("dns", 53), ("dns-tcp", 53), ("metrics", 9153)),
                    args=("-conf", "/etc/coredns/Corefile"),
                    requests=("100m", "70Mi"),
                    limits=("1", "170Mi"),
                )
            ],
            priority_class="system-cluster-critical",
        )


def services_and_endpoints(s: Sample, created: datetime) -> None:
    """Services ``panda-focus-server``, ``mongodb``, ``rabbitmq-panda`` and their (ready) endpoints."""
    table = [
        (
            "panda-focus-server",
            "10.43.112.45",
            {"app.kubernetes.io/instance": "panda", "app.kubernetes.io/name": "panda-panda-focus-server"},
            [("http", 5000)],
            f"{FOCUS_RS}-",
            "panda",
        ),
        (
            "mongodb",
            "10.43.27.17",
            {"app.kubernetes.io/name": "mongodb"},
            [("mongodb", 27017)],
            f"{MONGO_RS}-",
            "panda",
        ),
        (
            "rabbitmq-panda",
            "10.43.56.72",
            {"app.kubernetes.io/instance": "rabbitmq-panda", "app.kubernetes.io/name": "rabbitmq"},
            [("amqp", 5672), ("epmd", 4369), ("dist", 25672), ("http-stats", 15672)],
            "rabbitmq-panda-",
            "panda",
        ),
        (
            "ingress-nginx-controller",
            "10.43.8.140",
            {
                "app.kubernetes.io/component": "controller",
                "app.kubernetes.io/instance": "ingress-nginx",
                "app.kubernetes.io/name": "ingress-nginx",
            },
            [("http", 80), ("https", 443)],
            f"{INGRESS_RS}-",
            "kube-system",
        ),
    ]
    for name, cluster_ip, selector, ports, pod_prefix, namespace in table:
        labels = {**selector, "app.kubernetes.io/managed-by": "Helm"}
        svc_created = created
        s.services.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {
                    "annotations": {
                        "meta.helm.sh/release-name": selector.get("app.kubernetes.io/instance", name),
                        "meta.helm.sh/release-namespace": namespace,
                    },
                    "creationTimestamp": k8s_time(svc_created),
                    "labels": labels,
                    "name": name,
                    "namespace": namespace,
                    "resourceVersion": s.rv(),
                    "uid": s.uid(),
                },
                "spec": {
                    "clusterIP": cluster_ip,
                    "clusterIPs": [cluster_ip],
                    "internalTrafficPolicy": "Cluster",
                    "ipFamilies": ["IPv4"],
                    "ipFamilyPolicy": "SingleStack",
                    "ports": [{"name": n, "port": p, "protocol": "TCP", "targetPort": n} for n, p in ports],
                    "selector": selector,
                    "sessionAffinity": "None",
                    "type": "ClusterIP",
                },
                "status": {"loadBalancer": {}},
            }
        )
        pods = [p for p in s.pods if p["metadata"]["name"].startswith(pod_prefix)]
        s.endpoints.append(
            {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {
                    "annotations": {
                        "endpoints.kubernetes.io/last-change-trigger-time": max(
                            c["lastTransitionTime"]
                            for p in pods
                            for c in p["status"]["conditions"]
                            if c["type"] == "Ready"
                        )
                    },
                    "creationTimestamp": k8s_time(svc_created),
                    "labels": labels,
                    "name": name,
                    "namespace": namespace,
                    "resourceVersion": s.rv(),
                    "uid": s.uid(),
                },
                "subsets": [
                    {
                        "addresses": [
                            {
                                "ip": p["status"]["podIP"],
                                "nodeName": p["spec"]["nodeName"],
                                "targetRef": {
                                    "kind": "Pod",
                                    "name": p["metadata"]["name"],
                                    "namespace": namespace,
                                    "uid": p["metadata"]["uid"],
                                },
                            }
                            for p in pods
                        ],
                        "ports": [{"name": n, "port": p, "protocol": "TCP"} for n, p in ports],
                    }
                ],
            }
        )


# --------------------------------------------------------------------------- HTTP / log line builders
def request_bytes(method: str, uri: str, ua: str, body: str | None = None) -> int:
    """``$request_length`` of a python-requests / curl style HTTP/1.1 request."""
    head = f"{method} {uri} HTTP/1.1\r\nHost: {STAGING_HOST}\r\nUser-Agent: {ua}\r\n"
    head += "Accept-Encoding: gzip, deflate\r\nAccept: */*\r\nConnection: keep-alive\r\n"
    if body is not None:
        head += f"Content-Length: {len(body)}\r\nContent-Type: application/json\r\n"
    return len(head) + 2 + (len(body) if body else 0)


def ingress_line(
    s: Sample,
    end: datetime,
    *,
    client: str,
    method: str,
    uri: str,
    status: int,
    body_bytes: int,
    ua: str,
    req_len: int,
    req_time: float,
    upstream: str,
    upstream_addr: str,
    referer: str = "-",
    proto: str = "HTTP/1.1",
    req_id: str | None = None,
) -> str:
    """One ingress-nginx ``upstreaminfo`` access line (the controller's default log format)."""
    up_time = max(req_time - 0.001 * s.rng.randrange(0, 2), 0.001)
    return (
        f'{client} - - [{nginx_time(end)}] "{method} {uri} {proto}" {status} {body_bytes} "{referer}" "{ua}" '
        f"{req_len} {req_time:.3f} [{upstream}] [] {upstream_addr} {body_bytes} {up_time:.3f} {status} "
        f"{req_id or s.hex(32)}"
    )


def uvicorn_access(client: str, port: int, method: str, path: str, status: int) -> str:
    return f'INFO:     {client}:{port} - "{method} {path} HTTP/1.1" {status} {REASONS[status]}'


def focus_record(dt: datetime, level: str, message: str) -> str:
    return f"{focus_time(dt)} {level} pz.focus_server {message}"


def config_line(cfg: dict[str, int]) -> str:
    return (
        "got configuration: displayTimeAxisDuration=30 nfftSelection=1024 "
        f"displayInfo.height={cfg['height']} channels.min={cfg['ch_min']} channels.max={cfg['ch_max']} "
        f"frequencyRange.min=0 frequencyRange.max={cfg['f_max']} view_type=0"
    )


def config_body(cfg: dict[str, int]) -> str:
    """The JSON body the test client POSTs (python-requests ``json=``: default separators)."""
    return json.dumps(
        {
            "displayTimeAxisDuration": 30,
            "nfftSelection": 1024,
            "displayInfo": {"height": cfg["height"]},
            "channels": {"min": cfg["ch_min"], "max": cfg["ch_max"]},
            "frequencyRange": {"min": 0, "max": cfg["f_max"]},
            "start_time": None,
            "end_time": None,
            "view_type": 0,
        }
    )


@dataclass
class Paths:
    """Bundle paths of the log files of one sample."""

    focus: str
    ingress: str = f"logs/kube-system/{INGRESS_POD}/controller.log"
    rabbit: str = "logs/panda/rabbitmq-panda-0/rabbitmq.log"


def http_call(
    s: Sample,
    p: Paths,
    start: datetime,
    *,
    client: str,
    method: str,
    path: str,
    status: int,
    body: str,
    ua: str = TEST_UA,
    req_body: str | None = None,
    duration: float | None = None,
    focus_lines: Callable[[datetime], list[tuple[str, str]]] | None = None,
    upstream_ip: str = "10.42.1.14",
) -> datetime:
    """One request through ingress to the Focus Server: its focus lines, access line and ingress line."""
    duration = duration if duration is not None else 0.002 + 0.001 * s.rng.randrange(0, 6)
    end = start + timedelta(seconds=duration)
    for level, message in focus_lines(start) if focus_lines else []:
        s.log(p.focus, start + timedelta(milliseconds=1), focus_record(start, level, message))
    s.log(p.focus, end, uvicorn_access(client, s.port(), method, path, status))
    uri = f"/focus-server{path}"
    s.log(
        p.ingress,
        end + timedelta(microseconds=400),
        ingress_line(
            s,
            end,
            client=client,
            method=method,
            uri=uri,
            status=status,
            body_bytes=len(body.encode()),
            ua=ua,
            req_len=request_bytes(method, uri, ua, req_body),
            req_time=duration,
            upstream=FOCUS_UPSTREAM,
            upstream_addr=f"{upstream_ip}:5000",
        ),
    )
    return end


def peer_discovery(s: Sample, p: Paths, start: datetime, end: datetime) -> None:
    """The RabbitMQ node's periodic partition check (every 60 s, debug level), as in seed 002."""
    t = start
    while t <= end:
        s.log(
            p.rabbit,
            t,
            f"{rabbit_time(t)} [debug] <0.928.0> Peer discovery: checking for partitioned nodes to clean up.",
        )
        t2 = t + timedelta(microseconds=246)
        s.log(p.rabbit, t2, f"{rabbit_time(t2)} [debug] <0.928.0> Peer discovery: all known cluster nodes are up.")
        t += timedelta(seconds=60, microseconds=s.rng.randrange(0, 900))


def rabbit_line(s: Sample, p: Paths, t: datetime, level: str, pid: str, message: str) -> None:
    t += timedelta(microseconds=s.rng.randrange(0, 1000))  # the node's clock has microseconds
    s.log(p.rabbit, t, f"{rabbit_time(t)} [{level}] {pid} {message}")


def amqp_connection(s: Sample, p: Paths, t: datetime, peer: str, pid: str) -> None:
    """How RabbitMQ logs an accepted client connection (3.9+ format)."""
    conn = f"{peer} -> {RABBIT_IP}:5672"
    rabbit_line(s, p, t, "info", pid, f"accepting AMQP connection <{pid[1:-1]}> ({conn})")
    rabbit_line(
        s,
        p,
        t + timedelta(milliseconds=4),
        "info",
        pid,
        f"connection <{pid[1:-1]}> ({conn}): user 'panda' authenticated and granted access to vhost '/'",
    )


# --------------------------------------------------------------------------- RabbitMQ management API bodies
def rate(value: float = 0.0) -> dict[str, float]:
    return {"rate": value}


@dataclass
class Q:
    """A queue's state at one snapshot."""

    name: str
    consumers: int = 0
    ready: int = 0
    unacked: int = 0
    published: int = 0
    delivered: int = 0
    publish_rate: float = 0.0
    idle_since: datetime | None = None
    durable: bool = True
    auto_delete: bool = False
    deliver_rate: float | None = None  # None: delivered as fast as published (a keeping-up consumer)
    ready_rate: float = 0.0  # messages_ready_details.rate: how fast the ready count changes

    @property
    def egress_rate(self) -> float:
        return self.publish_rate if self.deliver_rate is None else self.deliver_rate


def queue_body(s: Sample, q: Q) -> dict[str, Any]:
    """One element of ``GET /api/queues`` (RabbitMQ 3.12, classic queue, ``rates_mode: basic``)."""
    messages = q.ready + q.unacked
    body: dict[str, Any] = {
        "arguments": {"x-queue-type": "classic"},
        "auto_delete": q.auto_delete,
        "backing_queue_status": {
            "avg_ack_egress_rate": round(q.egress_rate, 4),
            "avg_ack_ingress_rate": round(q.egress_rate, 4),
            "avg_egress_rate": round(q.egress_rate, 4),
            "avg_ingress_rate": round(q.publish_rate, 4),
            "delta": ["delta", "undefined", 0, 0, "undefined"],
            "len": messages,
            "mode": "default",
            "next_deliver_seq_id": q.delivered,
            "next_seq_id": q.published,
            "q1": 0,
            "q2": 0,
            "q3": 0,
            "q4": messages,
            "target_ram_count": "infinity",
            "version": 1,
        },
        "consumer_capacity": 1.0 if q.consumers else 0,
        "consumer_utilisation": 1.0 if q.consumers else 0,
        "consumers": q.consumers,
        "durable": q.durable,
        "effective_policy_definition": {},
        "exclusive": False,
        "exclusive_consumer_tag": None,
        "garbage_collection": {
            "fullsweep_after": 65535,
            "max_heap_size": 0,
            "min_bin_vheap_size": 46422,
            "min_heap_size": 233,
            "minor_gcs": 3 + q.published % 97,
        },
        "head_message_timestamp": None,
        "memory": 14_000 + 600 * q.consumers + 950 * messages + s.rng.randrange(0, 40) * 8,
        "message_bytes": 2300 * messages,
        "message_bytes_paged_out": 0,
        "message_bytes_persistent": 0,
        "message_bytes_ram": 2300 * messages,
        "message_bytes_ready": 2300 * q.ready,
        "message_bytes_unacknowledged": 2300 * q.unacked,
        "messages": messages,
        "messages_details": rate(q.ready_rate),
        "messages_paged_out": 0,
        "messages_persistent": 0,
        "messages_ram": messages,
        "messages_ready": q.ready,
        "messages_ready_details": rate(q.ready_rate),
        "messages_ready_ram": q.ready,
        "messages_unacknowledged": q.unacked,
        "messages_unacknowledged_details": rate(),
        "messages_unacknowledged_ram": q.unacked,
        "name": q.name,
        "node": RABBIT_NODE,
        "operator_policy": None,
        "policy": None,
        "recoverable_slaves": None,
        "reductions": 40_000 + 3_100 * q.published,
        "reductions_details": rate(round(q.publish_rate * 3100, 1)),
        "single_active_consumer_tag": None,
        "state": "running",
        "type": "classic",
        "vhost": "/",
    }
    if q.idle_since is not None:
        body["idle_since"] = f"{q.idle_since:%Y-%m-%dT%H:%M:%S}.{q.idle_since.microsecond // 1000:03d}+00:00"
    if q.published:
        body["message_stats"] = message_stats(q.published, q.delivered, q.publish_rate, q.egress_rate)
    return body


def message_stats(
    published: int, delivered: int, publish_rate: float, deliver_rate: float | None = None
) -> dict[str, Any]:
    """``message_stats`` of a queue or of ``/api/overview`` (cumulative counts, ``*_details.rate`` per second)."""
    deliver_rate = publish_rate if deliver_rate is None else deliver_rate
    return {
        "ack": delivered,
        "ack_details": rate(deliver_rate),
        "deliver": delivered,
        "deliver_details": rate(deliver_rate),
        "deliver_get": delivered,
        "deliver_get_details": rate(deliver_rate),
        "deliver_no_ack": 0,
        "deliver_no_ack_details": rate(),
        "get": 0,
        "get_details": rate(),
        "get_empty": 0,
        "get_empty_details": rate(),
        "get_no_ack": 0,
        "get_no_ack_details": rate(),
        "publish": published,
        "publish_details": rate(publish_rate),
        "redeliver": 0,
        "redeliver_details": rate(),
    }


@dataclass
class Consumer:
    queue: str
    peer: str  # ip:port
    tag: str
    channel: int = 1


def consumer_body(c: Consumer) -> dict[str, Any]:
    """One element of ``GET /api/consumers`` (pika consumer: ``ctag<channel>.<uuid hex>``)."""
    host, port = c.peer.rsplit(":", 1)
    connection = f"{c.peer} -> {RABBIT_IP}:5672"
    return {
        "ack_required": True,
        "active": True,
        "activity_status": "up",
        "arguments": {},
        "channel_details": {
            "connection_name": connection,
            "name": f"{connection} ({c.channel})",
            "node": RABBIT_NODE,
            "number": c.channel,
            "peer_host": host,
            "peer_port": int(port),
            "user": "panda",
        },
        "consumer_tag": c.tag,
        "exclusive": False,
        "prefetch_count": 1,
        "queue": {"name": c.queue, "vhost": "/"},
    }


def overview_body(
    queues: list[Q],
    consumers: int,
    connections: int,
    published: int,
    publish_rate: float,
    *,
    channels: int | None = None,
) -> dict[str, Any]:
    """``GET /api/overview`` of a one-node RabbitMQ 3.12 cluster (one channel per connection unless told)."""
    messages = sum(q.ready + q.unacked for q in queues)
    churn = dict.fromkeys(
        (
            "channel_closed",
            "channel_created",
            "connection_closed",
            "connection_created",
            "queue_created",
            "queue_declared",
            "queue_deleted",
        ),
        0,
    )
    churn_rates: dict[str, Any] = {}
    for key, value in churn.items():
        churn_rates[key] = value
        churn_rates[f"{key}_details"] = rate()
    exchange_types = [
        ("direct", "AMQP direct exchange, as per the AMQP specification"),
        ("fanout", "AMQP fanout exchange, as per the AMQP specification"),
        ("headers", "AMQP headers exchange, as per the AMQP specification"),
        ("topic", "AMQP topic exchange, as per the AMQP specification"),
    ]
    stats = message_stats(published, sum(q.delivered for q in queues), publish_rate, sum(q.egress_rate for q in queues))
    stats.update(
        {
            "confirm": 0,
            "confirm_details": rate(),
            "disk_reads": 0,
            "disk_reads_details": rate(),
            "disk_writes": 0,
            "disk_writes_details": rate(),
            "drop_unroutable": 0,
            "drop_unroutable_details": rate(),
            "return_unroutable": 0,
            "return_unroutable_details": rate(),
        }
    )
    return {
        "churn_rates": churn_rates,
        "cluster_name": RABBIT_NODE,
        "contexts": [
            {
                "cowboy_opts": "[{sendfile,false}]",
                "description": "RabbitMQ Management",
                "node": RABBIT_NODE,
                "path": "/",
                "port": "15672",
                "protocol": "http",
            }
        ],
        "disable_stats": False,
        "enable_queue_totals": False,
        "erlang_full_version": "Erlang/OTP 26 [erts-14.2.5] [source] [64-bit] [smp:4:4] [ds:4:4:10] [async-threads:1] [jit:ns]",
        "erlang_version": ERLANG_VERSION,
        "exchange_types": [{"description": d, "enabled": True, "name": n} for n, d in exchange_types],
        "is_op_policy_updating_enabled": True,
        "listeners": [
            {
                "ip_address": "::",
                "node": RABBIT_NODE,
                "port": 5672,
                "protocol": "amqp",
                "socket_opts": {"backlog": 128, "exit_on_close": False, "linger": [True, 0], "nodelay": True},
            },
            {"ip_address": "::", "node": RABBIT_NODE, "port": 25672, "protocol": "clustering", "socket_opts": []},
            {
                "ip_address": "::",
                "node": RABBIT_NODE,
                "port": 15672,
                "protocol": "http",
                "socket_opts": {"cowboy_opts": {"sendfile": False}, "port": 15672},
            },
        ],
        "management_version": RABBITMQ_VERSION,
        "message_stats": stats,
        "node": RABBIT_NODE,
        "object_totals": {
            "channels": connections if channels is None else channels,
            "connections": connections,
            "consumers": consumers,
            "exchanges": 8,
            "queues": len(queues),
        },
        "product_name": "RabbitMQ",
        "product_version": RABBITMQ_VERSION,
        "queue_totals": {
            "messages": messages,
            "messages_details": rate(),
            "messages_ready": sum(q.ready for q in queues),
            "messages_ready_details": rate(),
            "messages_unacknowledged": sum(q.unacked for q in queues),
            "messages_unacknowledged_details": rate(),
        },
        "rabbitmq_version": RABBITMQ_VERSION,
        "rates_mode": "basic",
        "release_series_support_status": "supported",
        "sample_retention_policies": {"basic": [600, 3600], "detailed": [600], "global": [600, 3600, 28800, 86400]},
        "statistics_db_event_queue": 0,
    }


def snapshot(
    s: Sample,
    when: datetime,
    queues: list[Q],
    consumers: list[Consumer],
    *,
    connections: int,
    channels: int | None = None,
) -> None:
    published = sum(q.published for q in queues)
    s.add_jsonl(
        "rabbitmq/snapshots.jsonl",
        {
            "at": iso_ms(when),
            "overview": overview_body(
                queues,
                len(consumers),
                connections,
                published,
                sum(q.publish_rate for q in queues),
                channels=channels,
            ),
            "queues": [queue_body(s, q) for q in sorted(queues, key=lambda q: q.name)],
            "consumers": [consumer_body(c) for c in consumers],
        },
    )


def ctag(s: Sample, channel: int = 1) -> str:
    return f"ctag{channel}.{s.hex(32)}"


# --------------------------------------------------------------------------- probes
def live_metadata_probes(
    s: Sample,
    p: Paths | None,
    start: datetime,
    end: datetime,
    body: dict[str, Any],
    log_window: tuple[datetime, datetime] | None = None,
) -> None:
    """``GET /live_metadata`` every ~30 s (the collector's probe); logged when inside the log window."""
    t = start
    while t <= end:
        s.add_jsonl("http/focus/live_metadata.jsonl", {"at": iso_ms(t), "status": 200, "body": body})
        if p and log_window and log_window[0] <= t <= log_window[1]:
            http_call(
                s,
                p,
                t - timedelta(milliseconds=6),
                client="10.42.0.0",
                method="GET",
                path="/live_metadata",
                status=200,
                body=compact(body),
                ua=PROBE_UA,
            )
        t += timedelta(seconds=30, milliseconds=s.rng.randrange(0, 400))


def metadata_polls(
    s: Sample,
    p: Paths,
    job_id: str,
    start: datetime,
    ready: datetime,
    every_ms: tuple[int, int],
    ready_body: dict[str, Any],
) -> None:
    """The test's ``GET /metadata/{job_id}`` loop: 404 ``Invalid job_id`` until the consumer exists, then 200."""
    t = start
    invalid = {"detail": "Invalid job_id"}
    while True:
        done = t >= ready
        when = ready if done else t
        body = ready_body if done else invalid
        status = 200 if done else 404
        s.add_jsonl(
            "http/focus/job_metadata.jsonl", {"at": iso_ms(when), "job_id": job_id, "status": status, "body": body}
        )
        http_call(
            s,
            p,
            when - timedelta(milliseconds=5),
            client="10.42.0.0",
            method="GET",
            path=f"/metadata/{job_id}",
            status=status,
            body=compact(body),
        )
        if done:
            return
        t += timedelta(milliseconds=s.rng.randrange(*every_ms))


def job_metadata_body(job_id: str, cfg: dict[str, int]) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "prr": READY_METADATA["prr"],
        "dx": READY_METADATA["dx"],
        "number_of_channels": cfg["ch_max"] - cfg["ch_min"] + 1,
        "channels": {"min": cfg["ch_min"], "max": cfg["ch_max"]},
        "frequency_range": {"min": 0, "max": cfg["f_max"]},
        "nfft": 1024,
        "display_time_axis_duration": 30,
        "queue": f"grpc-job-{job_id}",
        "status": "running",
    }


def configure_ok(s: Sample, p: Paths, start: datetime, job_id: str, cfg: dict[str, int], duration: float) -> None:
    """A successful ``POST /configure`` (seed 004: ~0.2-0.5 s, returns the job id)."""
    body = compact(
        {"job_id": job_id, "status": "configured", "k8s_job": f"grpc-job-{job_id}", "queue": f"grpc-job-{job_id}"}
    )
    http_call(
        s,
        p,
        start,
        client="10.42.0.0",
        method="POST",
        path="/configure",
        status=200,
        body=body,
        req_body=config_body(cfg),
        duration=duration,
        focus_lines=lambda t: [("INFO", config_line(cfg))],
    )
    done = start + timedelta(seconds=duration - 0.004)
    s.log(p.focus, done, focus_record(done, "INFO", f"Job {job_id} configured, creating k8s job grpc-job-{job_id}"))


def analyzer_start(
    s: Sample,
    rel: str,
    job_id: str,
    started: datetime,
    declared: datetime,
    consuming: datetime,
    extra: list[tuple[datetime, str]] = (),
) -> None:
    """The Baby Analyzer's start-up lines (seed 004), each ``[LEVEL] message`` (kubelet timestamps only)."""
    s.log(rel, started + timedelta(milliseconds=310), f"[INFO] Baby Analyzer {VERSION} starting for job {job_id}")
    s.log(rel, started + timedelta(milliseconds=420), "[INFO] Connecting to RabbitMQ amqp://rabbitmq-panda:5672")
    s.log(rel, declared, f"[INFO] Declared queue grpc-job-{job_id}")
    for when, text in extra:
        s.log(rel, when, text)
    s.log(rel, consuming, f"[INFO] Consumer started on queue grpc-job-{job_id}")


def analyzer_chunks(s: Sample, rel: str, start: datetime, end: datetime, channels: int) -> None:
    t, n = start, 1
    while t <= end:
        s.log(rel, t, f"[INFO] Processed chunk {n}: {channels} channels, 1024 samples, 0 alerts")
        t += timedelta(seconds=15, milliseconds=s.rng.randrange(0, 250))
        n += 1


def save_jobs_collection(s: Sample, docs: list[tuple[datetime, str, dict[str, int]]]) -> None:
    """``mongo/jobs.jsonl``: the jobs the Focus Server stored (mongoexport, relaxed Extended JSON)."""
    for when, job_id, cfg in docs:
        s.add_jsonl(
            "mongo/jobs.jsonl",
            {
                "_id": {"$oid": object_id(when, s.rng)},
                "job_id": job_id,
                "k8s_job": f"grpc-job-{job_id}",
                "queue": f"grpc-job-{job_id}",
                "status": "running",
                "config": {
                    "displayTimeAxisDuration": 30,
                    "nfftSelection": 1024,
                    "displayInfo": {"height": cfg["height"]},
                    "channels": {"min": cfg["ch_min"], "max": cfg["ch_max"]},
                    "frequencyRange": {"min": 0, "max": cfg["f_max"]},
                    "view_type": 0,
                },
                "created_at": {"$date": iso_ms(when)},
            },
        )


# =========================================================================== 1. waiting_for_fiber
def waiting_for_fiber() -> Sample:
    created_at = at("2025-11-08T13:25:00Z")
    s = Sample(
        "waiting_for_fiber",
        created_at,
        "Staging 2025-11-08 (seed 002): live metadata 'waiting for fiber' (prr 0.0), every POST /configure "
        "rejected with 503 'Missing required fiber metadata fields: prr' every 2-3 s from two test clients; "
        "Focus Server restarted 4 times 28 h earlier (mongodb name resolution failure at start-up); "
        "RabbitMQ healthy.",
        README_WAITING,
    )
    focus_pod = f"{FOCUS_RS}-kjj77"
    p = Paths(focus=f"logs/panda/{focus_pod}/focus-server.log")
    prev = f"logs/panda/{focus_pod}/focus-server.previous.log"
    window = (at("2025-11-08T13:18:00Z"), at("2025-11-08T13:19:30Z"))

    # ---- the crash loop 28 h earlier: 4 restarts, each start-up dying in FocusManager init (DNS)
    pod_created = RELEASE + timedelta(seconds=40)
    run0_end = at("2025-11-07T09:10:02Z")
    runs = [
        (at("2025-11-07T09:10:03Z"), at("2025-11-07T09:10:35Z")),
        (at("2025-11-07T09:10:46Z"), at("2025-11-07T09:11:18Z")),
        (at("2025-11-07T09:11:39Z"), at("2025-11-07T09:12:11Z")),
    ]
    current_start = at("2025-11-07T09:12:52Z")
    platform_pods(
        s,
        focus_pod=focus_pod,
        focus_created=pod_created,
        focus_ctr=Ctr(
            "focus-server",
            f"{REGISTRY}/panda/focus-server:{VERSION}",
            current_start,
            ports=(("http", 5000),),
            env=(("MONGO_URI", "mongodb://mongodb:27017/panda"), ("RABBITMQ_URL", "amqp://rabbitmq-panda:5672")),
            restart_count=4,
            last=(runs[-1][0], runs[-1][1], 1, "Error"),
            requests=("250m", "512Mi"),
            limits=("2", "2Gi"),
            readiness_path="/live_metadata",
        ),
        focus_ready=current_start + timedelta(seconds=6),
        coredns_created=at("2025-11-07T09:12:27Z"),
    )
    pod = s.pod(focus_pod)
    image = pod["spec"]["containers"][0]["image"]
    kubelet_event(
        s,
        pod,
        "Pulled",
        f'Container image "{image}" already present on machine',
        pod_created + timedelta(seconds=1),
        current_start,
        count=5,
        container="focus-server",
    )
    kubelet_event(
        s,
        pod,
        "Created",
        "Created container focus-server",
        pod_created + timedelta(seconds=1),
        current_start,
        count=5,
        container="focus-server",
    )
    kubelet_event(
        s,
        pod,
        "Started",
        "Started container focus-server",
        pod_created + timedelta(seconds=1),
        current_start,
        count=5,
        container="focus-server",
    )
    kubelet_event(
        s,
        pod,
        "BackOff",
        f"Back-off restarting failed container focus-server in pod {focus_pod}_panda({pod['metadata']['uid']})",
        runs[0][1] + timedelta(seconds=1),
        runs[-1][1] + timedelta(seconds=1),
        count=3,
        kind="Warning",
        container="focus-server",
    )
    del run0_end

    # previous container's log: start-up, 30 s server selection timeout, traceback, uvicorn exits
    t0 = runs[-1][0] + timedelta(milliseconds=612)
    s.log(prev, t0, "INFO:     Started server process [1]")
    s.log(prev, t0 + timedelta(milliseconds=1), "INFO:     Waiting for application startup.")
    s.log(prev, t0 + timedelta(milliseconds=9), focus_record(t0, "INFO", f"Starting Focus Server {VERSION}"))
    s.log(prev, t0 + timedelta(milliseconds=11), focus_record(t0, "INFO", "Connecting to MongoDB at mongodb:27017"))
    fail = t0 + timedelta(seconds=30, milliseconds=27)
    topology = object_id(t0, s.rng)
    error = (
        "pymongo.errors.ServerSelectionTimeoutError: mongodb:27017: [Errno -3] Temporary failure in name resolution, "
        f"Timeout: 30s, Topology Description: <TopologyDescription id: {topology}, topology_type: Unknown, "
        "servers: [<ServerDescription ('mongodb', 27017) server_type: Unknown, rtt: None, "
        "error=AutoReconnect('mongodb:27017: [Errno -3] Temporary failure in name resolution')>]>"
    )
    frames = [
        "Traceback (most recent call last):",
        '  File "/app/pz/microservices/focus_server/focus_server.py", line 61, in lifespan',
        "    focus_manager = FocusManager(settings)",
        "                    ^^^^^^^^^^^^^^^^^^^^^^",
        '  File "/app/pz/microservices/focus_server/focus_manager.py", line 74, in __init__',
        '    self._db.client.admin.command("ping")',
        '  File "/usr/local/lib/python3.11/site-packages/pymongo/_csot.py", line 108, in csot_wrapper',
        "    return func(self, *args, **kwargs)",
        "           ^^^^^^^^^^^^^^^^^^^^^^^^^^^",
        '  File "/usr/local/lib/python3.11/site-packages/pymongo/database.py", line 894, in command',
        "    with self.__client._conn_for_reads(read_preference, session) as (",
        '  File "/usr/local/lib/python3.11/site-packages/pymongo/mongo_client.py", line 1375, in _conn_for_reads',
        "    server = self._select_server(read_preference, session)",
        "             ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
        '  File "/usr/local/lib/python3.11/site-packages/pymongo/mongo_client.py", line 1322, in _select_server',
        "    server = topology.select_server(server_selector)",
        "             ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
        '  File "/usr/local/lib/python3.11/site-packages/pymongo/topology.py", line 368, in select_server',
        "    server = self._select_server(selector, server_selection_timeout, address)",
        "             ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
        '  File "/usr/local/lib/python3.11/site-packages/pymongo/topology.py", line 346, in _select_server',
        "    servers = self.select_servers(selector, server_selection_timeout, address)",
        "              ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
        '  File "/usr/local/lib/python3.11/site-packages/pymongo/topology.py", line 253, in select_servers',
        "    server_descriptions = self._select_servers_loop(selector, server_timeout, address)",
        "                          ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
        '  File "/usr/local/lib/python3.11/site-packages/pymongo/topology.py", line 303, in _select_servers_loop',
        "    raise ServerSelectionTimeoutError(",
        error,
    ]
    s.log_block(prev, fail, [focus_record(fail, "ERROR", "FocusManager init failed"), *frames])
    # Starlette reports the failed lifespan to uvicorn, which logs the traceback once more and exits
    starlette = [
        "Traceback (most recent call last):",
        '  File "/usr/local/lib/python3.11/site-packages/starlette/routing.py", line 693, in lifespan',
        "    async with self.lifespan_context(app) as maybe_state:",
        '  File "/usr/local/lib/python3.11/contextlib.py", line 210, in __aenter__',
        "    return await anext(self.gen)",
        "           ^^^^^^^^^^^^^^^^^^^^^",
        *frames[1:],
    ]
    starlette[0] = "ERROR:    Traceback (most recent call last):"
    s.log_block(prev, fail + timedelta(milliseconds=2), starlette)
    s.log(prev, fail + timedelta(milliseconds=4), "ERROR:    Application startup failed. Exiting.")

    # ---- live metadata probes 13:00-13:25: always "waiting for fiber"
    live_metadata_probes(s, p, at("2025-11-08T13:00:02.118Z"), at("2025-11-08T13:24:50Z"), WAITING_METADATA, window)

    # ---- the retry storm: two test clients, each repeating one configuration every 2-3 s
    detail = compact({"detail": NOT_READY_DETAIL})
    for client, cfg, first in (
        ("10.42.0.0", CONFIG_A, at("2025-11-08T13:18:00.412Z")),
        ("10.42.2.0", CONFIG_B, at("2025-11-08T13:18:01.655Z")),
    ):
        t = first
        while t <= window[1]:
            http_call(
                s,
                p,
                t,
                client=client,
                method="POST",
                path="/configure",
                status=503,
                body=detail,
                req_body=config_body(cfg),
                duration=0.004 + 0.001 * s.rng.randrange(0, 5),
                focus_lines=lambda when, cfg=cfg: [("INFO", config_line(cfg)), ("ERROR", NOT_READY_DETAIL)],
            )
            t += timedelta(milliseconds=s.rng.randrange(2000, 3001))
    # read-only test calls keep working
    channels_body = compact({"channels": [{"id": i, "distance_m": round(i * 1.0209, 2)} for i in range(1, 4)]})
    for i, start in enumerate(
        (at("2025-11-08T13:18:07.310Z"), at("2025-11-08T13:18:39.902Z"), at("2025-11-08T13:19:12.551Z"))
    ):
        end = http_call(
            s,
            p,
            start,
            client="10.42.0.0" if i % 2 == 0 else "10.42.2.0",
            method="GET",
            path="/channels",
            status=200,
            body=channels_body,
            duration=0.011,
        )
        del end

    # ---- ingress controller: a sync + reload, and one nginx error line
    base = at("2025-11-08T13:18:12.408112Z")
    for offset, text in (
        (0, '7 store.go:440] "Found valid IngressClass" ingress="panda/panda-focus-server" ingressclass="nginx"'),
        (
            1,
            '7 event.go:377] "Event occurred" object="panda/panda-focus-server" kind="Ingress" '
            'apiVersion="networking.k8s.io/v1" type="Normal" reason="Sync" message="Scheduled for sync"',
        ),
        (114, '7 controller.go:193] "Configuration changes detected, backend reload required"'),
        (173, '7 controller.go:213] "Backend successfully reloaded"'),
    ):
        t = base + timedelta(milliseconds=offset)
        s.log(p.ingress, t, f"I{klog_time(t)}       {text}")
    t = at("2025-11-08T13:18:51.207Z")
    s.log(
        p.ingress,
        t,
        (
            f"{t:%Y/%m/%d %H:%M:%S} [error] 38#38: *48213 recv() failed (104: Connection reset by peer) while proxying "
            'upgraded connection, client: 10.42.0.0, server: _, request: "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1", '
            f'upstream: "http://{WEBAPP_IP}:80/socket.io/?EIO=4&transport=websocket", host: "{STAGING_HOST}"'
        ),
    )
    s.log(
        p.ingress,
        t + timedelta(microseconds=300),
        ingress_line(
            s,
            t,
            client="10.42.0.0",
            method="GET",
            uri="/socket.io/?EIO=4&transport=websocket",
            status=101,
            body_bytes=389,
            ua=BROWSER_UA,
            req_len=512,
            req_time=2741.318,
            upstream=WEBAPP_UPSTREAM,
            upstream_addr=f"{WEBAPP_IP}:80",
        ),
    )

    # ---- RabbitMQ: healthy, nothing but the periodic partition check
    peer_discovery(s, p, at("2025-11-08T13:00:24.748786Z"), at("2025-11-08T13:24:59Z"))
    alerts = Q(
        "prisma-210-1000-alerts", consumers=1, published=57, delivered=57, idle_since=at("2025-11-08T11:02:13.480Z")
    )
    focus_events = Q(
        "focus-server-events",
        consumers=1,
        published=1312,
        delivered=1312,
        publish_rate=0.0,
        idle_since=at("2025-11-07T09:13:01.022Z"),
    )
    cons = [
        Consumer(alerts.name, f"{WEBAPP_IP}:41766", ctag(s)),
        Consumer(focus_events.name, "10.42.1.14:52210", ctag(s)),
    ]
    for when in ("2025-11-08T13:20:00.031Z", "2025-11-08T13:22:30.027Z", "2025-11-08T13:24:59.988Z"):
        snapshot(s, at(when), [alerts, focus_events], cons, connections=2)

    services_and_endpoints(s, RELEASE - timedelta(days=4, hours=2))
    return s


# =========================================================================== 2. consumer_slow
def consumer_slow() -> Sample:
    created_at = at("2025-11-13T09:45:00Z")
    s = Sample(
        "consumer_slow",
        created_at,
        "Consumer creation timing (seed 004): job 19-5 ready after 5.234 s (configure 0.291 s, pod +2.2 s); "
        "job 19-6 slow: pod +3 s, container +6 s, queue +8 s, consumer and GET /metadata 200 only after 41 s "
        "(model loading). Metadata ready (prr 2000).",
        README_CONSUMER,
    )
    focus_pod = f"{FOCUS_RS}-4ld4s"
    p = Paths(focus=f"logs/panda/{focus_pod}/focus-server.log")
    base = at("2025-11-11T07:02:15Z")
    platform_pods(
        s,
        focus_pod=focus_pod,
        focus_created=base,
        focus_ctr=Ctr(
            "focus-server",
            f"{REGISTRY}/panda/focus-server:{VERSION}",
            base + timedelta(seconds=12),
            ports=(("http", 5000),),
            env=(("MONGO_URI", "mongodb://mongodb:27017/panda"), ("RABBITMQ_URL", "amqp://rabbitmq-panda:5672")),
            requests=("250m", "512Mi"),
            limits=("2", "2Gi"),
            readiness_path="/live_metadata",
        ),
        focus_ready=None,
    )
    live_metadata_probes(
        s,
        p,
        at("2025-11-13T09:40:01.274Z"),
        at("2025-11-13T09:44:59Z"),
        READY_METADATA,
        (at("2025-11-13T09:40:00Z"), at("2025-11-13T09:45:00Z")),
    )

    # (job id, config, configure start, configure seconds, pod +s, pull start +s, pull ms, container +s,
    #  queue declared +s, consumer +s, node, pod ip, pod name, polling interval ms)
    plans = [
        (
            "19-5",
            CONFIG_A,
            at("2025-11-13T09:41:12.000Z"),
            0.291,
            2.2,
            2.31,
            318,
            3.0,
            4.1,
            5.2,
            "staging-node-3",
            "10.42.2.31",
            "grpc-job-19-5-cj8hc",
            (118, 131),
        ),
        (
            "19-6",
            CONFIG_B,
            at("2025-11-13T09:42:30.000Z"),
            0.312,
            3.0,
            3.12,
            2871,
            6.0,
            8.0,
            40.98,
            "staging-node-3",
            "10.42.2.32",
            "grpc-job-19-6-q4w9z",
            (480, 521),
        ),
    ]
    job_docs = []
    queue_events: list[tuple[str, datetime, datetime, str]] = []
    for job_id, cfg, start, conf_s, pod_s, pull_s, pull_ms, ctr_s, queue_s, cons_s, node, ip, pod_name, every in plans:
        configure_ok(s, p, start, job_id, cfg, conf_s)
        job_created = start + timedelta(seconds=conf_s - 0.05)
        job, labels = make_job(s, f"grpc-job-{job_id}", job_created, job_id)
        pod_created = start + timedelta(seconds=pod_s)
        ctr_started = start + timedelta(seconds=ctr_s)
        pod = job_pod(
            s, job, labels, pod_name, node=node, ip=ip, created=pod_created, started=ctr_started, job_id=job_id
        )
        job_pod_events(
            s,
            pod,
            job,
            created=pod_created,
            scheduled=pod_created + timedelta(milliseconds=36),
            pulling=start + timedelta(seconds=pull_s),
            pulled=start + timedelta(seconds=pull_s, milliseconds=pull_ms),
            pull_ms=pull_ms,
            started=ctr_started,
        )
        rel = f"logs/panda/{pod_name}/baby-analyzer.log"
        declared = start + timedelta(seconds=queue_s)
        consuming = start + timedelta(seconds=cons_s)
        extra = []
        if job_id == "19-6":
            extra = [
                (declared + timedelta(milliseconds=35), "[INFO] Loading classifier model /models/ml_ground_v3.onnx"),
                (declared + timedelta(seconds=12), "[WARNING] Model loading is slow: 12.0s elapsed (CPU throttled?)"),
                (consuming - timedelta(milliseconds=210), "[INFO] Model loaded in 32.7s"),
            ]
        else:
            extra = [
                (declared + timedelta(milliseconds=30), "[INFO] Loading classifier model /models/ml_ground_v3.onnx"),
                (consuming - timedelta(milliseconds=120), "[INFO] Model loaded in 0.9s"),
            ]
        analyzer_start(s, rel, job_id, ctr_started, declared, consuming, extra)
        analyzer_chunks(
            s,
            rel,
            consuming + timedelta(seconds=2, milliseconds=140),
            created_at - timedelta(seconds=2),
            cfg["ch_max"] - cfg["ch_min"] + 1,
        )
        peer = f"{ip}:{s.port()}"
        pid = f"<0.{31000 + int(job_id.split('-')[1]) * 217}.0>"
        amqp_connection(s, p, start + timedelta(seconds=ctr_s, milliseconds=452), peer, pid)
        ready = start + timedelta(seconds=5.234 if job_id == "19-5" else 41.087)
        metadata_polls(s, p, job_id, start + timedelta(seconds=0.308), ready, every, job_metadata_body(job_id, cfg))
        queue_events.append((job_id, declared, consuming, peer))
        job_docs.append((start + timedelta(seconds=conf_s - 0.06), job_id, cfg))
    save_jobs_collection(s, job_docs)

    # ---- RabbitMQ: log and management snapshots every 5 s around each job
    peer_discovery(s, p, at("2025-11-13T09:40:31.118409Z"), at("2025-11-13T09:44:59Z"))
    alerts = Q(
        "prisma-210-1000-alerts", consumers=1, published=212, delivered=212, idle_since=at("2025-11-13T08:58:40.104Z")
    )
    alerts_consumer = Consumer(alerts.name, f"{WEBAPP_IP}:41766", ctag(s))
    tags = {job_id: ctag(s) for job_id, *_ in queue_events}
    times = [at("2025-11-13T09:41:12.000Z") + timedelta(seconds=5 * i) for i in range(3)]
    times += [at("2025-11-13T09:42:35.000Z") + timedelta(seconds=5 * i) for i in range(9)]
    for when in times:
        when = when + timedelta(milliseconds=s.rng.randrange(15, 60))
        queues, consumers = [alerts], [alerts_consumer]
        for job_id, declared, consuming, peer in queue_events:
            if when < declared:
                continue
            running = when >= consuming
            chunks = max(0, int((when - consuming).total_seconds() // 15)) if running else 0
            queues.append(
                Q(
                    f"grpc-job-{job_id}",
                    consumers=int(running),
                    published=chunks,
                    delivered=chunks,
                    auto_delete=True,
                    durable=False,
                    idle_since=None if running else declared,
                )
            )
            if running:
                consumers.append(Consumer(f"grpc-job-{job_id}", peer, tags[job_id]))
        snapshot(s, when, queues, consumers, connections=len(consumers) + 1)
    services_and_endpoints(s, RELEASE - timedelta(days=4, hours=2))
    return s


# =========================================================================== 3. alert_lost
def alert_lost() -> Sample:
    created_at = at("2025-11-13T12:15:00Z")
    s = Sample(
        "alert_lost",
        created_at,
        "Alert delivery (seed 000): test-sd-123 pushed (201), published to exchange 'prisma', consumed, saved and "
        "played (alert_sound.mp3 206); test-sd-124 pushed (201) at 12:10:05 but the publish failed "
        "(StreamLostError after RabbitMQ closed the connection for missed heartbeats): no RabbitMQ message, no "
        "sound, not in MongoDB.",
        README_ALERT,
    )
    focus_pod = f"{FOCUS_RS}-4ld4s"
    p = Paths(focus=f"logs/panda/{focus_pod}/focus-server.log")
    base = at("2025-11-11T07:02:15Z")
    platform_pods(
        s,
        focus_pod=focus_pod,
        focus_created=base,
        focus_ctr=Ctr(
            "focus-server",
            f"{REGISTRY}/panda/focus-server:{VERSION}",
            base + timedelta(seconds=12),
            ports=(("http", 5000),),
            env=(("MONGO_URI", "mongodb://mongodb:27017/panda"), ("RABBITMQ_URL", "amqp://rabbitmq-panda:5672")),
            requests=("250m", "512Mi"),
            limits=("2", "2Gi"),
            readiness_path="/live_metadata",
        ),
        focus_ready=None,
    )
    job_created = at("2025-11-13T11:20:31Z")
    job, labels = make_job(s, "grpc-job-1-3", job_created, "1-3")
    pod = job_pod(
        s,
        job,
        labels,
        "grpc-job-1-3-rm5ms",
        node="staging-node-3",
        ip="10.42.2.27",
        created=job_created + timedelta(seconds=2),
        started=job_created + timedelta(seconds=4),
        job_id="1-3",
    )
    job_pod_events(
        s,
        pod,
        job,
        created=job_created + timedelta(seconds=2),
        scheduled=job_created + timedelta(seconds=2, milliseconds=41),
        pulling=job_created + timedelta(seconds=2, milliseconds=180),
        pulled=job_created + timedelta(seconds=2, milliseconds=520),
        pull_ms=334,
        started=job_created + timedelta(seconds=4),
    )
    window = (at("2025-11-13T12:05:00Z"), at("2025-11-13T12:14:59Z"))
    live_metadata_probes(s, p, at("2025-11-13T12:05:01.913Z"), at("2025-11-13T12:14:55Z"), READY_METADATA, window)

    # ---- the web UI polls the alert list every 10 s (browser, through the web app)
    ui_alert_polls(s, p.ingress, at("2025-11-13T12:05:04.220Z"), window[1], every_s=10, jitter_ms=40, body_bytes=3811)

    rel = "logs/panda/grpc-job-1-3-rm5ms/baby-analyzer.log"
    analyzer_chunks(s, rel, at("2025-11-13T12:05:09.512Z"), window[1], 2337)

    # ---- alert 1: test-sd-123, delivered end to end
    push = at("2025-11-13T12:08:40.894Z")
    seed_line = (
        '10.42.0.0 - - [13/Nov/2025:12:08:41 +0000] "POST /prisma/api/prisma-210-1000/api/push-to-rabbit HTTP/1.1" '
        '201 450 "-" "python-requests/2.32.5" 902 0.106 [webapp-webapp-pz-web-webapp-ui-80] [] 10.42.1.9:80 450 '
        "0.106 201 80e1da9a6d866cc1ede71922a8232394"
    )
    alert_path = "/prisma-210-1000/api/push-to-rabbit"
    a1 = {"alertId": "test-sd-123", "classId": 104, "severity": 3}
    s.log(p.focus, push + timedelta(milliseconds=11), f"[INFO] POST {alert_path}")
    s.log(p.focus, push + timedelta(milliseconds=13), f"[INFO] Received alert: {json.dumps(a1)}")
    s.log(p.focus, push + timedelta(milliseconds=15), "[INFO] Publishing alert to RabbitMQ: test-sd-123")
    published = push + timedelta(milliseconds=88)
    rabbit_line(
        s,
        p,
        published - timedelta(milliseconds=2),
        "debug",
        "<0.4521.0>",
        "Message published to exchange 'prisma' with routing_key 'Algorithm.AlertReport.MLGround'",
    )
    s.log(p.focus, published, "[INFO] Alert published successfully")
    s.log(p.focus, push + timedelta(milliseconds=97), uvicorn_access(WEBAPP_IP, 38412, "POST", alert_path, 201))
    s.log(p.ingress, push + timedelta(milliseconds=106, microseconds=420), seed_line)
    s.log(rel, push + timedelta(milliseconds=131), "[INFO] Alert detected: class_id=104, severity=3, distance_m=4163")
    s.log(
        rel, push + timedelta(milliseconds=133), "[INFO] Publishing alert to RabbitMQ: Algorithm.AlertReport.MLGround"
    )
    s.log(rel, push + timedelta(milliseconds=162), "[INFO] Alert published successfully: test-sd-123")
    rabbit_line(
        s,
        p,
        push + timedelta(milliseconds=171),
        "debug",
        "<0.3982.0>",
        "Message consumed from queue 'prisma-210-1000-alerts'",
    )
    sound = at("2025-11-13T12:08:42.017Z")
    s.log(
        p.ingress,
        sound + timedelta(milliseconds=2),
        ingress_line(
            s,
            sound,
            client="10.42.0.0",
            method="GET",
            uri="/assets/sounds/alert_sound.mp3",
            status=206,
            body_bytes=25214,
            ua=BROWSER_UA,
            req_len=64,
            req_time=0.002,
            upstream=WEBAPP_UPSTREAM,
            upstream_addr=f"{WEBAPP_IP}:80",
            referer=f"https://{STAGING_HOST}/prisma/",
            proto="HTTP/2.0",
        ),
    )
    s.add_jsonl(
        "mongo/alerts.jsonl",
        {
            "_id": {"$oid": object_id(push + timedelta(milliseconds=190), s.rng)},
            "alertId": "test-sd-123",
            "classId": 104,
            "severity": 3,
            "distance_m": 4163,
            "jobId": "1-3",
            "exchange": "prisma",
            "routingKey": "Algorithm.AlertReport.MLGround",
            "source": "push-to-rabbit",
            "createdAt": {"$date": iso_ms(push + timedelta(milliseconds=190))},
        },
    )

    # ---- RabbitMQ drops the Focus Server's publishing connection (missed heartbeats) ...
    drop = at("2025-11-13T12:10:03.482Z")
    # RabbitMQ 3.9+ prints every line of a multi-line message with the same header
    for line in (
        f"closing AMQP connection <0.4521.0> (10.42.1.14:46238 -> {RABBIT_IP}:5672):",
        "missed heartbeats from client, timeout: 60s",
    ):
        s.log(p.rabbit, drop, f"{rabbit_time(drop)} [error] <0.4521.0> {line}")
    # ---- ... so alert 2, test-sd-124, is accepted (201) but never published
    push2 = at("2025-11-13T12:10:05.113Z")
    a2 = {"alertId": "test-sd-124", "classId": 104, "severity": 3}
    s.log(p.focus, push2 + timedelta(milliseconds=10), f"[INFO] POST {alert_path}")
    s.log(p.focus, push2 + timedelta(milliseconds=12), f"[INFO] Received alert: {json.dumps(a2)}")
    s.log(p.focus, push2 + timedelta(milliseconds=14), "[INFO] Publishing alert to RabbitMQ: test-sd-124")
    s.log(p.focus, push2 + timedelta(milliseconds=21), uvicorn_access(WEBAPP_IP, 38412, "POST", alert_path, 201))
    s.log(
        p.ingress,
        push2 + timedelta(milliseconds=31),
        ingress_line(
            s,
            push2 + timedelta(milliseconds=30),
            client="10.42.0.0",
            method="POST",
            uri="/prisma/api/prisma-210-1000/api/push-to-rabbit",
            status=201,
            body_bytes=450,
            ua=TEST_UA,
            req_len=902,
            req_time=0.030,
            upstream=WEBAPP_UPSTREAM,
            upstream_addr=f"{WEBAPP_IP}:80",
        ),
    )
    s.log(
        p.focus,
        push2 + timedelta(milliseconds=58),
        (
            "[ERROR] Failed to publish alert test-sd-124: pika.exceptions.StreamLostError: "
            "Stream connection lost: ConnectionResetError(104, 'Connection reset by peer')"
        ),
    )
    s.log(
        p.focus,
        push2 + timedelta(milliseconds=61),
        "[WARNING] RabbitMQ connection lost, reconnecting to amqp://rabbitmq-panda:5672",
    )
    amqp_connection(s, p, push2 + timedelta(milliseconds=240), "10.42.1.14:51904", "<0.5377.0>")
    s.log(p.focus, push2 + timedelta(milliseconds=251), "[INFO] Reconnected to RabbitMQ")

    peer_discovery(s, p, at("2025-11-13T12:05:40.301277Z"), window[1])
    # ---- management snapshots every minute: the alerts queue keeps its consumer
    tag_ui, tag_job = ctag(s), ctag(s)
    for i in range(10):
        when = at("2025-11-13T12:05:30.000Z") + timedelta(seconds=60 * i, milliseconds=s.rng.randrange(10, 70))
        delivered = 214 + (1 if when > push else 0)
        alerts = Q(
            "prisma-210-1000-alerts",
            consumers=1,
            published=delivered,
            delivered=delivered,
            publish_rate=0.2 if push < when < push + timedelta(seconds=60) else 0.0,
            idle_since=None
            if push < when < push + timedelta(seconds=60)
            else (push if when > push else at("2025-11-13T11:48:02.551Z")),
        )
        chunks = 1000 + int((when - at("2025-11-13T12:00:00Z")).total_seconds() // 15)
        job_q = Q(
            "grpc-job-1-3",
            consumers=1,
            published=chunks,
            delivered=chunks,
            publish_rate=0.0667,
            auto_delete=True,
            durable=False,
        )
        snapshot(
            s,
            when,
            [alerts, job_q],
            [Consumer(alerts.name, f"{WEBAPP_IP}:41766", tag_ui), Consumer(job_q.name, "10.42.2.27:40112", tag_job)],
            connections=3,
        )
    services_and_endpoints(s, RELEASE - timedelta(days=4, hours=2))
    return s


# =========================================================================== 4. healthy
def healthy() -> Sample:
    created_at = at("2025-11-10T09:00:00Z")
    s = Sample(
        "healthy",
        created_at,
        "A healthy system: live metadata ready (prr 2000.0, dx 1.0209), one POST /configure (job 20-1) whose "
        "consumer is ready after 4.1 s, every pod Running with no restarts, RabbitMQ queues consumed.",
        README_HEALTHY,
    )
    focus_pod = f"{FOCUS_RS}-t8vzn"  # replaced after the 2025-11-07 crash loop
    p = Paths(focus=f"logs/panda/{focus_pod}/focus-server.log")
    base = at("2025-11-08T16:41:05Z")
    platform_pods(
        s,
        focus_pod=focus_pod,
        focus_created=base,
        focus_ctr=Ctr(
            "focus-server",
            f"{REGISTRY}/panda/focus-server:{VERSION}",
            base + timedelta(seconds=12),
            ports=(("http", 5000),),
            env=(("MONGO_URI", "mongodb://mongodb:27017/panda"), ("RABBITMQ_URL", "amqp://rabbitmq-panda:5672")),
            requests=("250m", "512Mi"),
            limits=("2", "2Gi"),
            readiness_path="/live_metadata",
        ),
        focus_ready=None,
    )
    window = (at("2025-11-10T08:50:00Z"), at("2025-11-10T09:00:00Z"))
    live_metadata_probes(s, p, at("2025-11-10T08:50:01.602Z"), at("2025-11-10T08:59:59Z"), READY_METADATA, window)
    start = at("2025-11-10T08:55:00.000Z")
    job_id = "20-1"
    configure_ok(s, p, start, job_id, CONFIG_A, 0.254)
    job, labels = make_job(s, f"grpc-job-{job_id}", start + timedelta(milliseconds=210), job_id)
    pod_created = start + timedelta(seconds=1.6)
    ctr_started = start + timedelta(seconds=2.4)
    pod = job_pod(
        s,
        job,
        labels,
        "grpc-job-20-1-h7x2k",
        node="staging-node-3",
        ip="10.42.2.29",
        created=pod_created,
        started=ctr_started,
        job_id=job_id,
    )
    job_pod_events(
        s,
        pod,
        job,
        created=pod_created,
        scheduled=pod_created + timedelta(milliseconds=29),
        pulling=pod_created + timedelta(milliseconds=140),
        pulled=pod_created + timedelta(milliseconds=430),
        pull_ms=288,
        started=ctr_started,
    )
    rel = f"logs/panda/{pod.get('metadata')['name']}/baby-analyzer.log"
    declared = start + timedelta(seconds=3.2)
    consuming = start + timedelta(seconds=4.02)
    analyzer_start(
        s,
        rel,
        job_id,
        ctr_started,
        declared,
        consuming,
        [
            (declared + timedelta(milliseconds=28), "[INFO] Loading classifier model /models/ml_ground_v3.onnx"),
            (consuming - timedelta(milliseconds=110), "[INFO] Model loaded in 0.7s"),
        ],
    )
    analyzer_chunks(s, rel, consuming + timedelta(seconds=2, milliseconds=60), created_at - timedelta(seconds=1), 99)
    peer = f"10.42.2.29:{s.port()}"
    amqp_connection(s, p, ctr_started + timedelta(milliseconds=440), peer, "<0.28870.0>")
    metadata_polls(
        s,
        p,
        job_id,
        start + timedelta(seconds=0.281),
        start + timedelta(seconds=4.117),
        (118, 131),
        job_metadata_body(job_id, CONFIG_A),
    )
    save_jobs_collection(s, [(start + timedelta(milliseconds=200), job_id, CONFIG_A)])
    peer_discovery(s, p, at("2025-11-10T08:50:12.005632Z"), window[1])

    alerts = Q(
        "prisma-210-1000-alerts", consumers=1, published=188, delivered=188, idle_since=at("2025-11-10T08:31:55.870Z")
    )
    alerts_consumer = Consumer(alerts.name, f"{WEBAPP_IP}:41766", ctag(s))
    tag = ctag(s)
    for when in (
        "2025-11-10T08:54:55.034Z",
        "2025-11-10T08:55:00.029Z",
        "2025-11-10T08:55:05.041Z",
        "2025-11-10T08:55:10.022Z",
        "2025-11-10T08:57:30.037Z",
        "2025-11-10T08:59:59.951Z",
    ):
        t = at(when)
        queues, consumers = [alerts], [alerts_consumer]
        if t >= declared:
            running = t >= consuming
            chunks = int((t - consuming).total_seconds() // 15) if running else 0
            queues.append(
                Q(
                    f"grpc-job-{job_id}",
                    consumers=int(running),
                    published=chunks,
                    delivered=chunks,
                    auto_delete=True,
                    durable=False,
                    publish_rate=0.0667 if chunks else 0.0,
                    idle_since=None if chunks else declared,
                )
            )
            if running:
                consumers.append(Consumer(f"grpc-job-{job_id}", peer, tag))
        snapshot(s, t, queues, consumers, connections=len(consumers) + 1)
    services_and_endpoints(s, RELEASE - timedelta(days=4, hours=2))
    return s


# =========================================================================== 5. queue_backlog
def queue_backlog() -> Sample:
    """The alerts queue loses its only consumer and backs up; an old per-job queue lives on (seeds 001, 003)."""
    created_at = at("2025-11-14T10:15:00Z")
    s = Sample(
        "queue_backlog",
        created_at,
        "RabbitMQ backlog (seeds 001, 003): at 10:07:27 RabbitMQ closed the web app's consumer channel on "
        "prisma-210-1000-alerts (PRECONDITION_FAILED - unknown delivery tag 509, a double ack) and the web app "
        "never reopened it; job 21-4 keeps publishing ~8 alerts/min, so messages_ready grows from 0 to 50 over "
        "10 snapshots 45 s apart with 0 consumers. Queue grpc-job-18-2 (durable, from analyzer 2.13 before the "
        "2025-11-06 upgrade) outlived its job, finished 2025-11-05: 0 consumers, 37 messages. Every pod Running, "
        "no restarts; metadata ready (prr 2000).",
        README_QUEUE,
    )
    focus_pod = f"{FOCUS_RS}-4ld4s"
    p = Paths(focus=f"logs/panda/{focus_pod}/focus-server.log")
    base = at("2025-11-11T07:02:15Z")
    platform_pods(
        s,
        focus_pod=focus_pod,
        focus_created=base,
        focus_ctr=Ctr(
            "focus-server",
            f"{REGISTRY}/panda/focus-server:{VERSION}",
            base + timedelta(seconds=12),
            ports=(("http", 5000),),
            env=(("MONGO_URI", "mongodb://mongodb:27017/panda"), ("RABBITMQ_URL", "amqp://rabbitmq-panda:5672")),
            requests=("250m", "512Mi"),
            limits=("2", "2Gi"),
            readiness_path="/live_metadata",
        ),
        focus_ready=None,
    )

    # ---- job 21-4: a walk test along the fiber, configured 44 min before collection, still running
    job_id, cfg = "21-4", CONFIG_A
    job_created = at("2025-11-14T09:31:18Z")
    job, labels = make_job(s, f"grpc-job-{job_id}", job_created, job_id)
    pod_name = "grpc-job-21-4-n8kxd"
    pod_ip = "10.42.2.33"
    pod = job_pod(
        s,
        job,
        labels,
        pod_name,
        node="staging-node-3",
        ip=pod_ip,
        created=job_created + timedelta(seconds=2),
        started=job_created + timedelta(seconds=4),
        job_id=job_id,
    )
    job_pod_events(
        s,
        pod,
        job,
        created=job_created + timedelta(seconds=2),
        scheduled=job_created + timedelta(seconds=2, milliseconds=33),
        pulling=job_created + timedelta(seconds=2, milliseconds=160),
        pulled=job_created + timedelta(seconds=2, milliseconds=470),
        pull_ms=301,
        started=job_created + timedelta(seconds=4),
    )
    consuming = job_created + timedelta(seconds=6, milliseconds=240)
    save_jobs_collection(s, [(job_created - timedelta(milliseconds=60), job_id, cfg)])
    # job 18-2 ran before the 2025-11-06 upgrade and finished long ago; its Job and pod are gone
    old_created, old_finished = at("2025-11-05T11:48:37.204Z"), at("2025-11-05T17:42:09.118Z")
    old_doc = {
        "_id": {"$oid": object_id(old_created, s.rng)},
        "job_id": "18-2",
        "k8s_job": "grpc-job-18-2",
        "queue": "grpc-job-18-2",
        "status": "completed",
        "config": {
            "displayTimeAxisDuration": 30,
            "nfftSelection": 1024,
            "displayInfo": {"height": CONFIG_B["height"]},
            "channels": {"min": CONFIG_B["ch_min"], "max": CONFIG_B["ch_max"]},
            "frequencyRange": {"min": 0, "max": CONFIG_B["f_max"]},
            "view_type": 0,
        },
        "created_at": {"$date": iso_ms(old_created)},
        "finished_at": {"$date": iso_ms(old_finished)},
    }
    s.jsonl["mongo/jobs.jsonl"].insert(0, old_doc)

    window = (at("2025-11-14T10:05:00Z"), at("2025-11-14T10:14:59Z"))
    live_metadata_probes(s, p, at("2025-11-14T10:05:01.377Z"), at("2025-11-14T10:14:55Z"), READY_METADATA, window)

    # ---- the alerts the job detects and publishes (exchange 'prisma', routing key ...MLGround), ~8/min
    alert_times: list[datetime] = []
    t = consuming + timedelta(seconds=11, milliseconds=408)
    while t < created_at:
        alert_times.append(t)
        t += timedelta(milliseconds=s.rng.randrange(5500, 9500))
    rel = f"logs/panda/{pod_name}/baby-analyzer.log"
    for when in alert_times:
        if not window[0] <= when <= window[1]:
            continue
        distance = 4163 + int((when - consuming).total_seconds() * 0.61)  # the walker moves along the fiber
        severity = 2 + (distance // 97) % 2
        s.log(rel, when, f"[INFO] Alert detected: class_id=104, severity={severity}, distance_m={distance}")
        s.log(
            rel,
            when + timedelta(milliseconds=2),
            "[INFO] Publishing alert to RabbitMQ: Algorithm.AlertReport.MLGround",
        )
    channels = cfg["ch_max"] - cfg["ch_min"] + 1
    chunk = int((window[0] - consuming).total_seconds() // 15) + 1
    t = consuming + timedelta(seconds=15 * chunk, milliseconds=131)
    while t <= window[1]:
        found = sum(t - timedelta(seconds=15) < a <= t for a in alert_times)
        s.log(rel, t, f"[INFO] Processed chunk {chunk}: {channels} channels, 1024 samples, {found} alerts")
        t += timedelta(seconds=15, milliseconds=s.rng.randrange(0, 40))
        chunk += 1

    # ---- the web UI polls the alert list every ~15 s (answered from the web app: 200, no new alerts)
    ui_alert_polls(s, p.ingress, at("2025-11-14T10:05:06.840Z"), window[1], every_s=15, jitter_ms=60, body_bytes=3807)

    # ---- RabbitMQ: the web app acks delivery tag 509 twice; the broker closes its consumer channel
    published_before = 221  # alerts of earlier days (pushes and jobs), all delivered and acked
    double_acked = next(a for a in alert_times if a >= at("2025-11-14T10:07:26Z"))
    closed = double_acked + timedelta(milliseconds=41, microseconds=s.rng.randrange(0, 1000))
    tag = published_before + sum(a <= double_acked for a in alert_times)
    conn = f"{WEBAPP_IP}:41766 -> {RABBIT_IP}:5672"
    # rabbit_channel:handle_exception/2; RabbitMQ 3.9+ prints every line of the message with the same header
    for line in (
        f"Channel error on connection <0.2954.0> ({conn}, vhost: '/', user: 'panda'), channel 1:",
        f"operation basic.ack caused a channel exception precondition_failed: unknown delivery tag {tag}",
    ):
        s.log(p.rabbit, closed, f"{rabbit_time(closed)} [error] <0.2963.0> {line}")
    peer_discovery(s, p, at("2025-11-14T10:05:31.582114Z"), window[1])

    # ---- management snapshots every 45 s from 10:07:00: the alerts queue with 1 consumer, then 0
    web_tag, job_tag = ctag(s), ctag(s)
    job_peer = f"{pod_ip}:{s.port()}"
    orphan = Q(
        "grpc-job-18-2",
        consumers=0,
        ready=37,
        published=1412,
        delivered=1375,
        idle_since=old_finished,
    )
    for i in range(10):
        when = at("2025-11-14T10:07:00Z") + timedelta(seconds=45 * i, milliseconds=s.rng.randrange(10, 70))
        consumed = when < closed
        published = published_before + sum(a <= when for a in alert_times)
        delivered = published if consumed else tag
        recent = sum(when - timedelta(seconds=5) < a <= when for a in alert_times) / 5  # rates_mode basic: 5 s
        alerts = Q(
            "prisma-210-1000-alerts",
            consumers=int(consumed),
            ready=published - delivered,
            published=published,
            delivered=delivered,
            publish_rate=recent,
            deliver_rate=recent if consumed else 0.0,
            ready_rate=0.0 if consumed else recent,
        )
        chunks = int((when - consuming).total_seconds() // 15)
        job_q = Q(
            f"grpc-job-{job_id}",
            consumers=1,
            published=chunks,
            delivered=chunks,
            publish_rate=0.0667,
            auto_delete=True,
            durable=False,
        )
        consumers = [Consumer(job_q.name, job_peer, job_tag)]
        if consumed:
            consumers.insert(0, Consumer(alerts.name, f"{WEBAPP_IP}:41766", web_tag))
        # web app, Focus Server (publishes job data), analyzer: the web app's connection stays open
        snapshot(s, when, [alerts, job_q, orphan], consumers, connections=3, channels=2 + int(consumed))
    services_and_endpoints(s, RELEASE - timedelta(days=4, hours=2))
    return s


# --------------------------------------------------------------------------- READMEs
README_WAITING = """\
# Sample `waiting_for_fiber`

The staging incident of 2025-11-08 (seed 002), collected at 13:25 UTC.

- `http/focus/live_metadata.jsonl`: `GET /live_metadata` every ~30 s from 13:00 to 13:25, always
  `200` with `prr: 0.0`, `dx: 0.0`, `sw_version: "waiting for fiber"`, `number_of_channels: 2337`.
- `logs/panda/panda-panda-focus-server-78dbcfd9d9-kjj77/focus-server.log` (13:18:00-13:19:30): two test
  clients (`10.42.0.0`, `10.42.2.0`, `python-requests/2.32.5`) each repeat one configuration every
  2-3 s (height 200 / channels 11-109 / frequency max 1000, and height 1000 / channels 1-50 /
  frequency max 500); every attempt logs `got configuration: ...`, `ERROR pz.focus_server Cannot
  configure job - validation failed: Cannot proceed: Missing required fiber metadata fields: prr` and
  the uvicorn access line `"POST /configure HTTP/1.1" 503 Service Unavailable`. `GET /live_metadata`
  and `GET /channels` keep answering 200.
- `focus-server.previous.log`: the last crashed start-up, 2025-11-07 09:11:39-09:12:11 (28 h before
  collection): `ERROR pz.focus_server FocusManager init failed` with the full traceback ending in
  `pymongo.errors.ServerSelectionTimeoutError: mongodb:27017: [Errno -3] Temporary failure in name
  resolution ...`, then uvicorn `Application startup failed. Exiting.`.
- `k8s/`: the Focus Server pod with `restartCount` 4, `lastState.terminated` (Error, exit code 1),
  `4 (28h ago)` and age `46h` in `pods.txt`; events Pulled/Created/Started (count 5) and BackOff
  (count 3, Warning) from 2025-11-07 (kept longer than the default 1 h event TTL on this cluster);
  CoreDNS pod re-created at 09:12 that day; service `mongodb` with a ready endpoint now.
- `logs/kube-system/ingress-nginx-controller-55694fd6ff-rqgp9/controller.log`: ingress-nginx
  `upstreaminfo` access lines for the same requests (`[panda-panda-focus-server-5000]`, 503 for every
  `/focus-server/configure`), a few klog lines and one nginx `[error]` line (a UI websocket reset).
- `logs/panda/rabbitmq-panda-0/rabbitmq.log` and `rabbitmq/snapshots.jsonl`: RabbitMQ healthy.

Expected findings: FIBER_WAITING, FIBER_METADATA_MISSING, RETRY_STORM, CRASHLOOP_DNS.

Generated by `tools/make_samples.py`; do not edit by hand.
"""

README_CONSUMER = """\
# Sample `consumer_slow`

Consumer creation for two jobs (seed 004), collected 2025-11-13 09:45 UTC.

- Job `19-5`: `POST /configure` at 09:41:12.000 answered 200 in 0.291 s; Job `grpc-job-19-5`, pod
  `grpc-job-19-5-cj8hc` created +2.2 s (events SuccessfulCreate, Scheduled, Pulling, Pulled, Created,
  Started), container started +3.0 s, queue `grpc-job-19-5` declared +4.1 s, consumer +5.2 s;
  `GET /metadata/19-5` polled every ~125 ms: 404 `{"detail": "Invalid job_id"}` until 200 at +5.234 s.
- Job `19-6` (slow): configure at 09:42:30, pod +3 s, container +6 s, queue +8 s, then the analyzer
  loads its model for 32.7 s; consumer and the first 200 from `GET /metadata/19-6` only at ~+41 s
  (polled every ~500 ms).
- The pods carry only the Job labels (`job-name`, `controller-uid`, `batch.kubernetes.io/...`), no
  `job_id` label, as in the seed.
- `rabbitmq/snapshots.jsonl`: `/api/overview`, `/api/queues`, `/api/consumers` every 5 s around each
  job: each job queue appears with 0 consumers, then 1.
- Ingress, Focus Server, analyzer and RabbitMQ logs; `mongo/jobs.jsonl`; metadata ready (prr 2000).

Expected findings: CONSUMER_SLOW for job 19-6 only.

Generated by `tools/make_samples.py`; do not edit by hand.
"""

README_ALERT = """\
# Sample `alert_lost`

Two test alerts through the pipeline (seed 000), collected 2025-11-13 12:15 UTC.

- `test-sd-123` (12:08:41): ingress `POST /prisma/api/prisma-210-1000/api/push-to-rabbit` 201 (the seed's
  line verbatim), Focus Server `Received alert` / `Publishing alert to RabbitMQ` / `Alert published
  successfully`, RabbitMQ `Message published to exchange 'prisma' with routing_key
  'Algorithm.AlertReport.MLGround'` and `Message consumed from queue 'prisma-210-1000-alerts'`, gRPC job
  `grpc-job-1-3-rm5ms` `Alert detected: class_id=104, severity=3, distance_m=4163` and `Alert published
  successfully: test-sd-123`, `mongo/alerts.jsonl` document, and the browser's
  `GET /assets/sounds/alert_sound.mp3 HTTP/2.0` 206 one second later.
- `test-sd-124` (12:10:05): ingress 201 and Focus Server `Received alert` / `Publishing alert`, then
  `[ERROR] Failed to publish alert test-sd-124: pika.exceptions.StreamLostError: ...` (RabbitMQ had
  closed that connection at 12:10:03 for missed heartbeats). No RabbitMQ message, no analyzer line, no
  MongoDB document, no alert sound.
- `rabbitmq/snapshots.jsonl`: every minute, queue `prisma-210-1000-alerts` with its one consumer.

Expected findings: ALERT_NOT_DELIVERED for `test-sd-124` (stopped at the RabbitMQ publish).

Generated by `tools/make_samples.py`; do not edit by hand.
"""

README_HEALTHY = """\
# Sample `healthy`

A healthy system, collected 2025-11-10 09:00 UTC.

- Live metadata ready every ~30 s (prr 2000.0, dx 1.0209, sw_version 2.14.1, fiber "SMF-28 loop A",
  0-42000 m, 2337 channels).
- One `POST /configure` (job `20-1`, 0.254 s); pod `grpc-job-20-1-h7x2k` +1.6 s, consumer on queue
  `grpc-job-20-1` after 4.0 s; `GET /metadata/20-1` 404 until 200 at +4.117 s.
- Every pod Running, no restarts; ingress 200s; RabbitMQ queues consumed, nothing queued.

Expected findings: none of severity warning or critical.

Generated by `tools/make_samples.py`; do not edit by hand.
"""

README_QUEUE = """\
# Sample `queue_backlog`

RabbitMQ backlog and a queue left behind (seeds 001, 003), collected 2025-11-14 10:15 UTC.

- Job `21-4` (walk test, Job `grpc-job-21-4`, pod `grpc-job-21-4-n8kxd`, created 09:31:18, events
  SuccessfulCreate ... Started) runs and publishes alerts to exchange `prisma` with routing key
  `Algorithm.AlertReport.MLGround`, about 8 a minute (`[INFO] Alert detected: class_id=104, ...` and
  `Publishing alert to RabbitMQ: ...` in its log, alert counts in `Processed chunk` lines); its own queue
  `grpc-job-21-4` keeps its consumer.
- 10:07:27: RabbitMQ closes channel 1 of the web app's connection (`10.42.1.9:41766`), the only consumer
  of `prisma-210-1000-alerts`: `Channel error on connection <0.2954.0> (...), channel 1:` /
  `operation basic.ack caused a channel exception precondition_failed: unknown delivery tag 509` (the
  web app acknowledged a delivery twice). The web app never reopens the channel; its connection stays
  open, its pod stays Running and Ready with 0 restarts, so Kubernetes shows nothing wrong.
- `rabbitmq/snapshots.jsonl`: `/api/overview`, `/api/queues`, `/api/consumers` every 45 s, 10:07:00 to
  10:13:45 (10 snapshots). `prisma-210-1000-alerts`: 1 consumer and 0 ready in the first, then 0
  consumers and `messages_ready` rising to 50 (publish rate > 0, deliver rate 0).
  `grpc-job-18-2`: a durable, non-auto-delete queue declared by analyzer 2.13 before the 2025-11-06
  upgrade (2.14 declares per-job queues auto-delete); its job finished 2025-11-05 17:42 (status
  `completed` in `mongo/jobs.jsonl`), the Job and pod are long gone (`ttlSecondsAfterFinished`), and the
  queue still holds the 37 chunks published after its analyzer stopped: 0 consumers in every snapshot.
- Focus Server healthy: live metadata ready every ~30 s (prr 2000); ingress carries those probes and the
  UI's alert list polls (200 every ~15 s). No restarts, no Warning events.

Expected findings: QUEUE_BACKLOG (critical) for `prisma-210-1000-alerts` (no consumer, growing) and
QUEUE_ORPHANED (warning) for `grpc-job-18-2`; nothing else: the lost consumer is a channel closed by the
broker, not a crash, so no CRASHLOOP_* finding; the alerts carry no ids and no push-to-rabbit request,
so the alert trace has nothing to follow.

Generated by `tools/make_samples.py`; do not edit by hand.
"""

SAMPLES: dict[str, Callable[[], Sample]] = {
    "alert_lost": alert_lost,
    "consumer_slow": consumer_slow,
    "healthy": healthy,
    "queue_backlog": queue_backlog,
    "waiting_for_fiber": waiting_for_fiber,
}


def build(name: str) -> dict[str, bytes]:
    """The files of sample ``name``: relative path → bytes."""
    return SAMPLES[name]().files()


def write(out: Path, names: Iterable[str]) -> list[Path]:
    """(Re)write each sample directory under ``out``; stale files of those samples are removed."""
    written = []
    for name in names:
        target = out / name
        if target.exists():
            shutil.rmtree(target)
        for rel, data in build(name).items():
            path = target / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        written.append(target)
    return written


def stale(out: Path, names: Iterable[str]) -> list[str]:
    """The samples under ``out`` whose files differ from what :func:`build` writes (missing, extra or changed)."""
    found = []
    for name in names:
        root = out / name
        have = {f.relative_to(root).as_posix(): f.read_bytes() for f in root.rglob("*") if f.is_file()}
        if have != build(name):
            found.append(name)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help=f"samples to write (default: all of {sorted(SAMPLES)})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="directory holding the sample folders")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if a sample under --out is not up to date"
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(SAMPLES))
    if unknown:
        parser.error(f"unknown samples {unknown}; samples are {sorted(SAMPLES)}")
    names = args.names or sorted(SAMPLES)
    if args.check:
        outdated = stale(args.out, names)
        if outdated:
            print(f"stale samples in {args.out}: {', '.join(outdated)}; run: python tools/make_samples.py")
            return 1
        print(f"{len(names)} samples up to date in {args.out}")
        return 0
    for path in write(args.out, names):
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        print(f"{path}: {size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
