"""One declaration per DataFrame: ordered columns, dtypes and meanings.

Every parser ends with ``schema.<FRAME>.conform(df)``: columns are ordered, missing ones
added as nulls, dtypes cast, timestamps pinned to ``datetime64[ns, UTC]``. An empty input
gives an empty frame with the same columns and dtypes, so code downstream never branches
on ``None``. :meth:`FrameSchema.doc_table` renders the column table that parser
docstrings and the README show, so the column list is written once.

Conventions (DESIGN.md, STYLE.md): ``ts`` first, UTC, nanoseconds; ``source`` and
``line_no`` on every row (``line_no`` is null for single JSON documents, whose ``source``
carries a JSON pointer); units in names (``_s``, ``_bytes``, ``_count``, ``_m``);
booleans ``is_*``; nullable integers; ``category`` for low-cardinality strings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from panda_analysis._time import MAX_INSTANT, MIN_INSTANT, UTC_NS
from panda_analysis.errors import SchemaError

__all__ = [
    "FRAMES",
    "STATE_FRAMES",
    "Column",
    "FrameSchema",
    "Frames",
    "documented",
]


@dataclass(frozen=True, slots=True)
class Column:
    """One column: name, pandas dtype, one-line meaning."""

    name: str
    dtype: str
    doc: str


_INT_LIMITS = {"Int16": (-(2**15), 2**15 - 1), "Int32": (-(2**31), 2**31 - 1), "Int64": (-(2**63), 2**63 - 1)}


def _in_ns_range(times: pd.Series) -> pd.Series:
    """``times`` (tz-aware, any unit) with instants datetime64[ns] cannot hold set to NaT, as ns."""
    if times.dt.unit != "ns":
        inside = times.isna() | ((times >= MIN_INSTANT) & (times <= MAX_INSTANT))
        times = times.where(inside)
    return times.dt.as_unit("ns")


def _cast(series: pd.Series, dtype: str) -> pd.Series:
    # a column already of its dtype is kept as it is (no copy: a 1 GiB access log's frame)
    if dtype == UTC_NS:
        if str(series.dtype) == UTC_NS:
            return series
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            return _in_ns_range(series.dt.tz_convert("UTC"))
        if pd.api.types.is_datetime64_dtype(series.dtype):
            return _in_ns_range(series.dt.tz_localize("UTC"))
        if series.isna().all():
            return pd.Series(pd.NaT, index=series.index, dtype=UTC_NS)
        parsed = pd.to_datetime(series, utc=True, format="ISO8601", errors="coerce")
        return _in_ns_range(parsed)
    if dtype in _INT_LIMITS:
        if str(series.dtype) == dtype:
            return series
        numeric = pd.to_numeric(series, errors="coerce")
        # values that do not fit (or are fractional) become null rather than raising;
        # conform() counts them. (`< high + 1`: a float 2**63 - 1 rounds up to 2**63.)
        low, high = _INT_LIMITS[dtype]
        numeric = numeric.where((numeric >= low) & (numeric < high + 1))
        numeric = numeric.where(numeric.isna() | (numeric == numeric.round()))
        return numeric.astype(dtype)
    if dtype == "float64":
        if series.dtype == "float64":
            return series
        return pd.to_numeric(series, errors="coerce").astype("float64")
    if dtype == "boolean":
        if str(series.dtype) == "boolean":
            return series
        return series.astype("object").where(series.notna(), None).astype("boolean")
    if dtype == "category":
        if isinstance(series.dtype, pd.CategoricalDtype):
            return series
        return series.astype("string").astype("category")
    if dtype == "string":
        if str(series.dtype) == "string":
            return series
        return series.astype("string")
    return series.astype(dtype)


_EMPTY: dict[str, pd.DataFrame] = {}


@dataclass(frozen=True)
class FrameSchema:
    """The declaration of one frame: its name, purpose and ordered columns."""

    name: str
    doc: str
    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        """Column names in order."""
        return [c.name for c in self.columns]

    @property
    def dtypes(self) -> dict[str, str]:
        """Column name → dtype."""
        return {c.name: c.dtype for c in self.columns}

    def empty(self) -> pd.DataFrame:
        """An empty frame with every column at its dtype (a fresh copy each call)."""
        cached = _EMPTY.get(self.name)
        if cached is None:
            cached = _EMPTY[self.name] = self.conform(pd.DataFrame({name: [] for name in self.names}))
        out = cached.copy()
        out.attrs = {"schema": self.name, "unparsed": 0, "unparsed_sample": []}
        return out

    def conform(
        self,
        df: pd.DataFrame | Iterable[Mapping[str, Any]],
        *,
        unparsed: int = 0,
        unparsed_sample: Iterable[str] = (),
    ) -> pd.DataFrame:
        """Return ``df`` with exactly this schema's columns, in order, at their dtypes.

        Missing columns are added as nulls, extra columns dropped, timestamps converted
        to UTC nanoseconds. ``df`` may also be an iterable of row dicts. The result's
        ``attrs`` carry ``schema``, ``unparsed`` and ``unparsed_sample``.

        A value a time or integer column cannot hold (a time outside datetime64[ns], a
        number beyond the column's range or fractional) is null in the result and
        counted in ``unparsed`` with its row's ``source:line_no``: parsers should count
        such values themselves, with a better place and reason; this is the safety net
        that keeps one of them from raising or vanishing silently.
        """
        frame = df if isinstance(df, pd.DataFrame) else pd.DataFrame.from_records(list(df))
        data = {}
        lost: list[str] = []
        n = len(frame)
        for column in self.columns:
            if column.name in frame.columns:
                series = frame[column.name]
            else:
                series = pd.Series([None] * n, index=frame.index, dtype="object")
            data[column.name] = _cast(series, column.dtype)
            if column.dtype == UTC_NS or column.dtype in _INT_LIMITS:
                lost.extend(_lost(frame, series, data[column.name], column))
        out = pd.DataFrame(data, index=pd.RangeIndex(n), copy=False)
        sample = list(unparsed_sample)
        sample.extend(lost[: max(0, _SAMPLE - len(sample))])
        out.attrs = {
            "schema": self.name,
            "unparsed": int(unparsed) + len(lost),
            "unparsed_sample": sample,
        }
        return out

    def validate(self, df: pd.DataFrame) -> None:
        """Raise :class:`SchemaError` unless ``df`` has this schema's columns and dtypes."""
        missing = [c for c in self.names if c not in df.columns]
        if missing:
            msg = f"frame {self.name!r} lacks columns {missing}; build it with schema.{self.name.upper()}.conform()"
            raise SchemaError(msg)
        wrong = {
            c.name: str(df[c.name].dtype)
            for c in self.columns
            if str(df[c.name].dtype) != c.dtype
        }
        if wrong:
            msg = f"frame {self.name!r} has columns of the wrong dtype {wrong}; expected {self.dtypes}"
            raise SchemaError(msg)
        if list(df.columns[: len(self.names)]) != self.names:
            msg = f"frame {self.name!r} columns are out of order: {list(df.columns)}"
            raise SchemaError(msg)

    def doc_table(self) -> str:
        """The column table as Markdown (used in docstrings and the README)."""
        rows = ["| column | dtype | meaning |", "|---|---|---|"]
        rows += [f"| `{c.name}` | {c.dtype} | {c.doc} |" for c in self.columns]
        return "\n".join(rows)


#: Most entries kept in ``attrs["unparsed_sample"]`` (as :class:`panda_analysis._lines.Unparsed` keeps).
_SAMPLE = 5


def _lost(frame: pd.DataFrame, given: pd.Series, cast: pd.Series, column: Column) -> list[str]:
    """``source:line_no: ...`` of each value of ``given`` that ``_cast`` made null."""
    if not len(given) or given.dtype == cast.dtype:
        return []
    wrong = given.notna().to_numpy() & cast.isna().to_numpy()
    if not wrong.any():
        return []
    if column.dtype != UTC_NS:  # a number that does not fit; text that is no number is the parser's business
        wrong[wrong] = pd.to_numeric(given[wrong], errors="coerce").notna().to_numpy()
    out: list[str] = []
    for position in wrong.nonzero()[0]:
        source = frame["source"].iloc[position] if "source" in frame.columns else None
        line_no = frame["line_no"].iloc[position] if "line_no" in frame.columns else None
        where = str(source) if source is not None and not pd.isna(source) else "?"
        if line_no is not None and not pd.isna(line_no):
            where = f"{where}:{int(line_no)}"
        out.append(f"{where}: {column.name} {str(given.iloc[position])[:60]!r} does not fit {column.dtype}: kept as null")
    return out


def documented(*schemas: FrameSchema) -> Any:
    """Decorator: append the column table(s) of ``schemas`` to a parser's docstring.

    The column list is written once, in this module; docstrings render it.
    """

    def decorate(fn: Any) -> Any:
        tables = "\n\n".join(f"Columns of ``{s.name}``:\n\n{s.doc_table()}" for s in schemas)
        fn.__doc__ = f"{fn.__doc__ or ''}\n\n{tables}\n"
        return fn

    return decorate


def _schema(name: str, doc: str, *columns: tuple[str, str, str]) -> FrameSchema:
    return FrameSchema(name, doc, tuple(Column(*c) for c in columns))


_WHERE = (
    ("ts", UTC_NS, "when it happened (the application's own timestamp, else the kubelet's), UTC"),
    ("source", "string", "file it came from, relative to the bundle root (JSON pointer for documents)"),
    ("line_no", "Int64", "1-based line number in `source` (null for JSON documents)"),
)
_LOG = (
    ("namespace", "category", "Kubernetes namespace (from `logs/<namespace>/<pod>/<container>.log`)"),
    ("pod", "category", "pod name"),
    ("container", "category", "container name"),
    ("is_previous", "boolean", "line comes from the previous (crashed) container's log"),
)

INGRESS = _schema(
    "ingress",
    "ingress-nginx access log: one row per HTTP request (upstreaminfo, combined or JSON lines).",
    *_WHERE,
    *_LOG,
    ("log_format", "category", "`upstreaminfo`, `combined` or `json`"),
    ("remote_addr", "category", "client address (`$remote_addr`, IPv4 or IPv6)"),
    ("remote_user", "string", "`$remote_user` (null for `-`)"),
    ("method", "category", "HTTP method"),
    ("path", "string", "request path without the query string"),
    ("query", "string", "query string without `?` (null if none)"),
    ("route", "category", "path with ids templated, e.g. `/metadata/{job_id}`"),
    ("protocol", "category", "`HTTP/1.1`, `HTTP/2.0`, ..."),
    ("status", "Int16", "response status sent to the client"),
    ("body_bytes", "Int64", "`$body_bytes_sent`"),
    ("referer", "string", "`$http_referer` (null for `-`)"),
    ("user_agent", "category", "`$http_user_agent` (null for `-`)"),
    ("request_length_bytes", "Int64", "`$request_length` (request line, headers and body)"),
    ("request_time_s", "float64", "`$request_time`, seconds"),
    ("proxy_upstream_name", "category", "`$proxy_upstream_name`, e.g. `panda-focus-server-5000`"),
    ("proxy_alternative_upstream_name", "category", "`$proxy_alternative_upstream_name` (canary)"),
    ("upstream_addr", "category", "`$upstream_addr` as logged, e.g. `10.0.0.1:80, 10.0.0.2:80`"),
    ("upstream_response_length", "string", "`$upstream_response_length` as logged"),
    ("upstream_response_time", "string", "`$upstream_response_time` as logged"),
    ("upstream_status", "category", "`$upstream_status` as logged, e.g. `502, 200`"),
    ("upstream_count", "Int16", "number of upstreams tried (entries in `upstream_addr`)"),
    ("upstream_response_length_bytes", "Int64", "length from the last upstream tried (the one that answered)"),
    ("upstream_response_time_s", "float64", "sum of the upstream response times of all attempts, seconds"),
    ("upstream_status_code", "Int16", "status of the last upstream tried (the one that answered)"),
    ("request_id", "string", "`$req_id` (null if absent)"),
)

INGRESS_MESSAGES = _schema(
    "ingress_messages",
    "Non-access lines of the ingress-nginx controller: klog lines and nginx error-log lines.",
    *_WHERE,
    *_LOG,
    ("kind", "category", "`klog` (controller, `I1108 13:18:33.123456 ...`) or `nginx_error` (`... [error] ...`)"),
    ("level", "category", "debug / info / warning / error / critical"),
    ("location", "string", "klog `file.go:line` or nginx `pid#tid: *conn`"),
    ("message", "string", "the message text"),
    ("client", "string", "nginx error `client:` field"),
    ("server", "string", "nginx error `server:` field"),
    ("request", "string", "nginx error `request:` field, e.g. `POST /configure HTTP/1.1`"),
    ("upstream", "string", "nginx error `upstream:` field"),
)

FOCUS = _schema(
    "focus",
    "Focus Server (FastAPI / uvicorn) log: one row per record; tracebacks joined into their record.",
    *_WHERE,
    *_LOG,
    ("is_ts_inferred", "boolean", "line had no timestamp of its own; `ts` taken from the record before it"),
    ("kind", "category", "`record` (`... INFO pz.focus_server ...`), `access` (uvicorn access line) or `traceback`"),
    ("level", "category", "debug / info / warning / error / critical"),
    ("logger", "category", "logger name, e.g. `pz.focus_server`"),
    ("message", "string", "message text (first line; the traceback is in `traceback`)"),
    ("method", "category", "HTTP method of an access line"),
    ("path", "string", "request path of an access line (query removed)"),
    ("route", "category", "path with ids templated, e.g. `/metadata/{job_id}`"),
    ("status", "Int16", "HTTP status of an access line"),
    ("client_addr", "string", "client `host:port` of an access line"),
    ("exception_type", "category", "exception class of a traceback, e.g. `pymongo.errors.ServerSelectionTimeoutError`"),
    ("exception_message", "string", "exception message (last line of the traceback after the type)"),
    ("traceback", "string", "the joined continuation lines (traceback) of the record"),
    ("job_id", "string", "job id mentioned by the record (`19-5`)"),
    ("alert_id", "string", "alert id mentioned by the record (`test-sd-123`)"),
    ("class_id", "Int64", "alert class id (`classId` of a received alert)"),
    ("severity", "Int16", "alert severity"),
    ("config", "string", "the `got configuration:` fields, canonical `key=value` form, sorted"),
    ("config_id", "category", "short stable hash of `config`: same configuration, same id"),
    ("display_time_axis_duration", "float64", "configuration field `displayTimeAxisDuration`"),
    ("nfft_selection", "Int64", "configuration field `nfftSelection`"),
    ("display_info_height", "Int64", "configuration field `displayInfo.height`"),
    ("channels_min", "Int64", "configuration field `channels.min`"),
    ("channels_max", "Int64", "configuration field `channels.max`"),
    ("frequency_range_min", "float64", "configuration field `frequencyRange.min`"),
    ("frequency_range_max", "float64", "configuration field `frequencyRange.max`"),
    ("view_type", "category", "configuration field `view_type`"),
)

RABBITMQ_LOG = _schema(
    "rabbitmq_log",
    "RabbitMQ server log (3.9+ format, lager 3.7/3.8 format, legacy `=INFO REPORT====`): one row per entry.",
    *_WHERE,
    *_LOG,
    ("log_format", "category", "`modern` (3.9+ / lager) or `legacy` (`=INFO REPORT==== ... ===`)"),
    ("level", "category", "debug / info / warning / error / critical (`notice` → info)"),
    ("erlang_pid", "string", "Erlang process id, e.g. `<0.928.0>`"),
    ("message", "string", "message text; continuation lines joined with `\\n`"),
    ("exchange", "category", "exchange named by the message (`prisma`)"),
    ("routing_key", "category", "routing key named by the message (`Algorithm.AlertReport.MLGround`)"),
    ("queue", "string", "queue named by the message"),
    ("connection", "string", "AMQP connection named by the message (`10.42.1.9:43210 -> 10.42.0.15:5672`)"),
    ("user", "string", "user named by the message"),
)

ANALYZER = _schema(
    "analyzer",
    "gRPC job (Baby Analyzer) log: one row per record, alert fields as columns.",
    *_WHERE,
    *_LOG,
    ("is_ts_inferred", "boolean", "line had no timestamp of its own; `ts` taken from the record before it"),
    ("job_id", "string", "job id, from the pod name `grpc-job-<job_id>-<suffix>`"),
    ("level", "category", "debug / info / warning / error / critical"),
    ("logger", "category", "logger name, if the line has one"),
    ("message", "string", "message text; continuation lines joined with `\\n`"),
    ("event", "category", "`alert_detected`, `alert_publishing`, `alert_published`, `consumer_started`, ... or null"),
    ("class_id", "Int64", "`class_id=` of an alert line"),
    ("severity", "Int16", "`severity=` of an alert line"),
    ("distance_m", "float64", "`distance_m=` of an alert line, metres"),
    ("alert_id", "string", "alert id of the line"),
    ("routing_key", "category", "routing key the line publishes to"),
    ("queue", "string", "queue the line consumes from"),
)

OTHER_LOGS = _schema(
    "other_logs",
    "Lines of every other container log (MongoDB, web app, recorder, ...): one row per line.",
    *_WHERE,
    *_LOG,
    ("message", "string", "the line without the kubelet prefix"),
)

PODS = _schema(
    "pods",
    "Pods from `k8s/pods.json` (a v1 PodList): one row per pod.",
    *_WHERE,
    ("namespace", "category", "namespace"),
    ("pod", "category", "pod name"),
    ("phase", "category", "Pending / Running / Succeeded / Failed / Unknown"),
    ("status_reason", "string", "`status.reason` (e.g. Evicted)"),
    ("node", "category", "node the pod is scheduled on"),
    ("pod_ip", "string", "pod IP"),
    ("app", "category", "label `app.kubernetes.io/name`, else `app`"),
    ("job_name", "string", "owning Job (`job-name` label or ownerReference)"),
    ("job_id", "string", "Panda job id (`job_id` label, else from `grpc-job-<job_id>-<suffix>`)"),
    ("owner_kind", "category", "kind of the first ownerReference"),
    ("owner_name", "string", "name of the first ownerReference"),
    ("labels", "string", "all labels as sorted JSON"),
    ("container_count", "Int64", "number of (non-init) containers"),
    ("ready_count", "Int64", "number of ready containers"),
    ("restart_count", "Int64", "restarts summed over containers"),
    ("is_ready", "boolean", "the Ready condition is True"),
    ("started_at", UTC_NS, "`status.startTime`"),
    ("scheduled_at", UTC_NS, "PodScheduled condition became True"),
    ("initialized_at", UTC_NS, "Initialized condition became True"),
    ("containers_ready_at", UTC_NS, "ContainersReady condition became True"),
    ("ready_at", UTC_NS, "Ready condition became True"),
    ("deleted_at", UTC_NS, "`metadata.deletionTimestamp`"),
)

RESTARTS = _schema(
    "restarts",
    "Per-container restart history from pod status: one row per container (init containers too).",
    *_WHERE,
    ("namespace", "category", "namespace"),
    ("pod", "category", "pod name"),
    ("container", "category", "container name"),
    ("is_init", "boolean", "an init container"),
    ("image", "string", "container image"),
    ("restart_count", "Int64", "`restartCount`"),
    ("is_ready", "boolean", "`ready`"),
    ("state", "category", "current state: running / waiting / terminated"),
    ("started_at", UTC_NS, "current state's `startedAt` (running or terminated)"),
    ("waiting_reason", "category", "e.g. CrashLoopBackOff, ImagePullBackOff"),
    ("waiting_message", "string", "e.g. `back-off 5m0s restarting failed container=...`"),
    ("last_reason", "category", "last termination reason: Error, OOMKilled, Completed, ..."),
    ("last_exit_code", "Int16", "last termination exit code (137 = SIGKILL, often OOM)"),
    ("last_signal", "Int16", "last termination signal, if any"),
    ("last_message", "string", "last termination message"),
    ("last_started_at", UTC_NS, "last termination's `startedAt`"),
    ("last_finished_at", UTC_NS, "last termination's `finishedAt`"),
)

EVENTS = _schema(
    "events",
    "Kubernetes events from `k8s/events.json`: one row per event object.",
    *_WHERE,
    ("namespace", "category", "namespace"),
    ("object_kind", "category", "involved object kind (Pod, Job, ...)"),
    ("object_name", "string", "involved object name"),
    ("pod", "category", "involved pod (when the object is a Pod)"),
    ("container", "category", "container from `involvedObject.fieldPath` (`spec.containers{name}`)"),
    ("type", "category", "Normal / Warning"),
    ("reason", "category", "Scheduled, Pulled, Created, Started, BackOff, Killing, ..."),
    ("message", "string", "event message"),
    ("count", "Int64", "times the event was seen (`count` or `series.count`)"),
    ("first_ts", UTC_NS, "`firstTimestamp` (or `eventTime`)"),
    ("last_ts", UTC_NS, "`lastTimestamp` (or `series.lastObservedTime`, or `eventTime`)"),
    ("reporting_component", "category", "`reportingComponent` or `source.component`"),
    ("host", "string", "`source.host` / `reportingInstance`"),
)

JOBS = _schema(
    "jobs",
    "Kubernetes Jobs from `k8s/jobs.json` (a batch/v1 JobList): one row per Job.",
    *_WHERE,
    ("namespace", "category", "namespace"),
    ("job_name", "string", "Job name, e.g. `grpc-job-19-5`"),
    ("job_id", "string", "Panda job id (`job_id` label, else from the name)"),
    ("labels", "string", "all labels as sorted JSON"),
    ("active", "Int64", "`status.active`"),
    ("succeeded", "Int64", "`status.succeeded`"),
    ("failed", "Int64", "`status.failed`"),
    ("backoff_limit", "Int64", "`spec.backoffLimit`"),
    ("started_at", UTC_NS, "`status.startTime`"),
    ("completed_at", UTC_NS, "`status.completionTime`"),
    ("condition", "category", "type of the last True condition (Complete, Failed, Suspended, ...)"),
    ("condition_reason", "string", "its reason (e.g. BackoffLimitExceeded)"),
    ("condition_message", "string", "its message"),
)

SERVICES = _schema(
    "services",
    "Services from `k8s/services.json`: one row per Service.",
    *_WHERE,
    ("namespace", "category", "namespace"),
    ("service", "category", "Service name (the DNS name clients resolve, e.g. `mongodb`)"),
    ("type", "category", "ClusterIP / NodePort / LoadBalancer / ExternalName"),
    ("cluster_ip", "string", "cluster IP (`None` for headless)"),
    ("ports", "string", "ports as `name:port/protocol`, comma-separated"),
    ("selector", "string", "selector as sorted JSON"),
)

ENDPOINTS = _schema(
    "endpoints",
    "Endpoints from `k8s/endpoints.json`: one row per Endpoints object (service).",
    *_WHERE,
    ("namespace", "category", "namespace"),
    ("service", "category", "service name"),
    ("ready_count", "Int64", "ready addresses over all subsets"),
    ("not_ready_count", "Int64", "not-ready addresses over all subsets"),
    ("addresses", "string", "ready addresses, comma-separated"),
    ("ports", "string", "ports as `name:port/protocol`, comma-separated"),
)

PODS_TEXT = _schema(
    "pods_text",
    "Pasted `kubectl get pods` text (with or without `-A` / `-o wide`): one row per pod line.",
    *_WHERE,
    ("namespace", "category", "NAMESPACE column (null without `-A`)"),
    ("pod", "category", "NAME"),
    ("ready", "string", "READY as printed, e.g. `1/1`"),
    ("ready_count", "Int64", "ready containers"),
    ("container_count", "Int64", "containers"),
    ("status", "category", "STATUS (Running, CrashLoopBackOff, ...)"),
    ("restart_count", "Int64", "RESTARTS number"),
    ("last_restart_ago_s", "float64", "`(28h ago)` part of RESTARTS, seconds"),
    ("last_restart_at", UTC_NS, "observation time minus `last_restart_ago_s` (when the time is known)"),
    ("age_s", "float64", "AGE in seconds"),
    ("node", "string", "NODE (with `-o wide`)"),
    ("pod_ip", "string", "IP (with `-o wide`)"),
)

LIVE_METADATA = _schema(
    "live_metadata",
    "`GET /live_metadata` probes (`http/focus/live_metadata.jsonl`): one row per probe.",
    *_WHERE,
    ("status", "Int16", "HTTP status of the probe (null if the request failed)"),
    ("prr", "float64", "pulse repetition rate; 0 or missing means metadata not ready"),
    ("dx", "float64", "channel spacing, metres"),
    ("fiber_start_meters", "float64", "`fiber_start_meters`"),
    ("fiber_length_meters", "float64", "`fiber_length_meters`"),
    ("number_of_channels", "Int64", "`number_of_channels`"),
    ("sw_version", "string", "`sw_version` (\"waiting for fiber\" while not ready)"),
    ("fiber_description", "string", "`fiber_description`"),
    ("error", "string", "error text when the probe failed or the body is not metadata"),
    ("body", "string", "the response body as compact JSON"),
)

JOB_METADATA = _schema(
    "job_metadata",
    "`GET /metadata/{job_id}` polls (`http/focus/job_metadata.jsonl`): one row per poll.",
    *_WHERE,
    ("job_id", "string", "job id polled"),
    ("status", "Int16", "HTTP status (404 / `Invalid job_id` until the consumer exists, then 200)"),
    ("error", "string", "error detail of a non-2xx answer or a failed request"),
    ("body", "string", "the response body as compact JSON"),
)

QUEUES = _schema(
    "queues",
    "RabbitMQ `/api/queues` from `rabbitmq/snapshots.jsonl`: one row per queue per snapshot.",
    *_WHERE,
    ("vhost", "category", "virtual host"),
    ("queue", "category", "queue name"),
    ("job_id", "string", "job id when the name is per-job (`grpc-job-19-5`)"),
    ("queue_type", "category", "classic / quorum / stream"),
    ("state", "category", "running / idle / flow / down ..."),
    ("node", "category", "RabbitMQ node"),
    ("durable", "boolean", "durable"),
    ("auto_delete", "boolean", "auto_delete"),
    ("exclusive", "boolean", "exclusive"),
    ("messages", "Int64", "messages (ready + unacknowledged)"),
    ("messages_ready", "Int64", "ready messages"),
    ("messages_unacknowledged", "Int64", "delivered, not yet acknowledged"),
    ("consumer_count", "Int64", "`consumers`"),
    ("consumer_utilisation", "float64", "`consumer_utilisation` (0..1)"),
    ("publish_rate", "float64", "`message_stats.publish_details.rate`, messages/s"),
    ("deliver_rate", "float64", "`message_stats.deliver_get_details.rate`, messages/s"),
    ("ack_rate", "float64", "`message_stats.ack_details.rate`, messages/s"),
    ("memory_bytes", "Int64", "`memory`"),
    ("idle_since", UTC_NS, "`idle_since`"),
)

CONSUMERS = _schema(
    "consumers",
    "RabbitMQ `/api/consumers` from `rabbitmq/snapshots.jsonl`: one row per consumer per snapshot.",
    *_WHERE,
    ("vhost", "category", "virtual host"),
    ("queue", "category", "queue consumed"),
    ("job_id", "string", "job id when the queue is per-job"),
    ("consumer_tag", "string", "consumer tag"),
    ("channel", "string", "`channel_details.name`"),
    ("connection", "string", "`channel_details.connection_name`"),
    ("peer_host", "string", "`channel_details.peer_host`"),
    ("peer_port", "Int64", "`channel_details.peer_port`"),
    ("user", "string", "`channel_details.user`"),
    ("ack_required", "boolean", "`ack_required`"),
    ("exclusive", "boolean", "`exclusive`"),
    ("is_active", "boolean", "`active`"),
    ("activity_status", "category", "`activity_status` (up / single_active / waiting)"),
    ("prefetch_count", "Int64", "`prefetch_count`"),
)

RABBITMQ_OVERVIEW = _schema(
    "rabbitmq_overview",
    "RabbitMQ `/api/overview` from `rabbitmq/snapshots.jsonl`: one row per snapshot.",
    *_WHERE,
    ("cluster_name", "category", "`cluster_name`"),
    ("rabbitmq_version", "category", "`rabbitmq_version`"),
    ("messages", "Int64", "`queue_totals.messages`"),
    ("messages_ready", "Int64", "`queue_totals.messages_ready`"),
    ("messages_unacknowledged", "Int64", "`queue_totals.messages_unacknowledged`"),
    ("queue_count", "Int64", "`object_totals.queues`"),
    ("consumer_count", "Int64", "`object_totals.consumers`"),
    ("connection_count", "Int64", "`object_totals.connections`"),
    ("channel_count", "Int64", "`object_totals.channels`"),
    ("publish_rate", "float64", "`message_stats.publish_details.rate`, messages/s"),
    ("deliver_rate", "float64", "`message_stats.deliver_get_details.rate`, messages/s"),
)

MONGO = _schema(
    "mongo",
    "MongoDB documents from `mongo/<collection>.jsonl` (Extended JSON): one row per document.",
    *_WHERE,
    ("collection", "category", "collection (file name)"),
    ("doc_id", "string", "`_id` as text (ObjectId hex)"),
    ("job_id", "string", "`job_id` / `jobId` field, if any"),
    ("alert_id", "string", "`alert_id` / `alertId` field, if any"),
    ("document", "string", "the document as relaxed Extended JSON"),
)

#: Every frame schema by name, in the order of :class:`Frames`.
FRAMES: dict[str, FrameSchema] = {
    s.name: s
    for s in (
        INGRESS, INGRESS_MESSAGES, FOCUS, RABBITMQ_LOG, ANALYZER, OTHER_LOGS,
        PODS, RESTARTS, EVENTS, JOBS, SERVICES, ENDPOINTS, PODS_TEXT,
        LIVE_METADATA, JOB_METADATA, QUEUES, CONSUMERS, RABBITMQ_OVERVIEW, MONGO,
    )
}


#: Frames that describe state at collection time rather than events (not cut by ``Frames.window``).
STATE_FRAMES = frozenset({"pods", "restarts", "jobs", "services", "endpoints", "pods_text"})


def _empty(name: str) -> Any:
    return field(default_factory=FRAMES[name].empty)


@dataclass(frozen=True)
class Frames:
    """Every parsed frame of one bundle (empty frames where there was no evidence).

    ``meta`` holds the bundle's manifest (``created_at``, ``source``, ...). Build one from a
    bundle with :func:`panda_analysis.parse.frames`; tests may pass only the frames they
    need and get empty ones for the rest.
    """

    ingress: pd.DataFrame = _empty("ingress")
    ingress_messages: pd.DataFrame = _empty("ingress_messages")
    focus: pd.DataFrame = _empty("focus")
    rabbitmq_log: pd.DataFrame = _empty("rabbitmq_log")
    analyzer: pd.DataFrame = _empty("analyzer")
    other_logs: pd.DataFrame = _empty("other_logs")
    pods: pd.DataFrame = _empty("pods")
    restarts: pd.DataFrame = _empty("restarts")
    events: pd.DataFrame = _empty("events")
    jobs: pd.DataFrame = _empty("jobs")
    services: pd.DataFrame = _empty("services")
    endpoints: pd.DataFrame = _empty("endpoints")
    pods_text: pd.DataFrame = _empty("pods_text")
    live_metadata: pd.DataFrame = _empty("live_metadata")
    job_metadata: pd.DataFrame = _empty("job_metadata")
    queues: pd.DataFrame = _empty("queues")
    consumers: pd.DataFrame = _empty("consumers")
    rabbitmq_overview: pd.DataFrame = _empty("rabbitmq_overview")
    mongo: pd.DataFrame = _empty("mongo")
    meta: Mapping[str, Any] = field(default_factory=dict)
    #: Parsers that raised while these frames were built, as ``(parser, exception)``: their
    #: frames are empty and :func:`panda_analysis.diagnose.run` reports each as ANALYSIS_ERROR.
    parse_errors: tuple[tuple[str, BaseException], ...] = ()

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in FRAMES:
            msg = f"no frame {name!r}; frames are {list(FRAMES)}"
            raise KeyError(msg)
        return getattr(self, name)

    def __iter__(self) -> Iterator[str]:
        return iter(FRAMES)

    def items(self) -> Iterator[tuple[str, pd.DataFrame]]:
        """(name, frame) pairs in declaration order."""
        for name in FRAMES:
            yield name, getattr(self, name)

    @property
    def created_at(self) -> pd.Timestamp | None:
        """The bundle's ``created_at`` (the evidence's "now"), if the manifest has one."""
        value = self.meta.get("created_at")
        if not value:
            return None
        return pd.Timestamp(value).tz_convert("UTC") if pd.Timestamp(value).tzinfo else pd.Timestamp(value).tz_localize("UTC")

    def window(self, since: Any = None, until: Any = None) -> Frames:
        """A copy keeping the events whose ``ts`` is in ``[since, until]``.

        Event frames (logs, Kubernetes events, probes, snapshots, documents) are cut;
        state frames (:data:`STATE_FRAMES`: pods, restarts, jobs, services, endpoints,
        pods_text), which describe the cluster as collected, are kept whole, and so are
        rows without a ``ts``.

        ``since`` / ``until`` are Timestamps, ISO-8601 strings, or durations before the
        bundle's ``created_at`` such as ``"2h"``; ``None`` or ``""`` means open-ended.
        """
        from panda_analysis._time import parse_instant

        lo = parse_instant(since, now=self.created_at) if since not in (None, "") else None
        hi = parse_instant(until, now=self.created_at) if until not in (None, "") else None
        if lo is None and hi is None:
            return self
        if lo is not None and hi is not None and lo > hi:
            msg = f"empty time window: since {lo} is after until {hi}"
            raise ValueError(msg)
        changes = {}
        for name, df in self.items():
            if name in STATE_FRAMES:
                continue
            keep = df["ts"].isna()
            inside = pd.Series(True, index=df.index)
            if lo is not None:
                inside &= df["ts"] >= lo
            if hi is not None:
                inside &= df["ts"] <= hi
            kept = df[keep | inside.fillna(False)].reset_index(drop=True)
            kept.attrs = dict(df.attrs)
            changes[name] = kept
        return dataclasses.replace(self, **changes)

    def replace(self, **changes: Any) -> Frames:
        """A copy with some frames replaced (frames are immutable)."""
        return dataclasses.replace(self, **changes)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{n}={len(df)}" for n, df in self.items() if len(df))
        return f"Frames({sizes or 'empty'})"
