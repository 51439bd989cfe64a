"""FIBER_WAITING / FIBER_METADATA_MISSING: seed 002's "waiting for fiber" and the 503s it causes."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import panda_analysis as pa
from panda_analysis import schema
from panda_analysis.findings import Code, Severity
from panda_analysis.schema import Frames

SAMPLE = Path(pa.samples.path("waiting_for_fiber"))
FOCUS_LOG = "logs/panda/panda-panda-focus-server-78dbcfd9d9-kjj77/focus-server.log"
INGRESS_LOG = "logs/kube-system/ingress-nginx-controller-55694fd6ff-rqgp9/controller.log"
T0 = pd.Timestamp("2025-11-08T13:00:00Z")
WAITING = {
    "dx": 0.0,
    "prr": 0.0,
    "fiber_start_meters": None,
    "fiber_length_meters": None,
    "sw_version": "waiting for fiber",
    "number_of_channels": 2337,
    "fiber_description": "waiting for fiber",
}
READY = {
    "dx": 1.0209,
    "prr": 2000.0,
    "fiber_start_meters": 0.0,
    "fiber_length_meters": 42000.0,
    "sw_version": "2.14.1",
    "number_of_channels": 2337,
    "fiber_description": "SMF-28 loop A",
}
REJECTED = "Cannot configure job - validation failed: Cannot proceed: Missing required fiber metadata fields: prr"


@pytest.fixture(scope="module")
def sample() -> Frames:
    return pa.samples.waiting_for_fiber().frames()


@pytest.fixture(scope="module")
def by_code(sample: Frames) -> dict[Code, pa.Finding]:
    found = pa.diagnose.fiber(sample)
    assert len(found) == 2
    return {f.code: f for f in found}


# --- builders ---------------------------------------------------------------------------


def _probes(*items: tuple[float, int | None, dict | None]) -> pd.DataFrame:
    """``(seconds after T0, status, body)`` → a live_metadata frame (body fields as the parser reads them)."""
    rows = []
    for i, (t, status, body) in enumerate(items, 1):
        row = {
            "ts": T0 + pd.Timedelta(seconds=t),
            "source": "http/focus/live_metadata.jsonl",
            "line_no": i,
            "status": status,
            "body": json.dumps(body) if body is not None else None,
        }
        if status is not None and 200 <= status < 300 and body is not None and "prr" in body:
            row.update(body)
        else:
            row["error"] = "request failed" if status is None else "not live metadata"
        rows.append(row)
    return schema.LIVE_METADATA.conform(rows)


def _configure(times_s, *, status=503, route="/focus-server/configure") -> pd.DataFrame:
    return schema.INGRESS.conform(
        [
            {
                "ts": T0 + pd.Timedelta(seconds=t),
                "source": "logs/kube-system/ingress-nginx-controller-x-y/controller.log",
                "line_no": i,
                "namespace": "kube-system",
                "pod": "ingress-nginx-controller-x-y",
                "remote_addr": "10.1.2.3",
                "method": "POST",
                "path": route,
                "route": route,
                "protocol": "HTTP/1.1",
                "status": status,
                "proxy_upstream_name": "panda-panda-focus-server-5000",
            }
            for i, t in enumerate(times_s, 1)
        ]
    )


def _focus(times_s, *, message=REJECTED, status=503) -> pd.DataFrame:
    common = {
        "source": "logs/panda/focus-server-a-b/focus-server.log",
        "namespace": "panda",
        "pod": "focus-server-a-b",
        "container": "focus-server",
        "is_previous": False,
    }
    rows = []
    for t in times_s:
        ts = T0 + pd.Timedelta(seconds=t)
        rows.append(
            {**common, "ts": ts, "kind": "record", "level": "error", "logger": "pz.focus_server", "message": message}
        )
        rows.append(
            {
                **common,
                "ts": ts + pd.Timedelta(milliseconds=4),
                "kind": "access",
                "method": "POST",
                "path": "/configure",
                "route": "/configure",
                "status": status,
                "client_addr": "10.1.2.3:4000",
                "message": f'10.1.2.3:4000 - "POST /configure HTTP/1.1" {status}',
            }
        )
    for i, row in enumerate(rows, 1):
        row["line_no"] = i
    return schema.FOCUS.conform(rows)


def _codes(frames: Frames, **kwargs) -> list[tuple[str, str]]:
    return [(f.code.value, f.severity.value) for f in pa.diagnose.fiber(frames, **kwargs)]


# --- the seed 002 sample ----------------------------------------------------------------


def _raw_probes() -> list[dict]:
    return [json.loads(line) for line in (SAMPLE / "http/focus/live_metadata.jsonl").read_text().splitlines()]


def _raw_configure_503s() -> list[str]:
    return [line for line in (SAMPLE / INGRESS_LOG).read_text().splitlines() if '/configure HTTP/1.1" 503 ' in line]


def test_sample_fiber_waiting(by_code):
    f = by_code[Code.FIBER_WAITING]
    probes = _raw_probes()
    assert len(probes) == 50
    assert all(p["status"] == 200 and p["body"]["prr"] == 0.0 for p in probes)
    assert f.severity is Severity.CRITICAL  # the last probe (13:24:42) still says "waiting for fiber"
    assert f.component == "focus-server"
    assert f.subject == "GET /live_metadata"
    assert f.runbook == "runbooks/fiber_metadata.md#waiting-for-fiber"
    assert f.first_seen == pd.Timestamp(probes[0]["at"]) == pd.Timestamp("2025-11-08T13:00:02.118Z")
    assert f.last_seen == pd.Timestamp(probes[-1]["at"]) == pd.Timestamp("2025-11-08T13:24:42.040Z")
    m = f.metrics
    assert (m["probes"], m["ok_probes"], m["not_ready_probes"], m["failed_probes"]) == (50, 50, 50, 0)
    assert (m["prr"], m["dx"], m["number_of_channels"]) == (0.0, 0.0, 2337)
    assert m["sw_version"] == m["fiber_description"] == "waiting for fiber"
    assert m["is_recovered"] is False
    assert m["recovered_at"] is None
    raw_503 = _raw_configure_503s()
    assert len(raw_503) == 71
    assert m["configure_503s"] == 71
    assert m["configure_503s_source"] == "ingress"
    assert m["first_configure_503"] == pd.Timestamp("2025-11-08T13:18:00Z")
    assert m["last_configure_503"] == pd.Timestamp("2025-11-08T13:19:29Z")
    assert "50 of 50 probes" in f.summary
    assert "still not ready" in f.summary
    assert "71 POST /configure requests answered 503" in f.summary
    assert "since 2025-11-08 13:18:00 UTC" in f.summary
    assert "prr=0, dx=0" in f.summary


def test_sample_fiber_waiting_evidence_and_steps(by_code):
    f = by_code[Code.FIBER_WAITING]
    assert 1 <= len(f.evidence) <= 5
    first = f.evidence[0]
    assert (first.source, first.line_no) == ("http/focus/live_metadata.jsonl", 1)
    assert '"sw_version":"waiting for fiber"' in first.text
    assert any(e.source == INGRESS_LOG and e.line_no == 1 and "503" in e.text for e in f.evidence)
    assert 2 <= len(f.next_steps) <= 4
    steps = " ".join(f.next_steps)
    assert "kubectl -n panda port-forward pod/panda-panda-focus-server-78dbcfd9d9-kjj77 5000:5000" in steps
    assert "curl -s http://localhost:5000/live_metadata" in steps


def test_sample_fiber_metadata_missing(by_code):
    f = by_code[Code.FIBER_METADATA_MISSING]
    lines = (SAMPLE / FOCUS_LOG).read_text().splitlines()
    rejected = [i for i, line in enumerate(lines, 1) if line.endswith(REJECTED)]
    assert len(rejected) == 71
    assert f.severity is Severity.CRITICAL  # no configure succeeded and metadata never became ready
    assert f.subject == "missing prr"
    assert f.runbook == "runbooks/fiber_metadata.md#missing-metadata-fields"
    m = f.metrics
    assert m["fields"] == ["prr"]
    assert m["rejections"] == 71
    assert (m["first_rejection"], m["last_rejection"]) == (
        pd.Timestamp("2025-11-08T13:18:00Z"),
        pd.Timestamp("2025-11-08T13:19:29Z"),
    )
    assert (f.first_seen, f.last_seen) == (m["first_rejection"], m["last_rejection"])
    assert m["configure_503s"] == 71
    assert m["pods"] == ["panda-panda-focus-server-78dbcfd9d9-kjj77"]
    ev = f.evidence[0]
    assert (ev.source, ev.line_no) == (FOCUS_LOG, rejected[0])
    assert ev.text == f"ERROR pz.focus_server {REJECTED}"
    assert f.evidence[1].line_no == rejected[-1]
    assert "rejected 71 POST /configure requests" in f.summary
    assert "prr is missing" in f.summary
    assert "71 503s" in f.summary
    assert "kubectl -n panda logs panda-panda-focus-server-78dbcfd9d9-kjj77" in " ".join(f.next_steps)


@pytest.mark.parametrize("name", ["healthy", "consumer_slow", "alert_lost"])
def test_silent_on_other_samples(name):
    assert pa.diagnose.fiber(pa.samples.load(name).frames()) == []


def test_does_not_mutate_inputs(sample):
    before = {name: df.copy() for name, df in sample.items()}
    pa.diagnose.fiber(sample)
    for name, df in sample.items():
        pd.testing.assert_frame_equal(df, before[name])


def test_empty_frames_yield_nothing():
    assert pa.diagnose.fiber(Frames()) == []


# --- variants ---------------------------------------------------------------------------


def test_recovered_metadata_is_a_warning_with_the_recovery_time():
    probes = _probes((0, 200, READY), (30, 200, WAITING), (60, 200, WAITING), (90, 200, READY), (120, 200, READY))
    # 503s: one before the outage, three inside it, one after recovery
    frames = Frames(live_metadata=probes, ingress=_configure([10, 35, 45, 85, 100]))
    [f] = pa.diagnose.fiber(frames)
    assert (f.code, f.severity) == (Code.FIBER_WAITING, Severity.WARNING)
    m = f.metrics
    assert m["recovered_at"] == T0 + pd.Timedelta(seconds=90)
    assert m["not_ready_s"] == 60.0
    assert (m["not_ready_probes"], m["ok_probes"]) == (2, 5)
    assert m["configure_503s"] == 3
    assert m["first_configure_503"] == T0 + pd.Timedelta(seconds=35)
    assert "recovered at 2025-11-08 13:01:30 UTC after 60 s" in f.summary
    assert f.evidence[-3].line_no == 4  # the recovery probe is quoted
    assert (f.first_seen, f.last_seen) == (T0 + pd.Timedelta(seconds=30), T0 + pd.Timedelta(seconds=60))


def test_not_ready_again_after_a_recovery_is_critical():
    probes = _probes((0, 200, WAITING), (30, 200, READY), (60, 200, WAITING))
    [f] = pa.diagnose.fiber(Frames(live_metadata=probes, ingress=_configure([10, 40, 70])))
    assert f.severity is Severity.CRITICAL
    assert f.metrics["not_ready_periods"] == 2
    assert f.metrics["configure_503s"] == 2  # 10 s and 70 s; the one at 40 s came while ready
    assert "2 not-ready periods" in f.summary


def test_failed_probes_are_not_not_ready_evidence():
    probes = _probes((0, None, None), (30, 503, {"detail": "Service Unavailable"}), (60, 200, {"status": "ok"}))
    assert pa.diagnose.fiber(Frames(live_metadata=probes, ingress=_configure([10, 20]))) == []


def test_failed_probes_neither_end_nor_extend_an_outage():
    probes = _probes((0, 200, WAITING), (30, None, None), (60, 502, None), (90, 200, WAITING))
    [f] = pa.diagnose.fiber(Frames(live_metadata=probes))
    assert f.severity is Severity.CRITICAL
    assert (f.metrics["not_ready_probes"], f.metrics["failed_probes"], f.metrics["probes"]) == (2, 2, 4)
    assert f.metrics["not_ready_periods"] == 1
    assert "no /configure 503 was logged" in f.summary


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"prr": 0.0}, "prr=0"),
        ({"prr": -1.0}, "prr=-1"),
        ({"dx": 0.0}, "dx=0"),
        ({"sw_version": "Waiting For Fiber"}, 'sw_version "Waiting For Fiber"'),
        ({"fiber_description": "waiting for fiber (loop A)"}, 'fiber_description "waiting for fiber (loop A)"'),
        ({"fiber_start_meters": None}, "fiber_start_meters null"),
        ({"fiber_length_meters": None}, "fiber_length_meters null"),
    ],
)
def test_each_not_ready_sign_alone_fires(change, reason):
    [f] = pa.diagnose.fiber(Frames(live_metadata=_probes((0, 200, {**READY, **change}))))
    assert f.code is Code.FIBER_WAITING
    assert f.metrics["reasons"] == [reason]


def test_missing_prr_in_the_body_is_not_ready():
    body = {k: v for k, v in READY.items() if k != "dx"} | {"prr": 2000.0}
    [f] = pa.diagnose.fiber(Frames(live_metadata=_probes((0, 200, body))))
    assert f.metrics["reasons"] == ["dx missing"]


def test_ready_metadata_is_silent_even_with_configure_503s():
    # a 503 on /configure for another reason is not a fiber problem
    frames = Frames(
        live_metadata=_probes((0, 200, READY)),
        ingress=_configure([1, 2, 3]),
        focus=_focus([1, 2, 3], message="Cannot configure job - internal error"),
    )
    assert pa.diagnose.fiber(frames) == []


def test_other_validation_errors_are_not_missing_fiber_metadata():
    frames = Frames(
        focus=_focus([1, 2], message="Cannot configure job - validation failed: Missing required fields: channels")
    )
    assert pa.diagnose.fiber(frames) == []


def test_focus_logs_alone_give_missing_metadata_with_focus_503s():
    [f] = pa.diagnose.fiber(Frames(focus=_focus([0, 2.5, 5, 7.5])))
    assert (f.code, f.severity) == (Code.FIBER_METADATA_MISSING, Severity.CRITICAL)
    m = f.metrics
    assert (m["rejections"], m["configure_503s"], m["configure_503s_source"]) == (4, 4, "focus")
    assert m["first_configure_503"] == T0 + pd.Timedelta(seconds=0.004)


def test_focus_only_bundle_on_disk(make_bundle):
    log = "".join(
        f"2025-11-08T13:18:{s:02d}.1Z 2025-11-08T13:18:{s:02d}+0000 ERROR pz.focus_server {REJECTED}\n"
        f'2025-11-08T13:18:{s:02d}.2Z INFO:     10.42.0.0:{33000 + s} - "POST /configure HTTP/1.1" 503 Service Unavailable\n'
        for s in (0, 3, 6)
    )
    root = make_bundle({"logs/panda/panda-panda-focus-server-1-a/focus-server.log": log})
    found = pa.diagnose.fiber(pa.load_bundle(root).frames())
    assert [(f.code, f.metrics["rejections"], f.metrics["configure_503s"]) for f in found] == [
        (Code.FIBER_METADATA_MISSING, 3, 3)
    ]
    assert found[0].evidence[0].line_no == 1
    assert "kubectl -n panda logs panda-panda-focus-server-1-a" in " ".join(found[0].next_steps)


def test_ingress_without_configure_rows_falls_back_to_focus_access_lines():
    other = _configure([1, 2], route="/focus-server/channels")
    [f] = pa.diagnose.fiber(Frames(focus=_focus([0, 3]), ingress=other))
    assert (f.metrics["configure_503s"], f.metrics["configure_503s_source"]) == (2, "focus")


def test_several_missing_fields():
    message = (
        "Cannot configure job - validation failed: Cannot proceed: Missing required fiber metadata fields: prr, dx"
    )
    [f] = pa.diagnose.fiber(Frames(focus=_focus([0], message=message)))
    assert f.metrics["fields"] == ["dx", "prr"]
    assert f.subject == "missing dx,prr"
    assert "fields dx, prr are missing" in f.summary


def test_missing_metadata_recovered_by_a_successful_configure_is_a_warning():
    focus = pd.concat([_focus([0, 3]), _focus([60], message="got configuration: x=1", status=200)], ignore_index=True)
    [f] = pa.diagnose.fiber(Frames(focus=focus))
    assert f.severity is Severity.WARNING
    assert (f.metrics["recovered_by"], f.metrics["recovered_at"]) == ("configure", T0 + pd.Timedelta(seconds=60.004))
    assert "a configure succeeded again at 2025-11-08 13:01:00.004 UTC" in f.summary


def test_missing_metadata_recovered_by_a_ready_probe_is_a_warning():
    probes = _probes((-30, 200, WAITING), (30, 200, READY))
    found = {f.code: f for f in pa.diagnose.fiber(Frames(focus=_focus([0, 3]), live_metadata=probes))}
    assert found[Code.FIBER_METADATA_MISSING].severity is Severity.WARNING
    assert found[Code.FIBER_METADATA_MISSING].metrics["recovered_by"] == "live_metadata"
    assert found[Code.FIBER_WAITING].severity is Severity.WARNING


def test_link_window_bounds_the_linked_503s():
    frames = Frames(focus=_focus([0]), ingress=_configure([0, 4, 12]))
    assert pa.diagnose.fiber(frames)[0].metrics["configure_503s"] == 2
    assert pa.diagnose.fiber(frames, link_window_s=15)[0].metrics["configure_503s"] == 3


# --- issue #12: a flapping interrogator and a busy ingress --------------------------------


def test_flapping_probes_give_one_finding_and_count_each_503_once():
    # 150 not-ready periods of 20 s, each followed by 10 s ready; a 503 every 5 s throughout
    items = []
    for k in range(150):
        items += [(30 * k, 200, WAITING), (30 * k + 10, 200, WAITING), (30 * k + 20, 200, READY)]
    times = [5 * i + 2.5 for i in range(150 * 6)]
    [f] = pa.diagnose.fiber(Frames(live_metadata=_probes(*items), ingress=_configure(times)))
    assert (f.code, f.severity) == (Code.FIBER_WAITING, Severity.WARNING)
    assert f.metrics["not_ready_periods"] == 150
    # a 503 at 30k + 2.5, 7.5, 12.5, 17.5 is inside [30k, 30k + 20); 22.5 and 27.5 are not
    assert f.metrics["configure_503s"] == 150 * 4
    assert f.metrics["first_configure_503"] == T0 + pd.Timedelta(seconds=2.5)
    assert f.metrics["last_configure_503"] == T0 + pd.Timedelta(seconds=30 * 149 + 17.5)


def test_busy_ingress_gives_the_small_twins_findings():
    probes = _probes((0, 200, WAITING), (60, 200, WAITING), (120, 200, WAITING))
    rejected = _focus([10, 40, 70])
    small = Frames(live_metadata=probes, ingress=_configure([10, 40, 70]), focus=rejected)
    # the same incident inside 30,000 ordinary requests (200s on other routes, a few 503 elsewhere)
    other = _configure([i * 0.004 for i in range(30_000)], status=200, route="/prisma/api/v1/sites")
    elsewhere = _configure([5, 50, 95], status=503, route="/prisma/api/v1/alerts")
    ingress = schema.INGRESS.conform(pd.concat([other, _configure([10, 40, 70]), elsewhere], ignore_index=True))
    busy = Frames(live_metadata=probes, ingress=ingress, focus=rejected)
    expected = [(f.code, f.severity, f.subject, f.metrics["configure_503s"]) for f in pa.diagnose.fiber(small)]
    assert expected == [
        (Code.FIBER_WAITING, Severity.CRITICAL, "GET /live_metadata", 3),
        (Code.FIBER_METADATA_MISSING, Severity.CRITICAL, "missing prr", 3),
    ]
    assert [(f.code, f.severity, f.subject, f.metrics["configure_503s"]) for f in pa.diagnose.fiber(busy)] == expected
