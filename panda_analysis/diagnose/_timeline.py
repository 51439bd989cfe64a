"""One UTC axis for everything notable in a bundle: events, restarts, errors and findings.

Rule-independent: :func:`timeline` reads the frames (and optionally a list of findings)
and returns one tidy DataFrame, sorted by time, that a notebook can filter and that
``pa.plot.timeline`` draws. Bursts are aggregated (HTTP 5xx and repeated log errors: one
row per minute, not per request) so a retry storm is a few rows, not thousands.

Each source is read once: error records and 5xx answers are grouped with one vectorised
groupby each (first row, count, last time, codes, upstreams and clients per group), and
the queue snapshots are sorted once and walked queue by queue (issue #12: a whole-frame
sort per queue or per burst took seconds on 2,000 job queues).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from panda_analysis._time import UTC_NS
from panda_analysis.diagnose._util import (
    component_of,
    fmt_duration,
    fmt_time,
    host_of,
    integer,
    missing,
    number,
    plural,
    records,
    text,
)
from panda_analysis.findings import Finding
from panda_analysis.schema import Frames

__all__ = ["KINDS", "SEVERITIES", "TIMELINE_COLUMNS", "timeline"]

#: Columns of :func:`timeline`, in order.
TIMELINE_COLUMNS = ("ts", "end_ts", "component", "kind", "severity", "text", "count", "source", "line_no")
#: Row kinds (the categories of ``timeline()["kind"]``).
KINDS = (
    "k8s_event",
    "restart",
    "waiting",
    "job_state",
    "error",
    "http_5xx_burst",
    "metadata_state",
    "queue_state",
    "finding",
)
#: Severities, worst first (the categories of ``timeline()["severity"]``).
SEVERITIES = ("critical", "warning", "info")

_KIND_DTYPE = pd.CategoricalDtype(list(KINDS))
_SEVERITY_DTYPE = pd.CategoricalDtype(list(SEVERITIES))

# Other container logs carry no level column: these shapes mark an error line
# (Python/Go/Java level words, bracketed levels, logfmt, MongoDB JSON "s":"E"/"F").
_ERROR_LINE = re.compile(
    r"\b(?:ERROR|FATAL|CRITICAL|PANIC|SEVERE)\b|\[(?:error|fatal|crit|critical|emerg|alert)\]"
    r"|\blevel=(?:error|fatal|critical)\b|\"s\"\s*:\s*\"[EF]\"|^Traceback \(most recent call last\)|\b[EF]\d{4} \d\d:\d\d",
)
_NUMBERS = re.compile(r"0x[0-9a-f]+|\d+", re.I)
_WAITING_INFO = {"ContainerCreating", "PodInitializing"}


def _first_line(value: Any, limit: int = 300) -> str:
    line = (text(value) or "").split("\n", 1)[0].strip()
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _row(
    ts: Any,
    component: str,
    kind: str,
    severity: str,
    said: str,
    *,
    source: Any = None,
    line_no: Any = None,
    end_ts: Any = None,
    count: int = 1,
) -> dict[str, Any]:
    return {
        "ts": ts,
        "end_ts": end_ts,
        "component": component,
        "kind": kind,
        "severity": severity,
        "text": said,
        "count": count,
        "source": text(source),
        "line_no": None if missing(line_no) else int(line_no),
    }


def _events(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for r in df.to_dict("records"):
        first = r["first_ts"] if not missing(r.get("first_ts")) else r.get("ts")
        last = r["last_ts"] if not missing(r.get("last_ts")) else None
        count = 1 if missing(r.get("count")) else int(r["count"])
        said = f"{r.get('reason') or 'Event'} {r.get('object_kind') or ''}/{r.get('object_name') or ''}: {_first_line(r.get('message'))}"
        if count > 1:
            said += f" (×{count}, last {fmt_time(last)})" if last is not None else f" (×{count})"
        severity = "warning" if str(r.get("type") or "") == "Warning" else "info"
        component = component_of(r.get("pod") or r.get("object_name"), r.get("container"))
        out.append(
            _row(
                first,
                component,
                "k8s_event",
                severity,
                said,
                source=r.get("source"),
                line_no=r.get("line_no"),
                end_ts=last if last is not None and last != first else None,
                count=count,
            )
        )
    return out


def _restarts(df: pd.DataFrame, pods_text: pd.DataFrame, now: pd.Timestamp | None) -> list[dict[str, Any]]:
    out = []
    for r in df.to_dict("records"):
        pod, container = r.get("pod"), r.get("container")
        component = component_of(pod, container)
        if not missing(r.get("last_finished_at")):
            reason = text(r.get("last_reason")) or "terminated"
            code = r.get("last_exit_code")
            restarts = 0 if missing(r.get("restart_count")) else int(r["restart_count"])
            said = f"{container} in {pod} terminated: {reason}"
            if not missing(code):
                said += f", exit code {int(code)}"
            if not missing(r.get("last_started_at")):
                said += f" after {fmt_duration(r['last_finished_at'] - r['last_started_at'])}"
            said += f" ({plural(restarts, 'restart')} so far)"
            if text(r.get("last_message")):
                said += f": {_first_line(r['last_message'], 200)}"
            clean_exit = reason == "Completed" and (missing(code) or int(code) == 0)
            out.append(
                _row(
                    r["last_finished_at"],
                    component,
                    "restart",
                    "info" if clean_exit else "warning",
                    said,
                    source=r.get("source"),
                    line_no=r.get("line_no"),
                    end_ts=r.get("started_at") if not missing(r.get("started_at")) else None,
                )
            )
        if str(r.get("state") or "") == "waiting":
            reason = text(r.get("waiting_reason")) or "waiting"
            said = f"{container} in {pod} is waiting: {reason}"
            if text(r.get("waiting_message")):
                said += f" ({_first_line(r['waiting_message'], 200)})"
            when = r.get("ts") if not missing(r.get("ts")) else now
            out.append(
                _row(
                    when,
                    component,
                    "waiting",
                    "info" if reason in _WAITING_INFO else "warning",
                    said,
                    source=r.get("source"),
                    line_no=r.get("line_no"),
                )
            )
    # pasted `kubectl get pods` text: only for pods the pod status does not already cover
    known = set(df["pod"].astype("string").dropna()) if len(df) else set()
    for r in pods_text.to_dict("records"):
        restarts = r.get("restart_count")
        if missing(restarts) or int(restarts) == 0 or missing(r.get("last_restart_at")) or str(r.get("pod")) in known:
            continue
        said = f"{r.get('pod')}: {plural(int(restarts), 'restart')}, the last about {fmt_duration(r.get('last_restart_ago_s'))} before collection (kubectl get pods)"
        out.append(
            _row(
                r["last_restart_at"],
                component_of(r.get("pod")),
                "restart",
                "warning",
                said,
                source=r.get("source"),
                line_no=r.get("line_no"),
            )
        )
    return out


def _jobs(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for r in df.to_dict("records"):
        condition = text(r.get("condition"))
        if condition not in {"Failed", "Complete"}:
            continue
        when = r.get("completed_at") if not missing(r.get("completed_at")) else r.get("ts")
        said = f"Job {r.get('job_name')} {condition}"
        if text(r.get("condition_reason")):
            said += f": {r['condition_reason']}"
        if text(r.get("condition_message")):
            said += f" ({_first_line(r['condition_message'], 200)})"
        severity = "warning" if condition == "Failed" else "info"
        out.append(
            _row(when, "grpc-job", "job_state", severity, said, source=r.get("source"), line_no=r.get("line_no"))
        )
    return out


def _first_rows(df: pd.DataFrame, group: np.ndarray) -> tuple[pd.DataFrame, np.ndarray, list[pd.Timestamp]]:
    """Per group (numbered 0..n-1): its first row in time order, its size and its last time.

    ``df`` rows carry their group number in ``group``; within a group rows are ordered by
    ``ts`` then ``line_no`` (stable), as a per-group sort would order them.
    """
    ordered = df.assign(_group=group).sort_values(["_group", "ts", "line_no"], kind="stable")
    groups = ordered["_group"].to_numpy()
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    ends = np.r_[starts[1:], len(ordered)] - 1
    return ordered.iloc[starts], ends - starts + 1, ordered["ts"].iloc[ends].tolist()


def _log_errors(df: pd.DataFrame, *, default: str, is_error: pd.Series | None = None) -> list[dict[str, Any]]:
    """Error / critical records, one row per source, minute and repeated message."""
    if not len(df):
        return []
    if is_error is None:
        level = df["level"].astype("string").fillna("")
        is_error = level.isin(["error", "critical"])
        is_critical = level == "critical"
    else:
        is_critical = pd.Series(False, index=df.index)
    chosen = is_error.to_numpy(dtype=bool) & df["ts"].notna().to_numpy()
    errors = df[chosen].reset_index(drop=True)
    if not len(errors):
        return []
    message = errors["message"].astype("string").fillna("")
    keys = pd.DataFrame(
        {
            "source": errors["source"].astype("string").fillna("?"),
            "minute": errors["ts"].dt.floor("min"),
            "shape": message.map(lambda m: _NUMBERS.sub("#", _first_line(m, 120))),
        }
    )
    # groups numbered in the order they are first seen (groupby sort=False)
    group = keys.groupby(["source", "minute", "shape"], sort=False, observed=True).ngroup().to_numpy()
    critical = np.zeros(group.max() + 1, dtype=bool)
    np.logical_or.at(critical, group, is_critical.to_numpy(dtype=bool)[chosen])
    firsts, sizes, lasts = _first_rows(errors, group)
    has_pod, has_container = "pod" in errors.columns, "container" in errors.columns
    out = []
    for first, n, last, bad in zip(records(firsts), sizes, lasts, critical, strict=True):
        said = _first_line(first["message"])
        if n > 1:
            said += f" (×{n} in this minute)"
        out.append(
            _row(
                first["ts"],
                component_of(
                    first["pod"] if has_pod else None, first["container"] if has_container else None, default=default
                ),
                "error",
                "critical" if bad else "warning",
                said,
                source=first["source"],
                line_no=first["line_no"],
                end_ts=last if n > 1 else None,
                count=int(n),
            )
        )
    return out


def _distinct(group: np.ndarray, values: pd.Series) -> dict[int, list[Any]]:
    """The distinct non-null ``values`` of each group, sorted."""
    pairs = pd.DataFrame({"g": group, "v": values.to_numpy(dtype=object, na_value=None)}).dropna().drop_duplicates()
    out: dict[int, list[Any]] = {}
    for g, v in zip(pairs["g"], pairs["v"], strict=True):
        out.setdefault(int(g), []).append(v)
    return {g: sorted(vs) for g, vs in out.items()}


def _http_5xx(df: pd.DataFrame, *, component: str, upstream_column: str | None) -> list[dict[str, Any]]:
    if not len(df):
        return []
    status = pd.to_numeric(df["status"], errors="coerce")
    bad = df[(status >= 500).fillna(False).to_numpy(dtype=bool) & df["ts"].notna().to_numpy()].reset_index(drop=True)
    if not len(bad):
        return []
    route = bad["route"].astype("string").fillna(bad["path"].astype("string")).fillna("?")
    keys = pd.DataFrame(
        {
            "minute": bad["ts"].dt.floor("min"),
            "method": bad["method"].astype("string").fillna("?"),
            "route": route,
        }
    )
    # groups numbered in (minute, method, route) order (groupby sort=True)
    group = keys.groupby(["minute", "method", "route"], sort=True, observed=True).ngroup().to_numpy()
    firsts, sizes, lasts = _first_rows(bad, group)
    codes = _distinct(group, pd.to_numeric(bad["status"]).astype("Int64"))
    upstreams = (
        _distinct(group, bad[upstream_column].astype("string"))
        if upstream_column and upstream_column in bad.columns
        else {}
    )
    client = bad["remote_addr" if "remote_addr" in bad.columns else "client_addr"].astype("string")
    clients = client.groupby(group).nunique()
    labels = keys.iloc[firsts.index]
    out = []
    for g, (first, n, last, method, path) in enumerate(
        zip(records(firsts), sizes, lasts, labels["method"], labels["route"], strict=True)
    ):
        said = f"{n} × HTTP {', '.join(str(int(c)) for c in codes.get(g, []))} on {method} {path}"
        if upstreams.get(g):
            said += f" (upstream {', '.join(upstreams[g])})"
        if clients.get(g, 0):
            said += f" from {plural(int(clients[g]), 'client')}"
        out.append(
            _row(
                first["ts"],
                component,
                "http_5xx_burst",
                "warning",
                said,
                source=first["source"],
                line_no=first["line_no"],
                end_ts=last if n > 1 else None,
                count=int(n),
            )
        )
    return out


def _metadata_state(r: dict[str, Any]) -> tuple[str, str]:
    """(state, description) of one `GET /live_metadata` probe."""
    status = integer(r.get("status"))
    if status is None or not 200 <= status < 300 or text(r.get("error")):
        why = text(r.get("error")) or (f"HTTP {status}" if status is not None else "no answer")
        return "probe failed", f"probe failed ({_first_line(why, 160)})"
    prr, dx = number(r.get("prr")), number(r.get("dx"))
    sw = text(r.get("sw_version")) or ""
    facts = f"prr {prr}, dx {dx}, sw_version {sw!r}"
    if prr is None or prr <= 0 or dx is None or dx <= 0 or "waiting for fiber" in sw.lower():
        return "not ready", f"not ready: {facts}"
    return "ready", f"ready: {facts}"


def _live_metadata(df: pd.DataFrame) -> list[dict[str, Any]]:
    probes = df[df["ts"].notna()].sort_values(["ts", "line_no"], kind="stable")
    if not len(probes):
        return []
    records = probes.to_dict("records")
    states = [_metadata_state(r) for r in records]
    # one row per run of equal states: its first probe, ending where the run ends
    runs: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(records) + 1):
        if i == len(records) or states[i][0] != states[start][0]:
            runs.append((start, i - 1))
            start = i
    out = []
    for n_run, (a, b) in enumerate(runs):
        state, description = states[a]
        label = "first probe" if n_run == 0 else "changed"
        count = b - a + 1
        said = f"live metadata {description} ({label}; {plural(count, 'probe')} until {fmt_time(records[b]['ts'])})"
        out.append(
            _row(
                records[a]["ts"],
                "probe",
                "metadata_state",
                "info" if state == "ready" else "warning",
                said,
                source=records[a].get("source"),
                line_no=records[a].get("line_no"),
                end_ts=records[b]["ts"] if b > a else None,
                count=count,
            )
        )
    last = records[-1]
    if len(records) > 1:
        state, description = states[-1]
        out.append(
            _row(
                last["ts"],
                "probe",
                "metadata_state",
                "info" if state == "ready" else "warning",
                f"live metadata {description} (last probe)",
                source=last.get("source"),
                line_no=last.get("line_no"),
            )
        )
    return out


def _queues(df: pd.DataFrame) -> list[dict[str, Any]]:
    snaps = df[df["ts"].notna().to_numpy()]
    if not len(snaps):
        return []
    times = sorted(set(snaps["ts"]))
    name = snaps["queue"].astype("string").fillna("?")
    columns = ["ts", "source", "line_no", "consumer_count", "messages"]
    # sorted once by queue, then time: each queue's snapshots are one run of rows
    ordered = snaps[columns].assign(_queue=name.to_numpy()).sort_values(["_queue", "ts", "line_no"], kind="stable")
    out = []
    rows = records(ordered)
    start = 0
    while start < len(rows):
        queue = rows[start]["_queue"]
        end = start
        while end < len(rows) and rows[end]["_queue"] == queue:
            end += 1
        out.extend(_queue_rows(str(queue), rows[start:end], times))
        start = end
    return out


def _queue_rows(queue: str, snapshots: list[dict[str, Any]], times: list[pd.Timestamp]) -> list[dict[str, Any]]:
    """One queue over every snapshot time: appeared, disappeared, reappeared, consumer changes."""
    out = []
    seen: dict[pd.Timestamp, dict[str, Any]] = {}
    for r in snapshots:
        seen.setdefault(r["ts"], r)  # the first row of a time, as the snapshot lists it
    first = snapshots[0]
    if first["ts"] != times[0]:
        out.append(
            _row(
                first["ts"],
                "rabbitmq",
                "queue_state",
                "info",
                f"queue {queue} appeared ({_queue_facts(first)})",
                source=first.get("source"),
                line_no=first.get("line_no"),
            )
        )
    previous: dict[str, Any] | None = first
    for snap_ts in times[bisect.bisect_right(times, first["ts"]) :]:
        current = seen.get(snap_ts)
        if current is not None:
            if previous is None:
                out.append(
                    _row(
                        snap_ts,
                        "rabbitmq",
                        "queue_state",
                        "info",
                        f"queue {queue} reappeared ({_queue_facts(current)})",
                        source=current.get("source"),
                        line_no=current.get("line_no"),
                    )
                )
            else:
                out.extend(_consumer_change(queue, previous, current))
            previous = current
        elif previous is not None:
            out.append(
                _row(
                    snap_ts,
                    "rabbitmq",
                    "queue_state",
                    "info",
                    f"queue {queue} disappeared (last seen {fmt_time(previous['ts'])})",
                    source=previous.get("source"),
                    line_no=previous.get("line_no"),
                )
            )
            previous = None
    return out


def _queue_facts(r: dict[str, Any]) -> str:
    consumers = 0 if missing(r.get("consumer_count")) else int(r["consumer_count"])
    messages = 0 if missing(r.get("messages")) else int(r["messages"])
    return f"{plural(consumers, 'consumer')}, {plural(messages, 'message')}"


def _consumer_change(queue: str, before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    a, b = integer(before.get("consumer_count")), integer(after.get("consumer_count"))
    if a is None or b is None or a == b:
        return []
    severity = "warning" if b == 0 else "info"
    said = f"queue {queue}: consumers {a} → {b} ({_queue_facts(after)})"
    return [
        _row(
            after["ts"],
            "rabbitmq",
            "queue_state",
            severity,
            said,
            source=after.get("source"),
            line_no=after.get("line_no"),
        )
    ]


def _findings(findings: Iterable[Finding], now: pd.Timestamp | None) -> list[dict[str, Any]]:
    out = []
    for f in findings:
        when = f.first_seen or f.last_seen or now
        quote = f.evidence[0] if f.evidence else None
        out.append(
            _row(
                when,
                f.component or "finding",
                "finding",
                str(f.severity),
                f"{f.code}: {f.summary}",
                source=quote.source if quote else "findings",
                line_no=quote.line_no if quote else None,
                end_ts=f.last_seen if f.last_seen is not None and f.last_seen != when else None,
            )
        )
    return out


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=list(TIMELINE_COLUMNS))
    for col in ("ts", "end_ts"):
        values = df[col].astype("object").where(df[col].notna(), None)
        df[col] = pd.to_datetime(values, utc=True).astype(UTC_NS)
    df["component"] = df["component"].astype("string").astype("category")
    df["kind"] = df["kind"].astype(_KIND_DTYPE)
    df["severity"] = df["severity"].astype(_SEVERITY_DTYPE)
    for col in ("text", "source"):
        df[col] = df[col].astype("object").where(df[col].notna(), None).astype("string")
    for col in ("count", "line_no"):
        df[col] = pd.to_numeric(df[col].astype("object").where(df[col].notna(), None)).astype("Int64")
    rank = df["severity"].cat.codes
    order = (
        df.assign(_rank=rank, _component=df["component"].astype("string"), _kind=df["kind"].cat.codes)
        .sort_values(["ts", "_rank", "_component", "_kind", "source", "line_no"], kind="stable", na_position="last")
        .index
    )
    return df.loc[order].reset_index(drop=True)


def timeline(
    frames: Frames,
    *,
    findings: Sequence[Finding] | None = None,
    include_info: bool = True,
) -> pd.DataFrame:
    """Everything notable in a bundle on one UTC axis, sorted by time.

    Rows (``kind``):

    ``k8s_event``
        every Kubernetes event at its first time (``Warning`` ones as warning; ``count``
        and last time in the text, ``end_ts`` the last time).
    ``restart``
        each container's last termination at its ``finishedAt`` (reason, exit code, how
        long it ran, restarts so far; warning unless it completed with exit 0), and
        restarts known only from pasted ``kubectl get pods`` text.
    ``waiting``
        containers waiting now (CrashLoopBackOff, ImagePullBackOff ... as warning).
    ``job_state``
        Kubernetes Jobs that completed (info) or failed (warning).
    ``error``
        error / critical records of the Focus Server, analyzer, RabbitMQ and ingress
        controller logs, and lines of other container logs that look like errors; the same
        message from the same file within one minute is one row (``count``).
    ``http_5xx_burst``
        HTTP 5xx answers in the ingress access log (the Focus Server's access lines when
        there is no ingress log), one row per minute, method and route.
    ``metadata_state``
        ``GET /live_metadata``: the first probe, every change ready ↔ not ready / probe
        failed (``end_ts`` = the last probe in that state), and the last probe.
    ``queue_state``
        RabbitMQ queues that appeared / disappeared between snapshots, and consumer count
        changes (a drop to 0 consumers is a warning).
    ``finding``
        each given finding at its ``first_seen`` (``CODE: summary``, its severity and
        component, its first evidence as source).

    Parameters
    ----------
    frames
        Parsed frames of one bundle.
    findings
        Findings to put on the axis, e.g. ``pa.diagnose.run(frames)`` (default: none).
    include_info
        Keep rows of severity ``info`` (default True); False keeps warning and critical.

    Returns
    -------
    pandas.DataFrame
        ``ts`` (datetime64[ns, UTC]), ``end_ts`` (end of a span or burst, else NaT),
        ``component`` (category: ``ingress-nginx``, ``focus-server``, ``rabbitmq``,
        ``grpc-job``, ``mongodb``, ``probe``, ``kubernetes``, or the container name),
        ``kind`` (category, :data:`KINDS`), ``severity`` (category, :data:`SEVERITIES`),
        ``text`` (string), ``count`` (Int64: requests / records / probes aggregated),
        ``source``, ``line_no`` (where the first of them is). Same columns and dtypes when
        empty.

    Examples
    --------
    >>> import panda_analysis as pa
    >>> tl = pa.diagnose.timeline(pa.samples.waiting_for_fiber().frames(), include_info=False)
    >>> restart = tl[tl.kind == "restart"].iloc[0]
    >>> str(restart.ts), restart.component
    ('2025-11-07 09:12:11+00:00', 'focus-server')
    >>> tl[tl.kind == "http_5xx_burst"]["count"].tolist()  # 503s on POST /configure, per minute
    [46, 25]
    """
    now = frames.created_at
    rows: list[dict[str, Any]] = []
    rows += _events(frames.events)
    rows += _restarts(frames.restarts, frames.pods_text, now)
    rows += _jobs(frames.jobs)
    rows += _log_errors(frames.focus, default="focus-server")
    rows += _log_errors(frames.analyzer, default="grpc-job")
    rows += _log_errors(frames.rabbitmq_log, default="rabbitmq")
    rows += _log_errors(frames.ingress_messages, default="ingress-nginx")
    other = frames.other_logs
    if len(other):
        looks = other["message"].astype("string").fillna("").str.contains(_ERROR_LINE, na=False).astype(bool)
        rows += _log_errors(other, default="kubernetes", is_error=looks)
    if len(frames.ingress):
        rows += _http_5xx(frames.ingress, component="ingress-nginx", upstream_column="proxy_upstream_name")
    elif len(frames.focus):
        access = frames.focus[(frames.focus["kind"].astype("string") == "access").fillna(False).to_numpy(dtype=bool)]
        rows += _http_5xx(
            access.assign(remote_addr=access["client_addr"].map(host_of).astype("string")),
            component="focus-server",
            upstream_column=None,
        )
    rows += _live_metadata(frames.live_metadata)
    rows += _queues(frames.queues)
    rows += _findings(findings or (), now)
    if not include_info:
        rows = [r for r in rows if r["severity"] != "info"]
    return _frame(rows)
