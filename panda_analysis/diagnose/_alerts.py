"""Alert pipeline: trace each alert through the stages of seed 000 (``ALERT_NOT_DELIVERED``).

Seed 000 proves an alert went through by walking the logs in order: the ingress access
line of ``POST .../push-to-rabbit`` (201), the Focus Server's ``Received alert`` /
``Publishing alert to RabbitMQ: <id>`` / ``Alert published successfully``, RabbitMQ's
``Message published to exchange 'prisma' with routing_key '...'`` and ``Message consumed
from queue ...``, the analyzer's ``Alert detected`` / ``Alert published successfully:
<id>``, the browser's ``GET /assets/sounds/alert_sound.mp3`` (200 / 206) and the MongoDB
document. :func:`alert_trace` turns that checklist into a table (one row per alert and
stage: passed / failed / missing / no_evidence, with the proving line); :func:`alerts`
reports, per stage, the alerts that stopped there.

Both are written in three steps (issue #12), so that a busy bundle (a million access
lines, thousands of alerts) costs about as much as its candidate lines:

* **select**: the candidate lines of each kind are picked once with vectorised masks and
  indexed once (by alert id, by source, and by time in :class:`_Pool`);
* **verdict**: each alert is matched against those small indexes (a bisect into a time
  window, a dict look-up by id), and :func:`alerts` finds every alert's stop at once on
  the trace's status matrix (alerts × stages);
* **narration**: one finding per stage where alerts stopped, with the counts, the first
  ids and quoted lines; never one finding per alert.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from panda_analysis._time import UTC_NS
from panda_analysis.diagnose._util import (
    FOCUS_LABEL,
    NAMESPACE,
    fmt_duration,
    fmt_span,
    fmt_time,
    focus_server,
    integer,
    log_source,
    rabbitmq_pod,
)
from panda_analysis.diagnose._util import missing as _missing
from panda_analysis.diagnose._util import text as _str
from panda_analysis.findings import Code, Evidence, Finding, Severity
from panda_analysis.schema import Frames

__all__ = ["STAGES", "STATUSES", "alert_trace", "alerts"]

#: Pipeline stages, in order (the categories of ``alert_trace()["stage"]``).
STAGES = (
    "ingress_request",
    "focus_received",
    "focus_published",
    "rabbitmq_published",
    "rabbitmq_consumed",
    "analyzer_detected",
    "frontend_sound",
    "mongo_saved",
)
#: Stage statuses (the categories of ``alert_trace()["status"]``).
STATUSES = ("passed", "failed", "missing", "no_evidence")

_STAGE_DTYPE = pd.CategoricalDtype(list(STAGES), ordered=True)
_STATUS_DTYPE = pd.CategoricalDtype(list(STATUSES))
_COLUMNS = ("alert_id", "stage", "status", "ts", "source", "line_no", "text", "detail")
_PASSED, _FAILED, _MISSING, _NO_EVIDENCE = range(len(STATUSES))  # the status codes, in STATUSES order

# What a stage is called in a sentence ("no RabbitMQ publish ... followed") and who owns it.
_NOUN = {
    "ingress_request": "push-to-rabbit request",
    "focus_received": "Focus receipt",
    "focus_published": "Focus publish",
    "rabbitmq_published": "RabbitMQ publish",
    "rabbitmq_consumed": "queue consumption",
    "analyzer_detected": "analyzer detection",
    "frontend_sound": "alert_sound.mp3 fetch",
    "mongo_saved": "MongoDB document",
}
# Where alerts stopped, for "12 of 2,000 alerts stopped at ...".
_WHERE = {
    "ingress_request": "the ingress",
    "focus_received": "the Focus Server's receipt",
    "focus_published": "the Focus publish to RabbitMQ",
    "rabbitmq_published": "the RabbitMQ exchange",
    "rabbitmq_consumed": "RabbitMQ (queue consumption)",
    "analyzer_detected": "the analyzer",
    "frontend_sound": "the front end (alert sound)",
    "mongo_saved": "MongoDB",
}
_COMPONENT = {
    "ingress_request": "ingress-nginx",
    "focus_received": "focus-server",
    "focus_published": "focus-server",
    "rabbitmq_published": "rabbitmq",
    "rabbitmq_consumed": "rabbitmq",
    "analyzer_detected": "grpc-job",
    "frontend_sound": "prisma-web-app",
    "mongo_saved": "mongodb",
}
# Title is stable per code + component (STYLE "Findings conventions").
_TITLE = {
    "ingress-nginx": "Alert push rejected at the ingress",
    "focus-server": "Alert stopped in the Focus Server",
    "rabbitmq": "Alert stopped in RabbitMQ",
    "grpc-job": "Alert not detected by the analyzer",
    "prisma-web-app": "Alert sound never fetched by the front end",
    "mongodb": "Alert not saved to MongoDB",
}
#: How many alert ids a finding names (summary: three; metrics: ten).
_IDS_IN_SUMMARY = 3
_IDS_IN_METRICS = 10

_PUSH = re.compile(r"push-to-rabbit", re.I)
_SOUND = re.compile(r"alert_sound\.mp3", re.I)
_RECEIVED = re.compile(r"\breceived alert\b", re.I)
_PUBLISHING = re.compile(r"\bpublishing alert\b", re.I)
_PUBLISHED_OK = re.compile(r"\balert published successfully\b", re.I)
_RMQ_PUBLISHED = re.compile(r"\bmessage published\b", re.I)
_RMQ_CONSUMED = re.compile(r"\bmessage consumed\b", re.I)
# "pika.exceptions.StreamLostError: Stream connection lost: ConnectionResetError(...)"
_EXCEPTION = re.compile(r"(?:[A-Za-z_][\w]*\.)*(?P<type>[A-Z]\w*(?:Error|Exception|Timeout))\s*:\s*(?P<msg>[^:\n]*)")
# An alert id is named in an error line when it stands alone: not inside a longer id
# (``test-sd-12`` is not ``test-sd-124``). For ids made of these characters only, that is
# "one of the line's tokens", which an index finds without a regex per alert and line.
_TOKEN = re.compile(r"[\w-]+")

Row = dict[str, Any]


# -- small value helpers ------------------------------------------------------------------------


def _counted(values: Iterable[str]) -> str:
    """``StreamLostError: Stream connection lost`` (one kind) or ``48× 500, 2× 503`` (most first)."""
    counts = Counter(values)
    if len(counts) == 1:
        return next(iter(counts))
    return ", ".join(f"{n}× {v}" for v, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


# -- select: candidate lines, picked and indexed once --------------------------------------------


#: The columns the trace reads from a candidate line (the rest are not copied into its dict).
_READ = (
    *("ts", "source", "line_no", "message", "alert_id", "level", "event", "exception_type", "exception_message"),
    *("status", "method", "path", "protocol", "remote_addr", "user_agent", "proxy_upstream_name", "request_id"),
    *("request_time_s", "routing_key", "queue", "exchange", "job_id", "class_id", "severity", "distance_m"),
    *("document", "collection"),
)


def _records(df: pd.DataFrame) -> list[Row]:
    return [dict(r) for r in df[[c for c in _READ if c in df.columns]].to_dict("records")]


def _contains(series: pd.Series, pattern: re.Pattern[str]) -> np.ndarray:
    """Rows whose text matches ``pattern``; a categorical is matched on its categories only."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        hit = np.array([bool(pattern.search(str(c))) for c in series.cat.categories] + [False], dtype=bool)
        return hit[series.cat.codes.to_numpy()]  # code -1 (missing) reads the trailing False
    return series.astype("string").str.contains(pattern, na=False).to_numpy(dtype=bool)


def _is_one_of(series: pd.Series, values: Iterable[str], *, upper: bool = False) -> np.ndarray:
    """Rows equal to one of ``values`` (after ``str.upper()`` when asked); categories when categorical."""
    wanted = set(values)
    if isinstance(series.dtype, pd.CategoricalDtype):
        cats = [str(c).upper() if upper else str(c) for c in series.cat.categories]
        hit = np.array([c in wanted for c in cats] + [False], dtype=bool)
        return hit[series.cat.codes.to_numpy()]
    text = series.astype("string").fillna("")
    if upper:
        text = text.str.upper()
    return text.isin(wanted).to_numpy(dtype=bool)


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(["ts", "source", "line_no"], kind="stable", na_position="last")


def _ns(when: Any) -> int:
    return int(pd.Timestamp(when).value)


class _Pool:
    """Candidate lines of one kind, sorted by a time key, picked from by time window.

    Ties on the key go to the line that comes first in the family's (ts, source, line_no)
    order, as a scan of that list would pick it. Lines whose key is missing are not in the
    pool (they fall in no window).
    """

    __slots__ = ("keys", "order", "rows")

    def __init__(self, rows: Sequence[Row], key: str = "ts") -> None:
        entries = sorted(
            ((_ns(r[key]), i, r) for i, r in enumerate(rows) if not _missing(r.get(key))), key=lambda e: e[:2]
        )
        self.keys = [e[0] for e in entries]
        self.order = [e[1] for e in entries]
        self.rows = [e[2] for e in entries]

    def _range(self, lo: pd.Timestamp, hi: pd.Timestamp) -> range:
        return range(bisect_left(self.keys, lo.value), bisect_right(self.keys, hi.value))

    def first(
        self,
        used: set[int],
        lo: pd.Timestamp,
        hi: pd.Timestamp,
        *,
        accept: Callable[[Row], bool] | None = None,
    ) -> Row | None:
        """First unused line in ``[lo, hi]`` (that ``accept`` takes); marks it used."""
        for i in self._range(lo, hi):
            row = self.rows[i]
            if id(row) not in used and (accept is None or accept(row)):
                used.add(id(row))
                return row
        return None

    def last(self, used: set[int], lo: pd.Timestamp, hi: pd.Timestamp) -> Row | None:
        """Last unused line in ``[lo, hi]`` (not marked)."""
        for i in reversed(self._range(lo, hi)):
            if id(self.rows[i]) not in used:
                return self.rows[i]
        return None

    def nearest(self, used: set[int], lo: pd.Timestamp, hi: pd.Timestamp, near: pd.Timestamp) -> Row | None:
        """Unused line in ``[lo, hi]`` closest to ``near`` (the earlier line on a tie); marks it used."""
        best: tuple[int, int] | None = None
        pick = -1
        for i in self._range(lo, hi):
            if id(self.rows[i]) in used:
                continue
            rank = (abs(self.keys[i] - near.value), self.order[i])
            if best is None or rank < best:
                best, pick = rank, i
        if pick < 0:
            return None
        used.add(id(self.rows[pick]))
        return self.rows[pick]

    def around(self, used: set[int], t: pd.Timestamp, *, before: pd.Timedelta, after: pd.Timedelta) -> Iterator[Row]:
        """Unused lines near ``t``: those in ``[t, t + after]`` first (earliest first), then those
        in ``[t - before, t)`` (latest first). A stage's line comes after the previous one's; a
        line stamped a little earlier (clock skew between pods) is the fallback, so that in a
        busy log an alert does not take the line of the one just before it."""
        start = bisect_left(self.keys, t.value)
        for i in range(start, bisect_right(self.keys, (t + after).value)):
            if id(self.rows[i]) not in used:
                yield self.rows[i]
        for i in reversed(range(bisect_left(self.keys, (t - before).value), start)):
            if id(self.rows[i]) not in used:
                yield self.rows[i]

    def first_logged(
        self,
        used: set[int],
        lo: pd.Timestamp,
        hi: pd.Timestamp,
        near: pd.Timestamp,
        *,
        width: pd.Timedelta,
        slack: pd.Timedelta,
        prefer: Callable[[Row], bool] | None = None,
    ) -> Row | None:
        """For keys known to ``width`` only: the first line logged (family order) among the
        unused ones whose span ``[key - slack, key + width + slack]`` holds ``near`` (those
        ``prefer`` takes first), else the nearest in ``[lo, hi]``; marks it used.

        ingress-nginx stamps whole seconds: a request that ended in second ``s`` began in
        ``[s - request_time, s + 1 - request_time)``. Several pushes share that span in a
        busy second, and their estimated starts do not say which came first, their lines
        do (the log is written as requests end): taking them in line order pairs the k-th
        push with the k-th Focus receipt, where the nearest estimate would pair them at
        random and could leave one push and one alert unpaired (issue #12).
        """
        first = bisect_left(self.keys, max(lo, near - width - slack).value)
        last = bisect_right(self.keys, min(hi, near + slack).value)
        best: tuple[bool, int] | None = None
        pick = -1
        for i in range(first, last):
            if id(self.rows[i]) in used:
                continue
            rank = (prefer is not None and not prefer(self.rows[i]), self.order[i])
            if best is None or rank < best:
                best, pick = rank, i
        if pick >= 0:
            used.add(id(self.rows[pick]))
            return self.rows[pick]
        return self.nearest(used, lo, hi, near)

    def next_after(self, when: pd.Timestamp) -> pd.Timestamp | None:
        """Key of the first line strictly after ``when``."""
        i = bisect_right(self.keys, when.value)
        return pd.Timestamp(self.keys[i], tz="UTC") if i < len(self.keys) else None


def _by(rows: Iterable[Row], column: str) -> dict[str | None, list[Row]]:
    """Rows grouped by a column's text (``None`` for missing), each list in the family's order."""
    out: dict[str | None, list[Row]] = {}
    for row in rows:
        out.setdefault(_str(row.get(column)), []).append(row)
    return out


def _pools_by_source(rows: Iterable[Row]) -> dict[str | None, _Pool]:
    return {source: _Pool(group) for source, group in _by(rows, "source").items()}


@dataclass
class _Lines:
    """Every candidate line of the pipeline, selected once, with the indexes the trace uses."""

    have_ingress: bool = False
    have_focus: bool = False
    have_analyzer: bool = False
    rmq_has_pub: bool = False
    rmq_has_con: bool = False
    # families in (ts, source, line_no) order
    pushes: list[Row] = field(default_factory=list)
    received: list[Row] = field(default_factory=list)
    publishing: list[Row] = field(default_factory=list)
    focus_errors: list[Row] = field(default_factory=list)
    an_with_id: list[Row] = field(default_factory=list)
    an_errors: list[Row] = field(default_factory=list)
    mongo_alerts: list[Row] = field(default_factory=list)
    # time pools
    push_starts: _Pool = field(default_factory=lambda: _Pool([]))
    push_width: pd.Timedelta = field(default_factory=lambda: pd.Timedelta(0))  # a push start's uncertainty
    focus_push_statuses: frozenset[int] = frozenset()  # what the Focus Server answered pushes
    sounds: _Pool = field(default_factory=lambda: _Pool([]))
    rmq_pub: _Pool = field(default_factory=lambda: _Pool([]))
    rmq_con: _Pool = field(default_factory=lambda: _Pool([]))
    detected: _Pool = field(default_factory=lambda: _Pool([]))
    received_anon: _Pool = field(default_factory=lambda: _Pool([]))
    publishing_anon: _Pool = field(default_factory=lambda: _Pool([]))
    publish_errors_anon: _Pool = field(default_factory=lambda: _Pool([]))
    # by source (for pairing a Focus `Publishing alert` with its `Alert published successfully`)
    publishing_by_source: dict[str | None, _Pool] = field(default_factory=dict)
    published_ok_by_source: dict[str | None, _Pool] = field(default_factory=dict)
    detected_by_source: dict[str | None, _Pool] = field(default_factory=dict)
    # by alert id
    received_by_id: dict[str | None, list[Row]] = field(default_factory=dict)
    publishing_by_id: dict[str | None, list[Row]] = field(default_factory=dict)
    published_ok_by_id: dict[str | None, list[Row]] = field(default_factory=dict)
    focus_errors_by_id: dict[str | None, list[Row]] = field(default_factory=dict)
    focus_errors_by_token: dict[str, list[int]] = field(default_factory=dict)
    an_with_id_by_id: dict[str | None, list[Row]] = field(default_factory=dict)
    an_errors_by_id: dict[str | None, list[Row]] = field(default_factory=dict)
    mongo_by_id: dict[str | None, list[Row]] = field(default_factory=dict)

    def errors_naming(self, alert_id: str) -> list[Row]:
        """Focus ERROR lines about ``alert_id`` (by its field, or naming it), in order."""
        if _TOKEN.fullmatch(alert_id):
            positions = set(self.focus_errors_by_token.get(alert_id, ()))
        else:  # an id with other characters: look for it the slow way
            named = re.compile(rf"(?<![\w-]){re.escape(alert_id)}(?![\w-])")
            positions = {i for i, r in enumerate(self.focus_errors) if named.search(str(r.get("message") or ""))}
        own = {id(r) for r in self.focus_errors_by_id.get(alert_id, ())}
        return [r for i, r in enumerate(self.focus_errors) if i in positions or id(r) in own]

    def answered_by_focus(self, push: Row) -> bool:
        """The push's status is one the Focus Server answered a push with (its access lines).

        A Focus receipt belongs to a push the Focus Server answered, so when it answered
        every push 201, a receipt takes a push answered 201 before one answered 502 by an
        ingress that never reached it (which is then traced on its own)."""
        status = integer(push.get("status"))
        return not self.focus_push_statuses or status in self.focus_push_statuses

    def proven(self, alert_id: str) -> bool:
        """A later stage names the alert (analyzer line or MongoDB document with its id)."""
        return alert_id in self.an_with_id_by_id or alert_id in self.mongo_by_id


def _select(frames: Frames, *, exchange: str) -> _Lines:
    """The candidate lines of every stage, each family selected with one vectorised mask."""
    lines = _Lines()
    ingress, focus, rmq, analyzer, mongo = (
        frames.ingress,
        frames.focus,
        frames.rabbitmq_log,
        frames.analyzer,
        frames.mongo,
    )
    if len(ingress):
        lines.have_ingress = True
        path = _contains(ingress["path"], _PUSH) | _contains(ingress["path"], _SOUND)
        ours = ingress[path]  # the few push and sound lines among all the traffic
        p = ours["path"]
        pushes = _is_one_of(ours["method"], ["POST"], upper=True) & _contains(p, _PUSH)
        sounds = _is_one_of(ours["method"], ["GET"], upper=True) & _contains(p, _SOUND)
        lines.pushes = _records(_sorted(ours[pushes]))
        lines.sounds = _Pool(_records(_sorted(ours[sounds])))
    for row in lines.pushes:
        row["start"] = _request_start(row)
    lines.push_starts = _Pool(lines.pushes, key="start")
    stamps = [row["ts"] for row in lines.pushes if not _missing(row.get("ts"))]
    if stamps and all(t.microsecond == 0 and t.nanosecond == 0 for t in stamps):
        lines.push_width = pd.Timedelta(seconds=1)

    if len(focus):
        lines.have_focus = True
        level = _is_one_of(focus["level"], ["error", "critical"])
        # every line the three patterns match says "alert": one literal test first, then the regexes
        texts = focus["message"].astype("string")
        alerty = texts.str.contains("alert", case=False, regex=False, na=False).to_numpy(dtype=bool)
        some = focus[alerty | level]
        smsg = some["message"]
        lines.received = _records(_sorted(some[_contains(smsg, _RECEIVED)]))
        lines.publishing = _records(_sorted(some[_contains(smsg, _PUBLISHING)]))
        published_ok = _records(_sorted(some[_contains(smsg, _PUBLISHED_OK)]))
        lines.focus_errors = _records(_sorted(some[_is_one_of(some["level"], ["error", "critical"])]))
        route = focus["route"] if isinstance(focus["route"].dtype, pd.CategoricalDtype) else focus["path"]
        answers = focus[_is_one_of(focus["kind"], ["access"]) & _contains(route, _PUSH)]["status"].dropna()
        lines.focus_push_statuses = frozenset(int(s) for s in answers.unique())
        lines.received_by_id = _by(lines.received, "alert_id")
        lines.publishing_by_id = _by(lines.publishing, "alert_id")
        lines.published_ok_by_id = _by(published_ok, "alert_id")
        lines.focus_errors_by_id = _by(lines.focus_errors, "alert_id")
        for i, row in enumerate(lines.focus_errors):
            for token in set(_TOKEN.findall(str(row.get("message") or ""))):
                lines.focus_errors_by_token.setdefault(token, []).append(i)
        lines.publishing_by_source = _pools_by_source(lines.publishing)
        lines.published_ok_by_source = _pools_by_source(published_ok)
        lines.received_anon = _Pool(lines.received_by_id.get(None, []))
        lines.publishing_anon = _Pool(lines.publishing_by_id.get(None, []))
        lines.publish_errors_anon = _Pool(
            [r for r in lines.focus_errors_by_id.get(None, []) if "publish" in str(r.get("message") or "").lower()]
        )

    if len(rmq):
        rmsg = rmq["message"].astype("string")
        events = rmq[rmsg.str.contains("message", case=False, regex=False, na=False).to_numpy(dtype=bool)]
        published = _contains(events["message"], _RMQ_PUBLISHED)
        consumed = _contains(events["message"], _RMQ_CONSUMED)
        exch = events["exchange"].astype("string")
        ours_exchange = (exch.isna() | (exch == exchange)).to_numpy(dtype=bool)
        lines.rmq_pub = _Pool(_records(_sorted(events[published & ours_exchange])))
        lines.rmq_con = _Pool(_records(_sorted(events[consumed])))
        lines.rmq_has_pub = bool(published.any())
        lines.rmq_has_con = bool(consumed.any())

    if len(analyzer):
        lines.have_analyzer = True
        event = analyzer["event"]
        has_id = analyzer["alert_id"].notna().to_numpy(dtype=bool)
        detected = _records(_sorted(analyzer[_is_one_of(event, ["alert_detected"])]))
        lines.detected = _Pool(detected)
        lines.detected_by_source = _pools_by_source(detected)
        named = has_id & _is_one_of(event, ["alert_detected", "alert_publishing", "alert_published"])
        lines.an_with_id = _records(_sorted(analyzer[named]))
        lines.an_errors = _records(_sorted(analyzer[_is_one_of(analyzer["level"], ["error", "critical"]) & has_id]))
        lines.an_with_id_by_id = _by(lines.an_with_id, "alert_id")
        lines.an_errors_by_id = _by(lines.an_errors, "alert_id")

    if len(mongo):
        lines.mongo_alerts = _records(_sorted(mongo[mongo["alert_id"].notna().to_numpy(dtype=bool)]))
        lines.mongo_by_id = _by(lines.mongo_alerts, "alert_id")
    return lines


# -- verdict, per alert: match each stage against the indexes ------------------------------------


@dataclass
class _Stage:
    status: str
    row: Row | None = None
    text: str | None = None
    detail: str | None = None
    since: pd.Timestamp | None = None  # where the next stage's window starts (default: row ts)


@dataclass
class _Alert:
    alert_id: str
    anchor: pd.Timestamp | None  # Focus receipt (or first Focus line), else the request start
    request: Row | None = None
    stages: dict[str, _Stage] = field(default_factory=dict)


def _request_start(row: Row) -> pd.Timestamp:
    # ingress-nginx logs $time_local when the response is sent, to the second: the request
    # began about request_time_s earlier (seed 000: 12:08:41 with 0.106 s, Focus at 12:08:40.909)
    took = row.get("request_time_s")
    seconds = 0.0 if took is None or _missing(took) else float(took)
    return pd.Timestamp(row["ts"]) - pd.Timedelta(seconds=seconds)


def _ingress_text(row: Row) -> str:
    """The access line's facts, in the order the ingress-nginx line prints them."""
    request = " ".join(str(v) for v in (row.get("method"), row.get("path"), _str(row.get("protocol"))) if v)
    parts = [_str(row.get("remote_addr")) or "-", f'"{request}"', _str(row.get("status")) or "-"]
    if not _missing(row.get("request_time_s")):
        parts.append(f"{float(row['request_time_s']):.3f}s")
    for col, fmt in (("user_agent", '"{}"'), ("proxy_upstream_name", "[{}]"), ("request_id", "{}")):
        value = _str(row.get(col))
        if value:
            parts.append(fmt.format(value))
    return " ".join(parts)


def _exception(text: str) -> str | None:
    match = _EXCEPTION.search(text)
    if not match:
        return None
    msg = match.group("msg").strip()
    return f"{match.group('type')}: {msg}" if msg else match.group("type")


def alert_trace(
    frames: Frames,
    *,
    window_s: float = 30.0,
    skew_s: float = 1.0,
    exchange: str = "prisma",
    alert_id: str | None = None,
) -> pd.DataFrame:
    """Trace every alert through the pipeline: one row per alert and stage.

    Alerts are the alert ids the Focus Server, the analyzer or MongoDB mention; a
    ``POST .../push-to-rabbit`` request that matches no id (or every request, when no id
    exists at all) is traced as its own alert, ``request <request_id>``. Lines without an
    id (RabbitMQ, the analyzer's ``Alert detected``, the sound fetch) are matched by time,
    each line to one alert only, alerts in time order; the alerts a later line names (an
    analyzer line or a MongoDB document with their id) choose first, so that in a busy
    bundle an alert that stopped early does not take the line of the one that came next.

    Stages, in order:

    ``ingress_request``
        the push-to-rabbit request closest to the Focus ``Received alert`` line (its start,
        ``ts - request_time_s``): passed if 2xx, failed if ≥ 400. ingress-nginx stamps whole
        seconds, so then the receipt takes the first push logged whose second can hold it,
        preferring one answered with a status the Focus Server answers pushes with.
    ``focus_received``
        Focus ``Received alert`` with the id.
    ``focus_published``
        ``Publishing alert to RabbitMQ: <id>`` then ``Alert published successfully``
        (passed), or an ERROR mentioning the id (failed, e.g. ``Failed to publish alert
        test-sd-124: pika.exceptions.StreamLostError ...``).
    ``rabbitmq_published``
        RabbitMQ ``Message published to exchange '<exchange>' with routing_key '...'``
        within ``window_s`` after the Focus publish (detail: the routing key).
    ``rabbitmq_consumed``
        ``Message consumed from queue '...'`` within ``window_s`` after that (detail: queue).
    ``analyzer_detected``
        analyzer ``alert_detected`` / ``alert_published`` with the id, else the nearest
        ``alert_detected`` within ``window_s``.
    ``frontend_sound``
        ingress ``GET .../alert_sound.mp3`` answered 200 / 206 / 304 within ``window_s``
        after the push (failed if it was answered ≥ 400).
    ``mongo_saved``
        a MongoDB document with the alert id (``no_evidence`` for a push whose id is unknown).

    Parameters
    ----------
    frames
        Parsed frames of one bundle.
    window_s
        How long after the previous stage a line may come and still count, seconds
        (default 30.0).
    skew_s
        Clock skew tolerated between pods: a line up to this many seconds *before* the
        previous stage still counts (default 1.0).
    exchange
        RabbitMQ exchange alerts are published to (default ``"prisma"``).
    alert_id
        Keep only the alerts whose id contains this text (``"test-sd-124"``); ``None`` or
        ``""``: all. Every alert is still traced (lines without an id are matched by time
        against all of them), then the table is cut.

    Returns
    -------
    pandas.DataFrame
        ``alert_id`` (string), ``stage`` (ordered categorical, :data:`STAGES`), ``status``
        (categorical: ``passed`` / ``failed`` / ``missing`` — the evidence exists but has
        no matching line — / ``no_evidence`` — the bundle holds no evidence of that kind:
        the frame is empty, or for RabbitMQ it logs no message events at all, which it does
        only at debug level, or for MongoDB no document carries an alert id), ``ts``,
        ``source``, ``line_no``, ``text`` (the proving line), ``detail`` (status code,
        routing key, queue, exception, or why nothing matched). Alerts in time order,
        stages in pipeline order; empty (same columns) when there is no alert.

    Examples
    --------
    >>> import panda_analysis as pa
    >>> trace = pa.diagnose.alert_trace(pa.samples.alert_lost().frames())
    >>> one = trace[trace.alert_id == "test-sd-124"]
    >>> [(stage, status) for stage, status in zip(one.stage, one.status)][:4]  # doctest: +NORMALIZE_WHITESPACE
    [('ingress_request', 'passed'), ('focus_received', 'passed'), ('focus_published', 'failed'),
     ('rabbitmq_published', 'missing')]
    >>> one[one.stage == "focus_published"].detail.item()
    'StreamLostError: Stream connection lost'
    """
    window = pd.Timedelta(seconds=float(window_s))
    skew = pd.Timedelta(seconds=float(skew_s))
    lines = _select(frames, exchange=exchange)
    used: set[int] = set()
    items = _alerts_of(lines, used, window, skew)

    # -- stage by stage -----------------------------------------------------------------------
    for item in items:
        _trace_ingress(item, have=lines.have_ingress)
    _trace_focus(items, lines, used, window, skew)
    # lines without an id: the alerts a later stage names pick first (see the docstring)
    for item in sorted(items, key=lambda i: _priority(i, lines)):
        _trace_rabbitmq(item, lines, used, window, skew, exchange=exchange)
    _trace_analyzer(items, lines, used, window, skew)
    for item in sorted(items, key=lambda i: _priority(i, lines)):
        _trace_sound(item, lines.sounds, used, window, skew, have=lines.have_ingress)
    for item in items:
        _trace_mongo(item, lines, used)

    if alert_id:
        items = [item for item in items if str(alert_id) in item.alert_id]
    return _table(items)


def _alerts_of(lines: _Lines, used: set[int], window: pd.Timedelta, skew: pd.Timedelta) -> list[_Alert]:
    """The alerts: ids first (anchored on Focus), then the push requests no id claimed."""
    first_seen: dict[str, pd.Timestamp] = {}
    focus_anchor: dict[str, pd.Timestamp] = {}
    families = (
        (lines.received, True),
        (lines.publishing, True),
        (lines.focus_errors, True),
        (lines.an_with_id, False),
        (lines.an_errors, False),
        (lines.mongo_alerts, False),
    )
    for rows, is_focus in families:
        for row in rows:
            aid = _str(row.get("alert_id"))
            if aid is None or _missing(row.get("ts")):
                continue
            first_seen[aid] = min(first_seen.get(aid, row["ts"]), row["ts"])
            if is_focus:
                # the `Received alert` line when there is one (families come in that order)
                focus_anchor.setdefault(aid, row["ts"])

    order = sorted(first_seen, key=lambda a: (focus_anchor.get(a, first_seen[a]), a))
    items = [_Alert(alert_id=a, anchor=focus_anchor.get(a)) for a in order]
    for item in items:  # ingress request closest to the Focus receipt
        if item.anchor is not None:
            lo, hi = item.anchor - window, item.anchor + skew
            if lines.push_width > pd.Timedelta(0):
                item.request = lines.push_starts.first_logged(
                    used, lo, hi, item.anchor, width=lines.push_width, slack=skew, prefer=lines.answered_by_focus
                )
            else:
                item.request = lines.push_starts.nearest(used, lo, hi, item.anchor)
    for row in lines.pushes:
        if id(row) not in used and not _missing(row.get("ts")):
            rid = _str(row.get("request_id"))
            name = f"request {rid}" if rid else f"request at {fmt_time(row['ts'])}"
            items.append(_Alert(alert_id=name, anchor=None, request=row))
            used.add(id(row))
    items.sort(key=lambda a: (_when(a), a.alert_id))
    return items


def _priority(item: _Alert, lines: _Lines) -> int:
    """Who picks first among lines without an id (a stable sort keeps time order within):
    0 an alert a later line names (analyzer, MongoDB), 1 the others, 2 an alert that already
    failed at a stage (a failed Focus publish sent RabbitMQ nothing; it takes only leftovers)."""
    if any(stage.status == "failed" for stage in item.stages.values()):
        return 2
    return 0 if lines.proven(item.alert_id) else 1


def _when(item: _Alert) -> pd.Timestamp:
    if item.anchor is not None:
        return item.anchor
    if item.request is not None:
        return item.request["start"]
    return pd.Timestamp.max.tz_localize("UTC")


def _trace_ingress(item: _Alert, *, have: bool) -> None:
    row = item.request
    if row is None:
        item.stages["ingress_request"] = (
            _Stage("missing", detail="no POST .../push-to-rabbit request near the Focus receipt")
            if have
            else _Stage("no_evidence", detail="no ingress access log in the bundle")
        )
        return
    status = row.get("status")
    code = None if status is None or _missing(status) else int(status)
    if code is not None and 200 <= code < 300:
        verdict = "passed"
    elif code is not None and code >= 400:
        verdict = "failed"
    else:
        verdict = "missing"
    item.stages["ingress_request"] = _Stage(
        verdict, row, _ingress_text(row), f"status {code if code is not None else 'unknown'}"
    )


def _first(rows: Iterable[Row] | None, used: set[int] | None = None) -> Row | None:
    """First of ``rows`` (not in ``used``, when given)."""
    return next((r for r in rows or () if used is None or id(r) not in used), None)


@dataclass
class _Publish:
    """One alert's Focus publish while its confirmation is looked for."""

    item: _Alert
    pub: Row | None  # its `Publishing alert to RabbitMQ` line
    errs: list[Row]  # ERROR lines about it


def _trace_focus(
    items: Sequence[_Alert], lines: _Lines, used: set[int], window: pd.Timedelta, skew: pd.Timedelta
) -> None:
    """Focus receipt and publish of every alert.

    ``Alert published successfully`` names no alert, so it is paired with a ``Publishing
    alert`` line of the same file, in three passes: (1) each publish without an error takes
    the first confirmation before the next ``Publishing`` line; (2) publishes still
    unconfirmed, latest first, take the first confirmation left over within ``window`` —
    two publishes handled at once interleave (``Publishing a``, ``Publishing b``, a's
    confirmation, b's), so pass 1 gave a's line to b and left b's; going back from the
    latest, a publish never confirmed does not take a later alert's line; (3) a publish
    that failed takes a confirmation left over after its failure (a retry that worked).
    A confirmation that names the alert is taken at once.
    """
    if not lines.have_focus:
        for item in items:
            item.stages["focus_received"] = _Stage("no_evidence", detail="no Focus Server log in the bundle")
            item.stages["focus_published"] = _Stage("no_evidence", detail="no Focus Server log in the bundle")
        return
    failed: list[_Publish] = []
    unconfirmed: list[_Publish] = []
    for item in items:
        one = _receive_and_publish(item, lines, used, window, skew)
        ok = _first(lines.published_ok_by_id.get(item.alert_id), used) if _by_id(item) else None
        if ok is None and one.pub is not None and not one.errs:
            ok = _confirmation(
                one.pub, item.alert_id, lines, used, one.pub["ts"], _next_publish(one.pub, lines, window)
            )
        if ok is not None:
            _published(one, ok, used)
        elif one.errs:
            failed.append(one)
        else:
            unconfirmed.append(one)
    for one in reversed(unconfirmed):
        aid, pub = one.item.alert_id, one.pub
        ok = None if pub is None else _confirmation(pub, aid, lines, used, pub["ts"], pub["ts"] + window)
        if ok is not None:
            _published(one, ok, used)
        elif one.pub is not None:
            one.item.stages["focus_published"] = _Stage(
                "missing",
                one.pub,
                _str(one.pub.get("message")),
                f"publishing started, no `Alert published successfully` within {fmt_duration(window)}",
            )
        else:
            one.item.stages["focus_published"] = _Stage(
                "missing", detail="no `Publishing alert to RabbitMQ` line for it"
            )
    for one in failed:
        ok = None
        if one.pub is not None:
            after = [e["ts"] for e in one.errs if not _missing(e.get("ts")) and e["ts"] >= one.pub["ts"]]
            lo, hi = min(after, default=one.pub["ts"]), _next_publish(one.pub, lines, window)
            ok = _confirmation(one.pub, one.item.alert_id, lines, used, lo, hi)
        if ok is not None:
            _published(one, ok, used)
            continue
        err = one.errs[0]
        used.add(id(err))
        text = str(err.get("message") or "")
        why = _str(err.get("exception_type"))
        why = f"{why.rsplit('.', 1)[-1]}: {err.get('exception_message')}" if why else _exception(text)
        one.item.stages["focus_published"] = _Stage(
            "failed", err, text, why or text[:120], since=one.pub["ts"] if one.pub is not None else None
        )


def _by_id(item: _Alert) -> bool:
    """Traced by its id (else: a push request no id claimed, traced by time)."""
    return item.request is None or item.anchor is not None


def _receive_and_publish(
    item: _Alert, lines: _Lines, used: set[int], window: pd.Timedelta, skew: pd.Timedelta
) -> _Publish:
    """The ``Received alert`` stage, and the publish's own lines (found by id, or by time)."""
    aid = item.alert_id
    if _by_id(item):
        recv = _first(lines.received_by_id.get(aid))
        pub = _first(lines.publishing_by_id.get(aid))
        errs = lines.errors_naming(aid)
    else:  # a request without id: Focus lines without an id, by time
        start = item.request["start"] if item.request is not None else None
        if start is None:
            recv = pub = None
            errs = []
        else:
            recv = lines.received_anon.first(used, start - skew, start + window)
            t = recv["ts"] if recv is not None else start
            pub = lines.publishing_anon.first(used, t - skew, t + window)
            t = pub["ts"] if pub is not None else t
            err = lines.publish_errors_anon.first(used, t - skew, t + window)
            errs = [err] if err is not None else []
    if recv is not None:
        used.add(id(recv))
        item.stages["focus_received"] = _Stage("passed", recv, _str(recv.get("message")))
    else:
        item.stages["focus_received"] = _Stage("missing", detail="no `Received alert` line for it")
    if pub is not None:
        used.add(id(pub))
        if _missing(pub["ts"]):
            pub = None
    return _Publish(item, pub, errs)


def _next_publish(pub: Row, lines: _Lines, window: pd.Timedelta) -> pd.Timestamp:
    """End of a publish's first look: the next ``Publishing alert`` line of its file, at most ``window``."""
    same = lines.publishing_by_source.get(_str(pub.get("source")))
    nxt = same.next_after(pub["ts"]) if same is not None else None
    return pub["ts"] + window if nxt is None else min(pub["ts"] + window, nxt)


def _confirmation(
    pub: Row, alert_id: str, lines: _Lines, used: set[int], lo: pd.Timestamp, hi: pd.Timestamp
) -> Row | None:
    """First unused ``Alert published successfully`` of ``pub``'s file in ``[lo, hi]``
    (without an id, or with this alert's)."""
    pool = lines.published_ok_by_source.get(_str(pub.get("source")))
    if pool is None:
        return None
    return pool.first(used, lo, hi, accept=lambda r: _str(r.get("alert_id")) in (None, alert_id))


def _published(one: _Publish, ok: Row, used: set[int]) -> None:
    used.add(id(ok))
    pub = one.pub
    detail = f"after `{pub.get('message')}` at {fmt_time(pub['ts'])}" if pub is not None else None
    if one.errs:
        detail = f"{detail or 'published'} after {len(one.errs)} failed attempt(s)"
    since = pub["ts"] if pub is not None else ok["ts"]
    one.item.stages["focus_published"] = _Stage("passed", ok, _str(ok.get("message")), detail, since=since)


def _publish_time(item: _Alert) -> pd.Timestamp | None:
    """Start of the RabbitMQ window: the Focus `Publishing alert` line (RabbitMQ logs the
    message before Focus logs `Alert published successfully`), else the receipt, else the push."""
    for stage in ("focus_published", "focus_received"):
        got = item.stages.get(stage)
        if got is not None and got.since is not None:
            return got.since
        if got is not None and got.row is not None and not _missing(got.row.get("ts")):
            return got.row["ts"]
    if item.request is not None:
        return item.request["start"]
    return item.anchor


def _take(candidates: Iterable[Row], used: set[int]) -> Row | None:
    """The first candidate, marked used."""
    row = next(iter(candidates), None)
    if row is not None:
        used.add(id(row))
    return row


_NO_RMQ_EVENTS = "RabbitMQ log has no message events (logged only at debug level) or is absent"


def _trace_rabbitmq(
    item: _Alert, lines: _Lines, used: set[int], window: pd.Timedelta, skew: pd.Timedelta, *, exchange: str
) -> None:
    t = _publish_time(item)
    if not lines.rmq_has_pub:
        item.stages["rabbitmq_published"] = _Stage("no_evidence", detail=_NO_RMQ_EVENTS)
    else:
        row = None if t is None else _take(lines.rmq_pub.around(used, t, before=skew, after=window), used)
        if row is not None:
            key = _str(row.get("routing_key"))
            item.stages["rabbitmq_published"] = _Stage(
                "passed", row, _str(row.get("message")), f"routing_key {key}" if key else None
            )
            t = row["ts"]
        else:
            item.stages["rabbitmq_published"] = _Stage(
                "missing", detail=f"no `Message published to exchange '{exchange}'` within {fmt_duration(window)}"
            )
    if not lines.rmq_has_con:
        item.stages["rabbitmq_consumed"] = _Stage("no_evidence", detail=_NO_RMQ_EVENTS)
        return
    row = None if t is None else _take(lines.rmq_con.around(used, t, before=skew, after=window), used)
    if row is not None:
        queue = _str(row.get("queue"))
        item.stages["rabbitmq_consumed"] = _Stage(
            "passed", row, _str(row.get("message")), f"queue {queue}" if queue else None
        )
    else:
        item.stages["rabbitmq_consumed"] = _Stage(
            "missing", detail=f"no `Message consumed from queue` within {fmt_duration(window)}"
        )


def _analyzer_detail(row: Row) -> str:
    parts = []
    if _str(row.get("job_id")):
        parts.append(f"job {row['job_id']}")
    for col in ("class_id", "severity", "distance_m"):
        if not _missing(row.get(col)):
            value = row[col]
            parts.append(f"{col}={int(value) if float(value).is_integer() else value}")
    return ", ".join(parts)


def _trace_analyzer(
    items: list[_Alert], lines: _Lines, used: set[int], window: pd.Timedelta, skew: pd.Timedelta
) -> None:
    if not lines.have_analyzer:
        for item in items:
            item.stages["analyzer_detected"] = _Stage("no_evidence", detail="no analyzer (grpc-job) log in the bundle")
        return
    # first pass: lines that name the alert; prefer the `Alert detected` line just before them
    for item in items:
        named = lines.an_with_id_by_id.get(item.alert_id)
        if not named:
            continue
        row = next((r for r in named if r.get("event") == "alert_detected"), None)
        if row is None:
            last = named[0]
            pool = lines.detected_by_source.get(_str(last.get("source")))
            earlier = None
            if pool is not None and not _missing(last.get("ts")):
                earlier = pool.last(used, last["ts"] - window, last["ts"])
            row = earlier if earlier is not None else last
        used.add(id(row))
        detail = _analyzer_detail(row)
        if row is not named[0]:
            detail = f"{detail}; {named[-1].get('message')}" if detail else str(named[-1].get("message"))
        item.stages["analyzer_detected"] = _Stage("passed", row, _str(row.get("message")), detail or None)
    # second pass: the nearest unused `Alert detected` line in time, or an error naming it
    for item in items:
        if "analyzer_detected" in item.stages:
            continue
        err = _first(lines.an_errors_by_id.get(item.alert_id))
        if err is not None:
            text = str(err.get("message") or "")
            item.stages["analyzer_detected"] = _Stage("failed", err, text, _exception(text) or text[:120])
            continue
        t = _publish_time(item)
        row = None if t is None else lines.detected.nearest(used, t - skew, t + window, t)
        if row is not None:
            item.stages["analyzer_detected"] = _Stage(
                "passed", row, _str(row.get("message")), _analyzer_detail(row) or None
            )
        else:
            item.stages["analyzer_detected"] = _Stage(
                "missing", detail=f"no `Alert detected` line within {fmt_duration(window)}"
            )


def _trace_sound(
    item: _Alert, sounds: _Pool, used: set[int], window: pd.Timedelta, skew: pd.Timedelta, *, have: bool
) -> None:
    if not have:
        item.stages["frontend_sound"] = _Stage("no_evidence", detail="no ingress access log in the bundle")
        return
    t = item.request["ts"] if item.request is not None else item.anchor
    if t is None:
        item.stages["frontend_sound"] = _Stage("missing", detail="no push to start from")
        return
    bad = None  # the first fetch answered >= 400, should no fetch have worked
    for row in sounds.around(used, t, before=skew, after=window):
        status = integer(row.get("status"))
        if status in (200, 206, 304):
            used.add(id(row))
            item.stages["frontend_sound"] = _Stage("passed", row, _ingress_text(row), f"status {status}")
            return
        if bad is None and status is not None and status >= 400:
            bad = row
    if bad is not None:
        used.add(id(bad))
        item.stages["frontend_sound"] = _Stage("failed", bad, _ingress_text(bad), f"status {int(bad['status'])}")
        return
    item.stages["frontend_sound"] = _Stage(
        "missing", detail=f"no GET alert_sound.mp3 within {fmt_duration(window)} after the push"
    )


def _trace_mongo(item: _Alert, lines: _Lines, used: set[int]) -> None:
    if not lines.mongo_alerts:
        item.stages["mongo_saved"] = _Stage("no_evidence", detail="no MongoDB alert documents in the bundle")
        return
    if item.anchor is None and item.request is not None:
        # every alert document names its alert (and is traced as that alert): a push whose
        # id is unknown cannot be looked up, which says nothing either way
        item.stages["mongo_saved"] = _Stage("no_evidence", detail="the push carries no known alert id to look up")
        return
    row = _first(lines.mongo_by_id.get(item.alert_id), used)
    if row is not None:
        used.add(id(row))
        item.stages["mongo_saved"] = _Stage(
            "passed", row, _str(row.get("document")), f"collection {row.get('collection')}"
        )
    else:
        item.stages["mongo_saved"] = _Stage("missing", detail="no MongoDB document with this alert id")


def _table(items: Iterable[_Alert]) -> pd.DataFrame:
    """The trace table: alert-major, exactly one row per stage in :data:`STAGES` order
    (:func:`alerts` reads it as an alerts × stages matrix)."""
    rows = []
    for item in items:
        for stage in STAGES:
            got = item.stages.get(stage) or _Stage("no_evidence")
            row = got.row or {}
            rows.append(
                {
                    "alert_id": item.alert_id,
                    "stage": stage,
                    "status": got.status,
                    "ts": row.get("ts"),
                    "source": row.get("source"),
                    "line_no": row.get("line_no"),
                    "text": got.text,
                    "detail": got.detail,
                }
            )
    df = pd.DataFrame(rows, columns=list(_COLUMNS))
    df["alert_id"] = df["alert_id"].astype("string")
    df["stage"] = df["stage"].astype(_STAGE_DTYPE)
    df["status"] = df["status"].astype(_STATUS_DTYPE)
    ts = df["ts"].astype("object").where(df["ts"].notna(), None)
    df["ts"] = pd.to_datetime(ts, utc=True).astype(UTC_NS)
    for col in ("source", "text", "detail"):
        df[col] = df[col].astype("object").where(df[col].notna(), None).astype("string")
    df["line_no"] = pd.to_numeric(df["line_no"].astype("object").where(df["line_no"].notna(), None)).astype("Int64")
    return df.reset_index(drop=True)


# -- verdict, all alerts at once: where each one stopped -----------------------------------------


def _stops(status: np.ndarray) -> np.ndarray:
    """Stage index where each alert stopped (``-1``: it did not), from an alerts × stages matrix
    of status codes: the first failed stage, else the first missing one after the last
    passed stage (a gap before a later pass is a logging gap, not a stop)."""
    n_stages = status.shape[1]
    failed = status == _FAILED
    passed = status == _PASSED
    last_passed = np.where(passed.any(axis=1), n_stages - 1 - passed[:, ::-1].argmax(axis=1), -1)
    after = (status == _MISSING) & (np.arange(n_stages) > last_passed[:, None])
    first_missing = np.where(after.any(axis=1), after.argmax(axis=1), -1)
    return np.where(failed.any(axis=1), failed.argmax(axis=1), first_missing)


@dataclass(frozen=True)
class _Stopped:
    """The verdict for one stage: the alerts that stopped there."""

    stage: str
    rows: pd.DataFrame  # their trace rows, alert-major, STAGES order, alerts in time order
    status: np.ndarray  # their alerts × stages status codes
    total: int  # alerts traced in the bundle
    queue: str | None  # the queue the other alerts were consumed from, when one was


def _verdicts(trace: pd.DataFrame) -> list[_Stopped]:
    """Group the stopped alerts by stage (pipeline order): one small frame per stage."""
    n_stages = len(STAGES)
    total = len(trace) // n_stages
    if total == 0:
        return []
    status = trace["status"].cat.codes.to_numpy().reshape(total, n_stages)
    stop = _stops(status)
    consumed = trace.loc[(trace["stage"] == "rabbitmq_consumed") & (trace["status"] == "passed"), "detail"]
    queues = consumed.dropna().str.removeprefix("queue ")
    queue = str(queues.mode().iloc[0]) if len(queues) else None
    per_row = np.repeat(stop, n_stages)
    stopped = trace[per_row >= 0]
    out = []
    for index, rows in stopped.groupby(per_row[per_row >= 0], sort=True):
        which = stop == index
        out.append(_Stopped(STAGES[int(index)], rows, status[which], total, queue))
    return out


# -- narration ------------------------------------------------------------------------------------


def _at(row: pd.Series) -> str:
    return fmt_time(row["ts"]) if not _missing(row["ts"]) else "an unknown time"


def _why(stage: str, row: pd.Series, window_s: float) -> str:
    """The clause that says why one alert stopped at ``stage``."""
    status, detail = str(row["status"]), _str(row["detail"]) or ""
    within = fmt_duration(window_s)
    if stage == "ingress_request":
        return (
            f"push-to-rabbit answered {detail.removeprefix('status ')} at {_at(row)}"
            if status == "failed"
            else ("no push-to-rabbit request reached the ingress")
        )
    if stage == "focus_received":
        return "the Focus Server never logged `Received alert` for it"
    if stage == "focus_published":
        if status == "failed":
            return f"the Focus Server failed to publish it to RabbitMQ at {_at(row)} ({detail})"
        if _str(row["text"]):
            return f"the Focus Server started publishing it at {_at(row)} but never confirmed `Alert published successfully`"
        return "the Focus Server never published it to RabbitMQ"
    if stage == "rabbitmq_published":
        return f"RabbitMQ logged no message published to the exchange within {within}"
    if stage == "rabbitmq_consumed":
        return f"no consumer took it from the queue within {within}"
    if stage == "analyzer_detected":
        if status == "failed":
            return f"the analyzer failed on it at {_at(row)} ({detail})"
        return f"the analyzer logged no detection within {within}"
    if stage == "frontend_sound":
        if status == "failed":
            return f"the front end's GET alert_sound.mp3 answered {detail.removeprefix('status ')} at {_at(row)}"
        return f"the front end never fetched alert_sound.mp3 within {within} of the push"
    return "no MongoDB document holds it"


def _why_many(stage: str, at_stop: pd.DataFrame, window_s: float, queue: str | None) -> str:
    """The clause that says why several alerts stopped at ``stage`` (each kind of stop counted)."""
    n = len(at_stop)
    within = fmt_duration(window_s)
    status = at_stop["status"].astype(str)
    details = at_stop["detail"].astype("object").where(at_stop["detail"].notna(), "").astype(str)
    has_text = at_stop["text"].notna()
    parts: list[str] = []

    def them(k: int) -> str:
        return "them" if k == n else f"{k} of them"

    failed, missing = (status == "failed"), (status == "missing")
    k_failed, k_missing = int(failed.sum()), int(missing.sum())
    if stage == "ingress_request":
        if k_failed:
            parts.append(f"push-to-rabbit was answered {_counted(d.removeprefix('status ') for d in details[failed])}")
        if k_missing:
            parts.append(f"no push-to-rabbit request reached the ingress for {them(k_missing)}")
    elif stage == "focus_received":
        parts.append(f"the Focus Server never logged `Received alert` for {them(n)}")
    elif stage == "focus_published":
        if k_failed:
            parts.append(
                f"the Focus Server failed to publish {them(k_failed)} to RabbitMQ ({_counted(details[failed])})"
            )
        started = int((missing & has_text).sum())
        if started:
            parts.append(
                f"the Focus Server started publishing {them(started)} but never confirmed `Alert published successfully`"
            )
        if k_missing - started:
            parts.append(f"the Focus Server never published {them(k_missing - started)} to RabbitMQ")
    elif stage == "rabbitmq_published":
        parts.append(f"RabbitMQ logged no message published to the exchange within {within} for {them(n)}")
    elif stage == "rabbitmq_consumed":
        where = f"queue '{queue}' (where the other alerts were consumed)" if queue else "the queue"
        parts.append(f"no consumer took {them(n)} from {where} within {within}")
    elif stage == "analyzer_detected":
        if k_failed:
            parts.append(f"the analyzer failed on {them(k_failed)} ({_counted(details[failed])})")
        if k_missing:
            parts.append(f"the analyzer logged no detection within {within} for {them(k_missing)}")
    elif stage == "frontend_sound":
        if k_failed:
            answered = _counted(d.removeprefix("status ") for d in details[failed])
            parts.append(f"the front end's GET alert_sound.mp3 answered {answered} for {them(k_failed)}")
        if k_missing:
            parts.append(
                f"the front end never fetched alert_sound.mp3 within {within} of the push for {them(k_missing)}"
            )
    else:
        parts.append(f"no MongoDB document holds {them(n)}")
    return "; ".join(parts)


def _reached(one: pd.DataFrame, stop: str) -> str:
    """What the alert did reach, for the start of the sentence."""
    before = one[(one["stage"] < stop) & (one["status"] == "passed")]
    ingress = before[before["stage"] == "ingress_request"]
    if len(ingress):
        row = ingress.iloc[0]
        return f"push-to-rabbit answered {(_str(row['detail']) or '').removeprefix('status ')} at {_at(row)}"
    if len(before):
        row = before.iloc[-1]
        return f"{_NOUN[str(row['stage'])]} passed at {_at(row)}"
    return ""


def _quotes(one: pd.DataFrame, stop: str, limit: int) -> pd.DataFrame:
    """One alert's proving lines: the stop's own line first, then the passed lines before it."""
    quoted = one[one["ts"].notna() & one["text"].notna() & (one["stage"] <= stop)]
    quoted = pd.concat([quoted[quoted["stage"] == stop], quoted[quoted["stage"] < stop].iloc[::-1]]).head(limit)
    return quoted.sort_values("ts", kind="stable")


def _evidence(rows: pd.DataFrame) -> tuple[Evidence, ...]:
    return tuple(
        Evidence(
            source=str(r["source"] or "?"),
            line_no=None if _missing(r["line_no"]) else int(r["line_no"]),
            ts=r["ts"],
            text=str(r["text"]),
        )
        for _, r in rows.iterrows()
    )


def _pod_of(source: Any) -> tuple[str, str] | None:
    found = log_source(source)
    return (found[0], found[1]) if found else None


def _first_pod(sources: Iterable[Any]) -> tuple[str, str] | None:
    for source in sources:
        found = _pod_of(source)
        if found:
            return found
    return None


def _frame_pod(df: pd.DataFrame) -> tuple[str, str] | None:
    """Namespace and pod of the first line of ``df`` that comes from a pod log."""
    if df.empty:
        return None
    found = _first_pod(df["source"].head(64))  # nearly always the first line
    return found or _first_pod(df["source"].dropna().unique())


_DEFAULT_PODS = {  # what the commands name when the bundle shows no such pod
    "ingress": ("kube-system", "$(kubectl get pods -n kube-system -o name | grep ingress-nginx-controller | head -1)"),
    "analyzer": (NAMESPACE, f"$(kubectl get pods -n {NAMESPACE} -o name | grep grpc-job | head -1)"),
}
# which trace stages were proven by which pod's log
_FAMILY_STAGES = {
    "ingress": ("ingress_request", "frontend_sound"),
    "focus": ("focus_received", "focus_published"),
    "rabbit": ("rabbitmq_published", "rabbitmq_consumed"),
    "analyzer": ("analyzer_detected",),
}


class _Pods:
    """The pods to name in next steps: the one whose log proved one of the alerts' stages, else
    the bundle's (the Focus Server and RabbitMQ pods as :mod:`._util` finds them, the first
    pod of the ingress and analyzer logs), else the platform's defaults."""

    def __init__(self, frames: Frames) -> None:
        self._frames = frames
        self._cache: dict[str, tuple[str, str]] = {}

    def of(self, family: str, rows: pd.DataFrame) -> tuple[str, str]:
        proven = rows.loc[rows["stage"].isin(_FAMILY_STAGES[family]), "source"].dropna()
        found = _first_pod(proven.unique())
        if found:
            return found
        if family not in self._cache:
            self._cache[family] = self._bundle(family)
        return self._cache[family]

    def _bundle(self, family: str) -> tuple[str, str]:
        if family == "rabbit":
            return rabbitmq_pod(self._frames)
        if family == "focus":
            found = focus_server(self._frames)
            if found.pod is not None:
                return found.namespace or NAMESPACE, found.pod
            namespace = found.namespace or NAMESPACE
            return namespace, f"$(kubectl get pods -n {namespace} -l {FOCUS_LABEL} -o name | head -1)"
        df = self._frames.ingress if family == "ingress" else self._frames.analyzer
        return _frame_pod(df) or _DEFAULT_PODS[family]


def _next_steps(pods: _Pods, rows: pd.DataFrame, stop: str, alert_ids: Sequence[str]) -> tuple[str, ...]:
    ingress, focus, rabbit, analyzer = (pods.of(f, rows) for f in ("ingress", "focus", "rabbit", "analyzer"))
    names = [a.removeprefix("request ") for a in alert_ids[:_IDS_IN_SUMMARY]]
    grep = "|".join(names)
    if len(names) == 1:
        mongo_query = f"db.alerts.countDocuments({{alertId: '{names[0]}'}})"
    else:
        listed = ", ".join(f"'{a}'" for a in names)
        mongo_query = f"db.alerts.find({{alertId: {{$in: [{listed}]}}}}, {{alertId: 1}})"
    steps = {
        "ingress": f'kubectl logs -n {ingress[0]} {ingress[1]} --since=1h | grep -E "push-to-rabbit|alert_sound.mp3"',
        "focus": f'kubectl logs -n {focus[0]} {focus[1]} --since=1h | grep -E "{grep}|push-to-rabbit|RabbitMQ"',
        "rabbit": f'kubectl logs -n {rabbit[0]} {rabbit[1]} --since=1h | grep -E "exchange .prisma.|closing AMQP connection|missed heartbeats"',
        "queues": f"kubectl exec -n {rabbit[0]} {rabbit[1]} -- rabbitmqctl list_queues name messages_ready consumers",
        "analyzer": f'kubectl logs -n {analyzer[0]} {analyzer[1]} --since=1h | grep -iE "alert|Algorithm.AlertReport"',
        "mongo": f'kubectl exec -n {NAMESPACE} deploy/mongodb -- mongosh --quiet --eval "{mongo_query}"',
        "alarms": f"kubectl exec -n {rabbit[0]} {rabbit[1]} -- rabbitmq-diagnostics alarms",
        "webapp": f"kubectl get pods,endpoints -n {NAMESPACE} -o wide | grep -E 'prisma-web-app|webapp'",
        "browser": f'kubectl logs -n {ingress[0]} {ingress[1]} --since=1h | grep -E "GET /prisma/|socket.io" | tail -20',
        "pods": f"kubectl get pods -n {NAMESPACE} -o wide | grep -E 'focus-server|rabbitmq|grpc-job|mongodb'",
    }
    plan = {
        "ingress_request": ("ingress", "webapp", "focus"),
        "focus_received": ("focus", "ingress", "webapp"),
        "focus_published": ("focus", "rabbit", "alarms", "queues"),
        "rabbitmq_published": ("rabbit", "focus", "queues"),
        "rabbitmq_consumed": ("queues", "rabbit", "analyzer"),
        "analyzer_detected": ("analyzer", "pods", "queues"),
        "frontend_sound": ("ingress", "browser", "queues"),
        "mongo_saved": ("mongo", "focus", "analyzer"),
    }[stop]
    return tuple(steps[k] for k in plan)


def _status_counts(status: np.ndarray) -> dict[str, int]:
    counts = np.bincount(status, minlength=len(STATUSES))
    return {name: int(counts[i]) for i, name in enumerate(STATUSES) if counts[i]}


def _finding(stopped: _Stopped, pods: _Pods, window_s: float) -> Finding:
    rows, stop, n_stages = stopped.rows, stopped.stage, len(STAGES)
    index = STAGES.index(stop)
    ids = [str(a) for a in rows["alert_id"].iloc[::n_stages]]
    n = len(ids)
    first, last = rows.iloc[:n_stages], rows.iloc[-n_stages:]
    at_stop = rows.iloc[index::n_stages]
    # later stages that followed for none of them
    never = (stopped.status == _MISSING).all(axis=0)
    later = [STAGES[i] for i in range(index + 1, n_stages) if never[i]]
    followed = ("; " + ", ".join(f"no {_NOUN[s]}" for s in later) + " followed") if later else ""

    if n == 1:
        reached, why = _reached(first, stop), _why(stop, at_stop.iloc[0], window_s)
        lead = f"{reached} but {why}" if reached and stop != "ingress_request" else why
        summary = f"alert {ids[0]}: {lead}{followed}."
        quoted = _quotes(first, stop, 5)
    else:
        seen = rows["ts"].dropna()
        when = f" from {fmt_span(seen.min(), seen.max())}" if len(seen) else ""
        named = ", ".join(ids[:_IDS_IN_SUMMARY]) + (", …" if n > _IDS_IN_SUMMARY else "")
        summary = (
            f"{n} of {stopped.total} alerts stopped at {_WHERE[stop]}{when} (first {named}): "
            f"{_why_many(stop, at_stop, window_s, stopped.queue)}{followed}."
        )
        quoted = pd.concat([_quotes(first, stop, 3), _quotes(last, stop, 2)])

    seen = rows["ts"].dropna()
    ingress = rows.iloc[0::n_stages]
    ingress_codes = [(_str(d) or "").removeprefix("status ") for d in ingress["detail"]]
    ingress_counts = Counter(int(c) for c in ingress_codes if c.isdigit())
    stop_status = at_stop["status"].astype(str)
    causes = Counter(_str(d) or str(s) for d, s in zip(at_stop["detail"], stop_status, strict=True))
    stage_status = {STAGES[i]: _status_counts(stopped.status[:, i]) for i in range(n_stages)}
    span_s = (seen.max() - seen.min()).total_seconds() if len(seen) else 0.0
    component = _COMPONENT[stop]
    metrics: dict[str, Any] = {
        "stopped_at": stop,
        "alerts_stopped": n,
        "alerts_total": stopped.total,
        "share_stopped": round(n / stopped.total, 4),
        "stopped_per_min": round(n / span_s * 60, 2) if n > 1 and span_s > 0 else None,
        "alert_id": ids[0],
        "alert_ids": ids[:_IDS_IN_METRICS],
        "last_alert_id": ids[-1],
        "stop_status": Counter(stop_status).most_common(1)[0][0],
        "stop_status_counts": dict(Counter(stop_status)),
        "causes": dict(causes.most_common(5)),
        "ingress_status": next(iter(ingress_counts)) if len(ingress_counts) == 1 else None,
        "ingress_status_counts": {str(k): v for k, v in sorted(ingress_counts.items())},
        "stage_status": stage_status,
        "stages_no_evidence": [s for s, counts in stage_status.items() if counts.get("no_evidence") == n],
        "window_s": float(window_s),
    }
    if stop.startswith("rabbitmq") and stopped.queue:
        metrics["queue"] = stopped.queue
    return Finding(
        code=Code.ALERT_NOT_DELIVERED,
        severity=Severity.CRITICAL,
        title=_TITLE[component],
        summary=summary,
        component=component,
        first_seen=seen.min() if len(seen) else None,
        last_seen=seen.max() if len(seen) else None,
        evidence=_evidence(quoted),
        next_steps=_next_steps(pods, rows, stop, ids),
        subject=stop,
        metrics=metrics,
    )


def alerts(frames: Frames, *, window_s: float = 30.0, skew_s: float = 1.0, exchange: str = "prisma") -> list[Finding]:
    """Alerts that stopped in the pipeline (seed 000): ``ALERT_NOT_DELIVERED``, critical, one per stage.

    Builds :func:`alert_trace` and finds where each alert stopped: its first ``failed``
    stage, or a ``missing`` stage after which no later stage passed. Stages with
    ``no_evidence`` (logs not in the bundle) never make a stop by themselves, and a
    ``missing`` stage followed by a passed one is a gap in the logs, not a stop. The alerts
    that stopped at the same stage make one finding: its summary counts them ("50 of 2000
    alerts stopped at RabbitMQ (queue consumption) ...") and names the first ids, why they
    stopped (each cause counted) and the later stages that never followed; one alert alone
    is told as itself (``alert test-sd-124: push-to-rabbit answered 201 ... but ...``).

    Parameters
    ----------
    frames
        Parsed frames of one bundle.
    window_s
        How long after the previous stage a line may come and still count, seconds
        (default 30.0).
    skew_s
        Clock skew tolerated between pods, seconds (default 1.0).
    exchange
        RabbitMQ exchange alerts are published to (default ``"prisma"``).

    Returns
    -------
    list[Finding]
        One ``ALERT_NOT_DELIVERED`` (critical) per stage where alerts stopped, in pipeline
        order; ``subject`` is the stage (:data:`STAGES`), ``component`` its owner.
        ``metrics``: ``stopped_at``, ``alerts_stopped``, ``alerts_total``,
        ``share_stopped``, ``stopped_per_min``, ``alert_id`` (the first), ``alert_ids``
        (the first ten), ``last_alert_id``, ``stop_status`` (the most common) and
        ``stop_status_counts``, ``causes`` (detail → count), ``ingress_status`` (when they
        share one) and ``ingress_status_counts``, ``stage_status`` (stage → status →
        count), ``stages_no_evidence``, ``queue`` (RabbitMQ stages, when known),
        ``window_s``. Evidence quotes the first alert's lines (and the last one's when
        several stopped). ``[]`` when every alert got through (or there is none).

    Examples
    --------
    >>> import panda_analysis as pa
    >>> [(f.subject, f.metrics["alerts_stopped"], f.metrics["alert_ids"])
    ...  for f in pa.diagnose.alerts(pa.samples.alert_lost().frames())]
    [('focus_published', 1, ['test-sd-124'])]
    >>> pa.diagnose.alerts(pa.samples.healthy().frames())
    []
    """
    trace = alert_trace(frames, window_s=window_s, skew_s=skew_s, exchange=exchange)
    verdicts = _verdicts(trace)
    if not verdicts:
        return []
    pods = _Pods(frames)
    return [_finding(stopped, pods, window_s) for stopped in verdicts]
