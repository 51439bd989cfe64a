"""The one-axis timeline: every sample, an empty bundle, and small hand-built frames."""

from __future__ import annotations

import pandas as pd
import pytest

import panda_analysis as pa
from panda_analysis import schema
from panda_analysis.diagnose._timeline import KINDS, SEVERITIES, TIMELINE_COLUMNS
from panda_analysis.findings import Code, Evidence, Finding, Severity
from panda_analysis.schema import Frames

DTYPES = {
    "ts": "datetime64[ns, UTC]",
    "end_ts": "datetime64[ns, UTC]",
    "component": "category",
    "kind": "category",
    "severity": "category",
    "text": "string",
    "count": "Int64",
    "source": "string",
    "line_no": "Int64",
}
FOCUS_POD = "panda-panda-focus-server-78dbcfd9d9-kjj77"
INGRESS_LOG = "logs/kube-system/ingress-nginx-controller-55694fd6ff-rqgp9/controller.log"


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def check_shape(tl: pd.DataFrame) -> None:
    assert tuple(tl.columns) == TIMELINE_COLUMNS
    assert {c: str(tl[c].dtype) for c in tl.columns} == DTYPES
    assert list(tl["kind"].cat.categories) == list(KINDS)
    assert list(tl["severity"].cat.categories) == list(SEVERITIES)
    assert tl["ts"].is_monotonic_increasing


@pytest.fixture(scope="module")
def fiber() -> Frames:
    return pa.samples.waiting_for_fiber().frames()


@pytest.mark.parametrize("name", ["alert_lost", "consumer_slow", "healthy", "waiting_for_fiber"])
def test_every_sample_gives_a_sorted_timeline(name: str) -> None:
    frames = pa.samples.load(name).frames()
    tl = pa.diagnose.timeline(frames, findings=pa.diagnose.run(frames))
    assert len(tl) > 0
    check_shape(tl)
    assert tl["ts"].notna().all()


def test_empty_frames_keep_columns_and_dtypes() -> None:
    tl = pa.diagnose.timeline(Frames())
    assert tl.empty
    check_shape(tl)
    tl = pa.diagnose.timeline(Frames(), findings=[], include_info=False)
    assert tl.empty
    check_shape(tl)


def test_fiber_focus_restart_on_2025_11_07(fiber: Frames) -> None:
    tl = pa.diagnose.timeline(fiber)
    restarts = tl[tl["kind"] == "restart"]
    assert len(restarts) == 1
    r = restarts.iloc[0]
    assert r["ts"] == ts("2025-11-07 09:12:11")  # lastState.terminated.finishedAt
    assert (r["component"], r["severity"]) == ("focus-server", "warning")
    assert r["text"] == (f"focus-server in {FOCUS_POD} terminated: Error, exit code 1 after 32 s (4 restarts so far)")
    assert r["source"] == "k8s/pods.json#/items/0/status/containerStatuses/0"


def test_fiber_503_bursts_one_row_per_minute(fiber: Frames) -> None:
    tl = pa.diagnose.timeline(fiber)
    bursts = tl[tl["kind"] == "http_5xx_burst"]
    # 46 lines `13:18:.. "POST /focus-server/configure ..." 503` and 25 at 13:19 in the ingress log
    assert bursts["count"].tolist() == [46, 25]
    assert bursts["ts"].tolist() == [ts("2025-11-08 13:18:00"), ts("2025-11-08 13:19:00")]
    assert set(bursts["component"]) == {"ingress-nginx"}
    assert set(bursts["severity"]) == {"warning"}
    assert bursts["text"].iloc[0] == (
        "46 × HTTP 503 on POST /focus-server/configure (upstream panda-panda-focus-server-5000) from 2 clients"
    )
    assert bursts["end_ts"].iloc[1] == ts("2025-11-08 13:19:29")
    assert set(bursts["source"]) == {INGRESS_LOG}


def test_fiber_events_errors_and_metadata(fiber: Frames) -> None:
    tl = pa.diagnose.timeline(fiber)
    backoff = tl[(tl["kind"] == "k8s_event") & tl["text"].str.startswith("BackOff")].iloc[0]
    assert (backoff["ts"], backoff["end_ts"], backoff["count"]) == (
        ts("2025-11-07 09:10:36"),
        ts("2025-11-07 09:12:12"),
        3,
    )
    assert (backoff["severity"], backoff["component"]) == ("warning", "focus-server")
    normal = tl[(tl["kind"] == "k8s_event") & (tl["severity"] == "info")]
    assert len(normal) == 3  # Pulled / Created / Started, count 5 each
    assert normal["count"].tolist() == [5, 5, 5]

    errors = tl[tl["kind"] == "error"]
    configure = errors[errors["text"].str.startswith("Cannot configure job")]
    assert configure["count"].tolist() == [46, 25]  # 71 rejected configures, per minute
    assert configure["text"].iloc[0].endswith("(×46 in this minute)")
    startup = errors[errors["ts"] < ts("2025-11-08")]
    assert startup["text"].tolist() == [
        "FocusManager init failed",
        "Traceback (most recent call last):",
        "Application startup failed. Exiting.",
    ]
    nginx = errors[errors["component"] == "ingress-nginx"]
    assert (nginx["source"].item(), nginx["line_no"].item()) == (INGRESS_LOG, 48)

    meta = tl[tl["kind"] == "metadata_state"]
    assert meta["ts"].tolist() == [ts("2025-11-08 13:00:02.118"), ts("2025-11-08 13:24:42.040")]
    assert meta["count"].tolist() == [50, 1]
    assert set(meta["severity"]) == {"warning"}
    assert set(meta["component"]) == {"probe"}
    assert "sw_version 'waiting for fiber'" in meta["text"].iloc[0]


def test_alert_lost_errors_and_findings_on_the_axis() -> None:
    frames = pa.samples.alert_lost().frames()
    findings = pa.diagnose.alerts(frames)
    tl = pa.diagnose.timeline(frames, findings=findings)
    errors = tl[tl["kind"] == "error"]
    assert errors["ts"].tolist() == [ts("2025-11-13 12:10:03.482"), ts("2025-11-13 12:10:05.171234873")]
    assert errors["component"].astype(str).tolist() == ["rabbitmq", "focus-server"]
    assert errors["line_no"].tolist() == [13, 21]
    found = tl[tl["kind"] == "finding"]
    assert len(found) == 1
    row = found.iloc[0]
    assert row["ts"] == ts("2025-11-13 12:10:05")
    assert (row["severity"], row["component"]) == ("critical", "focus-server")
    assert row["text"].startswith("ALERT_NOT_DELIVERED: alert test-sd-124:")
    assert (row["source"], row["line_no"]) == (INGRESS_LOG, 45)  # its first quoted line
    # the finding sorts between the RabbitMQ connection drop and the Focus publish error
    assert tl.index[tl["kind"] == "finding"][0] == errors.index[0] + 1


def test_consumer_slow_queue_appearance_and_consumers() -> None:
    tl = pa.diagnose.timeline(pa.samples.consumer_slow().frames())
    queues = tl[tl["kind"] == "queue_state"]
    assert queues["text"].tolist() == [
        "queue grpc-job-19-5 appeared (0 consumers, 0 messages)",
        "queue grpc-job-19-5: consumers 0 → 1 (1 consumer, 0 messages)",
        "queue grpc-job-19-6 appeared (0 consumers, 0 messages)",
        "queue grpc-job-19-6: consumers 0 → 1 (1 consumer, 0 messages)",
    ]
    assert queues["ts"].tolist() == [
        ts("2025-11-13 09:41:17.016"),
        ts("2025-11-13 09:41:22.058"),
        ts("2025-11-13 09:42:40.058"),
        ts("2025-11-13 09:43:15.053"),
    ]
    assert set(queues["severity"]) == {"info"}


def test_healthy_has_nothing_but_info() -> None:
    frames = pa.samples.healthy().frames()
    tl = pa.diagnose.timeline(frames, findings=pa.diagnose.run(frames))
    assert set(tl["severity"]) == {"info"}
    assert pa.diagnose.timeline(frames, include_info=False).empty


def test_include_info_false_keeps_only_warning_and_critical(fiber: Frames) -> None:
    everything = pa.diagnose.timeline(fiber)
    serious = pa.diagnose.timeline(fiber, include_info=False)
    assert set(serious["severity"]) == {"warning"}
    assert len(serious) == (everything["severity"] != "info").sum()
    check_shape(serious)


def test_waiting_container_pods_text_and_jobs() -> None:
    restarts = schema.RESTARTS.conform(
        [
            {
                "ts": ts("2025-11-08 13:20:00"),
                "source": "k8s/pods.json#/items/0/status/containerStatuses/0",
                "namespace": "panda",
                "pod": "grpc-job-7-1-abcde",
                "container": "baby-analyzer",
                "restart_count": 2,
                "state": "waiting",
                "waiting_reason": "CrashLoopBackOff",
                "waiting_message": "back-off 20s restarting failed container=baby-analyzer",
                "last_reason": "OOMKilled",
                "last_exit_code": 137,
                "last_started_at": ts("2025-11-08 13:19:00"),
                "last_finished_at": ts("2025-11-08 13:19:30"),
            },
            {
                "ts": ts("2025-11-08 13:00:00"),
                "source": "k8s/pods.json#/items/1/status/containerStatuses/0",
                "pod": "panda-panda-segy-recorder-5f7b8c9d6d-p8r2m",
                "container": "segy-recorder",
                "state": "waiting",
                "waiting_reason": "ContainerCreating",
            },
        ]
    )
    pods_text = schema.PODS_TEXT.conform(
        [
            {
                "ts": ts("2025-11-08 13:25:00"),
                "source": "k8s/pods.txt",
                "line_no": 3,
                "pod": "mongodb-7cb5d67cc5-wb7qz",
                "restart_count": 4,
                "last_restart_ago_s": 7200.0,
                "last_restart_at": ts("2025-11-08 11:25:00"),
            },
            {
                "ts": ts("2025-11-08 13:25:00"),
                "source": "k8s/pods.txt",
                "line_no": 4,
                "pod": "grpc-job-7-1-abcde",
                "restart_count": 2,
                "last_restart_ago_s": 60.0,
                "last_restart_at": ts("2025-11-08 13:24:00"),
            },
        ]
    )
    jobs = schema.JOBS.conform(
        [
            {
                "ts": ts("2025-11-08 13:00:00"),
                "source": "k8s/jobs.json#/items/0",
                "job_name": "grpc-job-7-1",
                "condition": "Failed",
                "condition_reason": "BackoffLimitExceeded",
                "completed_at": None,
            },
        ]
    )
    tl = pa.diagnose.timeline(Frames(restarts=restarts, pods_text=pods_text, jobs=jobs))
    check_shape(tl)
    rows = {(r.kind, r.component): r for r in tl.itertuples()}
    oom = rows[("restart", "grpc-job")]
    assert oom.ts == ts("2025-11-08 13:19:30")
    assert oom.text.startswith("baby-analyzer in grpc-job-7-1-abcde terminated: OOMKilled, exit code 137 after 30 s")
    assert rows[("waiting", "grpc-job")].severity == "warning"
    assert "CrashLoopBackOff" in rows[("waiting", "grpc-job")].text
    assert rows[("waiting", "segy-recorder")].severity == "info"
    # the pasted text adds the MongoDB restart, not the analyzer's again (pod status covers it)
    assert rows[("restart", "mongodb")].ts == ts("2025-11-08 11:25:00")
    assert (tl["kind"] == "restart").sum() == 2
    assert rows[("job_state", "grpc-job")].severity == "warning"
    assert "BackoffLimitExceeded" in rows[("job_state", "grpc-job")].text


def test_other_logs_error_lines_and_look_alikes() -> None:
    lines = [
        '{"t":{"$date":"2025-11-08T13:00:01Z"},"s":"E","c":"NETWORK","msg":"Error receiving request from client"}',
        '{"t":{"$date":"2025-11-08T13:00:02Z"},"s":"I","c":"NETWORK","msg":"Connection ended, 0 errors"}',
        "ERROR: could not write recording chunk 17",
        "INFO processed 3 chunks, error_count=0",
    ]
    other = schema.OTHER_LOGS.conform(
        [
            {
                "ts": ts(f"2025-11-08 13:00:0{i + 1}"),
                "source": "logs/panda/mongodb-0/mongodb.log",
                "line_no": i + 1,
                "pod": "mongodb-0",
                "container": "mongodb",
                "message": m,
            }
            for i, m in enumerate(lines)
        ]
    )
    tl = pa.diagnose.timeline(Frames(other_logs=other))
    assert tl["kind"].astype(str).tolist() == ["error", "error"]
    assert tl["line_no"].tolist() == [1, 3]
    assert set(tl["component"]) == {"mongodb"}


def test_queue_disappears_and_loses_its_consumer() -> None:
    def snap(at: str, queue: str, consumers: int, messages: int) -> dict[str, object]:
        return {
            "ts": ts(at),
            "source": "rabbitmq/snapshots.jsonl",
            "line_no": 1,
            "queue": queue,
            "consumer_count": consumers,
            "messages": messages,
        }

    queues = schema.QUEUES.conform(
        [
            snap("2025-11-08 13:00:00", "prisma-210-1000-alerts", 1, 0),
            snap("2025-11-08 13:00:00", "grpc-job-7-1", 1, 0),
            snap("2025-11-08 13:01:00", "prisma-210-1000-alerts", 0, 12),
            snap("2025-11-08 13:01:00", "grpc-job-7-1", 1, 0),
            snap("2025-11-08 13:02:00", "prisma-210-1000-alerts", 0, 30),
        ]
    )
    tl = pa.diagnose.timeline(Frames(queues=queues))
    assert tl["text"].tolist() == [
        "queue prisma-210-1000-alerts: consumers 1 → 0 (0 consumers, 12 messages)",
        "queue grpc-job-7-1 disappeared (last seen 2025-11-08 13:01:00 UTC)",
    ]
    assert tl["severity"].astype(str).tolist() == ["warning", "info"]
    assert tl["ts"].tolist() == [ts("2025-11-08 13:01:00"), ts("2025-11-08 13:02:00")]


def test_metadata_changes_and_failed_probes() -> None:
    def probe(at: str, status: int | None, prr: float | None, error: str | None = None) -> dict[str, object]:
        return {
            "ts": ts(at),
            "source": "http/focus/live_metadata.jsonl",
            "line_no": 1,
            "status": status,
            "prr": prr,
            "dx": 1.0,
            "sw_version": "2.14.1",
            "error": error,
        }

    meta = schema.LIVE_METADATA.conform(
        [
            probe("2025-11-08 13:00:00", 200, 0.0),
            probe("2025-11-08 13:00:30", 200, 0.0),
            probe("2025-11-08 13:01:00", 200, 2000.0),
            probe("2025-11-08 13:01:30", None, None, "ConnectTimeout"),
            probe("2025-11-08 13:02:00", 200, 2000.0),
        ]
    )
    tl = pa.diagnose.timeline(Frames(live_metadata=meta))
    assert tl["ts"].tolist() == [
        ts("2025-11-08 13:00:00"),
        ts("2025-11-08 13:01:00"),
        ts("2025-11-08 13:01:30"),
        ts("2025-11-08 13:02:00"),
        ts("2025-11-08 13:02:00"),
    ]
    assert tl["severity"].astype(str).tolist() == ["warning", "info", "warning", "info", "info"]
    assert tl["count"].tolist() == [2, 1, 1, 1, 1]
    assert tl["end_ts"].iloc[0] == ts("2025-11-08 13:00:30")
    assert "probe failed (ConnectTimeout)" in tl["text"].iloc[2]
    assert tl["text"].iloc[-1].endswith("(last probe)")


def test_focus_access_5xx_when_there_is_no_ingress_log() -> None:
    focus = schema.FOCUS.conform(
        [
            {
                "ts": ts(f"2025-11-08 13:18:{s:02d}"),
                "source": "f.log",
                "line_no": s,
                "kind": "access",
                "level": "info",
                "method": "POST",
                "path": "/configure",
                "route": "/configure",
                "status": 503,
                "client_addr": f"10.42.0.0:{50000 + s}",
            }
            for s in range(0, 60, 3)
        ]
        + [
            {
                "ts": ts("2025-11-08 13:18:01"),
                "source": "f.log",
                "line_no": 100,
                "kind": "access",
                "level": "info",
                "method": "GET",
                "path": "/live_metadata",
                "route": "/live_metadata",
                "status": 200,
            },
        ]
    )
    tl = pa.diagnose.timeline(Frames(focus=focus))
    [row] = tl.itertuples()
    assert (row.kind, row.component, row.count) == ("http_5xx_burst", "focus-server", 20)
    assert row.text == "20 × HTTP 503 on POST /configure from 1 client"


def test_a_single_5xx_is_one_row_and_findings_without_evidence() -> None:
    ingress = schema.INGRESS.conform(
        [
            {
                "ts": ts("2025-11-08 13:18:00"),
                "source": "i.log",
                "line_no": 1,
                "method": "GET",
                "path": "/x",
                "route": "/x",
                "status": 502,
                "remote_addr": "10.0.0.1",
            }
        ]
    )
    finding = Finding(
        code=Code.QUEUE_BACKLOG,
        severity=Severity.WARNING,
        title="t",
        summary="queue grows.",
        component="rabbitmq",
        first_seen=None,
        last_seen=ts("2025-11-08 13:19:00"),
    )
    quoted = Finding(
        code=Code.RETRY_STORM,
        severity=Severity.INFO,
        title="t",
        summary="s.",
        component="ingress-nginx",
        first_seen=ts("2025-11-08 13:17:00"),
        evidence=(Evidence("i.log", 1, ts("2025-11-08 13:18:00"), "x"),),
    )
    tl = pa.diagnose.timeline(Frames(ingress=ingress), findings=[finding, quoted])
    assert tl["kind"].astype(str).tolist() == ["finding", "http_5xx_burst", "finding"]
    assert tl["text"].tolist() == [
        "RETRY_STORM: s.",
        "1 × HTTP 502 on GET /x from 1 client",
        "QUEUE_BACKLOG: queue grows.",
    ]
    assert tl["source"].tolist() == ["i.log", "i.log", "findings"]
    assert pa.diagnose.timeline(Frames(ingress=ingress), findings=[quoted], include_info=False)["kind"].astype(
        str
    ).tolist() == ["http_5xx_burst"]


def test_does_not_mutate_inputs(fiber: Frames) -> None:
    before = {name: df.copy() for name, df in fiber.items()}
    pa.diagnose.timeline(fiber, findings=pa.diagnose.run(fiber))
    for name, df in fiber.items():
        pd.testing.assert_frame_equal(df, before[name])


# --- issue #12: many queues, many errors, IPv6 clients ------------------------------------


def test_many_queues_over_many_snapshots_each_get_their_own_rows() -> None:
    rows = []
    t0 = ts("2025-11-08 13:00:00")
    for k in range(30):  # 30 snapshots, a minute apart
        at = t0 + pd.Timedelta(minutes=k)
        for q in range(400):
            # queue q exists from snapshot q % 10; the odd ones lose their consumer at snapshot 20,
            # every fifth one is deleted at snapshot 25
            if k < q % 10 or (q % 5 == 0 and k >= 25):
                continue
            consumers = 0 if q % 2 and k >= 20 else 1
            rows.append(
                {
                    "ts": at,
                    "source": "rabbitmq/snapshots.jsonl",
                    "line_no": k + 1,
                    "queue": f"grpc-job-40-{q}",
                    "consumer_count": consumers,
                    "messages": 0,
                }
            )
    tl = pa.diagnose.timeline(Frames(queues=schema.QUEUES.conform(rows)))
    said = tl["text"].tolist()
    appeared = [t for t in said if t.endswith("appeared (1 consumer, 0 messages)")]
    assert len(appeared) == 400 - 40  # all but those present in the first snapshot (q % 10 == 0)
    lost = [t for t in said if "consumers 1 → 0" in t]
    assert len(lost) == 200
    assert all(int(t.split()[1].rstrip(":").rsplit("-", 1)[1]) % 2 for t in lost)
    gone = tl[tl["text"].str.contains("disappeared", regex=False)]
    assert len(gone) == 80  # q % 5 == 0, seen last at snapshot 24
    assert set(gone["ts"]) == {t0 + pd.Timedelta(minutes=25)}
    assert not any("reappeared" in t for t in said)


def test_ten_thousand_identical_errors_in_a_minute_are_one_row() -> None:
    t0 = ts("2025-11-08 13:18:00")
    rows = [
        {
            "ts": t0 + pd.Timedelta(milliseconds=5 * i),
            "source": "logs/panda/p/focus-server.log",
            "line_no": i + 1,
            "kind": "record",
            "level": "critical" if i == 7000 else "error",
            "logger": "pz.focus_server",
            "message": f"RabbitMQ publish failed for alert {i}: connection reset",
            "pod": FOCUS_POD,
        }
        for i in range(10_000)
    ]
    tl = pa.diagnose.timeline(Frames(focus=schema.FOCUS.conform(rows)))
    [row] = tl.itertuples()
    assert (row.kind, row.count, row.severity, row.line_no) == ("error", 10_000, "critical", 1)
    assert row.text == "RabbitMQ publish failed for alert 0: connection reset (×10000 in this minute)"
    assert row.end_ts == t0 + pd.Timedelta(milliseconds=5 * 9_999)


def test_focus_access_5xx_counts_ipv6_clients_by_host() -> None:
    focus = schema.FOCUS.conform(
        [
            {
                "ts": ts(f"2025-11-08 13:18:{s:02d}"),
                "source": "f.log",
                "line_no": s,
                "kind": "access",
                "level": "info",
                "method": "POST",
                "path": "/configure",
                "route": "/configure",
                "status": 503,
                "client_addr": addr,
            }
            for s, addr in enumerate(["[fd00::1]:50001", "[fd00::2]:50002", "[fd00::1]:50003", "10.42.0.0:1"])
        ]
    )
    [row] = pa.diagnose.timeline(Frames(focus=focus)).itertuples()
    assert row.text == "4 × HTTP 503 on POST /configure from 3 clients"  # fd00::1, fd00::2, 10.42.0.0
