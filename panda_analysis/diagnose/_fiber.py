"""FIBER_WAITING and FIBER_METADATA_MISSING: the interrogator has no fiber metadata (seed 002).

``GET /live_metadata`` answers ``prr: 0.0``, ``dx: 0.0``, ``sw_version: "waiting for
fiber"`` while the system waits for its fiber, and the Focus Server then rejects every
``POST /configure`` with ``Cannot configure job - validation failed: Cannot proceed:
Missing required fiber metadata fields: prr`` and ``503 Service Unavailable``.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from panda_analysis.diagnose._util import evidence, fmt_duration, fmt_time, plural
from panda_analysis.findings import Code, Evidence, Finding, Severity
from panda_analysis.schema import Frames

__all__ = ["fiber"]

_WAITING = "waiting for fiber"
_MISSING = re.compile(r"Missing required (?:fiber )?metadata fields?\s*:?\s*(?P<fields>.+)$", re.IGNORECASE)
_FIELD = re.compile(r"[A-Za-z_][\w.]*")
_FOCUS_LABEL = "app.kubernetes.io/name=panda-panda-focus-server"


def _text(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return ""
    return str(value)


def _not_positive(series: pd.Series) -> pd.Series:
    return (series.isna() | (series <= 0)).fillna(True).astype(bool)


def _waiting(series: pd.Series) -> pd.Series:
    return series.astype("string").str.lower().str.contains(_WAITING, regex=False).fillna(False).astype(bool)


def not_ready(probes: pd.DataFrame) -> pd.Series:
    """Successful probes whose metadata is not ready (prr / dx not positive, waiting, null fiber)."""
    return (
        _not_positive(probes["prr"])
        | _not_positive(probes["dx"])
        | _waiting(probes["sw_version"])
        | _waiting(probes["fiber_description"])
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


def _span(start: pd.Timestamp, end: pd.Timestamp) -> str:
    """``2025-11-08 13:18:00 to 13:19:29 UTC`` (the date once when both share it)."""
    if start.date() == end.date():
        return f"{fmt_time(start)[:-4]} to {fmt_time(end)[11:]}"
    return f"{fmt_time(start)} to {fmt_time(end)}"


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
        if _WAITING in _text(row[name]).lower():
            out.append(f'{name} "{row[name]}"')
    nulls = [n for n in ("fiber_start_meters", "fiber_length_meters") if pd.isna(row[n])]
    if nulls:
        out.append(" and ".join(nulls) + " null")
    return out


def configure_503s(frames: Frames) -> tuple[pd.DataFrame, str]:
    """``/configure`` answers with 503: ingress rows if the ingress log has the route, else Focus access lines."""
    ingress = frames.ingress
    if not ingress.empty:
        route = ingress["route"].astype("string").fillna(ingress["path"].astype("string"))
        on_route = route.str.endswith("/configure").fillna(False).astype(bool)
        if on_route.any():
            rows = ingress[on_route & (ingress["status"] == 503).fillna(False).astype(bool)]
            return _quote_ingress(rows), "ingress"
    focus = frames.focus
    if focus.empty:
        return focus, "focus"
    route = focus["route"].astype("string").fillna(focus["path"].astype("string"))
    mask = (
        (focus["kind"] == "access").fillna(False).astype(bool)
        & route.str.endswith("/configure").fillna(False).astype(bool)
        & (focus["status"] == 503).fillna(False).astype(bool)
    )
    return focus[mask].sort_values("ts", kind="stable"), "focus"


def _quote_ingress(rows: pd.DataFrame) -> pd.DataFrame:
    """Ingress rows have no raw line: add a ``message`` an analyst can grep for."""
    rows = rows.sort_values("ts", kind="stable").copy()
    rows["message"] = [
        f'{_text(c)} "{_text(m)} {_text(p)} {_text(proto) or "HTTP/1.1"}" {_text(s)} [{_text(u) or "-"}]'
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


def _in_periods(rows: pd.DataFrame, periods: list[tuple[pd.Timestamp, pd.Timestamp | None]]) -> pd.DataFrame:
    if rows.empty or not periods:
        return rows.iloc[0:0]
    mask = pd.Series(False, index=rows.index)
    for start, end in periods:
        inside = rows["ts"] >= start
        if end is not None:
            inside &= rows["ts"] < end
        mask |= inside.fillna(False).astype(bool)
    return rows[mask]


def _focus_target(frames: Frames) -> dict[str, str]:
    """Namespace, pod, service and port of the Focus Server, for copy-pasteable commands."""
    out = {"namespace": "panda", "pod": "", "service": "", "port": "5000"}
    focus = frames.focus
    live = focus[~focus["is_previous"].fillna(False).astype(bool)] if not focus.empty else focus
    if not live.empty:
        out["namespace"] = _text(live["namespace"].iloc[-1]) or out["namespace"]
        out["pod"] = _text(live["pod"].iloc[-1])
    elif not frames.pods.empty:
        pods = frames.pods[frames.pods["pod"].astype("string").str.contains("focus-server", regex=False).fillna(False)]
        if not pods.empty:
            out["namespace"] = _text(pods["namespace"].iloc[0]) or out["namespace"]
            out["pod"] = _text(pods["pod"].iloc[0])
    services = frames.services
    if not services.empty:
        svc = services[services["service"].astype("string").str.contains("focus-server", regex=False).fillna(False)]
        if not svc.empty:
            out["service"] = _text(svc["service"].iloc[0])
            port = re.search(r":(\d+)/", _text(svc["ports"].iloc[0]))
            if port:
                out["port"] = port.group(1)
    return out


def _probe_command(target: dict[str, str]) -> str:
    ref = f"pod/{target['pod']}" if target["pod"] else f"svc/{target['service'] or 'panda-focus-server'}"
    return (
        f"`kubectl -n {target['namespace']} port-forward {ref} {target['port']}:{target['port']} & "
        f"sleep 2; curl -s http://localhost:{target['port']}/live_metadata | "
        "jq '{prr, dx, sw_version, fiber_description, fiber_start_meters, fiber_length_meters}'`"
    )


def _logs_command(target: dict[str, str], pattern: str) -> str:
    who = target["pod"] or f"-l {_FOCUS_LABEL}"
    return f"`kubectl -n {target['namespace']} logs {who} --since=30m | grep -E '{pattern}'`"


def _probe_quote(rows: pd.DataFrame) -> tuple[Evidence, ...]:
    return evidence(
        rows.assign(message=[f"{_text(s)} {_text(b)}" for s, b in zip(rows["status"], rows["body"], strict=True)])
    )


def _waiting_finding(frames: Frames, *, ok: pd.DataFrame, not_ready: pd.Series, failed: int) -> Finding:
    # episodes of consecutive not-ready probes; each ends at the next ready probe (or stays open)
    flags = not_ready.to_numpy()
    periods: list[tuple[pd.Timestamp, pd.Timestamp | None]] = []
    start = None
    for i, flag in enumerate(flags):
        if flag and start is None:
            start = ok["ts"].iloc[i]
        elif not flag and start is not None:
            periods.append((start, ok["ts"].iloc[i]))
            start = None
    if start is not None:
        periods.append((start, None))
    bad = ok[not_ready]
    first_bad, last_bad = bad.iloc[0], bad.iloc[-1]
    still = bool(flags[-1])
    recovered_at = None if still else periods[-1][1]
    recovery = ok[ok["ts"] == recovered_at].iloc[[0]] if recovered_at is not None else ok.iloc[0:0]

    errors_503, where = configure_503s(frames)
    linked = _in_periods(errors_503, periods)
    reasons = _probe_reasons(last_bad)
    not_ready_s = ((recovered_at if recovered_at is not None else last_bad["ts"]) - first_bad["ts"]).total_seconds()

    span = f"{len(bad)} of {plural(len(ok), 'probe')} from {_span(first_bad['ts'], last_bad['ts'])}"
    if still:
        state = "and it is still not ready at the last probe"
    else:
        state = f"and it recovered at {fmt_time(recovered_at)} after {fmt_duration(not_ready_s)}"
    if len(periods) > 1:
        state += f" ({len(periods)} not-ready periods)"
    if len(linked):
        impact = (
            f"; {plural(len(linked), 'POST /configure', 'POST /configure requests')} answered 503 in that time "
            f"({where} log), since {fmt_time(linked['ts'].iloc[0])}"
        )
    else:
        impact = "; no /configure 503 was logged in that time"
    summary = f"GET /live_metadata reported fiber metadata not ready ({', '.join(reasons)}) in {span}, {state}{impact}."

    quotes = list(_probe_quote(bad.iloc[[0]]))
    if len(bad) > 1:
        quotes.extend(_probe_quote(bad.iloc[[-1]]))
    if not recovery.empty:
        quotes.extend(_probe_quote(recovery))
    if len(linked):
        quotes.extend(evidence(linked.iloc[[0]]))
        if len(linked) > 1:
            quotes.extend(evidence(linked.iloc[[-1]]))

    target = _focus_target(frames)
    steps = [
        f'Check the metadata now: {_probe_command(target)} (ready means prr > 0 and dx > 0, no "waiting for fiber").',
        "Check that the fiber is connected and the interrogator is recording (DevOps / infrastructure); "
        "the Focus Server cannot configure jobs until it publishes fiber metadata.",
        f"Pause test clients and load tests that `POST /configure`, and gate them on readiness "
        f'(skip when prr <= 0 or sw_version is "{_WAITING}"); see what is rejected: '
        f"{_logs_command(target, 'fiber metadata|POST /configure')}",
    ]
    metrics: dict[str, Any] = {
        "probes": len(ok) + failed,
        "ok_probes": len(ok),
        "failed_probes": failed,
        "not_ready_probes": len(bad),
        "not_ready_periods": len(periods),
        "first_not_ready": first_bad["ts"],
        "last_not_ready": last_bad["ts"],
        "is_recovered": not still,
        "recovered_at": recovered_at,
        "not_ready_s": round(float(not_ready_s), 3),
        "reasons": reasons,
        "prr": None if pd.isna(last_bad["prr"]) else float(last_bad["prr"]),
        "dx": None if pd.isna(last_bad["dx"]) else float(last_bad["dx"]),
        "sw_version": _text(last_bad["sw_version"]) or None,
        "fiber_description": _text(last_bad["fiber_description"]) or None,
        "number_of_channels": None if pd.isna(last_bad["number_of_channels"]) else int(last_bad["number_of_channels"]),
        "configure_503s": len(linked),
        "configure_503s_source": where,
        "first_configure_503": linked["ts"].iloc[0] if len(linked) else None,
        "last_configure_503": linked["ts"].iloc[-1] if len(linked) else None,
    }
    return Finding(
        code=Code.FIBER_WAITING,
        severity=Severity.CRITICAL if still else Severity.WARNING,
        title="Fiber metadata not ready (waiting for fiber)",
        summary=summary,
        component="focus-server",
        first_seen=first_bad["ts"],
        last_seen=last_bad["ts"],
        evidence=tuple(quotes[:5]),
        next_steps=tuple(steps),
        subject="GET /live_metadata",
        metrics=metrics,
    )


def _missing_finding(frames: Frames, *, rejected: pd.DataFrame, fields: list[str], link_window_s: float) -> Finding:
    first, last = rejected["ts"].iloc[0], rejected["ts"].iloc[-1]
    slack = pd.Timedelta(seconds=link_window_s)
    errors_503, where = configure_503s(frames)
    linked = (
        errors_503[(errors_503["ts"] >= first - slack) & (errors_503["ts"] <= last + slack)]
        if len(errors_503)
        else errors_503
    )

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
    for df, status_col in ((frames.ingress, "status"), (frames.focus, "status")):
        if df.empty:
            continue
        route = df["route"].astype("string").fillna(df["path"].astype("string"))
        ok_conf = df[
            route.str.endswith("/configure").fillna(False).astype(bool)
            & (df[status_col] >= 200).fillna(False).astype(bool)
            & (df[status_col] < 300).fillna(False).astype(bool)
            & (df["ts"] > last)
        ]
        if not ok_conf.empty and (recovered_at is None or ok_conf["ts"].iloc[0] < recovered_at):
            recovered_at, recovered_by = ok_conf["ts"].min(), "configure"

    names = ", ".join(fields)
    verb = "field" if len(fields) == 1 else "fields"
    span = f"from {_span(first, last)}" if len(rejected) > 1 else f"at {fmt_time(first)}"
    if len(linked):
        impact = f"; clients got {plural(len(linked), '503')} on /configure ({where} log) from {fmt_time(linked['ts'].iloc[0])}"
    else:
        impact = ""
    if recovered_at is None:
        state = ", and no configure has succeeded since"
    elif recovered_by == "configure":
        state = f"; a configure succeeded again at {fmt_time(recovered_at)}"
    else:
        state = f"; metadata was ready again at {fmt_time(recovered_at)}"
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

    target = _focus_target(frames)
    pods = sorted({_text(p) for p in rejected["pod"].dropna()})
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
        "configure_503s_source": where,
        "first_configure_503": linked["ts"].iloc[0] if len(linked) else None,
        "last_configure_503": linked["ts"].iloc[-1] if len(linked) else None,
        "is_recovered": recovered_at is not None,
        "recovered_at": recovered_at,
        "recovered_by": recovered_by,
    }
    return Finding(
        code=Code.FIBER_METADATA_MISSING,
        severity=Severity.WARNING if recovered_at is not None else Severity.CRITICAL,
        title="Job configuration rejected: fiber metadata missing",
        summary=summary,
        component="focus-server",
        first_seen=first,
        last_seen=last,
        evidence=tuple(quotes[:5]),
        next_steps=tuple(steps),
        subject=f"missing {','.join(fields)}",
        metrics=metrics,
    )


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
    out: list[Finding] = []
    lm = frames.live_metadata
    if not lm.empty:
        lm = lm.sort_values(["ts", "line_no"], kind="stable")
        ok_mask = ok_probes(lm)
        ok = lm[ok_mask]
        waiting = not_ready(ok)
        if bool(waiting.any()):
            out.append(_waiting_finding(frames, ok=ok, not_ready=waiting, failed=int((~ok_mask).sum())))

    focus = frames.focus
    if not focus.empty:
        messages = focus["message"].astype("string").fillna("")
        found = messages.str.extract(_MISSING)["fields"]
        rejected = focus[found.notna().to_numpy()].sort_values(["ts", "source", "line_no"], kind="stable")
        if not rejected.empty:
            fields: list[str] = []
            for text in found.dropna():
                for name in _FIELD.findall(str(text)):
                    if name.lower() not in {"and", "or"} and name not in fields:
                        fields.append(name)
            out.append(_missing_finding(frames, rejected=rejected, fields=sorted(fields), link_window_s=link_window_s))
    return out
