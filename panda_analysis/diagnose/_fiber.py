"""FIBER_WAITING and FIBER_METADATA_MISSING: the interrogator has no fiber metadata (seed 002).

``GET /live_metadata`` answers ``prr: 0.0``, ``dx: 0.0``, ``sw_version: "waiting for
fiber"`` while the system waits for its fiber, and the Focus Server then rejects every
``POST /configure`` with ``Cannot configure job - validation failed: Cannot proceed:
Missing required fiber metadata fields: prr`` and ``503 Service Unavailable``.

Shape (STYLE.md): :func:`_select` reads each frame once, vectorised (the probes that
answered and which of them say "not ready", the rejected configures and their fields, the
``/configure`` answers of the ingress or Focus log); :func:`_verdict_waiting` and :func:`_verdict_missing`
reduce those to a verdict (periods, counts, recovery); :func:`_narrate_waiting` and
:func:`_narrate_missing` write the findings. The 503s inside the not-ready periods are
found with one sorted search, not one mask per period.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from panda_analysis.diagnose._util import (
    FOCUS_LABEL,
    FOCUS_PORT,
    FOCUS_SERVICE,
    NAMESPACE,
    FocusServer,
    evidence,
    fmt_duration,
    fmt_span,
    fmt_time,
    focus_server,
    plural,
    text,
)
from panda_analysis.findings import Code, Evidence, Finding, Severity
from panda_analysis.schema import Frames

__all__ = ["fiber"]

_WAITING = "waiting for fiber"
_MISSING = re.compile(r"Missing required (?:fiber )?metadata fields?\s*:?\s*(?P<fields>.+)$", re.IGNORECASE)
_FIELD = re.compile(r"[A-Za-z_][\w.]*")
_COMPONENT = "focus-server"


def _not_positive(series: pd.Series) -> pd.Series:
    return (series.isna() | (series <= 0)).fillna(True).astype(bool)


def _waiting_text(series: pd.Series) -> pd.Series:
    return series.astype("string").str.lower().str.contains(_WAITING, regex=False).fillna(False).astype(bool)


def not_ready(probes: pd.DataFrame) -> pd.Series:
    """Successful probes whose metadata is not ready (prr / dx not positive, waiting, null fiber)."""
    return (
        _not_positive(probes["prr"])
        | _not_positive(probes["dx"])
        | _waiting_text(probes["sw_version"])
        | _waiting_text(probes["fiber_description"])
        | probes["fiber_start_meters"].isna()
        | probes["fiber_length_meters"].isna()
    ).astype(bool)


def ok_probes(probes: pd.DataFrame) -> pd.Series:
    """Probes that answered 2xx with a metadata body (failed probes say nothing about readiness)."""
    return (
        (probes["status"] >= 200).fillna(False).astype(bool)
        & (probes["status"] < 300).fillna(False).astype(bool)
        & probes["error"].isna()
        & probes["ts"].notna()
    ).astype(bool)


def _probe_reasons(row: pd.Series) -> list[str]:
    """Why one probe counts as "not ready", in the words of its fields."""
    out = []
    for name in ("prr", "dx"):
        value = row[name]
        if pd.isna(value):
            out.append(f"{name} missing")
        elif value <= 0:
            out.append(f"{name}={float(value):g}")
    for name in ("sw_version", "fiber_description"):
        if _WAITING in (text(row[name]) or "").lower():
            out.append(f'{name} "{row[name]}"')
    nulls = [n for n in ("fiber_start_meters", "fiber_length_meters") if pd.isna(row[n])]
    if nulls:
        out.append(" and ".join(nulls) + " null")
    return out


# --------------------------------------------------------------------------- select


def _on_configure(df: pd.DataFrame) -> np.ndarray:
    """Rows whose route (else path) ends in ``/configure``."""
    route = df["route"].astype("string").fillna(df["path"].astype("string"))
    return route.str.endswith("/configure").fillna(False).to_numpy(dtype=bool)


def _status_between(df: pd.DataFrame, lo: int, hi: int) -> np.ndarray:
    status = df["status"]
    return ((status >= lo) & (status <= hi)).fillna(False).to_numpy(dtype=bool)


def _configure_503s(frames: Frames, ingress_route: np.ndarray | None) -> tuple[pd.DataFrame, str]:
    ingress = frames.ingress
    if ingress_route is not None and ingress_route.any():
        rows = ingress[ingress_route & _status_between(ingress, 503, 503)]
        return _quote_ingress(rows), "ingress"
    focus = frames.focus
    if focus.empty:
        return focus, "focus"
    access = (focus["kind"] == "access").fillna(False).to_numpy(dtype=bool)
    mask = access & _on_configure(focus) & _status_between(focus, 503, 503)
    return focus[mask].sort_values("ts", kind="stable"), "focus"


def configure_503s(frames: Frames) -> tuple[pd.DataFrame, str]:
    """``/configure`` answers with 503: ingress rows if the ingress log has the route, else Focus access lines."""
    ingress = frames.ingress
    return _configure_503s(frames, _on_configure(ingress) if not ingress.empty else None)


def _quote_ingress(rows: pd.DataFrame) -> pd.DataFrame:
    """Ingress rows have no raw line: add a ``message`` an analyst can grep for."""
    rows = rows.sort_values("ts", kind="stable").copy()
    rows["message"] = [
        f'{text(c) or ""} "{text(m) or ""} {text(p) or ""} {text(proto) or "HTTP/1.1"}" {text(s) or ""} [{text(u) or "-"}]'
        for c, m, p, proto, s, u in zip(
            rows["remote_addr"].astype("object"),
            rows["method"].astype("object"),
            rows["path"].astype("object"),
            rows["protocol"].astype("object"),
            rows["status"].astype("object"),
            rows["proxy_upstream_name"].astype("object"),
            strict=True,
        )
    ]
    return rows


@dataclass(frozen=True, slots=True)
class _Selection:
    """What the two verdicts read, each frame cut once."""

    ok: pd.DataFrame  # probes that answered 2xx with a body, in time order
    not_ready: pd.Series  # ... which of them say "not ready"
    failed: int  # probes that did not answer
    rejected: pd.DataFrame  # Focus records "Missing required fiber metadata fields: ..."
    fields: list[str]  # the fields they name, sorted
    errors_503: pd.DataFrame  # /configure answered 503 (ingress, else Focus access lines), time order
    where: str  # "ingress" or "focus"
    configure_ok: list[pd.DataFrame]  # /configure answered 2xx: ingress rows, then Focus rows


def _select(frames: Frames) -> _Selection:
    lm = frames.live_metadata
    if not lm.empty:
        lm = lm.sort_values(["ts", "line_no"], kind="stable")
        ok_mask = ok_probes(lm)
        ok = lm[ok_mask]
        waiting = not_ready(ok)
        failed = int((~ok_mask).sum())
    else:
        ok, waiting, failed = lm, pd.Series(dtype=bool), 0

    focus = frames.focus
    rejected, fields = focus.iloc[0:0], []
    if not focus.empty:
        found = focus["message"].astype("string").fillna("").str.extract(_MISSING)["fields"]
        rejected = focus[found.notna().to_numpy()].sort_values(["ts", "source", "line_no"], kind="stable")
        for said in found.dropna():
            for name in _FIELD.findall(str(said)):
                if name.lower() not in {"and", "or"} and name not in fields:
                    fields.append(name)

    ingress = frames.ingress
    ingress_route = _on_configure(ingress) if not ingress.empty else None
    errors_503, where = _configure_503s(frames, ingress_route)
    configure_ok = []
    if not rejected.empty:  # only the missing-metadata verdict asks whether a configure succeeded later
        if ingress_route is not None:
            configure_ok.append(ingress[ingress_route & _status_between(ingress, 200, 299)])
        if not focus.empty:
            configure_ok.append(focus[_on_configure(focus) & _status_between(focus, 200, 299)])
    return _Selection(
        ok=ok,
        not_ready=waiting,
        failed=failed,
        rejected=rejected,
        fields=sorted(fields),
        errors_503=errors_503,
        where=where,
        configure_ok=configure_ok,
    )


def _in_periods(rows: pd.DataFrame, periods: list[tuple[pd.Timestamp, pd.Timestamp | None]]) -> pd.DataFrame:
    """The rows inside any ``[start, end)`` period (``end`` None: still open); periods are sorted, disjoint."""
    if rows.empty or not periods:
        return rows.iloc[0:0]
    starts = np.array([start.value for start, _ in periods], dtype=np.int64)
    ends = np.array([np.iinfo(np.int64).max if end is None else end.value for _, end in periods], dtype=np.int64)
    ts = rows["ts"]
    known = ts.notna().to_numpy()
    values = ts.dt.as_unit("ns").to_numpy(dtype="datetime64[ns]").astype(np.int64)
    at = np.searchsorted(starts, values, side="right") - 1  # the last period starting at or before the row
    inside = known & (at >= 0) & (values < ends[np.clip(at, 0, None)])
    return rows[inside]


# --------------------------------------------------------------------------- verdicts


@dataclass(frozen=True, slots=True)
class _Waiting:
    """FIBER_WAITING: the not-ready probes, their periods and the 503s inside them."""

    bad: pd.DataFrame  # not-ready probes
    periods: list[tuple[pd.Timestamp, pd.Timestamp | None]]  # each ends at the next ready probe, or stays open
    still: bool  # the last good probe is not ready
    recovered_at: pd.Timestamp | None
    recovery: pd.DataFrame  # the probe that showed ready metadata again
    linked: pd.DataFrame  # /configure 503s in the not-ready periods
    not_ready_s: float


def _verdict_waiting(sel: _Selection) -> _Waiting | None:
    ok, flags = sel.ok, sel.not_ready.to_numpy()
    if not flags.any():
        return None
    periods: list[tuple[pd.Timestamp, pd.Timestamp | None]] = []
    start = None
    times = ok["ts"].tolist()
    for at, flag in zip(times, flags, strict=True):
        if flag and start is None:
            start = at
        elif not flag and start is not None:
            periods.append((start, at))
            start = None
    if start is not None:
        periods.append((start, None))
    bad = ok[sel.not_ready]
    still = bool(flags[-1])
    recovered_at = None if still else periods[-1][1]
    recovery = ok[ok["ts"] == recovered_at].iloc[[0]] if recovered_at is not None else ok.iloc[0:0]
    end = recovered_at if recovered_at is not None else bad["ts"].iloc[-1]
    return _Waiting(
        bad=bad,
        periods=periods,
        still=still,
        recovered_at=recovered_at,
        recovery=recovery,
        linked=_in_periods(sel.errors_503, periods),
        not_ready_s=(end - bad["ts"].iloc[0]).total_seconds(),
    )


@dataclass(frozen=True, slots=True)
class _Missing:
    """FIBER_METADATA_MISSING: the rejections, the 503s around them, and whether it recovered."""

    rejected: pd.DataFrame
    fields: list[str]
    linked: pd.DataFrame
    recovered_at: pd.Timestamp | None
    recovered_by: str | None  # "live_metadata" or "configure"


def _verdict_missing(sel: _Selection, frames: Frames, link_window_s: float) -> _Missing | None:
    rejected = sel.rejected
    if rejected.empty:
        return None
    first, last = rejected["ts"].iloc[0], rejected["ts"].iloc[-1]
    slack = pd.Timedelta(seconds=link_window_s)
    errors = sel.errors_503
    linked = errors[(errors["ts"] >= first - slack) & (errors["ts"] <= last + slack)] if len(errors) else errors
    # recovered when a configure succeeded, or a probe showed ready metadata, after the last rejection
    recovered_at = None
    recovered_by = None
    lm = frames.live_metadata
    if not lm.empty:
        ok = lm[ok_probes(lm)]
        ok = ok[ok["ts"] > last].sort_values("ts", kind="stable")
        ready = ok[~not_ready(ok)]
        if not ready.empty:
            recovered_at, recovered_by = ready["ts"].iloc[0], "live_metadata"
    for answered in sel.configure_ok:
        later = answered[(answered["ts"] > last).fillna(False).to_numpy(dtype=bool)]
        if not later.empty and (recovered_at is None or later["ts"].iloc[0] < recovered_at):
            recovered_at, recovered_by = later["ts"].min(), "configure"
    return _Missing(rejected, sel.fields, linked, recovered_at, recovered_by)


# --------------------------------------------------------------------------- narration


def _probe_command(target: FocusServer) -> str:
    namespace = target.namespace or NAMESPACE
    port = target.port or FOCUS_PORT
    ref = f"pod/{target.pod}" if target.pod else f"svc/{target.service or FOCUS_SERVICE}"
    return (
        f"`kubectl -n {namespace} port-forward {ref} {port}:{port} & "
        f"sleep 2; curl -s http://localhost:{port}/live_metadata | "
        "jq '{prr, dx, sw_version, fiber_description, fiber_start_meters, fiber_length_meters}'`"
    )


def _logs_command(target: FocusServer, pattern: str) -> str:
    who = target.pod or f"-l {FOCUS_LABEL}"
    return f"`kubectl -n {target.namespace or NAMESPACE} logs {who} --since=30m | grep -E '{pattern}'`"


def _probe_quote(rows: pd.DataFrame) -> tuple[Evidence, ...]:
    return evidence(
        rows.assign(
            message=[f"{text(s) or ''} {text(b) or ''}" for s, b in zip(rows["status"], rows["body"], strict=True)]
        )
    )


def _narrate_waiting(v: _Waiting, sel: _Selection, target: FocusServer) -> Finding:
    ok, bad, periods, linked = sel.ok, v.bad, v.periods, v.linked
    first_bad, last_bad = bad.iloc[0], bad.iloc[-1]
    reasons = _probe_reasons(last_bad)
    span = f"{len(bad)} of {plural(len(ok), 'probe')} from {fmt_span(first_bad['ts'], last_bad['ts'])}"
    if v.still:
        state = "and it is still not ready at the last probe"
    else:
        state = f"and it recovered at {fmt_time(v.recovered_at)} after {fmt_duration(v.not_ready_s)}"
    if len(periods) > 1:
        state += f" ({len(periods)} not-ready periods)"
    if len(linked):
        impact = (
            f"; {plural(len(linked), 'POST /configure', 'POST /configure requests')} answered 503 in that time "
            f"({sel.where} log), since {fmt_time(linked['ts'].iloc[0])}"
        )
    else:
        impact = "; no /configure 503 was logged in that time"
    summary = f"GET /live_metadata reported fiber metadata not ready ({', '.join(reasons)}) in {span}, {state}{impact}."

    quotes = list(_probe_quote(bad.iloc[[0]]))
    if len(bad) > 1:
        quotes.extend(_probe_quote(bad.iloc[[-1]]))
    if not v.recovery.empty:
        quotes.extend(_probe_quote(v.recovery))
    if len(linked):
        quotes.extend(evidence(linked.iloc[[0]]))
        if len(linked) > 1:
            quotes.extend(evidence(linked.iloc[[-1]]))

    steps = [
        f'Check the metadata now: {_probe_command(target)} (ready means prr > 0 and dx > 0, no "waiting for fiber").',
        "Check that the fiber is connected and the interrogator is recording (DevOps / infrastructure); "
        "the Focus Server cannot configure jobs until it publishes fiber metadata.",
        f"Pause test clients and load tests that `POST /configure`, and gate them on readiness "
        f'(skip when prr <= 0 or sw_version is "{_WAITING}"); see what is rejected: '
        f"{_logs_command(target, 'fiber metadata|POST /configure')}",
    ]
    metrics: dict[str, Any] = {
        "probes": len(ok) + sel.failed,
        "ok_probes": len(ok),
        "failed_probes": sel.failed,
        "not_ready_probes": len(bad),
        "not_ready_periods": len(periods),
        "first_not_ready": first_bad["ts"],
        "last_not_ready": last_bad["ts"],
        "is_recovered": not v.still,
        "recovered_at": v.recovered_at,
        "not_ready_s": round(float(v.not_ready_s), 3),
        "reasons": reasons,
        "prr": None if pd.isna(last_bad["prr"]) else float(last_bad["prr"]),
        "dx": None if pd.isna(last_bad["dx"]) else float(last_bad["dx"]),
        "sw_version": text(last_bad["sw_version"]) or None,
        "fiber_description": text(last_bad["fiber_description"]) or None,
        "number_of_channels": None if pd.isna(last_bad["number_of_channels"]) else int(last_bad["number_of_channels"]),
        "configure_503s": len(linked),
        "configure_503s_source": sel.where,
        "first_configure_503": linked["ts"].iloc[0] if len(linked) else None,
        "last_configure_503": linked["ts"].iloc[-1] if len(linked) else None,
    }
    return Finding(
        code=Code.FIBER_WAITING,
        severity=Severity.CRITICAL if v.still else Severity.WARNING,
        title="Fiber metadata not ready (waiting for fiber)",
        summary=summary,
        component=_COMPONENT,
        first_seen=first_bad["ts"],
        last_seen=last_bad["ts"],
        evidence=tuple(quotes[:5]),
        next_steps=tuple(steps),
        subject="GET /live_metadata",
        metrics=metrics,
    )


def _narrate_missing(v: _Missing, sel: _Selection, target: FocusServer) -> Finding:
    rejected, fields, linked = v.rejected, v.fields, v.linked
    first, last = rejected["ts"].iloc[0], rejected["ts"].iloc[-1]
    names = ", ".join(fields)
    verb = "field" if len(fields) == 1 else "fields"
    span = f"from {fmt_span(first, last)}" if len(rejected) > 1 else f"at {fmt_time(first)}"
    if len(linked):
        impact = (
            f"; clients got {plural(len(linked), '503')} on /configure ({sel.where} log) "
            f"from {fmt_time(linked['ts'].iloc[0])}"
        )
    else:
        impact = ""
    if v.recovered_at is None:
        state = ", and no configure has succeeded since"
    elif v.recovered_by == "configure":
        state = f"; a configure succeeded again at {fmt_time(v.recovered_at)}"
    else:
        state = f"; metadata was ready again at {fmt_time(v.recovered_at)}"
    summary = (
        f"The Focus Server rejected {plural(len(rejected), 'POST /configure', 'POST /configure requests')} {span} "
        f"because fiber metadata {verb} {names} {'is' if len(fields) == 1 else 'are'} missing{impact}{state}."
    )
    quotes = list(evidence(rejected.iloc[[0]], text=["level", "logger", "message"]))
    if len(rejected) > 1:
        quotes.extend(evidence(rejected.iloc[[-1]], text=["level", "logger", "message"]))
    if len(linked):
        quotes.extend(evidence(linked.iloc[[0]]))
    quotes = [Evidence(q.source, q.line_no, q.ts, q.text.replace("error ", "ERROR ", 1)) for q in quotes]

    pods = sorted({text(p) or "" for p in rejected["pod"].dropna()})
    steps = [
        f"Confirm what the server is missing: {_probe_command(target)}",
        f"Follow the rejections: {_logs_command(target, 'Missing required fiber metadata|POST /configure')}",
        "Wait for (or restore) the fiber metadata before configuring jobs; stop clients that retry "
        "`POST /configure` in a loop until `GET /live_metadata` shows prr > 0.",
    ]
    metrics: dict[str, Any] = {
        "fields": fields,
        "rejections": len(rejected),
        "first_rejection": first,
        "last_rejection": last,
        "pods": pods,
        "configure_503s": len(linked),
        "configure_503s_source": sel.where,
        "first_configure_503": linked["ts"].iloc[0] if len(linked) else None,
        "last_configure_503": linked["ts"].iloc[-1] if len(linked) else None,
        "is_recovered": v.recovered_at is not None,
        "recovered_at": v.recovered_at,
        "recovered_by": v.recovered_by,
    }
    return Finding(
        code=Code.FIBER_METADATA_MISSING,
        severity=Severity.WARNING if v.recovered_at is not None else Severity.CRITICAL,
        title="Job configuration rejected: fiber metadata missing",
        summary=summary,
        component=_COMPONENT,
        first_seen=first,
        last_seen=last,
        evidence=tuple(quotes[:5]),
        next_steps=tuple(steps),
        subject=f"missing {','.join(fields)}",
        metrics=metrics,
    )


# --------------------------------------------------------------------------- the rule


def fiber(frames: Frames, *, link_window_s: float = 5.0) -> list[Finding]:
    """Find fiber metadata that is not ready (``FIBER_WAITING``) or missing (``FIBER_METADATA_MISSING``).

    ``FIBER_WAITING`` comes from ``GET /live_metadata`` probes that succeeded (2xx, body
    read) but show metadata not ready: ``prr`` or ``dx`` missing or not positive,
    "waiting for fiber" in ``sw_version`` or ``fiber_description``, or a null
    ``fiber_start_meters`` / ``fiber_length_meters``. Failed probes (no status, non-2xx,
    unreadable body) are not evidence either way and are skipped. It is ``critical``
    while the last good probe is still not ready and ``warning`` once one shows ready
    metadata again (the recovery time is in the summary). It counts the ``/configure``
    503s in the not-ready time (ingress rows whose route ends in ``/configure``, else the
    Focus Server's access lines) and says when they started.

    ``FIBER_METADATA_MISSING`` comes from Focus Server records such as ``Cannot configure
    job - validation failed: Cannot proceed: Missing required fiber metadata fields:
    prr`` (no probes needed): which fields, how many rejections, first and last, and the
    ``/configure`` 503s around them. It is ``critical`` unless a configure succeeded or a
    probe showed ready metadata after the last rejection (then ``warning``).

    Parameters
    ----------
    frames
        Parsed evidence; reads ``live_metadata``, ``focus``, ``ingress``, and ``pods`` /
        ``services`` for the names in the next steps.
    link_window_s
        Seconds of slack around the first and last rejection when counting the ``/configure``
        503s they caused (the Focus records have whole-second times). Default 5.

    Returns
    -------
    list[Finding]
        At most one ``FIBER_WAITING`` and one ``FIBER_METADATA_MISSING``; ``[]`` when the
        metadata is ready and no configuration was rejected.

    Examples
    --------
    >>> import panda_analysis as pa
    >>> found = pa.diagnose.fiber(pa.samples.waiting_for_fiber().frames())
    >>> [(f.code.value, f.severity.value, f.metrics["configure_503s"]) for f in found]
    [('FIBER_WAITING', 'critical', 71), ('FIBER_METADATA_MISSING', 'critical', 71)]
    >>> found[1].metrics["fields"]
    ['prr']
    >>> pa.diagnose.fiber(pa.samples.healthy().frames())
    []
    """
    sel = _select(frames)
    waiting = _verdict_waiting(sel)
    missing = _verdict_missing(sel, frames, link_window_s)
    if waiting is None and missing is None:
        return []
    target = focus_server(frames)
    out: list[Finding] = []
    if waiting is not None:
        out.append(_narrate_waiting(waiting, sel, target))
    if missing is not None:
        out.append(_narrate_missing(missing, sel, target))
    return out
