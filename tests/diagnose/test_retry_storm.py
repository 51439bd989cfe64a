"""RETRY_STORM: fires on seed 002's two retrying clients, silent on polling and scattered errors."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import panda_analysis as pa
from panda_analysis import schema
from panda_analysis.findings import Code, Severity
from panda_analysis.schema import Frames

SAMPLE = Path(pa.samples.path("waiting_for_fiber"))
INGRESS_LOG = "logs/kube-system/ingress-nginx-controller-55694fd6ff-rqgp9/controller.log"
FOCUS_LOG = "logs/panda/panda-panda-focus-server-78dbcfd9d9-kjj77/focus-server.log"
T0 = pd.Timestamp("2025-11-08T13:00:00Z")


@pytest.fixture(scope="module")
def sample() -> Frames:
    return pa.samples.waiting_for_fiber().frames()


@pytest.fixture(scope="module")
def storms(sample: Frames) -> dict[str, pa.Finding]:
    return {f.metrics["client"]: f for f in pa.diagnose.retry_storm(sample)}


# --- builders ---------------------------------------------------------------------------


def _ingress(
    times_s,
    *,
    client="10.1.2.3",
    method="POST",
    path="/focus-server/configure",
    status=503,
    upstream="panda-panda-focus-server-5000",
):
    statuses = status if isinstance(status, list) else [status] * len(times_s)
    return [
        {
            "ts": T0 + pd.Timedelta(seconds=float(t)),
            "source": "logs/kube-system/ingress-nginx-controller-x-y/controller.log",
            "namespace": "kube-system",
            "pod": "ingress-nginx-controller-x-y",
            "container": "controller",
            "remote_addr": client,
            "method": method,
            "path": path,
            "route": re.sub(r"/\d+-\d+$", "/{job_id}", path),
            "protocol": "HTTP/1.1",
            "status": s,
            "proxy_upstream_name": upstream,
            "request_time_s": 0.005,
        }
        for t, s in zip(times_s, statuses, strict=True)
    ]


def _focus_attempts(
    times_s,
    *,
    client="10.1.2.3",
    height=200,
    channels=(11, 109),
    fmax=1000.0,
    status=503,
    error="Cannot configure job - validation failed: Cannot proceed: Missing required fiber metadata fields: prr",
):
    """Focus Server rows for each attempt: `got configuration`, the ERROR record, the uvicorn access line."""
    config = (
        f"channels.max={channels[1]} channels.min={channels[0]} displayInfo.height={height} "
        f"frequencyRange.max={fmax:g} frequencyRange.min=0"
    )
    common = {
        "source": "logs/panda/focus-server-a-b/focus-server.log",
        "namespace": "panda",
        "pod": "focus-server-a-b",
        "container": "focus-server",
        "is_previous": False,
    }
    rows = []
    for i, t in enumerate(times_s):
        ts = T0 + pd.Timedelta(seconds=float(t))
        rows.append(
            {
                **common,
                "ts": ts,
                "kind": "record",
                "level": "info",
                "logger": "pz.focus_server",
                "message": f"got configuration: {config}",
                "config": config,
                "config_id": f"cfg{height}",
                "display_info_height": height,
                "channels_min": channels[0],
                "channels_max": channels[1],
                "frequency_range_min": 0.0,
                "frequency_range_max": fmax,
            }
        )
        if error:
            rows.append(
                {**common, "ts": ts, "kind": "record", "level": "error", "logger": "pz.focus_server", "message": error}
            )
        rows.append(
            {
                **common,
                "ts": ts + pd.Timedelta(milliseconds=3),
                "kind": "access",
                "method": "POST",
                "path": "/configure",
                "route": "/configure",
                "status": status,
                "client_addr": f"{client}:{40000 + i}",
                "message": f'{client}:{40000 + i} - "POST /configure HTTP/1.1" {status}',
            }
        )
    return rows


def _frames(*, ingress=(), focus=(), pods=()) -> Frames:
    def numbered(rows):
        rows = sorted(rows, key=lambda r: (r["source"], r["ts"]))
        counters: dict[str, int] = {}
        for r in rows:
            counters[r["source"]] = counters.get(r["source"], 0) + 1
            r["line_no"] = counters[r["source"]]
        return rows

    return Frames(
        ingress=schema.INGRESS.conform(numbered(list(ingress))),
        focus=schema.FOCUS.conform(numbered(list(focus))),
        pods=schema.PODS.conform(list(pods)),
    )


def _every(period_s: float, n: int, start_s: float = 0.0) -> list[float]:
    return [start_s + i * period_s for i in range(n)]


# --- the seed 002 sample ----------------------------------------------------------------


def _raw_focus_attempt_times(client: str) -> pd.Series:
    """Kubelet timestamps of the client's `POST /configure` access lines, read straight from the file."""
    pattern = re.compile(r"^(\S+) INFO:\s+" + re.escape(client) + r':\d+ - "POST /configure HTTP/1.1" 503')
    stamps = [m.group(1) for line in (SAMPLE / FOCUS_LOG).read_text().splitlines() if (m := pattern.match(line))]
    return pd.to_datetime(pd.Series(stamps), utc=True, format="ISO8601")


def _raw_ingress_lines(client: str) -> list[tuple[int, str]]:
    lines = (SAMPLE / INGRESS_LOG).read_text().splitlines()
    return [
        (i, line)
        for i, line in enumerate(lines, 1)
        if f"Z {client} - " in line and "POST /focus-server/configure" in line
    ]


def test_sample_yields_one_storm_per_client(sample, storms):
    found = pa.diagnose.retry_storm(sample)
    # seen in both the ingress and the Focus log, each storm is reported once
    assert [f.subject for f in found] == [
        "10.42.0.0 POST /focus-server/configure",
        "10.42.2.0 POST /focus-server/configure",
    ]
    for f in storms.values():
        assert f.code is Code.RETRY_STORM
        assert f.severity is Severity.WARNING  # 0.4/s is below the 1/s critical rate
        assert f.component == "focus-server"
        assert f.title == "Retry storm on POST /focus-server/configure"
        assert f.runbook == "runbooks/retry_storm.md#retry-storm"
    assert storms["10.42.0.0"].subject == "10.42.0.0 POST /focus-server/configure"


@pytest.mark.parametrize(
    ("client", "attempts", "start", "end"),
    [
        ("10.42.0.0", 36, "2025-11-08T13:18:00Z", "2025-11-08T13:19:27Z"),
        ("10.42.2.0", 35, "2025-11-08T13:18:01Z", "2025-11-08T13:19:29Z"),
    ],
)
def test_sample_counts_rates_and_times(storms, client, attempts, start, end):
    raw = _raw_ingress_lines(client)
    assert len(raw) == attempts  # counted in the file, independently of the parser
    assert all('" 503 ' in line for _, line in raw)
    f = storms[client]
    m = f.metrics
    duration = (pd.Timestamp(end) - pd.Timestamp(start)).total_seconds()
    assert m["attempts"] == attempts
    assert m["source_log"] == "ingress"
    assert (f.first_seen, f.last_seen) == (pd.Timestamp(start), pd.Timestamp(end))
    assert m["duration_s"] == duration
    assert m["rate_per_s"] == pytest.approx(attempts / duration, abs=1e-3)
    assert m["rate_per_min"] == pytest.approx(attempts / duration * 60, abs=0.01)
    assert m["status_counts"] == {"503": attempts}
    assert m["focus_attempts"] == attempts  # the same storm in the Focus log, merged, not reported twice
    assert m["storm_runs"] == 1
    assert f"{client} sent {attempts} failing POST /focus-server/configure" in f.summary
    assert "all 503" in f.summary


@pytest.mark.parametrize("client", ["10.42.0.0", "10.42.2.0"])
def test_sample_period_is_two_to_three_seconds(storms, client):
    # the ingress log has whole seconds; the period comes from the Focus lines' ns kubelet stamps
    diffs = _raw_focus_attempt_times(client).diff().dt.total_seconds().dropna().to_numpy()
    m = storms[client].metrics
    assert m["period_source"] == "focus"
    assert m["period_median_s"] == pytest.approx(np.median(diffs), abs=1e-3)
    assert m["period_p10_s"] == pytest.approx(np.quantile(diffs, 0.1), abs=1e-3)
    assert m["period_p90_s"] == pytest.approx(np.quantile(diffs, 0.9), abs=1e-3)
    assert 2.0 <= m["period_p10_s"] <= m["period_median_s"] <= m["period_p90_s"] <= 3.0  # seed: "every 2-3 s"


def test_sample_each_client_has_its_own_configuration(storms):
    a, b = storms["10.42.0.0"].metrics, storms["10.42.2.0"].metrics
    assert a["distinct_configurations"] == b["distinct_configurations"] == 1
    assert a["configurations_matched_by"] == b["configurations_matched_by"] == "client"
    assert [c["description"] for c in a["configurations"]] == [
        "displayInfo.height=200, channels 11-109, frequencyRange.max=1000"
    ]
    assert [c["description"] for c in b["configurations"]] == [
        "displayInfo.height=1000, channels 1-50, frequencyRange.max=500"
    ]
    assert a["configurations"][0]["attempts"] == 36
    assert b["configurations"][0]["attempts"] == 35
    assert a["configurations"][0]["config_id"] != b["configurations"][0]["config_id"]
    assert "displayInfo.height=200, channels 11-109" in storms["10.42.0.0"].summary


def test_sample_load_and_cause(storms):
    m = storms["10.42.0.0"].metrics
    # every request to the Focus upstream between 13:18:00 and 13:19:27, counted in the file
    window = [
        line
        for line in (SAMPLE / INGRESS_LOG).read_text().splitlines()
        if "[panda-panda-focus-server-5000]" in line
        and "13:18:00 +0000" <= line.split("[08/Nov/2025:", 1)[-1][:14] <= "13:19:27 +0000"
    ]
    assert len(window) == m["upstream_requests"] == 76
    assert m["upstream"] == "panda-panda-focus-server-5000"
    assert m["share_of_upstream"] == round(36 / 76, 3)
    assert m["added_load_per_s"] == m["rate_per_s"]
    assert m["focus_error"].endswith("Missing required fiber metadata fields: prr")
    assert "47% of the 76 requests to panda-panda-focus-server-5000" in storms["10.42.0.0"].summary


def test_sample_evidence_and_next_steps(storms):
    f = storms["10.42.0.0"]
    assert 1 <= len(f.evidence) <= 5
    first = f.evidence[0]
    assert (first.source, first.line_no, first.ts) == (INGRESS_LOG, 1, pd.Timestamp("2025-11-08T13:18:00Z"))
    assert "10.42.0.0" in first.text
    assert "503" in first.text
    assert any(e.source == FOCUS_LOG and "Missing required fiber metadata fields: prr" in e.text for e in f.evidence)
    assert 2 <= len(f.next_steps) <= 4
    steps = " ".join(f.next_steps)
    assert "status.podIP=10.42.0.0" in steps
    assert "kubectl -n kube-system logs ingress-nginx-controller-55694fd6ff-rqgp9" in steps
    assert "kubectl -n panda logs panda-panda-focus-server-78dbcfd9d9-kjj77" in steps


def test_sample_focus_log_alone_gives_the_same_storms(sample):
    found = pa.diagnose.retry_storm(sample.replace(ingress=schema.INGRESS.empty()))
    assert [(f.subject, f.metrics["attempts"], f.metrics["source_log"]) for f in found] == [
        ("10.42.0.0 POST /configure", 36, "focus"),
        ("10.42.2.0 POST /configure", 35, "focus"),
    ]
    assert found[0].metrics["distinct_configurations"] == 1
    assert found[0].component == "focus-server"


def test_sample_ingress_log_alone_has_no_configurations(sample):
    found = pa.diagnose.retry_storm(sample.replace(focus=schema.FOCUS.empty()))
    assert [f.metrics["attempts"] for f in found] == [36, 35]
    assert all(f.metrics["distinct_configurations"] == 0 for f in found)
    assert all(f.metrics["period_source"] == "ingress" for f in found)
    assert all(f.metrics["period_median_s"] in (2.0, 3.0) for f in found)  # whole-second stamps


@pytest.mark.parametrize("name", ["healthy", "consumer_slow", "alert_lost"])
def test_silent_on_other_samples(name):
    # consumer_slow and healthy poll GET /metadata/{job_id} every 100-500 ms and get 404: normal
    assert pa.diagnose.retry_storm(pa.samples.load(name).frames()) == []


def test_does_not_mutate_inputs(sample):
    before = {name: df.copy() for name, df in sample.items()}
    pa.diagnose.retry_storm(sample)
    for name, df in sample.items():
        pd.testing.assert_frame_equal(df, before[name])


def test_empty_frames_yield_nothing():
    assert pa.diagnose.retry_storm(Frames()) == []


# --- look-alikes ------------------------------------------------------------------------


def test_a_single_503_is_not_a_storm():
    assert pa.diagnose.retry_storm(_frames(ingress=_ingress([0]))) == []


def test_a_few_503_spread_over_an_hour_are_not_a_storm():
    frames = _frames(ingress=_ingress(_every(600, 7)))  # every 10 min
    assert pa.diagnose.retry_storm(frames) == []
    # even with a long max gap they are too sparse (7 in an hour is below 6/min)
    assert pa.diagnose.retry_storm(frames, max_gap_s=3600, min_attempts=5) == []


def test_healthy_periodic_200_polling_is_not_a_storm():
    frames = _frames(ingress=_ingress(_every(2, 120), method="GET", path="/focus-server/live_metadata", status=200))
    assert pa.diagnose.retry_storm(frames) == []


def test_404_metadata_polling_is_not_a_storm_unless_asked():
    rows = _ingress(_every(0.2, 300), method="GET", path="/focus-server/metadata/19-5", status=404)
    frames = _frames(ingress=rows)
    assert pa.diagnose.retry_storm(frames) == []
    # the same rows do form a storm when 404 is declared failing: the rule sees them
    found = pa.diagnose.retry_storm(frames, failing_statuses=[404])
    assert [f.subject for f in found] == ["10.1.2.3 GET /focus-server/metadata/{job_id}"]
    assert found[0].severity is Severity.CRITICAL  # 5/s


def test_a_burst_from_many_clients_is_not_one_clients_storm():
    rows = []
    for i in range(40):
        rows += _ingress([i * 0.25, 5 + i * 0.25], client=f"10.0.{i}.1")  # 80 failures in 15 s, 2 per client
    assert pa.diagnose.retry_storm(_frames(ingress=rows)) == []


def test_min_attempts_boundary():
    assert pa.diagnose.retry_storm(_frames(ingress=_ingress(_every(3, 9)))) == []  # 9 attempts, 24 s
    found = pa.diagnose.retry_storm(_frames(ingress=_ingress(_every(3, 10))))  # 10 attempts, 27 s
    assert [f.metrics["attempts"] for f in found] == [10]
    assert found[0].metrics["duration_s"] == 27.0
    assert found[0].metrics["rate_per_min"] == round(10 / 27 * 60, 2)


def test_too_slow_is_not_a_storm():
    rows = _ingress(_every(15, 10))  # 10 attempts in 135 s: 4.4/min
    assert pa.diagnose.retry_storm(_frames(ingress=rows)) == []
    assert len(pa.diagnose.retry_storm(_frames(ingress=rows), min_rate_per_min=4)) == 1


def test_too_short_is_not_a_storm():
    rows = _ingress(_every(0.4, 30))  # 30 attempts in 11.6 s
    assert pa.diagnose.retry_storm(_frames(ingress=rows)) == []
    assert len(pa.diagnose.retry_storm(_frames(ingress=rows), min_duration_s=10)) == 1


def test_fast_storm_is_critical():
    found = pa.diagnose.retry_storm(_frames(ingress=_ingress(_every(0.5, 61))))  # 61 in 30 s
    assert [f.severity for f in found] == [Severity.CRITICAL]
    assert found[0].metrics["rate_per_s"] == pytest.approx(61 / 30, abs=1e-3)
    assert found[0].metrics["period_median_s"] == 0.5
    assert (
        pa.diagnose.retry_storm(_frames(ingress=_ingress(_every(0.5, 61))), critical_rate_per_s=5)[0].severity
        is Severity.WARNING
    )


def test_429_and_mixed_5xx_count_as_failing():
    statuses = [429, 502, 503] * 5
    found = pa.diagnose.retry_storm(_frames(ingress=_ingress(_every(2, 15), status=statuses)))
    assert found[0].metrics["status_counts"] == {"429": 5, "502": 5, "503": 5}
    assert "5× 429, 5× 502, 5× 503" in found[0].summary


def test_successes_between_failures_do_not_count_as_attempts():
    statuses = [503, 200] * 10  # 10 failures, one every 4 s, over 36 s
    found = pa.diagnose.retry_storm(_frames(ingress=_ingress(_every(2, 20), status=statuses)))
    assert found[0].metrics["attempts"] == 10
    assert found[0].metrics["route_requests"] == 19  # all requests on the route within the storm window
    assert found[0].metrics["share_of_route"] == round(10 / 19, 3)


def test_a_pause_longer_than_max_gap_splits_runs_into_one_finding():
    rows = _ingress(_every(2, 12)) + _ingress(_every(2, 15, start_s=200))
    found = pa.diagnose.retry_storm(_frames(ingress=rows))
    assert len(found) == 1  # one per (client, route): the latest run, the earlier one counted
    m = found[0].metrics
    assert (m["attempts"], m["storm_runs"], m["attempts_all_runs"]) == (15, 2, 27)
    assert found[0].first_seen == T0
    assert found[0].last_seen == T0 + pd.Timedelta(seconds=228)
    assert "the last of 2 storms" in found[0].summary
    # a gap allowance wider than the pause joins them into one run
    joined = pa.diagnose.retry_storm(_frames(ingress=rows), max_gap_s=200)
    assert (joined[0].metrics["attempts"], joined[0].metrics["storm_runs"]) == (27, 1)


def test_two_clients_two_configurations_in_one_window():
    focus = _focus_attempts(_every(2.5, 20), client="10.9.0.1") + _focus_attempts(
        _every(2.5, 20, start_s=1.2), client="10.9.0.2", height=1000, channels=(1, 50), fmax=500.0
    )
    found = pa.diagnose.retry_storm(_frames(focus=focus))
    assert [f.metrics["client"] for f in found] == ["10.9.0.1", "10.9.0.2"]
    assert [[c["description"] for c in f.metrics["configurations"]] for f in found] == [
        ["displayInfo.height=200, channels 11-109, frequencyRange.max=1000"],
        ["displayInfo.height=1000, channels 1-50, frequencyRange.max=500"],
    ]


def test_one_client_alternating_two_configurations():
    times = _every(2.5, 20)
    focus = _focus_attempts(times[::2]) + _focus_attempts(times[1::2], height=1000, channels=(1, 50), fmax=500.0)
    found = pa.diagnose.retry_storm(_frames(focus=focus))
    assert len(found) == 1
    m = found[0].metrics
    assert m["attempts"] == 20
    assert m["distinct_configurations"] == 2
    assert sorted(c["attempts"] for c in m["configurations"]) == [10, 10]
    assert "2 configurations (" in found[0].summary


def test_ingress_storm_behind_the_controller_ip_is_reported_once():
    # the Focus Server sees the ingress controller's pod IP, not the client's
    ingress = _ingress(_every(2.5, 20), client="192.168.7.7")
    focus = _focus_attempts(_every(2.5, 20), client="10.42.0.7")
    pods = [
        {
            "ts": T0,
            "source": "k8s/pods.json",
            "namespace": "kube-system",
            "pod": "ingress-nginx-controller-x-y",
            "app": "ingress-nginx",
            "pod_ip": "10.42.0.7",
        }
    ]
    found = pa.diagnose.retry_storm(_frames(ingress=ingress, focus=focus, pods=pods))
    assert [(f.metrics["client"], f.metrics["source_log"], f.metrics["focus_attempts"]) for f in found] == [
        ("192.168.7.7", "ingress", 20)
    ]
    assert found[0].metrics["distinct_configurations"] == 1
    # without the pods frame the two cannot be tied: each log reports its own client
    assert len(pa.diagnose.retry_storm(_frames(ingress=ingress, focus=focus))) == 2


def test_focus_only_bundle(make_bundle):
    lines = []
    for i, t in enumerate(_every(2.5, 12)):
        at = T0 + pd.Timedelta(seconds=t)
        stamp = at.strftime("%Y-%m-%dT%H:%M:%S")
        access = (at + pd.Timedelta(milliseconds=4)).strftime("%Y-%m-%dT%H:%M:%S.%f")
        lines += [
            f"{stamp}.100000000Z {stamp}+0000 INFO pz.focus_server got configuration: displayTimeAxisDuration=30 "
            "nfftSelection=1024 displayInfo.height=200 channels.min=11 channels.max=109 frequencyRange.min=0 "
            "frequencyRange.max=1000 view_type=0",
            f"{stamp}.100100000Z {stamp}+0000 ERROR pz.focus_server Cannot configure job - validation failed: "
            "Cannot proceed: Missing required fiber metadata fields: prr",
            f'{access}000Z INFO:     10.42.0.0:{33000 + i} - "POST /configure HTTP/1.1" 503 Service Unavailable',
        ]
    root = make_bundle({"logs/panda/panda-panda-focus-server-1-a/focus-server.log": "\n".join(lines) + "\n"})
    found = pa.diagnose.retry_storm(pa.load_bundle(root).frames())
    assert [(f.subject, f.metrics["attempts"], f.metrics["duration_s"]) for f in found] == [
        ("10.42.0.0 POST /configure", 12, 27.5)
    ]
    assert found[0].metrics["period_median_s"] == 2.5
    assert found[0].evidence[0].source == "logs/panda/panda-panda-focus-server-1-a/focus-server.log"
    assert found[0].evidence[0].line_no == 3


# --- busy bundles (issue #12) -----------------------------------------------------------
#
# Ordinary traffic in the sample's line formats: many clients polling the Focus Server and
# the web app through the ingress, a few of their requests failing here and there, the
# Focus Server logging a uvicorn access line for each request the ingress sent it.

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
FOCUS_UPSTREAM = "panda-panda-focus-server-5000"
WEB_UPSTREAM = "webapp-webapp-pz-web-webapp-ui-80"
REASONS = {200: "OK", 404: "Not Found", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


def _kubelet(t: pd.Timestamp) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond * 1000 + t.nanosecond:09d}Z"


def _access(t: pd.Timestamp, client: str, method: str, target: str, status: int, upstream: str, rng) -> str:
    local = f"{t.day:02d}/{MONTHS[t.month - 1]}/{t.year}:{t.strftime('%H:%M:%S')} +0000"
    rt = rng.uniform(0.001, 0.2)
    addr = "10.42.1.14:5000" if upstream == FOCUS_UPSTREAM else "10.42.1.9:80"
    return (
        f'{_kubelet(t)} {client} - - [{local}] "{method} {target} HTTP/1.1" {status} 230 "-" "python-requests/2.32.5" '
        f"439 {rt:.3f} [{upstream}] [] {addr} 230 {rt:.3f} {status} {rng.getrandbits(128):032x}"
    )


def _traffic(
    n: int, *, start: pd.Timestamp, span_s: float, fail_rate: float, seed: int, clients: int = 300
) -> tuple[list[str], list[str]]:
    """``n`` ingress lines and the Focus Server's access lines for those sent to it."""
    rng = random.Random(seed)
    hosts = [f"10.{rng.randint(50, 200)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}" for _ in range(clients)]
    routes = [
        ("GET", "/focus-server/live_metadata", "/live_metadata", FOCUS_UPSTREAM),
        ("GET", "/focus-server/channels", "/channels", FOCUS_UPSTREAM),
        ("GET", "/focus-server/metadata/19-5", "/metadata/19-5", FOCUS_UPSTREAM),
        ("GET", "/", None, WEB_UPSTREAM),
        ("GET", "/prisma/api/prisma-210-1000/api/alerts", None, WEB_UPSTREAM),
    ]
    ingress, focus = [], []
    for _ in range(n):
        at = start + pd.Timedelta(seconds=rng.uniform(0, span_s))
        client = rng.choice(hosts)
        method, target, upstream_path, upstream = rng.choice(routes)
        status = rng.choice((500, 502, 503)) if rng.random() < fail_rate else 200
        ingress.append(_access(at, client, method, target, status, upstream, rng))
        if upstream_path is not None:
            handled = at - pd.Timedelta(milliseconds=2)
            focus.append(
                f'{_kubelet(handled)} INFO:     {client}:{rng.randint(30000, 60000)} - "{method} {upstream_path} HTTP/1.1" '
                f"{status} {REASONS[status]}"
            )
    return ingress, focus


def _merged(*texts: str | list[str]) -> str:
    lines = [line for text in texts for line in (text.splitlines() if isinstance(text, str) else text) if line]
    return "".join(line + "\n" for line in sorted(lines, key=lambda line: line.split(" ", 1)[0]))


def _window_lines(text: str, marker: str, lo: str, hi: str) -> int:
    """Ingress lines holding ``marker`` whose ``$time_local`` (seconds) lies in ``[lo, hi]``."""
    return sum(
        1 for line in text.splitlines() if marker in line and lo <= line.split("[08/Nov/2025:", 1)[-1][:14] <= hi
    )


def test_busy_twin_of_the_sample_gives_the_same_storms(make_bundle, sample, storms):
    files = {str(p.relative_to(SAMPLE)): p.read_text(encoding="utf-8") for p in SAMPLE.rglob("*") if p.is_file()}
    ingress, focus = _traffic(6000, start=pd.Timestamp("2025-11-08T13:12:00Z"), span_s=720, fail_rate=0.02, seed=5)
    files[INGRESS_LOG] = _merged(files[INGRESS_LOG], ingress)
    files[FOCUS_LOG] = _merged(files[FOCUS_LOG], focus)
    frames = pa.load_bundle(
        make_bundle(
            {k: v for k, v in files.items() if k != "manifest.json"}, manifest=json.loads(files["manifest.json"])
        )
    ).frames()
    assert len(frames.ingress) == len(sample.ingress) + 6000
    found = {f.metrics["client"]: f for f in pa.diagnose.retry_storm(frames)}
    assert sorted(found) == sorted(storms) == ["10.42.0.0", "10.42.2.0"]
    same = [
        "attempts",
        "duration_s",
        "rate_per_s",
        "rate_per_min",
        "status_counts",
        "period_median_s",
        "period_p10_s",
        "period_p90_s",
        "period_source",
        "focus_attempts",
        "distinct_configurations",
        "configurations",
        "configurations_matched_by",
        "focus_error",
        "storm_runs",
        "upstream",
    ]
    for client, small in storms.items():
        f = found[client]
        assert (f.code, f.severity, f.component, f.subject) == (
            small.code,
            small.severity,
            small.component,
            small.subject,
        )
        assert (f.first_seen, f.last_seen) == (small.first_seen, small.last_seen)
        assert {k: f.metrics[k] for k in same} == {k: small.metrics[k] for k in same}
    # the load figures count the traffic too, every request to the Focus upstream in the window
    m = found["10.42.0.0"].metrics
    upstream = _window_lines(files[INGRESS_LOG], f"[{FOCUS_UPSTREAM}]", "13:18:00 +0000", "13:19:27 +0000")
    assert upstream > 76
    assert (m["upstream_requests"], m["share_of_upstream"]) == (upstream, round(36 / upstream, 3))


def test_busy_traffic_with_scattered_failures_has_no_storm(make_bundle):
    start = pd.Timestamp("2025-11-08T13:12:00Z")
    ingress, focus = _traffic(30000, start=start, span_s=720, fail_rate=0.03, seed=6)
    files = {INGRESS_LOG: _merged(ingress), FOCUS_LOG: _merged(focus)}
    frames = pa.load_bundle(make_bundle(files)).frames()
    failing = frames.ingress["status"].isin([500, 502, 503])
    assert 700 < int(failing.sum()) < 1100  # about 900 failures, from 300 clients on 5 routes
    assert pa.diagnose.retry_storm(frames) == []
    # the same traffic with one client retrying every 2 s: exactly that one storm
    rng = random.Random(7)
    retries = [
        _access(
            start + pd.Timedelta(seconds=300 + 2 * i),
            "10.9.9.9",
            "GET",
            "/focus-server/live_metadata",
            503,
            FOCUS_UPSTREAM,
            rng,
        )
        for i in range(25)
    ]
    files[INGRESS_LOG] = _merged(ingress, retries)
    [f] = pa.diagnose.retry_storm(pa.load_bundle(make_bundle(files)).frames())
    assert f.subject == "10.9.9.9 GET /focus-server/live_metadata"
    assert (f.metrics["attempts"], f.metrics["duration_s"], f.metrics["source_log"]) == (25, 48.0, "ingress")
    route = _window_lines(files[INGRESS_LOG], '"GET /focus-server/live_metadata ', "13:17:00 +0000", "13:17:48 +0000")
    assert f.metrics["route_requests"] == route > 25


def test_focus_log_of_access_lines_only(make_bundle):
    # a Focus Server that logs nothing but uvicorn access lines: no record to tie to them
    # (the rule used to raise here: "cannot subtract DatetimeArray from ndarray[object]")
    rng = random.Random(8)
    ingress, focus = [], []
    for i in range(15):
        at = T0 + pd.Timedelta(seconds=2 * i)
        ingress.append(_access(at, "10.42.0.0", "GET", "/focus-server/live_metadata", 503, FOCUS_UPSTREAM, rng))
        focus.append(
            f'{_kubelet(at)} INFO:     10.42.0.0:{40000 + i} - "GET /live_metadata HTTP/1.1" 503 Service Unavailable'
        )
    frames = pa.load_bundle(make_bundle({INGRESS_LOG: _merged(ingress), FOCUS_LOG: _merged(focus)})).frames()
    [f] = pa.diagnose.retry_storm(frames)
    assert f.subject == "10.42.0.0 GET /focus-server/live_metadata"
    assert (f.metrics["attempts"], f.metrics["focus_attempts"]) == (15, 15)
    assert (f.metrics["distinct_configurations"], f.metrics["focus_error"]) == (0, None)
