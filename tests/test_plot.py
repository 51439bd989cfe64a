"""pa.plot: every figure on its sample has the right data, labels, filters and empty state."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import pytest

import panda_analysis as pa

PLOTS = ("timeline", "fiber", "retry_storm", "rates", "crashloop", "consumer", "queues", "alerts")
#: The sample each plot illustrates.
SAMPLE_OF = {
    "timeline": "waiting_for_fiber",
    "fiber": "waiting_for_fiber",
    "retry_storm": "waiting_for_fiber",
    "rates": "consumer_slow",
    "crashloop": "waiting_for_fiber",
    "consumer": "consumer_slow",
    "queues": "consumer_slow",
    "alerts": "alert_lost",
}
#: Plots whose x axis is not time.
X_TITLES = {"consumer": "seconds since configure", "alerts": "pipeline stage"}


@pytest.fixture(scope="module")
def frames() -> dict[str, pa.Frames]:
    return {name: pa.samples.load(name).frames() for name in pa.samples.names()}


def _trace(fig: go.Figure, name: str) -> go.BaseTraceType:
    found = [t for t in fig.data if t.name == name]
    assert found, f"no trace {name!r}; traces are {[t.name for t in fig.data]}"
    return found[0]


def _axis_titles(fig: go.Figure, letter: str) -> list[str]:
    layout = fig.layout.to_plotly_json()
    return [
        (layout[key].get("title") or {}).get("text") or "" for key in sorted(layout) if key.startswith(f"{letter}axis")
    ]


def _shapes(fig: go.Figure, prefix: str) -> list:
    return [s for s in fig.layout.shapes if (s.name or "").startswith(prefix)]


def _annotations(fig: go.Figure) -> list[str]:
    return [a.text or "" for a in fig.layout.annotations]


def _points(fig: go.Figure) -> int:
    return sum(len(t.x) if t.x is not None else 0 for t in fig.data)


def _ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)


# --------------------------------------------------------------------------- every plot


@pytest.mark.parametrize("name", PLOTS)
def test_figure_has_title_axis_labels_and_small_serialisable_data(name, frames):
    fig = getattr(pa.plot, name)(frames[SAMPLE_OF[name]])
    assert isinstance(fig, go.Figure)
    assert fig.layout.title.text
    assert len(fig.data) > 0
    xs = [t for t in _axis_titles(fig, "x") if t]
    assert xs == [X_TITLES.get(name, "time (UTC)")]
    assert all(_axis_titles(fig, "y")), f"unlabelled y axis: {_axis_titles(fig, 'y')}"
    assert _points(fig) < 2000  # aggregated, not raw rows
    text = fig.to_json()
    assert json.loads(text)["layout"]["title"]["text"] == fig.layout.title.text
    assert getattr(pa.plot, name)(frames[SAMPLE_OF[name]]).to_json() == text  # deterministic


@pytest.mark.parametrize("name", PLOTS)
def test_empty_frames_give_an_annotated_figure(name):
    fig = getattr(pa.plot, name)(pa.Frames())
    assert isinstance(fig, go.Figure)
    assert len(fig.data) == 0
    assert any(t.startswith("no evidence for") for t in _annotations(fig)), _annotations(fig)
    assert fig.layout.title.text
    assert [t for t in _axis_titles(fig, "x") if t] == [X_TITLES.get(name, "time (UTC)")]
    fig.to_json()


@pytest.mark.parametrize("name", PLOTS)
def test_every_plot_draws_on_the_healthy_sample_without_error(name, frames):
    fig = getattr(pa.plot, name)(frames["healthy"])
    assert fig.layout.title.text
    fig.to_json()


def test_plots_do_not_mutate_frames_write_files_or_touch_globals(frames, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    template, renderer = pio.templates.default, pio.renderers.default
    for sample in ("waiting_for_fiber", "consumer_slow", "alert_lost"):
        data = frames[sample]
        before = {name: (df.copy(deep=True), copy.deepcopy(df.attrs)) for name, df in data.items()}
        findings = pa.diagnose.run(data)
        for name in PLOTS:
            fn = getattr(pa.plot, name)
            fn(data, findings=findings) if name in {"timeline", "retry_storm"} else fn(data)
        for name, df in data.items():
            pd.testing.assert_frame_equal(df, before[name][0], check_exact=True)
            assert df.attrs == before[name][1], name
    assert list(tmp_path.iterdir()) == []
    assert (pio.templates.default, pio.renderers.default) == (template, renderer)


def test_every_plot_has_a_docstring_example_and_the_layer_signature():
    import inspect

    for name in PLOTS:
        fn = getattr(pa.plot, name)
        params = list(inspect.signature(fn).parameters.values())
        assert params[0].name == "frames"
        assert all(p.kind is p.KEYWORD_ONLY for p in params[1:])
        assert ">>> " in (fn.__doc__ or "")
        assert set(pa.plot.__all__) == set(PLOTS)


# --------------------------------------------------------------------------- timeline


def test_timeline_puts_findings_and_restarts_on_one_axis(frames):
    data = frames["waiting_for_fiber"]
    findings = pa.diagnose.run(data)
    fig = pa.plot.timeline(data, findings=findings)
    marks = _trace(fig, "findings")
    assert sorted(marks.y) == sorted(str(f.code) for f in findings)
    assert fig.layout.yaxis.categoryarray[:4] == tuple(dict.fromkeys(str(f.code) for f in sorted(
        findings, key=lambda f: f.first_seen)))  # fmt: skip
    assert len(_shapes(fig, "finding RETRY_STORM")) == 2
    warning = _trace(fig, "warning")
    restart = [
        (x, h)
        for x, y, h in zip(warning.x, warning.y, warning.hovertext, strict=True)
        if y == "focus-server" and "terminated" in h
    ]
    assert [x for x, _ in restart] == ["2025-11-07 09:12:11.000000"]
    assert "k8s/pods.json#/items/0/status/containerStatuses/0" in restart[0][1]
    # hover text from logs is escaped for plotly's pseudo-HTML
    assert all("<0." not in h for t in fig.data if t.hovertext for h in t.hovertext if h)


def test_timeline_without_findings_has_no_finding_rows(frames):
    fig = pa.plot.timeline(frames["waiting_for_fiber"])
    assert "findings" not in [t.name for t in fig.data]
    assert _shapes(fig, "finding") == []
    assert "focus-server" in fig.layout.yaxis.categoryarray


def test_timeline_of_healthy_has_no_warning_or_critical_markers(frames):
    fig = pa.plot.timeline(frames["healthy"], findings=pa.diagnose.run(frames["healthy"]))
    names = {t.name for t in fig.data}
    assert "info" in names
    assert not names & {"warning", "critical", "findings"}


# --------------------------------------------------------------------------- fiber


def test_fiber_shows_prr_dx_not_ready_period_and_configure_503s(frames):
    fig = pa.plot.fiber(frames["waiting_for_fiber"])
    prr, dx = _trace(fig, "prr"), _trace(fig, "dx")
    assert len(prr.y) == 50
    assert set(prr.y) == {0.0}
    assert len(dx.y) == 50
    assert set(dx.y) == {0.0}
    assert dx.yaxis == "y2"
    assert prr.yaxis == "y"
    shaded = _shapes(fig, "not ready")
    assert len(shaded) == 1
    assert _ts(shaded[0].x0) == _ts("2025-11-08 13:00:02.118")
    assert _ts(shaded[0].x1) == _ts("2025-11-08 13:24:42.040")
    bars = _trace(fig, "/configure 503s per minute")
    assert list(bars.y) == [46, 25]
    assert "ingress log" in bars.hovertemplate


def test_fiber_on_healthy_has_no_not_ready_shading(frames):
    fig = pa.plot.fiber(frames["healthy"])
    assert set(_trace(fig, "prr").y) == {2000.0}
    assert _shapes(fig, "not ready") == []
    assert "no /configure 503s" in _annotations(fig)


def test_fiber_counts_focus_503s_without_ingress_and_annotates_missing_probes(frames):
    data = frames["waiting_for_fiber"]
    only_focus = data.replace(
        ingress=pa.schema.FRAMES["ingress"].empty(), live_metadata=pa.schema.FRAMES["live_metadata"].empty()
    )
    fig = pa.plot.fiber(only_focus)
    bars = _trace(fig, "/configure 503s per minute")
    assert sum(bars.y) == 71
    assert "focus log" in bars.hovertemplate
    assert any("no evidence for fiber metadata probes" in a for a in _annotations(fig))


def test_fiber_shades_each_not_ready_period_and_marks_failed_probes():
    lm = pa.schema.FRAMES["live_metadata"].conform(
        [
            {"ts": f"2025-11-08T13:0{i}:00Z", "source": "http/focus/live_metadata.jsonl", "line_no": i + 1,
             "status": status, "prr": prr, "dx": 1.0, "fiber_start_meters": 0.0, "fiber_length_meters": 10.0,
             "sw_version": "2.14.1", "error": error}
            for i, (status, prr, error) in enumerate(
                [(200, 2000.0, None), (200, 0.0, None), (200, 2000.0, None), (None, None, "timeout"), (200, 0.0, None)]
            )
        ]
    )  # fmt: skip
    fig = pa.plot.fiber(pa.Frames(live_metadata=lm))
    periods = [(_ts(s.x0), _ts(s.x1)) for s in _shapes(fig, "not ready") if s.type == "rect"]
    assert periods == [(_ts("2025-11-08 13:01"), _ts("2025-11-08 13:02"))]
    assert [s.x0 for s in _shapes(fig, "not ready") if s.type == "line"] == ["2025-11-08 13:04:00.000000"]
    assert list(_trace(fig, "probe failed").x) == ["2025-11-08 13:03:00.000000"]
    assert list(_trace(fig, "prr").y) == [2000.0, 0.0, 2000.0, 0.0]


# --------------------------------------------------------------------------- requests


def test_retry_storm_highlights_each_storm_over_stacked_bars(frames):
    data = frames["waiting_for_fiber"]
    fig = pa.plot.retry_storm(data)
    storms = _shapes(fig, "RETRY_STORM")
    assert [s.name for s in storms] == ["RETRY_STORM 10.42.0.0", "RETRY_STORM 10.42.2.0"]
    found = pa.diagnose.retry_storm(data)
    assert [(_ts(s.x0), _ts(s.x1)) for s in storms] == [
        (f.first_seen.tz_localize(None), f.last_seen.tz_localize(None)) for f in found
    ]
    assert {a.text for a in fig.layout.annotations} >= {"storm: 10.42.0.0", "storm: 10.42.2.0"}
    assert fig.layout.barmode == "stack"
    red = _trace(fig, "5xx POST /focus-server/configure")
    assert sum(red.y) == 71
    assert red.width == pytest.approx(9000)  # 90 % of the 10 s bucket, in ms
    assert fig.layout.yaxis.title.text == "requests per 10s"


def test_retry_storm_uses_given_findings_and_freq(frames):
    data = frames["waiting_for_fiber"]
    others = [f for f in pa.diagnose.run(data) if f.code != pa.findings.Code.RETRY_STORM]
    fig = pa.plot.retry_storm(data, findings=others, freq="1min")
    assert _shapes(fig, "RETRY_STORM") == []
    assert list(_trace(fig, "5xx POST /focus-server/configure").y) == [46, 25]
    assert pa.plot.retry_storm(frames["consumer_slow"]).layout.shapes == ()


def test_retry_storm_falls_back_to_focus_access_lines(frames):
    data = frames["waiting_for_fiber"]
    fig = pa.plot.retry_storm(data.replace(ingress=pa.schema.FRAMES["ingress"].empty()))
    assert "Focus Server access log" in fig.layout.title.text
    assert sum(_trace(fig, "5xx POST /configure").y) == 71
    assert len(_shapes(fig, "RETRY_STORM")) == 2


@pytest.mark.parametrize(
    ("by", "expected"),
    [
        ("status", {"404": 122, "200": 14}),
        ("method", {"GET": 134, "POST": 2}),
        (
            "route",
            {"/focus-server/metadata/{job_id}": 124, "/focus-server/live_metadata": 10, "/focus-server/configure": 2},
        ),
    ],
)
def test_rates_group_requests(frames, by, expected):
    fig = pa.plot.rates(frames["consumer_slow"], by=by)
    assert {t.name: sum(t.y) for t in fig.data} == expected
    assert fig.layout.legend.title.text == by
    assert fig.layout.yaxis.title.text == "requests per 1min"


def test_rates_caps_groups_and_validates_arguments(frames):
    data = frames["consumer_slow"]
    many = pa.plot.rates(data, by="remote_addr", freq="10s")
    assert [t.name for t in many.data] == ["10.42.0.0"]
    with pytest.raises(ValueError, match="by must be one of"):
        pa.plot.rates(data, by="user_agent")
    with pytest.raises(ValueError, match="freq must be"):
        pa.plot.rates(data, freq="often")
    with pytest.raises(ValueError, match="positive"):
        pa.plot.retry_storm(data, freq="0s")


# --------------------------------------------------------------------------- crashloop


def test_crashloop_shows_the_focus_server_restart_history(frames):
    fig = pa.plot.crashloop(frames["waiting_for_fiber"])
    row = "panda/panda-panda-focus-server-78dbcfd9d9-kjj77/focus-server"
    assert list(fig.layout.yaxis.categoryarray) == [row]
    term = _trace(fig, "last termination")
    assert list(term.x) == ["2025-11-07 09:12:11.000000"]
    assert list(term.y) == [row]
    assert list(term.text) == ["Error, exit 1 · 4 restarts"]
    assert "exit code 1" in term.hovertext[0]
    backoff = _trace(fig, "BackOff event")
    assert [x for x in backoff.x if x] == ["2025-11-07 09:10:36.000000", "2025-11-07 09:12:12.000000"]
    assert "×3" in backoff.hovertext[0]
    assert list(_trace(fig, "last run").x[:2]) == ["2025-11-07 09:11:39.000000", "2025-11-07 09:12:11.000000"]
    assert "running since 2025-11-07 09:12:52" in _trace(fig, "current state").hovertext[0]


def test_crashloop_filters_by_pod_and_is_empty_when_healthy(frames):
    data = frames["waiting_for_fiber"]
    assert len(pa.plot.crashloop(data, pod="focus-server").data) > 0
    none = pa.plot.crashloop(data, pod="rabbitmq")
    assert len(none.data) == 0
    assert any("no evidence" in a for a in _annotations(none))
    assert "rabbitmq" in none.layout.title.text
    healthy = pa.plot.crashloop(frames["healthy"])
    assert len(healthy.data) == 0
    assert any("no evidence" in a for a in _annotations(healthy))


def test_crashloop_uses_pasted_kubectl_text_when_there_is_no_pod_status(frames):
    data = frames["waiting_for_fiber"]
    text_only = data.replace(restarts=pa.schema.FRAMES["restarts"].empty(), events=pa.schema.FRAMES["events"].empty())
    fig = pa.plot.crashloop(text_only)
    assert list(fig.layout.yaxis.categoryarray) == ["panda-panda-focus-server-78dbcfd9d9-kjj77"]
    restart = _trace(fig, "restart (kubectl get pods text)")
    assert list(restart.x) == ["2025-11-07 09:25:00.000000"]
    assert "k8s/pods.txt:3" in restart.hovertext[0]


def test_crashloop_shows_a_waiting_container():
    restarts = pa.schema.FRAMES["restarts"].conform(
        [
            {"ts": "2025-11-08T13:00:00Z", "source": "k8s/pods.json#/items/0", "namespace": "panda", "pod": "api-1",
             "container": "api", "restart_count": 0, "state": "waiting", "waiting_reason": "CrashLoopBackOff",
             "waiting_message": "back-off 5m0s restarting failed container=api"},
            {"ts": "2025-11-08T13:00:00Z", "source": "k8s/pods.json#/items/1", "namespace": "panda", "pod": "web-1",
             "container": "web", "restart_count": 0, "state": "running", "started_at": "2025-11-08T12:00:00Z"},
        ]
    )  # fmt: skip
    fig = pa.plot.crashloop(pa.Frames(restarts=restarts))
    assert list(fig.layout.yaxis.categoryarray) == ["panda/api-1/api"]
    state = _trace(fig, "current state")
    assert "CrashLoopBackOff" in state.hovertext[0]
    assert state.marker.color == ("#ff7f0e",)


# --------------------------------------------------------------------------- consumer


def test_consumer_waterfall_per_job(frames):
    fig = pa.plot.consumer(frames["consumer_slow"])
    assert list(fig.layout.yaxis.categoryarray) == ["19-5", "19-6"]
    reach: dict[str, float] = {}
    for t in fig.data:
        assert t.orientation == "h"
        for job, base, width in zip(t.y, t.base, t.x, strict=True):
            assert width >= 0
            reach[job] = max(reach.get(job, 0.0), base + width)
    assert reach["19-6"] == pytest.approx(41.087, abs=0.01)
    assert reach["19-5"] == pytest.approx(5.234, abs=0.01)
    attached = _trace(fig, "consumer attached")
    seg = dict(zip(attached.y, zip(attached.base, attached.x, strict=True), strict=True))["19-6"]
    assert seg[0] == pytest.approx(8.0, abs=0.01)
    assert seg[1] == pytest.approx(32.98, abs=0.01)
    assert sorted(s.x0 for s in _shapes(fig, "threshold")) == [10, 30]
    assert fig.layout.xaxis.title.text == "seconds since configure"


def test_consumer_filters_by_job_id(frames):
    fig = pa.plot.consumer(frames["consumer_slow"], job_id="19-6")
    assert {y for t in fig.data for y in t.y} == {"19-6"}
    assert "19-6" in fig.layout.title.text
    both = pa.plot.consumer(frames["consumer_slow"], job_id="19-")  # a substring, as the notebook parameter says
    assert {y for t in both.data for y in t.y} == {"19-5", "19-6"}
    missing = pa.plot.consumer(frames["consumer_slow"], job_id="99-1")
    assert len(missing.data) == 0
    assert "no evidence for job 99-1" in _annotations(missing)


# --------------------------------------------------------------------------- queues


def test_queues_depth_and_consumers_per_queue(frames):
    fig = pa.plot.queues(frames["consumer_slow"])
    names = {t.legendgroup for t in fig.data}
    assert names == {"grpc-job-19-5", "grpc-job-19-6", "prisma-210-1000-alerts"}
    cons = _trace(fig, "grpc-job-19-6 consumers")
    values = [v for v in cons.y if v == v]
    assert values[0] == 0.0
    assert values[-1] == 1.0
    assert cons.y[0] != cons.y[0]  # NaN gap before the queue existed
    assert cons.yaxis == "y2"
    assert _trace(fig, "grpc-job-19-6 ready").yaxis == "y"
    assert len(cons.x) == frames["consumer_slow"].queues["ts"].nunique()
    assert fig.layout.yaxis.title.text == "messages"
    assert fig.layout.yaxis2.title.text == "consumers"


def test_queues_filter_and_backlog_values():
    q = pa.schema.FRAMES["queues"].conform(
        [
            {"ts": f"2025-11-08T13:0{i}:00Z", "source": "rabbitmq/snapshots.jsonl", "line_no": i + 1, "vhost": "/",
             "queue": name, "messages": ready + 1, "messages_ready": ready, "messages_unacknowledged": 1,
             "consumer_count": consumers}
            for i in range(3)
            for name, ready, consumers in (("alerts", 10 * i, 0), ("grpc-job-1-1", 0, 1))
        ]
    )  # fmt: skip
    fig = pa.plot.queues(pa.Frames(queues=q), queue="alerts")
    assert {t.legendgroup for t in fig.data} == {"alerts"}
    assert list(_trace(fig, "alerts ready").y) == [0.0, 10.0, 20.0]
    assert list(_trace(fig, "alerts unacked").y) == [1.0, 1.0, 1.0]
    none = pa.plot.queues(pa.Frames(queues=q), queue="nope")
    assert len(none.data) == 0
    assert any("no evidence for queues matching 'nope'" in a for a in _annotations(none))


# --------------------------------------------------------------------------- alerts


def test_alerts_grid_colours_each_stage(frames):
    fig = pa.plot.alerts(frames["alert_lost"])
    failed = _trace(fig, "failed")
    assert list(zip(failed.y, failed.x, strict=True)) == [("test-sd-124", "focus_published")]
    assert failed.marker.color == "#d62728"
    assert "StreamLostError" in failed.hovertext[0]
    passed = _trace(fig, "passed")
    assert [x for x, y in zip(passed.x, passed.y, strict=True) if y == "test-sd-123"] == list(
        pa.diagnose._alerts.STAGES
    )
    missing = _trace(fig, "missing")
    assert missing.marker.color == "#ff7f0e"
    assert set(missing.y) == {"test-sd-124"}
    assert len(missing.x) == 5
    assert list(fig.layout.xaxis.categoryarray) == list(pa.diagnose._alerts.STAGES)
    assert list(fig.layout.yaxis.categoryarray) == ["test-sd-123", "test-sd-124"]


def test_alerts_filter_by_alert_id(frames):
    fig = pa.plot.alerts(frames["alert_lost"], alert_id="test-sd-123")
    assert {y for t in fig.data for y in t.y if y} == {"test-sd-123"}
    assert "failed" not in {t.name for t in fig.data}
    none = pa.plot.alerts(frames["alert_lost"], alert_id="nope")
    assert len(none.data) == 0
    assert "no evidence for alert nope" in _annotations(none)


def test_plot_module_does_not_import_report_or_network():
    source = Path(pa.plot.__file__).read_text(encoding="utf-8")
    for forbidden in (
        "import requests",
        "papermill",
        "nbconvert",
        ".show(",
        "write_html",
        "write_image",
        "pio.templates",
    ):
        assert forbidden not in source


def test_queues_shows_the_backlog_of_the_queue_backlog_sample(frames):
    data = frames["queue_backlog"]
    fig = pa.plot.queues(data)
    assert {t.legendgroup for t in fig.data} == {"grpc-job-18-2", "grpc-job-21-4", "prisma-210-1000-alerts"}
    ready = list(_trace(fig, "prisma-210-1000-alerts ready").y)
    assert len(ready) == data.queues["ts"].nunique() == 10
    assert (ready[0], ready[-1]) == (0.0, 50.0)
    assert ready == sorted(ready)  # grows at every snapshot once the consumer is gone
    assert ready[1:] == sorted(set(ready[1:]))  # strictly: every snapshot without a consumer adds alerts
    assert list(_trace(fig, "prisma-210-1000-alerts consumers").y) == [1.0] + [0.0] * 9
    assert list(_trace(fig, "grpc-job-18-2 ready").y) == [37.0] * 10  # orphaned: steady, never consumed
    assert list(_trace(fig, "grpc-job-18-2 consumers").y) == [0.0] * 10
    assert list(_trace(fig, "grpc-job-21-4 consumers").y) == [1.0] * 10
    only = pa.plot.queues(data, queue="alerts")
    assert {t.legendgroup for t in only.data} == {"prisma-210-1000-alerts"}
