"""Plotly figures named like the diagnoses they illustrate (``pa.plot.retry_storm`` ↔ ``pa.diagnose.retry_storm``).

Every function takes one :class:`~panda_analysis.schema.Frames`, reads only its DataFrames
(no files, no network), and returns a new :class:`plotly.graph_objects.Figure` with a title
and axis labels (time axes read "time (UTC)"). Nothing here shows a figure, writes a file
or touches the global plotly templates and renderers: notebooks display the figure, and
``pa.report`` pins the renderer. Empty evidence gives a figure with an annotation "no
evidence for …" instead of an error. Data is aggregated before it is plotted (requests per
bucket, one marker per container or stage), so a report stays small; the output is
deterministic (fixed colours, sorted traces, times as ISO strings in UTC).

Where a figure shows a judgement (not-ready periods, storm windows, consumer stages, an
alert's path) it reuses the diagnosis' own definition, so the picture and the finding
always agree.

Examples
--------
>>> import panda_analysis as pa
>>> fig = pa.plot.timeline(pa.samples.healthy().frames())
>>> fig.layout.xaxis.title.text
'time (UTC)'
"""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

# the rules' own definitions (some private), so that a plot never disagrees with its finding
from panda_analysis import _escape as escape
from panda_analysis import diagnose as _diagnose
from panda_analysis.diagnose._alerts import STAGES as ALERT_STAGES
from panda_analysis.diagnose._consumer import STAGE_LABELS, STAGES
from panda_analysis.diagnose._fiber import configure_503s, not_ready, ok_probes
from panda_analysis.diagnose._queues import consumers_per_row
from panda_analysis.findings import Code, Finding
from panda_analysis.schema import Frames

__all__ = ["alerts", "consumer", "crashloop", "fiber", "queues", "rates", "retry_storm", "timeline"]

TIME_AXIS = "time (UTC)"

#: Colours by severity, alert-stage status and HTTP status class (fixed, so figures are stable).
SEVERITY_COLORS = {"critical": "#d62728", "warning": "#ff7f0e", "info": "#1f77b4"}
STATUS_COLORS = {"passed": "#2ca02c", "failed": "#d62728", "missing": "#ff7f0e", "no_evidence": "#9e9e9e"}
_CLASS_SHADES = {
    "2xx": ("#2ca02c", "#98df8a", "#1a7a1a", "#5cbf5c", "#c7eec0"),
    "3xx": ("#1f77b4", "#aec7e8", "#14507a", "#6aa6d6", "#d3e3f3"),
    "4xx": ("#ff7f0e", "#ffbb78", "#b35600", "#ffa04d", "#ffdcb8"),
    "5xx": ("#d62728", "#ff9896", "#8c1a1b", "#e8585a", "#ffc8c7"),
    "other": ("#7f7f7f", "#c7c7c7", "#4d4d4d", "#a6a6a6", "#e0e0e0"),
}
_QUALITATIVE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip
_KIND_SYMBOLS = {
    "k8s_event": "circle",
    "restart": "x",
    "waiting": "hourglass",
    "job_state": "square",
    "error": "diamond",
    "http_5xx_burst": "triangle-up",
    "metadata_state": "star",
    "queue_state": "pentagon",
    "finding": "star-diamond",
}
_EVENT_COLORS = {"BackOff": "#ff7f0e", "Killing": "#8c564b", "Started": "#2ca02c", "Unhealthy": "#9467bd"}
_BY = ("route", "status", "remote_addr", "method")
#: Most groups drawn as their own bars; the rest are summed into "other".
_MAX_GROUPS = 10
_MAX_QUEUES = 20
_MAX_ALERTS = 40


# --------------------------------------------------------------------------- helpers


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and value != value


def _text(value: Any) -> str:
    return "" if _missing(value) else str(value)


def _iso(value: Any) -> str | None:
    """A time as plotly reads it: ``2025-11-08 13:18:00.000000`` in UTC (None when missing)."""
    if _missing(value):
        return None
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.strftime("%Y-%m-%d %H:%M:%S.%f")


def _isos(series: pd.Series) -> list[str | None]:
    return [_iso(v) for v in series]


def _hover(text: Any, width: int = 100, lines: int = 6) -> str:
    """Evidence text made safe for plotly's hover labels: escaped, controls shown, wrapped, bounded.

    Its own line breaks stay line breaks (``<br>``); other controls are shown (``\\x1b``), so
    textwrap never turns a CR or a form feed into a silent space.
    """
    shown = escape.visible(_text(text), keep="\n").split("\n")
    wrapped = [part for line in shown for part in (textwrap.wrap(line, width=width) or [""])]
    if len(wrapped) > lines:
        wrapped = [*wrapped[: lines - 1], textwrap.shorten(wrapped[lines - 1] + " …", width=width, placeholder=" …")]
    return "<br>".join(escape.plotly(part) for part in wrapped)


def _label(value: Any) -> str:
    """A name or title part from evidence for a plotly label (legend, tick, annotation)."""
    return escape.plotly(_text(value))


def _category_ticks(fig: go.Figure, categories: Sequence[str], *, axis: str = "y") -> None:
    """Tick labels of a category axis escaped, when a category (a pod, job or alert id) needs it.

    The data keep the real names (hover and selection use them); only the drawn labels change.
    """
    labels = [_label(c) for c in categories]
    if labels != [str(c) for c in categories]:
        update = fig.update_yaxes if axis == "y" else fig.update_xaxes
        update(tickmode="array", tickvals=list(categories), ticktext=labels)


def _where(source: Any, line_no: Any) -> str:
    src = _text(source)
    if not src:
        return ""
    return f"{src}:{int(line_no)}" if not _missing(line_no) else src


def _code(text: Any) -> str:
    """The finding code of a timeline ``finding`` row (its text is ``CODE: summary``)."""
    return _text(text).split(":", 1)[0]


def _figure(title: str, *, x: str, y: str, height: int | None = None) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(
        title={"text": escape.plotly(title)},
        xaxis_title={"text": x},
        yaxis_title={"text": y},
        hovermode="closest",
        legend={"groupclick": "togglegroup"},
    )
    if height is not None:
        fig.update_layout(height=height)
    return fig


def _annotate(fig: go.Figure, text: str) -> go.Figure:
    fig.add_annotation(
        text=escape.plotly(text),
        xref="paper",
        yref="paper",
        x=0.5,
        y=0.5,
        showarrow=False,
        font={"size": 14, "color": "#555555"},
        name="no-evidence",
    )
    return fig


def _empty(title: str, what: str, *, x: str = TIME_AXIS, y: str = "") -> go.Figure:
    """A figure that says plainly there is nothing to draw (instead of an empty plot or an error)."""
    fig = _figure(title, x=x, y=y)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False)
    return _annotate(fig, f"no evidence for {what}")


def _height(rows: int, *, base: int = 220, per_row: int = 34, least: int = 360) -> int:
    return max(least, base + per_row * rows)


def _timedelta(freq: str, name: str = "freq") -> pd.Timedelta:
    try:
        delta = pd.to_timedelta(freq)
    except (ValueError, TypeError) as err:
        msg = f"{name} must be a duration such as '10s' or '1min', got {freq!r}"
        raise ValueError(msg) from err
    if delta <= pd.Timedelta(0):
        msg = f"{name} must be a positive duration such as '10s' or '1min', got {freq!r}"
        raise ValueError(msg)
    return delta


def _plain(series: pd.Series) -> pd.Series:
    """Object column of Python str / None (categoricals and Arrow strings flattened)."""
    return series.astype("object").where(series.notna(), None)


def _host(addr: Any) -> str | None:
    """Host part of uvicorn's ``client_addr`` (``10.42.0.0:33200``, ``[::1]:5000``)."""
    text = _text(addr).strip()
    if not text:
        return None
    if text.startswith("["):
        return text[1 : text.index("]")] if "]" in text else text[1:]
    if text.count(":") == 1:
        return text.split(":", 1)[0]
    return text


def _requests(frames: Frames) -> tuple[pd.DataFrame, str]:
    """HTTP requests as ``ts, remote_addr, method, route, status``: ingress log, else Focus access lines."""
    ingress = frames.ingress
    if not ingress.empty:
        route = _plain(ingress["route"]).where(ingress["route"].notna(), _plain(ingress["path"]))
        out = pd.DataFrame(
            {
                "ts": ingress["ts"],
                "remote_addr": _plain(ingress["remote_addr"]),
                "method": _plain(ingress["method"]),
                "route": route,
                "status": ingress["status"],
            }
        )
        return out.dropna(subset=["ts"]).reset_index(drop=True), "ingress"
    focus = frames.focus
    access = focus[(focus["kind"] == "access").fillna(False).astype(bool)] if not focus.empty else focus
    route = _plain(access["route"]).where(access["route"].notna(), _plain(access["path"]))
    out = pd.DataFrame(
        {
            "ts": access["ts"],
            "remote_addr": [_host(a) for a in access["client_addr"]],
            "method": _plain(access["method"]),
            "route": route,
            "status": access["status"],
        },
        index=access.index,
    )
    return out.dropna(subset=["ts"]).reset_index(drop=True), "Focus Server access"


def _status_class(status: Any) -> str:
    if _missing(status):
        return "other"
    code = int(status)
    return f"{code // 100}xx" if 100 <= code < 600 else "other"


def _status_classes(status: pd.Series) -> pd.Series:
    """``2xx`` / ``4xx`` / ``5xx`` ... per request, ``other`` when missing or out of range (vectorised)."""
    code = pd.to_numeric(status, errors="coerce").astype("Float64")
    known = ((code >= 100) & (code < 600)).fillna(False).astype(bool)
    hundreds = (code // 100).astype("Int64").astype("string") + "xx"
    return hundreds.where(known, "other").astype("string").fillna("other")


def _top(groups: pd.Series, limit: int) -> list[str]:
    """The ``limit`` biggest groups (count desc, then name), others to be summed as "other"."""
    counts = groups.value_counts()
    ordered = sorted(counts.items(), key=lambda kv: (-int(kv[1]), str(kv[0])))
    return [str(k) for k, _ in ordered[:limit]]


def _add_bars(
    fig: go.Figure,
    counts: pd.DataFrame,
    *,
    group_order: list[str],
    bucket: pd.Timedelta,
    colors: dict[str, str],
    unit: str,
) -> None:
    """Stacked bars, one trace per group; ``counts`` has ``bucket``, ``group``, ``n``."""
    width_ms = bucket.total_seconds() * 1000.0
    for group in group_order:
        rows = counts[counts["group"] == group].sort_values("bucket")
        if rows.empty:
            continue
        centres = rows["bucket"] + bucket / 2
        fig.add_trace(
            go.Bar(
                x=_isos(centres),
                y=rows["n"].astype(int).tolist(),
                width=width_ms * 0.9,
                name=_label(group),
                marker={"color": colors.get(group, "#7f7f7f"), "line": {"width": 0}},
                customdata=_isos(rows["bucket"]),
                hovertemplate=f"{escape.plotly(group, template=True)}<br>%{{y}} {unit} from %{{customdata}} UTC<extra></extra>",
            )
        )


def _bucket_counts(requests: pd.DataFrame, groups: pd.Series, bucket: pd.Timedelta) -> pd.DataFrame:
    frame = pd.DataFrame({"bucket": requests["ts"].dt.floor(bucket), "group": groups.to_numpy()})
    counts = frame.groupby(["bucket", "group"], sort=True).size()
    return counts.rename("n").reset_index()


# --------------------------------------------------------------------------- timeline


def timeline(frames: Frames, *, findings: Sequence[Finding] | None = None) -> go.Figure:
    """Everything notable on one UTC axis: one row per component, markers coloured by severity.

    Draws :func:`panda_analysis.diagnose.timeline`: Kubernetes events, restarts, waiting
    containers, Job states, log errors, HTTP 5xx bursts (per minute), live-metadata and
    queue state changes. Marker shape is the row kind, colour the severity, size grows
    with the count aggregated; a thin line runs to ``end_ts`` for spans and bursts. The
    hover shows the text, the count and ``source:line_no``. Findings come first, one row
    per code (the row's label): a marker at ``first_seen`` coloured by severity, a line to
    ``last_seen`` and a shaded band over the whole figure for that time.

    Parameters
    ----------
    frames
        Parsed frames of one bundle.
    findings
        Findings to show, e.g. ``pa.diagnose.run(frames)`` (default: none, as
        :func:`panda_analysis.diagnose.timeline`).

    Returns
    -------
    plotly.graph_objects.Figure
        One marker trace per severity (``critical``, ``warning``, ``info``), span lines,
        and a ``findings`` trace (y = the code) when findings are given; one shape per
        finding with a time span, named ``"finding <CODE>"``.

    Examples
    --------
    >>> import panda_analysis as pa
    >>> frames = pa.samples.waiting_for_fiber().frames()
    >>> fig = pa.plot.timeline(frames, findings=pa.diagnose.run(frames))
    >>> finding = next(t for t in fig.data if t.name == "findings")
    >>> sorted(set(finding.y))
    ['CRASHLOOP_DNS', 'FIBER_METADATA_MISSING', 'FIBER_WAITING', 'RETRY_STORM']
    >>> sorted(t.name for t in fig.data if t.showlegend is not False and t.mode == "markers")
    ['findings', 'info', 'warning']
    """
    title = "Timeline: events, restarts, errors and findings"
    tl = _diagnose.timeline(frames, findings=list(findings) if findings is not None else None)
    tl = tl[tl["ts"].notna()]
    if tl.empty:
        return _empty(title, "any event, restart, error or finding", y="component")
    events = tl[tl["kind"] != "finding"]
    found = tl[tl["kind"] == "finding"]
    components = sorted({str(c) for c in events["component"].dropna()})
    # one row per finding code on top (the tick label is the code), then one per component
    found_codes = [_code(t) for t in found["text"]]
    rows = list(dict.fromkeys(found_codes)) + components
    fig = _figure(title, x=TIME_AXIS, y="finding / component", height=_height(len(rows), least=320))

    for severity in ("critical", "warning", "info"):
        part = events[events["severity"] == severity]
        if part.empty:
            continue
        color = SEVERITY_COLORS[severity]
        spans = part[part["end_ts"].notna() & (part["end_ts"] > part["ts"])]
        if len(spans):
            xs: list[str | None] = []
            ys: list[str | None] = []
            for start, end, comp in zip(spans["ts"], spans["end_ts"], spans["component"], strict=True):
                xs += [_iso(start), _iso(end), None]
                ys += [str(comp), str(comp), None]
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=ys,
                    mode="lines",
                    line={"color": color, "width": 2},
                    opacity=0.5,
                    name=f"{severity} spans",
                    legendgroup=severity,
                    showlegend=False,
                    hoverinfo="skip",
                )
            )
        counts = part["count"].fillna(1).astype(int)
        hover = [
            f"<b>{sev}</b> · {kind} · {_label(comp)}<br>{_hover(text)}"
            f"<br>{_iso(ts)} UTC" + (f" → {_iso(end)}" if not _missing(end) else "")
            + (f"<br>×{n}" if n > 1 else "")
            + (f"<br>{_label(w)}" if (w := _where(src, line)) else "")
            for sev, kind, comp, text, ts, end, n, src, line in zip(
                part["severity"], part["kind"], part["component"], part["text"], part["ts"],
                part["end_ts"], counts, part["source"], part["line_no"], strict=True,
            )
        ]  # fmt: skip
        fig.add_trace(
            go.Scatter(
                x=_isos(part["ts"]),
                y=[str(c) for c in part["component"]],
                mode="markers",
                name=severity,
                legendgroup=severity,
                marker={
                    "color": color,
                    "size": [min(20, 8 + 3 * len(str(n))) for n in counts],
                    "symbol": [_KIND_SYMBOLS.get(str(k), "circle") for k in part["kind"]],
                    "line": {"width": 1, "color": "#ffffff"},
                },
                hovertext=hover,
                hoverinfo="text",
            )
        )

    if len(found):
        for start, end, sev, code in zip(found["ts"], found["end_ts"], found["severity"], found_codes, strict=True):
            if not _missing(end) and end > start:
                fig.add_vrect(
                    x0=_iso(start),
                    x1=_iso(end),
                    fillcolor=SEVERITY_COLORS.get(str(sev), "#7f7f7f"),
                    opacity=0.12,
                    line_width=0,
                    layer="below",
                    name=f"finding {code}",
                )
        spans = found[found["end_ts"].notna() & (found["end_ts"] > found["ts"])]
        if len(spans):
            xs, ys = [], []
            for start, end, code in zip(spans["ts"], spans["end_ts"], [_code(t) for t in spans["text"]], strict=True):
                xs += [_iso(start), _iso(end), None]
                ys += [code, code, None]
            fig.add_trace(
                go.Scatter(
                    x=xs, y=ys, mode="lines", name="finding spans", legendgroup="findings", showlegend=False,
                    line={"color": "#333333", "width": 3}, opacity=0.5, hoverinfo="skip",
                )
            )  # fmt: skip
        hover = [
            f"<b>{sev}</b> {_hover(text)}<br>{_iso(ts)} UTC" + (f" → {_iso(end)}" if not _missing(end) else "")
            for sev, text, ts, end in zip(found["severity"], found["text"], found["ts"], found["end_ts"], strict=True)
        ]
        fig.add_trace(
            go.Scatter(
                x=_isos(found["ts"]),
                y=found_codes,
                mode="markers",
                name="findings",
                legendgroup="findings",
                marker={
                    "color": [SEVERITY_COLORS.get(str(s), "#7f7f7f") for s in found["severity"]],
                    "size": 13,
                    "symbol": "star-diamond",
                    "line": {"width": 1, "color": "#333333"},
                },
                hovertext=hover,
                hoverinfo="text",
            )
        )
    fig.update_xaxes(type="date")
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=rows, autorange="reversed")
    _category_ticks(fig, rows)
    return fig


# --------------------------------------------------------------------------- fiber


def _not_ready_periods(ok: pd.DataFrame, flags: pd.Series) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Runs of not-ready probes, each ending at the next ready probe (or its own last probe)."""
    periods: list[tuple[pd.Timestamp, pd.Timestamp]] = []
    start = last = None
    for ts, flag in zip(ok["ts"], flags, strict=True):
        if flag:
            start = ts if start is None else start
            last = ts
        elif start is not None:
            periods.append((start, ts))
            start = None
    if start is not None and last is not None:
        periods.append((start, last))
    return periods


def fiber(frames: Frames) -> go.Figure:
    """Fiber metadata over time: ``prr`` and ``dx`` from ``GET /live_metadata``, and ``/configure`` 503s.

    Top panel: ``prr`` (left axis) and ``dx`` (right axis) of every probe that answered
    2xx, with failed probes marked at 0; not-ready periods shaded red, with the same
    definition as :func:`panda_analysis.diagnose.fiber` (prr or dx missing or ≤ 0,
    "waiting for fiber", null fiber start / length; a period ends at the next ready
    probe). Bottom panel: ``POST /configure`` answers with 503 per minute (ingress log,
    else the Focus Server's access lines), the clients' side of the same problem.

    Parameters
    ----------
    frames
        Parsed frames; reads ``live_metadata``, ``ingress`` and ``focus``.

    Returns
    -------
    plotly.graph_objects.Figure
        Traces ``prr``, ``dx``, ``probe failed`` (if any) and ``/configure 503s per
        minute``; one shaded rectangle per not-ready period (shape name ``not ready``).

    Examples
    --------
    >>> import panda_analysis as pa
    >>> fig = pa.plot.fiber(pa.samples.waiting_for_fiber().frames())
    >>> len(fig.data) > 0
    True
    >>> prr = next(t for t in fig.data if t.name == "prr")
    >>> len(prr.y), max(prr.y)
    (50, 0.0)
    """
    title = "Fiber metadata: prr and dx from GET /live_metadata, /configure 503s per minute"
    lm = frames.live_metadata
    lm = lm[lm["ts"].notna()].sort_values(["ts", "line_no"], kind="stable") if not lm.empty else lm
    errors_503, where = configure_503s(frames)
    errors_503 = errors_503[errors_503["ts"].notna()] if len(errors_503) else errors_503
    if lm.empty and errors_503.empty:
        return _empty(title, "fiber metadata (no GET /live_metadata probes and no /configure 503s)", y="prr")

    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.08,
        row_heights=[0.65, 0.35],
        specs=[[{"secondary_y": True}], [{}]],
    )
    fig.update_layout(
        title={"text": escape.plotly(title)}, hovermode="x unified", height=520, legend={"orientation": "h", "y": -0.15}
    )
    if not lm.empty:
        ok_mask = ok_probes(lm)
        ok = lm[ok_mask]
        failed = lm[~ok_mask]
        hover = [
            f"status {_label(s)}, sw_version {_label(v) or '-'}"
            f"{'<br>' + _hover(d, 90, 3) if _text(d) else ''}"
            for s, v, d in zip(ok["status"], ok["sw_version"], ok["fiber_description"], strict=True)
        ]
        for name, color, secondary in (("prr", "#1f77b4", False), ("dx", "#9467bd", True)):
            fig.add_trace(
                go.Scatter(
                    x=_isos(ok["ts"]),
                    y=ok[name].astype(float).tolist(),
                    mode="lines+markers",
                    name=name,
                    line={"color": color, "shape": "hv", "dash": "solid" if name == "prr" else "dot"},
                    marker={"size": 5},
                    customdata=hover,
                    hovertemplate=f"{name} %{{y}}<br>%{{customdata}}<extra></extra>",
                ),
                row=1,
                col=1,
                secondary_y=secondary,
            )
        if len(failed):
            fig.add_trace(
                go.Scatter(
                    x=_isos(failed["ts"]),
                    y=[0.0] * len(failed),
                    mode="markers",
                    name="probe failed",
                    marker={"color": "#7f7f7f", "symbol": "x", "size": 8},
                    hovertext=[
                        f"probe failed: status {_text(s) or '-'} {_hover(e, 80, 2)}"
                        for s, e in zip(failed["status"], failed["error"], strict=True)
                    ],
                    hoverinfo="text",
                ),
                row=1,
                col=1,
            )
        for start, end in _not_ready_periods(ok, not_ready(ok)):
            if end > start:
                fig.add_vrect(
                    x0=_iso(start), x1=_iso(end), row="all", col=1,
                    fillcolor="#d62728", opacity=0.12, line_width=0, layer="below", name="not ready",
                )  # fmt: skip
            else:
                fig.add_vline(
                    x=_iso(start), row="all", col=1, line={"color": "#d62728", "dash": "dot"}, name="not ready"
                )
        fig.add_annotation(
            text="shaded: metadata not ready", xref="paper", yref="paper", x=0, y=1.02,
            xanchor="left", yanchor="bottom", showarrow=False, font={"size": 11, "color": "#d62728"},
        )  # fmt: skip
    else:
        fig.add_annotation(
            text="no evidence for fiber metadata probes (GET /live_metadata)", xref="x domain", yref="y domain",
            x=0.5, y=0.5, showarrow=False, font={"color": "#555555"}, row=1, col=1,
        )  # fmt: skip

    minute = pd.Timedelta(minutes=1)
    if len(errors_503):
        per_minute = errors_503["ts"].dt.floor(minute).value_counts().sort_index()
        fig.add_trace(
            go.Bar(
                x=_isos(pd.Series(per_minute.index) + minute / 2),
                y=per_minute.astype(int).tolist(),
                width=60_000 * 0.9,
                name="/configure 503s per minute",
                marker={"color": "#ff7f0e"},
                customdata=_isos(pd.Series(per_minute.index)),
                hovertemplate=f"%{{y}} × 503 on /configure ({where} log)<br>minute from %{{customdata}} UTC<extra></extra>",
            ),
            row=2,
            col=1,
        )
    else:
        fig.add_annotation(
            text="no /configure 503s", xref="x domain", yref="y domain", x=0.5, y=0.5,
            showarrow=False, font={"color": "#555555"}, row=2, col=1,
        )  # fmt: skip
    fig.update_xaxes(type="date")
    fig.update_xaxes(title_text=TIME_AXIS, row=2, col=1)
    fig.update_yaxes(title_text="prr", rangemode="tozero", row=1, col=1, secondary_y=False)
    fig.update_yaxes(title_text="dx (m)", rangemode="tozero", row=1, col=1, secondary_y=True)
    fig.update_yaxes(title_text="503s per minute", rangemode="tozero", row=2, col=1)
    return fig


# --------------------------------------------------------------------------- requests


def retry_storm(frames: Frames, *, findings: Sequence[Finding] | None = None, freq: str = "10s") -> go.Figure:
    """Request rate by status class and route, with each retry storm's window highlighted.

    Stacked bars count the requests per ``freq`` bucket (ingress log, else the Focus
    Server's access lines), one bar trace per status class and ``METHOD route`` (the ten
    biggest; the rest are summed per class as "other routes"). Every ``RETRY_STORM``
    finding adds a shaded window from its ``first_seen`` to ``last_seen``, labelled with
    its client.

    Parameters
    ----------
    frames
        Parsed frames; reads ``ingress`` (or ``focus``).
    findings
        Findings to highlight; only ``RETRY_STORM`` ones are used. Default: run
        :func:`panda_analysis.diagnose.retry_storm` on ``frames``.
    freq
        Bucket width, a pandas duration such as ``"10s"`` or ``"1min"``. Default ``"10s"``.

    Returns
    -------
    plotly.graph_objects.Figure
        Bar traces named ``"5xx POST /focus-server/configure"`` etc.; one shape per storm
        named ``"RETRY_STORM <client>"``.

    Raises
    ------
    ValueError
        If ``freq`` is not a positive duration.

    Examples
    --------
    >>> import panda_analysis as pa
    >>> fig = pa.plot.retry_storm(pa.samples.waiting_for_fiber().frames())
    >>> [s.name for s in fig.layout.shapes]
    ['RETRY_STORM 10.42.0.0', 'RETRY_STORM 10.42.2.0']
    >>> fig.data[0].name
    '5xx POST /focus-server/configure'
    """
    bucket = _timedelta(freq)
    requests, source = _requests(frames)
    storms = [
        f
        for f in (findings if findings is not None else _diagnose.retry_storm(frames))
        if f.code == Code.RETRY_STORM and f.first_seen is not None
    ]
    title = f"Retry storms: requests per {freq} by status class and route ({source} log)"
    if requests.empty and not storms:
        return _empty(
            title, "HTTP requests (no ingress log and no Focus Server access lines)", y=f"requests per {freq}"
        )
    fig = _figure(title, x=TIME_AXIS, y=f"requests per {freq}", height=480)
    fig.update_layout(barmode="stack", bargap=0)
    if requests.empty:
        _annotate(fig, "no evidence for HTTP requests (no ingress log and no Focus Server access lines)")
    else:
        classes = _status_classes(requests["status"])
        routes = (
            (
                requests["method"]
                .astype("string")
                .fillna("")
                .str.cat(requests["route"].astype("string").fillna(""), sep=" ")
            )
            .str.strip()
            .replace("", "?")
        )
        keep = _top(routes, _MAX_GROUPS)
        groups = classes + " " + routes.where(routes.isin(keep), "other routes")
        counts = _bucket_counts(requests, groups, bucket)
        # worst class first (5xx at the bottom of the stack), then by volume
        totals = counts.groupby("group")["n"].sum()
        class_rank = {"5xx": 0, "4xx": 1, "other": 2, "3xx": 3, "2xx": 4}
        order = sorted(totals.index, key=lambda g: (class_rank.get(g.split(" ", 1)[0], 5), -int(totals[g]), g))
        colors: dict[str, str] = {}
        used: dict[str, int] = {}
        for group in order:
            cls = group.split(" ", 1)[0]
            shades = _CLASS_SHADES.get(cls, _CLASS_SHADES["other"])
            colors[group] = shades[used.get(cls, 0) % len(shades)]
            used[cls] = used.get(cls, 0) + 1
        _add_bars(fig, counts, group_order=order, bucket=bucket, colors=colors, unit="requests")

    for i, storm in enumerate(sorted(storms, key=lambda f: (f.first_seen, f.subject))):
        client = str(storm.metrics.get("client") or storm.subject.split(" ", 1)[0] or "?")
        end = storm.last_seen if storm.last_seen is not None else storm.first_seen
        fig.add_vrect(
            x0=_iso(storm.first_seen),
            x1=_iso(end),
            fillcolor="#d62728",
            opacity=0.10,
            line={"color": "#d62728", "width": 1, "dash": "dot"},
            layer="below",
            name=f"RETRY_STORM {_label(client)}",  # drawn when a legend shows shapes
            annotation={
                "text": escape.plotly(f"storm: {client}"),
                "font": {"size": 11, "color": "#8c1a1b"},
                "yshift": -16 * (i % 4),
            },
            annotation_position="top left",
        )
    fig.update_xaxes(type="date")
    return fig


def rates(frames: Frames, *, by: str = "route", freq: str = "1min") -> go.Figure:
    """Requests per ``freq`` bucket, stacked by ``route``, ``status``, ``remote_addr`` or ``method``.

    Requests come from the ingress access log, else the Focus Server's access lines
    (where ``remote_addr`` is the host of ``client_addr``). The ten biggest groups get
    their own bars, the rest are summed as "other".

    Parameters
    ----------
    frames
        Parsed frames; reads ``ingress`` (or ``focus``).
    by
        What to group by: ``"route"`` (default), ``"status"``, ``"remote_addr"`` or ``"method"``.
    freq
        Bucket width, a pandas duration such as ``"1min"`` (default) or ``"10s"``.

    Returns
    -------
    plotly.graph_objects.Figure
        One bar trace per group.

    Raises
    ------
    ValueError
        If ``by`` is not one of the four columns or ``freq`` is not a positive duration.

    Examples
    --------
    >>> import panda_analysis as pa
    >>> fig = pa.plot.rates(pa.samples.waiting_for_fiber().frames(), by="status")
    >>> [(t.name, sum(t.y)) for t in fig.data]
    [('503', 71), ('200', 6), ('101', 1)]
    """
    if by not in _BY:
        msg = f"by must be one of {list(_BY)}, got {by!r}"
        raise ValueError(msg)
    bucket = _timedelta(freq)
    requests, source = _requests(frames)
    title = f"Requests per {freq} by {by} ({source} log)"
    if requests.empty:
        return _empty(
            title, "HTTP requests (no ingress log and no Focus Server access lines)", y=f"requests per {freq}"
        )
    column = requests[by].astype("Int64") if by == "status" else requests[by]
    values = column.astype("string").fillna("?").replace("", "?")
    keep = set(_top(values, _MAX_GROUPS))
    groups = values.where(values.isin(keep), "other")
    counts = _bucket_counts(requests, groups, bucket)
    totals = counts.groupby("group")["n"].sum()
    order = sorted(totals.index, key=lambda g: (g == "other", -int(totals[g]), g))
    if by == "status":
        used: dict[str, int] = {}
        colors = {}
        for group in order:
            cls = _status_class(int(group)) if group.isdigit() else "other"
            shades = _CLASS_SHADES.get(cls, _CLASS_SHADES["other"])
            colors[group] = shades[used.get(cls, 0) % len(shades)]
            used[cls] = used.get(cls, 0) + 1
    else:
        colors = {g: _QUALITATIVE[i % len(_QUALITATIVE)] for i, g in enumerate(order)}
        colors["other"] = "#c7c7c7"
    fig = _figure(title, x=TIME_AXIS, y=f"requests per {freq}", height=440)
    fig.update_layout(barmode="stack", bargap=0, legend_title_text=by)
    _add_bars(fig, counts, group_order=order, bucket=bucket, colors=colors, unit="requests")
    fig.update_xaxes(type="date")
    return fig


# --------------------------------------------------------------------------- crashloop


def crashloop(frames: Frames, *, pod: str | None = None) -> go.Figure:
    """Restart history per container: last termination, BackOff / Killing / Started events, current state.

    One row per ``namespace/pod/container`` that restarted (``restart_count`` > 0), is
    waiting in ``CrashLoopBackOff``, or has ``BackOff`` events; pods known only from
    pasted ``kubectl get pods`` text add a ``namespace/pod`` row at their last restart.
    On each row: the last run (a line from its start to its end), a red ✕ at the last
    termination (hover: reason, exit code, restarts so far, message), the pod's
    ``BackOff`` / ``Killing`` / ``Started`` / ``Unhealthy`` events (first and last time,
    ×count), and the current state (running since, or waiting with its reason).

    Parameters
    ----------
    frames
        Parsed frames; reads ``restarts``, ``events`` and ``pods_text``.
    pod
        Keep only pods whose name contains this text (default: all).

    Returns
    -------
    plotly.graph_objects.Figure
        Traces ``last termination``, ``last run``, ``current state`` and one per event
        reason; y categories are the rows.

    Examples
    --------
    >>> import panda_analysis as pa
    >>> fig = pa.plot.crashloop(pa.samples.waiting_for_fiber().frames())
    >>> term = next(t for t in fig.data if t.name == "last termination")
    >>> list(term.y), list(term.x)
    (['panda/panda-panda-focus-server-78dbcfd9d9-kjj77/focus-server'], ['2025-11-07 09:12:11.000000'])
    """
    title = "Restart history per container" + (f" (pods matching {pod!r})" if pod else "")
    restarts = frames.restarts
    events = frames.events
    text_pods = frames.pods_text

    def pod_match(series: pd.Series) -> pd.Series:
        names = series.astype("string")
        if not pod:
            return names.notna().fillna(False).astype(bool)
        return names.str.contains(pod, regex=False).fillna(False).astype(bool)

    rs = restarts[pod_match(restarts["pod"])] if not restarts.empty else restarts
    if not rs.empty:
        crashing = (rs["restart_count"].fillna(0) > 0).astype(bool) | (
            rs["waiting_reason"].astype("string") == "CrashLoopBackOff"
        ).fillna(False).astype(bool)
        rs = rs[crashing]
    ev = events[pod_match(events["pod"])] if not events.empty else events
    ev = ev[ev["reason"].astype("string").isin(list(_EVENT_COLORS)).fillna(False).astype(bool)] if not ev.empty else ev

    def label(ns: Any, p: Any, c: Any = None) -> str:
        # pasted `kubectl get pods` text without -A has no namespace column
        return "/".join(part for part in (_text(ns), _text(p), _text(c)) if part)

    rows: list[str] = []
    by_pod: dict[tuple[str, str], list[str]] = {}
    for r in rs.to_dict("records"):
        name = label(r["namespace"], r["pod"], r["container"])
        if name not in rows:
            rows.append(name)
            by_pod.setdefault((_text(r["namespace"]), _text(r["pod"])), []).append(name)
    # BackOff events of containers the pod status does not show as restarting still count
    for r in ev[ev["reason"] == "BackOff"].to_dict("records") if not ev.empty else []:
        key = (_text(r["namespace"]), _text(r["pod"]))
        if key in by_pod:
            continue
        name = label(r["namespace"], r["pod"], r["container"])
        rows.append(name)
        by_pod.setdefault(key, []).append(name)
    tp = text_pods[pod_match(text_pods["pod"])] if not text_pods.empty else text_pods
    if not tp.empty:
        known_pods = {p for _, p in by_pod} | {_text(p) for p in restarts["pod"].dropna()}
        tp = tp[
            ~tp["pod"].astype("string").isin(known_pods).fillna(False).astype(bool)
            & (
                (tp["restart_count"].fillna(0) > 0).astype(bool)
                | (tp["status"].astype("string") == "CrashLoopBackOff").fillna(False).astype(bool)
            )
        ]
        for r in tp.to_dict("records"):
            name = label(r["namespace"], r["pod"])
            if name not in rows:
                rows.append(name)
    if not rows:
        return _empty(title, "container restarts (no container restarted or is in CrashLoopBackOff)", y="container")
    rows.sort()
    fig = _figure(title, x=TIME_AXIS, y="namespace/pod/container", height=_height(len(rows), least=340))

    # last run: start → termination
    runs = rs[rs["last_finished_at"].notna()] if not rs.empty else rs
    if len(runs):
        xs: list[str | None] = []
        ys: list[str | None] = []
        for r in runs.to_dict("records"):
            name = label(r["namespace"], r["pod"], r["container"])
            if not _missing(r["last_started_at"]):
                xs += [_iso(r["last_started_at"]), _iso(r["last_finished_at"]), None]
                ys += [name, name, None]
        if xs:
            fig.add_trace(
                go.Scatter(
                    x=xs, y=ys, mode="lines", name="last run", line={"color": "#7f7f7f", "width": 3},
                    opacity=0.6, hoverinfo="skip",
                )
            )  # fmt: skip
        hover = []
        for r in runs.to_dict("records"):
            parts = [f"<b>last termination</b>: {_label(_text(r['last_reason']) or 'terminated')}"]
            if not _missing(r["last_exit_code"]):
                parts.append(f"exit code {int(r['last_exit_code'])}")
            if not _missing(r["last_signal"]):
                parts.append(f"signal {int(r['last_signal'])}")
            line = ", ".join(parts)
            if not _missing(r["last_started_at"]):
                ran = (r["last_finished_at"] - r["last_started_at"]).total_seconds()
                line += f"<br>ran {ran:g} s from {_iso(r['last_started_at'])}"
            line += f"<br>at {_iso(r['last_finished_at'])} UTC; {int(r['restart_count'] or 0)} restarts so far"
            if _text(r["last_message"]):
                line += f"<br>{_hover(r['last_message'], 90, 4)}"
            line += f"<br>{_label(_where(r['source'], r['line_no']))}"
            hover.append(line)
        fig.add_trace(
            go.Scatter(
                x=_isos(runs["last_finished_at"]),
                y=[label(n, p, c) for n, p, c in zip(runs["namespace"], runs["pod"], runs["container"], strict=True)],
                mode="markers+text",
                name="last termination",
                text=[
                    f"{_label(r) or 'terminated'}"
                    + (f", exit {int(c)}" if not _missing(c) else "")
                    + f" · {int(n) if not _missing(n) else 0} restarts"
                    for r, c, n in zip(runs["last_reason"], runs["last_exit_code"], runs["restart_count"], strict=True)
                ],
                textposition="top left",
                textfont={"size": 10, "color": "#8c1a1b"},
                cliponaxis=False,
                marker={"color": "#d62728", "symbol": "x", "size": 13, "line": {"width": 1}},
                hovertext=hover,
                hoverinfo="text",
            )
        )

    # current state
    if not rs.empty:
        now = frames.created_at
        xs2, ys2, colors, hover2 = [], [], [], []
        for r in rs.to_dict("records"):
            state = _text(r["state"])
            name = label(r["namespace"], r["pod"], r["container"])
            if state == "waiting":
                when = now if now is not None else r["ts"]
                reason = _text(r["waiting_reason"]) or "waiting"
                text = f"waiting: {_label(reason)}"
                if _text(r["waiting_message"]):
                    text += f"<br>{_hover(r['waiting_message'], 90, 3)}"
                color = "#ff7f0e"
            else:
                when = r["started_at"]
                text = f"{_label(state) or 'state unknown'} since {_iso(when) or '?'} UTC"
                color = "#2ca02c" if state == "running" else "#7f7f7f"
            if _missing(when):
                continue
            xs2.append(_iso(when))
            ys2.append(name)
            colors.append(color)
            hover2.append(f"<b>current state</b>: {text}<br>ready: {_label(r['is_ready']) or '?'}")
        if xs2:
            fig.add_trace(
                go.Scatter(
                    x=xs2, y=ys2, mode="markers", name="current state",
                    marker={"color": colors, "symbol": "circle", "size": 11, "line": {"width": 1, "color": "#333333"}},
                    hovertext=hover2, hoverinfo="text",
                )
            )  # fmt: skip

    # events of those pods
    if not ev.empty:
        for reason in _EVENT_COLORS:
            part = ev[ev["reason"] == reason]
            xs3: list[str | None] = []
            ys3: list[str | None] = []
            hover3: list[str | None] = []
            for r in part.to_dict("records"):
                key = (_text(r["namespace"]), _text(r["pod"]))
                names = by_pod.get(key)
                if not names:
                    continue
                wanted = label(r["namespace"], r["pod"], r["container"])
                name = wanted if wanted in names else names[0]
                first = r["first_ts"] if not _missing(r["first_ts"]) else r["ts"]
                last = r["last_ts"] if not _missing(r["last_ts"]) else first
                count = 1 if _missing(r["count"]) else int(r["count"])
                text = (
                    f"<b>{reason}</b> ×{count}<br>{_hover(r['message'], 90, 3)}<br>first {_iso(first)}, last {_iso(last)} UTC"
                    f"<br>{_label(_where(r['source'], r['line_no']))}"
                )
                points = [first] if _missing(last) or last == first else [first, last]
                for ts in points:
                    xs3.append(_iso(ts))
                    ys3.append(name)
                    hover3.append(text)
                if len(points) > 1:
                    xs3.append(None)
                    ys3.append(None)
                    hover3.append(None)
            if xs3:
                fig.add_trace(
                    go.Scatter(
                        x=xs3, y=ys3, mode="lines+markers", name=f"{reason} event",
                        line={"color": _EVENT_COLORS[reason], "width": 1, "dash": "dot"},
                        marker={"color": _EVENT_COLORS[reason], "symbol": "triangle-up", "size": 9},
                        hovertext=hover3, hoverinfo="text",
                    )
                )  # fmt: skip

    # pods known only from `kubectl get pods` text
    if not tp.empty:
        known = tp[tp["last_restart_at"].notna()]
        if len(known):
            fig.add_trace(
                go.Scatter(
                    x=_isos(known["last_restart_at"]),
                    y=[label(n, p) for n, p in zip(known["namespace"], known["pod"], strict=True)],
                    mode="markers",
                    name="restart (kubectl get pods text)",
                    marker={"color": "#d62728", "symbol": "x-open", "size": 12},
                    hovertext=[
                        f"<b>{_label(s)}</b>, {int(n or 0)} restarts, last about "
                        f"{_iso(t)} UTC<br>{_label(_where(src, ln))}"
                        for s, n, t, src, ln in zip(
                            known["status"], known["restart_count"], known["last_restart_at"],
                            known["source"], known["line_no"], strict=True,
                        )
                    ],
                    hoverinfo="text",
                )
            )  # fmt: skip
    fig.update_xaxes(type="date")
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=rows, autorange="reversed")
    _category_ticks(fig, rows)
    return fig


# --------------------------------------------------------------------------- consumer


def _default(fn: Any, name: str) -> float:
    return float(inspect.signature(fn).parameters[name].default)


def consumer(frames: Frames, *, job_id: str | None = None) -> go.Figure:
    """The configure → consumer stage waterfall per job, seconds since configure.

    Draws :func:`panda_analysis.diagnose.consumer_stages`: one horizontal bar per job,
    one segment per step between consecutive stages with evidence (coloured by the stage
    it reaches: Job created, pod created, scheduled, image pulled, container started,
    queue declared, consumer attached, metadata ready). Segments whose end is only an
    upper bound (already visible in the first RabbitMQ snapshot) are hatched. Dotted
    lines mark the :func:`panda_analysis.diagnose.consumer` thresholds: pod within 10 s
    and consumer ready within 30 s. A job without a ``configure`` line is measured from
    its first evidence.

    Parameters
    ----------
    frames
        Parsed frames of one bundle.
    job_id
        Show only this job id, e.g. ``"19-6"`` (default: every job).

    Returns
    -------
    plotly.graph_objects.Figure
        One horizontal bar trace per stage reached; ``base`` + ``x`` of a bar is the
        stage's time since configure, in seconds.

    Examples
    --------
    >>> import panda_analysis as pa
    >>> fig = pa.plot.consumer(pa.samples.consumer_slow().frames())
    >>> ready = next(t for t in fig.data if t.name == "metadata ready")
    >>> [(job, round(b + x, 1)) for job, b, x in zip(ready.y, ready.base, ready.x)]
    [('19-5', 5.2), ('19-6', 41.1)]
    """
    title = "Consumer creation: configure → consumer stages per job" + (f" (job {job_id})" if job_id else "")
    x_title = "seconds since configure"
    stages = _diagnose.consumer_stages(frames)
    if job_id:
        stages = stages[stages["job_id"].astype("string").str.contains(str(job_id), regex=False, na=False).astype(bool)]
    stages = stages[stages["ts"].notna()]
    if stages.empty:
        what = f"job {job_id}" if job_id else "job consumer creation (no configure, Job, pod or per-job queue)"
        return _empty(title, what, x=x_title, y="job id")
    jobs = list(dict.fromkeys(str(j) for j in stages["job_id"]))
    # each job's rows, grouped once (filtering the whole table per job is quadratic)
    by_job = dict(list(stages.groupby(stages["job_id"].astype(str), sort=False, observed=True)))
    segments: dict[str, list[dict[str, Any]]] = {s: [] for s in STAGES[1:]}
    origins: dict[str, str] = {}
    for job in jobs:
        rows = by_job[job].sort_values("stage", kind="stable")
        conf = rows[rows["stage"] == "configure"]
        origin = conf["ts"].iloc[0] if len(conf) else rows["ts"].min()
        origins[job] = "configure" if len(conf) else f"first evidence ({rows['stage'].iloc[0]})"
        reached = 0.0
        for r in rows.to_dict("records"):
            offset = (r["ts"] - origin).total_seconds()
            stage = str(r["stage"])
            if stage == "configure":
                continue
            start = reached
            reached = max(reached, offset)
            segments[stage].append(
                {
                    "job": job,
                    "start": start,
                    "width": reached - start,
                    "offset": offset,
                    "ts": r["ts"],
                    "upper": bool(r["is_upper_bound"]) if not _missing(r["is_upper_bound"]) else False,
                    "text": r["text"],
                    "where": _where(r["source"], r["line_no"]),
                    "pod": _text(r["pod"]),
                }
            )
    fig = _figure(title, x=x_title, y="job id", height=_height(len(jobs), base=260, per_row=46, least=340))
    fig.update_layout(barmode="overlay", legend={"traceorder": "normal"})
    for i, stage in enumerate(STAGES[1:]):
        segs = segments[stage]
        if not segs:
            continue
        hover = [
            f"job {_label(s['job'])}: <b>{STAGE_LABELS[stage]}</b> at {s['offset']:.3f} s "
            f"after {origins[s['job']]}{' (upper bound)' if s['upper'] else ''}<br>{_iso(s['ts'])} UTC"
            + (f", pod {_label(s['pod'])}" if s["pod"] else "")
            + f"<br>{_hover(s['text'], 90, 3)}"
            + (f"<br>{_label(s['where'])}" if s["where"] else "")
            for s in segs
        ]
        fig.add_trace(
            go.Bar(
                y=[s["job"] for s in segs],
                x=[round(s["width"], 6) for s in segs],
                base=[round(s["start"], 6) for s in segs],
                orientation="h",
                name=STAGE_LABELS[stage],
                marker={
                    "color": _QUALITATIVE[i % len(_QUALITATIVE)],
                    "line": {"width": 1, "color": "#ffffff"},
                    "pattern": {"shape": ["/" if s["upper"] else "" for s in segs]},
                },
                hovertext=hover,
                hoverinfo="text",
            )
        )
    pod_s = _default(_diagnose.consumer, "pod_within_s")
    ready_s = _default(_diagnose.consumer, "consumer_within_s")
    for seconds, text in ((pod_s, f"pod within {pod_s:g} s"), (ready_s, f"consumer ready within {ready_s:g} s")):
        fig.add_vline(
            x=seconds, line={"color": "#555555", "dash": "dot", "width": 1}, name=f"threshold {seconds:g} s",
            annotation={"text": text, "font": {"size": 10}}, annotation_position="top",
        )  # fmt: skip
    fig.update_xaxes(rangemode="tozero")
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=jobs, autorange="reversed")
    _category_ticks(fig, jobs)
    return fig


# --------------------------------------------------------------------------- queues


def queues(frames: Frames, *, queue: str | None = None) -> go.Figure:
    """RabbitMQ queue depth and consumers over snapshot time, per queue.

    Top panel: ``messages_ready`` (solid) and ``messages_unacknowledged`` (dotted) per
    queue; bottom panel: consumers per queue (``consumers`` of ``/api/queues``, else
    counted in ``/api/consumers``), as steps. One colour per queue in both panels; a queue
    absent from a snapshot leaves a gap. At most 20 queues are drawn (the deepest first).

    Parameters
    ----------
    frames
        Parsed frames; reads ``queues`` and ``consumers``.
    queue
        Keep only queues whose name contains this text (default: all).

    Returns
    -------
    plotly.graph_objects.Figure
        Traces named ``"<queue> ready"``, ``"<queue> unacked"`` and ``"<queue> consumers"``.

    Examples
    --------
    >>> import panda_analysis as pa
    >>> fig = pa.plot.queues(pa.samples.consumer_slow().frames(), queue="grpc-job-19-6")
    >>> cons = next(t for t in fig.data if t.name == "grpc-job-19-6 consumers")
    >>> [c for c in cons.y if c == c][:3], max(cons.y)
    ([0.0, 0.0, 0.0], 1.0)
    """
    title = "RabbitMQ queues: depth and consumers per snapshot" + (f" (queues matching {queue!r})" if queue else "")
    q = frames.queues
    if q.empty:
        return _empty(title, "RabbitMQ queues (no management snapshots)", y="messages")
    q = q.assign(_consumers=consumers_per_row(frames), _name=q["queue"].astype("string").fillna("?"))
    if queue:
        q = q[q["_name"].str.contains(queue, regex=False).fillna(False).astype(bool)]
    q = q[q["ts"].notna()]
    if q.empty:
        return _empty(title, f"queues matching {queue!r}" if queue else "RabbitMQ queues", y="messages")
    depth = q.groupby("_name")["messages"].max().fillna(0)
    names = sorted(depth.index, key=lambda n: (-float(depth[n]), str(n)))
    shown = sorted(names[:_MAX_QUEUES])
    snapshots = sorted(q["ts"].unique())
    wide = q.sort_values(["ts", "line_no"], kind="stable").drop_duplicates(["ts", "_name"], keep="last")

    def pivot(column: str) -> pd.DataFrame:
        table = wide.pivot(index="ts", columns="_name", values=column).reindex(snapshots)
        return table.astype("Float64").astype(float)

    ready, unacked, consumers = pivot("messages_ready"), pivot("messages_unacknowledged"), pivot("_consumers")
    x = _isos(pd.Series(snapshots))
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, row_heights=[0.6, 0.4])
    fig.update_layout(title={"text": escape.plotly(title)}, hovermode="x unified", height=560)
    for i, name in enumerate(shown):
        color = _QUALITATIVE[i % len(_QUALITATIVE)]
        label, legend = escape.plotly(name, template=True), _label(name)
        common = {"legendgroup": str(name), "connectgaps": False}
        fig.add_trace(
            go.Scatter(
                x=x, y=ready[name].tolist(), mode="lines+markers", name=f"{legend} ready",
                line={"color": color}, marker={"size": 5},
                hovertemplate=f"{label}: %{{y}} ready<extra></extra>", **common,
            ),
            row=1, col=1,
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(
                x=x, y=unacked[name].tolist(), mode="lines", name=f"{legend} unacked",
                line={"color": color, "dash": "dot"}, showlegend=False,
                hovertemplate=f"{label}: %{{y}} unacknowledged<extra></extra>", **common,
            ),
            row=1, col=1,
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(
                x=x, y=consumers[name].tolist(), mode="lines+markers", name=f"{legend} consumers",
                line={"color": color, "shape": "hv"}, marker={"size": 5}, showlegend=False,
                hovertemplate=f"{label}: %{{y}} consumers<extra></extra>", **common,
            ),
            row=2, col=1,
        )  # fmt: skip
    if len(names) > len(shown):
        fig.add_annotation(
            text=f"showing the {len(shown)} deepest of {len(names)} queues; filter with queue=...",
            xref="paper", yref="paper", x=1, y=1.02, xanchor="right", yanchor="bottom", showarrow=False,
        )  # fmt: skip
    fig.add_annotation(
        text="solid: ready, dotted: unacknowledged", xref="paper", yref="paper", x=0, y=1.02,
        xanchor="left", yanchor="bottom", showarrow=False, font={"size": 11, "color": "#555555"},
    )  # fmt: skip
    fig.update_xaxes(type="date")
    fig.update_xaxes(title_text=TIME_AXIS, row=2, col=1)
    fig.update_yaxes(title_text="messages", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text="consumers", rangemode="tozero", row=2, col=1)
    return fig


# --------------------------------------------------------------------------- alerts


def _alert_order(trace: pd.DataFrame) -> list[str]:
    """Alerts in trace order; when there are too many, the undelivered ones first."""
    ids = list(dict.fromkeys(str(a) for a in trace["alert_id"]))
    if len(ids) <= _MAX_ALERTS:
        return ids
    bad = set(trace.loc[trace["status"].astype("string") != "passed", "alert_id"].astype(str))
    keep = [a for a in ids if a in bad][:_MAX_ALERTS]
    keep += [a for a in reversed(ids) if a not in bad][: _MAX_ALERTS - len(keep)]
    return [a for a in ids if a in set(keep)]


def alerts(frames: Frames, *, alert_id: str | None = None) -> go.Figure:
    """Each alert's path through the pipeline: a grid of stage × alert, coloured by status.

    Draws :func:`panda_analysis.diagnose.alert_trace`: x is the stage in pipeline order
    (push request → Focus received → Focus published → RabbitMQ published → consumed →
    analyzer → front-end sound → MongoDB), y the alert id; a marker is green when the stage
    passed, red when it failed, orange when its evidence exists but has no matching line
    (missing) and grey when the bundle holds no evidence of that kind. The hover shows the
    time, the detail and the proving line with ``source:line_no``. With more than 40
    alerts, undelivered ones are shown first.

    Parameters
    ----------
    frames
        Parsed frames of one bundle.
    alert_id
        Show only this alert id, e.g. ``"test-sd-124"`` (default: every alert).

    Returns
    -------
    plotly.graph_objects.Figure
        One marker trace per status (``passed``, ``failed``, ``missing``, ``no_evidence``)
        and a grey ``path`` line per alert.

    Examples
    --------
    >>> import panda_analysis as pa
    >>> fig = pa.plot.alerts(pa.samples.alert_lost().frames())
    >>> failed = next(t for t in fig.data if t.name == "failed")
    >>> list(zip(failed.y, failed.x)), failed.marker.color
    ([('test-sd-124', 'focus_published')], '#d62728')
    """
    title = "Alert path through the pipeline" + (f" (alert {alert_id})" if alert_id else "")
    trace = _diagnose.alert_trace(frames)
    if alert_id:
        trace = trace[trace["alert_id"].astype("string").str.contains(str(alert_id), regex=False, na=False).astype(bool)]
    if trace.empty:
        what = (
            f"alert {alert_id}" if alert_id else "alerts (no push-to-rabbit request, Focus, analyzer or MongoDB alert)"
        )
        return _empty(title, what, x="pipeline stage", y="alert id")
    ids = _alert_order(trace)
    total = int(trace["alert_id"].nunique())
    trace = trace[trace["alert_id"].astype(str).isin(ids)]
    stages = list(ALERT_STAGES)
    fig = _figure(title, x="pipeline stage", y="alert id", height=_height(len(ids), base=260, per_row=40, least=320))
    xs: list[str | None] = []
    ys: list[str | None] = []
    for a in ids:
        xs += [stages[0], stages[-1], None]
        ys += [a, a, None]
    fig.add_trace(
        go.Scatter(
            x=xs, y=ys, mode="lines", name="path", line={"color": "#c7c7c7", "width": 2},
            hoverinfo="skip", showlegend=False,
        )
    )  # fmt: skip
    for status, color in STATUS_COLORS.items():
        part = trace[trace["status"].astype("string") == status]
        if part.empty:
            continue
        hover = [
            f"<b>{_label(a)}</b> · {_label(st)}: <b>{status.replace('_', ' ')}</b>"
            + (f"<br>{_iso(ts)} UTC" if not _missing(ts) else "")
            + (f"<br>{_hover(d, 90, 2)}" if _text(d) else "")
            + (f"<br>{_hover(t, 90, 3)}" if _text(t) else "")
            + (f"<br>{_label(w)}" if (w := _where(src, ln)) else "")
            for a, st, ts, d, t, src, ln in zip(
                part["alert_id"], part["stage"], part["ts"], part["detail"], part["text"],
                part["source"], part["line_no"], strict=True,
            )
        ]  # fmt: skip
        fig.add_trace(
            go.Scatter(
                x=[str(s) for s in part["stage"]],
                y=[str(a) for a in part["alert_id"]],
                mode="markers",
                name=status,
                marker={"color": color, "symbol": "square", "size": 18, "line": {"width": 1, "color": "#333333"}},
                hovertext=hover,
                hoverinfo="text",
            )
        )
    if total > len(ids):
        fig.add_annotation(
            text=f"showing {len(ids)} of {total} alerts, undelivered first", xref="paper", yref="paper",
            x=1, y=1.02, xanchor="right", yanchor="bottom", showarrow=False,
        )  # fmt: skip
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=stages)
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=ids, autorange="reversed")
    _category_ticks(fig, ids)
    return fig
