"""Crash loops: restart history per container and the root cause from its previous log.

One finding per restarted container (subject ``namespace/pod/container``). The history
comes from pod status (``frames.restarts``), the pod's events (BackOff / Killing /
Started), or, when there is no ``pods.json`` for the pod, from pasted ``kubectl get
pods`` text (``4 (28h ago)``). The cause comes from the container's previous log
(``kubectl logs --previous``: rows with ``is_previous`` in the Focus, analyzer, RabbitMQ
and other-log frames), searched backwards from its end for the last error:

1. ``OOMKilled`` (or exit 137 with an OOM event / termination message) → ``CRASHLOOP_OOM``;
2. a name-resolution failure (``[Errno -3] Temporary failure in name resolution``,
   ``[Errno -2] Name or service not known``, ``gaierror``, ``NXDOMAIN``, Go's
   ``lookup mongodb on 10.43.0.10:53: no such host``) → ``CRASHLOOP_DNS`` — even inside a
   pymongo ``ServerSelectionTimeoutError`` (seed 002);
3. a reachable name whose server does not answer (``Connection refused``, ``[Errno 111]``,
   ``ECONNREFUSED``, timed out, ``ServerSelectionTimeoutError``, no primary, ``No servers
   found``) → ``CRASHLOOP_DB_UNREACHABLE``;
4. anything else, or no previous log → ``CRASHLOOP_OTHER`` (exit code and last lines quoted).

For DNS and unreachable causes the failing ``host:port`` and the start-up step it broke
(``FocusManager init``, ``application startup``) are named, and the target's Service /
Endpoints are looked up. Those objects are a snapshot taken at collection time, not at
crash time, and the summary says so.

Shape (STYLE.md, as ``_consumer``): :func:`_select` cuts every frame once (previous-log
rows by pod, events by pod and object name, Services and Endpoints by name, DNS pods) and
resolves each restarted container to its own rows (:class:`_Container`); :func:`_verdict`
classifies one container from those rows (the code, its times and severity, no prose);
:func:`_narrate` writes the summary, evidence and next steps. No whole-frame operation
runs per container (issue #12: 2,000 job pods took 2.6 s).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from panda_analysis.diagnose._util import (
    fmt_duration,
    fmt_iso,
    fmt_time,
    instant,
    integer,
    missing,
    plural,
    records,
    shorten,
    text,
    value,
)
from panda_analysis.findings import Code, Evidence, Finding, Severity
from panda_analysis.schema import Frames

__all__ = ["crashloop"]

# frames whose rows may come from a previous (crashed) container's log
_LOG_FRAMES = ("focus", "analyzer", "rabbitmq_log", "other_logs")

_I = re.IGNORECASE

# name resolution (glibc getaddrinfo errors as Python prints them, Go's resolver, Node, curl, Java)
_DNS = tuple(
    re.compile(p, _I)
    for p in (
        r"\[Errno -3\] Temporary failure in name resolution",
        r"\[Errno -2\] Name or service not known",
        r"\[Errno -5\] No address associated with hostname",
        r"\[Errno 8\] nodename nor servname provided, or not known",
        r"lookup [\w.\-]+(?: on [\w.:\[\]]+)?: no such host",
        r"Temporary failure in name resolution",
        r"Name or service not known",
        r"No address associated with hostname",
        r"(?:socket\.)?gaierror\b[^\n]{0,100}",
        r"\bNXDOMAIN\b",
        r"getaddrinfo (?:ENOTFOUND|EAI_AGAIN)\b(?: [\w.\-]+)?",
        r"no such host",
        r"Could not resolve host:? [\w.\-]+",
        r"UnknownHostException\b(?:: [\w.\-]+)?",
    )
)

# the name resolved (or was an address) but nothing answered there
_UNREACHABLE = tuple(
    re.compile(p, _I)
    for p in (
        r"\[Errno 111\] Connection refused",
        r"connect: connection refused",
        r"ECONNREFUSED(?: [\w.\-]+:\d+)?",
        r"Connection refused",
        r"\[Errno 110\] Connection timed out",
        r"\[Errno 113\] No route to host",
        r"\[Errno 101\] Network is unreachable",
        r"No route to host",
        r"Network is unreachable",
        r"i/o timeout",
        r"(?:Connection |connect |operation |read )?timed out",
        r"context deadline exceeded",
        r"No replica set members (?:found yet|match selector[^,\n]{0,60})",
        r"No primary available[^,\n]{0,40}",
        r"\bno primary\b",
        r"No servers found yet",
        r"No servers available",
        r"ServerSelectionTimeoutError",
        r"MongoServerSelectionError",
        r"MongoNetworkError",
    )
)

# a line that reports an error (raw lines have no level column)
_ERRORISH = re.compile(
    r"\b(?:error|errno|exception|traceback|fatal|panic|critical|failed|failure|refused|timed out|"
    r"no such host|killed|unreachable)\b",
    _I,
)
# a line that carries an exception / terminal error of its own, not a generic wrapper
_EXCEPTION_LINE = re.compile(
    r"^\s*(?:[\w.]*(?:Error|Exception|Exit|Interrupt)\b:?|panic:|fatal error:|FATAL\b|Traceback \(most recent)"
)
_OOM = re.compile(r"\bOOM|out of memory|memory cgroup", _I)

# host:port of the failing target, most specific first
_HOSTPORT_ERRNO = re.compile(r"([A-Za-z0-9][\w.\-]*):(\d{1,5}): \[Errno")
_HOSTPORT_TUPLE = re.compile(r"\('([\w.\-]+)',\s*(\d{1,5})\)")
_HOST_LOOKUP = re.compile(r"lookup ([\w.\-]+)(?: on [\w.:\[\]]+)?: no such host", _I)
_HOST_RESOLVE = re.compile(
    r"(?:getaddrinfo (?:ENOTFOUND|EAI_AGAIN)|Could not resolve host:?|UnknownHostException:?) ([\w.\-]+)", _I
)
_HOSTPORT_DIAL = re.compile(r"(?:dial tcp|ECONNREFUSED|connect to) \[?([\w.\-]+)\]?:(\d{1,5})", _I)
_HOST_KW = re.compile(r"\bhost=['\"]?([\w.\-]+)")
_PORT_KW = re.compile(r"\bport=['\"]?(\d{1,5})")
_HOSTPORT_ANY = re.compile(r"(?<![\w.:\-])([A-Za-z][\w\-]*(?:\.[\w\-]+)*|\d{1,3}(?:\.\d{1,3}){3}):(\d{2,5})\b")
_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")

# the start-up step that broke
_STEP_INIT = re.compile(r"\b([A-Z]\w+) init(?:iali[sz]ation)? failed")
_STEP_DURING = re.compile(r"\bduring ([A-Za-z][\w\-]*(?: [A-Za-z][\w\-]*){0,3})")
_STEP_FRAME_INIT = re.compile(r", line \d+, in __init__\s*$")
_STEP_CALL = re.compile(r"\b([A-Z]\w+)\(")
_STEP_APP = re.compile(r"Application startup failed", _I)

_DNS_PODS = re.compile(r"^(?:coredns|kube-dns)")

_CAUSE_WORDS = {
    Code.CRASHLOOP_DNS: "name resolution failed",
    Code.CRASHLOOP_DB_UNREACHABLE: "dependency unreachable",
    Code.CRASHLOOP_OOM: "OOMKilled",
    Code.CRASHLOOP_OTHER: "restarts",
}


# what a waiting / pods.txt status says when the container is crashing right now
_CRASH_STATES = frozenset({"CrashLoopBackOff", "Error", "OOMKilled", "RunContainerError"})
# a row's position in its frame, with the row: rows of several keys merge back in frame order
_Positioned = list[tuple[int, dict[str, Any]]]


@dataclass
class _LogRow:
    """One row of a previous log, reduced to what classification needs."""

    ts: pd.Timestamp | None
    source: str
    line_no: int | None
    level: str | None
    message: str
    exception: str | None  # "type: message" when the parser split one out
    traceback: str | None

    @property
    def text(self) -> str:
        """Everything the row says: message, exception and traceback."""
        return "\n".join(p for p in (self.message, self.exception, self.traceback) if p)

    @property
    def is_exception(self) -> bool:
        return self.exception is not None or bool(_EXCEPTION_LINE.match(self.message))

    @property
    def is_error(self) -> bool:
        if self.is_exception:
            return True
        if self.level is not None:
            return self.level in {"warning", "error", "critical", "fatal"}
        return bool(_ERRORISH.search(self.message))

    def quote(self) -> Evidence:
        said = self.message
        if self.exception and self.exception not in said:
            said = f"{said} | {self.exception}"
        return Evidence(source=self.source, line_no=self.line_no, ts=self.ts, text=said)


@dataclass
class _Container:
    """A restarted container: status fields from pods.json, or what pods.txt says; then its own rows."""

    namespace: str | None
    pod: str
    container: str | None
    restart_count: int
    state: str | None
    is_ready: bool | None
    waiting_reason: str | None = None
    waiting_message: str | None = None
    last_reason: str | None = None
    last_exit_code: int | None = None
    last_signal: int | None = None
    last_message: str | None = None
    last_started_at: pd.Timestamp | None = None
    last_finished_at: pd.Timestamp | None = None
    started_at: pd.Timestamp | None = None
    status_text: str | None = None  # pods.txt STATUS
    status_evidence: Evidence | None = None
    from_text: bool = False
    last_restart_at: pd.Timestamp | None = None  # pods.txt estimate (observation - "28h ago")
    count_known: bool = True  # False: restartCount unreadable (counted unparsed), restarts seen in its status
    # filled by _select: the container's previous-log rows (file order) and events (first_ts order)
    rows: list[_LogRow] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def who(self) -> str:
        return f"{self.pod}/{self.container}" if self.container else self.pod

    @property
    def subject(self) -> str:
        return "/".join(p for p in (self.namespace, self.pod, self.container) if p)


@dataclass
class _Cause:
    code: Code
    quote: str | None = None  # the matched error text, e.g. "[Errno -3] Temporary failure in name resolution"
    row: _LogRow | None = None
    rows: list[_LogRow] = field(default_factory=list)  # previous-log rows to quote
    host: str | None = None
    port: int | None = None
    step: str | None = None
    detail: str | None = None  # extra words for the summary (OOM / SIGKILL evidence)


# ----------------------------------------------------------------------------- select


@dataclass(frozen=True, slots=True)
class _Selection:
    """Every row the rule reads, cut once; each container then reads only its own rows."""

    containers: list[_Container]  # restarted containers, rows and events filled in
    services: dict[str, list[dict[str, Any]]]  # Services by name, frame order
    services_by_ip: dict[str, dict[str, Any]]  # the first Service of each cluster IP
    endpoints: dict[str, list[dict[str, Any]]]  # Endpoints by name, frame order
    has_services: bool
    has_endpoints: bool
    dns_pods: list[dict[str, Any]]  # container statuses of CoreDNS / kube-dns pods


def _by_key(df: pd.DataFrame, *columns: str) -> dict[str, _Positioned]:
    """Rows of ``df`` under each non-null value of any of ``columns`` (a row once per key)."""
    out: dict[str, _Positioned] = {}
    if not len(df):
        return out
    keys = [df[c].astype("string").to_numpy(dtype=object, na_value=None) for c in columns]
    for pos, row in enumerate(records(df)):
        mine = {k[pos] for k in keys if k[pos] is not None}
        for key in mine:
            out.setdefault(key, []).append((pos, row))
    return out


def _restarted(row: Mapping[str, Any]) -> bool:
    """Whether a status row shows an earlier death (back-off, or a last termination)."""
    return (
        text(row["waiting_reason"]) == "CrashLoopBackOff"
        or text(row["last_reason"]) is not None
        or integer(row["last_exit_code"]) is not None
        or instant(row["last_finished_at"]) is not None
    )


def _from_status(frames: Frames, min_restarts: int) -> tuple[list[_Container], set[tuple[str | None, str]]]:
    """Restarted containers of pod status, and the (namespace, pod) of every status row."""
    restarts = frames.restarts
    if not len(restarts):
        return [], set()
    namespaces = restarts["namespace"].astype("string").to_numpy(dtype=object, na_value=None)
    pods = restarts["pod"].astype("string").to_numpy(dtype=object, na_value=None)
    seen = {(ns, pod) for ns, pod in zip(namespaces, pods, strict=True) if pod is not None}
    count = restarts["restart_count"]
    # an unreadable count is judged from the rest of its status (below)
    wanted = ((count >= min_restarts) | count.isna()).fillna(True).to_numpy(dtype=bool)
    out: dict[tuple[str | None, str, str | None], _Container] = {}
    for row in records(restarts[wanted]):
        pod = text(row["pod"])
        if pod is None:
            continue
        n = integer(row["restart_count"])
        known = n is not None
        if n is None and _restarted(row):
            # restartCount unreadable (negative, "lots", 1e400: counted unparsed by the parser)
            # while the status shows the container died before: at least one restart, judged
            n = 1
        if n is None or n < min_restarts:
            continue
        c = _Container(
            namespace=text(row["namespace"]),
            pod=pod,
            container=text(row["container"]),
            restart_count=n,
            state=text(row["state"]),
            is_ready=value(row["is_ready"]),
            waiting_reason=text(row["waiting_reason"]),
            waiting_message=text(row["waiting_message"]),
            last_reason=text(row["last_reason"]),
            last_exit_code=integer(row["last_exit_code"]),
            last_signal=integer(row["last_signal"]),
            last_message=text(row["last_message"]),
            last_started_at=instant(row["last_started_at"]),
            last_finished_at=instant(row["last_finished_at"]),
            started_at=instant(row["started_at"]),
            count_known=known,
        )
        c.status_evidence = Evidence(
            source=str(row["source"]), line_no=None, ts=instant(row["ts"]), text=_status_text(c)
        )
        out[(c.namespace, c.pod, c.container)] = c  # a pod listed twice: its later status wins
    return list(out.values()), seen


def _from_text(frames: Frames, min_restarts: int, seen: set[tuple[str | None, str]]) -> list[_Container]:
    """Restarted pods of pasted ``kubectl get pods`` text that pod status does not cover."""
    pods_with_status = {pod for _, pod in seen}
    out: dict[tuple[str | None, str], _Container] = {}
    for row in records(frames.pods_text):
        n = integer(row["restart_count"])
        pod = text(row["pod"])
        ns = text(row["namespace"])
        if pod is None or n is None or n < min_restarts:
            continue
        # pods.json is the better record; pods.txt is used only for pods it lacks
        if (ns, pod) in seen or (ns is None and pod in pods_with_status):
            continue
        ready, total = integer(row["ready_count"]), integer(row["container_count"])
        c = _Container(
            namespace=ns,
            pod=pod,
            container=None,
            restart_count=n,
            state=None,
            is_ready=None if ready is None or total is None else ready >= total,
            status_text=text(row["status"]),
            from_text=True,
            last_restart_at=instant(row["last_restart_at"]),
        )
        ago = value(row["last_restart_ago_s"])
        restarts_col = f"{n} ({fmt_duration(ago)} ago)" if ago is not None else str(n)
        c.status_evidence = Evidence(
            source=str(row["source"]),
            line_no=integer(row["line_no"]),
            ts=instant(row["ts"]),
            text=f"{pod}  {text(row['ready']) or '?'}  {c.status_text or '?'}  RESTARTS {restarts_col}",
        )
        out[(ns, pod)] = c  # a pod pasted twice: its later line wins
    return list(out.values())


def _status_text(c: _Container) -> str:
    parts = [f"restartCount {c.restart_count}" if c.count_known else "restartCount unreadable"]
    if c.state == "waiting":
        parts.append(
            f"state waiting {c.waiting_reason or ''}".rstrip() + (f": {c.waiting_message}" if c.waiting_message else "")
        )
    elif c.state:
        parts.append(f"state {c.state}" + (f" since {fmt_iso(c.started_at)}" if c.started_at is not None else ""))
    if c.is_ready is not None:
        parts.append("ready" if c.is_ready else "not ready")
    last = []
    if c.last_reason:
        last.append(f"reason {c.last_reason}")
    if c.last_exit_code is not None:
        last.append(f"exitCode {c.last_exit_code}")
    if c.last_started_at is not None:
        last.append(f"startedAt {fmt_iso(c.last_started_at)}")
    if c.last_finished_at is not None:
        last.append(f"finishedAt {fmt_iso(c.last_finished_at)}")
    if c.last_message:
        last.append(f"message {c.last_message[:200]!r}")
    if last:
        parts.append("lastState.terminated: " + ", ".join(last))
    return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class _PreviousLog:
    """The previous-log rows of one log frame, by pod, and the frame's first namespace per pod."""

    by_pod: dict[str, list[dict[str, Any]]]
    first_namespace: dict[str, str | None]
    columns: frozenset[str]


def _previous_logs(frames: Frames, pods: set[str], *, namespaces: bool) -> list[_PreviousLog]:
    """Per log frame, the ``is_previous`` rows of ``pods`` (one vectorised mask per frame)."""
    out = []
    for name in _LOG_FRAMES:
        df = frames[name]
        if df.empty:
            out.append(_PreviousLog({}, {}, frozenset(df.columns)))
            continue
        pod = df["pod"].astype("string")
        mine = pod.isin(pods).fillna(False).to_numpy(dtype=bool)
        previous = df["is_previous"].fillna(False).astype(bool).to_numpy() & mine
        by_pod: dict[str, list[dict[str, Any]]] = {}
        for row in records(df[previous]):
            by_pod.setdefault(str(row["pod"]), []).append(row)
        first_namespace: dict[str, str | None] = {}
        if namespaces:
            # a pod without a namespace: the first row of its pod in each frame says it
            first = df[mine & ~pod.duplicated().to_numpy()]
            first_namespace = dict(zip(first["pod"].astype(str), (text(v) for v in first["namespace"]), strict=True))
        out.append(_PreviousLog(by_pod, first_namespace, frozenset(df.columns)))
    return out


def _log_row(r: Mapping[str, Any], has: frozenset[str]) -> _LogRow:
    exc_type, exc_msg = (
        (text(r.get("exception_type")), text(r.get("exception_message"))) if "exception_type" in has else (None, None)
    )
    exception = f"{exc_type}: {exc_msg}" if exc_type and exc_msg else (exc_type or exc_msg)
    return _LogRow(
        ts=instant(r.get("ts")),
        source=str(r.get("source") or "?"),
        line_no=integer(r.get("line_no")),
        level=text(r.get("level")) if "level" in has else None,
        message=text(r.get("message")) or "",
        exception=exception,
        traceback=text(r.get("traceback")) if "traceback" in has else None,
    )


def _resolve_log(c: _Container, logs: list[_PreviousLog]) -> None:
    """The container's previous-log rows in file order; a pods.txt pod adopts its container and namespace."""
    rows: list[_LogRow] = []
    for log in logs:
        sub = [
            r
            for r in log.by_pod.get(c.pod, ())
            if (c.namespace is None or text(r["namespace"]) == c.namespace)
            and (c.container is None or text(r["container"]) == c.container)
        ]
        if not sub:
            continue
        if c.container is None:
            # pods.txt names no container: adopt the previous log only when it is unambiguous
            names = {text(r["container"]) for r in sub} - {None}
            if len(names) != 1:
                continue
            c.container = names.pop()
        rows.extend(_log_row(r, log.columns) for r in sub)
    rows.sort(key=lambda r: (r.source, r.line_no if r.line_no is not None else -1))
    if c.namespace is None and rows:
        c.namespace = next((log.first_namespace[c.pod] for log in logs if log.first_namespace.get(c.pod)), None)
    c.rows = rows


def _resolve_events(c: _Container, index: Mapping[str, _Positioned]) -> None:
    """The container's events (by pod or object name, its namespace, its container or none), first_ts order."""
    hits = [
        (pos, r)
        for pos, r in index.get(c.pod, ())
        if (c.namespace is None or text(r["namespace"]) in (None, c.namespace))
        and (c.container is None or text(r["container"]) in (None, c.container))
    ]
    # stable by first_ts, events without one last (as DataFrame.sort_values)
    hits.sort(key=lambda pr: (1, 0) if missing(pr[1]["first_ts"]) else (0, pr[1]["first_ts"]))
    c.events = [r for _, r in hits]


def _select(frames: Frames, min_restarts: int) -> _Selection:
    status, seen = _from_status(frames, min_restarts)
    pasted = _from_text(frames, min_restarts, seen)
    containers = status + pasted
    pods = {c.pod for c in containers}
    # a container without a namespace (pasted text, a hand-made status) takes its log's
    logs = _previous_logs(frames, pods, namespaces=any(c.namespace is None for c in containers))
    ev = frames.events
    about = (ev["pod"].astype("string").isin(pods) | ev["object_name"].astype("string").isin(pods)).fillna(False)
    events = _by_key(ev[about.to_numpy(dtype=bool)], "pod", "object_name") if containers else {}
    for c in containers:
        _resolve_log(c, logs)  # first: it may name the container and namespace the events are matched on
        _resolve_events(c, events)
    services, endpoints = frames.services, frames.endpoints
    by_ip: dict[str, dict[str, Any]] = {}
    for row in records(services):
        ip = text(row["cluster_ip"])
        if ip is not None:
            by_ip.setdefault(ip, row)
    restarts = frames.restarts
    dns = restarts[restarts["pod"].astype("string").str.match(_DNS_PODS.pattern, na=False).to_numpy(dtype=bool)]
    return _Selection(
        containers=containers,
        services={k: [r for _, r in v] for k, v in _by_key(services, "service").items()},
        services_by_ip=by_ip,
        endpoints={k: [r for _, r in v] for k, v in _by_key(endpoints, "service").items()},
        has_services=not services.empty,
        has_endpoints=not endpoints.empty,
        dns_pods=records(dns),
    )


# ----------------------------------------------------------------------------- classification


def _first_match(patterns: Iterable[re.Pattern[str]], text: str) -> str | None:
    for pattern in patterns:
        match = pattern.search(text)
        if match:
            return match.group(0).strip()
    return None


def _cause_row(rows: list[_LogRow]) -> tuple[_LogRow | None, Code | None, str | None]:
    """Walk back from the end of the log to the last error that says why it died."""
    fallback: _LogRow | None = None
    for row in reversed(rows):
        if not row.is_error:
            continue
        text = row.text
        quote = _first_match(_DNS, text)
        if quote:
            return row, Code.CRASHLOOP_DNS, quote
        quote = _first_match(_UNREACHABLE, text)
        if quote:
            return row, Code.CRASHLOOP_DB_UNREACHABLE, quote
        if row.is_exception:
            # an exception of another kind ends the search: an older DNS error was not fatal
            return row, None, row.exception or row.message.strip()
        if fallback is None:
            fallback = row
    if fallback is not None:
        return fallback, None, fallback.message.strip()
    return None, None, None


def _host_port(text: str) -> tuple[str | None, int | None]:
    for pattern in (_HOSTPORT_ERRNO, _HOSTPORT_TUPLE):
        match = pattern.search(text)
        if match:
            return match.group(1), int(match.group(2))
    for pattern in (_HOST_LOOKUP, _HOST_RESOLVE):
        match = pattern.search(text)
        if match:
            host = match.group(1)
            port = re.search(rf"(?<![\w.\-]){re.escape(host)}:(\d{{1,5}})\b", text)
            return host, int(port.group(1)) if port else None
    match = _HOSTPORT_DIAL.search(text)
    if match:
        return match.group(1), int(match.group(2))
    host_kw = _HOST_KW.search(text)
    if host_kw:
        port_kw = _PORT_KW.search(text)
        return host_kw.group(1), int(port_kw.group(1)) if port_kw else None
    match = _HOSTPORT_ANY.search(text)
    if match:
        return match.group(1), int(match.group(2))
    return None, None


def _step(rows: list[_LogRow]) -> tuple[str | None, _LogRow | None]:
    """The start-up step that failed, and the row that names it."""
    errors = [r for r in reversed(rows) if r.is_error]
    for r in errors:
        match = _STEP_INIT.search(r.message)
        if match:
            return f"{match.group(1)} init", r
    for r in errors:
        match = _STEP_DURING.search(r.text)
        if match:
            return match.group(1), r
    # a traceback frame `in __init__`: joined into an error row by the Focus parser, or one
    # raw line per row in other logs (then the row quoted is the frame's line)
    texts = [(r.text.splitlines(), [r] * len(r.text.splitlines())) for r in errors]
    texts.append(([r.message for r in rows], list(rows)))
    for lines, owners in texts:
        for k in range(len(lines) - 1, -1, -1):
            if not _STEP_FRAME_INIT.search(lines[k]):
                continue
            # the caller's code line (above this frame) shows the class: `x = FocusManager(settings)`
            for above in reversed(lines[max(0, k - 3) : k]):
                call = _STEP_CALL.search(above)
                if call and not above.lstrip().startswith("File "):
                    return f"{call.group(1)} init", owners[k]
    for r in errors:
        if _STEP_APP.search(r.message):
            return "application startup", r
    return None, None


def _classify(c: _Container) -> _Cause:
    rows = c.rows
    oom_event = next(
        (
            e
            for e in reversed(c.events)
            if _OOM.search(text(e["reason"]) or "") or _OOM.search(text(e["message"]) or "")
        ),
        None,
    )
    status_oom = (c.last_reason or "").lower() == "oomkilled" or (c.status_text or "").lower() == "oomkilled"
    if status_oom or (c.last_exit_code == 137 and (oom_event is not None or bool(_OOM.search(c.last_message or "")))):
        detail = (
            "OOMKilled"
            if status_oom
            else "exit 137 with an OOM " + ("event" if oom_event is not None else "termination message")
        )
        cause = _Cause(Code.CRASHLOOP_OOM, quote="OOMKilled", detail=detail)
        cause.rows = rows[-2:]
        return cause

    row, code, quote = _cause_row(rows)
    if row is None and c.last_message:
        # terminationMessagePolicy FallbackToLogsOnError puts the log tail in the status
        said = c.last_message
        quote = _first_match(_DNS, said)
        code = Code.CRASHLOOP_DNS if quote else None
        if quote is None:
            quote = _first_match(_UNREACHABLE, said)
            code = Code.CRASHLOOP_DB_UNREACHABLE if quote else None
        if code is not None:
            cause = _Cause(code, quote=quote)
            cause.host, cause.port = _host_port(said)
            return cause
    if code is None:
        cause = _Cause(Code.CRASHLOOP_OTHER, quote=quote, row=row)
        if row is not None:
            cause.rows = [row] if row is rows[-1] else [row, rows[-1]]
        elif rows:
            cause.rows = rows[-2:]
        if c.last_exit_code == 137:
            cause.detail = "SIGKILL, not OOMKilled"
        return cause

    if row is None:  # a DNS / unreachable code always comes with its row; keep mypy sure of it
        return _Cause(Code.CRASHLOOP_OTHER, quote=quote)
    cause = _Cause(code, quote=quote, row=row)
    cause.host, cause.port = _host_port(row.text)
    # the same exception is often logged twice (by the app, then by uvicorn): quote the first
    first = row
    if row.exception:
        first = next((r for r in rows if r.exception == row.exception), row)
    cause.step, step_row = _step(rows)
    quoted = [first]
    if step_row is not None and step_row is not first:
        quoted.append(step_row)
    if rows and all(rows[-1] is not q for q in quoted) and rows[-1].is_error:
        quoted.append(rows[-1])
    cause.rows = sorted(quoted, key=lambda r: r.line_no if r.line_no is not None else -1)
    return cause


# ----------------------------------------------------------------------------- target service


@dataclass
class _Target:
    service: str | None = None
    namespace: str | None = None
    endpoints_ready: int | None = None
    sentence: str | None = None
    evidence: Evidence | None = None
    selector: str | None = None


def _service_of(host: str, pod_namespace: str | None) -> tuple[str | None, str | None]:
    parts = host.lower().split(".")
    if len(parts) == 1:
        return parts[0], pod_namespace
    if len(parts) == 2 or (len(parts) >= 3 and parts[2] == "svc"):
        return parts[0], parts[1]
    return None, None  # an external name: nothing in the bundle can say


def _target(sel: _Selection, host: str | None, pod_namespace: str | None, now: pd.Timestamp | None) -> _Target:
    out = _Target()
    if host is None or not (sel.has_services or sel.has_endpoints):
        return out
    when = f"at collection time {fmt_time(now)}" if now is not None else "in the bundle's snapshot"
    snapshot = "a snapshot, not the state at crash time"
    if _IPV4.match(host):
        by_ip = sel.services_by_ip.get(host)
        if by_ip is None:
            return out
        name, ns = text(by_ip["service"]), text(by_ip["namespace"])
    else:
        name, ns = _service_of(host, pod_namespace)
        if name is None:
            return out
    out.service, out.namespace = name, ns

    def pick(index: Mapping[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
        hit = index.get(name, []) if name is not None else []
        return [r for r in hit if text(r["namespace"]) == ns] if ns is not None else hit

    svc, ep = pick(sel.services), pick(sel.endpoints)
    if svc:
        out.selector = text(svc[0]["selector"])
    where = f" in namespace {ns}" if ns else ""
    if ep:
        row = ep[0]
        ready = integer(row["ready_count"]) or 0
        out.endpoints_ready = ready
        out.sentence = f"service {name} had {plural(ready, 'ready endpoint')} {when} ({snapshot})"
        addresses = text(row["addresses"]) or "none"
        out.evidence = Evidence(
            source=str(row["source"]),
            line_no=None,
            ts=instant(row["ts"]),
            text=f"Endpoints {text(row['namespace'])}/{name}: {ready} ready ({addresses}), "
            f"{integer(row['not_ready_count']) or 0} not ready, ports {text(row['ports']) or '?'}",
        )
    elif svc:
        row = svc[0]
        out.sentence = f"service {name} exists but the bundle has no Endpoints for it ({snapshot})"
        out.evidence = Evidence(
            source=str(row["source"]),
            line_no=None,
            ts=instant(row["ts"]),
            text=f"Service {text(row['namespace'])}/{name}: {text(row['type'])} {text(row['cluster_ip'])}, "
            f"ports {text(row['ports'])}",
        )
    elif sel.has_services:
        out.endpoints_ready = 0
        out.sentence = f"there was no Service named {name}{where} {when} ({snapshot})"
    return out


# ----------------------------------------------------------------------------- verdict


@dataclass(frozen=True, slots=True)
class _Verdict:
    """What one container's crash loop is, and the numbers that show it (no prose)."""

    c: _Container
    cause: _Cause
    severity: Severity
    backoff: list[dict[str, Any]]  # its BackOff events, first_ts order
    killing: list[dict[str, Any]]  # its Killing events
    backoff_count: int  # BackOff events, each counted ``count`` times
    backoff_first: pd.Timestamp | None
    backoff_last: pd.Timestamp | None
    interval: float | None  # mean seconds between back-offs
    last_exit: pd.Timestamp | None  # when it last went down
    last_restart: pd.Timestamp | None  # when it last went down or came back
    first_seen: pd.Timestamp | None
    last_seen: pd.Timestamp | None
    target: _Target  # the failing host's Service / Endpoints (DNS and unreachable causes)
    dns_note: str | None = None  # a CoreDNS pod that started around the crashes
    dns_evidence: Evidence | None = None
    dns_started: pd.Timestamp | None = None


def _dns_pod_note(
    sel: _Selection, lo: pd.Timestamp | None, hi: pd.Timestamp | None, window_s: float
) -> tuple[str | None, Evidence | None, pd.Timestamp | None]:
    """A CoreDNS pod (re)started around the crash loop points at start order / DNS outage."""
    if lo is None or hi is None or not sel.dns_pods:
        return None, None, None
    pad = pd.Timedelta(seconds=window_s)
    for row in sel.dns_pods:
        started = instant(row["started_at"])
        if started is not None and lo - pad <= started <= hi + pad:
            if started >= hi:
                rel = f"{fmt_duration((started - hi).total_seconds())} after the last crash"
            elif started <= lo:
                rel = f"{fmt_duration((lo - started).total_seconds())} before the first crash"
            else:
                rel = "during the crashes"
            note = f"DNS pod {row['pod']} started at {fmt_time(started)}, {rel}"
            ev = Evidence(
                source=str(row["source"]),
                line_no=None,
                ts=started,
                text=f"{row['pod']}/{row['container']} started at {fmt_iso(started)}",
            )
            return note, ev, started
    return None, None, None


def _reason_is(events: list[dict[str, Any]], reason: str) -> list[dict[str, Any]]:
    return [e for e in events if text(e["reason"]) == reason]


def _verdict(
    sel: _Selection, c: _Container, now: pd.Timestamp | None, *, recent_s: float, dns_window_s: float
) -> _Verdict:
    cause = _classify(c)
    backoff, killing = _reason_is(c.events, "BackOff"), _reason_is(c.events, "Killing")
    backoff_count = sum(1 if missing(e["count"]) else int(e["count"]) for e in backoff)
    firsts = [t for t in (instant(e["first_ts"]) for e in backoff) if t is not None]
    lasts = [t for t in (instant(e["last_ts"]) for e in backoff) if t is not None]
    backoff_first = min(firsts) if firsts else None
    backoff_last = max(lasts) if lasts else None
    interval = None
    if backoff_count >= 2 and backoff_first is not None and backoff_last is not None:
        interval = (backoff_last - backoff_first).total_seconds() / (backoff_count - 1)

    # when the container last went down / came back
    last_exit = c.last_finished_at or c.last_restart_at
    restart_times = [t for t in (c.last_finished_at, c.last_restart_at, backoff_last) if t is not None]
    if c.state == "running" and c.started_at is not None:
        restart_times.append(c.started_at)
    last_restart = max(restart_times) if restart_times else None
    starts = [
        t for t in (backoff_first, c.last_started_at, cause.row.ts if cause.row else None, last_exit) if t is not None
    ]
    first_seen = min(starts) if starts else last_restart
    last_seen = last_restart or first_seen

    waiting_crash = (c.waiting_reason or c.status_text or "") in _CRASH_STATES
    not_ready = c.is_ready is False and c.state != "terminated" and (c.status_text or "") != "Completed"
    recent = now is not None and last_restart is not None and (now - last_restart).total_seconds() <= recent_s
    severity = Severity.CRITICAL if (waiting_crash or not_ready or recent) else Severity.WARNING

    networked = cause.code in {Code.CRASHLOOP_DNS, Code.CRASHLOOP_DB_UNREACHABLE}
    target = _target(sel, cause.host, c.namespace, now) if networked else _Target()
    dns_note, dns_ev, dns_started = (None, None, None)
    if cause.code is Code.CRASHLOOP_DNS:
        dns_note, dns_ev, dns_started = _dns_pod_note(sel, first_seen, last_exit or last_seen, dns_window_s)
    return _Verdict(
        c=c,
        cause=cause,
        severity=severity,
        backoff=backoff,
        killing=killing,
        backoff_count=backoff_count,
        backoff_first=backoff_first,
        backoff_last=backoff_last,
        interval=interval,
        last_exit=last_exit,
        last_restart=last_restart,
        first_seen=first_seen,
        last_seen=last_seen,
        target=target,
        dns_note=dns_note,
        dns_evidence=dns_ev,
        dns_started=dns_started,
    )


# ----------------------------------------------------------------------------- narration


def _sentence(v: _Verdict, now: pd.Timestamp | None) -> str:
    c, cause, code = v.c, v.cause, v.cause.code
    exit_bits = []
    if c.last_exit_code is not None:
        exit_bits.append(f"exit {c.last_exit_code}" + (f" {c.last_reason}" if c.last_reason else ""))
    elif c.last_reason:
        exit_bits.append(c.last_reason)
    if cause.detail and code is Code.CRASHLOOP_OTHER:
        exit_bits.append(cause.detail)
    when = ""
    if v.last_exit is not None:
        verb = "last exited" if c.last_finished_at is not None else "last at about"
        ago = f"{fmt_duration((now - v.last_exit).total_seconds())} before collection" if now is not None else None
        inner = "; ".join(b for b in (ago, *exit_bits) if b)
        when = f", {verb} {fmt_time(v.last_exit)}" + (f" ({inner})" if inner else "")
    elif exit_bits:
        when = f" ({'; '.join(exit_bits)})"
    if c.state == "waiting":
        now_state = f"; now waiting in {c.waiting_reason or 'waiting'}"
    elif c.from_text:
        now_state = f"; now {c.status_text}" if c.status_text else ""
    elif c.state == "running":
        now_state = "; running and ready since " if c.is_ready else "; running, not ready, since "
        now_state += fmt_time(c.started_at)
    else:
        now_state = f"; now {c.state}" if c.state else ""
    backoff_text = ""
    if v.backoff_count:
        apart = f" about {fmt_duration(v.interval)} apart" if v.interval is not None else ""
        backoff_text = f" ({plural(v.backoff_count, 'BackOff event')}{apart})"
    times = plural(c.restart_count, "time") if c.count_known else "at least once (its restartCount could not be read)"
    said = f"{c.who} restarted {times}{backoff_text}{when}{now_state}"
    if code in {Code.CRASHLOOP_DNS, Code.CRASHLOOP_DB_UNREACHABLE}:
        src = "its previous log ends in" if cause.row is not None else "its termination message says"
        said += f"; {src} `{cause.quote}`"
        if cause.host:
            said += f" for {cause.host}" + (f":{cause.port}" if cause.port else "")
        if cause.step:
            said += f" during {cause.step}"
        if v.target.sentence:
            said += f"; {v.target.sentence}"
        if v.dns_note:
            said += f"; {v.dns_note}"
    elif code is Code.CRASHLOOP_OOM:
        said += f"; the kernel killed it for memory ({cause.detail})"
    elif cause.quote:
        said += f"; its previous log ends in `{shorten(cause.quote)}`"
    elif not c.rows:
        said += "; no previous log in the bundle"
    else:
        said += "; its previous log shows no error"
    return said + "."


def _quotes(v: _Verdict) -> tuple[Evidence, ...]:
    """At most 5: status, BackOff, the cause line, the target, then the rest."""
    event_quotes = [
        Evidence(
            source=str(e["source"]),
            line_no=None,
            ts=instant(e["last_ts"]) or instant(e["ts"]),
            text=f"{text(e['type'])} {text(e['reason'])} x{integer(e['count']) or 1} "
            f"({fmt_iso(instant(e['first_ts']))} .. {fmt_iso(instant(e['last_ts']))}): {text(e['message'])}",
        )
        for events in (v.backoff, v.killing)
        if events
        for e in events[-1:]
    ]
    log_quotes = [r.quote() for r in v.cause.rows]
    ranked = [
        (0, v.c.status_evidence),
        (1, event_quotes[0] if event_quotes else None),
        (2, log_quotes[0] if log_quotes else None),
        (3, v.target.evidence),
        *[(2, q) for q in log_quotes[1:]],
        *[(1, q) for q in event_quotes[1:]],
        (4, v.dns_evidence),
    ]
    chosen = [(order, q) for order, q in ranked if q is not None][:5]
    return tuple(q for _, q in sorted(chosen, key=lambda oq: oq[0]))


def _metrics(v: _Verdict, now: pd.Timestamp | None) -> dict[str, Any]:
    c, cause, target = v.c, v.cause, v.target
    return {
        "restart_count": c.restart_count if c.count_known else None,
        "last_exit_code": c.last_exit_code,
        "last_reason": c.last_reason or (c.status_text if c.from_text else None),
        "last_started_at": c.last_started_at,
        "last_finished_at": c.last_finished_at,
        "last_restart_at": v.last_restart,
        "last_restart_age_s": round((now - v.last_restart).total_seconds(), 3)
        if now is not None and v.last_restart is not None
        else None,
        "run_s": (c.last_finished_at - c.last_started_at).total_seconds()
        if c.last_finished_at is not None and c.last_started_at is not None
        else None,
        "state": c.state or c.status_text,
        "waiting_reason": c.waiting_reason,
        "is_ready": c.is_ready,
        "backoff_events": v.backoff_count,
        "backoff_first": v.backoff_first,
        "backoff_last": v.backoff_last,
        "mean_backoff_interval_s": v.interval,
        "cause": cause.quote,
        "host": cause.host,
        "port": cause.port,
        "step": cause.step,
        "service": target.service,
        "endpoints_ready": target.endpoints_ready,
        "endpoints_at": now if target.sentence else None,
        "dns_pod_started_at": v.dns_started,
        "has_previous_log": bool(c.rows),
        "status_source": "pods.txt" if c.from_text else "pods.json",
    }


def _narrate(v: _Verdict, now: pd.Timestamp | None) -> Finding:
    c, code = v.c, v.cause.code
    component = _component(c)
    return Finding(
        code=code,
        severity=v.severity,
        title=f"{component} crash loop: {_CAUSE_WORDS[code]}"
        if code is not Code.CRASHLOOP_OTHER
        else f"{component} restarts",
        summary=_sentence(v, now),
        component=component,
        first_seen=v.first_seen,
        last_seen=v.last_seen,
        evidence=_quotes(v),
        next_steps=_next_steps(code, c, v.cause, v.target),
        subject=c.subject,
        metrics=_metrics(v, now),
    )


# ----------------------------------------------------------------------------- names and next steps


def _component(c: _Container) -> str:
    if c.container:
        return c.container
    # Deployment pod `name-<rs hash>-<suffix>`, StatefulSet `name-0`, Job `name-<suffix>`
    for pattern in (r"-[a-z0-9]{8,10}-[a-z0-9]{5}$", r"-\d+$", r"-[a-z0-9]{5}$"):
        stripped = re.sub(pattern, "", c.pod)
        if stripped != c.pod:
            return stripped
    return c.pod


def _next_steps(code: Code, c: _Container, cause: _Cause, target: _Target) -> tuple[str, ...]:
    n = f"-n {c.namespace} " if c.namespace else ""
    ctr = f" -c {c.container}" if c.container else ""
    logs = f"kubectl {n}logs {c.pod}{ctr} --previous --timestamps | tail -100"
    host = cause.host or "<host>"
    svc = target.service or (cause.host.split(".")[0] if cause.host else None)
    tn = f"-n {target.namespace} " if target.namespace else n
    if code is Code.CRASHLOOP_DNS:
        steps = [
            f"Check that the name {host} resolves from inside the cluster now: "
            f"`kubectl {n}run dns-check --rm -it --restart=Never --image=busybox:1.36 -- nslookup {host}`",
            "Check CoreDNS health and restarts around the crash: "
            "`kubectl -n kube-system get pods -l k8s-app=kube-dns -o wide && "
            "kubectl -n kube-system logs -l k8s-app=kube-dns --since=48h --tail=200`",
        ]
        if svc:
            steps.append(f"Check the Service and its endpoints: `kubectl {tn}get service,endpoints {svc} -o wide`")
        steps.append(
            f"Make {c.container or c.pod} wait for / retry {host} at start-up instead of exiting "
            f"(start order); read the crash: `{logs}`"
        )
        return tuple(steps)
    if code is Code.CRASHLOOP_DB_UNREACHABLE:
        steps = []
        if svc:
            steps.append(f"Check the target has ready endpoints: `kubectl {tn}get service,endpoints {svc} -o wide`")
        if target.selector:
            labels = ",".join(f"{k}={v}" for k, v in sorted(_json_obj(target.selector).items()))
            steps.append(
                f"Check the database pods and their logs: `kubectl {tn}get pods -l {labels} -o wide && "
                f"kubectl {tn}logs -l {labels} --since=2h --tail=100`"
            )
        port = f" {cause.port}" if cause.port else " <port>"
        steps.append(
            f"Test the port from inside the cluster: "
            f"`kubectl {n}run port-check --rm -it --restart=Never --image=busybox:1.36 -- nc -zv -w 3 {host}{port}`"
        )
        steps.append(f"Read the crash: `{logs}`")
        return tuple(steps[:4])
    if code is Code.CRASHLOOP_OOM:
        sel = (
            f'{{.spec.containers[?(@.name=="{c.container}")].resources}}'
            if c.container
            else "{.spec.containers[*].resources}"
        )
        return (
            f"Compare the memory limit with real use: `kubectl {n}get pod {c.pod} -o jsonpath='{sel}'` "
            f"and `kubectl {n}top pod {c.pod} --containers`",
            f"Confirm the kill reason: `kubectl {n}describe pod {c.pod} | grep -A6 'Last State'`",
            f"Raise the limit or find what grows before the kill: `{logs}`",
        )
    return (
        f"Read the end of the crashed container's log: `{logs}`",
        f"Check exit code, reason and probes: `kubectl {n}describe pod {c.pod}`",
        f"List the pod's events: `kubectl {n}get events --field-selector involvedObject.name={c.pod} "
        "--sort-by=.lastTimestamp`",
    )


def _json_obj(raw: str) -> dict[str, Any]:
    try:
        loaded = json.loads(raw)
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def crashloop(
    frames: Frames,
    *,
    min_restarts: int = 1,
    recent_s: float = 3600.0,
    dns_window_s: float = 600.0,
) -> list[Finding]:
    """Find restarted containers and classify why they crashed.

    One finding per container with at least ``min_restarts`` restarts (pod status in
    ``frames.restarts``; pasted ``kubectl get pods`` text in ``frames.pods_text`` for pods
    that have no status; a container listed twice is judged once, on its later status).
    The cause comes from the container's previous log,
    searched backwards from its end for the last error: OOMKilled first (status reason, or exit 137
    with an OOM event or termination message), then name resolution, then a reachable name
    whose server does not answer, else other. Emits ``CRASHLOOP_DNS``,
    ``CRASHLOOP_DB_UNREACHABLE``, ``CRASHLOOP_OOM`` and ``CRASHLOOP_OTHER``.

    Severity is critical when the container is waiting in CrashLoopBackOff (or another
    crash state), is not ready, or restarted within ``recent_s`` of the bundle's
    ``created_at`` (a bundle without one gets no recency check); warning when it has been
    stable since. Service / Endpoints of the failing host are quoted as what they were at
    collection time, not at crash time.

    Parameters
    ----------
    frames
        Parsed frames; reads ``restarts``, ``pods_text``, ``events``, ``services``,
        ``endpoints`` and the previous-log rows (``is_previous``) of ``focus``,
        ``analyzer``, ``rabbitmq_log`` and ``other_logs``.
    min_restarts
        Fewest restarts (``restartCount``) that make a finding. Default 1.
    recent_s
        A restart at most this many seconds before collection makes the finding critical.
        Default 3600 (1 h).
    dns_window_s
        For DNS causes, a CoreDNS / kube-dns pod that started within this many seconds of
        the crashes is named (start order). Default 600 (10 min).

    Returns
    -------
    list[Finding]
        One per restarted container (subject ``namespace/pod/container``); ``[]`` when no
        container restarted. ``metrics`` has ``restart_count``, ``last_exit_code``,
        ``last_reason``, ``last_finished_at``, ``host``, ``port``, ``step``,
        ``endpoints_ready``, ``backoff_events`` and more.

    Examples
    --------
    >>> import panda_analysis as pa
    >>> [(f.code, f.severity, f.subject) for f in pa.diagnose.crashloop(pa.samples.waiting_for_fiber().frames())]
    [(<Code.CRASHLOOP_DNS: 'CRASHLOOP_DNS'>, <Severity.WARNING: 'warning'>, 'panda/panda-panda-focus-server-78dbcfd9d9-kjj77/focus-server')]
    >>> pa.diagnose.crashloop(pa.samples.healthy().frames())
    []
    """
    # no created_at: no collection time, so no recency and no "before collection" (not guessed)
    now = frames.created_at
    sel = _select(frames, min_restarts)
    out = [_narrate(_verdict(sel, c, now, recent_s=recent_s, dns_window_s=dns_window_s), now) for c in sel.containers]
    return sorted(out, key=lambda f: (f.severity.rank, f.subject))
