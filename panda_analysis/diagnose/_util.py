"""Helpers shared by the rules, each declared once.

* missing values: :func:`missing` and the accessors :func:`value`, :func:`text`,
  :func:`integer`, :func:`number`, :func:`instant` (pandas' NA, NaT and NaN read as
  ``None``), and :func:`is_value` / :func:`records` for whole columns;
* sentences: :func:`fmt_time`, :func:`fmt_iso`, :func:`fmt_duration`, :func:`fmt_span`,
  :func:`plural`, :func:`shorten`;
* evidence: :func:`evidence`, :func:`pick_quotes`, :func:`quote_positions`;
* hosts and pods: :func:`host_of` (the host of a ``host:port`` client address, IPv6 too),
  :func:`log_source` (namespace, pod and container of a bundle's log file);
* jobs: :data:`JOB_PREFIX`, :func:`job_name`, :func:`job_key` (natural order of job ids),
  :func:`job_of_pod` (the job id a pod name spells);
* the cluster's names: the platform's defaults (:data:`NAMESPACE`, :data:`RABBITMQ_POD`,
  :data:`FOCUS_SERVICE`, :data:`FOCUS_LABEL`, :data:`FOCUS_PORT`), the component of a pod
  (:func:`component_of`), and where the RabbitMQ server and the Focus Server run in
  *this* bundle (:func:`rabbitmq_pod`, :func:`focus_server`), found in the frames, with
  the defaults as fallback.

Rules take their names from here so that a next step, a plot and a timeline row name the
same pod (issue #12: the RabbitMQ pod, the Focus service and label were constants in four
modules).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from panda_analysis.findings import Evidence

if TYPE_CHECKING:
    from panda_analysis.schema import Frames

__all__ = [
    "COMPONENTS",
    "FOCUS_LABEL",
    "FOCUS_PORT",
    "FOCUS_SERVICE",
    "JOB_PREFIX",
    "NAMESPACE",
    "RABBITMQ_POD",
    "FocusServer",
    "component_of",
    "evidence",
    "fmt_duration",
    "fmt_iso",
    "fmt_span",
    "fmt_time",
    "focus_server",
    "host_of",
    "instant",
    "integer",
    "is_value",
    "job_key",
    "job_name",
    "job_of_pod",
    "log_source",
    "missing",
    "number",
    "pick_quotes",
    "plural",
    "quote_positions",
    "rabbitmq_pod",
    "records",
    "shorten",
    "text",
    "value",
]

# --------------------------------------------------------------------------- missing values


def missing(v: Any) -> bool:
    """Whether ``v`` is a missing value: ``None``, ``pd.NA``, ``pd.NaT`` or a float NaN.

    >>> [missing(v) for v in (None, pd.NA, pd.NaT, float("nan"), 0, "")]
    [True, True, True, True, False, False]
    """
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    return isinstance(v, float) and v != v


def value(v: Any) -> Any:
    """``None`` for a missing value, the value otherwise."""
    return None if missing(v) else v


def text(v: Any) -> str | None:
    """``str(v)``, or ``None`` for a missing value."""
    return None if missing(v) else str(v)


def integer(v: Any) -> int | None:
    """``int(v)``, or ``None`` for a missing value."""
    return None if missing(v) else int(v)


def number(v: Any) -> float | None:
    """``float(v)``, or ``None`` for a missing value."""
    return None if missing(v) else float(v)


def instant(v: Any) -> pd.Timestamp | None:
    """``pd.Timestamp(v)``, or ``None`` for a missing value."""
    return None if missing(v) else pd.Timestamp(v)


def is_value(series: pd.Series, wanted: str) -> pd.Series:
    """``series == wanted`` compared as text, as plain booleans (a null is not equal)."""
    return (series.astype("string") == wanted).fillna(False).astype(bool)


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``df`` as dicts, in frame order (``[]`` for an empty frame)."""
    return df.to_dict("records") if len(df) else []


# --------------------------------------------------------------------------- sentences


def fmt_time(ts: pd.Timestamp | None) -> str:
    """``2025-11-08 13:18:33 UTC`` (seconds; fractions only when the time has them)."""
    if ts is None or ts is pd.NaT:
        return "unknown time"
    ts = pd.Timestamp(ts)
    out = ts.strftime("%Y-%m-%d %H:%M:%S")
    if ts.microsecond:
        out += f".{ts.microsecond // 1000:03d}"
    return f"{out} UTC"


def fmt_iso(ts: pd.Timestamp | None) -> str | None:
    """``2025-11-08T13:18:33Z`` as Kubernetes prints times (whole seconds), ``None`` for no time."""
    return None if ts is None else ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def fmt_span(start: pd.Timestamp, end: pd.Timestamp) -> str:
    """``2025-11-08 13:18:00 to 13:19:29 UTC`` (the date once when both share it).

    >>> fmt_span(pd.Timestamp("2025-11-08T13:18:00Z"), pd.Timestamp("2025-11-08T13:19:29Z"))
    '2025-11-08 13:18:00 to 13:19:29 UTC'
    """
    if start.date() == end.date():
        return f"{fmt_time(start)[:-4]} to {fmt_time(end)[11:]}"
    return f"{fmt_time(start)} to {fmt_time(end)}"


def fmt_duration(seconds: float | pd.Timedelta | None) -> str:
    """Human duration: ``0.29 s``, ``41 s``, ``5 min 12 s``, ``28 h``, ``2 d 4 h``."""
    if seconds is None:
        return "unknown"
    if isinstance(seconds, pd.Timedelta):
        seconds = seconds.total_seconds()
    s = float(seconds)
    if s != s:
        return "unknown"
    if s < 10:
        return f"{s:.2f} s".replace(".00 s", " s")
    if s < 120:
        return f"{s:.0f} s"
    if s < 3600:
        m, rest = divmod(round(s), 60)
        return f"{m} min {rest} s" if rest else f"{m} min"
    if s < 86400 * 2:
        h, rest = divmod(round(s), 3600)
        m = rest // 60
        return f"{h} h {m} min" if m else f"{h} h"
    d, rest = divmod(round(s), 86400)
    h = rest // 3600
    return f"{d} d {h} h" if h else f"{d} d"


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 restart``, ``4 restarts``."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def shorten(line: str, limit: int = 160) -> str:
    """``line`` with its whitespace runs made one space, cut to ``limit`` characters with ``…``."""
    line = " ".join(line.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


# --------------------------------------------------------------------------- evidence


def _row_text(row: Any, column: str | Iterable[str]) -> str:
    columns = [column] if isinstance(column, str) else list(column)
    parts = []
    for c in columns:
        v = row.get(c)
        if missing(v):
            continue
        parts.append(str(v))
    return " ".join(parts)


def evidence(df: pd.DataFrame, *, text: str | Iterable[str] = "message", limit: int = 3) -> tuple[Evidence, ...]:
    """Quote up to ``limit`` rows of ``df`` (in order) as Evidence (needs ts/source/line_no)."""
    out = []
    for _, row in df.head(limit).iterrows():
        out.append(Evidence.from_row(row.to_dict(), text=_row_text(row, text)))
    return tuple(out)


def quote_positions(n: int, *, limit: int = 3) -> list[int]:
    """Positions of the first, middle and last of ``n`` rows (at most ``limit``, in order).

    >>> quote_positions(10), quote_positions(2), quote_positions(10, limit=1)
    ([0, 4, 9], [0, 1], [0])
    """
    if n <= limit:
        return list(range(n))
    if limit == 1:
        return [0]
    return sorted({round(i * (n - 1) / (limit - 1)) for i in range(limit)})


def pick_quotes(df: pd.DataFrame, *, limit: int = 3) -> pd.DataFrame:
    """First, middle and last rows of ``df`` (what an analyst wants quoted from a long run)."""
    if len(df) <= limit:
        return df
    return df.iloc[quote_positions(len(df), limit=limit)]


# --------------------------------------------------------------------------- hosts


def host_of(addr: Any) -> str | None:
    """Host part of a client address: ``10.42.0.0:33200`` → ``10.42.0.0``, ``[::1]:5000`` → ``::1``.

    A bare address (IPv4, or IPv6 with several ``:``) is its own host; missing or blank is ``None``.

    >>> [host_of(a) for a in ("10.42.0.0:33200", "[::1]:5000", "fe80::1", "10.0.0.7", " ", None)]
    ['10.42.0.0', '::1', 'fe80::1', '10.0.0.7', None, None]
    """
    if missing(addr):
        return None
    out = str(addr).strip()
    if not out:
        return None
    if out.startswith("["):
        return out[1 : out.index("]")] if "]" in out else out[1:]
    if out.count(":") == 1:
        return out.split(":", 1)[0]
    return out


# the bundle's pod logs: logs/<namespace>/<pod>/<container>.log and <container>.previous.log
_LOG_SOURCE = re.compile(r"^logs/(?P<ns>[^/]+)/(?P<pod>[^/]+)/(?P<container>[^/]+?)(?:\.previous)?\.log$")


def log_source(source: Any) -> tuple[str, str, str] | None:
    """``(namespace, pod, container)`` of a pod log's ``source`` (bundle contract), else None.

    >>> log_source("logs/panda/rabbitmq-panda-0/rabbitmq.previous.log")
    ('panda', 'rabbitmq-panda-0', 'rabbitmq')
    >>> log_source("k8s/pods.json#/items/3") is None
    True
    """
    found = _LOG_SOURCE.match(text(source) or "")
    return (found.group("ns"), found.group("pod"), found.group("container")) if found else None


# --------------------------------------------------------------------------- jobs

#: Kubernetes Jobs, their pods and their RabbitMQ queues are named ``grpc-job-<job_id>[-<suffix>]``.
JOB_PREFIX = "grpc-job-"
_SUFFIX = re.compile(r"[a-z0-9]+")


def job_name(job_id: str) -> str:
    """The Job (and queue) name of a job id: ``19-5`` → ``grpc-job-19-5``."""
    return f"{JOB_PREFIX}{job_id}"


@functools.lru_cache(maxsize=65536)  # a stage table asks once per row, for a few thousand ids
def job_key(job_id: str) -> tuple[tuple[int, Any], ...]:
    """Natural order of job ids: ``19-5`` < ``19-6`` < ``19-10``.

    >>> sorted(["19-10", "19-6", "19-5"], key=job_key)
    ['19-5', '19-6', '19-10']
    """
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[-_.]", job_id))


def job_of_pod(pod: str) -> str | None:
    """The job id in a pod name ``grpc-job-<job_id>-<suffix>`` (one-word suffix), else None.

    The suffix has no ``-``, so the id is everything between the prefix and the last
    ``-``: one id per name, found without trying every job.

    >>> job_of_pod("grpc-job-19-5-cj8hc"), job_of_pod("rabbitmq-panda-0")
    ('19-5', None)
    """
    if not pod.startswith(JOB_PREFIX):
        return None
    job_id, dash, suffix = pod[len(JOB_PREFIX) :].rpartition("-")
    return job_id if dash and _SUFFIX.fullmatch(suffix) else None


# --------------------------------------------------------------------------- the cluster's names

#: The platform's namespace, when the bundle names none.
NAMESPACE = "panda"
#: The RabbitMQ server's pod (StatefulSet ``rabbitmq-panda``), when the bundle shows none.
RABBITMQ_POD = "rabbitmq-panda-0"
#: The Focus Server's Service, when the bundle has no Service named like it.
FOCUS_SERVICE = "panda-focus-server"
#: The label selector of the Focus Server's pods (Helm chart ``panda``).
FOCUS_LABEL = "app.kubernetes.io/name=panda-panda-focus-server"
#: The Focus Server's HTTP port, when its Service lists none.
FOCUS_PORT = 5000

#: Pod / container name → component, the names findings use (the first needle found wins).
COMPONENTS: tuple[tuple[str, str], ...] = (
    ("ingress-nginx", "ingress-nginx"),
    ("focus-server", "focus-server"),
    ("rabbitmq", "rabbitmq"),
    ("grpc-job", "grpc-job"),
    ("baby-analyzer", "grpc-job"),
    ("mongodb", "mongodb"),
    ("mongo", "mongodb"),
    ("prisma-web-app", "prisma-web-app"),
    ("webapp", "prisma-web-app"),
    ("segy-recorder", "segy-recorder"),
    ("coredns", "coredns"),
)

_PORT = re.compile(r":(\d+)/")


def component_of(*names: Any, default: str = "kubernetes") -> str:
    """The component a pod / container belongs to: a known one its names contain, else the container.

    >>> component_of("panda-panda-focus-server-78dbcfd9d9-kjj77", "focus-server")
    'focus-server'
    >>> component_of("worker-5d9c7b8f6d-abcde", "worker"), component_of(None)
    ('worker', 'kubernetes')
    """
    for name in names:
        found = text(name)
        if not found:
            continue
        lowered = found.lower()
        for needle, component in COMPONENTS:
            if needle in lowered:
                return component
    for name in names[1:]:  # the container name, when it is not a known component
        if text(name):
            return str(name)
    return default


def rabbitmq_pod(frames: Frames) -> tuple[str, str]:
    """``(namespace, pod)`` of the RabbitMQ server, for ``kubectl exec`` next steps.

    The first pod named ``rabbitmq*`` or labelled with a ``rabbitmq`` app, else the pod of
    the RabbitMQ server log, else :data:`NAMESPACE` / :data:`RABBITMQ_POD`.
    """
    pods = frames.pods
    if len(pods):
        name = pods["pod"].astype("string")
        app = pods["app"].astype("string").fillna("")
        hit = (name.str.startswith("rabbitmq") | app.str.contains("rabbitmq", regex=False)).fillna(False).astype(bool)
        rabbit = pods[hit.to_numpy()]
        if len(rabbit):
            return str(rabbit["namespace"].iloc[0]), str(rabbit["pod"].iloc[0])
    log = frames.rabbitmq_log.dropna(subset=["pod"])
    if len(log):
        return str(log["namespace"].iloc[0]), str(log["pod"].iloc[0])
    return NAMESPACE, RABBITMQ_POD


@dataclass(frozen=True, slots=True)
class FocusServer:
    """Where the Focus Server runs in a bundle: what copy-pasteable commands name."""

    namespace: str | None  # its pod's namespace (None: the bundle does not say)
    pod: str | None  # the pod that logged last (None: no log and no pod named like it)
    service: str | None  # its Service (None: no Service named like it)
    service_namespace: str | None
    port: int | None  # the Service's port (None: not listed)

    def url(self, namespace: str | None = None) -> str:
        """``http://<service>.<namespace>:<port>``; the defaults for what the bundle lacks."""
        if self.service is not None:
            return f"http://{self.service}.{self.service_namespace}:{self.port or FOCUS_PORT}"
        return f"http://{FOCUS_SERVICE}.{namespace or self.namespace or NAMESPACE}:{FOCUS_PORT}"


def focus_server(frames: Frames) -> FocusServer:
    """Find the Focus Server in ``frames``: its pod, namespace, Service and port.

    The pod is the one of the newest row of the Focus log (its current container; the
    previous log only when there is no other), else the first pod named ``*focus-server*``.
    The Service is the first named ``*focus-server*`` (else ``*focus*``), its port the
    first one it lists.

    >>> import panda_analysis as pa
    >>> found = pa.diagnose._util.focus_server(pa.samples.waiting_for_fiber().frames())
    >>> found.pod, found.service, found.port
    ('panda-panda-focus-server-78dbcfd9d9-kjj77', 'panda-focus-server', 5000)
    """
    namespace = pod = None
    focus = frames.focus
    if len(focus):
        previous = focus["is_previous"].fillna(False).astype(bool).to_numpy()
        rows = focus[~previous] if (~previous).any() else focus
        rows = rows[rows["pod"].notna().to_numpy()]
        if len(rows):
            ts = rows["ts"].reset_index(drop=True)
            at = int(ts[::-1].idxmax()) if ts.notna().any() else len(rows) - 1
            namespace, pod = text(rows["namespace"].iloc[at]), text(rows["pod"].iloc[at])
    if pod is None and len(frames.pods):
        pods = frames.pods
        named = pods[pods["pod"].astype("string").str.contains("focus-server", regex=False).fillna(False).to_numpy()]
        if len(named):
            namespace, pod = text(named["namespace"].iloc[0]), text(named["pod"].iloc[0])
    service = service_ns = None
    port = None
    services = frames.services
    if len(services):
        names = services["service"].astype("string")
        for needle in ("focus-server", "focus"):
            hit = services[names.str.contains(needle, regex=False).fillna(False).to_numpy()]
            if len(hit):
                service, service_ns = text(hit["service"].iloc[0]), text(hit["namespace"].iloc[0])
                found = _PORT.search(text(hit["ports"].iloc[0]) or "")
                port = int(found.group(1)) if found else None
                break
    return FocusServer(namespace=namespace, pod=pod, service=service, service_namespace=service_ns, port=port)
