"""Serve an evidence bundle as a read-only Kubernetes API on loopback (``serve-bundle``).

``panda-analysis serve-bundle BUNDLE`` starts :class:`BundleServer`, writes a kubeconfig
and prints its path, so ``kubectl get pods``, ``kubectl logs --previous`` and the
``kubernetes`` Python client work against saved evidence, offline (the idea of
``sbctl`` for support bundles). It is also the test stand-in for a Kubernetes API
server, which cannot run in CI: collecting from a served bundle must give back the same
evidence.

What is served, shaped as a real API server answers (Kubernetes API conventions):

* discovery: ``/version``, ``/api``, ``/apis`` (``batch/v1``), ``/api/v1`` and
  ``/apis/batch/v1`` (``APIResourceList``; verbs ``get``, ``list``, ``watch`` only);
  aggregated discovery is not offered, so clients fall back to these documents;
* ``pods``, ``events``, ``services``, ``endpoints``, ``namespaces`` (core ``v1``) and
  ``jobs`` (``batch/v1``), cluster-wide and per namespace, one by name, from
  ``k8s/*.json`` (``"kind": "List"`` input is accepted); ``labelSelector``,
  ``fieldSelector``, ``limit`` / ``continue``; ``watch=true`` sends the list as ``ADDED``
  events and then holds the stream open, as a watch on an unchanging cluster does;
* server-side printing: ``Accept: application/json;as=Table;g=meta.k8s.io`` gets a
  ``meta.k8s.io/v1`` Table (``NAME READY STATUS RESTARTS AGE`` ...) computed the way
  kubectl's printers do, with the bundle's ``created_at`` as "now";
* pod logs from ``logs/<ns>/<pod>/<container>[.previous].log`` with ``container``,
  ``previous``, ``timestamps``, ``sinceSeconds`` (relative to ``created_at``, so
  ``--since`` selects the lines it did on the day), ``sinceTime``, ``tailLines``,
  ``limitBytes``;
* errors as ``Status`` objects: 404 ``NotFound``, 400 ``BadRequest`` (unknown container,
  missing previous log, bad selector), and 405 ``MethodNotAllowed`` for every write verb.

Plain HTTP on 127.0.0.1 without authentication: kubectl and the Python client accept an
``http://`` server in a kubeconfig, and nothing leaves the machine.

Examples
--------
>>> import json, urllib.request
>>> with BundleServer("sample:waiting_for_fiber") as server:
...     with urllib.request.urlopen(server.url + "/api/v1/namespaces/panda/pods") as resp:
...         pods = json.load(resp)
>>> pods["kind"], len(pods["items"])
('PodList', 5)
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import logging
import os
import re
import socket
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from panda_analysis.bundle import Bundle, load_bundle
from panda_analysis.errors import BundleError

__all__ = ["BundleServer", "add_parser", "main"]

log = logging.getLogger(__name__)

#: The version this stand-in reports on ``/version`` (the API shapes it serves).
SERVER_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0+panda-bundle",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2025-01-01T00:00:00Z",
    "goVersion": "go1.23.4",
    "compiler": "gc",
    "platform": "linux/amd64",
}

_READ_VERBS = ["get", "list", "watch"]
_WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
#: A watch with nothing to report is held open at most this long (seconds) unless the
#: client asks for less with ``timeoutSeconds`` (real servers pick 30-60 min).
MAX_WATCH_SECONDS = 1800


@dataclass(frozen=True, slots=True)
class _Resource:
    """One served resource type."""

    group: str  # "" for the core group
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...]
    categories: tuple[str, ...]
    #: field selector labels the real API server accepts for this type
    fields: tuple[str, ...]

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """``pods`` or ``jobs.batch``: the name used in NotFound messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


_META_FIELDS = ("metadata.name", "metadata.namespace")
RESOURCES: dict[tuple[str, str], _Resource] = {
    ("v1", "pods"): _Resource(
        "",
        "v1",
        "pods",
        "pod",
        "Pod",
        namespaced=True,
        short_names=("po",),
        categories=("all",),
        fields=(
            *_META_FIELDS,
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ),
    ),
    ("v1", "events"): _Resource(
        "",
        "v1",
        "events",
        "event",
        "Event",
        namespaced=True,
        short_names=("ev",),
        categories=(),
        fields=(
            *_META_FIELDS,
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ),
    ),
    ("v1", "services"): _Resource(
        "",
        "v1",
        "services",
        "service",
        "Service",
        namespaced=True,
        short_names=("svc",),
        categories=("all",),
        fields=(*_META_FIELDS, "spec.clusterIP", "spec.type"),
    ),
    ("v1", "endpoints"): _Resource(
        "",
        "v1",
        "endpoints",
        "endpoints",
        "Endpoints",
        namespaced=True,
        short_names=("ep",),
        categories=(),
        fields=_META_FIELDS,
    ),
    ("v1", "namespaces"): _Resource(
        "",
        "v1",
        "namespaces",
        "namespace",
        "Namespace",
        namespaced=False,
        short_names=("ns",),
        categories=(),
        fields=(*_META_FIELDS, "status.phase"),
    ),
    ("batch/v1", "jobs"): _Resource(
        "batch",
        "v1",
        "jobs",
        "job",
        "Job",
        namespaced=True,
        short_names=(),
        categories=("all",),
        fields=(*_META_FIELDS, "status.successful"),
    ),
}
#: Bundle file holding each resource type (namespaces are also derived from the others).
_FILES = {
    "pods": "k8s/pods.json",
    "events": "k8s/events.json",
    "services": "k8s/services.json",
    "endpoints": "k8s/endpoints.json",
    "jobs": "k8s/jobs.json",
    "namespaces": "k8s/namespaces.json",
}

_KUBELET_TS = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})) ")


class ApiError(Exception):
    """An error answered as a ``Status`` object (code, reason, message, details)."""

    def __init__(self, code: int, reason: str, message: str, details: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = dict(details or {})

    def status(self) -> dict[str, Any]:
        """The ``Status`` object a real API server sends for this error."""
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": self.details,
            "code": self.code,
        }


def _not_found(res: _Resource, name: str) -> ApiError:
    details: dict[str, Any] = {"name": name, "kind": res.plural}
    if res.group:
        details["group"] = res.group
    return ApiError(404, "NotFound", f'{res.qualified} "{name}" not found', details)


def _bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def _invalid(message: str) -> ApiError:
    return ApiError(422, "Invalid", message)


# --------------------------------------------------------------------------- time
def _parse_time(value: object) -> datetime | None:
    """RFC 3339 (with up to nanoseconds) → aware UTC datetime; None when empty or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("z", "Z")
    match = re.match(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?$", text)
    if match is None:
        return None
    frac = (match.group(2) or "")[:7]  # microseconds are enough for comparisons here
    zone = match.group(3) or "Z"
    try:
        parsed = datetime.fromisoformat(match.group(1) + frac + ("+00:00" if zone == "Z" else zone))
    except ValueError:
        return None
    return parsed.astimezone(UTC)


def human_duration(delta: timedelta) -> str:
    """Format a duration as kubectl's AGE column does (``apimachinery/pkg/util/duration.HumanDuration``).

    Examples
    --------
    >>> human_duration(timedelta(hours=46, minutes=5))
    '46h'
    >>> human_duration(timedelta(days=7, hours=1, minutes=3))
    '7d1h'
    >>> human_duration(timedelta(minutes=4, seconds=59))
    '4m59s'
    """
    seconds = int(delta.total_seconds())
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 60 * 2:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if rest == 0 else f"{hours // 24 // 365}y{rest}d"
    return f"{hours // 24 // 365}y"


# --------------------------------------------------------------------------- selectors
_REQ = re.compile(
    r"^\s*(?:(?P<neg>!)\s*(?P<nkey>[^\s!=,()]+)"
    r"|(?P<key>[^\s!=,()]+)\s*(?:(?P<op>==|!=|=)\s*(?P<val>[^\s!=,()]*)"
    r"|\s+(?P<setop>in|notin)\s*\((?P<set>[^()]*)\))?)\s*$"
)


def _split_terms(selector: str) -> list[str]:
    """Split on commas that are not inside ``( )``."""
    terms: list[str] = []
    current: list[str] = []
    depth = 0
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(char)
    terms.append("".join(current))
    return [t for t in terms if t.strip()]


def label_matcher(selector: str) -> Callable[[Mapping[str, str]], bool]:
    """Compile a label selector (``a=b``, ``a!=b``, ``a in (x,y)``, ``a notin (x)``, ``a``, ``!a``; comma = AND).

    Examples
    --------
    >>> match = label_matcher("app in (web,api),tier!=db,!canary")
    >>> match({"app": "web", "tier": "front"}), match({"app": "web", "canary": "1"})
    (True, False)
    """
    requirements: list[tuple[str, str, frozenset[str]]] = []  # (operator, key, values)
    for term in _split_terms(selector):
        m = _REQ.match(term)
        if m is None:
            msg = f"unable to parse requirement: {term.strip()!r} in label selector {selector!r}"
            raise _bad_request(msg)
        if m.group("neg"):
            requirements.append(("!", m.group("nkey"), frozenset()))
        elif m.group("op"):
            op = "!=" if m.group("op") == "!=" else "="
            requirements.append((op, m.group("key"), frozenset([m.group("val")])))
        elif m.group("setop"):
            values = frozenset(v.strip() for v in m.group("set").split(",") if v.strip())
            requirements.append((m.group("setop"), m.group("key"), values))
        else:
            requirements.append(("exists", m.group("key"), frozenset()))

    def matches(labels: Mapping[str, str]) -> bool:
        for op, key, values in requirements:
            present = key in labels
            ok = {
                "!": not present,
                "exists": present,
                "=": present and labels[key] in values,
                "in": present and labels[key] in values,
                "!=": not present or labels[key] not in values,
                "notin": not present or labels[key] not in values,
            }[op]
            if not ok:
                return False
        return True

    return matches


def _field_value(obj: Mapping[str, Any], path: str) -> str:
    """The string form of a dotted field as field selectors compare it ("" when absent)."""
    if path == "source":  # events: the source component
        return str((obj.get("source") or {}).get("component", ""))
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def field_matcher(selector: str, res: _Resource) -> Callable[[Mapping[str, Any]], bool]:
    """Compile a field selector (``f=v``, ``f==v``, ``f!=v``; comma = AND) for ``res``."""
    requirements: list[tuple[str, bool, str]] = []  # (field, equal, value)
    for term in _split_terms(selector):
        m = re.match(r"^\s*([^\s!=]+)\s*(==|!=|=)\s*(.*?)\s*$", term)
        if m is None:
            msg = f"invalid selector: {selector!r}; can't understand {term.strip()!r}"
            raise _bad_request(msg)
        path, op, value = m.groups()
        if path not in res.fields:
            msg = f"field label not supported: {path}"
            raise _bad_request(msg)
        requirements.append((path, op != "!=", value))

    def matches(obj: Mapping[str, Any]) -> bool:
        return all((_field_value(obj, path) == value) is equal for path, equal, value in requirements)

    return matches


# --------------------------------------------------------------------------- tables
def _col(name: str, description: str, *, priority: int = 0, type_: str = "string", fmt: str = "") -> dict[str, Any]:
    return {"name": name, "type": type_, "format": fmt, "description": description, "priority": priority}


_NAME_COL = _col("Name", "Name must be unique within a namespace.", fmt="name")
_AGE_COL = _col("Age", "CreationTimestamp is a timestamp representing the server time when this object was created.")


def _since(ts: object, now: datetime) -> str:
    """kubectl's ``translateTimestampSince``: ``<unknown>`` for a missing time."""
    parsed = _parse_time(ts)
    return "<unknown>" if parsed is None else human_duration(now - parsed)


def _pod_row(pod: Mapping[str, Any], now: datetime) -> list[Any]:
    """Cells of ``kubectl get pods`` (kubernetes ``pkg/printers/internalversion`` printPod)."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    meta = pod.get("metadata") or {}
    restarts = 0
    total = len(spec.get("containers") or [])
    ready = 0
    last_restart: datetime | None = None
    reason = status.get("reason") or status.get("phase") or ""
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    def later(current: datetime | None, finished: object) -> datetime | None:
        when = _parse_time(finished)
        return when if when is not None and (current is None or when > current) else current

    init_specs = {c.get("name"): c for c in spec.get("initContainers") or []}
    sidecars = {n for n, c in init_specs.items() if c.get("restartPolicy") == "Always"}
    total += len(sidecars)
    initializing = False
    sidecar_restarts, sidecar_last = 0, None
    for i, cs in enumerate(status.get("initContainerStatuses") or []):
        restarts += int(cs.get("restartCount") or 0)
        last_term = (cs.get("lastState") or {}).get("terminated")
        if last_term:
            last_restart = later(last_restart, last_term.get("finishedAt"))
        if cs.get("name") in sidecars:
            sidecar_restarts += int(cs.get("restartCount") or 0)
            if last_term:
                sidecar_last = later(sidecar_last, last_term.get("finishedAt"))
        state = cs.get("state") or {}
        term, waiting = state.get("terminated"), state.get("waiting")
        if term and int(term.get("exitCode") or 0) == 0:
            continue
        if cs.get("name") in sidecars and cs.get("started"):
            ready += 1 if cs.get("ready") else 0
            continue
        if term:
            if term.get("reason"):
                reason = "Init:" + term["reason"]
            elif term.get("signal"):
                reason = f"Init:Signal:{term['signal']}"
            else:
                reason = f"Init:ExitCode:{term.get('exitCode', 0)}"
        elif waiting and waiting.get("reason") and waiting.get("reason") != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break
    initialized = any(
        c.get("type") == "Initialized" and c.get("status") == "True" for c in status.get("conditions") or []
    )
    if not initializing or initialized:
        restarts, last_restart = sidecar_restarts, sidecar_last
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            restarts += int(cs.get("restartCount") or 0)
            last_term = (cs.get("lastState") or {}).get("terminated")
            if last_term:
                last_restart = later(last_restart, last_term.get("finishedAt"))
            state = cs.get("state") or {}
            term, waiting = state.get("terminated"), state.get("waiting")
            if waiting and waiting.get("reason"):
                reason = waiting["reason"]
            elif term and term.get("reason"):
                reason = term["reason"]
            elif term:
                reason = f"Signal:{term['signal']}" if term.get("signal") else f"ExitCode:{term.get('exitCode', 0)}"
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            pod_ready = any(
                c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
            )
            reason = "Running" if pod_ready else "NotReady"
    if meta.get("deletionTimestamp") and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif meta.get("deletionTimestamp") and status.get("phase") not in ("Succeeded", "Failed"):
        reason = "Terminating"
    restarts_text = str(restarts)
    if restarts and last_restart is not None:
        restarts_text = f"{restarts} ({human_duration(now - last_restart)} ago)"
    ips = [p.get("ip") for p in status.get("podIPs") or [] if p.get("ip")] or (
        [status["podIP"]] if status.get("podIP") else []
    )
    gates = spec.get("readinessGates") or []
    gates_text = "<none>"
    if gates:
        conds = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        gates_text = f"{sum(conds.get(g.get('conditionType')) == 'True' for g in gates)}/{len(gates)}"
    return [
        meta.get("name", ""),
        f"{ready}/{total}",
        reason,
        restarts_text,
        _since(meta.get("creationTimestamp"), now),
        ips[0] if ips else "<none>",
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        gates_text,
    ]


def _event_row(ev: Mapping[str, Any], now: datetime) -> list[Any]:
    first = _since(ev.get("firstTimestamp"), now) if ev.get("firstTimestamp") else _since(ev.get("eventTime"), now)
    last = _since(ev.get("lastTimestamp"), now) if ev.get("lastTimestamp") else first
    count = ev.get("count") or 1
    series = ev.get("series")
    if series:
        last, count = _since(series.get("lastObservedTime"), now), series.get("count") or count
    involved = ev.get("involvedObject") or {}
    kind = str(involved.get("kind", "")).lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    source = ev.get("source") or {}
    origin = source.get("component") or ev.get("reportingComponent") or ""
    host = source.get("host") or ev.get("reportingInstance") or ""
    origin_text = f"{origin}, {host}" if host else origin
    return [
        last,
        ev.get("type", ""),
        ev.get("reason", ""),
        target,
        involved.get("fieldPath", ""),
        origin_text,
        str(ev.get("message", "")).strip(),
        first,
        count,
        (ev.get("metadata") or {}).get("name", ""),
    ]


def _service_row(svc: Mapping[str, Any], now: datetime) -> list[Any]:
    spec, status = svc.get("spec") or {}, svc.get("status") or {}
    kind = spec.get("type") or "ClusterIP"
    external = "<none>"
    if kind == "LoadBalancer":
        ingress = [i.get("ip") or i.get("hostname") for i in (status.get("loadBalancer") or {}).get("ingress") or []]
        external = ",".join([*(i for i in ingress if i), *(spec.get("externalIPs") or [])]) or "<pending>"
    elif kind == "ExternalName":
        external = spec.get("externalName") or "<none>"
    elif spec.get("externalIPs"):
        external = ",".join(spec["externalIPs"])
    ports = []
    for port in spec.get("ports") or []:
        text = f"{port.get('port')}:{port['nodePort']}" if port.get("nodePort") else f"{port.get('port')}"
        ports.append(f"{text}/{port.get('protocol', 'TCP')}")
    selector = spec.get("selector") or {}
    selector_text = ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or "<none>"
    return [
        (svc.get("metadata") or {}).get("name", ""),
        kind,
        spec.get("clusterIP") or "<none>",
        external,
        ",".join(ports) or "<none>",
        _since((svc.get("metadata") or {}).get("creationTimestamp"), now),
        selector_text,
    ]


def _endpoints_row(ep: Mapping[str, Any], now: datetime) -> list[Any]:
    listed: list[str] = []
    count, more = 0, False
    subsets = ep.get("subsets") or []
    for subset in subsets:
        addresses = [a.get("ip", "") for a in subset.get("addresses") or []]
        port_list = subset.get("ports") or []
        targets = (
            [(ip, None) for ip in addresses]
            if not port_list
            else [(ip, p.get("port")) for p in port_list for ip in addresses]
        )
        count += len(targets)
        for ip, port in targets:
            if len(listed) == 3:
                more = True
                break
            listed.append(ip if port is None else (f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"))
    text = ",".join(listed) if subsets else "<none>"
    if more:
        text = f"{text} + {count - 3} more..."
    meta = ep.get("metadata") or {}
    return [meta.get("name", ""), text, _since(meta.get("creationTimestamp"), now)]


def _job_row(job: Mapping[str, Any], now: datetime) -> list[Any]:
    spec, status = job.get("spec") or {}, job.get("status") or {}
    meta = job.get("metadata") or {}
    conds = {c.get("type") for c in status.get("conditions") or [] if c.get("status") == "True"}
    if "Complete" in conds:
        state = "Complete"
    elif "Failed" in conds:
        state = "Failed"
    elif meta.get("deletionTimestamp"):
        state = "Terminating"
    elif "Suspended" in conds:
        state = "Suspended"
    elif "FailureTarget" in conds:
        state = "FailureTarget"
    else:
        state = "Running"
    succeeded = int(status.get("succeeded") or 0)
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{spec['completions']}"
    elif int(spec.get("parallelism") or 1) > 1:
        completions = f"{succeeded}/1 of {spec['parallelism']}"
    else:
        completions = f"{succeeded}/1"
    start, end = _parse_time(status.get("startTime")), _parse_time(status.get("completionTime"))
    duration = "" if start is None else human_duration((end or now) - start)
    template = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    return [
        meta.get("name", ""),
        state,
        completions,
        duration,
        _since(meta.get("creationTimestamp"), now),
        ",".join(c.get("name", "") for c in template),
        ",".join(c.get("image", "") for c in template),
        ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or "<none>",
    ]


def _namespace_row(ns: Mapping[str, Any], now: datetime) -> list[Any]:
    meta = ns.get("metadata") or {}
    return [meta.get("name", ""), (ns.get("status") or {}).get("phase", ""), _since(meta.get("creationTimestamp"), now)]


TABLES: dict[str, tuple[list[dict[str, Any]], Callable[[Mapping[str, Any], datetime], list[Any]]]] = {
    "pods": (
        [
            _NAME_COL,
            _col("Ready", "The aggregate readiness state of this pod for accepting traffic."),
            _col("Status", "The aggregate status of the containers in this pod."),
            _col(
                "Restarts",
                "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
            ),
            _AGE_COL,
            _col(
                "IP",
                "IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
                priority=1,
            ),
            _col("Node", "NodeName is a request to schedule this pod onto a specific node.", priority=1),
            _col(
                "Nominated Node",
                "nominatedNodeName is set only when this pod preempts other pods on the node.",
                priority=1,
            ),
            _col(
                "Readiness Gates", "If specified, all readiness gates will be evaluated for pod readiness.", priority=1
            ),
        ],
        _pod_row,
    ),
    "events": (
        [
            _col("Last Seen", "The time at which the most recent occurrence of this event was recorded."),
            _col("Type", "Type of this event (Normal, Warning), new types could be added in the future."),
            _col(
                "Reason",
                "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
            ),
            _col("Object", "The object that this event is about."),
            _col("Subobject", "The subobject this event is about.", priority=1),
            _col("Source", "The component reporting this event.", priority=1),
            _col("Message", "A human-readable description of the status of this operation."),
            _col("First Seen", "The time at which the event was first recorded.", priority=1),
            _col("Count", "The number of times this event has occurred.", priority=1, type_="integer"),
            _col("Name", "Name must be unique within a namespace.", priority=1, fmt="name"),
        ],
        _event_row,
    ),
    "services": (
        [
            _NAME_COL,
            _col("Type", "type determines how the Service is exposed."),
            _col("Cluster-IP", "clusterIP is the IP address of the service."),
            _col(
                "External-IP",
                "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.",
            ),
            _col("Port(s)", "The list of ports that are exposed by this service."),
            _AGE_COL,
            _col(
                "Selector",
                "Route service traffic to pods with label keys and values matching this selector.",
                priority=1,
            ),
        ],
        _service_row,
    ),
    "endpoints": (
        [
            _NAME_COL,
            _col("Endpoints", "Endpoints of the service"),
            _AGE_COL,
        ],
        _endpoints_row,
    ),
    "jobs": (
        [
            _NAME_COL,
            _col("Status", "Status of the job."),
            _col("Completions", "The completion status of the job."),
            _col("Duration", "Time required to complete the job."),
            _AGE_COL,
            _col("Containers", "Names of each container in the template.", priority=1),
            _col("Images", "Images referenced by each container in the template.", priority=1),
            _col("Selector", "A label query over pods that should match the pod count.", priority=1),
        ],
        _job_row,
    ),
    "namespaces": (
        [
            _NAME_COL,
            _col("Status", "The status of the namespace"),
            _AGE_COL,
        ],
        _namespace_row,
    ),
}


# --------------------------------------------------------------------------- bundle data
def _read_items(bundle: Bundle, rel: str) -> list[dict[str, Any]]:
    path = bundle.root / rel
    if not path.is_file():
        return []
    try:
        doc = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        msg = f"{bundle.origin}/{rel}: not a Kubernetes JSON list ({err}); re-save it with `kubectl get -A -o json`"
        raise BundleError(msg) from err
    items = doc.get("items") if isinstance(doc, dict) else doc
    if isinstance(doc, dict) and "items" not in doc and doc.get("kind") not in (None, "List"):
        items = [doc]  # a single object saved with `kubectl get x NAME -o json`
    return [i for i in items or [] if isinstance(i, dict)]


class _Store:
    """The bundle's objects, indexed for the handlers (read-only after construction)."""

    def __init__(self, bundle: Bundle):
        self.bundle = bundle
        created = bundle.manifest.get("created_at")
        self.now = _parse_time(created) if isinstance(created, str) else None
        if self.now is None:  # no manifest time: the newest file in the bundle is "now"
            newest = max((p.stat().st_mtime for p in bundle.root.rglob("*") if p.is_file()), default=0.0)
            self.now = datetime.fromtimestamp(newest, tz=UTC)
        self.objects: dict[str, list[dict[str, Any]]] = {}
        for plural, rel in _FILES.items():
            res = next(r for r in RESOURCES.values() if r.plural == plural)
            items = []
            for item in _read_items(bundle, rel):
                obj = dict(item)
                obj.setdefault("apiVersion", res.api_version)
                obj.setdefault("kind", res.kind)
                items.append(obj)
            # a real API server lists in storage-key order: namespace, then name
            items.sort(
                key=lambda o: (
                    str((o.get("metadata") or {}).get("namespace", "")),
                    str((o.get("metadata") or {}).get("name", "")),
                )
            )
            self.objects[plural] = items
        names = {n["metadata"]["name"] for n in self.objects["namespaces"] if n.get("metadata", {}).get("name")}
        derived = {
            str((o.get("metadata") or {}).get("namespace"))
            for k, v in self.objects.items()
            if k != "namespaces"
            for o in v
            if (o.get("metadata") or {}).get("namespace")
        }
        derived |= {str(n) for n in bundle.manifest.get("namespaces") or []}
        logs = bundle.root / "logs"
        if logs.is_dir():
            derived |= {p.name for p in logs.iterdir() if p.is_dir()}
        for ns in sorted(derived - names):
            self.objects["namespaces"].append(
                {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}},
                    "spec": {"finalizers": ["kubernetes"]},
                    "status": {"phase": "Active"},
                }
            )
        self.objects["namespaces"].sort(key=lambda o: str(o["metadata"].get("name", "")))
        versions = [
            int(rv)
            for v in self.objects.values()
            for o in v
            if str(rv := (o.get("metadata") or {}).get("resourceVersion", "")).isdigit()
        ]
        self.resource_version = str(max(versions, default=1))

    def find(self, res: _Resource, namespace: str | None, name: str) -> dict[str, Any]:
        for obj in self.objects[res.plural]:
            meta = obj.get("metadata") or {}
            if meta.get("name") == name and (not res.namespaced or meta.get("namespace") == namespace):
                return obj
        raise _not_found(res, name)

    def select(self, res: _Resource, namespace: str | None, query: Mapping[str, str]) -> list[dict[str, Any]]:
        items = self.objects[res.plural]
        if namespace is not None:
            items = [o for o in items if (o.get("metadata") or {}).get("namespace") == namespace]
        if query.get("labelSelector"):
            match_labels = label_matcher(query["labelSelector"])
            items = [o for o in items if match_labels((o.get("metadata") or {}).get("labels") or {})]
        if query.get("fieldSelector"):
            match_fields = field_matcher(query["fieldSelector"], res)
            items = [o for o in items if match_fields(o)]
        return items


# --------------------------------------------------------------------------- logs
def _read_log(store: _Store, namespace: str, name: str, query: Mapping[str, str]) -> bytes:
    """The body of ``GET .../pods/{name}/log`` (see the module docstring for the parameters)."""
    pods_res = RESOURCES[("v1", "pods")]
    log_dir = store.bundle.root / "logs" / namespace / name
    try:
        pod: dict[str, Any] | None = store.find(pods_res, namespace, name)
    except ApiError:
        if not log_dir.is_dir():
            raise
        pod = None  # logs kept for a pod the bundle has no object for: still serve them
    if pod is not None:
        spec = pod.get("spec") or {}
        containers = [c.get("name") for c in spec.get("containers") or []]
        others = [
            c.get("name") for c in [*(spec.get("initContainers") or []), *(spec.get("ephemeralContainers") or [])]
        ]
    else:
        containers = sorted({p.name.removesuffix(".log").removesuffix(".previous") for p in log_dir.glob("*.log")})
        others = []
    container = query.get("container", "")
    if not container:
        if len(containers) != 1:
            msg = (
                f"a container name must be specified for pod {name}, choose one of: [{' '.join(map(str, containers))}]"
            )
            if others:
                msg += f" or one of the init containers: [{' '.join(map(str, others))}]"
            raise _bad_request(msg)
        container = str(containers[0])
    elif container not in containers and container not in others:
        msg = f"container {container} is not valid for pod {name}"
        raise _bad_request(msg)
    previous = query.get("previous", "false").lower() in ("true", "1")
    path = log_dir / f"{container}{'.previous' if previous else ''}.log"
    if previous and not path.is_file():
        msg = f'previous terminated container "{container}" in pod "{name}" not found'
        raise _bad_request(msg)
    if not path.is_file():
        return b""  # the container exists but the bundle holds no output for it
    since: datetime | None = None
    if query.get("sinceSeconds") and query.get("sinceTime"):
        msg = "at most one of `sinceTime` or `sinceSeconds` may be specified"
        raise _invalid(msg)
    if query.get("sinceSeconds"):
        seconds = _int_param(query, "sinceSeconds")
        if seconds < 1:
            msg = "sinceSeconds: Invalid value: must be greater than 0"
            raise _invalid(msg)
        assert store.now is not None
        since = store.now - timedelta(seconds=seconds)
    elif query.get("sinceTime"):
        since = _parse_time(query["sinceTime"])
        if since is None:
            msg = f"sinceTime: Invalid value: {query['sinceTime']!r}: must be RFC 3339"
            raise _bad_request(msg)
    lines = path.read_bytes().splitlines(keepends=True)
    if query.get("tailLines"):
        tail = _int_param(query, "tailLines")
        if tail < 0:
            msg = "tailLines: Invalid value: must be greater than or equal to 0"
            raise _invalid(msg)
        lines = lines[len(lines) - tail :] if tail else []  # kubelet: tail first, then since
    timestamps = query.get("timestamps", "false").lower() in ("true", "1")
    out = []
    for raw in lines:
        match = _KUBELET_TS.match(raw.decode("utf-8", errors="replace")[:40])
        if since is not None and match is not None:
            when = _parse_time(match.group(1))
            if when is not None and when < since:
                continue
        out.append(raw if timestamps or match is None else raw[match.end() :])
    body = b"".join(out)
    if query.get("limitBytes"):
        limit = _int_param(query, "limitBytes")
        if limit < 1:
            msg = "limitBytes: Invalid value: must be greater than 0"
            raise _invalid(msg)
        body = body[:limit]
    return body


def _int_param(query: Mapping[str, str], key: str) -> int:
    try:
        return int(query[key])
    except ValueError as err:
        msg = f"{key}: Invalid value: {query[key]!r}: must be an integer"
        raise _bad_request(msg) from err


# --------------------------------------------------------------------------- discovery
def _discovery(path: str) -> dict[str, Any] | None:
    if path == "/version":
        return dict(SERVER_VERSION)
    if path == "/api":
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
        }
    batch = {
        "name": "batch",
        "versions": [{"groupVersion": "batch/v1", "version": "v1"}],
        "preferredVersion": {"groupVersion": "batch/v1", "version": "v1"},
    }
    if path == "/apis":
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [batch]}
    if path == "/apis/batch":
        return {"kind": "APIGroup", "apiVersion": "v1", **batch}
    for group_version in ("v1", "batch/v1"):
        prefix = "/api/v1" if group_version == "v1" else "/apis/batch/v1"
        if path == prefix:
            resources = []
            for (gv, _), res in RESOURCES.items():
                if gv != group_version:
                    continue
                entry: dict[str, Any] = {
                    "name": res.plural,
                    "singularName": res.singular,
                    "namespaced": res.namespaced,
                    "kind": res.kind,
                    "verbs": list(_READ_VERBS),
                }
                if res.short_names:
                    entry["shortNames"] = list(res.short_names)
                if res.categories:
                    entry["categories"] = list(res.categories)
                resources.append(entry)
                if res.plural == "pods":
                    resources.append(
                        {"name": "pods/log", "singularName": "", "namespaced": True, "kind": "Pod", "verbs": ["get"]}
                    )
            return {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": group_version,
                "resources": resources,
            }
    return None


# --------------------------------------------------------------------------- HTTP
@dataclass(slots=True)
class _Route:
    res: _Resource
    namespace: str | None
    name: str | None
    log: bool = False


def _route(path: str) -> _Route | None:
    """Map a resource path to (resource, namespace, name, is_log); None when nothing matches."""
    if path.startswith("/api/v1/"):
        group_version, rest = "v1", path[len("/api/v1/") :]
    elif path.startswith("/apis/batch/v1/"):
        group_version, rest = "batch/v1", path[len("/apis/batch/v1/") :]
    else:
        return None
    parts = [p for p in rest.split("/") if p]
    namespace: str | None = None
    if len(parts) >= 3 and parts[0] == "namespaces":
        namespace, parts = parts[1], parts[2:]
    res = RESOURCES.get((group_version, parts[0])) if parts else None
    if res is None or (namespace is not None and not res.namespaced):
        return None
    if len(parts) == 1:
        return _Route(res, namespace, None)
    if len(parts) == 2 and (namespace is not None or not res.namespaced):
        return _Route(res, namespace, parts[1])
    if len(parts) == 3 and parts[2] == "log" and res.plural == "pods" and namespace is not None:
        return _Route(res, namespace, parts[1], log=True)
    return None


def _wants_table(accept: str) -> str | None:
    """The Table apiVersion the client asks for first (``meta.k8s.io/v1``), or None."""
    for media in accept.split(","):
        params = dict(p.strip().partition("=")[::2] for p in media.split(";")[1:])
        if params.get("as") == "Table" and params.get("g") == "meta.k8s.io":
            return f"meta.k8s.io/{params.get('v', 'v1')}"
        if media.split(";")[0].strip() in ("application/json", "*/*") and "as" not in params:
            return None
    return None


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms delayed-ACK stall

    # ---- plumbing
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _send(self, code: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, code: int, obj: Any) -> None:
        self._send(code, json.dumps(obj, ensure_ascii=False).encode("utf-8"))

    def _drain_body(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if 0 < length <= 1 << 20:
            self.rfile.read(length)
        elif length or self.headers.get("Transfer-Encoding"):
            self.close_connection = True  # do not read an unbounded body; just hang up after answering

    # ---- verbs
    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        log.debug("GET %s %s (Accept: %s)", url.path, query, self.headers.get("Accept"))
        try:
            self._get(url.path.rstrip("/") or "/", query)
        except ApiError as err:
            self._json(err.code, err.status())
        except (BrokenPipeError, ConnectionResetError):
            log.debug("client hung up during %s", url.path)

    do_HEAD = do_GET

    def _refuse(self) -> None:
        self._drain_body()
        path = urlsplit(self.path).path
        route = _route(path)
        details: dict[str, Any] = {}
        if route is not None:
            details = {
                "kind": route.res.plural,
                **({"name": route.name} if route.name else {}),
                **({"group": route.res.group} if route.res.group else {}),
            }
        log.debug("%s %s refused: the bundle server is read-only", self.command, path)
        err = ApiError(
            405, "MethodNotAllowed", "the server does not allow this method on the requested resource", details
        )
        self._json(405, err.status())

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _refuse

    # ---- reads
    def _get(self, path: str, query: dict[str, str]) -> None:
        store = self.server.store
        if path in ("/healthz", "/livez", "/readyz"):
            self._send(200, b"ok", "text/plain; charset=utf-8")
            return
        doc = _discovery(path)
        if doc is not None:
            self._json(200, doc)
            return
        route = _route(path)
        if route is None:
            self._send(404, b"404 page not found\n", "text/plain; charset=utf-8")
            return
        if route.log:
            assert route.namespace is not None
            assert route.name is not None
            self._send(200, _read_log(store, route.namespace, route.name, query), "text/plain")
            return
        table = _wants_table(self.headers.get("Accept", ""))
        if route.name is not None:
            obj = store.find(route.res, route.namespace, route.name)
            if query.get("watch") in ("true", "1"):
                self._watch([obj], query)
                return
            self._json(200, self._table([obj], route.res, table, query) if table else obj)
            return
        items = store.select(route.res, route.namespace, query)
        if query.get("watch") in ("true", "1"):
            self._watch(items, query)
            return
        items, token = _page(items, query)
        if table:
            doc = self._table(items, route.res, table, query)
        else:
            # a real API server omits kind/apiVersion on list items (kubectl adds them back)
            doc = {
                "kind": f"{route.res.kind}List",
                "apiVersion": route.res.api_version,
                "metadata": {"resourceVersion": store.resource_version},
                "items": [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")} for o in items],
            }
        if token:
            doc["metadata"]["continue"] = token
            doc["metadata"]["remainingItemCount"] = int(json.loads(base64.b64decode(token))["remaining"])
        self._json(200, doc)

    def _table(
        self, items: list[dict[str, Any]], res: _Resource, api_version: str, query: Mapping[str, str]
    ) -> dict[str, Any]:
        columns, row_of = TABLES[res.plural]
        store = self.server.store
        assert store.now is not None
        include = query.get("includeObject", "Metadata")
        rows = []
        for obj in items:
            row: dict[str, Any] = {"cells": row_of(obj, store.now)}
            if include == "Object":
                row["object"] = obj
            elif include != "None":
                row["object"] = {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": obj.get("metadata") or {},
                }
            rows.append(row)
        return {
            "kind": "Table",
            "apiVersion": api_version,
            "metadata": {"resourceVersion": store.resource_version},
            "columnDefinitions": columns,
            "rows": rows,
        }

    def _watch(self, items: list[dict[str, Any]], query: Mapping[str, str]) -> None:
        """Stream the objects as ``ADDED`` events, then hold the stream open (nothing changes)."""
        store = self.server.store
        rv = query.get("resourceVersion", "")
        fresh = rv in ("", "0") or not rv.isdigit() or int(rv) < int(store.resource_version)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()

        def chunk(data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        try:
            for obj in items if fresh else []:
                chunk(json.dumps({"type": "ADDED", "object": obj}, ensure_ascii=False).encode("utf-8") + b"\n")
            timeout = _int_param(query, "timeoutSeconds") if query.get("timeoutSeconds") else MAX_WATCH_SECONDS
            self.server.stopping.wait(max(0, min(timeout, MAX_WATCH_SECONDS)))
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            log.debug("watch client hung up")
        self.close_connection = True


def _page(items: list[dict[str, Any]], query: Mapping[str, str]) -> tuple[list[dict[str, Any]], str | None]:
    """Apply ``limit`` / ``continue`` (the token is the offset, base64 JSON as real tokens look)."""
    start = 0
    if query.get("continue"):
        try:
            start = int(json.loads(base64.b64decode(query["continue"]))["start"])
        except (ValueError, KeyError, TypeError, binascii.Error) as err:
            msg = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter."
            raise ApiError(410, "Expired", msg) from err
    limit = _int_param(query, "limit") if query.get("limit") else 0
    if limit <= 0:
        return items[start:], None
    end = start + limit
    if end >= len(items):
        return items[start:], None
    token = base64.b64encode(json.dumps({"start": end, "remaining": len(items) - end}).encode()).decode()
    return items[start:end], token


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    store: _Store
    stopping: threading.Event


class _HTTPServer6(_HTTPServer):
    address_family = socket.AF_INET6


class BundleServer:
    """A read-only Kubernetes API over one bundle, on loopback, in a background thread.

    Parameters
    ----------
    bundle
        A :class:`~panda_analysis.bundle.Bundle`, a bundle directory or ``.tar.gz``, or
        ``sample:<name>``.
    host
        Loopback address to listen on (``127.0.0.1`` or ``::1``); other addresses are
        refused, the evidence must not leave the machine.
    port
        TCP port; ``0`` picks a free one (see :attr:`url`).

    Examples
    --------
    >>> import json, pathlib, tempfile, urllib.request
    >>> with BundleServer("sample:healthy") as server:
    ...     kubeconfig = server.write_kubeconfig(pathlib.Path(tempfile.mkdtemp()) / "kubeconfig")
    ...     with urllib.request.urlopen(server.url + "/apis/batch/v1/namespaces/panda/jobs") as resp:
    ...         jobs = json.load(resp)
    >>> [job["metadata"]["name"] for job in jobs["items"]]
    ['grpc-job-20-1']
    >>> "server: http://127.0.0.1:" in kubeconfig.read_text()
    True
    """

    def __init__(self, bundle: Bundle | str | os.PathLike[str], *, host: str = "127.0.0.1", port: int = 0):
        if host not in ("127.0.0.1", "::1", "localhost"):
            msg = f"serve-bundle listens on loopback only (127.0.0.1 or ::1), not {host!r}"
            raise ValueError(msg)
        self.bundle = load_bundle(bundle)
        self._store = _Store(self.bundle)
        self._httpd = (_HTTPServer6 if ":" in host else _HTTPServer)((host, port), _Handler)
        self._httpd.store = self._store
        self._httpd.stopping = threading.Event()
        self._thread: threading.Thread | None = None
        bound_host, bound_port = self._httpd.server_address[:2]
        bound = bound_host.decode() if isinstance(bound_host, bytes) else str(bound_host)
        shown = f"[{bound}]" if ":" in bound else bound
        #: Base URL of the API (``http://127.0.0.1:PORT``).
        self.url = f"http://{shown}:{bound_port}"
        self.port = int(bound_port)

    @property
    def now(self) -> datetime:
        """The server's clock: the bundle's ``created_at`` (UTC)."""
        assert self._store.now is not None
        return self._store.now

    def start(self) -> BundleServer:
        """Serve in a daemon thread (idempotent); returns ``self``."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.1},
                name=f"serve-bundle:{self.port}",
                daemon=True,
            )
            self._thread.start()
            log.debug("serving %s at %s", self.bundle.origin, self.url)
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`close` is called from another thread (or Ctrl-C)."""
        self._httpd.serve_forever()

    def close(self) -> None:
        """Stop serving, end held watches, and release the port."""
        self._httpd.stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> BundleServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write_kubeconfig(self, path: str | os.PathLike[str], *, context: str = "panda-bundle") -> Path:
        """Write a kubeconfig pointing at this server (no credentials) and return its path.

        The context's default namespace is the first of the manifest's ``namespaces``.
        """
        namespaces = [str(n) for n in self.bundle.manifest.get("namespaces") or []]
        q = json.dumps  # JSON strings are valid YAML double-quoted scalars
        lines = [
            "apiVersion: v1",
            "kind: Config",
            "preferences: {}",
            "clusters:",
            f"- name: {q(context)}",
            "  cluster:",
            f"    server: {self.url}",
            "contexts:",
            f"- name: {q(context)}",
            "  context:",
            f"    cluster: {q(context)}",
            f"    user: {q(context)}",
            *([f"    namespace: {q(namespaces[0])}"] if namespaces else []),
            f"current-context: {q(context)}",
            "users:",
            f"- name: {q(context)}",
            "  user: {}",
        ]
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return target


# --------------------------------------------------------------------------- CLI
def add_parser(subparsers: Any) -> None:
    """Add ``serve-bundle BUNDLE [--port N] [--kubeconfig PATH]`` to the CLI's subparsers."""
    cmd = subparsers.add_parser(
        "serve-bundle",
        help="serve a bundle as a read-only Kubernetes API on loopback (kubectl works offline)",
        description="Serve BUNDLE as a read-only Kubernetes API on 127.0.0.1 and write a kubeconfig for it, "
        "so `kubectl get pods`, `kubectl logs --previous` and the kubernetes client read the saved evidence. "
        "The server's clock is the bundle's created_at. Stop with Ctrl-C.",
    )
    cmd.add_argument("bundle", metavar="BUNDLE", help="bundle directory, .tar.gz, or sample:<name>")
    cmd.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (default: a free port)")
    cmd.add_argument(
        "--kubeconfig", metavar="PATH", help="where to write the kubeconfig (default: a new temporary file)"
    )
    cmd.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Run ``serve-bundle``: serve until interrupted; prints the kubeconfig path and how to use it."""
    server = BundleServer(args.bundle, port=args.port)
    path = (
        Path(args.kubeconfig) if args.kubeconfig else Path(tempfile.mkdtemp(prefix="panda-bundle-kube-")) / "kubeconfig"
    )
    server.write_kubeconfig(path)
    created = server.bundle.manifest.get("created_at", "unknown")
    print(f"serving {server.bundle.origin} (created_at {created}) read-only at {server.url}", file=sys.stdout)
    print(f"kubeconfig: {path}", file=sys.stdout)
    print(f"  export KUBECONFIG={path}\n  kubectl get pods -A\nPress Ctrl-C to stop.", file=sys.stdout, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0
