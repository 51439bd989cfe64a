"""RabbitMQ queues: QUEUE_BACKLOG and QUEUE_ORPHANED from management snapshots.

In the samples every queue ends with a consumer and 0 ready messages (consumer_slow: 12
snapshots 09:41:12-09:43:15, ``grpc-job-19-6`` at 0 consumers from 09:42:40.058 to 09:43:10.040,
30 s, then 1 at 09:43:15.053), so no sample yields a queue finding, except ``queue_backlog``,
built for this rule: 10 snapshots 10:07:00.042-10:13:45.068, 45 s apart; ``prisma-210-1000-alerts``
has 1 consumer in the first, then 0 from 10:07:45.034 (RabbitMQ closed the web app's channel at
10:07:27.965753), ready 0 → 50; ``grpc-job-18-2`` (durable, its Job and pod gone) has 0 consumers
and 37 messages in every snapshot; ``grpc-job-21-4`` (job running) keeps its consumer.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pandas as pd
import pytest

import panda_analysis as pa
from panda_analysis import schema
from panda_analysis.findings import Code, Severity
from panda_analysis.schema import Frames

T0 = pd.Timestamp("2025-11-13T10:00:00Z")
SNAPSHOTS = "rabbitmq/snapshots.jsonl"


def at(seconds: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(seconds=seconds)


def snap(
    queue: str,
    s: float,
    *,
    ready: int,
    consumers: int | None,
    line_no: int,
    unacked: int = 0,
    publish: float | None = None,
    deliver: float | None = None,
    job_id: str | None = None,
    exclusive: bool = False,
    auto_delete: bool = False,
) -> dict[str, Any]:
    return {
        "ts": at(s),
        "source": SNAPSHOTS,
        "line_no": line_no,
        "vhost": "/",
        "queue": queue,
        "job_id": job_id,
        "state": "running",
        "durable": not auto_delete,
        "auto_delete": auto_delete,
        "exclusive": exclusive,
        "messages": ready + unacked,
        "messages_ready": ready,
        "messages_unacknowledged": unacked,
        "consumer_count": consumers,
        "publish_rate": publish,
        "deliver_rate": deliver,
    }


def series(
    queue: str, readies: list[int], *, every_s: float = 60.0, consumers: int | list[int] | None = 1, **kw: Any
) -> list[dict[str, Any]]:
    counts = consumers if isinstance(consumers, list) else [consumers] * len(readies)
    return [
        snap(queue, i * every_s, ready=r, consumers=c, line_no=i + 1, **kw)
        for i, (r, c) in enumerate(zip(readies, counts, strict=True))
    ]


def frames(**parts: list[dict[str, Any]]) -> Frames:
    conformed = {name: schema.FRAMES[name].conform(rows) for name, rows in parts.items()}
    return Frames(**conformed, meta={"created_at": "2025-11-13T10:10:00Z"})


def rabbit_pod() -> dict[str, Any]:
    return {
        "ts": at(-86400),
        "source": "k8s/pods.json#/items/0",
        "namespace": "panda",
        "pod": "rabbitmq-panda-0",
        "phase": "Running",
        "app": "rabbitmq",
        "labels": json.dumps({"app.kubernetes.io/name": "rabbitmq"}),
    }


# --------------------------------------------------------------------------- samples


def test_samples_yield_no_queue_finding(sample_bundle: pa.Bundle) -> None:
    found = pa.diagnose.queues(sample_bundle.frames())
    if sample_bundle.origin == "sample:queue_backlog":  # the one built to have them (tests at the end)
        assert [x.code for x in found] == [Code.QUEUE_ORPHANED, Code.QUEUE_BACKLOG]  # by queue name
    else:
        assert found == []


def test_a_queue_that_gets_its_consumer_later_is_not_orphaned() -> None:
    f = pa.samples.consumer_slow().frames()
    q = f.queues[f.queues["queue"] == "grpc-job-19-6"]
    assert q["consumer_count"].tolist() == [0] * 7 + [1]  # the evidence this test relies on
    assert pa.diagnose.queues(f) == []
    # even with a tiny orphan age: the last snapshot has its consumer
    assert pa.diagnose.queues(f, orphan_min_age_s=1.0) == []
    # cut the bundle before the consumer arrived: 29.982 s at 0 consumers, under 60 s
    early = f.replace(queues=f.queues[f.queues["ts"] < pd.Timestamp("2025-11-13T09:43:15Z")].reset_index(drop=True))
    assert pa.diagnose.queues(early) == []
    orphaned = pa.diagnose.queues(early, orphan_min_age_s=20.0)
    # its Job is active and its pod Running: not orphaned; no messages: no backlog
    assert orphaned == []


# --------------------------------------------------------------------------- backlog


def test_growing_backlog_with_a_slow_consumer() -> None:
    rows = series("prisma-210-1000-alerts", [100, 160, 220, 280], publish=3.0, deliver=2.0)
    found = pa.diagnose.queues(frames(queues=rows, pods=[rabbit_pod()]))
    assert [(x.code, x.severity, x.component, x.subject) for x in found] == [
        (Code.QUEUE_BACKLOG, Severity.WARNING, "rabbitmq", "prisma-210-1000-alerts")
    ]
    x = found[0]
    assert x.summary == (
        "queue prisma-210-1000-alerts: ready messages grew from 100 to 280 in 3 min (60.0/min) "
        "with 1 consumer; time to drain never at the current consumer rate"
    )
    assert x.metrics["growth_per_min"] == 60.0
    assert x.metrics["growth_messages"] == 180
    assert x.metrics["drain_s"] is None
    assert (x.first_seen, x.last_seen) == (at(0), at(180))
    assert [e.line_no for e in x.evidence] == [1, 3, 4]  # first, middle, last
    assert (
        x.evidence[-1].text
        == "queue prisma-210-1000-alerts: 280 ready, 0 unacked, 1 consumers, publish 3/s, deliver 2/s"
    )
    assert x.next_steps[0].startswith("kubectl -n panda exec rabbitmq-panda-0 -- rabbitmqctl list_queues -p / name")


def test_growing_backlog_that_now_drains_gives_a_time_to_drain() -> None:
    rows = series("prisma-210-1000-alerts", [100, 160, 220, 280], publish=1.0, deliver=3.0)
    [x] = pa.diagnose.queues(frames(queues=rows))
    assert x.metrics["drain_s"] == 140.0  # 280 / (3 - 1)
    assert x.summary.endswith("time to drain about 2 min 20 s")


def test_least_squares_slope_not_endpoints() -> None:
    # 0, 90, 30, 60 at minutes 0-3: growth +60; least squares 60 / 5 = 12/min (the endpoints say 20/min)
    [x] = pa.diagnose.queues(frames(queues=series("q", [0, 90, 30, 60])))
    assert x.metrics["growth_per_min"] == pytest.approx(12.0)


def test_small_growth_is_not_a_backlog() -> None:
    assert pa.diagnose.queues(frames(queues=series("q", [100, 103, 105, 109]))) == []
    assert len(pa.diagnose.queues(frames(queues=series("q", [100, 103, 105, 109])), growth_min_messages=5)) == 1


def test_ready_messages_and_no_consumer_is_critical() -> None:
    rows = series("prisma-210-1000-alerts", [50, 50, 50], consumers=[1, 0, 0], publish=0.0, deliver=0.0)
    found = pa.diagnose.queues(frames(queues=rows))
    assert [(x.code, x.severity) for x in found] == [(Code.QUEUE_BACKLOG, Severity.CRITICAL)]
    assert found[0].summary == (
        "queue prisma-210-1000-alerts holds 50 ready messages and has had no consumer for "
        "60 s; it will never drain without a consumer"
    )
    assert found[0].first_seen == at(60)
    assert found[0].metrics["consumers"] == 0


def test_single_snapshot_cannot_show_growth_but_no_consumer_still_counts() -> None:
    assert pa.diagnose.queues(frames(queues=series("q", [500]))) == []  # consumed, growth unknown
    found = pa.diagnose.queues(frames(queues=series("q", [5], consumers=0)))
    assert [(x.code, x.severity) for x in found] == [(Code.QUEUE_BACKLOG, Severity.CRITICAL)]
    assert found[0].summary.startswith("queue q holds 5 ready messages and has had no consumer in the last snapshot")
    # min_snapshots: two snapshots are not enough when three are asked for
    assert pa.diagnose.queues(frames(queues=series("q", [0, 100])), min_snapshots=3) == []
    assert len(pa.diagnose.queues(frames(queues=series("q", [0, 100])))) == 1


def test_steady_or_draining_non_empty_queue_is_not_a_backlog() -> None:
    assert pa.diagnose.queues(frames(queues=series("q", [500, 480, 505, 490], publish=5.0, deliver=5.1))) == []
    assert pa.diagnose.queues(frames(queues=series("q", [500, 400, 300, 200], publish=1.0, deliver=2.7))) == []


def test_empty_queue_without_consumer_is_not_a_backlog() -> None:
    assert pa.diagnose.queues(frames(queues=series("q", [0, 0, 0], consumers=0))) == []


def test_consumer_count_missing_is_taken_from_the_consumers_frame() -> None:
    rows = series("q", [40, 40], consumers=None)
    consumers = [{"ts": at(0), "source": SNAPSHOTS, "line_no": 1, "vhost": "/", "queue": "q", "consumer_tag": "c1"}]
    found = pa.diagnose.queues(frames(queues=rows, consumers=consumers))
    # consumed in the first snapshot, none listed in the last: 40 ready with no consumer
    assert [(x.code, x.severity) for x in found] == [(Code.QUEUE_BACKLOG, Severity.CRITICAL)]


def test_queue_gone_from_the_last_snapshot_is_not_judged() -> None:
    rows = series("old", [50, 50], consumers=0) + series("q", [0, 0, 0])
    assert pa.diagnose.queues(frames(queues=rows)) == []


def test_empty_frames_yield_nothing() -> None:
    assert pa.diagnose.queues(Frames()) == []


# --------------------------------------------------------------------------- orphaned


def completed_job(job_id: str) -> dict[str, Any]:
    return {
        "ts": at(-600),
        "source": "k8s/jobs.json#/items/0",
        "namespace": "panda",
        "job_name": f"grpc-job-{job_id}",
        "job_id": job_id,
        "active": None,
        "succeeded": 1,
        "completed_at": at(-30),
        "condition": "Complete",
    }


def test_orphaned_per_job_queue_whose_job_completed() -> None:
    rows = series("grpc-job-19-4", [12, 12, 12], consumers=0, job_id="19-4", auto_delete=False)
    found = pa.diagnose.queues(frames(queues=rows, jobs=[completed_job("19-4")], pods=[rabbit_pod()]))
    assert [(x.code, x.severity, x.subject) for x in found] == [
        (Code.QUEUE_ORPHANED, Severity.WARNING, "grpc-job-19-4")
    ]
    x = found[0]
    assert x.summary == (
        "per-job queue grpc-job-19-4 has had no consumer for 2 min (since 2025-11-13 10:00:00 UTC) "
        "and holds 12 messages; Job grpc-job-19-4 completed, no pod"
    )
    assert x.metrics["zero_consumers_s"] == 120.0
    assert (x.metrics["job_state"], x.metrics["pod_state"]) == ("completed", "absent")
    assert x.evidence[-1].source == "k8s/jobs.json#/items/0"
    assert x.next_steps[0] == "kubectl -n panda get job grpc-job-19-4 -o wide"
    assert x.runbook == "runbooks/queues.md#orphaned"


def test_orphan_needs_the_minimum_age() -> None:
    rows = series("grpc-job-19-4", [0, 0], every_s=30, consumers=0, job_id="19-4")
    f = frames(queues=rows, jobs=[completed_job("19-4")])
    assert pa.diagnose.queues(f) == []
    assert [x.code for x in pa.diagnose.queues(f, orphan_min_age_s=30.0)] == [Code.QUEUE_ORPHANED]


def test_per_job_queue_of_a_live_job_is_a_backlog_not_an_orphan() -> None:
    rows = series("grpc-job-19-7", [30, 30, 30], consumers=0, job_id="19-7")
    jobs = [
        {
            "ts": at(-60),
            "source": "k8s/jobs.json#/items/0",
            "namespace": "panda",
            "job_name": "grpc-job-19-7",
            "job_id": "19-7",
            "active": 1,
        }
    ]
    pods = [
        {
            "ts": at(-58),
            "source": "k8s/pods.json#/items/1",
            "namespace": "panda",
            "pod": "grpc-job-19-7-ab12c",
            "phase": "Running",
            "job_name": "grpc-job-19-7",
            "job_id": "19-7",
        }
    ]
    found = pa.diagnose.queues(frames(queues=rows, jobs=jobs, pods=pods))
    assert [(x.code, x.severity) for x in found] == [(Code.QUEUE_BACKLOG, Severity.CRITICAL)]
    assert "(Job grpc-job-19-7 active, pod grpc-job-19-7-ab12c Running)" in found[0].summary
    assert any("logs grpc-job-19-7-ab12c" in s for s in found[0].next_steps)


def test_orphaned_per_connection_queue() -> None:
    rows = series("amq.gen-Xk3Jp2sQ", [0, 0, 0], consumers=[1, 0, 0], exclusive=True, auto_delete=True)
    found = pa.diagnose.queues(frames(queues=rows))
    assert [(x.code, x.subject) for x in found] == [(Code.QUEUE_ORPHANED, "amq.gen-Xk3Jp2sQ")]
    assert found[0].summary == (
        "per-connection queue amq.gen-Xk3Jp2sQ has had no consumer for 60 s "
        "(since 2025-11-13 10:01:00 UTC) and holds 0 messages"
    )
    assert pa.diagnose.queues(frames(queues=rows), orphan_min_age_s=61.0) == []


def test_shared_queue_without_consumer_is_never_orphaned() -> None:
    # a durable shared queue with no consumer and nothing in it: nobody to report
    assert pa.diagnose.queues(frames(queues=series("prisma-210-1000-alerts", [0, 0, 0], consumers=0))) == []


def test_end_to_end_from_snapshots_file(make_bundle) -> None:
    lines = []
    for i, ready in enumerate([20, 80, 140]):
        lines.append(
            json.dumps(
                {
                    "at": f"2025-11-13T10:0{i}:00Z",
                    "queues": [
                        {
                            "name": "prisma-210-1000-alerts",
                            "vhost": "/",
                            "messages": ready,
                            "messages_ready": ready,
                            "messages_unacknowledged": 0,
                            "consumers": 1,
                            "message_stats": {"publish_details": {"rate": 2.0}, "deliver_get_details": {"rate": 1.0}},
                        }
                    ],
                }
            )
        )
    root = make_bundle({SNAPSHOTS: "\n".join(lines) + "\n"})
    [x] = pa.diagnose.queues(pa.load_bundle(root).frames())
    assert (x.code, x.severity, x.subject) == (Code.QUEUE_BACKLOG, Severity.WARNING, "prisma-210-1000-alerts")
    assert x.metrics["growth_per_min"] == 60.0
    assert [e.line_no for e in x.evidence] == [1, 2, 3]


# --------------------------------------------------------------------------- the queue_backlog sample


@pytest.fixture(scope="module")
def backlog() -> Frames:
    return pa.samples.queue_backlog().frames()


def test_queue_backlog_sample_yields_the_backlog_and_the_orphan(backlog: Frames) -> None:
    found = pa.diagnose.queues(backlog)  # by queue name
    assert [(x.code, x.severity, x.component, x.subject) for x in found] == [
        (Code.QUEUE_ORPHANED, Severity.WARNING, "rabbitmq", "grpc-job-18-2"),
        (Code.QUEUE_BACKLOG, Severity.CRITICAL, "rabbitmq", "prisma-210-1000-alerts"),
    ]
    # every rule: worst first, and nothing else (no crash loop, no consumer-creation or alert finding)
    assert [(x.code, x.subject) for x in pa.diagnose.run(backlog)] == [(x.code, x.subject) for x in found[::-1]]


def test_queue_backlog_sample_alerts_queue_has_no_consumer_and_grows(backlog: Frames) -> None:
    [x] = [f for f in pa.diagnose.queues(backlog) if f.code == Code.QUEUE_BACKLOG]
    assert x.summary == (
        "queue prisma-210-1000-alerts holds 50 ready messages and has had no consumer for 6 min, "
        "growing 7.7/min (+50 in 6 min 45 s); it will never drain without a consumer"
    )
    m = x.metrics
    assert (m["messages_ready"], m["consumers"], m["snapshots"], m["growth_messages"]) == (50, 0, 10, 50.0)
    assert m["growth_per_min"] == pytest.approx(7.652)
    assert (m["span_s"], m["zero_consumers_s"]) == (405.026, 360.034)
    assert (m["publish_rate"], m["deliver_rate"], m["drain_s"]) == (0.2, 0.0, None)
    # first seen: the first snapshot without a consumer, not the first snapshot
    assert (x.first_seen, x.last_seen) == (
        pd.Timestamp("2025-11-14T10:07:45.034Z"),
        pd.Timestamp("2025-11-14T10:13:45.068Z"),
    )
    assert [(e.line_no, e.text) for e in x.evidence] == [
        (1, "queue prisma-210-1000-alerts: 0 ready, 0 unacked, 1 consumers, publish 0.2/s, deliver 0.2/s"),
        (5, "queue prisma-210-1000-alerts: 20 ready, 0 unacked, 0 consumers, publish 0.2/s, deliver 0/s"),
        (10, "queue prisma-210-1000-alerts: 50 ready, 0 unacked, 0 consumers, publish 0.2/s, deliver 0/s"),
    ]
    assert x.next_steps[-1].endswith("rabbitmqctl list_connections name peer_host state")
    assert x.runbook == "runbooks/queues.md#backlog"


def test_queue_backlog_sample_consumer_loss_matches_the_channel_error(backlog: Frames) -> None:
    # the consumer that disappears is the connection RabbitMQ logged the channel error for, in between
    c = backlog.consumers
    web = c[c["queue"] == "prisma-210-1000-alerts"]
    assert web["ts"].tolist() == [pd.Timestamp("2025-11-14T10:07:00.042Z")]
    log = backlog.rabbitmq_log
    [error] = log[log["level"] == "error"].to_dict("records")
    assert error["connection"] == web["connection"].item() == "10.42.1.9:41766 -> 10.42.0.15:5672"
    assert error["message"].endswith("precondition_failed: unknown delivery tag 509")
    assert pd.Timestamp("2025-11-14T10:07:00.042Z") < error["ts"] < pd.Timestamp("2025-11-14T10:07:45.034Z")
    # no restart anywhere: Kubernetes saw nothing
    assert int(backlog.restarts["restart_count"].sum()) == 0


def test_queue_backlog_sample_orphaned_job_queue(backlog: Frames) -> None:
    [x] = [f for f in pa.diagnose.queues(backlog) if f.code == Code.QUEUE_ORPHANED]
    assert x.summary == (
        "per-job queue grpc-job-18-2 had no consumer in any snapshot (6 min 45 s from 2025-11-14 10:07:00.042 UTC) "
        "and RabbitMQ reports it idle since 2025-11-05 17:42:09.118 UTC, 8 d 16 h before the last snapshot; "
        "it holds 37 messages; no Job grpc-job-18-2, no pod"
    )
    last = backlog.queues.loc[backlog.queues["queue"] == "grpc-job-18-2", "ts"].max()
    idle = (last - pd.Timestamp("2025-11-05T17:42:09.118Z")).total_seconds()
    assert 8 * 86400 < idle < 9 * 86400
    assert x.metrics == {
        "queue": "grpc-job-18-2",
        "vhost": "/",
        "kind": "per-job",
        "zero_consumers_s": 405.026,
        "idle_s": round(idle, 3),
        "messages": 37,
        "messages_ready": 37,
        "job_id": "18-2",
        "job_state": "absent",
        "pod_state": "absent",
    }
    assert x.next_steps[0] == "kubectl -n panda get job grpc-job-18-2 -o wide"
    assert x.runbook == "runbooks/queues.md#orphaned"
    # idle for days by the broker's own clock: a minimum longer than the snapshots still finds it
    assert [f.code for f in pa.diagnose.queues(backlog, orphan_min_age_s=406.0) if f.subject == "grpc-job-18-2"] == [
        Code.QUEUE_ORPHANED
    ]
    # longer than even that: not orphaned (yet), and its 37 messages without a consumer are a backlog
    later = pa.diagnose.queues(backlog, orphan_min_age_s=idle + 1)
    assert [(f.code, f.subject) for f in later] == [
        (Code.QUEUE_BACKLOG, "grpc-job-18-2"),
        (Code.QUEUE_BACKLOG, "prisma-210-1000-alerts"),
    ]


def test_idle_since_counts_only_when_no_snapshot_saw_a_consumer(backlog: Frames) -> None:
    q = backlog.queues.copy()
    first = q["ts"] == q["ts"].min()
    # the orphan had a consumer in the first snapshot: its idle_since says nothing about the time before
    q.loc[first & (q["queue"] == "grpc-job-18-2"), "consumer_count"] = 1
    found = pa.diagnose.queues(dataclasses.replace(backlog, queues=q), orphan_min_age_s=406.0)
    assert "grpc-job-18-2" not in {f.subject for f in found if f.code == Code.QUEUE_ORPHANED}
    # no idle_since reported (older brokers, or a busy queue): the snapshots alone decide
    q = backlog.queues.copy()
    q["idle_since"] = pd.NaT
    [x] = [f for f in pa.diagnose.queues(dataclasses.replace(backlog, queues=q)) if f.code == Code.QUEUE_ORPHANED]
    assert x.metrics["idle_s"] is None
    assert "idle since" not in x.summary


def test_queue_backlog_sample_running_job_queue_is_fine(backlog: Frames) -> None:
    q = backlog.queues[backlog.queues["queue"] == "grpc-job-21-4"]
    assert q["consumer_count"].tolist() == [1] * 10
    assert "grpc-job-21-4" not in {f.subject for f in pa.diagnose.queues(backlog)}


# --------------------------------------------------------------------------- issue #12: many queues, many snapshots


def _busy(problems: list[dict[str, Any]], *, healthy: int, snapshots: int) -> list[dict[str, Any]]:
    """``problems`` rows plus ``healthy`` consumed queues (shared and per-job) in ``snapshots`` snapshots."""
    rows = list(problems)
    for q in range(healthy):
        name, job = (f"grpc-job-30-{q}", f"30-{q}") if q % 2 else (f"prisma-{q}-1000-alerts", None)
        rows += series(name, [q % 5] * snapshots, consumers=1, job_id=job)
    return rows


def _problems(snapshots: int) -> list[dict[str, Any]]:
    """A backlog without consumer, a growing one, a per-job orphan and a per-connection orphan."""
    return [
        *series("prisma-210-1000-alerts-x", [5 * i for i in range(snapshots)], consumers=0),
        *series("work", [20 * i for i in range(snapshots)], consumers=1, publish=1.0, deliver=0.5),
        *series("grpc-job-19-4", [12] * snapshots, consumers=0, job_id="19-4"),
        *series("amq.gen-Xk3Jp2sQ", [0] * snapshots, consumers=[1] + [0] * (snapshots - 1), exclusive=True),
    ]


def test_many_healthy_queues_and_snapshots_change_nothing() -> None:
    # the small twin: the four problem queues alone, in 3 snapshots
    small = pa.diagnose.queues(frames(queues=_problems(3), jobs=[completed_job("19-4")], pods=[rabbit_pod()]))
    assert sorted((x.code, x.subject) for x in small) == [
        (Code.QUEUE_BACKLOG, "prisma-210-1000-alerts-x"),
        (Code.QUEUE_BACKLOG, "work"),
        (Code.QUEUE_ORPHANED, "amq.gen-Xk3Jp2sQ"),
        (Code.QUEUE_ORPHANED, "grpc-job-19-4"),
    ]
    # busy: 600 more queues, half of them per-job queues of running jobs, over 40 snapshots
    jobs = [completed_job("19-4")] + [
        {**completed_job(f"30-{q}"), "condition": None, "completed_at": None, "active": 1} for q in range(1, 600, 2)
    ]
    busy_frames = frames(queues=_busy(_problems(40), healthy=600, snapshots=40), jobs=jobs, pods=[rabbit_pod()])
    busy = pa.diagnose.queues(busy_frames)
    # the same problems, one finding each however many snapshots, in the same (vhost, queue) order
    assert [(x.code, x.severity, x.subject) for x in busy] == [(x.code, x.severity, x.subject) for x in small]
    by_subject = {x.subject: x for x in busy}
    assert by_subject["grpc-job-19-4"].metrics["job_state"] == "completed"
    assert by_subject["work"].metrics["snapshots"] == 40
    assert len(by_subject["work"].evidence) == 3  # first, middle and last snapshot


def test_per_job_owner_found_by_label_or_by_name_among_many_pods() -> None:
    pods = [rabbit_pod()]
    for k in range(400):  # other jobs' pods, one of them spelling a longer id that must not match
        pods.append(
            {
                "ts": at(-50),
                "source": f"k8s/pods.json#/items/{k + 2}",
                "namespace": "panda",
                "pod": f"grpc-job-19-4{k}-ab12c",
                "phase": "Running",
            }
        )
    pods.append(
        {
            "ts": at(-40),
            "source": "k8s/pods.json#/items/900",
            "namespace": "panda",
            "pod": "grpc-job-19-4-zz9x1",
            "phase": "Succeeded",
        }
    )
    rows = series("grpc-job-19-4", [12, 12, 12], consumers=0, job_id="19-4")
    x = pa.diagnose.queues(frames(queues=rows, jobs=[completed_job("19-4")], pods=pods))[0]
    assert x.code is Code.QUEUE_ORPHANED
    assert x.summary.endswith("Job grpc-job-19-4 completed, pod grpc-job-19-4-zz9x1 Succeeded")
    # a pod that is still running keeps its queue a backlog, not an orphan, found by its job_id label
    pods[-1] = {**pods[-1], "pod": "baby-analyzer-q7w2e", "job_id": "19-4", "phase": "Running"}
    x = pa.diagnose.queues(frames(queues=rows, jobs=[completed_job("19-4")], pods=pods))[0]
    assert (x.code, x.severity) == (Code.QUEUE_BACKLOG, Severity.CRITICAL)
    assert "pod baby-analyzer-q7w2e Running" in x.summary
