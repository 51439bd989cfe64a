"""RETRY_STORM: one client repeating a failing request at a sustained rate (seed 002).

Sources are the ingress-nginx access log (``frames.ingress``, client = ``remote_addr``)
and the Focus Server's uvicorn access lines (``frames.focus`` rows of kind ``access``,
client = host of ``client_addr``). A storm seen in both logs is reported once, from the
ingress side, enriched with the Focus Server's numbers (its finer timestamps for the
period between attempts, the configurations it logged, the error it answered with).

The rule is written in three steps (issue #12), so that a million access lines cost about
as much as their failing ones:

* **select**: only the failing requests are taken out of each log (one mask), and the
  storms are found on them at once: sorted by client, method, route and time, split where
  the key changes or the gap is too long, each run measured with one ``reduceat``;
* **verdict**: a :class:`_Storm` per run that is long, dense and big enough, the two logs'
  storms paired;
* **narration**: one finding per client and method + route, whose load figures come from
  :class:`_Population` (every request's time, indexed once per upstream and per route) and
  whose configurations come from the Focus records tied to their access lines, worked out
  once per route.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from panda_analysis.diagnose._util import (
    evidence,
    fmt_duration,
    fmt_span,
    fmt_time,
    host_of,
    pick_quotes,
    plural,
)
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


# -- select ------------------------------------------------------------------------------------


def _plain(series: pd.Series) -> pd.Series:
    """Object column of Python str / None (categoricals and Arrow strings flattened)."""
    return series.astype("object").where(series.notna(), None)


def _bools(values: Any) -> np.ndarray:
    """Plain booleans from a mask that may hold NA (NA is False)."""
    return np.asarray(pd.array(values, dtype="boolean").fillna(False), dtype=bool)


def _failing(status: pd.Series, failing: Collection[int]) -> np.ndarray:
    return _bools(status.isin(sorted(failing)))


def _route_or_path(df: pd.DataFrame) -> pd.Series:
    return df["route"].astype("object").where(df["route"].notna(), df["path"].astype("object"))


def _ingress_requests(ingress: pd.DataFrame, failing: Collection[int]) -> pd.DataFrame:
    """The ingress log's failing requests (client, method, route, status, the line's facts)."""
    if ingress.empty:
        return pd.DataFrame(columns=_COLUMNS)
    keep = _failing(ingress["status"], failing) & _bools(ingress["ts"].notna() & ingress["remote_addr"].notna())
    keep &= _bools(ingress["route"].notna() | ingress["path"].notna())
    ingress = ingress[keep]
    route = _route_or_path(ingress)
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
    return out.reset_index(drop=True)


def _focus_access(focus: pd.DataFrame) -> np.ndarray:
    """Which rows are the Focus Server's uvicorn access lines whose time, client and route are known."""
    if focus.empty:
        return np.zeros(0, dtype=bool)
    access = _bools(focus["kind"] == "access") & _bools(focus["ts"].notna())
    access &= _bools(focus["route"].notna() | focus["path"].notna())
    # host_of(client_addr) is None exactly when the address is missing or blank (the parser
    # keeps a non-blank run of non-space characters, or None)
    access &= _bools(focus["client_addr"].astype("string").str.strip().str.len() > 0)
    return access


def _focus_requests(focus: pd.DataFrame, is_access: np.ndarray, failing: Collection[int]) -> pd.DataFrame:
    """The Focus Server's failing requests (of the ``is_access`` rows), in the ingress requests' columns."""
    if focus.empty:
        return pd.DataFrame(columns=_COLUMNS)
    access = focus[is_access & _failing(focus["status"], failing)]
    if access.empty:
        return pd.DataFrame(columns=_COLUMNS)
    out = pd.DataFrame(
        {
            "ts": access["ts"],
            "source": _plain(access["source"]),
            "line_no": access["line_no"],
            "namespace": _plain(access["namespace"]),
            "pod": _plain(access["pod"]),
            "client": [host_of(a) for a in access["client_addr"].astype("object")],
            "method": _plain(access["method"]),
            "route": _plain(_route_or_path(access)),
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
    min_attempts: int,
    min_rate_per_min: float,
    min_duration_s: float,
    max_gap_s: float,
) -> list[_Storm]:
    """Runs of one client's failing attempts on one method + route, at once for all clients.

    Sorted by client, method, route and time, a run starts where the key changes or two
    attempts are more than ``max_gap_s`` apart; each run's size and span come from one
    ``reduceat``, and only the runs big, long and dense enough become a :class:`_Storm`.
    """
    requests = requests.dropna(subset=["method"])  # a request without a method has no route to retry
    if requests.empty:
        return []
    df = requests.sort_values(["client", "method", "route", "ts", "source", "line_no"], kind="stable")
    df = df.reset_index(drop=True)
    ts = df["ts"].array.asi8
    keys = df[["client", "method", "route"]].to_numpy(dtype=object)
    new_key = np.ones(len(df), dtype=bool)
    new_key[1:] = (keys[1:] != keys[:-1]).any(axis=1)
    gap = np.zeros(len(df), dtype=float)
    gap[1:] = np.diff(ts) / 1e9
    starts = np.flatnonzero(new_key | (gap > max_gap_s))
    ends = np.append(starts[1:], len(df))
    sizes = ends - starts
    storms: list[_Storm] = []
    for lo, hi in zip(starts[sizes >= min_attempts], ends[sizes >= min_attempts], strict=True):
        run = df.iloc[lo:hi]
        start, end = run["ts"].iloc[0], run["ts"].iloc[-1]
        duration_s = float((end - start).total_seconds())
        if duration_s < min_duration_s or duration_s <= 0:
            continue
        if len(run) / duration_s * 60.0 < min_rate_per_min:
            continue
        client, method, route = keys[lo]
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


# -- the indexes the narration reads, built once -------------------------------------------------


def _codes(series: pd.Series) -> tuple[np.ndarray, dict[str, int]]:
    """Integer codes of a column's text (``-1``: missing) and the code of each text."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        names = [str(c) for c in series.cat.categories]
        return series.cat.codes.to_numpy().astype(np.int64), {n: i for i, n in enumerate(names)}
    codes, uniques = pd.factorize(series.astype("object"))
    return codes.astype(np.int64), {str(u): i for i, u in enumerate(uniques)}


def _route_codes(df: pd.DataFrame) -> tuple[np.ndarray, dict[str, int]]:
    """Codes of the route, else the path (as the requests' ``route`` column has it)."""
    codes, lookup = _codes(df["route"])
    na = codes < 0
    if na.any():
        path_codes, path_lookup = _codes(df["path"][na])
        mapped = np.full(len(path_lookup) + 1, -1, dtype=np.int64)  # the last slot: a missing path
        for name, i in path_lookup.items():
            mapped[i] = lookup.setdefault(name, len(lookup))
        codes = codes.copy()
        codes[na] = mapped[path_codes]
    return codes, lookup


class _TimeIndex:
    """Every request's time, sorted per key once: how many fall in a window, by bisection."""

    def __init__(self, keys: np.ndarray, ts: np.ndarray) -> None:
        order = np.lexsort((ts, keys))
        self._ts = ts[order]
        uniq, first = np.unique(keys[order], return_index=True)
        last = np.append(first[1:], len(order))
        self._spans = {int(k): (int(a), int(b)) for k, a, b in zip(uniq, first, last, strict=True)}

    def count(self, key: int, start: pd.Timestamp, end: pd.Timestamp) -> int:
        """Requests of ``key`` with ``start <= ts <= end``."""
        lo, hi = self._spans.get(key, (0, 0))
        times = self._ts[lo:hi]
        return int(np.searchsorted(times, end.value, "right") - np.searchsorted(times, start.value, "left"))


class _Population:
    """All requests of one log (failing or not), for a storm's share of its upstream and route."""

    def __init__(self, ts: np.ndarray, upstream: pd.Series, method: pd.Series, routes: pd.DataFrame) -> None:
        self._up_codes, self._up_lookup = _codes(upstream)
        method_codes, self._method_lookup = _codes(method)
        route_codes, self._route_lookup = _route_codes(routes)
        names = {i: name for name, i in self._route_lookup.items()}
        self._routes_seen = sorted(names[int(i)] for i in np.unique(route_codes[route_codes >= 0]))
        self._n_routes = len(self._route_lookup) + 1
        self._ts = ts
        self._route_keys = method_codes * self._n_routes + route_codes
        self._indexes: dict[str, _TimeIndex] = {}

    def _index(self, by: str) -> _TimeIndex:
        """Times by upstream, by method + route, or all of them (built on first use)."""
        if by not in self._indexes:
            keys = {"upstream": self._up_codes, "route": self._route_keys}.get(by)
            self._indexes[by] = _TimeIndex(np.zeros(len(self._ts), dtype=np.int64) if keys is None else keys, self._ts)
        return self._indexes[by]

    @classmethod
    def of_ingress(cls, ingress: pd.DataFrame) -> _Population:
        valid = _bools(ingress["ts"].notna() & ingress["remote_addr"].notna())
        valid &= _bools(ingress["route"].notna() | ingress["path"].notna())
        rows = ingress[["ts", "proxy_upstream_name", "method", "route", "path"]][valid]
        return cls(rows["ts"].array.asi8, rows["proxy_upstream_name"], rows["method"], rows[["route", "path"]])

    @classmethod
    def of_focus(cls, focus: pd.DataFrame, access: np.ndarray) -> _Population:
        rows = focus[["ts", "pod", "method", "route", "path"]][access]
        return cls(rows["ts"].array.asi8, rows["pod"], rows["method"], rows[["route", "path"]])

    def load(self, storm: _Storm) -> dict[str, Any]:
        """Requests to the storm's upstream and to its method + route while it lasted."""
        upstreams = storm.rows["upstream"].dropna()
        upstream = str(upstreams.mode().iloc[0]) if not upstreams.empty else None
        if upstream is None:
            upstream_requests = self._index("all").count(0, storm.start, storm.end)
        else:
            code = self._up_lookup.get(upstream, -2)
            upstream_requests = self._index("upstream").count(code, storm.start, storm.end)
        method, route = self._method_lookup.get(storm.method), self._route_lookup.get(storm.route)
        route_requests = 0
        if method is not None and route is not None:
            route_requests = self._index("route").count(method * self._n_routes + route, storm.start, storm.end)
        return {
            "upstream": upstream,
            "upstream_requests": upstream_requests,
            "share_of_upstream": round(storm.attempts / upstream_requests, 3) if upstream_requests else None,
            "route_requests": route_requests,
            "share_of_route": round(storm.attempts / route_requests, 3) if route_requests else None,
        }

    def routes(self) -> list[str]:
        """Every route (else path) the log's requests have, sorted."""
        return self._routes_seen


class _Records:
    """Focus records (``got configuration``, errors) tied to their access lines, per method + route.

    uvicorn writes the access line when the response is sent, after the handler's own
    records, so each record belongs to the next ``method route`` access line of its file.
    Only the records and the access lines of the route are sorted (not every access line
    of the log), once per method + route.
    """

    def __init__(self, focus: pd.DataFrame) -> None:
        self._focus = focus
        self._cache: dict[tuple[str, str], pd.DataFrame] = {}
        access = _bools(focus["kind"] == "access") if len(focus) else np.zeros(0, dtype=bool)
        self._records_at = np.flatnonzero(~access)  # positions, in frame order
        self._access_at = np.flatnonzero(access)
        self._methods = _codes(focus["method"].iloc[self._access_at]) if len(focus) else (np.zeros(0), {})
        self._routes = _codes(focus["route"].iloc[self._access_at]) if len(focus) else (np.zeros(0), {})

    def none(self) -> pd.DataFrame:
        """No records (the columns :meth:`tied` returns)."""
        return self._focus.assign(att_client=None, att_ts=pd.NaT, att_status=None).iloc[0:0]

    def tied(self, method: str, route: str) -> pd.DataFrame:
        """The records, with ``att_client``, ``att_ts``, ``att_status`` of their access line."""
        if (method, route) not in self._cache:
            self._cache[method, route] = self._tie(method, route)
        return self._cache[method, route]

    def _tie(self, method: str, route: str) -> pd.DataFrame:
        if not len(self._records_at):
            return self.none()
        (method_codes, methods), (route_codes, routes) = self._methods, self._routes
        if method not in methods or route not in routes:
            return self.none()
        targets_at = self._access_at[(method_codes == methods[method]) & (route_codes == routes[route])]
        if not len(targets_at):
            return self.none()
        # records and target lines in file order (source, line_no; missing ones last), a stable
        # sort of rows kept in frame order, as the sort of the whole log orders them; read
        # from the two key columns only, so that a busy route's lines are not copied whole
        at = np.union1d(self._records_at, targets_at)
        source_codes, _ = pd.factorize(self._focus["source"].iloc[at].astype("object"), sort=True)
        source_key = np.where(source_codes < 0, np.iinfo(np.int64).max, source_codes)
        line_no = self._focus["line_no"].iloc[at].astype("Float64").to_numpy(dtype=float, na_value=np.inf)
        order = np.lexsort((line_no, source_key))
        at, source_codes = at[order], source_codes[order]
        is_target = np.isin(at, targets_at)
        # the next target line at or after each line; it is the record's when it is in the same file
        ahead = np.where(is_target, np.arange(len(at)), len(at))
        nxt = np.minimum.accumulate(ahead[::-1])[::-1]
        found = nxt < len(at)
        same = np.zeros(len(at), dtype=bool)
        same[found] = source_codes[nxt[found]] == source_codes[found]
        keep = ~is_target & found & same & (source_codes >= 0)
        records = self._focus.iloc[at[keep]].copy()
        tied = self._focus[["ts", "client_addr", "status"]].iloc[at[nxt[keep]]]
        records["att_client"] = [host_of(a) for a in tied["client_addr"].astype("object")]
        records["att_ts"] = tied["ts"].array
        records["att_status"] = tied["status"].to_numpy()
        # a record far from the next such access line belongs to something else
        return records[(records["att_ts"] - records["ts"]) <= _HANDLER_TIME]


# -- narration -----------------------------------------------------------------------------------


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
    records: _Records, storm: _Storm, focus_route: str | None, ingress_ips: set[str]
) -> tuple[list[dict[str, Any]], str, pd.DataFrame]:
    """Distinct configurations of the storm's attempts, how they were matched, and the error records."""
    none: tuple[list[dict[str, Any]], str, pd.DataFrame] = ([], "none", records.none())
    if focus_route is None:
        return none
    tied = records.tied(storm.method, focus_route)
    if tied.empty:
        return none
    lo, hi = storm.start - _SLACK, storm.end + _SLACK
    in_window = tied[(tied["att_ts"] >= lo) & (tied["att_ts"] <= hi)]
    mine = in_window[in_window["att_client"] == storm.client]
    how = "client"
    if mine.empty and ingress_ips:
        mine = in_window[in_window["att_client"].isin(ingress_ips)]
        how = "time window"
    if mine.empty:
        # no access line to tie records to a client: fall back to the records in the window
        mine = tied[(tied["ts"] >= lo) & (tied["ts"] <= hi)]
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


@dataclass
class _Context:
    """What every finding of one run reads, each part built once and only when a storm needs it."""

    frames: Frames
    focus_access: np.ndarray  # which focus rows are access lines with time, client and route
    ingress_ips: set[str]
    _populations: dict[str, _Population] = field(default_factory=dict)
    _records: _Records | None = None

    def population(self, origin: str) -> _Population:
        if origin not in self._populations:
            self._populations[origin] = (
                _Population.of_ingress(self.frames.ingress)
                if origin == "ingress"
                else _Population.of_focus(self.frames.focus, self.focus_access)
            )
        return self._populations[origin]

    def records(self) -> _Records:
        if self._records is None:
            self._records = _Records(self.frames.focus)
        return self._records

    def focus_routes(self) -> list[str]:
        return self.population("focus").routes() if self.focus_access.any() else []


def _finding(storm: _Storm, ctx: _Context, *, critical_rate_per_s: float, earlier: list[_Storm]) -> Finding:
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
        candidates = [r for r in ctx.focus_routes() if _route_matches(storm.route, r)]
        focus_route = max(candidates, key=len) if candidates else None
    configs, matched_by, errors = _configurations(ctx.records(), storm, focus_route, ctx.ingress_ips)
    if not configs:
        matched_by = "none"
    counts = _status_counts(storm.rows)
    load = ctx.population(storm.origin).load(storm)

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
        f"from {fmt_span(storm.start, storm.end)}{config_text}{share}{_earlier_text(earlier)}."
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
    # select: the failing requests of each log, and the storms among them
    focus_access = _focus_access(frames.focus)

    def find(requests: pd.DataFrame, origin: str) -> list[_Storm]:
        return _find_storms(
            requests,
            origin,
            min_attempts=min_attempts,
            min_rate_per_min=min_rate_per_min,
            min_duration_s=min_duration_s,
            max_gap_s=max_gap_s,
        )

    ingress_storms = find(_ingress_requests(frames.ingress, failing), "ingress")
    focus_storms = find(_focus_requests(frames.focus, focus_access, failing), "focus")
    if not ingress_storms and not focus_storms:
        return []
    ctx = _Context(frames, focus_access, _ingress_ips(frames))

    # verdict: a storm in both logs is the ingress one, with the Focus Server's numbers
    kept_focus = []
    for fs in focus_storms:
        matches = [
            s
            for s in ingress_storms
            if s.method == fs.method
            and _route_matches(s.route, fs.route)
            and _overlaps(s, fs)
            and (s.client == fs.client or fs.client in ctx.ingress_ips)
        ]
        for s in matches:
            s.matched.append(fs)
        if not matches:
            kept_focus.append(fs)

    # narration: one finding per (client, method + route), the latest run, earlier runs counted
    runs: dict[tuple[str, str, str, str], list[_Storm]] = {}
    for storm in [*ingress_storms, *kept_focus]:
        runs.setdefault((storm.origin, storm.client, storm.method, storm.route), []).append(storm)
    out = []
    for storms in runs.values():
        storms.sort(key=lambda st: st.start)
        out.append(_finding(storms[-1], ctx, critical_rate_per_s=critical_rate_per_s, earlier=storms[:-1]))
    out.sort(key=lambda f: (f.metrics["client"], f.metrics["route"], f.first_seen))
    return out
