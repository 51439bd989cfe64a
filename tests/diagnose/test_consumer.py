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

import importlib.util
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import panda_analysis as pa
from panda_analysis import schema
from panda_analysis.cli import main
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


# --------------------------------------------------------------------------- issue #11: cut windows, odd values, scale

SAMPLES = Path(pa.__file__).parent / "samples"


def _sample_doc(sample: str, part: str, keep: Any) -> dict[str, Any]:
    """A Kubernetes List from a sample, keeping the items ``keep(item)`` accepts."""
    doc = json.loads((SAMPLES / sample / part).read_text(encoding="utf-8"))
    return {**doc, "items": [item for item in doc["items"] if keep(item)]}


def _diagnose_json(root: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict[str, Any]], str]:
    status = main(["diagnose", str(root), "--json"])
    out, err = capsys.readouterr()
    return status, json.loads(out), err


def test_a_job_pod_whose_configure_is_outside_the_window(make_bundle, capsys) -> None:
    # `collect --since 2h`: the pod of job 19-5 and its events are listed, but the Focus line
    # "Job 19-5 configured", the metadata polls and the (TTL-deleted) Job are not there. This
    # crashed consumer_stages with "Cannot cast DatetimeArray to dtype float64" (issue #11).
    pod = "grpc-job-19-5-cj8hc"
    root = make_bundle(
        {
            "k8s/pods.json": _sample_doc("consumer_slow", "k8s/pods.json", lambda i: i["metadata"]["name"] == pod),
            "k8s/events.json": _sample_doc(
                "consumer_slow", "k8s/events.json", lambda i: i["involvedObject"]["name"] == pod
            ),
        },
        manifest={"format": "panda-bundle/1", "created_at": "2025-11-13T11:41:00Z", "source": "test"},
    )
    frames = pa.load_bundle(root).frames()
    stages = pa.diagnose.consumer_stages(frames)
    assert list(stages["job_id"].unique()) == ["19-5"]
    assert list(stages["stage"].astype(str)) == ["pod_created", "pod_scheduled", "image_pulled", "container_started"]
    assert stages["since_configure_s"].isna().all()  # nothing to measure from
    assert str(stages["since_configure_s"].dtype) == "float64"
    assert set(stages["matched_by"]) == {"name"}
    assert pa.diagnose.consumer(frames) == []  # not judged without a configure time
    assert Code.ANALYSIS_ERROR not in {f.code for f in pa.diagnose.run(frames)}
    status, found, err = _diagnose_json(root, capsys)
    assert (status, found) == (0, [])
    assert "Traceback" not in err


def test_a_no_kube_bundle_with_only_rabbitmq_snapshots(make_bundle, capsys) -> None:
    # `collect --no-kube --rabbitmq-url ...` on a broker holding per-job queues: no pod, no
    # Focus log, no configure; jobs 18-2 and 21-4 are known only from their queue names
    lines = (SAMPLES / "queue_backlog" / "rabbitmq" / "snapshots.jsonl").read_text(encoding="utf-8").splitlines()
    root = make_bundle(
        {"rabbitmq/snapshots.jsonl": "\n".join(lines[:3]) + "\n"},
        manifest={"format": "panda-bundle/1", "created_at": "2025-11-14T10:15:00Z", "source": "test"},
    )
    frames = pa.load_bundle(root).frames()
    stages = pa.diagnose.consumer_stages(frames)
    assert [(j, str(s)) for j, s in zip(stages["job_id"], stages["stage"], strict=True)] == [
        ("18-2", "queue_declared"),
        ("21-4", "queue_declared"),
        ("21-4", "consumer_attached"),
    ]
    assert stages["is_upper_bound"].all()  # already there in the first snapshot
    assert stages["since_configure_s"].isna().all()
    assert pa.diagnose.consumer(frames) == []
    status, found, err = _diagnose_json(root, capsys)
    assert "Traceback" not in err
    assert status == 1  # QUEUE_BACKLOG is critical
    assert {(f["code"], f["subject"]) for f in found} == {
        ("QUEUE_BACKLOG", "prisma-210-1000-alerts"),
        ("QUEUE_ORPHANED", "grpc-job-18-2"),
    }


def test_a_job_id_only_in_a_queue_name_and_a_pod_without_job() -> None:
    parts = started_job("35-1", "grpc-job-35-1-m4x7t", pod_s=2, started_s=3)
    parts["job_metadata"] = [poll("35-1", 4, 200, 1)]
    parts["pods"].append(pod("panda-panda-segy-recorder-6c9d8f7b5-x2x9k", -3600, item=2))  # no job at all
    parts["queues"] = [
        {"ts": at(10), "source": "rabbitmq/snapshots.jsonl", "line_no": 1, "vhost": "/", "queue": q, "job_id": j}
        | {"messages_ready": 37, "consumer_count": 0}
        for q, j in (("grpc-job-9-1", "9-1"), ("grpc-job-35-1", "35-1"))
    ]
    f = frames(60, **parts)
    stages = pa.diagnose.consumer_stages(f)
    assert set(stages["job_id"]) == {"35-1", "9-1"}
    assert "panda-panda-segy-recorder-6c9d8f7b5-x2x9k" not in set(stages["pod"].dropna())
    orphan = stages[stages["job_id"] == "9-1"]
    assert list(orphan["stage"].astype(str)) == ["queue_declared"]
    assert orphan["since_configure_s"].isna().all()
    assert pa.diagnose.consumer(f) == []  # 35-1 ready in 4 s; 9-1 has no configure to judge from


def test_missing_times_fall_back_or_leave_the_stage_out() -> None:
    # the configure line without a time (NaT): the first timed poll is the configure instead;
    # the pod's PodScheduled time and the Started event are missing: those stages are left out
    parts = started_job("36-1", "grpc-job-36-1-t0m3s", pod_s=2, started_s=3)
    parts["focus"] = [configure("36-1") | {"ts": None}]
    parts["pods"][0]["scheduled_at"] = None
    parts["events"] = [e for e in parts["events"] if e["reason"] != "Scheduled"]
    parts["events"][-1] |= {"ts": None, "first_ts": None, "last_ts": None}
    parts["job_metadata"] = [
        poll("36-1", 0.5, 404, 1) | {"ts": None},
        poll("36-1", 1, 404, 2),
        poll("36-1", 50, 200, 3),
    ]
    f = frames(60, **parts)
    stages = pa.diagnose.consumer_stages(f).set_index("stage")
    assert stages.loc["configure", "line_no"] == 2  # the first poll that has a time
    assert stages.loc["configure", "text"].startswith("first GET /metadata/36-1 poll (404)")
    assert set(stages.index.astype(str)) == {
        "configure",
        "job_created",
        "pod_created",
        "image_pulled",
        "metadata_ready",
    }
    assert stages["ts"].notna().all()
    found = pa.diagnose.consumer(f)
    assert [(x.code, x.subject) for x in found] == [(Code.CONSUMER_SLOW, "36-1")]
    assert found[0].metrics["ready_s"] == 49.0


def test_stages_out_of_order_from_clock_skew() -> None:
    # the pod's creationTimestamp is 0.4 s before the Focus line (node clocks differ): the
    # offset is negative, the step into it counts as 0 s, the summary shows the sign
    parts = started_job("37-1", "grpc-job-37-1-q9z8x", pod_s=-0.4, started_s=2)
    parts["events"] = [e for e in parts["events"] if e["reason"] == "Scheduled"]
    found = pa.diagnose.consumer(frames(60, **parts))
    assert [x.code for x in found] == [Code.CONSUMER_NOT_CREATED]
    assert found[0].summary.endswith("reached pod scheduled at -0.4 s, then no image pulled")
    assert found[0].metrics["last_stage_s"] == pytest.approx(-0.4)
    # a ready consumer whose metadata 200 is stamped before the analyzer's consumer line
    parts = started_job("37-2", "grpc-job-37-2-w1v2b", pod_s=2, started_s=3)
    parts["analyzer"] = [
        analyzer("37-2", "grpc-job-37-2-w1v2b", 4, "queue_declared", "Declared queue grpc-job-37-2", 3),
        analyzer("37-2", "grpc-job-37-2-w1v2b", 45, "consumer_started", "Consumer started on queue grpc-job-37-2", 6),
    ]
    parts["job_metadata"] = [poll("37-2", 44, 200, 1)]
    found = pa.diagnose.consumer(frames(90, **parts))
    assert [x.code for x in found] == [Code.CONSUMER_SLOW]
    assert "slowest stage: queue declared → consumer attached, 41.0 s" in found[0].summary
    assert found[0].metrics["metadata_ready_s"] == 44.0


def test_duplicate_pods_and_events_change_nothing() -> None:
    parts = started_job("38-1", "grpc-job-38-1-d3d3d", pod_s=12, started_s=14)
    parts["job_metadata"] = [poll("38-1", 15, 200, 1)]
    once = pa.diagnose.consumer(frames(60, **parts))
    twice = {k: v + v if k in ("pods", "events") else v for k, v in parts.items()}
    assert pa.diagnose.consumer(frames(60, **twice)) == once
    assert [x.code for x in once] == [Code.CONSUMER_SLOW]


def test_null_texts_and_empty_ids_do_not_crash() -> None:
    parts = started_job("39-1", "grpc-job-39-1-n0n0n", pod_s=2, started_s=3)
    parts["events"].append(event("grpc-job-39-1", "SuccessfulCreate", 1, kind="Job", item=4) | {"message": None})
    parts["job_metadata"] = [poll("39-1", 5, 200, 1) | {"body": None}, poll("", 1, 404, 2)]
    parts["pods"].append(pod("grpc-job--abcde", 1, item=3) | {"labels": None, "owner_kind": None})
    f = frames(60, **parts)
    stages = pa.diagnose.consumer_stages(f)
    assert set(stages["job_id"]) == {"39-1"}  # "" is no job id
    ready = stages[stages["stage"] == "metadata_ready"]
    assert list(ready["text"]) == ["GET /metadata/39-1 → 200"]
    assert pa.diagnose.consumer(f) == []


# --------------------------------------------------------------------------- the benchmark's synthetic platform


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location(
        "rules_bench", Path(__file__).parents[2] / "benchmarks" / "rules_bench.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rules_benchmark_runs_and_judges_each_kind(capsys) -> None:
    bench = _bench()
    result = bench.measure(24)  # two jobs of each kind (the script's default is 2,000)
    assert result["findings"] == {"CONSUMER_NOT_CREATED": 2, "CONSUMER_SLOW": 2, "POD_NOT_CREATED": 2}
    f = bench.synthetic_frames(24)
    found = {x.subject: x for x in pa.diagnose.consumer(f)}
    kinds = {f"{20 + i // 50}-{i % 50}": bench.KINDS[i % len(bench.KINDS)] for i in range(24)}
    assert {kinds[j] for j in found} == {"slow", "no_pod", "no_consumer"}
    assert all(
        (x.code, kinds[x.subject])
        in {(Code.CONSUMER_SLOW, "slow"), (Code.POD_NOT_CREATED, "no_pod"), (Code.CONSUMER_NOT_CREATED, "no_consumer")}
        for x in found.values()
    )
    stages = pa.diagnose.consumer_stages(f)
    by_job = dict(list(stages.groupby("job_id", sort=False)))
    outside = [j for j, k in kinds.items() if k == "outside_window"]
    assert all("configure" not in set(by_job[j]["stage"].astype(str)) for j in outside)
    pattern = next(j for j, k in kinds.items() if k == "pattern_only")
    listed = set(f.pods["pod"].astype(str))
    rows = by_job[pattern].dropna(subset=["matched_by"])  # the pod stages (analyzer lines name a pod too)
    how = {(p in listed, m) for p, m in zip(rows["pod"], rows["matched_by"], strict=True)}
    # its listed pod by the name pattern only; a pod deleted since, named in the Job's event, by name
    assert how == {(True, "pattern"), (False, "name")}
    label = next(j for j, k in kinds.items() if k == "label_only")
    rows = by_job[label].set_index("stage")
    assert rows.loc["pod_created", "matched_by"] == "label"
    assert rows.loc["pod_created", "since_configure_s"] == pytest.approx(-0.4)  # the clock skew
    assert "9-0" in by_job  # the orphaned queue's job id
    assert bench.main(["--jobs", "12"]) == 0
    out = capsys.readouterr().out
    assert "consumer rule:" in out
    assert "findings: CONSUMER_NOT_CREATED 1, CONSUMER_SLOW 1, POD_NOT_CREATED 1" in out
