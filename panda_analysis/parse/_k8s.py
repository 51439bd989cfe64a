"""Kubernetes evidence: API objects as JSON and pasted ``kubectl get pods`` text.

JSON files (``k8s/pods.json``, ``events.json``, ``jobs.json``, ``services.json``,
``endpoints.json``) are accepted as kubectl prints them (``"kind": "List"``), as the API
returns them (``PodList``, ``EventList``, ...), as a single object, or as a bare JSON
array of objects. One row per object; ``line_no`` is null and ``source`` is a JSON pointer
to the object (``k8s/pods.json#/items/3``). A malformed file is counted as one unparsed
entry naming the line and column of the JSON error; items that are not objects, lack
``metadata.name`` or are of another kind are counted too, never dropped silently.

``kubectl get pods`` text is read by the header's column positions (kubectl aligns its
columns with a tab writer), with a whitespace-split fallback for re-flowed pastes.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from typing import Any, TextIO

import pandas as pd

from panda_analysis import schema
from panda_analysis._lines import LogFile, Unparsed, resolve_sources
from panda_analysis._time import to_utc
from panda_analysis.bundle import Bundle, is_bundle
from panda_analysis.parse._common import (
    as_bool,
    as_dict,
    as_text,
    conform,
    iso_timestamp,
    job_id_from_name,
    json_snippet,
)

__all__ = ["endpoints", "events", "jobs", "pods", "pods_text", "restarts", "services"]

Row = dict[str, Any]

# --------------------------------------------------------------------------- value helpers
# JSON from a cluster (or a hand-edited file) may hold anything anywhere: every accessor
# (these and ``as_dict``, ``as_text``, ``as_bool``, ``iso_timestamp`` of ``_common``)
# checks the type and answers None rather than raising.


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _first(*values: pd.Timestamp | None) -> pd.Timestamp | None:
    return next((v for v in values if v is not None), None)


def _sorted_json(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (RecursionError, TypeError):  # TypeError: keys of mixed types cannot be sorted
        return json_snippet(value)


# --------------------------------------------------------------------------- JSON lists


def _objects(file: LogFile, kinds: tuple[str, ...], unparsed: Unparsed) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``(pointer, object)`` for every usable object of ``kinds`` in ``file``.

    ``pointer`` is the JSON pointer of the object within the file ('' for the root).
    """
    text = file.read_text(unparsed).lstrip("\ufeff")
    if not text.strip():
        return
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        unparsed.add(file.name, err.lineno, f"malformed JSON at line {err.lineno} column {err.colno}: {err.msg}")
        return
    except RecursionError:
        unparsed.add(file.name, None, "JSON nested too deeply to read")
        return
    if isinstance(document, dict) and "items" in document:
        items = document["items"]
        if items is None:  # some tools print `"items": null` for an empty list
            return
        if not isinstance(items, list):
            unparsed.add(f"{file.name}#/items", None, f"items is not a list: {json_snippet(items)}")
            return
        candidates: list[tuple[str, Any]] = [(f"/items/{i}", item) for i, item in enumerate(items)]
    elif isinstance(document, list):
        candidates = [(f"/{i}", item) for i, item in enumerate(document)]
    elif isinstance(document, dict):
        candidates = [("", document)]
    else:
        unparsed.add(file.name, None, f"not a Kubernetes object or list: {json_snippet(document)}")
        return
    for pointer, item in candidates:
        where = f"{file.name}#{pointer}"
        if not isinstance(item, dict):
            unparsed.add(where, None, f"item is not an object: {json_snippet(item)}")
            continue
        kind = item.get("kind")
        # items of an API list (PodList, ...) carry no kind; kubectl's List items do
        if kind is not None and kind not in kinds:
            unparsed.add(where, None, f"kind {kind!r} is not {' or '.join(kinds)}")
            continue
        if as_text(as_dict(item.get("metadata")).get("name")) is None:
            unparsed.add(where, None, f"object has no metadata.name: {json_snippet(item)}")
            continue
        yield pointer, item


def _conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for condition in _list(status.get("conditions")):
        if isinstance(condition, dict) and isinstance(condition.get("type"), str):
            out[condition["type"]] = condition
    return out


def _true_since(conditions: dict[str, dict[str, Any]], kind: str) -> pd.Timestamp | None:
    condition = conditions.get(kind, {})
    if condition.get("status") != "True":
        return None
    return iso_timestamp(condition.get("lastTransitionTime"))


def _pod_rows(name: str, pointer: str, obj: dict[str, Any], unparsed_restarts: Unparsed) -> tuple[Row, list[Row]]:
    meta = as_dict(obj.get("metadata"))
    spec = as_dict(obj.get("spec"))
    status = as_dict(obj.get("status"))
    labels = as_dict(meta.get("labels"))
    pod = as_text(meta.get("name"))
    namespace = as_text(meta.get("namespace"))
    created = iso_timestamp(meta.get("creationTimestamp"))
    owners = [o for o in _list(meta.get("ownerReferences")) if isinstance(o, dict)]
    owner = owners[0] if owners else {}
    job_owner = next((o for o in owners if o.get("kind") == "Job"), {})
    job_name = (
        as_text(labels.get("job-name"))
        or as_text(labels.get("batch.kubernetes.io/job-name"))
        or as_text(job_owner.get("name"))
    )
    conditions = _conditions(status)
    statuses = _list(status.get("containerStatuses"))
    good = [s for s in statuses if isinstance(s, dict)]
    containers = spec.get("containers")
    pod_row: Row = {
        "ts": _first(created, iso_timestamp(status.get("startTime"))),
        "source": f"{name}#{pointer}",
        "namespace": namespace,
        "pod": pod,
        "phase": as_text(status.get("phase")),
        "status_reason": as_text(status.get("reason")),
        "node": as_text(spec.get("nodeName")),
        "pod_ip": as_text(status.get("podIP")),
        "app": as_text(labels.get("app.kubernetes.io/name")) or as_text(labels.get("app")),
        "job_name": job_name,
        "job_id": as_text(labels.get("job_id")) or job_id_from_name(job_name) or job_id_from_name(pod),
        "owner_kind": as_text(owner.get("kind")),
        "owner_name": as_text(owner.get("name")),
        "labels": _sorted_json(meta.get("labels")),
        "container_count": len(containers) if isinstance(containers, list) else len(good),
        "ready_count": sum(1 for s in good if s.get("ready") is True),
        "restart_count": sum(_int(s.get("restartCount")) or 0 for s in good),
        "is_ready": conditions.get("Ready", {}).get("status") == "True",
        "started_at": iso_timestamp(status.get("startTime")),
        "scheduled_at": _true_since(conditions, "PodScheduled"),
        "initialized_at": _true_since(conditions, "Initialized"),
        "containers_ready_at": _true_since(conditions, "ContainersReady"),
        "ready_at": _true_since(conditions, "Ready"),
        "deleted_at": iso_timestamp(meta.get("deletionTimestamp")),
    }
    rows: list[Row] = []
    for field_name, is_init in (("initContainerStatuses", True), ("containerStatuses", False)):
        for j, cs in enumerate(_list(status.get(field_name))):
            where = f"{name}#{pointer}/status/{field_name}/{j}"
            if not isinstance(cs, dict) or as_text(cs.get("name")) is None:
                unparsed_restarts.add(where, None, f"container status without a name: {json_snippet(cs)}")
                continue
            rows.append(_restart_row(where, cs, is_init=is_init, namespace=namespace, pod=pod, created=created))
    return pod_row, rows


def _restart_row(
    where: str,
    cs: dict[str, Any],
    *,
    is_init: bool,
    namespace: str | None,
    pod: str | None,
    created: pd.Timestamp | None,
) -> Row:
    state = as_dict(cs.get("state"))
    current = next((k for k in ("running", "waiting", "terminated") if isinstance(state.get(k), dict)), None)
    running = as_dict(state.get("running"))
    waiting = as_dict(state.get("waiting"))
    terminated = as_dict(state.get("terminated"))
    # the last termination is lastState.terminated; a container that is terminated right now
    # (a finished init container, a failed Job pod) has its termination in state instead
    last = as_dict(as_dict(cs.get("lastState")).get("terminated")) or terminated
    started_at = iso_timestamp(running.get("startedAt")) or iso_timestamp(terminated.get("startedAt"))
    last_finished_at = iso_timestamp(last.get("finishedAt"))
    return {
        "ts": _first(last_finished_at, started_at, created),
        "source": where,
        "namespace": namespace,
        "pod": pod,
        "container": as_text(cs.get("name")),
        "is_init": is_init,
        "image": as_text(cs.get("image")),
        "restart_count": _int(cs.get("restartCount")),
        "is_ready": as_bool(cs.get("ready")),
        "state": current,
        "started_at": started_at,
        "waiting_reason": as_text(waiting.get("reason")),
        "waiting_message": as_text(waiting.get("message")),
        "last_reason": as_text(last.get("reason")),
        "last_exit_code": _int(last.get("exitCode")),
        "last_signal": _int(last.get("signal")),
        "last_message": as_text(last.get("message")),
        "last_started_at": iso_timestamp(last.get("startedAt")),
        "last_finished_at": last_finished_at,
    }


_FIELD_PATH = re.compile(r"spec\.(?:initContainers|containers|ephemeralContainers)\{([^}]*)\}")


def _event_row(name: str, pointer: str, obj: dict[str, Any]) -> Row:
    # core/v1 Event, and the events.k8s.io/v1 shape (regarding, note, deprecated*)
    meta = as_dict(obj.get("metadata"))
    involved = as_dict(obj.get("involvedObject")) or as_dict(obj.get("regarding"))
    series = as_dict(obj.get("series"))
    source = as_dict(obj.get("source")) or as_dict(obj.get("deprecatedSource"))
    event_time = iso_timestamp(obj.get("eventTime"))
    first_ts = _first(iso_timestamp(obj.get("firstTimestamp")), iso_timestamp(obj.get("deprecatedFirstTimestamp")), event_time)
    last_ts = _first(
        iso_timestamp(obj.get("lastTimestamp")),
        iso_timestamp(obj.get("deprecatedLastTimestamp")),
        iso_timestamp(series.get("lastObservedTime")),
        event_time,
    )
    kind = as_text(involved.get("kind"))
    object_name = as_text(involved.get("name"))
    field_path = involved.get("fieldPath")
    match = _FIELD_PATH.search(field_path) if isinstance(field_path, str) else None
    count = _int(obj.get("count")) or _int(series.get("count")) or _int(obj.get("deprecatedCount"))
    return {
        "ts": _first(last_ts, first_ts, iso_timestamp(meta.get("creationTimestamp"))),
        "source": f"{name}#{pointer}",
        "namespace": as_text(meta.get("namespace")) or as_text(involved.get("namespace")),
        "object_kind": kind,
        "object_name": object_name,
        "pod": object_name if kind == "Pod" else None,
        "container": match.group(1) if match else None,
        "type": as_text(obj.get("type")),
        "reason": as_text(obj.get("reason")),
        "message": as_text(obj.get("message")) or as_text(obj.get("note")),
        "count": count if count is not None else 1,  # an event object was seen at least once
        "first_ts": first_ts,
        "last_ts": last_ts,
        "reporting_component": as_text(obj.get("reportingComponent"))
        or as_text(obj.get("reportingController"))
        or as_text(source.get("component")),
        "host": as_text(source.get("host")) or as_text(obj.get("reportingInstance")),
    }


def _job_row(name: str, pointer: str, obj: dict[str, Any]) -> Row:
    meta = as_dict(obj.get("metadata"))
    spec = as_dict(obj.get("spec"))
    status = as_dict(obj.get("status"))
    labels = as_dict(meta.get("labels"))
    job_name = as_text(meta.get("name"))
    true_conditions = [c for c in _list(status.get("conditions")) if isinstance(c, dict) and c.get("status") == "True"]
    last = true_conditions[-1] if true_conditions else {}
    started = iso_timestamp(status.get("startTime"))
    return {
        "ts": _first(iso_timestamp(meta.get("creationTimestamp")), started),
        "source": f"{name}#{pointer}",
        "namespace": as_text(meta.get("namespace")),
        "job_name": job_name,
        "job_id": as_text(labels.get("job_id")) or job_id_from_name(job_name),
        "labels": _sorted_json(meta.get("labels")),
        "active": _int(status.get("active")),
        "succeeded": _int(status.get("succeeded")),
        "failed": _int(status.get("failed")),
        "backoff_limit": _int(spec.get("backoffLimit")),
        "started_at": started,
        "completed_at": iso_timestamp(status.get("completionTime")),
        "condition": as_text(last.get("type")),
        "condition_reason": as_text(last.get("reason")),
        "condition_message": as_text(last.get("message")),
    }


def _ports(ports: Any) -> str | None:
    out: list[str] = []
    for port in _list(ports):
        if not isinstance(port, dict) or _int(port.get("port")) is None:
            continue
        text = f"{port['port']}/{as_text(port.get('protocol')) or 'TCP'}"
        port_name = as_text(port.get("name"))
        text = f"{port_name}:{text}" if port_name else text
        if text not in out:
            out.append(text)
    return ", ".join(out) if out else None


def _service_row(name: str, pointer: str, obj: dict[str, Any]) -> Row:
    meta = as_dict(obj.get("metadata"))
    spec = as_dict(obj.get("spec"))
    return {
        "ts": iso_timestamp(meta.get("creationTimestamp")),
        "source": f"{name}#{pointer}",
        "namespace": as_text(meta.get("namespace")),
        "service": as_text(meta.get("name")),
        "type": as_text(spec.get("type")) or "ClusterIP",
        "cluster_ip": as_text(spec.get("clusterIP")),
        "ports": _ports(spec.get("ports")),
        "selector": _sorted_json(spec.get("selector")),
    }


def _endpoints_row(name: str, pointer: str, obj: dict[str, Any]) -> Row:
    meta = as_dict(obj.get("metadata"))
    annotations = as_dict(meta.get("annotations"))
    ready: list[str] = []
    not_ready = 0
    ports: list[Any] = []
    for subset in _list(obj.get("subsets")):
        subset = as_dict(subset)
        for address in _list(subset.get("addresses")):
            ip = as_text(as_dict(address).get("ip"))
            if ip is not None:
                ready.append(ip)
        not_ready += sum(1 for a in _list(subset.get("notReadyAddresses")) if isinstance(a, dict))
        ports.extend(_list(subset.get("ports")))
    return {
        "ts": _first(
            iso_timestamp(annotations.get("endpoints.kubernetes.io/last-change-trigger-time")),
            iso_timestamp(meta.get("creationTimestamp")),
        ),
        "source": f"{name}#{pointer}",
        "namespace": as_text(meta.get("namespace")),
        "service": as_text(meta.get("name")),
        "ready_count": len(ready),
        "not_ready_count": not_ready,
        "addresses": ", ".join(ready) if ready else None,
        "ports": _ports(ports),
    }


def _list_frame(
    files: list[LogFile],
    kinds: tuple[str, ...],
    build: Callable[[str, str, dict[str, Any]], Row],
    frame: schema.FrameSchema,
) -> pd.DataFrame:
    unparsed = Unparsed()
    rows = [build(f.name, pointer, obj) for f in files for pointer, obj in _objects(f, kinds, unparsed)]
    return conform(frame, rows, unparsed)


def _pods_and_restarts(files: list[LogFile]) -> dict[str, pd.DataFrame]:
    unparsed_pods = Unparsed()
    unparsed_restarts = Unparsed()
    pod_rows: list[Row] = []
    restart_rows: list[Row] = []
    for file in files:
        file_unparsed = Unparsed()
        for pointer, obj in _objects(file, ("Pod",), file_unparsed):
            pod_row, rows = _pod_rows(file.name, pointer, obj, unparsed_restarts)
            pod_rows.append(pod_row)
            restart_rows.extend(rows)
        # a broken file or item is lost for both frames
        unparsed_pods.merge(file_unparsed)
        unparsed_restarts.merge(file_unparsed)
    return {
        "pods": conform(schema.PODS, pod_rows, unparsed_pods),
        "restarts": conform(schema.RESTARTS, restart_rows, unparsed_restarts),
    }


# --------------------------------------------------------------------------- kubectl get pods text

_HEADER_WORDS = re.compile(r"NOMINATED NODE|READINESS GATES|\S+")
_COMMAND = re.compile(r"^(?:\S*[$#>%]\s*)?(?:sudo\s+)?(?:kubectl|k|oc|k3s\s+kubectl|microk8s\s+kubectl)\s+get\b")
_NO_RESOURCES = re.compile(r"^No resources found\b")
_READY = re.compile(r"^(\d+)/(\d+)$")
_RESTARTS = re.compile(r"^(\d+)(?:\s+\((\S+) ago\))?$")
_HUMAN_DURATION = re.compile(r"^(?:(\d+)y)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_TOKENS = re.compile(
    r"^(?:(?P<NAMESPACE>\S+)\s+)??(?P<NAME>\S+)\s+(?P<READY>\d+/\d+)\s+(?P<STATUS>\S+)\s+"
    r"(?P<RESTARTS>\d+(?:\s+\(\S+ ago\))?)\s+(?P<AGE>\S+)"
    r"(?:\s+(?P<IP>\S+)\s+(?P<NODE>\S+)(?:\s+(?P<NOMINATED>\S+)(?:\s+(?P<GATES>\S+))?)?)?$"
)


def _human_seconds(text: str) -> float | None:
    """Seconds of a kubectl human duration (``46h``, ``2d5h``, ``3m20s``, ``1y30d``)."""
    match = _HUMAN_DURATION.match(text)
    if not text or match is None:
        return None
    years, days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return float((((years * 365 + days) * 24 + hours) * 60 + minutes) * 60 + seconds)


def _header(text: str) -> list[tuple[str, int]] | None:
    words = [(m.group(), m.start()) for m in _HEADER_WORDS.finditer(text)]
    names = [w for w, _ in words]
    if names[:1] in (["NAME"], ["NAMESPACE"]) and "READY" in names and "STATUS" in names:
        return words
    return None


def _positional(text: str, header: list[tuple[str, int]]) -> dict[str, str] | None:
    """Cut a line at the header's column starts; None when the line does not align."""
    values: dict[str, str] = {}
    for i, (name, start) in enumerate(header):
        if start >= len(text):
            break
        if i > 0 and text[start - 1] != " ":
            return None
        if text[start] == " ":
            return None
        end = header[i + 1][1] if i + 1 < len(header) else len(text)
        values[name] = text[start:end].strip()
    return values


def _by_tokens(text: str) -> dict[str, str] | None:
    match = _TOKENS.match(text.strip())
    if match is None:
        return None
    values = {k: v for k, v in match.groupdict().items() if v is not None}
    if "NOMINATED" in values:
        values["NOMINATED NODE"] = values.pop("NOMINATED")
    if "GATES" in values:
        values["READINESS GATES"] = values.pop("GATES")
    return values


def _pods_text_row(values: dict[str, str], observed: pd.Timestamp | None) -> Row | None:
    """A row from column values, or None when the values are not a pod line."""
    name = values.get("NAME", "")
    ready = _READY.match(values.get("READY", ""))
    restarts = _RESTARTS.match(re.sub(r"\s+", " ", values.get("RESTARTS", "")))
    age_text = values.get("AGE", "")
    age = _human_seconds(age_text)
    if not name or " " in name or ready is None or restarts is None or not values.get("STATUS"):
        return None
    if age is None and age_text not in {"<invalid>", "<unknown>"}:
        return None
    if " " in values.get("STATUS", "") or " " in values.get("NAMESPACE", ""):
        return None
    ago = _human_seconds(restarts.group(2)) if restarts.group(2) else None
    ip = values.get("IP")
    node = values.get("NODE")
    return {
        "ts": observed,
        "namespace": values.get("NAMESPACE") or None,
        "pod": name,
        "ready": values["READY"],
        "ready_count": int(ready.group(1)),
        "container_count": int(ready.group(2)),
        "status": values["STATUS"],
        "restart_count": int(restarts.group(1)),
        "last_restart_ago_s": ago,
        "last_restart_at": observed - pd.Timedelta(seconds=ago) if observed is not None and ago is not None else None,
        "age_s": age,
        "node": node if node and node != "<none>" else None,
        "pod_ip": ip if ip and ip != "<none>" else None,
    }


def _pods_text_frame(files: list[LogFile], observed: pd.Timestamp | None) -> pd.DataFrame:
    unparsed = Unparsed()
    rows: list[Row] = []
    for file in files:
        header: list[tuple[str, int]] | None = None
        for line in file.lines(unparsed, kubelet=False):
            text = line.text.replace("\t", " ").rstrip()
            if not text.strip():
                continue
            new_header = _header(text)
            if new_header is not None:
                header = new_header
                continue
            values = _positional(text, header) if header is not None else None
            row = _pods_text_row(values, observed) if values is not None else None
            if row is None:
                values = _by_tokens(text)
                row = _pods_text_row(values, observed) if values is not None else None
            if row is None:
                stripped = text.strip()
                if not (_COMMAND.match(stripped) or _NO_RESOURCES.match(stripped)):
                    unparsed.add(file.name, line.line_no, text)
                continue
            row["source"] = file.name
            row["line_no"] = line.line_no
            rows.append(row)
    return conform(schema.PODS_TEXT, rows, unparsed)


def _observed_at(now: pd.Timestamp | str | None) -> pd.Timestamp | None:
    if now is None:
        return None
    try:
        if isinstance(now, str):
            return to_utc(pd.to_datetime(now, utc=True, format="ISO8601"))
        return to_utc(now)
    except (ValueError, TypeError) as err:
        msg = f"now={now!r} is not a time; pass an ISO-8601 UTC string like '2025-11-08T13:25:00Z'"
        raise ValueError(msg) from err


# --------------------------------------------------------------------------- frames

_GROUPS: dict[str, tuple[str, ...]] = {
    "pods": ("pods", "restarts"),
    "restarts": ("pods", "restarts"),
    "events": ("events",),
    "jobs": ("jobs",),
    "services": ("services",),
    "endpoints": ("endpoints",),
    "pods_text": ("pods_text",),
}
_LISTS: dict[str, tuple[tuple[str, ...], Callable[[str, str, dict[str, Any]], Row], schema.FrameSchema]] = {
    "events": (("Event",), _event_row, schema.EVENTS),
    "jobs": (("Job",), _job_row, schema.JOBS),
    "services": (("Service",), _service_row, schema.SERVICES),
    "endpoints": (("Endpoints",), _endpoints_row, schema.ENDPOINTS),
}


def _frames(
    source: Bundle | str | os.PathLike[str] | TextIO,
    *,
    only: str | None = None,
    now: pd.Timestamp | str | None = None,
) -> dict[str, pd.DataFrame]:
    """Every frame of this module from ``source`` (only the group of ``only`` when given).

    A path or stream is one file, so the public functions pass ``only`` to read it as
    their own kind; a Bundle is read part by part, each file once.
    """
    wanted = list(_GROUPS) if only is None else list(_GROUPS[only])
    out: dict[str, pd.DataFrame] = {}
    if "pods" in wanted:
        out.update(_pods_and_restarts(resolve_sources(source, "pods")))
    for name, (kinds, build, frame) in _LISTS.items():
        if name in wanted:
            out[name] = _list_frame(resolve_sources(source, name), kinds, build, frame)
    if "pods_text" in wanted:
        observed = _observed_at(now)
        if observed is None and is_bundle(source):
            observed = source.created_at
        out["pods_text"] = _pods_text_frame(resolve_sources(source, "pods_text"), observed)
    return out


@schema.documented(schema.PODS)
def pods(source: Bundle | str | os.PathLike[str] | TextIO) -> pd.DataFrame:
    """Pods of a PodList (``kubectl get pods -A -o json``): one row per pod.

    ``ts`` is the pod's ``creationTimestamp``; the ``*_at`` columns are the times the
    pod's conditions became True. ``job_id`` comes from the ``job_id`` label, else from
    the Job name (``job-name`` label or owner) or the pod name ``grpc-job-<job_id>-<x>``.

    Parameters
    ----------
    source
        A Bundle (its ``k8s/pods.json``), a path, or an open text stream.

    Returns
    -------
    pandas.DataFrame
        Conformed to ``schema.PODS``; ``attrs["unparsed"]`` counts unreadable files/items.

    Examples
    --------
    >>> import io, json
    >>> pod = {"apiVersion": "v1", "kind": "Pod",
    ...        "metadata": {"name": "grpc-job-19-5-cj8hc", "namespace": "panda"},
    ...        "status": {"phase": "Running"}}
    >>> df = pods(io.StringIO(json.dumps({"apiVersion": "v1", "kind": "List", "items": [pod]})))
    >>> df.loc[0, ["pod", "job_id", "phase"]].tolist()
    ['grpc-job-19-5-cj8hc', '19-5', 'Running']
    >>> df.loc[0, "source"]
    '<stream>#/items/0'
    """
    return _frames(source, only="pods")["pods"]


@schema.documented(schema.RESTARTS)
def restarts(source: Bundle | str | os.PathLike[str] | TextIO) -> pd.DataFrame:
    """Restart history per container from pod status: one row per container status.

    Init containers are included (``is_init``). The ``last_*`` columns describe the last
    termination (``lastState.terminated``, or the current state when the container is
    terminated now). ``ts`` is the last termination's ``finishedAt``, else the current
    ``startedAt``, else the pod's ``creationTimestamp``. ``source`` points at the status,
    e.g. ``k8s/pods.json#/items/3/status/containerStatuses/0``.

    Parameters
    ----------
    source
        A Bundle (its ``k8s/pods.json``), a path, or an open text stream.

    Returns
    -------
    pandas.DataFrame
        Conformed to ``schema.RESTARTS``.
    """
    return _frames(source, only="restarts")["restarts"]


@schema.documented(schema.EVENTS)
def events(source: Bundle | str | os.PathLike[str] | TextIO) -> pd.DataFrame:
    """Kubernetes events (core/v1 ``EventList``, or the events.k8s.io/v1 shape): one row per event.

    ``ts`` is ``lastTimestamp``, else ``series.lastObservedTime``, else ``eventTime``
    (events written by the scheduler carry only that), else ``firstTimestamp``, else
    ``metadata.creationTimestamp``.

    Parameters
    ----------
    source
        A Bundle (its ``k8s/events.json``), a path, or an open text stream.

    Returns
    -------
    pandas.DataFrame
        Conformed to ``schema.EVENTS``.
    """
    return _frames(source, only="events")["events"]


@schema.documented(schema.JOBS)
def jobs(source: Bundle | str | os.PathLike[str] | TextIO) -> pd.DataFrame:
    """Kubernetes Jobs (batch/v1 ``JobList``): one row per Job; ``ts`` is its creation time.

    Parameters
    ----------
    source
        A Bundle (its ``k8s/jobs.json``), a path, or an open text stream.

    Returns
    -------
    pandas.DataFrame
        Conformed to ``schema.JOBS``.
    """
    return _frames(source, only="jobs")["jobs"]


@schema.documented(schema.SERVICES)
def services(source: Bundle | str | os.PathLike[str] | TextIO) -> pd.DataFrame:
    """Services (v1 ``ServiceList``): one row per Service; ``ts`` is its creation time.

    Parameters
    ----------
    source
        A Bundle (its ``k8s/services.json``), a path, or an open text stream.

    Returns
    -------
    pandas.DataFrame
        Conformed to ``schema.SERVICES``.
    """
    return _frames(source, only="services")["services"]


@schema.documented(schema.ENDPOINTS)
def endpoints(source: Bundle | str | os.PathLike[str] | TextIO) -> pd.DataFrame:
    """Endpoints (v1 ``EndpointsList``): one row per Endpoints object.

    ``ts`` is the ``endpoints.kubernetes.io/last-change-trigger-time`` annotation, else
    the creation time. A service whose pods are not ready shows ``ready_count == 0``.

    Parameters
    ----------
    source
        A Bundle (its ``k8s/endpoints.json``), a path, or an open text stream.

    Returns
    -------
    pandas.DataFrame
        Conformed to ``schema.ENDPOINTS``.
    """
    return _frames(source, only="endpoints")["endpoints"]


@schema.documented(schema.PODS_TEXT)
def pods_text(
    source: Bundle | str | os.PathLike[str] | TextIO, *, now: pd.Timestamp | str | None = None
) -> pd.DataFrame:
    """Pasted ``kubectl get pods`` text (also ``-A`` and ``-o wide``): one row per pod line.

    A shell command line (``$ kubectl get pods -n panda``), ``No resources found ...``
    and blank lines are skipped; other lines that are not pod rows are counted as
    unparsed.

    Parameters
    ----------
    source
        A Bundle (its ``k8s/pods*.txt``), a path, or ``io.StringIO(text)``.
    now
        When the text was printed (ISO-8601 string or Timestamp); the default for a Bundle
        is its manifest's ``created_at``. Gives ``ts`` and ``last_restart_at``.

    Returns
    -------
    pandas.DataFrame
        Conformed to ``schema.PODS_TEXT``.

    Examples
    --------
    >>> import io
    >>> text = '''NAME                                        READY   STATUS    RESTARTS      AGE
    ... panda-panda-focus-server-78dbcfd9d9-kjj77   1/1     Running   4 (28h ago)   46h
    ... '''
    >>> df = pods_text(io.StringIO(text), now="2025-11-08T13:25:00Z")
    >>> int(df.loc[0, "restart_count"]), float(df.loc[0, "last_restart_ago_s"]) / 3600
    (4, 28.0)
    >>> str(df.loc[0, "last_restart_at"])
    '2025-11-07 09:25:00+00:00'
    """
    return _frames(source, only="pods_text", now=now)["pods_text"]
