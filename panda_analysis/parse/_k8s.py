"""Kubernetes evidence: API objects as JSON and pasted ``kubectl get pods`` text.

JSON files (``k8s/pods.json``, ``events.json``, ``jobs.json``, ``services.json``,
``endpoints.json``) are accepted as kubectl prints them (``"kind": "List"``), as the API
returns them (``PodList``, ``EventList``, ...), as a single object, or as a bare JSON
array of objects. One row per object; ``line_no`` is null and ``source`` is a JSON pointer
to the object (``k8s/pods.json#/items/3``). A malformed file is counted as one unparsed
entry naming the line and column of the JSON error; items that are not objects, lack
``metadata.name`` or are of another kind are counted too, never dropped silently.

Within an object, every value a column cannot hold is counted with its JSON pointer
(``k8s/pods.json#/items/3/status/containerStatuses/0/restartCount: restartCount -1 is
below 0, not a count: kept as null``) and the row is kept with that value null: wrong JSON
types (``labels`` a list, ``containerStatuses`` an object), numbers beyond the column's
dtype (an ``exitCode`` past Int16), negative counts, times outside datetime64[ns]. A
number written as a string (``"7"``) is read and counted as odd. A key given twice keeps
its last value and is counted, except a List's ``items``, whose lists are merged.

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
from panda_analysis._time import MIN_INSTANT, to_utc
from panda_analysis.bundle import Bundle, is_bundle
from panda_analysis.parse._common import (
    Node,
    Spot,
    as_dict,
    as_text,
    conform,
    job_id_from_name,
    json_snippet,
    load_json,
)

__all__ = ["endpoints", "events", "jobs", "pods", "pods_text", "restarts", "services"]

Row = dict[str, Any]

# --------------------------------------------------------------------------- value helpers
# JSON from a cluster (or a hand-edited file) may hold anything anywhere: values are read
# through ``_common.Node``, which checks each against its column and counts every value it
# cannot keep (with its JSON pointer, e.g. ``k8s/pods.json#/items/3/status/
# containerStatuses/0/restartCount``) while the row is kept (issue #11).


def _first(*values: pd.Timestamp | None) -> pd.Timestamp | None:
    return next((v for v in values if v is not None), None)


def _sorted_json(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (RecursionError, TypeError):  # TypeError: keys of mixed types cannot be sorted
        return json_snippet(value)


def _source(node: Node) -> str:
    return f"{node.spot.source}#{node.pointer}"


# --------------------------------------------------------------------------- JSON lists


def _objects(file: LogFile, kinds: tuple[str, ...], unparsed: Unparsed) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``(pointer, object)`` for every usable object of ``kinds`` in ``file``.

    ``pointer`` is the JSON pointer of the object within the file ('' for the root). What
    is not a usable object is counted in ``unparsed``, and so are the document's duplicate
    keys (a List's ``items`` given twice are merged: every pod in either list is kept).
    """
    text = file.read_text(unparsed).lstrip("\ufeff")
    if not text.strip():
        return
    try:
        loaded = load_json(text, merge_items=True)
    except json.JSONDecodeError as err:
        unparsed.add(file.name, err.lineno, f"malformed JSON at line {err.lineno} column {err.colno}: {err.msg}")
        return
    except RecursionError:
        unparsed.add(file.name, None, "JSON nested too deeply to read")
        return
    except ValueError as err:  # pragma: no cover - load_json reads long integers itself
        unparsed.add(file.name, None, f"not readable as JSON: {err}")
        return
    Spot(unparsed, file.name).notes(loaded)
    document = loaded.value
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
            shown = repr(kind[:60]) if isinstance(kind, str) else json_snippet(kind)[:60]
            unparsed.add(where, None, f"kind {shown} is not {' or '.join(kinds)}")
            continue
        meta = item.get("metadata")
        if meta is not None and not isinstance(meta, dict):
            unparsed.add(where, None, f"metadata is not an object: {json_snippet(meta)}")
            continue
        if as_text(as_dict(meta).get("name")) is None:
            unparsed.add(where, None, f"object has no metadata.name: {json_snippet(item)}")
            continue
        yield pointer, item


def _true_since(conditions: dict[str, tuple[Node, bool]], kind: str) -> pd.Timestamp | None:
    condition, is_true = conditions.get(kind, (None, False))
    if condition is None or not is_true:
        return None
    return condition.instant("lastTransitionTime")


def _conditions(status: Node) -> dict[str, tuple[Node, bool]]:
    """Each condition by type, with whether its ``status`` is ``"True"`` (read once: odd values counted once)."""
    out: dict[str, tuple[Node, bool]] = {}
    for condition in status.objects("conditions"):
        kind = condition.text("type")
        is_true = condition.text("status") == "True"
        if kind is not None:
            out[kind] = (condition, is_true)
    return out


def _restart_sum(status: Node) -> tuple[int, int, int | None]:
    """``(containers listed, ready, restarts summed)`` of ``containerStatuses``, as the pods frame reads them.

    The sum is null when one container's ``restartCount`` cannot be read (that value is
    counted): a partial sum would look like fewer restarts than there were.
    """
    statuses = status.objects("containerStatuses")
    ready = sum(1 for s in statuses if s.boolean("ready") is True)
    total: int | None = 0
    for s in statuses:
        count = s.integer("restartCount", minimum=0, nullable=False)
        if count is None:
            if "restartCount" in s.value:  # there but unreadable (an absent one counts as 0)
                total = None
        elif total is not None:
            total += count
    if total is not None and total > 2**63 - 1:
        status.spot.bad(status.at("containerStatuses"), f"restartCount summed over containers ({total}) does not fit Int64: kept as null")
        total = None
    return len(statuses), ready, total


def _pod_rows(name: str, pointer: str, obj: dict[str, Any], unparsed_pods: Unparsed, unparsed_restarts: Unparsed) -> tuple[Row, list[Row]]:
    pod_node = Node(obj, pointer, Spot(unparsed_pods, name))
    meta = pod_node.child("metadata")
    spec = pod_node.child("spec")
    status = pod_node.child("status")
    labels = meta.child("labels")
    pod = meta.text("name")
    namespace = meta.text("namespace")
    created = meta.instant("creationTimestamp")
    started = status.instant("startTime")
    owners = meta.objects("ownerReferences")
    owner = owners[0] if owners else None
    owner_kind = owner.text("kind") if owner else None
    owner_name = owner.text("name") if owner else None
    job_owner = next((o for o in owners if o.get("kind") == "Job"), None)
    job_owner_name = owner_name if job_owner is owner else job_owner.text("name") if job_owner else None
    job_name = labels.text("job-name") or labels.text("batch.kubernetes.io/job-name") or job_owner_name
    conditions = _conditions(status)
    listed, ready, restart_sum = _restart_sum(status)
    containers = spec.entries("containers")
    pod_row: Row = {
        "ts": _first(created, started),
        "source": f"{name}#{pointer}",
        "namespace": namespace,
        "pod": pod,
        "phase": status.text("phase"),
        "status_reason": status.text("reason"),
        "node": spec.text("nodeName"),
        "pod_ip": status.text("podIP"),
        "app": labels.text("app.kubernetes.io/name") or labels.text("app"),
        "job_name": job_name,
        "job_id": labels.text("job_id") or job_id_from_name(job_name) or job_id_from_name(pod),
        "owner_kind": owner_kind,
        "owner_name": owner_name,
        "labels": _sorted_json(meta.get("labels")),
        "container_count": len(containers) if isinstance(spec.get("containers"), list) else listed,
        "ready_count": ready,
        "restart_count": restart_sum,
        "is_ready": conditions.get("Ready", (None, False))[1],
        "started_at": started,
        "scheduled_at": _true_since(conditions, "PodScheduled"),
        "initialized_at": _true_since(conditions, "Initialized"),
        "containers_ready_at": _true_since(conditions, "ContainersReady"),
        "ready_at": _true_since(conditions, "Ready"),
        "deleted_at": meta.instant("deletionTimestamp"),
    }
    # the restarts frame reads its own values and counts its own odd ones
    pod_r = pod_node.counted_in(unparsed_restarts)
    meta_r = pod_r.child("metadata")
    identity = {"namespace": meta_r.text("namespace"), "pod": meta_r.text("name")}
    created_r = meta_r.instant("creationTimestamp")
    status_r = pod_r.child("status")
    rows: list[Row] = []
    for field_name, is_init in (("initContainerStatuses", True), ("containerStatuses", False)):
        for where, cs in status_r.entries(field_name):
            if not isinstance(cs, dict) or as_text(cs.get("name")) is None:
                unparsed_restarts.add(f"{name}#{where}", None, f"container status without a name: {json_snippet(cs)}")
                continue
            rows.append(_restart_row(Node(cs, where, status_r.spot), is_init=is_init, identity=identity, created=created_r))
    return pod_row, rows


def _restart_row(cs: Node, *, is_init: bool, identity: dict[str, str | None], created: pd.Timestamp | None) -> Row:
    state = cs.child("state")
    current = next((k for k in ("running", "waiting", "terminated") if isinstance(state.get(k), dict)), None)
    running = state.child("running")
    waiting = state.child("waiting")
    terminated = state.child("terminated")
    # the last termination is lastState.terminated; a container that is terminated right now
    # (a finished init container, a failed Job pod) has its termination in state instead
    last = cs.child("lastState").child("terminated") or terminated
    terminated_started = terminated.instant("startedAt")
    started_at = running.instant("startedAt") or terminated_started
    last_started_at = terminated_started if last is terminated else last.instant("startedAt")
    last_finished_at = last.instant("finishedAt")
    return {
        "ts": _first(last_finished_at, started_at, created),
        "source": _source(cs),
        **identity,
        "container": cs.text("name"),
        "is_init": is_init,
        "image": cs.text("image"),
        # a restartCount that cannot be read (-1, "NaN", true, 1e400, 2**70) is null and
        # counted; the row and its lastState / state evidence are kept for the rules
        "restart_count": cs.integer("restartCount", minimum=0, nullable=False),
        "is_ready": cs.boolean("ready"),
        "state": current,
        "started_at": started_at,
        "waiting_reason": waiting.text("reason"),
        "waiting_message": waiting.text("message"),
        "last_reason": last.text("reason"),
        "last_exit_code": last.integer("exitCode", dtype="Int16"),
        "last_signal": last.integer("signal", dtype="Int16"),
        "last_message": last.text("message"),
        "last_started_at": last_started_at,
        "last_finished_at": last_finished_at,
    }


_FIELD_PATH = re.compile(r"spec\.(?:initContainers|containers|ephemeralContainers)\{([^}]*)\}")


def _event_row(ev: Node) -> Row:
    # core/v1 Event, and the events.k8s.io/v1 shape (regarding, note, deprecated*)
    meta = ev.child("metadata")
    involved = ev.child("involvedObject") or ev.child("regarding")
    series = ev.child("series")
    source = ev.child("source") or ev.child("deprecatedSource")
    event_time = ev.instant("eventTime")
    first_ts = _first(ev.instant("firstTimestamp"), ev.instant("deprecatedFirstTimestamp"), event_time)
    last_ts = _first(
        ev.instant("lastTimestamp"),
        ev.instant("deprecatedLastTimestamp"),
        series.instant("lastObservedTime"),
        event_time,
    )
    kind = involved.text("kind")
    object_name = involved.text("name")
    field_path = involved.text("fieldPath")
    match = _FIELD_PATH.search(field_path) if field_path else None
    counts = (
        ev.integer("count", minimum=0),
        series.integer("count", minimum=0),
        ev.integer("deprecatedCount", minimum=0),
    )
    count = next((c for c in counts if c), None)
    return {
        "ts": _first(last_ts, first_ts, meta.instant("creationTimestamp")),
        "source": _source(ev),
        "namespace": meta.text("namespace") or involved.text("namespace"),
        "object_kind": kind,
        "object_name": object_name,
        "pod": object_name if kind == "Pod" else None,
        "container": match.group(1) if match else None,
        "type": ev.text("type"),
        "reason": ev.text("reason"),
        "message": ev.text("message") or ev.text("note"),
        "count": count if count is not None else 1,  # an event object was seen at least once
        "first_ts": first_ts,
        "last_ts": last_ts,
        "reporting_component": ev.text("reportingComponent")
        or ev.text("reportingController")
        or source.text("component"),
        "host": source.text("host") or ev.text("reportingInstance"),
    }


def _job_row(job: Node) -> Row:
    meta = job.child("metadata")
    spec = job.child("spec")
    status = job.child("status")
    labels = meta.child("labels")
    job_name = meta.text("name")
    true_conditions = [c for c in status.objects("conditions") if c.text("status") == "True"]
    last = true_conditions[-1] if true_conditions else None
    started = status.instant("startTime")
    return {
        "ts": _first(meta.instant("creationTimestamp"), started),
        "source": _source(job),
        "namespace": meta.text("namespace"),
        "job_name": job_name,
        "job_id": labels.text("job_id") or job_id_from_name(job_name),
        "labels": _sorted_json(meta.get("labels")),
        "active": status.integer("active", minimum=0),
        "succeeded": status.integer("succeeded", minimum=0),
        "failed": status.integer("failed", minimum=0),
        "backoff_limit": spec.integer("backoffLimit", minimum=0),
        "started_at": started,
        "completed_at": status.instant("completionTime"),
        "condition": last.text("type") if last else None,
        "condition_reason": last.text("reason") if last else None,
        "condition_message": last.text("message") if last else None,
    }


def _ports(ports: list[Node]) -> str | None:
    out: list[str] = []
    for port in ports:
        number = port.integer("port", dtype="Int32", minimum=0)
        if number is None:
            if port.get("port") is None:
                port.bad("port", None, "is missing: port not listed")
            continue
        if number > 65535:
            port.bad("port", number, "is not a port (0..65535): not listed")
            continue
        text = f"{number}/{port.text('protocol') or 'TCP'}"
        port_name = port.text("name")
        text = f"{port_name}:{text}" if port_name else text
        if text not in out:
            out.append(text)
    return ", ".join(out) if out else None


def _service_row(svc: Node) -> Row:
    meta = svc.child("metadata")
    spec = svc.child("spec")
    spec.child("selector")  # counts a selector that is not an object; the column keeps it as JSON
    return {
        "ts": meta.instant("creationTimestamp"),
        "source": _source(svc),
        "namespace": meta.text("namespace"),
        "service": meta.text("name"),
        "type": spec.text("type") or "ClusterIP",
        "cluster_ip": spec.text("clusterIP"),
        "ports": _ports(spec.objects("ports")),
        "selector": _sorted_json(spec.get("selector")),
    }


def _endpoints_row(ep: Node) -> Row:
    meta = ep.child("metadata")
    annotations = meta.child("annotations")
    ready: list[str] = []
    not_ready = 0
    ports: list[Node] = []
    for subset in ep.objects("subsets"):
        for address in subset.objects("addresses"):
            ip = address.text("ip")
            if ip is not None:
                ready.append(ip)
            else:
                address.bad("ip", address.get("ip"), "is not an address: not counted as ready")
        not_ready += len(subset.objects("notReadyAddresses"))
        ports.extend(subset.objects("ports"))
    return {
        "ts": _first(
            annotations.instant("endpoints.kubernetes.io/last-change-trigger-time"),
            meta.instant("creationTimestamp"),
        ),
        "source": _source(ep),
        "namespace": meta.text("namespace"),
        "service": meta.text("name"),
        "ready_count": len(ready),
        "not_ready_count": not_ready,
        "addresses": ", ".join(ready) if ready else None,
        "ports": _ports(ports),
    }


def _list_frame(
    files: list[LogFile],
    kinds: tuple[str, ...],
    build: Callable[[Node], Row],
    frame: schema.FrameSchema,
) -> pd.DataFrame:
    unparsed = Unparsed()
    rows = [
        build(Node(obj, pointer, Spot(unparsed, f.name)))
        for f in files
        for pointer, obj in _objects(f, kinds, unparsed)
    ]
    return conform(frame, rows, unparsed)


def _pods_and_restarts(files: list[LogFile]) -> dict[str, pd.DataFrame]:
    unparsed_pods = Unparsed()
    unparsed_restarts = Unparsed()
    pod_rows: list[Row] = []
    restart_rows: list[Row] = []
    for file in files:
        file_unparsed = Unparsed()
        for pointer, obj in _objects(file, ("Pod",), file_unparsed):
            pod_row, rows = _pod_rows(file.name, pointer, obj, unparsed_pods, unparsed_restarts)
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
#: Digits a part of a kubectl duration may have (kubectl prints at most a few: ``292y``).
_MAX_DURATION_DIGITS = 12
_INT64_MAX = 2**63 - 1
_HUMAN_DURATION = re.compile(r"^(?:(\d+)y)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_TOKENS = re.compile(
    r"^(?:(?P<NAMESPACE>\S+)\s+)??(?P<NAME>\S+)\s+(?P<READY>\d+/\d+)\s+(?P<STATUS>\S+)\s+"
    r"(?P<RESTARTS>\d+(?:\s+\(\S+ ago\))?)\s+(?P<AGE>\S+)"
    r"(?:\s+(?P<IP>\S+)\s+(?P<NODE>\S+)(?:\s+(?P<NOMINATED>\S+)(?:\s+(?P<GATES>\S+))?)?)?$"
)


def _human_seconds(text: str) -> float | None:
    """Seconds of a kubectl human duration (``46h``, ``2d5h``, ``3m20s``, ``1y30d``).

    None when ``text`` is not one, and when a part has more digits than any real age
    (those are not durations a frame can use; the caller counts them).
    """
    match = _HUMAN_DURATION.match(text)
    if not text or match is None or any(g is not None and len(g) > _MAX_DURATION_DIGITS for g in match.groups()):
        return None
    years, days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return float((((years * 365 + days) * 24 + hours) * 60 + minutes) * 60 + seconds)


def _count(text: str, column: str, problems: list[str]) -> int | None:
    """A count printed by kubectl, or None (noted in ``problems``) when it does not fit Int64."""
    if len(text) <= 19 and int(text) <= _INT64_MAX:
        return int(text)
    problems.append(f"{column} {text[:40]} does not fit Int64: kept as null")
    return None


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


def _pods_text_row(values: dict[str, str], observed: pd.Timestamp | None, problems: list[str]) -> Row | None:
    """A row from column values, or None when the values are not a pod line.

    Values of a pod line that a column cannot hold (a count beyond Int64, an age with
    absurdly many digits, a restart time before 1677) are null in the row and noted in
    ``problems`` for the caller to count.
    """
    name = values.get("NAME", "")
    ready = _READY.match(values.get("READY", ""))
    restarts = _RESTARTS.match(re.sub(r"\s+", " ", values.get("RESTARTS", "")))
    age_text = values.get("AGE", "")
    if not name or " " in name or ready is None or restarts is None or not values.get("STATUS"):
        return None
    if (not age_text or _HUMAN_DURATION.match(age_text) is None) and age_text not in {"<invalid>", "<unknown>"}:
        return None
    if " " in values.get("STATUS", "") or " " in values.get("NAMESPACE", ""):
        return None
    age = _human_seconds(age_text)
    if age is None and age_text not in {"<invalid>", "<unknown>"}:
        problems.append(f"AGE {age_text[:40]} is too long to be an age: kept as null")
    ago_text = restarts.group(2)
    ago = _human_seconds(ago_text) if ago_text else None
    if ago_text and ago is None:
        problems.append(f"RESTARTS ({ago_text[:40]} ago) is not a kubectl duration: kept as null")
    last_restart_at = None
    if observed is not None and ago is not None:
        try:
            last_restart_at = observed - pd.Timedelta(seconds=ago)
        except (OverflowError, ValueError):  # more than ~292 years before the observation
            last_restart_at = None
        if last_restart_at is not None and last_restart_at < MIN_INSTANT:
            last_restart_at = None
        if last_restart_at is None:
            problems.append(f"RESTARTS ({ago_text} ago) is before the first time a frame can hold: last_restart_at kept as null")
    ip = values.get("IP")
    node = values.get("NODE")
    return {
        "ts": observed,
        "namespace": values.get("NAMESPACE") or None,
        "pod": name,
        "ready": values["READY"],
        "ready_count": _count(ready.group(1), "READY", problems),
        "container_count": _count(ready.group(2), "READY", problems),
        "status": values["STATUS"],
        "restart_count": _count(restarts.group(1), "RESTARTS", problems),
        "last_restart_ago_s": ago,
        "last_restart_at": last_restart_at,
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
            problems: list[str] = []
            values = _positional(text, header) if header is not None else None
            row = _pods_text_row(values, observed, problems) if values is not None else None
            if row is None:
                values = _by_tokens(text)
                row = _pods_text_row(values, observed, problems) if values is not None else None
            if row is None:
                stripped = text.strip()
                if not (_COMMAND.match(stripped) or _NO_RESOURCES.match(stripped)):
                    unparsed.add(file.name, line.line_no, text)
                continue
            row["source"] = file.name
            row["line_no"] = line.line_no
            rows.append(row)
            for problem in problems:  # the row is kept; what it could not hold is counted
                unparsed.add(file.name, line.line_no, problem)
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
_LISTS: dict[str, tuple[tuple[str, ...], Callable[[Node], Row], schema.FrameSchema]] = {
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

    A ``restartCount`` that cannot be read (negative, ``"NaN"``, ``true``, ``1e400``,
    beyond Int64, null) gives a null ``restart_count`` and is counted in
    ``attrs["unparsed"]`` with its pointer; the row keeps its state, waiting reason and
    last termination, so a crash loop is still visible. The pods frame's sum over the
    pod's containers is then null too (counted there as well).

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
