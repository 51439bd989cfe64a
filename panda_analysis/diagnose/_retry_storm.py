"""RETRY_STORM: one client repeating a failing request at a sustained rate (seed 002).

Sources are the ingress-nginx access log (``frames.ingress``, client = ``remote_addr``)
and the Focus Server's uvicorn access lines (``frames.focus`` rows of kind ``access``,
client = host of ``client_addr``). A storm seen in both logs is reported once, from the
ingress side, enriched with the Focus Server's numbers (its finer timestamps for the
period between attempts, the configurations it logged, the error it answered with).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from panda_analysis.diagnose._util import evidence, fmt_duration, fmt_time, pick_quotes, plural
from panda_analysis.findings import Code, Finding, Severity
from panda_analysis.schema import Frames

__all__ = ["retry_storm"]

#: Failing by default: every 5xx and 429 Too Many Requests. 404 is not failing: clients
#: poll ``GET /metadata/{job_id}`` every 100-500 ms and get 404 until the consumer exists
#: (seed 004), which is normal.
_DEFAULT_FAILING = frozenset({429, *range(500, 600)})

#: Clock slack when matching an ingress storm with Focus Server lines (ingress-nginx logs
#: whole seconds in ``$time_local``; the Focus record times are whole seconds too).
_SLACK = pd.Timedelta(seconds=2)

#: Longest a handler's records may precede its access line (uvicorn logs the response).
_HANDLER_TIME = pd.Timedelta(seconds=60)

_COLUMNS = [
    "ts",
    "source",
    "line_no",
    "namespace",
    "pod",
    "client",
    "method",
    "route",
    "status",
    "upstream",
    "text",
]


@dataclass
class _Storm:
    """One run of failing attempts by one client on one method + route, in one log."""

    origin: str  # "ingress" or "focus"
    client: str
    method: str
    route: str
    rows: pd.DataFrame
    start: pd.Timestamp
    end: pd.Timestamp
    matched: list[_Storm] = field(default_factory=list)

    @property
    def attempts(self) -> int:
        return len(self.rows)

    @property
    def duration_s(self) -> float:
        return float((self.end - self.start).total_seconds())


def _host(addr: Any) -> str | None:
    """Host part of uvicorn's ``client_addr`` (``10.42.0.0:33200``, ``[::1]:5000``)."""
    if addr is None or addr is pd.NA or (isinstance(addr, float) and addr != addr):
        return None
    text = str(addr).strip()
    if not text:
        return None
    if text.startswith("["):
        return text[1 : text.index("]")] if "]" in text else text[1:]
    if text.count(":") == 1:
        return text.split(":", 1)[0]
    return text


def _plain(series: pd.Series) -> pd.Series:
    """Object column of Python str / None (categoricals and Arrow strings flattened)."""
    return series.astype("object").where(series.notna(), None)


def _ingress_requests(ingress: pd.DataFrame) -> pd.DataFrame:
    if ingress.empty:
        return pd.DataFrame(columns=_COLUMNS)
    route = ingress["route"].astype("object").where(ingress["route"].notna(), ingress["path"].astype("object"))
    out = pd.DataFrame(
        {
            "ts": ingress["ts"],
            "source": _plain(ingress["source"]),
            "line_no": ingress["line_no"],
            "namespace": _plain(ingress["namespace"]),
            "pod": _plain(ingress["pod"]),
            "client": _plain(ingress["remote_addr"]),
            "method": _plain(ingress["method"]),
            "route": _plain(route),
            "status": ingress["status"],
            "upstream": _plain(ingress["proxy_upstream_name"]),
        }
    )
    # ingress rows carry no raw line: rebuild the part an analyst greps for
    out["text"] = [
        f'{c} "{m} {p if p is not None else r} {proto or "HTTP/1.1"}" {s} [{u or "-"}] {t if t == t else "-"} s'
        for c, m, p, r, proto, s, u, t in zip(
            out["client"],
            out["method"],
            _plain(ingress["path"]),
            out["route"],
            _plain(ingress["protocol"]),
            ingress["status"].astype("object"),
            out["upstream"],
            ingress["request_time_s"],
            strict=True,
        )
    ]
    return out.dropna(subset=["ts", "client", "route"]).reset_index(drop=True)


def _focus_requests(focus: pd.DataFrame) -> pd.DataFrame:
    access = focus[focus["kind"] == "access"]
    if access.empty:
        return pd.DataFrame(columns=_COLUMNS)
    out = pd.DataFrame(
        {
            "ts": access["ts"],
            "source": _plain(access["source"]),
            "line_no": access["line_no"],
            "namespace": _plain(access["namespace"]),
            "pod": _plain(access["pod"]),
            "client": [_host(a) for a in access["client_addr"].astype("object")],
            "method": _plain(access["method"]),
            "route": _plain(access["route"].astype("object").where(access["route"].notna(), access["path"])),
            "status": access["status"],
            "upstream": _plain(access["pod"]),
            "text": _plain(access["message"]),
        },
        index=access.index,
    )
    return out.dropna(subset=["ts", "client", "route"]).reset_index(drop=True)


def _find_storms(
    requests: pd.DataFrame,
    origin: str,
    *,
    failing: Collection[int],
    min_attempts: int,
    min_rate_per_min: float,
    min_duration_s: float,
    max_gap_s: float,
) -> list[_Storm]:
    if requests.empty:
        return []
    status = requests["status"].astype("Float64")
    fail = requests[status.isin([float(s) for s in failing]).fillna(False).astype(bool)]
    storms: list[_Storm] = []
    for (client, method, route), group in fail.groupby(["client", "method", "route"], sort=True, dropna=True):
        group = group.sort_values(["ts", "source", "line_no"], kind="stable")
        gaps = group["ts"].diff().dt.total_seconds()
        run_ids = (gaps > max_gap_s).cumsum()
        for _, run in group.groupby(run_ids, sort=True):
            start, end = run["ts"].iloc[0], run["ts"].iloc[-1]
            duration_s = float((end - start).total_seconds())
            if len(run) < min_attempts or duration_s < min_duration_s or duration_s <= 0:
                continue
            if len(run) / duration_s * 60.0 < min_rate_per_min:
                continue
            storms.append(_Storm(origin, str(client), str(method), str(route), run, start, end))
    return storms


def _overlaps(a: _Storm, b: _Storm) -> bool:
    return bool(b.start <= a.end + _SLACK and b.end >= a.start - _SLACK)


def _route_matches(ingress_route: str, focus_route: str) -> bool:
    """``/focus-server/configure`` (through the ingress prefix) is ``/configure`` upstream."""
    return ingress_route == focus_route or (focus_route.startswith("/") and ingress_route.endswith(focus_route))


def _ingress_ips(frames: Frames) -> set[str]:
    """Pod IPs of the ingress controller: the client the Focus Server sees behind the ingress."""
    pods = frames.pods
    if pods.empty:
        return set()
    names = pods["pod"].astype("string").fillna("")
    apps = pods["app"].astype("string").fillna("")
    mask = names.str.contains("ingress-nginx", regex=False) | apps.str.contains("ingress-nginx", regex=False)
    return {str(ip) for ip in pods.loc[mask.astype(bool), "pod_ip"].dropna()}


def _attributed_records(focus: pd.DataFrame, method: str, focus_route: str) -> pd.DataFrame:
    """Focus records (``got configuration``, errors) tied to the access line that follows them.

    uvicorn writes the access line when the response is sent, after the handler's own
    records, so each record belongs to the next ``method route`` access line of its file.
    Adds ``att_client``, ``att_ts``, ``att_status``.
    """
    if focus.empty:
        return focus.assign(att_client=None, att_ts=pd.NaT, att_status=None).iloc[0:0]
    df = focus.sort_values(["source", "line_no"], kind="stable")
    is_target = (
        (
            (df["kind"] == "access")
            & (df["method"].astype("object") == method)
            & (df["route"].astype("object") == focus_route)
        )
        .fillna(False)
        .astype(bool)
    )
    pos = pd.Series(np.where(is_target, np.arange(len(df)), np.nan), index=df.index)
    nxt = pos.groupby(df["source"].astype("object"), sort=False).bfill()
    records = df[(df["kind"] != "access").fillna(True).astype(bool) & nxt.notna()].copy()
    targets = df.iloc[nxt[records.index].astype(int).to_numpy()]
    records["att_client"] = [_host(a) for a in targets["client_addr"].astype("object")]
    records["att_ts"] = targets["ts"].to_numpy()
    records["att_status"] = targets["status"].to_numpy()
    # a record far from the next such access line belongs to something else
    return records[(records["att_ts"] - records["ts"]) <= _HANDLER_TIME]


def _describe_config(row: pd.Series) -> str:
    """``displayInfo.height=200, channels 11-109, frequencyRange.max=1000`` (fields present only)."""
    parts = []
    if pd.notna(row.get("display_info_height")):
        parts.append(f"displayInfo.height={int(row['display_info_height'])}")
    lo, hi = row.get("channels_min"), row.get("channels_max")
    if pd.notna(lo) and pd.notna(hi):
        parts.append(f"channels {int(lo)}-{int(hi)}")
    flo, fhi = row.get("frequency_range_min"), row.get("frequency_range_max")
    if pd.notna(fhi):
        if pd.notna(flo) and float(flo) != 0:
            parts.append(f"frequencyRange {float(flo):g}-{float(fhi):g}")
        else:
            parts.append(f"frequencyRange.max={float(fhi):g}")
    if not parts:
        return str(row.get("config") or "?")
    return ", ".join(parts)


def _configurations(
    focus: pd.DataFrame, storm: _Storm, focus_route: str | None, ingress_ips: set[str]
) -> tuple[list[dict[str, Any]], str, pd.DataFrame]:
    """Distinct configurations of the storm's attempts, how they were matched, and the error records."""
    none: tuple[list[dict[str, Any]], str, pd.DataFrame] = ([], "none", focus.iloc[0:0])
    if focus_route is None or focus.empty:
        return none
    records = _attributed_records(focus, storm.method, focus_route)
    if records.empty:
        return none
    lo, hi = storm.start - _SLACK, storm.end + _SLACK
    in_window = records[(records["att_ts"] >= lo) & (records["att_ts"] <= hi)]
    mine = in_window[in_window["att_client"] == storm.client]
    how = "client"
    if mine.empty and ingress_ips:
        mine = in_window[in_window["att_client"].isin(ingress_ips)]
        how = "time window"
    if mine.empty:
        # no access line to tie records to a client: fall back to the records in the window
        ts_window = records[(records["ts"] >= lo) & (records["ts"] <= hi)]
        mine = ts_window
        how = "time window"
    configs = mine[mine["config"].notna()]
    out: list[dict[str, Any]] = []
    for config_id, group in configs.groupby(configs["config"].astype("object"), sort=False):
        first = group.iloc[0]
        out.append(
            {
                "config_id": str(first["config_id"]) if pd.notna(first["config_id"]) else str(config_id),
                "description": _describe_config(first),
                "attempts": len(group),
                "config": str(config_id),
            }
        )
    out.sort(key=lambda c: (-int(c["attempts"]), str(c["config_id"])))
    errors = mine[mine["level"].astype("object").isin(["error", "critical"])]
    return out, how, errors


def _span(start: pd.Timestamp, end: pd.Timestamp) -> str:
    """``2025-11-08 13:18:00 to 13:19:27 UTC`` (the date once when both share it)."""
    if start.date() == end.date():
        return f"{fmt_time(start)[:-4]} to {fmt_time(end)[11:]}"
    return f"{fmt_time(start)} to {fmt_time(end)}"


def _earlier_text(earlier: list[_Storm]) -> str:
    if not earlier:
        return ""
    total = len(earlier) + 1
    return f" (the last of {total} storms by this client on this route since {fmt_time(earlier[0].start)})"


def _periods(ts: pd.Series) -> dict[str, float]:
    diffs = ts.sort_values().diff().dt.total_seconds().dropna().to_numpy(dtype=float)
    if len(diffs) == 0:
        return {}
    return {
        "period_median_s": round(float(np.median(diffs)), 3),
        "period_p10_s": round(float(np.quantile(diffs, 0.1)), 3),
        "period_p90_s": round(float(np.quantile(diffs, 0.9)), 3),
    }


def _has_subsecond(ts: pd.Series) -> bool:
    return bool(((ts.dt.microsecond != 0) | (ts.dt.nanosecond != 0)).any())


def _status_counts(rows: pd.DataFrame) -> dict[str, int]:
    counts = rows["status"].astype("Int64").value_counts()
    return {str(int(k)): int(v) for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))}


def _status_text(counts: dict[str, int]) -> str:
    if len(counts) == 1:
        return f"all {next(iter(counts))}"
    return ", ".join(f"{v}× {k}" for k, v in counts.items())


def _component(storm: _Storm) -> str:
    if storm.origin == "focus":
        return "focus-server"
    upstreams = storm.rows["upstream"].dropna()
    name = str(upstreams.mode().iloc[0]) if not upstreams.empty else ""
    for known in ("focus-server", "prisma-web-app", "webapp", "rabbitmq", "mongodb"):
        if known in name:
            return "prisma-web-app" if known == "webapp" else known
    return re.sub(r"-\d+$", "", name) if name and name != "-" else "ingress-nginx"


def _load(requests: pd.DataFrame, storm: _Storm) -> dict[str, Any]:
    window = requests[(requests["ts"] >= storm.start) & (requests["ts"] <= storm.end)]
    upstreams = storm.rows["upstream"].dropna()
    upstream = str(upstreams.mode().iloc[0]) if not upstreams.empty else None
    same_upstream = window[window["upstream"] == upstream] if upstream is not None else window
    same_route = window[(window["method"] == storm.method) & (window["route"] == storm.route)]
    return {
        "upstream": upstream,
        "upstream_requests": len(same_upstream),
        "share_of_upstream": round(storm.attempts / len(same_upstream), 3) if len(same_upstream) else None,
        "route_requests": len(same_route),
        "share_of_route": round(storm.attempts / len(same_route), 3) if len(same_route) else None,
    }


def _next_steps(storm: _Storm, focus_pod: tuple[str, str] | None, focus_route: str | None) -> tuple[str, ...]:
    first = storm.rows.iloc[0]
    ns, pod = first["namespace"], first["pod"]
    steps = [
        f"Find the client: `kubectl get pods -A -o wide --field-selector status.podIP={storm.client}` "
        "(or the host with that address) and stop its retry loop.",
    ]
    if storm.origin == "ingress" and ns and pod:
        steps.append(
            f"Watch whether it continues: `kubectl -n {ns} logs {pod} --since=5m | "
            f"grep -c '{storm.client} - .*\"{storm.method} {storm.route.split('{')[0]}'`"
        )
    if focus_pod is not None:
        fns, fpod = focus_pod
        steps.append(
            f"See why the server refuses it: `kubectl -n {fns} logs {fpod} --since=10m | "
            f"grep -E 'ERROR|{storm.method} {focus_route or storm.route}'`"
        )
    if storm.route.endswith("/configure"):
        steps.append(
            "Make the client back off (exponential, capped, with jitter) and check readiness first "
            "(`GET /live_metadata` prr > 0 before `POST /configure`) instead of retrying every few seconds."
        )
    else:
        steps.append(
            "Make the client back off (exponential, capped, with jitter) and stop retrying requests "
            f"that keep failing with {', '.join(_status_counts(storm.rows))}."
        )
    return tuple(steps[:4])


def _finding(
    storm: _Storm,
    *,
    requests: pd.DataFrame,
    focus: pd.DataFrame,
    focus_routes: list[str],
    ingress_ips: set[str],
    critical_rate_per_s: float,
    earlier: list[_Storm],
) -> Finding:
    n, duration_s = storm.attempts, storm.duration_s
    rate_per_s = n / duration_s
    periods = _periods(storm.rows["ts"])
    period_source = storm.origin
    focus_match = storm.matched[0] if storm.matched else None
    if focus_match is not None and not _has_subsecond(storm.rows["ts"]) and _has_subsecond(focus_match.rows["ts"]):
        # ingress-nginx `$time_local` has whole seconds; the Focus lines carry the kubelet's ns stamps
        periods = _periods(focus_match.rows["ts"])
        period_source = "focus"

    if storm.origin == "focus":
        focus_route: str | None = storm.route
    else:
        candidates = [r for r in focus_routes if _route_matches(storm.route, r)]
        focus_route = max(candidates, key=len) if candidates else None
    configs, matched_by, errors = _configurations(focus, storm, focus_route, ingress_ips)
    if not configs:
        matched_by = "none"
    counts = _status_counts(storm.rows)
    load = _load(requests, storm)

    focus_rows = focus_match.rows if focus_match is not None else (storm.rows if storm.origin == "focus" else None)
    focus_pod = None
    if focus_rows is not None and not focus_rows.empty:
        focus_pod = (str(focus_rows["namespace"].iloc[0]), str(focus_rows["pod"].iloc[0]))
    elif not errors.empty:
        focus_pod = (str(errors["namespace"].iloc[0]), str(errors["pod"].iloc[0]))

    quotes = list(evidence(pick_quotes(storm.rows, limit=3), text="text"))
    if focus_match is not None:
        quotes.extend(evidence(focus_match.rows.iloc[[0]], text="text", limit=1))
    if not errors.empty:
        first_error = errors.iloc[[0]]
        quotes.extend(
            evidence(
                first_error.assign(level=first_error["level"].astype("object").str.upper()),
                text=["level", "logger", "message"],
                limit=1,
            )
        )
    error_text = None
    if not errors.empty:
        error_text = str(errors["message"].astype("object").mode().iloc[0])

    sev = Severity.CRITICAL if rate_per_s >= critical_rate_per_s else Severity.WARNING
    request = f"{storm.method} {storm.route}"
    every = ""
    if periods:
        every = (
            f"; every {fmt_duration(periods['period_median_s'])}, p10-p90 "
            f"{periods['period_p10_s']:.2f}-{fmt_duration(periods['period_p90_s'])}"
        )
    config_text = ""
    if configs:
        described = "; ".join(f"{c['description']} ×{c['attempts']}" for c in configs)
        where = "" if matched_by == "client" else " seen in that window"
        config_text = f", {plural(len(configs), 'configuration')}{where} ({described})"
    share = ""
    if load["share_of_upstream"] is not None and load["upstream"]:
        share = f", {load['share_of_upstream']:.0%} of the {load['upstream_requests']} requests to {load['upstream']}"
    summary = (
        f"{storm.client} sent {n} failing {request} in {fmt_duration(duration_s)} "
        f"({rate_per_s * 60:.1f}/min, {rate_per_s:.2f}/s{every}), {_status_text(counts)}, "
        f"from {_span(storm.start, storm.end)}{config_text}{share}{_earlier_text(earlier)}."
    )
    metrics: dict[str, Any] = {
        "client": storm.client,
        "method": storm.method,
        "route": storm.route,
        "source_log": storm.origin,
        "attempts": n,
        "duration_s": round(duration_s, 3),
        "rate_per_min": round(rate_per_s * 60, 2),
        "rate_per_s": round(rate_per_s, 3),
        **periods,
        "period_source": period_source,
        "status_counts": counts,
        "start": storm.start,
        "end": storm.end,
        "distinct_configurations": len(configs),
        "configurations": configs,
        "configurations_matched_by": matched_by,
        "added_load_per_s": round(rate_per_s, 3),
        **load,
        "focus_attempts": focus_match.attempts if focus_match is not None else None,
        "focus_error": error_text,
        "storm_runs": len(earlier) + 1,
        "attempts_all_runs": n + sum(e.attempts for e in earlier),
    }
    return Finding(
        code=Code.RETRY_STORM,
        severity=sev,
        title=f"Retry storm on {request}",
        summary=summary,
        component=_component(storm),
        first_seen=earlier[0].start if earlier else storm.start,
        last_seen=storm.end,
        evidence=tuple(quotes[:5]),
        next_steps=_next_steps(storm, focus_pod, focus_route),
        subject=f"{storm.client} {request}",
        metrics=metrics,
    )


def retry_storm(
    frames: Frames,
    *,
    failing_statuses: Collection[int] | None = None,
    min_attempts: int = 10,
    min_rate_per_min: float = 6.0,
    min_duration_s: float = 20.0,
    max_gap_s: float = 30.0,
    critical_rate_per_s: float = 1.0,
) -> list[Finding]:
    """Find clients repeating a failing request at a sustained rate (``RETRY_STORM``).

    Requests come from the ingress access log (client ``remote_addr``) and the Focus
    Server's access lines (client = host of ``client_addr``). Failing attempts are grouped
    by client and method + route and split into runs wherever two attempts are more than
    ``max_gap_s`` apart; a run is a storm when it is long, dense and big enough. A storm
    seen in both logs (same method, the ingress route ending in the Focus route, same
    client or the ingress controller's pod IP, overlapping times) is reported once, from
    the ingress side, with the Focus Server's numbers added.

    Each finding reports the attempts, duration, rate (per minute and per second, =
    attempts / (last − first)), the median and p10 / p90 period between attempts (from
    the log with sub-second timestamps when the other has whole seconds), status-code
    counts, start and end, the distinct request configurations (Focus ``got
    configuration:`` records tied to this client's attempts, or else those in the same
    window), the error the server logged, and the load added (attempts per second and the
    share of all requests to the same upstream and route in the window).

    Parameters
    ----------
    frames
        Parsed evidence; reads ``ingress``, ``focus`` and ``pods`` (ingress controller IPs).
    failing_statuses
        HTTP statuses that count as a failed attempt. Default ``None``: 429 and every
        5xx. 404 is deliberately not failing: polling ``GET /metadata/{job_id}`` until the
        consumer exists answers 404 and is normal (seed 004).
    min_attempts
        Fewest failing attempts in a run for a storm. Default 10.
    min_rate_per_min
        Lowest rate, attempts per minute over the run, for a storm. Default 6.
    min_duration_s
        Shortest run (first to last attempt), seconds. Default 20.
    max_gap_s
        A pause longer than this, seconds, ends a run. Default 30.
    critical_rate_per_s
        At or above this rate, attempts per second, the storm is ``critical`` instead of
        ``warning``. Default 1.

    Returns
    -------
    list[Finding]
        One ``RETRY_STORM`` finding per (client, method + route), ordered by client and
        route; ``[]`` when there is none. When a client had several storms on the same
        route (runs split by pauses), the finding describes the latest and counts the
        others (``storm_runs``, ``attempts_all_runs``; ``first_seen`` is the first start).

    Examples
    --------
    >>> import panda_analysis as pa
    >>> found = pa.diagnose.retry_storm(pa.samples.waiting_for_fiber().frames())
    >>> [(f.subject, f.severity.value, f.metrics["attempts"]) for f in found]
    [('10.42.0.0 POST /focus-server/configure', 'warning', 36), ('10.42.2.0 POST /focus-server/configure', 'warning', 35)]
    >>> [c["description"] for c in found[0].metrics["configurations"]]
    ['displayInfo.height=200, channels 11-109, frequencyRange.max=1000']
    >>> pa.diagnose.retry_storm(pa.samples.consumer_slow().frames())
    []
    """
    failing = _DEFAULT_FAILING if failing_statuses is None else frozenset(int(s) for s in failing_statuses)
    ingress = _ingress_requests(frames.ingress)
    focus_requests = _focus_requests(frames.focus)
    ingress_storms, focus_storms = (
        _find_storms(
            requests,
            origin,
            failing=failing,
            min_attempts=min_attempts,
            min_rate_per_min=min_rate_per_min,
            min_duration_s=min_duration_s,
            max_gap_s=max_gap_s,
        )
        for requests, origin in ((ingress, "ingress"), (focus_requests, "focus"))
    )
    ips = _ingress_ips(frames)

    kept_focus = []
    for fs in focus_storms:
        matches = [
            s
            for s in ingress_storms
            if s.method == fs.method
            and _route_matches(s.route, fs.route)
            and _overlaps(s, fs)
            and (s.client == fs.client or fs.client in ips)
        ]
        for s in matches:
            s.matched.append(fs)
        if not matches:
            kept_focus.append(fs)

    focus_routes = (
        sorted({str(r) for r in focus_requests["route"].dropna().unique()}) if not focus_requests.empty else []
    )
    # one finding per (client, method + route): the latest run, earlier runs counted
    runs: dict[tuple[str, str, str, str], list[_Storm]] = {}
    for storm in [*ingress_storms, *kept_focus]:
        runs.setdefault((storm.origin, storm.client, storm.method, storm.route), []).append(storm)
    out = []
    for (origin, *_), storms in runs.items():
        storms.sort(key=lambda st: st.start)
        out.append(
            _finding(
                storms[-1],
                requests=ingress if origin == "ingress" else focus_requests,
                focus=frames.focus,
                focus_routes=focus_routes,
                ingress_ips=ips,
                critical_rate_per_s=critical_rate_per_s,
                earlier=storms[:-1],
            )
        )
    out.sort(key=lambda f: (f.metrics["client"], f.metrics["route"], f.first_seen))
    return out
