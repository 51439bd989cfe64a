"""ALERT_NOT_DELIVERED and the alert trace (seed 000): sample alert_lost, variants built from it."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pytest

import panda_analysis as pa
from panda_analysis import schema
from panda_analysis.diagnose._alerts import STAGES
from panda_analysis.findings import Code, Severity
from panda_analysis.schema import Frames

SAMPLE = pa.samples.path("alert_lost")
ING = "logs/kube-system/ingress-nginx-controller-55694fd6ff-rqgp9/controller.log"
FOC = "logs/panda/panda-panda-focus-server-78dbcfd9d9-4ld4s/focus-server.log"
RMQ = "logs/panda/rabbitmq-panda-0/rabbitmq.log"
ANA = "logs/panda/grpc-job-1-3-rm5ms/baby-analyzer.log"
MONGO = "mongo/alerts.jsonl"
MANIFEST = {"format": "panda-bundle/1", "created_at": "2025-11-13T12:15:00Z", "source": "test"}


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


@pytest.fixture(scope="module")
def frames() -> Frames:
    return pa.samples.alert_lost().frames()


@pytest.fixture(scope="module")
def trace(frames: Frames) -> pd.DataFrame:
    return pa.diagnose.alert_trace(frames)


def sample_files() -> dict[str, str]:
    """The alert_lost bundle's log and mongo files, to edit into variants."""
    return {rel: (SAMPLE / rel).read_text(encoding="utf-8") for rel in (ING, FOC, RMQ, ANA, MONGO)}


def without(text: str, *needles: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if not any(n in line for n in needles))


def build(make_bundle, files: dict[str, str]) -> Frames:
    return pa.load_bundle(make_bundle(files, manifest=MANIFEST)).frames()


def rec(source: str, line_no: int, when: str, message: str, **fields: str) -> dict[str, object]:
    """One log record for ``schema.<FRAME>.conform``."""
    return {"ts": ts(when), "source": source, "line_no": line_no, "message": message, **fields}


def stages(trace: pd.DataFrame, alert_id: str) -> dict[str, str]:
    one = trace[trace["alert_id"] == alert_id]
    return dict(zip(one["stage"].astype(str), one["status"].astype(str), strict=True))


# -- the sample -------------------------------------------------------------------------------


def test_trace_shape_and_dtypes(trace: pd.DataFrame) -> None:
    assert list(trace.columns) == ["alert_id", "stage", "status", "ts", "source", "line_no", "text", "detail"]
    assert str(trace["ts"].dtype) == "datetime64[ns, UTC]"
    assert trace["stage"].cat.ordered
    assert list(trace["stage"].cat.categories) == list(STAGES)
    assert set(trace["status"].cat.categories) == {"passed", "failed", "missing", "no_evidence"}
    assert str(trace["line_no"].dtype) == "Int64"
    # two alerts, eight stages each, alerts in time order, stages in pipeline order
    assert trace["alert_id"].tolist() == ["test-sd-123"] * 8 + ["test-sd-124"] * 8
    assert trace["stage"].astype(str).tolist() == list(STAGES) * 2


def test_delivered_alert_passes_every_stage_with_its_line(trace: pd.DataFrame) -> None:
    one = trace[trace["alert_id"] == "test-sd-123"].set_index(
        trace["stage"].astype(str)[trace["alert_id"] == "test-sd-123"]
    )
    assert set(one["status"].astype(str)) == {"passed"}
    where = {stage: (row.source, int(row.line_no)) for stage, row in one.iterrows()}
    assert where == {
        "ingress_request": (ING, 31),
        "focus_received": (FOC, 10),
        "focus_published": (FOC, 12),
        "rabbitmq_published": (RMQ, 9),
        "rabbitmq_consumed": (RMQ, 10),
        "analyzer_detected": (ANA, 16),
        "frontend_sound": (ING, 32),
        "mongo_saved": (MONGO, 1),
    }
    assert one.loc["ingress_request", "ts"] == ts("2025-11-13 12:08:41")
    assert one.loc["focus_received", "ts"] == ts("2025-11-13 12:08:40.909136100")
    assert one.loc["rabbitmq_published", "ts"] == ts("2025-11-13 12:08:40.980683")
    assert one.loc["frontend_sound", "ts"] == ts("2025-11-13 12:08:42")
    assert one.loc["mongo_saved", "ts"] == ts("2025-11-13 12:08:41.084")
    assert one.loc["ingress_request", "detail"] == "status 201"
    assert one.loc["frontend_sound", "detail"] == "status 206"
    assert one.loc["rabbitmq_published", "detail"] == "routing_key Algorithm.AlertReport.MLGround"
    assert one.loc["rabbitmq_consumed", "detail"] == "queue prisma-210-1000-alerts"
    assert one.loc["analyzer_detected", "text"] == "Alert detected: class_id=104, severity=3, distance_m=4163"
    assert one.loc["analyzer_detected", "detail"].startswith("job 1-3, class_id=104, severity=3, distance_m=4163")
    assert "Publishing alert to RabbitMQ: test-sd-123" in one.loc["focus_published", "detail"]
    assert '"POST /prisma/api/prisma-210-1000/api/push-to-rabbit HTTP/1.1" 201' in one.loc["ingress_request", "text"]


def test_lost_alert_stops_at_focus_publish(trace: pd.DataFrame) -> None:
    assert stages(trace, "test-sd-124") == {
        "ingress_request": "passed",
        "focus_received": "passed",
        "focus_published": "failed",
        "rabbitmq_published": "missing",
        "rabbitmq_consumed": "missing",
        "analyzer_detected": "missing",
        "frontend_sound": "missing",
        "mongo_saved": "missing",
    }
    one = trace[trace["alert_id"] == "test-sd-124"]
    failed = one[one["status"] == "failed"].iloc[0]
    assert (failed["source"], failed["line_no"]) == (FOC, 21)
    assert failed["ts"] == ts("2025-11-13 12:10:05.171234873")
    assert failed["detail"] == "StreamLostError: Stream connection lost"
    ingress = one[one["stage"] == "ingress_request"].iloc[0]
    assert (ingress["line_no"], ingress["ts"]) == (45, ts("2025-11-13 12:10:05"))
    assert one[one["status"] == "missing"]["ts"].isna().all()


def test_alerts_sample_yields_one_critical_finding(frames: Frames) -> None:
    findings = pa.diagnose.alerts(frames)
    assert len(findings) == 1
    f = findings[0]
    assert (f.code, f.severity, f.subject, f.component) == (
        Code.ALERT_NOT_DELIVERED,
        Severity.CRITICAL,
        "focus_published",  # the stage where alerts stopped, not the alert
        "focus-server",
    )
    assert f.runbook == "runbooks/alert_trace.md#alert-not-delivered"
    assert f.first_seen == ts("2025-11-13 12:10:05")
    assert f.last_seen == ts("2025-11-13 12:10:05.171234873")
    assert f.summary == (
        "alert test-sd-124: push-to-rabbit answered 201 at 2025-11-13 12:10:05 UTC but the Focus Server failed "
        "to publish it to RabbitMQ at 2025-11-13 12:10:05.171 UTC (StreamLostError: Stream connection lost); "
        "no RabbitMQ publish, no queue consumption, no analyzer detection, no alert_sound.mp3 fetch, "
        "no MongoDB document followed."
    )
    assert [(e.source, e.line_no) for e in f.evidence] == [(ING, 45), (FOC, 18), (FOC, 21)]
    assert f.metrics["stopped_at"] == "focus_published"
    assert f.metrics["stop_status"] == "failed"
    assert f.metrics["stop_status_counts"] == {"failed": 1}
    assert f.metrics["causes"] == {"StreamLostError: Stream connection lost": 1}
    assert f.metrics["ingress_status"] == 201
    assert (f.metrics["alerts_stopped"], f.metrics["alerts_total"], f.metrics["share_stopped"]) == (1, 2, 0.5)
    assert f.metrics["alert_ids"] == ["test-sd-124"]
    assert f.metrics["alert_id"] == f.metrics["last_alert_id"] == "test-sd-124"
    assert f.metrics["stage_status"]["focus_received"] == {"passed": 1}
    assert f.metrics["stage_status"]["mongo_saved"] == {"missing": 1}
    assert f.metrics["stages_no_evidence"] == []
    assert 2 <= len(f.next_steps) <= 4
    steps = "\n".join(f.next_steps)
    assert "kubectl logs -n panda panda-panda-focus-server-78dbcfd9d9-4ld4s" in steps
    assert "test-sd-124" in steps
    assert "rabbitmq-panda-0" in steps
    json.dumps(f.to_dict())  # metrics are JSON-friendly


@pytest.mark.parametrize("name", ["healthy", "consumer_slow", "waiting_for_fiber"])
def test_silent_on_other_samples(name: str) -> None:
    frames = pa.samples.load(name).frames()
    assert pa.diagnose.alert_trace(frames).empty
    assert pa.diagnose.alerts(frames) == []


def test_registered_and_run_by_diagnose(frames: Frames) -> None:
    found = pa.diagnose.run(frames, only=["ALERT_NOT_DELIVERED"])
    assert [(f.subject, f.metrics["alert_ids"]) for f in found] == [("focus_published", ["test-sd-124"])]


def test_empty_frames() -> None:
    trace = pa.diagnose.alert_trace(Frames())
    assert trace.empty
    assert list(trace.columns) == ["alert_id", "stage", "status", "ts", "source", "line_no", "text", "detail"]
    assert str(trace["ts"].dtype) == "datetime64[ns, UTC]"
    assert pa.diagnose.alerts(Frames()) == []


def test_does_not_mutate_inputs(frames: Frames) -> None:
    before = {name: df.copy() for name, df in frames.items()}
    pa.diagnose.alerts(frames)
    for name, df in frames.items():
        pd.testing.assert_frame_equal(df, before[name])


# -- variants -----------------------------------------------------------------------------------


def test_everything_delivered_yields_nothing(make_bundle) -> None:
    files = sample_files()
    files[ING] = without(files[ING], "12:10:05 +0000")
    files[FOC] = without(files[FOC], "T12:10:05")
    frames = build(make_bundle, files)
    trace = pa.diagnose.alert_trace(frames)
    assert trace["alert_id"].unique().tolist() == ["test-sd-123"]
    assert set(trace["status"].astype(str)) == {"passed"}
    assert pa.diagnose.alerts(frames) == []


def test_ingress_500_with_alert_id_fails_at_ingress(make_bundle) -> None:
    files = sample_files()
    files[ING] = (
        files[ING]
        .replace('push-to-rabbit HTTP/1.1" 201 450', 'push-to-rabbit HTTP/1.1" 500 450')
        .replace("450 0.029 201 1a3360f4", "450 0.029 500 1a3360f4")
    )
    [f] = pa.diagnose.alerts(build(make_bundle, files))  # both stopped at the ingress: one finding
    assert (f.subject, f.component, f.metrics["stopped_at"]) == ("ingress_request", "ingress-nginx", "ingress_request")
    assert f.metrics["alert_ids"] == ["test-sd-123", "test-sd-124"]
    assert (f.metrics["alerts_stopped"], f.metrics["alerts_total"]) == (2, 2)
    assert f.metrics["ingress_status"] == 500
    assert f.metrics["ingress_status_counts"] == {"500": 2}
    assert f.summary.startswith(
        "2 of 2 alerts stopped at the ingress from 2025-11-13 12:08:40.909 to 12:10:05.171 UTC "
        "(first test-sd-123, test-sd-124): push-to-rabbit was answered 500"
    )
    # the first alert's lines, then the last one's
    assert [(e.source, e.line_no) for e in f.evidence] == [(ING, 31), (ING, 45)]


def test_ingress_500_that_never_reached_focus_is_traced_as_a_request(make_bundle) -> None:
    files = sample_files()
    files[ING] = files[ING].replace(
        '"POST /prisma/api/prisma-210-1000/api/push-to-rabbit HTTP/1.1" 201 450 "-" "python-requests/2.32.5" 902 0.030 '
        "[webapp-webapp-pz-web-webapp-ui-80] [] 10.42.1.9:80 450 0.029 201",
        '"POST /prisma/api/prisma-210-1000/api/push-to-rabbit HTTP/1.1" 500 450 "-" "python-requests/2.32.5" 902 0.030 '
        "[webapp-webapp-pz-web-webapp-ui-80] [] 10.42.1.9:80 450 0.029 500",
    )
    files[FOC] = without(files[FOC], "T12:10:05")
    frames = build(make_bundle, files)
    trace = pa.diagnose.alert_trace(frames)
    request = "request 1a3360f4533ae17da1c7f6099060171b"
    assert trace["alert_id"].unique().tolist() == ["test-sd-123", request]
    assert stages(trace, request)["ingress_request"] == "failed"
    assert stages(trace, request)["focus_received"] == "missing"
    assert stages(trace, request)["mongo_saved"] == "no_evidence"  # no id to look up
    [f] = pa.diagnose.alerts(frames)
    assert (f.subject, f.component, f.metrics["stopped_at"]) == ("ingress_request", "ingress-nginx", "ingress_request")
    assert f.metrics["alert_ids"] == [request]
    assert [(e.source, e.line_no) for e in f.evidence] == [(ING, 45)]


def test_published_but_no_sound_stops_at_frontend(make_bundle) -> None:
    files = sample_files()
    files[ING] = without(files[ING], "alert_sound.mp3", "12:10:05 +0000")
    files[FOC] = without(files[FOC], "T12:10:05")
    del files[MONGO]  # not collected: no evidence, says nothing
    frames = build(make_bundle, files)
    trace = pa.diagnose.alert_trace(frames)
    assert stages(trace, "test-sd-123")["frontend_sound"] == "missing"
    assert stages(trace, "test-sd-123")["mongo_saved"] == "no_evidence"
    [f] = pa.diagnose.alerts(frames)
    assert (f.subject, f.component, f.metrics["alert_ids"]) == ("frontend_sound", "prisma-web-app", ["test-sd-123"])
    assert f.metrics["stages_no_evidence"] == ["mongo_saved"]
    assert "never fetched alert_sound.mp3 within 30 s" in f.summary
    assert f.summary.startswith("alert test-sd-123: push-to-rabbit answered 201 at 2025-11-13 12:08:41 UTC but")
    assert len(f.evidence) == 5  # capped at five quotes


def test_missing_stage_followed_by_a_passed_one_is_a_gap_not_a_stop(make_bundle) -> None:
    files = sample_files()
    files[ING] = without(files[ING], "alert_sound.mp3", "12:10:05 +0000")
    files[FOC] = without(files[FOC], "T12:10:05")
    frames = build(make_bundle, files)  # MongoDB still has the document, after the sound stage
    assert stages(pa.diagnose.alert_trace(frames), "test-sd-123")["frontend_sound"] == "missing"
    assert pa.diagnose.alerts(frames) == []


def test_sound_404_fails_the_frontend_stage(make_bundle) -> None:
    files = sample_files()
    files[ING] = files[ING].replace('alert_sound.mp3 HTTP/2.0" 206', 'alert_sound.mp3 HTTP/2.0" 404')
    files[ING] = files[ING].replace("25214 0.002 206", "25214 0.002 404")
    frames = build(make_bundle, files)
    by_subject = {f.subject: f for f in pa.diagnose.alerts(frames)}
    assert set(by_subject) == {"focus_published", "frontend_sound"}
    assert by_subject["frontend_sound"].metrics["alert_ids"] == ["test-sd-123"]
    assert by_subject["frontend_sound"].metrics["stop_status"] == "failed"
    assert "alert_sound.mp3 answered 404" in by_subject["frontend_sound"].summary
    assert by_subject["focus_published"].metrics["alert_ids"] == ["test-sd-124"]


def test_only_ingress_log_traces_each_request(make_bundle) -> None:
    files = {ING: sample_files()[ING]}
    files[ING] = without(files[ING], "12:10:05 +0000")
    frames = build(make_bundle, files)
    trace = pa.diagnose.alert_trace(frames)
    request = "request 80e1da9a6d866cc1ede71922a8232394"
    assert stages(trace, request) == {
        "ingress_request": "passed",
        "focus_received": "no_evidence",
        "focus_published": "no_evidence",
        "rabbitmq_published": "no_evidence",
        "rabbitmq_consumed": "no_evidence",
        "analyzer_detected": "no_evidence",
        "frontend_sound": "passed",
        "mongo_saved": "no_evidence",
    }
    assert pa.diagnose.alerts(frames) == []


def test_only_ingress_log_with_failed_push(make_bundle) -> None:
    files = {ING: sample_files()[ING]}
    files[ING] = files[ING].replace('HTTP/1.1" 201 450', 'HTTP/1.1" 503 450')
    frames = build(make_bundle, files)
    [f] = pa.diagnose.alerts(frames)  # two failed pushes, one stage: one finding
    assert f.subject == f.metrics["stopped_at"] == "ingress_request"
    assert f.metrics["alert_ids"] == [
        "request 80e1da9a6d866cc1ede71922a8232394",
        "request 1a3360f4533ae17da1c7f6099060171b",
    ]
    assert f.metrics["stages_no_evidence"] == [
        "focus_received",
        "focus_published",
        "rabbitmq_published",
        "rabbitmq_consumed",
        "analyzer_detected",
        "mongo_saved",
    ]
    # the later sound fetch does not rescue a failed push
    assert "push-to-rabbit was answered 503" in f.summary
    assert f.metrics["stage_status"]["frontend_sound"] == {"passed": 1, "missing": 1}


def test_publish_retried_after_error_passes(make_bundle) -> None:
    files = sample_files()
    files[FOC] = files[FOC].replace(
        "2025-11-13T12:10:05.366487964Z [INFO] Reconnected to RabbitMQ\n",
        "2025-11-13T12:10:05.366487964Z [INFO] Reconnected to RabbitMQ\n"
        "2025-11-13T12:10:05.370000000Z [INFO] Alert published successfully: test-sd-124\n",
    )
    trace = pa.diagnose.alert_trace(build(make_bundle, files))
    row = trace[(trace["alert_id"] == "test-sd-124") & (trace["stage"] == "focus_published")].iloc[0]
    assert row["status"] == "passed"
    assert "after 1 failed attempt(s)" in row["detail"]


def test_rabbitmq_log_without_message_events_is_no_evidence(make_bundle) -> None:
    files = sample_files()
    files[RMQ] = without(files[RMQ], "Message published", "Message consumed")
    frames = build(make_bundle, files)
    trace = pa.diagnose.alert_trace(frames)
    assert stages(trace, "test-sd-123")["rabbitmq_published"] == "no_evidence"
    assert stages(trace, "test-sd-123")["rabbitmq_consumed"] == "no_evidence"
    assert [(f.subject, f.metrics["alert_ids"]) for f in pa.diagnose.alerts(frames)] == [
        ("focus_published", ["test-sd-124"])
    ]


def test_publish_to_another_exchange_does_not_count(make_bundle) -> None:
    files = sample_files()
    files[RMQ] = files[RMQ].replace("exchange 'prisma'", "exchange 'audit'")
    frames = build(make_bundle, files)
    assert stages(pa.diagnose.alert_trace(frames), "test-sd-123")["rabbitmq_published"] == "missing"
    assert stages(pa.diagnose.alert_trace(frames, exchange="audit"), "test-sd-123")["rabbitmq_published"] == "passed"
    # a gap followed by consumption, detection, sound and MongoDB: not a stop
    assert [(f.subject, f.metrics["alert_ids"]) for f in pa.diagnose.alerts(frames)] == [
        ("focus_published", ["test-sd-124"])
    ]


def test_window_s_is_honoured(frames: Frames) -> None:
    tight = pa.diagnose.alert_trace(frames, window_s=0.5)
    assert stages(tight, "test-sd-123")["frontend_sound"] == "missing"  # fetched 1 s after the push
    assert stages(pa.diagnose.alert_trace(frames), "test-sd-123")["frontend_sound"] == "passed"


def test_each_untagged_line_serves_one_alert_only() -> None:
    focus = schema.FOCUS.conform(
        [
            rec(
                "f.log", 1, "2025-11-13 12:00:00.10", 'Received alert: {"alertId": "a-1"}', level="info", alert_id="a-1"
            ),
            rec(
                "f.log", 2, "2025-11-13 12:00:00.20", "Publishing alert to RabbitMQ: a-1", level="info", alert_id="a-1"
            ),
            rec("f.log", 3, "2025-11-13 12:00:00.30", "Alert published successfully", level="info"),
            rec(
                "f.log", 4, "2025-11-13 12:00:01.10", 'Received alert: {"alertId": "a-2"}', level="info", alert_id="a-2"
            ),
            rec(
                "f.log", 5, "2025-11-13 12:00:01.20", "Publishing alert to RabbitMQ: a-2", level="info", alert_id="a-2"
            ),
            rec("f.log", 6, "2025-11-13 12:00:01.30", "Alert published successfully", level="info"),
        ]
    )
    rmq = schema.RABBITMQ_LOG.conform(
        [
            rec(
                "r.log",
                7,
                "2025-11-13 12:00:00.25",
                "Message published to exchange 'prisma' with routing_key 'Algorithm.AlertReport.MLGround'",
                level="debug",
                exchange="prisma",
                routing_key="Algorithm.AlertReport.MLGround",
            ),
        ]
    )
    trace = pa.diagnose.alert_trace(Frames(focus=focus, rabbitmq_log=rmq))
    assert stages(trace, "a-1")["focus_published"] == "passed"
    assert stages(trace, "a-2")["focus_published"] == "passed"
    assert stages(trace, "a-1")["rabbitmq_published"] == "passed"
    assert stages(trace, "a-2")["rabbitmq_published"] == "missing"  # the one line went to a-1
    # the `Alert published successfully` lines pair with their own `Publishing` line
    lines = trace[trace["stage"] == "focus_published"]["line_no"].tolist()
    assert lines == [3, 6]
    [f] = pa.diagnose.alerts(Frames(focus=focus, rabbitmq_log=rmq))
    assert (f.subject, f.metrics["alert_ids"], f.component) == ("rabbitmq_published", ["a-2"], "rabbitmq")
    assert f.summary == (
        "alert a-2: Focus publish passed at 2025-11-13 12:00:01.300 UTC but RabbitMQ logged no message "
        "published to the exchange within 30 s."
    )


def test_publishing_without_confirmation_is_missing() -> None:
    focus = schema.FOCUS.conform(
        [
            rec(
                "f.log", 1, "2025-11-13 12:00:00.10", 'Received alert: {"alertId": "a-1"}', level="info", alert_id="a-1"
            ),
            rec(
                "f.log", 2, "2025-11-13 12:00:00.20", "Publishing alert to RabbitMQ: a-1", level="info", alert_id="a-1"
            ),
            rec("f.log", 3, "2025-11-13 12:00:00.25", "Failed to publish alert a-12: timeout", level="error"),
        ]
    )
    [f] = pa.diagnose.alerts(Frames(focus=focus))  # the error about a-12 is not about a-1
    assert f.metrics["stopped_at"] == "focus_published"
    assert f.metrics["stop_status"] == "missing"
    assert "never confirmed `Alert published successfully`" in f.summary
    assert [e.line_no for e in f.evidence] == [1, 2]


def test_analyzer_only_alert_with_later_gap_in_absent_logs_is_silent() -> None:
    analyzer = schema.ANALYZER.conform(
        [
            rec(
                "a.log",
                1,
                "2025-11-13 12:00:00",
                "Alert detected: class_id=104, severity=3, distance_m=10",
                level="info",
                event="alert_detected",
            ),
            rec(
                "a.log",
                2,
                "2025-11-13 12:00:00.1",
                "Alert published successfully: x-9",
                level="info",
                event="alert_published",
                alert_id="x-9",
            ),
        ]
    )
    trace = pa.diagnose.alert_trace(Frames(analyzer=analyzer))
    assert stages(trace, "x-9")["analyzer_detected"] == "passed"
    assert trace[trace["stage"] == "analyzer_detected"]["line_no"].tolist() == [1]
    assert pa.diagnose.alerts(Frames(analyzer=analyzer)) == []


def test_sample_files_are_what_the_tests_edit() -> None:
    # guards the variants above: the lines they rewrite exist in the sample
    files = sample_files()
    assert files[ING].count("push-to-rabbit") == 2
    assert files[ING].count("alert_sound.mp3") == 1
    assert "Failed to publish alert test-sd-124" in files[FOC]
    assert Path(SAMPLE / MONGO).read_text(encoding="utf-8").count("test-sd-123") == 1


def test_trace_filter_by_alert_id() -> None:
    frames = pa.load_bundle("sample:alert_lost").frames()
    every = pa.diagnose.alert_trace(frames)
    assert {"test-sd-123", "test-sd-124"} <= set(every["alert_id"])
    only = pa.diagnose.alert_trace(frames, alert_id="sd-124")
    assert set(only["alert_id"]) == {"test-sd-124"}
    # traced against every alert first: the same rows as cutting the full table
    pd.testing.assert_frame_equal(
        only.reset_index(drop=True), every[every["alert_id"] == "test-sd-124"].reset_index(drop=True)
    )
    assert pa.diagnose.alert_trace(frames, alert_id="nope").empty


# -- busy bundles: findings aggregate per stage (issue #12) ------------------------------------
#
# Alerts at a busy platform's pace (about 3 a second, so that two pushes are often handled at
# once and their lines interleave) inside ordinary ingress traffic, each written with the
# sample's own line formats and the sample's delays between stages (push start → Focus
# receipt 14 ms → publish 16 ms → RabbitMQ 86 ms → confirmed 89 ms → detected 131 ms →
# consumed 172 ms → MongoDB 189 ms; the push logged when it ends, stamped in whole seconds;
# the alert sound fetched about a second later).

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
STREAM_LOST = (
    "pika.exceptions.StreamLostError: Stream connection lost: ConnectionResetError(104, 'Connection reset by peer')"
)


def kubelet(t: pd.Timestamp) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond * 1000 + t.nanosecond:09d}Z"


def access_line(t: pd.Timestamp, client: str, request: str, status: int, size: int, rt: float, rid: str, **kw) -> str:
    """An ingress-nginx ``upstreaminfo`` line as the controller logs it when the request ends at ``t``."""
    local = f"{t.day:02d}/{MONTHS[t.month - 1]}/{t.year}:{t.strftime('%H:%M:%S')} +0000"
    agent = kw.get("agent", "python-requests/2.32.5")
    upstream = kw.get("upstream", "webapp-webapp-pz-web-webapp-ui-80")
    addr = kw.get("addr", "10.42.1.9:80")
    return (
        f'{kubelet(t)} {client} - - [{local}] "{request}" {status} {size} "{kw.get("referer", "-")}" "{agent}" '
        f"902 {rt:.3f} [{upstream}] [] {addr} {size} {rt:.3f} {status} {rid}"
    )


def rabbit_line(t: pd.Timestamp, pid: str, message: str) -> str:
    return f"{kubelet(t)} {t.strftime('%Y-%m-%d %H:%M:%S.%f')}+00:00 [debug] <{pid}> {message}"


def busy_alert_files(
    n: int,
    *,
    lost: dict[int, str] | None = None,
    traffic: int = 3000,
    start: str = "2025-11-13T12:20:00Z",
    seed: int = 12,
) -> dict[str, list[str]]:
    """Lines per file (unsorted) of ``n`` alerts ``busy-0000``... and ``traffic`` other requests.

    ``lost`` maps an alert's number to the stage where it stops: ``focus_published`` (the
    Focus Server's publish fails with StreamLostError, as in the sample), ``rabbitmq_consumed``
    (RabbitMQ routes it, no consumer takes it) or ``ingress_request`` (the push answered 502,
    the Focus Server never sees it).
    """
    rng = random.Random(seed)
    lost = lost or {}
    t0 = pd.Timestamp(start)
    files: dict[str, list[str]] = {ING: [], FOC: [], RMQ: [], ANA: [], MONGO: []}
    ms = pd.Timedelta(milliseconds=1)
    t = t0
    for i in range(n):
        t += pd.Timedelta(seconds=rng.expovariate(1 / 0.35))
        aid, how = f"busy-{i:04d}", lost.get(i)
        rt = rng.uniform(0.09, 0.12)
        end = t + pd.Timedelta(seconds=rt)
        push = "POST /prisma/api/prisma-210-1000/api/push-to-rabbit HTTP/1.1"
        status = 502 if how == "ingress_request" else 201
        files[ING].append(access_line(end, "10.42.0.0", push, status, 450, rt, f"{rng.getrandbits(128):032x}"))
        if how == "ingress_request":
            continue
        files[FOC] += [
            f"{kubelet(t + 12 * ms)} [INFO] POST /prisma-210-1000/api/push-to-rabbit",
            f'{kubelet(t + 14 * ms)} [INFO] Received alert: {{"alertId": "{aid}", "classId": 104, "severity": 3}}',
            f"{kubelet(t + 16 * ms)} [INFO] Publishing alert to RabbitMQ: {aid}",
            f'{kubelet(t + 97 * ms)} INFO:     10.42.1.9:{rng.randint(30000, 60000)} - "POST /prisma-210-1000/api/push-to-rabbit HTTP/1.1" 201 Created',
        ]
        if how == "focus_published":
            files[FOC].append(f"{kubelet(t + 60 * ms)} [ERROR] Failed to publish alert {aid}: {STREAM_LOST}")
            continue
        files[FOC].append(f"{kubelet(t + 89 * ms)} [INFO] Alert published successfully")
        files[RMQ].append(
            rabbit_line(
                t + 86 * ms,
                "0.4521.0",
                "Message published to exchange 'prisma' with routing_key 'Algorithm.AlertReport.MLGround'",
            )
        )
        if how == "rabbitmq_consumed":
            continue
        files[RMQ].append(rabbit_line(t + 172 * ms, "0.3982.0", "Message consumed from queue 'prisma-210-1000-alerts'"))
        distance = rng.randint(100, 9000)
        files[ANA] += [
            f"{kubelet(t + 131 * ms)} [INFO] Alert detected: class_id=104, severity=3, distance_m={distance}",
            f"{kubelet(t + 132 * ms)} [INFO] Publishing alert to RabbitMQ: Algorithm.AlertReport.MLGround",
            f"{kubelet(t + 161 * ms)} [INFO] Alert published successfully: {aid}",
        ]
        created = (t + 189 * ms).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        files[MONGO].append(
            json.dumps(
                {
                    "_id": {"$oid": f"{0x6915CA495BF5937B16620000 + i:024x}"},
                    "alertId": aid,
                    "classId": 104,
                    "severity": 3,
                    "distance_m": distance,
                    "jobId": "1-3",
                    "exchange": "prisma",
                    "routingKey": "Algorithm.AlertReport.MLGround",
                    "source": "push-to-rabbit",
                    "createdAt": {"$date": created},
                }
            )
        )
        sound = t + pd.Timedelta(seconds=rng.uniform(0.9, 1.4))
        files[ING].append(
            access_line(
                sound,
                "10.42.0.0",
                "GET /assets/sounds/alert_sound.mp3 HTTP/2.0",
                206,
                25214,
                0.002,
                f"{rng.getrandbits(128):032x}",
                referer="https://10.10.10.100/prisma/",
                agent="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0",
            )
        )
    span = (t - t0).total_seconds() + 5
    routes = [
        (
            "GET /prisma/api/prisma-210-1000/api/alerts?limit=50&severity=3 HTTP/1.1",
            8812,
            "webapp-webapp-pz-web-webapp-ui-80",
        ),
        ("GET /focus-server/live_metadata HTTP/1.1", 1184, "panda-panda-focus-server-5000"),
        ("GET /assets/app.js HTTP/2.0", 402112, "webapp-webapp-pz-web-webapp-ui-80"),
        ("GET /focus-server/metadata/19-5 HTTP/1.1", 230, "panda-panda-focus-server-5000"),
    ]
    for _ in range(traffic):
        request, size, upstream = rng.choice(routes)
        at = t0 + pd.Timedelta(seconds=rng.uniform(0, span))
        client = f"10.42.{rng.randint(0, 3)}.{rng.randint(2, 250)}"
        files[ING].append(
            access_line(
                at,
                client,
                request,
                200,
                size,
                rng.uniform(0.001, 0.2),
                f"{rng.getrandbits(128):032x}",
                upstream=upstream,
            )
        )
    return files


def write_files(files: dict[str, list[str]]) -> dict[str, str]:
    """Each file's lines in time order (log files by their kubelet stamp, MongoDB as written)."""
    out = {}
    for rel, lines in files.items():
        ordered = lines if rel == MONGO else sorted(lines, key=lambda line: line.split(" ", 1)[0])
        out[rel] = "".join(line + "\n" for line in ordered)
    return out


def busy(make_bundle, n: int, **kw) -> Frames:
    return build(make_bundle, write_files(busy_alert_files(n, **kw)))


def lost_at(n: int, stage: str, count: int, *, seed: int, taken: Iterable[int] = ()) -> dict[int, str]:
    free = sorted(set(range(n)) - set(taken))
    return dict.fromkeys(random.Random(seed).sample(free, count), stage)


def test_busy_healthy_bundle_gives_no_finding(make_bundle) -> None:
    frames = busy(make_bundle, 400)
    assert len(frames.ingress) == 3000 + 2 * 400
    trace = pa.diagnose.alert_trace(frames)
    assert trace["alert_id"].nunique() == 400  # every push paired with its Focus receipt, none left over
    assert not trace["alert_id"].str.startswith("request ").any()
    assert set(trace["status"].astype(str)) == {"passed"}
    assert pa.diagnose.alerts(frames) == []


def test_fifty_alerts_lost_at_one_stage_make_one_finding(make_bundle) -> None:
    lost = lost_at(400, "rabbitmq_consumed", 50, seed=1)
    frames = busy(make_bundle, 400, lost=lost)
    ids = [f"busy-{i:04d}" for i in sorted(lost)]  # alerts are numbered in time order
    [f] = pa.diagnose.alerts(frames)
    assert (f.code, f.severity, f.component, f.subject) == (
        Code.ALERT_NOT_DELIVERED,
        Severity.CRITICAL,
        "rabbitmq",
        "rabbitmq_consumed",
    )
    m = f.metrics
    assert (m["alerts_stopped"], m["alerts_total"], m["share_stopped"]) == (50, 400, 0.125)
    assert m["alert_ids"] == ids[:10]
    assert (m["alert_id"], m["last_alert_id"]) == (ids[0], ids[-1])
    assert m["stop_status_counts"] == {"missing": 50}
    assert m["queue"] == "prisma-210-1000-alerts"  # where the 350 others were consumed
    assert m["ingress_status_counts"] == {"201": 50}
    assert m["stage_status"]["rabbitmq_published"] == {"passed": 50}
    assert m["stage_status"]["mongo_saved"] == {"missing": 50}
    assert f.summary.startswith("50 of 400 alerts stopped at RabbitMQ (queue consumption) from 2025-11-13 12:")
    assert f"(first {ids[0]}, {ids[1]}, {ids[2]}, …)" in f.summary
    assert "no consumer took them from queue 'prisma-210-1000-alerts'" in f.summary
    assert f.summary.endswith("no analyzer detection, no alert_sound.mp3 fetch, no MongoDB document followed.")
    # quoted: the first lost alert's last three lines in time order (its receipt, RabbitMQ
    # publish, confirmation), then the last lost alert's RabbitMQ publish and confirmation
    assert [e.source for e in f.evidence] == [FOC, RMQ, FOC, RMQ, FOC]
    assert f'"alertId": "{ids[0]}"' in f.evidence[0].text
    assert all("Message published to exchange 'prisma'" in e.text for e in f.evidence if e.source == RMQ)
    assert f.first_seen < f.last_seen
    steps = "\n".join(f.next_steps)
    assert "rabbitmqctl list_queues name messages_ready consumers" in steps
    assert "rabbitmq-panda-0" in steps
    # and the trace put each stop on the right alert (no neighbour's line taken)
    trace = pa.diagnose.alert_trace(frames)
    consumed = trace[trace["stage"] == "rabbitmq_consumed"]
    assert sorted(consumed.loc[consumed["status"] == "missing", "alert_id"]) == ids
    json.dumps(f.to_dict())


def test_lost_at_two_stages_make_two_findings(make_bundle) -> None:
    at_focus = lost_at(400, "focus_published", 30, seed=2)
    at_queue = lost_at(400, "rabbitmq_consumed", 20, seed=3, taken=at_focus)
    frames = busy(make_bundle, 400, lost={**at_focus, **at_queue})
    found = pa.diagnose.alerts(frames)
    assert [(f.subject, f.component, f.metrics["alerts_stopped"]) for f in found] == [
        ("focus_published", "focus-server", 30),
        ("rabbitmq_consumed", "rabbitmq", 20),
    ]
    focus, queue = found
    assert focus.metrics["alert_ids"] == [f"busy-{i:04d}" for i in sorted(at_focus)][:10]
    assert queue.metrics["alert_ids"] == [f"busy-{i:04d}" for i in sorted(at_queue)][:10]
    assert focus.metrics["causes"] == {"StreamLostError: Stream connection lost": 30}
    assert focus.metrics["stop_status"] == "failed"
    assert "the Focus Server failed to publish them to RabbitMQ (StreamLostError: Stream connection lost)" in (
        focus.summary
    )
    assert focus.title == "Alert stopped in the Focus Server"
    assert any(e.source == FOC and "Failed to publish alert" in e.text for e in focus.evidence)
    assert len({f.key for f in found}) == 2


def test_failed_pushes_in_busy_traffic_make_one_ingress_finding(make_bundle) -> None:
    lost = lost_at(300, "ingress_request", 12, seed=4)
    frames = busy(make_bundle, 300, lost=lost)
    [f] = pa.diagnose.alerts(frames)
    assert (f.subject, f.component) == ("ingress_request", "ingress-nginx")
    assert f.metrics["alerts_stopped"] == 12
    assert all(a.startswith("request ") for a in f.metrics["alert_ids"])  # no id: the Focus Server never saw them
    assert f.metrics["ingress_status_counts"] == {"502": 12}
    assert "push-to-rabbit was answered 502" in f.summary


def test_busy_twin_of_the_sample_gives_the_sample_finding(make_bundle) -> None:
    # the alert_lost sample's two alerts among 300 others and ordinary traffic in the same minutes
    files = busy_alert_files(300, start="2025-11-13T12:06:00Z", traffic=2000)
    for rel, text in sample_files().items():
        files[rel] += text.splitlines()
    frames = build(make_bundle, write_files(files))
    [f] = pa.diagnose.alerts(frames)
    [small] = pa.diagnose.alerts(pa.samples.alert_lost().frames())
    assert (f.code, f.severity, f.component, f.subject) == (small.code, small.severity, small.component, small.subject)
    assert f.metrics["alert_ids"] == ["test-sd-124"]
    assert f.metrics["alerts_total"] == 302
    assert f.summary == small.summary
    assert [(e.source, e.line_no is not None) for e in f.evidence] == [(e.source, True) for e in small.evidence]
