"""Consumer creation: the stage timeline and POD_NOT_CREATED / CONSUMER_NOT_CREATED / CONSUMER_SLOW.

Expected numbers come from the sample files themselves:

consumer_slow, job 19-5: focus-server.log line 5 ``2025-11-13T09:41:12+0000 ... Job 19-5
configured`` (the application's own, whole-second time); pods.json ``creationTimestamp``
09:41:14; Pulled event 09:41:14; Started event / ``startedAt`` 09:41:15; baby-analyzer.log line 3
``Declared queue`` 09:41:16.102489120, line 6 ``Consumer started`` 09:41:17.200349007;
job_metadata.jsonl line 41 the first 200 at 09:41:17.234 → ready +5.234 s.

consumer_slow, job 19-6: configure line 51 at 09:42:30; pod created 09:42:33 (+3); Pulled 09:42:35
(+5); Started 09:42:36 (+6); ``Declared queue`` line 3 09:42:38.000104859 (+8.000); ``Consumer
started`` line 7 09:43:10.982318739 (+40.982); job_metadata.jsonl line 124 200 at 09:43:11.087
(+41.087). Slowest step: queue declared → consumer attached, 32.982 s.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest

import panda_analysis as pa
from panda_analysis import schema
from panda_analysis.diagnose._consumer import STAGES
from panda_analysis.findings import Code, Severity
from panda_analysis.schema import Frames

T0 = pd.Timestamp("2025-11-08T13:20:00Z")
FOCUS_POD = "panda-panda-focus-server-78dbcfd9d9-kjj77"
FOCUS_LOG = f"logs/panda/{FOCUS_POD}/focus-server.log"


@pytest.fixture(scope="module")
def slow() -> Frames:
    return pa.samples.consumer_slow().frames()


# --------------------------------------------------------------------------- builders


def at(seconds: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(seconds=seconds)


def configure(job: str, s: float = 0.0, line_no: int = 1) -> dict[str, Any]:
    return {
        "ts": at(s),
        "source": FOCUS_LOG,
        "line_no": line_no,
        "namespace": "panda",
        "pod": FOCUS_POD,
        "container": "focus-server",
        "kind": "record",
        "level": "info",
        "logger": "pz.focus_server",
        "message": f"Job {job} configured, creating k8s job grpc-job-{job}",
        "job_id": job,
    }


def pod(
    name: str,
    s: float,
    *,
    job_name: str | None = None,
    labels: dict[str, str] | None = None,
    phase: str = "Running",
    item: int = 0,
    job_id: str | None = None,
) -> dict[str, Any]:
    return {
        "ts": at(s),
        "source": f"k8s/pods.json#/items/{item}",
        "namespace": "panda",
        "pod": name,
        "phase": phase,
        "job_name": job_name,
        "job_id": job_id,
        "labels": json.dumps(labels or {}, sort_keys=True),
        "owner_kind": "Job" if job_name else None,
        "owner_name": job_name,
        "container_count": 1,
    }


def other_pod() -> dict[str, Any]:
    return pod(FOCUS_POD, -86400, labels={"app.kubernetes.io/name": "panda-panda-focus-server"}, item=9)


def event(
    name: str, reason: str, s: float, *, kind: str = "Pod", type_: str = "Normal", message: str = "", item: int = 0
) -> dict[str, Any]:
    return {
        "ts": at(s),
        "source": f"k8s/events.json#/items/{item}",
        "namespace": "panda",
        "object_kind": kind,
        "object_name": name,
        "pod": name if kind == "Pod" else None,
        "type": type_,
        "reason": reason,
        "message": message or reason,
        "count": 1,
        "first_ts": at(s),
        "last_ts": at(s),
    }


def job(job_id: str, s: float, *, active: int | None = 1, succeeded: int | None = None) -> dict[str, Any]:
    return {
        "ts": at(s),
        "source": "k8s/jobs.json#/items/0",
        "namespace": "panda",
        "job_name": f"grpc-job-{job_id}",
        "job_id": job_id,
        "active": active,
        "succeeded": succeeded,
        "started_at": at(s),
    }


def analyzer(job_id: str, pod_name: str, s: float, event_: str, message: str, line_no: int) -> dict[str, Any]:
    return {
        "ts": at(s),
        "source": f"logs/panda/{pod_name}/baby-analyzer.log",
        "line_no": line_no,
        "namespace": "panda",
        "pod": pod_name,
        "container": "baby-analyzer",
        "job_id": job_id,
        "level": "info",
        "message": message,
        "event": event_,
        "queue": f"grpc-job-{job_id}",
    }


def poll(job_id: str, s: float, status: int, line_no: int) -> dict[str, Any]:
    return {
        "ts": at(s),
        "source": "http/focus/job_metadata.jsonl",
        "line_no": line_no,
        "job_id": job_id,
        "status": status,
        "error": None if status == 200 else "Invalid job_id",
        "body": '{"status":"running"}' if status == 200 else '{"detail":"Invalid job_id"}',
    }


def frames(end_s: float, **parts: list[dict[str, Any]]) -> Frames:
    conformed = {name: schema.FRAMES[name].conform(rows) for name, rows in parts.items()}
    return Frames(**conformed, meta={"created_at": at(end_s).isoformat()})


def started_job(
    job_id: str,
    pod_name: str,
    *,
    pod_s: float,
    started_s: float,
    labels: dict[str, str] | None = None,
    job_name: str | None = "default",
) -> dict[str, list]:
    """Configure at 0, Job at 0, pod and Started event: the parts up to a running container."""
    name = f"grpc-job-{job_id}" if job_name == "default" else job_name
    return {
        "focus": [configure(job_id)],
        "jobs": [job(job_id, 0)] if name else [],
        "pods": [pod(pod_name, pod_s, job_name=name, labels=labels), other_pod()],
        "events": [
            event(pod_name, "Scheduled", pod_s, item=1),
            event(pod_name, "Pulled", pod_s + 0.5, item=2),
            event(pod_name, "Started", started_s, item=3),
        ],
    }


# --------------------------------------------------------------------------- the samples


def test_stages_of_job_19_5_match_the_seed(slow: Frames) -> None:
    stages = pa.diagnose.consumer_stages(slow)
    job = stages[stages["job_id"] == "19-5"].set_index("stage", drop=False)
    assert list(job["stage"].astype(str)) == list(STAGES)
    assert job.loc["configure", "ts"] == pd.Timestamp("2025-11-13T09:41:12Z")
    assert job.loc["configure", "line_no"] == 5
    expected = {
        "configure": 0.0,
        "job_created": 0.0,
        "pod_created": 2.0,
        "pod_scheduled": 2.0,
        "image_pulled": 2.0,
        "container_started": 3.0,
        "queue_declared": 4.102489120,
        "consumer_attached": 5.200349007,
        "metadata_ready": 5.234,
    }
    assert job["since_configure_s"].to_dict() == pytest.approx(expected, abs=1e-6)
    assert job.loc["metadata_ready", "source"] == "http/focus/job_metadata.jsonl"
    assert job.loc["metadata_ready", "line_no"] == 41
    # the pods carry only Job labels (job-name), no job_id label: matched by the Job's name
    assert set(job.loc[["pod_created", "image_pulled", "container_started"], "matched_by"]) == {"name"}
    assert set(job["pod"].dropna()) == {"grpc-job-19-5-cj8hc"}
    assert not job["is_upper_bound"].any()


def test_stages_of_job_19_6_and_frame_shape(slow: Frames) -> None:
    stages = pa.diagnose.consumer_stages(slow)
    assert list(stages.columns) == [
        "job_id",
        "stage",
        "ts",
        "since_configure_s",
        "source",
        "line_no",
        "text",
        "matched_by",
        "pod",
        "is_upper_bound",
    ]
    assert stages["stage"].cat.ordered
    assert str(stages["ts"].dtype) == "datetime64[ns, UTC]"
    assert list(stages["job_id"].unique()) == ["19-5", "19-6"]
    job = stages[stages["job_id"] == "19-6"].set_index("stage")
    expected = {
        "configure": 0.0,
        "job_created": 0.0,
        "pod_created": 3.0,
        "pod_scheduled": 3.0,
        "image_pulled": 5.0,
        "container_started": 6.0,
        "queue_declared": 8.000104859,
        "consumer_attached": 40.982318739,
        "metadata_ready": 41.087,
    }
    assert job["since_configure_s"].to_dict() == pytest.approx(expected, abs=1e-6)
    # the analyzer's line beats the 5-second snapshot (09:43:15.053) for consumer_attached
    assert job.loc["consumer_attached", "text"] == "Consumer started on queue grpc-job-19-6"
    assert job.loc["consumer_attached", "line_no"] == 7


def test_consumer_slow_sample_yields_one_slow_job(slow: Frames) -> None:
    found = pa.diagnose.consumer(slow)
    assert [(f.code, f.severity, f.component, f.subject) for f in found] == [
        (Code.CONSUMER_SLOW, Severity.WARNING, "grpc-job", "19-6")
    ]
    f = found[0]
    assert f.summary == (
        "job 19-6: consumer ready 41.1 s after configure (threshold 30 s); "
        "slowest stage: queue declared → consumer attached, 33.0 s"
    )
    assert f.first_seen == pd.Timestamp("2025-11-13T09:42:30Z")
    assert f.last_seen == pd.Timestamp("2025-11-13T09:43:11.087Z")
    assert f.metrics["ready_s"] == pytest.approx(41.087)
    assert f.metrics["pod_s"] == pytest.approx(3.0)
    assert f.metrics["slowest_s"] == pytest.approx(32.982, abs=1e-3)
    assert (f.metrics["slowest_from"], f.metrics["slowest_to"]) == ("queue_declared", "consumer_attached")
    assert [(e.source.rsplit("/", 1)[-1], e.line_no) for e in f.evidence] == [
        ("focus-server.log", 51),
        ("baby-analyzer.log", 3),
        ("baby-analyzer.log", 7),
        ("job_metadata.jsonl", 124),
    ]
    assert 2 <= len(f.next_steps) <= 4
    assert any("grpc-job-19-6-q4w9z" in s and s.startswith("kubectl -n panda logs") for s in f.next_steps)
    assert f.runbook == "runbooks/consumer_delay.md#consumer-slow"
    assert f.title == "Consumer creation slow"


def test_job_19_5_is_slower_than_usual_but_within_thresholds(slow: Frames) -> None:
    # 5.234 s: above the seed's "1-5 s" expectation for the consumer but under 30 s
    assert all(f.subject != "19-5" for f in pa.diagnose.consumer(slow))
    both = pa.diagnose.consumer(slow, consumer_within_s=5.0)
    assert [f.subject for f in both] == ["19-5", "19-6"]
    assert both[0].summary.startswith("job 19-5: consumer ready 5.2 s after configure (threshold 5 s)")
    assert pa.diagnose.consumer(slow, consumer_within_s=45.0) == []


def test_stage_thresholds_flag_one_step(slow: Frames) -> None:
    # 19-5: container started 09:41:15 → Declared queue 09:41:16.102 = 1.102 s
    found = pa.diagnose.consumer(slow, consumer_within_s=60.0, stage_thresholds={"queue_declared": 1.0})
    assert [f.subject for f in found] == ["19-5", "19-6"]
    assert "container started → queue declared 1.1 s (threshold 1 s)" in found[0].summary
    assert "container started → queue declared 2.0 s (threshold 1 s)" in found[1].summary
    with pytest.raises(ValueError, match="unknown stages"):
        pa.diagnose.consumer(slow, stage_thresholds={"consumer_ready": 1.0})


def test_healthy_sample_is_silent() -> None:
    f = pa.samples.healthy().frames()
    assert pa.diagnose.consumer(f) == []
    stages = pa.diagnose.consumer_stages(f).set_index("stage")
    assert stages.loc["metadata_ready", "since_configure_s"] == pytest.approx(4.117)  # 08:55:00 → 08:55:04.117


def test_alert_lost_job_seen_late_is_not_judged_slow() -> None:
    # job 1-3: Job 11:20:31 but snapshots only from 12:05:30, where its queue already has a consumer
    f = pa.samples.alert_lost().frames()
    assert pa.diagnose.consumer(f) == []
    stages = pa.diagnose.consumer_stages(f).set_index("stage")
    assert stages.loc["configure", "source"] == "k8s/jobs.json#/items/0"  # no configure line or polls
    assert bool(stages.loc["consumer_attached", "is_upper_bound"])
    assert not bool(stages.loc["container_started", "is_upper_bound"])


def test_waiting_for_fiber_has_no_jobs() -> None:
    f = pa.samples.waiting_for_fiber().frames()
    assert pa.diagnose.consumer(f) == []
    stages = pa.diagnose.consumer_stages(f)
    assert stages.empty
    assert list(stages.columns)[:3] == ["job_id", "stage", "ts"]


def test_samples_yield_no_pod_or_consumer_missing(sample_bundle: pa.Bundle) -> None:
    codes = {f.code for f in pa.diagnose.consumer(sample_bundle.frames())}
    assert codes <= {Code.CONSUMER_SLOW}


def test_inputs_are_not_mutated(slow: Frames) -> None:
    before = {name: df.copy() for name, df in slow.items()}
    pa.diagnose.consumer(slow)
    for name, df in slow.items():
        pd.testing.assert_frame_equal(df, before[name])


# --------------------------------------------------------------------------- variants


def test_pod_never_created_although_the_job_exists() -> None:
    f = frames(
        45,
        focus=[configure("30-1")],
        jobs=[job("30-1", 0.2, active=0)],
        pods=[other_pod()],
        events=[
            event(
                "grpc-job-30-1",
                "FailedCreate",
                0.5,
                kind="Job",
                type_="Warning",
                message='Error creating: pods "grpc-job-30-1-x" is forbidden: exceeded quota: panda-quota',
            )
        ],
    )
    found = pa.diagnose.consumer(f)
    assert [(x.code, x.severity, x.subject) for x in found] == [(Code.POD_NOT_CREATED, Severity.CRITICAL, "30-1")]
    x = found[0]
    assert x.summary == (
        "job 30-1: no pod 45 s after configure at 2025-11-08 13:20:00 UTC (threshold 10 s); "
        "Job grpc-job-30-1 exists but reports no pod"
    )
    assert [e.source for e in x.evidence] == [FOCUS_LOG, "k8s/jobs.json#/items/0", "k8s/events.json#/items/0"]
    assert "exceeded quota" in x.evidence[-1].text
    assert "kubectl -n panda describe job grpc-job-30-1" in x.next_steps
    assert x.metrics["observed_s"] == 45.0


def test_pod_never_created_with_only_the_configure_line() -> None:
    f = frames(30, focus=[configure("30-2")], pods=[other_pod()])
    found = pa.diagnose.consumer(f)
    assert [x.code for x in found] == [Code.POD_NOT_CREATED]
    assert found[0].summary.endswith("no Kubernetes Job grpc-job-30-2 either")
    assert found[0].metrics["job_exists"] is False


def test_evidence_ending_too_early_is_not_judged() -> None:
    # collected 5 s after configure: too early to say the pod will not come
    assert pa.diagnose.consumer(frames(5, focus=[configure("30-3")], pods=[other_pod()])) == []
    # a running container without consumer, but only 20 s of evidence
    parts = started_job("30-4", "grpc-job-30-4-abcde", pod_s=2, started_s=3)
    assert pa.diagnose.consumer(frames(20, **parts)) == []
    assert [x.code for x in pa.diagnose.consumer(frames(31, **parts))] == [Code.CONSUMER_NOT_CREATED]


def test_without_kubernetes_evidence_a_missing_pod_is_not_claimed() -> None:
    assert pa.diagnose.consumer(frames(600, focus=[configure("30-5")])) == []


def test_pod_created_but_no_consumer() -> None:
    parts = started_job("31-1", "grpc-job-31-1-k2j4m", pod_s=2, started_s=3)
    parts["analyzer"] = [
        analyzer("31-1", "grpc-job-31-1-k2j4m", 3.5, "rabbitmq_connecting", "Connecting to RabbitMQ", 2),
        analyzer("31-1", "grpc-job-31-1-k2j4m", 4.25, "queue_declared", "Declared queue grpc-job-31-1", 3),
    ]
    parts["job_metadata"] = [poll("31-1", s, 404, i + 1) for i, s in enumerate((0.3, 10, 20, 30, 40))]
    found = pa.diagnose.consumer(frames(60, **parts))
    assert [(x.code, x.severity, x.subject) for x in found] == [(Code.CONSUMER_NOT_CREATED, Severity.CRITICAL, "31-1")]
    x = found[0]
    assert x.summary == (
        "job 31-1: no consumer 60 s after configure (threshold 30 s); pod grpc-job-31-1-k2j4m "
        "reached queue declared at +4.2 s, then no consumer attached"
    )
    assert x.metrics["last_stage"] == "queue_declared"
    assert x.evidence[0].text == "Job 31-1 configured, creating k8s job grpc-job-31-1"
    assert x.evidence[-1].text == "Declared queue grpc-job-31-1"
    assert any(s.startswith("kubectl -n panda logs grpc-job-31-1-k2j4m") for s in x.next_steps)
    assert any("rabbitmqctl list_queues" in s and "grpc-job-31-1" in s for s in x.next_steps)


def test_pod_stuck_pending_names_the_missing_stage() -> None:
    f = frames(
        120,
        focus=[configure("31-2")],
        jobs=[job("31-2", 0)],
        pods=[pod("grpc-job-31-2-zz9qp", 1, job_name="grpc-job-31-2", phase="Pending"), other_pod()],
        events=[
            event("grpc-job-31-2-zz9qp", "Scheduled", 1.5, item=1),
            event(
                "grpc-job-31-2-zz9qp",
                "Failed",
                3,
                type_="Warning",
                item=2,
                message='Failed to pull image "registry.example.internal/panda/baby-analyzer:9.9": not found',
            ),
        ],
    )
    found = pa.diagnose.consumer(f)
    assert [x.code for x in found] == [Code.CONSUMER_NOT_CREATED]
    assert found[0].summary.endswith("reached pod scheduled at +1.5 s, then no image pulled")
    assert any("Failed to pull image" in e.text for e in found[0].evidence)


def test_slow_pod_but_fast_consumer() -> None:
    parts = started_job("32-1", "grpc-job-32-1-p0d5x", pod_s=12, started_s=14)
    parts["analyzer"] = [
        analyzer("32-1", "grpc-job-32-1-p0d5x", 15, "queue_declared", "Declared queue grpc-job-32-1", 3),
        analyzer("32-1", "grpc-job-32-1-p0d5x", 16, "consumer_started", "Consumer started on queue grpc-job-32-1", 6),
    ]
    parts["job_metadata"] = [poll("32-1", 0.3, 404, 1), poll("32-1", 16.5, 200, 2)]
    found = pa.diagnose.consumer(frames(60, **parts))
    assert [(x.code, x.severity) for x in found] == [(Code.CONSUMER_SLOW, Severity.WARNING)]
    assert found[0].summary == (
        "job 32-1: pod created 12.0 s after configure (threshold 10 s); consumer ready "
        "16.5 s after configure; slowest stage: Job created → pod created, 12.0 s"
    )
    assert any("get events --field-selector involvedObject.name=grpc-job-32-1-p0d5x" in s for s in found[0].next_steps)
    # the same job within a 15 s pod threshold is fine
    assert pa.diagnose.consumer(frames(60, **parts), pod_within_s=15) == []


def test_pod_matched_only_by_name_pattern() -> None:
    # no Job object, no job-name label, no job_id label: only grpc-job-<job_id>-<suffix>
    parts = started_job("33-1", "grpc-job-33-1-q8w2e", pod_s=2, started_s=3, job_name=None)
    stages = pa.diagnose.consumer_stages(frames(60, **parts))
    pod_stages = stages[stages["stage"].isin(["pod_created", "pod_scheduled", "image_pulled", "container_started"])]
    assert len(pod_stages) == 4
    assert set(pod_stages["matched_by"]) == {"pattern"}
    # grpc-job-33-10-xxxxx and grpc-job-33-1-2-xxxxx belong to other jobs
    other = frames(
        60, focus=[configure("33-1")], pods=[pod("grpc-job-33-10-abcde", 1), pod("grpc-job-33-1-2-abcde", 1, item=1)]
    )
    stages = pa.diagnose.consumer_stages(other)
    assert "pod_created" not in set(stages.loc[stages["job_id"] == "33-1", "stage"].astype(str))


def test_pod_matched_by_job_id_label() -> None:
    parts = started_job("33-2", "baby-analyzer-7x9kq", pod_s=2, started_s=3, labels={"job_id": "33-2"}, job_name=None)
    parts["job_metadata"] = [poll("33-2", 4, 200, 1)]
    f = frames(60, **parts)
    stages = pa.diagnose.consumer_stages(f).set_index("stage")
    assert stages.loc["pod_created", "matched_by"] == "label"
    assert stages.loc["pod_created", "pod"] == "baby-analyzer-7x9kq"
    assert stages.loc["metadata_ready", "since_configure_s"] == 4.0
    assert pa.diagnose.consumer(f) == []


def test_configure_falls_back_to_the_first_metadata_poll() -> None:
    parts = started_job("34-1", "grpc-job-34-1-abcde", pod_s=2, started_s=3)
    parts["focus"] = []
    parts["job_metadata"] = [poll("34-1", 0.5, 404, 1), poll("34-1", 40.5, 200, 2)]
    found = pa.diagnose.consumer(frames(60, **parts))
    assert [x.code for x in found] == [Code.CONSUMER_SLOW]
    assert found[0].first_seen == at(0.5)
    assert found[0].metrics["ready_s"] == 40.0


def test_end_to_end_from_a_bundle_directory(make_bundle) -> None:
    log = (
        "2025-11-08T13:20:00.287112340Z 2025-11-08T13:20:00+0000 INFO pz.focus_server "
        "Job 40-1 configured, creating k8s job grpc-job-40-1\n"
        '2025-11-08T13:20:00.293459430Z INFO:     10.42.0.0:58018 - "POST /configure HTTP/1.1" 200 OK\n'
    )
    pods = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": FOCUS_POD,
                    "namespace": "panda",
                    "creationTimestamp": "2025-11-06T15:19:47Z",
                    "labels": {"app.kubernetes.io/name": "panda-panda-focus-server"},
                },
                "spec": {"containers": [{"name": "focus-server", "image": "focus:1"}]},
                "status": {"phase": "Running"},
            }
        ],
    }
    root = make_bundle({f"logs/panda/{FOCUS_POD}/focus-server.log": log, "k8s/pods.json": pods})
    found = pa.diagnose.consumer(pa.load_bundle(root).frames())  # created_at 13:25:00, 5 min later
    assert [(x.code, x.subject) for x in found] == [(Code.POD_NOT_CREATED, "40-1")]
    assert found[0].evidence[0].line_no == 1
    assert found[0].summary.startswith("job 40-1: no pod 5 min after configure at 2025-11-08 13:20:00 UTC")


def test_stages_filter_by_job_id(slow: Frames) -> None:
    every = pa.diagnose.consumer_stages(slow)
    assert {"19-5", "19-6"} <= set(every["job_id"])
    only = pa.diagnose.consumer_stages(slow, job_id="19-6")
    assert set(only["job_id"]) == {"19-6"}
    pd.testing.assert_frame_equal(only.reset_index(drop=True), every[every["job_id"] == "19-6"].reset_index(drop=True))
    assert pa.diagnose.consumer_stages(slow, job_id="").equals(every)
    assert pa.diagnose.consumer_stages(slow, job_id="99-9").empty
