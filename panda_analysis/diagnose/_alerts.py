"""Alert pipeline: trace each alert through the stages of seed 000 (``ALERT_NOT_DELIVERED``).

Seed 000 proves an alert went through by walking the logs in order: the ingress access
line of ``POST .../push-to-rabbit`` (201), the Focus Server's ``Received alert`` /
``Publishing alert to RabbitMQ: <id>`` / ``Alert published successfully``, RabbitMQ's
``Message published to exchange 'prisma' with routing_key '...'`` and ``Message consumed
from queue ...``, the analyzer's ``Alert detected`` / ``Alert published successfully:
<id>``, the browser's ``GET /assets/sounds/alert_sound.mp3`` (200 / 206) and the MongoDB
document. :func:`alert_trace` turns that checklist into a table (one row per alert and
stage: passed / failed / missing / no_evidence, with the proving line); :func:`alerts`
reports each alert that stopped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from panda_analysis._time import UTC_NS
from panda_analysis.diagnose._util import fmt_duration, fmt_time
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

_PUSH = re.compile(r"push-to-rabbit", re.I)
_SOUND = re.compile(r"alert_sound\.mp3", re.I)
_RECEIVED = re.compile(r"\breceived alert\b", re.I)
_PUBLISHING = re.compile(r"\bpublishing alert\b", re.I)
_PUBLISHED_OK = re.compile(r"\balert published successfully\b", re.I)
_RMQ_PUBLISHED = re.compile(r"\bmessage published\b", re.I)
_RMQ_CONSUMED = re.compile(r"\bmessage consumed\b", re.I)
# "pika.exceptions.StreamLostError: Stream connection lost: ConnectionResetError(...)"
_EXCEPTION = re.compile(r"(?:[A-Za-z_][\w]*\.)*(?P<type>[A-Z]\w*(?:Error|Exception|Timeout))\s*:\s*(?P<msg>[^:\n]*)")
_LOG_SOURCE = re.compile(r"^logs/(?P<ns>[^/]+)/(?P<pod>[^/]+)/(?P<container>[^/]+?)(?:\.previous)?\.log$")


@dataclass
class _Stage:
    status: str
    row: dict[str, Any] | None = None
    text: str | None = None
    detail: str | None = None
    since: pd.Timestamp | None = None  # where the next stage's window starts (default: row ts)


@dataclass
class _Alert:
    alert_id: str
    anchor: pd.Timestamp | None  # Focus receipt (or first Focus line), else the request start
    request: dict[str, Any] | None = None
    stages: dict[str, _Stage] = field(default_factory=dict)


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [dict(r) for r in df.to_dict("records")]


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and value != value


def _str(value: Any) -> str | None:
    return None if _missing(value) else str(value)


def _contains(series: pd.Series, pattern: re.Pattern[str]) -> pd.Series:
    return series.astype("string").str.contains(pattern, na=False).astype(bool)


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(["ts", "source", "line_no"], kind="stable", na_position="last")


def _request_start(row: dict[str, Any]) -> pd.Timestamp:
    # ingress-nginx logs $time_local when the response is sent, to the second: the request
    # began about request_time_s earlier (seed 000: 12:08:41 with 0.106 s, Focus at 12:08:40.909)
    took = row.get("request_time_s")
    seconds = 0.0 if took is None or _missing(took) else float(took)
    return pd.Timestamp(row["ts"]) - pd.Timedelta(seconds=seconds)


def _ingress_text(row: dict[str, Any]) -> str:
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


def _pick(
    candidates: list[dict[str, Any]],
    used: set[int],
    lo: pd.Timestamp,
    hi: pd.Timestamp,
    *,
    near: pd.Timestamp | None = None,
    key: str = "ts",
) -> dict[str, Any] | None:
    """First unused candidate in ``[lo, hi]`` (or the nearest to ``near``); marks it used."""
    best: dict[str, Any] | None = None
    for row in candidates:
        when = row[key]
        if id(row) in used or _missing(when) or when < lo or when > hi:
            continue
        if near is None:
            best = row
            break
        if best is None or abs(when - near) < abs(best[key] - near):
            best = row
    if best is not None:
        used.add(id(best))
    return best


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
    each line to one alert only, alerts in time order.

    Stages, in order:

    ``ingress_request``
        the push-to-rabbit request closest to the Focus ``Received alert`` line (its start,
        ``ts - request_time_s``): passed if 2xx, failed if ≥ 400.
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
    ingress, focus, rmq, analyzer, mongo = (
        frames.ingress,
        frames.focus,
        frames.rabbitmq_log,
        frames.analyzer,
        frames.mongo,
    )

    # -- candidate lines, each family sorted by time ---------------------------------------
    if len(ingress):
        path = ingress["path"].astype("string").fillna("")
        method = ingress["method"].astype("string").fillna("").str.upper()
        pushes = _records(_sorted(ingress[(method == "POST") & _contains(path, _PUSH)]))
        sounds = _records(_sorted(ingress[(method == "GET") & _contains(path, _SOUND)]))
    else:
        pushes, sounds = [], []
    for row in pushes:
        row["start"] = _request_start(row)

    if len(focus):
        fmsg = focus["message"].astype("string").fillna("")
        received = _records(_sorted(focus[_contains(fmsg, _RECEIVED)]))
        publishing = _records(_sorted(focus[_contains(fmsg, _PUBLISHING)]))
        published_ok = _records(_sorted(focus[_contains(fmsg, _PUBLISHED_OK)]))
        level = focus["level"].astype("string").fillna("")
        focus_errors = _records(_sorted(focus[level.isin(["error", "critical"])]))
    else:
        received, publishing, published_ok, focus_errors = [], [], [], []

    if len(rmq):
        rmsg = rmq["message"].astype("string").fillna("")
        exch = rmq["exchange"].astype("string")
        rmq_pub = _records(_sorted(rmq[_contains(rmsg, _RMQ_PUBLISHED) & (exch.isna() | (exch == exchange))]))
        rmq_con = _records(_sorted(rmq[_contains(rmsg, _RMQ_CONSUMED)]))
        rmq_has_pub = bool(_contains(rmsg, _RMQ_PUBLISHED).any())
        rmq_has_con = bool(_contains(rmsg, _RMQ_CONSUMED).any())
    else:
        rmq_pub, rmq_con, rmq_has_pub, rmq_has_con = [], [], False, False

    if len(analyzer):
        event = analyzer["event"].astype("string")
        detected = _records(_sorted(analyzer[event == "alert_detected"]))
        an_with_id = _records(
            _sorted(
                analyzer[
                    analyzer["alert_id"].notna() & event.isin(["alert_detected", "alert_publishing", "alert_published"])
                ]
            )
        )
        alevel = analyzer["level"].astype("string").fillna("")
        an_errors = _records(_sorted(analyzer[alevel.isin(["error", "critical"]) & analyzer["alert_id"].notna()]))
    else:
        detected, an_with_id, an_errors = [], [], []

    mongo_alerts = _records(_sorted(mongo[mongo["alert_id"].notna()])) if len(mongo) else []

    # -- the alerts: ids first (anchored on Focus), then unmatched push requests -------------
    first_seen: dict[str, pd.Timestamp] = {}
    focus_anchor: dict[str, pd.Timestamp] = {}
    families = (
        (received, True),
        (publishing, True),
        (focus_errors, True),
        (an_with_id, False),
        (an_errors, False),
        (mongo_alerts, False),
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

    used: set[int] = set()
    for item in items:  # ingress request closest to the Focus receipt
        if item.anchor is not None:
            item.request = _pick(pushes, used, item.anchor - window, item.anchor + skew, near=item.anchor, key="start")
    for row in pushes:
        if id(row) not in used and not _missing(row.get("ts")):
            rid = _str(row.get("request_id"))
            name = f"request {rid}" if rid else f"request at {fmt_time(row['ts'])}"
            items.append(_Alert(alert_id=name, anchor=None, request=row))
            used.add(id(row))
    items.sort(key=lambda a: (_when(a), a.alert_id))

    # -- stage by stage -----------------------------------------------------------------------
    for item in items:
        _trace_ingress(item, have=len(ingress) > 0)
    for item in items:
        _trace_focus(item, received, publishing, published_ok, focus_errors, used, window, skew, have=len(focus) > 0)
    for item in items:
        _trace_rabbitmq(item, rmq_pub, rmq_con, used, window, skew, have=(rmq_has_pub, rmq_has_con), exchange=exchange)
    _trace_analyzer(items, detected, an_with_id, an_errors, used, window, skew, have=len(analyzer) > 0)
    for item in items:
        _trace_sound(item, sounds, used, window, skew, have=len(ingress) > 0)
        _trace_mongo(item, mongo_alerts, used, have=len(mongo_alerts) > 0)

    if alert_id:
        items = [item for item in items if str(alert_id) in item.alert_id]
    return _table(items)


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


def _trace_focus(
    item: _Alert,
    received: list[dict[str, Any]],
    publishing: list[dict[str, Any]],
    published_ok: list[dict[str, Any]],
    errors: list[dict[str, Any]],
    used: set[int],
    window: pd.Timedelta,
    skew: pd.Timedelta,
    *,
    have: bool,
) -> None:
    if not have:
        item.stages["focus_received"] = _Stage("no_evidence", detail="no Focus Server log in the bundle")
        item.stages["focus_published"] = _Stage("no_evidence", detail="no Focus Server log in the bundle")
        return
    aid = item.alert_id
    by_id = item.request is None or item.anchor is not None
    if by_id:
        recv = next((r for r in received if _str(r.get("alert_id")) == aid), None)
        pub = next((r for r in publishing if _str(r.get("alert_id")) == aid), None)
        named = re.compile(rf"(?<![\w-]){re.escape(aid)}(?![\w-])")
        errs = [r for r in errors if _str(r.get("alert_id")) == aid or named.search(str(r.get("message") or ""))]
    else:  # a request without id: Focus lines without an id, by time
        start = item.request["start"] if item.request is not None else None
        if start is None:
            recv = pub = None
            errs = []
        else:
            recv = _pick([r for r in received if _missing(r.get("alert_id"))], used, start - skew, start + window)
            t = recv["ts"] if recv is not None else start
            pub = _pick([r for r in publishing if _missing(r.get("alert_id"))], used, t - skew, t + window)
            t = pub["ts"] if pub is not None else t
            errs = [
                r for r in errors if _missing(r.get("alert_id")) and "publish" in str(r.get("message") or "").lower()
            ]
            errs = [r for r in errs if t - skew <= r["ts"] <= t + window and id(r) not in used][:1]
            used.update(id(r) for r in errs)
    if recv is not None:
        used.add(id(recv))
        item.stages["focus_received"] = _Stage("passed", recv, _str(recv.get("message")))
    else:
        item.stages["focus_received"] = _Stage("missing", detail="no `Received alert` line for it")

    ok = None
    if pub is not None:
        used.add(id(pub))
        nxt = next((r["ts"] for r in publishing if r["ts"] > pub["ts"] and r.get("source") == pub.get("source")), None)
        limit = pub["ts"] + window if nxt is None else min(pub["ts"] + window, nxt)
        ok = next(
            (
                r
                for r in published_ok
                if id(r) not in used
                and r.get("source") == pub.get("source")
                and pub["ts"] <= r["ts"] <= limit
                and _str(r.get("alert_id")) in (None, aid)
            ),
            None,
        )
    if ok is None and by_id:
        ok = next((r for r in published_ok if _str(r.get("alert_id")) == aid and id(r) not in used), None)
    if ok is not None:
        used.add(id(ok))
        detail = f"after `{pub.get('message')}` at {fmt_time(pub['ts'])}" if pub is not None else None
        if errs:
            detail = f"{detail or 'published'} after {len(errs)} failed attempt(s)"
        since = pub["ts"] if pub is not None else ok["ts"]
        item.stages["focus_published"] = _Stage("passed", ok, _str(ok.get("message")), detail, since=since)
    elif errs:
        err = errs[0]
        used.add(id(err))
        text = str(err.get("message") or "")
        why = _str(err.get("exception_type"))
        why = f"{why.rsplit('.', 1)[-1]}: {err.get('exception_message')}" if why else _exception(text)
        item.stages["focus_published"] = _Stage(
            "failed", err, text, why or text[:120], since=pub["ts"] if pub is not None else None
        )
    elif pub is not None:
        item.stages["focus_published"] = _Stage(
            "missing",
            pub,
            _str(pub.get("message")),
            f"publishing started, no `Alert published successfully` within {fmt_duration(window)}",
        )
    else:
        item.stages["focus_published"] = _Stage("missing", detail="no `Publishing alert to RabbitMQ` line for it")


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


def _trace_rabbitmq(
    item: _Alert,
    published: list[dict[str, Any]],
    consumed: list[dict[str, Any]],
    used: set[int],
    window: pd.Timedelta,
    skew: pd.Timedelta,
    *,
    have: tuple[bool, bool],
    exchange: str,
) -> None:
    t = _publish_time(item)
    if not have[0]:
        item.stages["rabbitmq_published"] = _Stage(
            "no_evidence", detail="RabbitMQ log has no message events (logged only at debug level) or is absent"
        )
    else:
        row = None if t is None else _pick(published, used, t - skew, t + window)
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
    if not have[1]:
        item.stages["rabbitmq_consumed"] = _Stage(
            "no_evidence", detail="RabbitMQ log has no message events (logged only at debug level) or is absent"
        )
        return
    row = None if t is None else _pick(consumed, used, t - skew, t + window)
    if row is not None:
        queue = _str(row.get("queue"))
        item.stages["rabbitmq_consumed"] = _Stage(
            "passed", row, _str(row.get("message")), f"queue {queue}" if queue else None
        )
    else:
        item.stages["rabbitmq_consumed"] = _Stage(
            "missing", detail=f"no `Message consumed from queue` within {fmt_duration(window)}"
        )


def _analyzer_detail(row: dict[str, Any]) -> str:
    parts = []
    if _str(row.get("job_id")):
        parts.append(f"job {row['job_id']}")
    for col in ("class_id", "severity", "distance_m"):
        if not _missing(row.get(col)):
            value = row[col]
            parts.append(f"{col}={int(value) if float(value).is_integer() else value}")
    return ", ".join(parts)


def _trace_analyzer(
    items: list[_Alert],
    detected: list[dict[str, Any]],
    with_id: list[dict[str, Any]],
    errors: list[dict[str, Any]],
    used: set[int],
    window: pd.Timedelta,
    skew: pd.Timedelta,
    *,
    have: bool,
) -> None:
    if not have:
        for item in items:
            item.stages["analyzer_detected"] = _Stage("no_evidence", detail="no analyzer (grpc-job) log in the bundle")
        return
    # first pass: lines that name the alert; prefer the `Alert detected` line just before them
    for item in items:
        named = [r for r in with_id if _str(r.get("alert_id")) == item.alert_id]
        if not named:
            continue
        row = next((r for r in named if r.get("event") == "alert_detected"), None)
        if row is None:
            last = named[0]
            row = next(
                (
                    r
                    for r in reversed(detected)
                    if id(r) not in used
                    and r.get("source") == last.get("source")
                    and last["ts"] - window <= r["ts"] <= last["ts"]
                ),
                last,
            )
        used.add(id(row))
        detail = _analyzer_detail(row)
        if row is not named[0]:
            detail = f"{detail}; {named[-1].get('message')}" if detail else str(named[-1].get("message"))
        item.stages["analyzer_detected"] = _Stage("passed", row, _str(row.get("message")), detail or None)
    # second pass: the nearest unused `Alert detected` line in time, or an error naming it
    for item in items:
        if "analyzer_detected" in item.stages:
            continue
        err = next((r for r in errors if _str(r.get("alert_id")) == item.alert_id), None)
        if err is not None:
            text = str(err.get("message") or "")
            item.stages["analyzer_detected"] = _Stage("failed", err, text, _exception(text) or text[:120])
            continue
        t = _publish_time(item)
        row = None if t is None else _pick(detected, used, t - skew, t + window, near=t)
        if row is not None:
            item.stages["analyzer_detected"] = _Stage(
                "passed", row, _str(row.get("message")), _analyzer_detail(row) or None
            )
        else:
            item.stages["analyzer_detected"] = _Stage(
                "missing", detail=f"no `Alert detected` line within {fmt_duration(window)}"
            )


def _trace_sound(
    item: _Alert, sounds: list[dict[str, Any]], used: set[int], window: pd.Timedelta, skew: pd.Timedelta, *, have: bool
) -> None:
    if not have:
        item.stages["frontend_sound"] = _Stage("no_evidence", detail="no ingress access log in the bundle")
        return
    t = item.request["ts"] if item.request is not None else item.anchor
    if t is None:
        item.stages["frontend_sound"] = _Stage("missing", detail="no push to start from")
        return
    in_window = [r for r in sounds if id(r) not in used and t - skew <= r["ts"] <= t + window]
    good = [r for r in in_window if not _missing(r.get("status")) and int(r["status"]) in (200, 206, 304)]
    if good:
        row = good[0]
        used.add(id(row))
        item.stages["frontend_sound"] = _Stage("passed", row, _ingress_text(row), f"status {int(row['status'])}")
        return
    bad = [r for r in in_window if not _missing(r.get("status")) and int(r["status"]) >= 400]
    if bad:
        row = bad[0]
        used.add(id(row))
        item.stages["frontend_sound"] = _Stage("failed", row, _ingress_text(row), f"status {int(row['status'])}")
        return
    item.stages["frontend_sound"] = _Stage(
        "missing", detail=f"no GET alert_sound.mp3 within {fmt_duration(window)} after the push"
    )


def _trace_mongo(item: _Alert, docs: list[dict[str, Any]], used: set[int], *, have: bool) -> None:
    if not have:
        item.stages["mongo_saved"] = _Stage("no_evidence", detail="no MongoDB alert documents in the bundle")
        return
    if item.anchor is None and item.request is not None:
        # every alert document names its alert (and is traced as that alert): a push whose
        # id is unknown cannot be looked up, which says nothing either way
        item.stages["mongo_saved"] = _Stage("no_evidence", detail="the push carries no known alert id to look up")
        return
    row = next((r for r in docs if _str(r.get("alert_id")) == item.alert_id and id(r) not in used), None)
    if row is not None:
        used.add(id(row))
        item.stages["mongo_saved"] = _Stage(
            "passed", row, _str(row.get("document")), f"collection {row.get('collection')}"
        )
    else:
        item.stages["mongo_saved"] = _Stage("missing", detail="no MongoDB document with this alert id")


def _table(items: Iterable[_Alert]) -> pd.DataFrame:
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


# -- the finding --------------------------------------------------------------------------------


def _stop(trace: pd.DataFrame) -> str | None:
    """The stage where an alert stopped: its first failed stage, else the first missing one
    after the last passed stage (a gap before a later pass is a logging gap, not a stop)."""
    statuses = list(trace["status"].astype(str))
    stages = list(trace["stage"].astype(str))
    if "failed" in statuses:
        return stages[statuses.index("failed")]
    passed = [i for i, s in enumerate(statuses) if s == "passed"]
    after = passed[-1] + 1 if passed else 0
    for i in range(after, len(statuses)):
        if statuses[i] == "missing":
            return stages[i]
    return None


def _at(row: pd.Series) -> str:
    return fmt_time(row["ts"]) if not _missing(row["ts"]) else "an unknown time"


def _why(stage: str, row: pd.Series, window_s: float) -> str:
    """The clause that says why the alert stopped at ``stage``."""
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


def _reached(trace: pd.DataFrame, stop: str) -> str:
    """What the alert did reach, for the start of the sentence."""
    before = trace[(trace["stage"] < stop) & (trace["status"] == "passed")]
    ingress = before[before["stage"] == "ingress_request"]
    if len(ingress):
        row = ingress.iloc[0]
        return f"push-to-rabbit answered {(_str(row['detail']) or '').removeprefix('status ')} at {_at(row)}"
    if len(before):
        row = before.iloc[-1]
        return f"{_NOUN[str(row['stage'])]} passed at {_at(row)}"
    return ""


def _pod_of(source: Any) -> tuple[str, str] | None:
    match = _LOG_SOURCE.match(str(source or ""))
    return (match.group("ns"), match.group("pod")) if match else None


def _next_steps(frames: Frames, trace: pd.DataFrame, stop: str, alert_id: str) -> tuple[str, ...]:
    def pod(df: pd.DataFrame, default: tuple[str, str]) -> tuple[str, str]:
        for source in df["source"].dropna().astype(str).unique() if len(df) else ():
            found = _pod_of(source)
            if found:
                return found
        return default

    ingress = pod(
        frames.ingress,
        ("kube-system", "$(kubectl get pods -n kube-system -o name | grep ingress-nginx-controller | head -1)"),
    )
    focus = pod(
        frames.focus,
        ("panda", "$(kubectl get pods -n panda -l app.kubernetes.io/name=panda-panda-focus-server -o name | head -1)"),
    )
    rabbit = pod(frames.rabbitmq_log, ("panda", "rabbitmq-panda-0"))
    analyzer = pod(frames.analyzer, ("panda", "$(kubectl get pods -n panda -o name | grep grpc-job | head -1)"))
    grep = alert_id.removeprefix("request ") if alert_id.startswith("request ") else alert_id
    steps = {
        "ingress": f'kubectl logs -n {ingress[0]} {ingress[1]} --since=1h | grep -E "push-to-rabbit|alert_sound.mp3"',
        "focus": f'kubectl logs -n {focus[0]} {focus[1]} --since=1h | grep -E "{grep}|push-to-rabbit|RabbitMQ"',
        "rabbit": f'kubectl logs -n {rabbit[0]} {rabbit[1]} --since=1h | grep -E "exchange .prisma.|closing AMQP connection|missed heartbeats"',
        "queues": f"kubectl exec -n {rabbit[0]} {rabbit[1]} -- rabbitmqctl list_queues name messages_ready consumers",
        "analyzer": f'kubectl logs -n {analyzer[0]} {analyzer[1]} --since=1h | grep -iE "alert|Algorithm.AlertReport"',
        "mongo": f"kubectl exec -n panda deploy/mongodb -- mongosh --quiet --eval \"db.alerts.countDocuments({{alertId: '{grep}'}})\"",
        "alarms": f"kubectl exec -n {rabbit[0]} {rabbit[1]} -- rabbitmq-diagnostics alarms",
        "webapp": "kubectl get pods,endpoints -n panda -o wide | grep -E 'prisma-web-app|webapp'",
        "browser": f'kubectl logs -n {ingress[0]} {ingress[1]} --since=1h | grep -E "GET /prisma/|socket.io" | tail -20',
        "pods": "kubectl get pods -n panda -o wide | grep -E 'focus-server|rabbitmq|grpc-job|mongodb'",
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


def alerts(frames: Frames, *, window_s: float = 30.0, skew_s: float = 1.0, exchange: str = "prisma") -> list[Finding]:
    """Alerts that stopped in the pipeline (seed 000): ``ALERT_NOT_DELIVERED``, critical.

    Builds :func:`alert_trace` and reports each alert with a ``failed`` stage, or with a
    ``missing`` stage after which no later stage passed; the summary names the stage where
    it stopped, quotes why, and lists the later stages that never followed. Stages with
    ``no_evidence`` (logs not in the bundle) never make a finding by themselves, and a
    ``missing`` stage followed by a passed one is a gap in the logs, not a stop.

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
        One ``ALERT_NOT_DELIVERED`` (critical) per stopped alert; ``subject`` is the alert
        id (``request <request_id>`` for a push without id), ``component`` the owner of the
        stage where it stopped; ``metrics`` has ``stopped_at``, the stage statuses and
        ``ingress_status``. ``[]`` when every alert got through (or there is none).

    Examples
    --------
    >>> import panda_analysis as pa
    >>> [(f.subject, f.metrics["stopped_at"]) for f in pa.diagnose.alerts(pa.samples.alert_lost().frames())]
    [('test-sd-124', 'focus_published')]
    >>> pa.diagnose.alerts(pa.samples.healthy().frames())
    []
    """
    trace = alert_trace(frames, window_s=window_s, skew_s=skew_s, exchange=exchange)
    out: list[Finding] = []
    for alert_id, one in trace.groupby("alert_id", sort=False, observed=True):
        one = one.sort_values("stage")
        stop = _stop(one)
        if stop is None:
            continue
        stop_row = one[one["stage"] == stop].iloc[0]
        later = one[(one["stage"] > stop) & (one["status"] == "missing")]
        reached = _reached(one, stop)
        why = _why(stop, stop_row, window_s)
        sentence = f"alert {alert_id}: "
        if reached and stop != "ingress_request":
            sentence += f"{reached} but {why}"
        else:
            sentence += why
        if len(later):
            sentence += "; " + ", ".join(f"no {_NOUN[str(s)]}" for s in later["stage"]) + " followed"
        sentence += "."
        quoted = one[one["ts"].notna() & one["text"].notna() & (one["stage"] <= stop)]
        quoted = pd.concat([quoted[quoted["stage"] == stop], quoted[quoted["stage"] < stop].iloc[::-1]]).head(5)
        quoted = quoted.sort_values("ts", kind="stable")
        evidence = tuple(
            Evidence(
                source=str(r["source"] or "?"),
                line_no=None if _missing(r["line_no"]) else int(r["line_no"]),
                ts=r["ts"],
                text=str(r["text"]),
            )
            for _, r in quoted.iterrows()
        )
        seen = one["ts"].dropna()
        ingress = one[one["stage"] == "ingress_request"].iloc[0]
        ingress_status = (_str(ingress["detail"]) or "").removeprefix("status ")
        component = _COMPONENT[stop]
        statuses = {str(r["stage"]): str(r["status"]) for _, r in one.iterrows()}
        out.append(
            Finding(
                code=Code.ALERT_NOT_DELIVERED,
                severity=Severity.CRITICAL,
                title=_TITLE[component],
                summary=sentence,
                component=component,
                first_seen=seen.min() if len(seen) else None,
                last_seen=seen.max() if len(seen) else None,
                evidence=evidence,
                next_steps=_next_steps(frames, one, stop, str(alert_id)),
                subject=str(alert_id),
                metrics={
                    "alert_id": str(alert_id),
                    "stopped_at": stop,
                    "stop_status": str(stop_row["status"]),
                    "ingress_status": int(ingress_status) if ingress_status.isdigit() else None,
                    "stages_passed": sum(v == "passed" for v in statuses.values()),
                    "stages_missing": sum(v == "missing" for v in statuses.values()),
                    "stages_no_evidence": sum(v == "no_evidence" for v in statuses.values()),
                    "stage_status": statuses,
                    "window_s": float(window_s),
                },
            )
        )
    return out
