"""Crash-loop rule: restart history per container and the cause from its previous log."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

import panda_analysis as pa
from panda_analysis import schema
from panda_analysis.diagnose import crashloop
from panda_analysis.findings import Code, Severity
from panda_analysis.schema import Frames

NS = "panda"
POD = "worker-5d9c7b8f6d-abcde"
CTR = "worker"
COLLECTED = "2025-11-08T13:25:00Z"


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)


# ----------------------------------------------------------------------------- bundle builders


def container_status(
    *,
    name: str = CTR,
    restarts: int = 3,
    state: dict[str, Any] | None = None,
    last: dict[str, Any] | None = None,
    ready: bool = True,
) -> dict[str, Any]:
    cs: dict[str, Any] = {
        "name": name,
        "image": f"registry.example.internal/panda/{name}:1.0",
        "imageID": "",
        "ready": ready,
        "restartCount": restarts,
        "state": state if state is not None else {"running": {"startedAt": "2025-11-07T09:12:52Z"}},
    }
    if last is not None:
        cs["lastState"] = {"terminated": last}
    return cs


def pod_list(*statuses: dict[str, Any], pod: str = POD, ns: str = NS) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PodList",
        "items": [
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": pod, "namespace": ns, "creationTimestamp": "2025-11-06T15:19:47Z"},
                "spec": {"containers": [{"name": s["name"], "image": s["image"]} for s in statuses]},
                "status": {"phase": "Running", "containerStatuses": list(statuses)},
            }
        ],
    }


def event(reason: str, message: str, first: str, last: str, *, count: int = 1, kind: str = "Normal") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{POD}.{reason.lower()}", "namespace": NS},
        "involvedObject": {"kind": "Pod", "name": POD, "namespace": NS, "fieldPath": f"spec.containers{{{CTR}}}"},
        "reason": reason,
        "message": message,
        "type": kind,
        "count": count,
        "firstTimestamp": first,
        "lastTimestamp": last,
        "source": {"component": "kubelet", "host": "staging-node-2"},
    }


def event_list(*events: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "EventList", "items": list(events)}


def mongodb_service(*, ready: int | None = 1) -> dict[str, dict[str, Any]]:
    """k8s/services.json with `mongodb`, and endpoints.json with `ready` ready addresses (None: no object)."""
    services = {
        "apiVersion": "v1",
        "kind": "ServiceList",
        "items": [
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "mongodb", "namespace": NS, "creationTimestamp": "2025-11-02T13:19:07Z"},
                "spec": {
                    "type": "ClusterIP",
                    "clusterIP": "10.43.27.17",
                    "ports": [{"name": "mongodb", "port": 27017, "protocol": "TCP"}],
                    "selector": {"app.kubernetes.io/name": "mongodb"},
                },
            }
        ],
    }
    items = []
    if ready is not None:
        subset: dict[str, Any] = {"ports": [{"name": "mongodb", "port": 27017, "protocol": "TCP"}]}
        if ready:
            subset["addresses"] = [{"ip": f"10.42.2.{11 + i}"} for i in range(ready)]
        else:
            subset["notReadyAddresses"] = [{"ip": "10.42.2.11"}]
        items.append(
            {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {"name": "mongodb", "namespace": NS, "creationTimestamp": "2025-11-01T12:16:05Z"},
                "subsets": [subset],
            }
        )
    return {
        "k8s/services.json": services,
        "k8s/endpoints.json": {"apiVersion": "v1", "kind": "EndpointsList", "items": items},
    }


def kubelet(lines: list[str], start: str = "2025-11-07T09:12:00Z") -> str:
    """Prefix raw lines with increasing kubelet timestamps (as `kubectl logs --timestamps`)."""
    t0 = pd.Timestamp(start)
    return "".join(
        f"{(t0 + pd.Timedelta(milliseconds=10 * i)).strftime('%Y-%m-%dT%H:%M:%S.%f')}000Z {line}\n"
        for i, line in enumerate(lines)
    )


EXITED_1 = {"exitCode": 1, "reason": "Error", "startedAt": "2025-11-07T09:11:39Z", "finishedAt": "2025-11-07T09:12:11Z"}


def frames_of(make_bundle, files: dict[str, Any], **kw: Any) -> Frames:
    return pa.load_bundle(make_bundle(files, **kw)).frames()


def only(findings: list[pa.Finding]) -> pa.Finding:
    assert len(findings) == 1, [f.summary for f in findings]
    return findings[0]


def previous(container: str = CTR, pod: str = POD) -> str:
    return f"logs/{NS}/{pod}/{container}.previous.log"


# ----------------------------------------------------------------------------- the samples


@pytest.fixture(scope="module")
def fiber_frames() -> Frames:
    return pa.samples.waiting_for_fiber().frames()


def test_sample_waiting_for_fiber_is_dns(fiber_frames: Frames) -> None:
    f = only(crashloop(fiber_frames))
    assert f.code is Code.CRASHLOOP_DNS
    # Running and ready since 2025-11-07 09:12:52, collected 2025-11-08 13:25: stable → warning
    assert f.severity is Severity.WARNING
    assert f.component == "focus-server"
    assert f.subject == "panda/panda-panda-focus-server-78dbcfd9d9-kjj77/focus-server"
    assert f.runbook == "runbooks/crashloop.md#dns"
    m = f.metrics
    # pods.json: restartCount 4, lastState.terminated Error / exit 1, 09:11:39 → 09:12:11
    assert m["restart_count"] == 4
    assert m["last_exit_code"] == 1
    assert m["last_reason"] == "Error"
    assert m["last_started_at"] == ts("2025-11-07T09:11:39Z")
    assert m["last_finished_at"] == ts("2025-11-07T09:12:11Z")
    assert m["run_s"] == 32.0
    assert m["state"] == "running"
    # events.json: BackOff count 3 from 09:10:36 to 09:12:12 → (96 s) / 2 = 48 s apart
    assert m["backoff_events"] == 3
    assert m["backoff_first"] == ts("2025-11-07T09:10:36Z")
    assert m["backoff_last"] == ts("2025-11-07T09:12:12Z")
    assert m["mean_backoff_interval_s"] == 48.0
    # previous log: ServerSelectionTimeoutError: mongodb:27017: [Errno -3] ... in FocusManager init
    assert m["cause"] == "[Errno -3] Temporary failure in name resolution"
    assert (m["host"], m["port"]) == ("mongodb", 27017)
    assert m["step"] == "FocusManager init"
    # endpoints.json: mongodb has 1 ready address (10.42.2.11), a snapshot at collection time
    assert m["service"] == "mongodb"
    assert m["endpoints_ready"] == 1
    assert m["endpoints_at"] == ts(COLLECTED)
    # restarted container started 2025-11-07 09:12:52 → 28 h 12 min 8 s before collection
    assert m["last_restart_at"] == ts("2025-11-07T09:12:52Z")
    assert m["last_restart_age_s"] == 28 * 3600 + 12 * 60 + 8
    # CoreDNS pod started 09:12:30, 19 s after the last crash (09:12:11)
    assert m["dns_pod_started_at"] == ts("2025-11-07T09:12:30Z")
    assert f.first_seen == ts("2025-11-07T09:10:36Z")
    assert f.last_seen == ts("2025-11-07T09:12:52Z")


def test_sample_summary_names_the_numbers(fiber_frames: Frames) -> None:
    f = only(crashloop(fiber_frames))
    s = f.summary
    assert s.startswith("panda-panda-focus-server-78dbcfd9d9-kjj77/focus-server restarted 4 times")
    assert "3 BackOff events about 48 s apart" in s
    assert "last exited 2025-11-07 09:12:11 UTC (28 h 12 min before collection; exit 1 Error)" in s
    assert "`[Errno -3] Temporary failure in name resolution` for mongodb:27017 during FocusManager init" in s
    assert "service mongodb had 1 ready endpoint at collection time 2025-11-08 13:25:00 UTC" in s
    assert "not the state at crash time" in s
    assert "coredns-ccb96694c-7xk2p started at 2025-11-07 09:12:30 UTC, 19 s after the last crash" in s
    assert s.endswith(".")
    assert s.count(". ") == 0  # one sentence


def test_sample_evidence_is_quoted(fiber_frames: Frames) -> None:
    f = only(crashloop(fiber_frames))
    assert 1 <= len(f.evidence) <= 5
    where = [e.where for e in f.evidence]
    prev = "logs/panda/panda-panda-focus-server-78dbcfd9d9-kjj77/focus-server.previous.log"
    assert where[0] == "k8s/pods.json#/items/0/status/containerStatuses/0"
    assert "k8s/events.json#/items/3" in where  # the BackOff event
    assert f"{prev}:5" in where  # "ERROR pz.focus_server FocusManager init failed" + its exception
    assert "k8s/endpoints.json#/items/1" in where
    cause = next(e for e in f.evidence if e.where == f"{prev}:5")
    assert cause.text.startswith("FocusManager init failed | pymongo.errors.ServerSelectionTimeoutError: mongodb:27017")
    assert cause.ts == ts("2025-11-07T09:12:09Z")
    assert "restartCount 4" in f.evidence[0].text
    assert "exitCode 1" in f.evidence[0].text


def test_sample_next_steps_use_real_names(fiber_frames: Frames) -> None:
    f = only(crashloop(fiber_frames))
    assert 2 <= len(f.next_steps) <= 4
    text = "\n".join(f.next_steps)
    assert "nslookup mongodb" in text
    assert "kubectl -n panda get service,endpoints mongodb" in text
    assert "kubectl -n panda logs panda-panda-focus-server-78dbcfd9d9-kjj77 -c focus-server --previous" in text


def test_sample_metrics_are_json_friendly(fiber_frames: Frames) -> None:
    import json

    d = only(crashloop(fiber_frames)).to_dict()
    json.dumps(d)
    assert d["metrics"]["last_finished_at"] == "2025-11-07T09:12:11Z"


@pytest.mark.parametrize("name", ["healthy", "consumer_slow", "alert_lost"])
def test_other_samples_are_silent(name: str) -> None:
    assert crashloop(pa.samples.load(name).frames()) == []


def test_thresholds(fiber_frames: Frames) -> None:
    assert crashloop(fiber_frames, min_restarts=5) == []
    assert only(crashloop(fiber_frames, min_restarts=4)).metrics["restart_count"] == 4
    # a window longer than the 28 h since the last restart makes it critical
    assert only(crashloop(fiber_frames, recent_s=2 * 86400)).severity is Severity.CRITICAL
    # the DNS pod note has its own window: 19 s after the last crash is outside 10 s
    f = only(crashloop(fiber_frames, dns_window_s=10))
    assert f.metrics["dns_pod_started_at"] is None
    assert "coredns" not in f.summary


def test_empty_frames_yield_nothing() -> None:
    assert crashloop(Frames()) == []


def test_inputs_not_mutated(fiber_frames: Frames) -> None:
    before = {name: df.copy() for name, df in fiber_frames.items()}
    crashloop(fiber_frames)
    for name, df in fiber_frames.items():
        pd.testing.assert_frame_equal(df, before[name])


# ----------------------------------------------------------------------------- DNS variants

PY_TRACEBACK = [
    "Traceback (most recent call last):",
    '  File "/app/worker/main.py", line 12, in <module>',
    "    client = Store(settings)",
    '  File "/app/worker/store.py", line 30, in __init__',
    "    self.conn = connect(settings.url)",
]


@pytest.mark.parametrize(
    ("last_lines", "quote", "host", "port"),
    [
        pytest.param(
            [
                *PY_TRACEBACK,
                "redis.exceptions.ConnectionError: Error -2 connecting to redis-master:6379. Name or service not known.",
            ],
            "Name or service not known",
            "redis-master",
            6379,
            id="errno-2",
        ),
        pytest.param(
            [*PY_TRACEBACK, "socket.gaierror: [Errno -2] Name or service not known"],
            "[Errno -2] Name or service not known",
            None,
            None,
            id="gaierror",
        ),
        pytest.param(
            [*PY_TRACEBACK, "socket.gaierror: [Errno -3] Try again"],
            "socket.gaierror: [Errno -3] Try again",
            None,
            None,
            id="gaierror-musl",
        ),
        pytest.param(
            ["FATAL could not connect to mongodb.panda.svc.cluster.local:27017: NXDOMAIN"],
            "NXDOMAIN",
            "mongodb.panda.svc.cluster.local",
            27017,
            id="nxdomain",
        ),
        pytest.param(
            [
                "2025/11/07 09:12:09 connecting to mongodb:27017",
                "2025/11/07 09:12:10 failed to connect to mongodb:27017: dial tcp: lookup mongodb on 10.43.0.10:53: no such host",
            ],
            "lookup mongodb on 10.43.0.10:53: no such host",
            "mongodb",
            27017,
            id="go-no-such-host",
        ),
    ],
)
def test_dns_variants(make_bundle, last_lines: list[str], quote: str, host: str | None, port: int | None) -> None:
    log = kubelet(["starting worker 1.0", *last_lines])
    frames = frames_of(make_bundle, {"k8s/pods.json": pod_list(container_status(last=EXITED_1)), previous(): log})
    f = only(crashloop(frames))
    assert f.code is Code.CRASHLOOP_DNS
    assert f.metrics["cause"] == quote
    assert (f.metrics["host"], f.metrics["port"]) == (host, port)
    assert f"`{quote}`" in f.summary
    assert f.subject == f"{NS}/{POD}/{CTR}"
    # the cause line is quoted with its line number in the previous log
    assert any(e.source == previous() and e.line_no == len(last_lines) + 1 for e in f.evidence)


def test_dns_step_from_traceback_init_frame(make_bundle) -> None:
    log = kubelet([*PY_TRACEBACK, "socket.gaierror: [Errno -2] Name or service not known"])
    frames = frames_of(make_bundle, {"k8s/pods.json": pod_list(container_status(last=EXITED_1)), previous(): log})
    assert only(crashloop(frames)).metrics["step"] == "Store init"


def test_dns_fqdn_target_checked_against_endpoints(make_bundle) -> None:
    log = kubelet(["FATAL could not connect to mongodb.panda.svc.cluster.local:27017: NXDOMAIN during database setup"])
    frames = frames_of(
        make_bundle,
        {"k8s/pods.json": pod_list(container_status(last=EXITED_1)), previous(): log, **mongodb_service(ready=2)},
    )
    f = only(crashloop(frames))
    assert f.metrics["service"] == "mongodb"
    assert f.metrics["endpoints_ready"] == 2
    assert f.metrics["step"] == "database setup"
    assert "service mongodb had 2 ready endpoints at collection time 2025-11-08 13:25:00 UTC" in f.summary


def test_dns_target_without_service(make_bundle) -> None:
    log = kubelet(["failed to connect to mongodb:27017: dial tcp: lookup mongodb on 10.43.0.10:53: no such host"])
    files = {"k8s/pods.json": pod_list(container_status(last=EXITED_1)), previous(): log, **mongodb_service(ready=1)}
    files["k8s/services.json"] = {
        "apiVersion": "v1",
        "kind": "ServiceList",
        "items": [
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "rabbitmq-panda", "namespace": NS},
                "spec": {"type": "ClusterIP", "clusterIP": "10.43.56.72", "ports": [{"port": 5672}]},
            },
        ],
    }
    files["k8s/endpoints.json"] = {"apiVersion": "v1", "kind": "EndpointsList", "items": []}
    f = only(crashloop(frames_of(make_bundle, files)))
    assert f.code is Code.CRASHLOOP_DNS
    assert f.metrics["endpoints_ready"] == 0
    assert "no Service named mongodb in namespace panda at collection time" in f.summary


def test_dns_from_termination_message_without_previous_log(make_bundle) -> None:
    last = {
        **EXITED_1,
        "message": "pymongo.errors.ServerSelectionTimeoutError: mongodb:27017: [Errno -3] Temporary failure in name resolution",
    }
    frames = frames_of(make_bundle, {"k8s/pods.json": pod_list(container_status(last=last))})
    f = only(crashloop(frames))
    assert f.code is Code.CRASHLOOP_DNS
    assert (f.metrics["host"], f.metrics["port"]) == ("mongodb", 27017)
    assert "its termination message says `[Errno -3] Temporary failure in name resolution`" in f.summary


# ----------------------------------------------------------------------------- unreachable

FOCUS_POD = "panda-panda-focus-server-78dbcfd9d9-zz9zz"


def focus_crash(exception: str) -> str:
    return (
        "2025-11-07T09:11:39+0000 INFO pz.focus_server Connecting to MongoDB at mongodb:27017\n"
        "2025-11-07T09:12:09+0000 ERROR pz.focus_server FocusManager init failed\n"
        "Traceback (most recent call last):\n"
        '  File "/app/pz/microservices/focus_server/focus_manager.py", line 74, in __init__\n'
        '    self._db.client.admin.command("ping")\n'
        f"{exception}\n"
        "ERROR:    Application startup failed. Exiting.\n"
    )


@pytest.mark.parametrize(
    ("exception", "quote"),
    [
        pytest.param(
            "pymongo.errors.ServerSelectionTimeoutError: mongodb:27017: [Errno 111] Connection refused, Timeout: 30s",
            "[Errno 111] Connection refused",
            id="refused",
        ),
        pytest.param(
            "pymongo.errors.ServerSelectionTimeoutError: mongodb:27017: timed out, Timeout: 30s, Topology Description: "
            "<TopologyDescription servers: [<ServerDescription ('mongodb', 27017) server_type: Unknown>]>",
            "timed out",
            id="timeout",
        ),
        pytest.param(
            "pymongo.errors.ServerSelectionTimeoutError: No replica set members found yet, Timeout: 30s "
            "servers: [<ServerDescription ('mongodb', 27017) server_type: Unknown>]",
            "No replica set members found yet",
            id="no-primary",
        ),
    ],
)
def test_unreachable_variants(make_bundle, exception: str, quote: str) -> None:
    files = {
        "k8s/pods.json": pod_list(container_status(name="focus-server", restarts=2, last=EXITED_1), pod=FOCUS_POD),
        f"logs/{NS}/{FOCUS_POD}/focus-server.previous.log": focus_crash(exception),
        **mongodb_service(ready=0),
    }
    f = only(crashloop(frames_of(make_bundle, files)))
    assert f.code is Code.CRASHLOOP_DB_UNREACHABLE
    assert f.runbook == "runbooks/crashloop.md#database-unreachable"
    assert f.metrics["cause"] == quote
    assert (f.metrics["host"], f.metrics["port"]) == ("mongodb", 27017)
    assert f.metrics["step"] == "FocusManager init"
    assert f.metrics["endpoints_ready"] == 0
    assert "service mongodb had 0 ready endpoints at collection time" in f.summary
    steps = "\n".join(f.next_steps)
    assert "nc -zv -w 3 mongodb 27017" in steps
    assert "-l app.kubernetes.io/name=mongodb" in steps


def test_pymongo_timeout_with_dns_message_is_dns(make_bundle) -> None:
    exception = (
        "pymongo.errors.ServerSelectionTimeoutError: mongodb:27017: [Errno -3] Temporary failure in name resolution, "
        "Timeout: 30s"
    )
    files = {
        "k8s/pods.json": pod_list(container_status(name="focus-server", last=EXITED_1), pod=FOCUS_POD),
        f"logs/{NS}/{FOCUS_POD}/focus-server.previous.log": focus_crash(exception),
    }
    assert only(crashloop(frames_of(make_bundle, files))).code is Code.CRASHLOOP_DNS


# ----------------------------------------------------------------------------- OOM and exit 137

OOM_LAST = {
    "exitCode": 137,
    "reason": "OOMKilled",
    "startedAt": "2025-11-08T12:40:00Z",
    "finishedAt": "2025-11-08T13:10:00Z",
}
RUNNING_SINCE_1310 = {"running": {"startedAt": "2025-11-08T13:10:15Z"}}
KILLED_LAST = {
    "exitCode": 137,
    "reason": "Error",
    "startedAt": "2025-11-08T12:40:00Z",
    "finishedAt": "2025-11-08T13:10:00Z",
}


def test_oomkilled_beats_an_earlier_dns_error(make_bundle) -> None:
    log = kubelet(
        [
            "ERROR connect failed: [Errno -3] Temporary failure in name resolution, retrying",
            "INFO connected to mongodb:27017",
            "INFO processing batch 1",
            "INFO processing batch 2",
        ],
        start="2025-11-08T12:40:00Z",
    )
    frames = frames_of(
        make_bundle,
        {
            "k8s/pods.json": pod_list(container_status(restarts=2, state=RUNNING_SINCE_1310, last=OOM_LAST)),
            previous(): log,
        },
    )
    f = only(crashloop(frames))
    assert f.code is Code.CRASHLOOP_OOM
    assert f.metrics["last_exit_code"] == 137
    assert f.metrics["last_reason"] == "OOMKilled"
    assert f.metrics["host"] is None
    # last exit 13:10 is 15 min before collection → recent → critical
    assert f.severity is Severity.CRITICAL
    assert "exit 137 OOMKilled" in f.summary
    assert "killed it for memory (OOMKilled)" in f.summary


def test_oomkilled_from_status_only(make_bundle) -> None:
    frames = frames_of(
        make_bundle, {"k8s/pods.json": pod_list(container_status(restarts=1, state=RUNNING_SINCE_1310, last=OOM_LAST))}
    )
    f = only(crashloop(frames))
    assert f.code is Code.CRASHLOOP_OOM
    assert f.metrics["has_previous_log"] is False
    assert "top pod worker-5d9c7b8f6d-abcde --containers" in "\n".join(f.next_steps)


def test_exit_137_without_oom_is_other(make_bundle) -> None:
    log = kubelet(["INFO processing batch 1", "INFO processing batch 2"], start="2025-11-08T12:40:00Z")
    killing = event(
        "Killing",
        "Container worker failed liveness probe, will be restarted",
        "2025-11-08T13:09:30Z",
        "2025-11-08T13:09:30Z",
    )
    files = {
        "k8s/pods.json": pod_list(container_status(restarts=1, state=RUNNING_SINCE_1310, last=KILLED_LAST)),
        "k8s/events.json": event_list(killing),
        previous(): log,
    }
    f = only(crashloop(frames_of(make_bundle, files)))
    assert f.code is Code.CRASHLOOP_OTHER
    assert "exit 137 Error; SIGKILL, not OOMKilled" in f.summary
    assert "its previous log shows no error" in f.summary
    assert any("failed liveness probe" in e.text for e in f.evidence)


def test_exit_137_with_oom_event_is_oom(make_bundle) -> None:
    oom = event(
        "OOMKilling",
        "Memory cgroup out of memory: Killed process 4242 (python)",
        "2025-11-08T13:10:00Z",
        "2025-11-08T13:10:00Z",
        kind="Warning",
    )
    files = {
        "k8s/pods.json": pod_list(container_status(restarts=1, state=RUNNING_SINCE_1310, last=KILLED_LAST)),
        "k8s/events.json": event_list(oom),
    }
    f = only(crashloop(frames_of(make_bundle, files)))
    assert f.code is Code.CRASHLOOP_OOM
    assert "exit 137 with an OOM event" in f.summary


# ----------------------------------------------------------------------------- other


def test_other_keyerror_exit_2(make_bundle) -> None:
    log = kubelet(
        [
            "INFO starting worker 1.0",
            "Traceback (most recent call last):",
            '  File "/app/worker/main.py", line 8, in <module>',
            '    url = os.environ["MONGO_URI"]',
            "KeyError: 'MONGO_URI'",
        ]
    )
    last = {"exitCode": 2, "reason": "Error", "startedAt": "2025-11-07T09:11:39Z", "finishedAt": "2025-11-07T09:11:40Z"}
    frames = frames_of(make_bundle, {"k8s/pods.json": pod_list(container_status(last=last)), previous(): log})
    f = only(crashloop(frames))
    assert f.code is Code.CRASHLOOP_OTHER
    assert f.runbook == "runbooks/crashloop.md#other"
    assert f.metrics["last_exit_code"] == 2
    assert "exit 2 Error" in f.summary
    assert "its previous log ends in `KeyError: 'MONGO_URI'`" in f.summary
    assert any(e.line_no == 5 and e.text == "KeyError: 'MONGO_URI'" for e in f.evidence)


def test_other_when_dns_error_was_recovered_before_a_later_exception(make_bundle) -> None:
    log = kubelet(
        [
            "ERROR connect failed: [Errno -3] Temporary failure in name resolution, retrying in 2 s",
            "INFO connected to mongodb:27017",
            "Traceback (most recent call last):",
            '  File "/app/worker/main.py", line 40, in <module>',
            "ValueError: bad chunk header",
        ]
    )
    frames = frames_of(make_bundle, {"k8s/pods.json": pod_list(container_status(last=EXITED_1)), previous(): log})
    f = only(crashloop(frames))
    assert f.code is Code.CRASHLOOP_OTHER
    assert f.metrics["cause"] == "ValueError: bad chunk header"


def test_no_previous_log_is_other(make_bundle) -> None:
    frames = frames_of(make_bundle, {"k8s/pods.json": pod_list(container_status(last=EXITED_1))})
    f = only(crashloop(frames))
    assert f.code is Code.CRASHLOOP_OTHER
    assert "no previous log in the bundle" in f.summary
    assert f.metrics["has_previous_log"] is False
    assert f.evidence[0].source == "k8s/pods.json#/items/0/status/containerStatuses/0"


# ----------------------------------------------------------------------------- severity


def test_crashloopbackoff_now_is_critical(make_bundle) -> None:
    waiting = {
        "waiting": {
            "reason": "CrashLoopBackOff",
            "message": f"back-off 5m0s restarting failed container={CTR} pod={POD}_{NS}(uid)",
        }
    }
    backoff = event(
        "BackOff",
        f"Back-off restarting failed container {CTR} in pod {POD}_{NS}(uid)",
        "2025-11-08T12:00:00Z",
        "2025-11-08T12:40:00Z",
        count=9,
        kind="Warning",
    )
    # last crash 12:30, collected 13:25: 55 min — but waiting in CrashLoopBackOff is critical anyway
    last = {"exitCode": 1, "reason": "Error", "startedAt": "2025-11-08T12:29:50Z", "finishedAt": "2025-11-08T12:30:00Z"}
    files = {
        "k8s/pods.json": pod_list(container_status(restarts=12, state=waiting, last=last, ready=False)),
        "k8s/events.json": event_list(backoff),
    }
    f = only(crashloop(frames_of(make_bundle, files), recent_s=60))
    assert f.severity is Severity.CRITICAL
    assert f.metrics["waiting_reason"] == "CrashLoopBackOff"
    assert f.metrics["backoff_events"] == 9
    assert f.metrics["mean_backoff_interval_s"] == 300.0  # 40 min / 8
    assert "now waiting in CrashLoopBackOff" in f.summary
    assert "restarted 12 times (9 BackOff events about 5 min apart)" in f.summary


def test_old_restarts_running_now_are_warning(make_bundle) -> None:
    frames = frames_of(make_bundle, {"k8s/pods.json": pod_list(container_status(last=EXITED_1))})
    assert only(crashloop(frames)).severity is Severity.WARNING


def test_recent_restart_is_critical(make_bundle) -> None:
    last = {"exitCode": 1, "reason": "Error", "startedAt": "2025-11-08T13:00:00Z", "finishedAt": "2025-11-08T13:00:30Z"}
    state = {"running": {"startedAt": "2025-11-08T13:00:45Z"}}
    frames = frames_of(make_bundle, {"k8s/pods.json": pod_list(container_status(state=state, last=last))})
    assert only(crashloop(frames)).severity is Severity.CRITICAL  # 24 min 15 s ago < 1 h
    assert only(crashloop(frames, recent_s=600)).severity is Severity.WARNING


def test_restart_count_zero_is_nothing(make_bundle) -> None:
    frames = frames_of(make_bundle, {"k8s/pods.json": pod_list(container_status(restarts=0))})
    assert crashloop(frames) == []


def test_one_finding_per_container(make_bundle) -> None:
    files = {
        "k8s/pods.json": pod_list(
            container_status(name="worker", last=EXITED_1),
            container_status(name="sidecar", restarts=0),
            container_status(name="metrics", restarts=1, last=OOM_LAST),
        )
    }
    findings = crashloop(frames_of(make_bundle, files))
    assert sorted((f.subject, f.code) for f in findings) == [
        (f"{NS}/{POD}/metrics", Code.CRASHLOOP_OOM),
        (f"{NS}/{POD}/worker", Code.CRASHLOOP_OTHER),
    ]


# ----------------------------------------------------------------------------- pods.txt only

PODS_TXT = (
    "NAME                                         READY   STATUS    RESTARTS      AGE\n"
    "mongodb-7cb5d67cc5-wb7qz                     1/1     Running   0             7d1h\n"
    "panda-panda-focus-server-78dbcfd9d9-kjj77    1/1     Running   4 (28h ago)   46h\n"
)
TXT_POD = "panda-panda-focus-server-78dbcfd9d9-kjj77"


def test_pods_text_only_with_previous_log(make_bundle) -> None:
    exception = (
        "pymongo.errors.ServerSelectionTimeoutError: mongodb:27017: [Errno -3] Temporary failure in name resolution"
    )
    files = {"k8s/pods.txt": PODS_TXT, f"logs/{NS}/{TXT_POD}/focus-server.previous.log": focus_crash(exception)}
    f = only(crashloop(frames_of(make_bundle, files)))
    assert f.code is Code.CRASHLOOP_DNS
    assert f.subject == f"{NS}/{TXT_POD}/focus-server"
    assert f.metrics["status_source"] == "pods.txt"
    assert f.metrics["restart_count"] == 4
    # observed 2025-11-08 13:25 minus 28 h
    assert f.metrics["last_restart_at"] == ts("2025-11-07T09:25:00Z")
    assert f.severity is Severity.WARNING
    assert "last at about 2025-11-07 09:25:00 UTC (28 h before collection)" in f.summary
    assert f.evidence[0].where == "k8s/pods.txt:3"
    assert "4 (28 h ago)" in f.evidence[0].text


def test_pods_text_only_without_log(make_bundle) -> None:
    txt = (
        PODS_TXT
        + "rabbitmq-panda-0                             0/1     CrashLoopBackOff   7 (2m ago)   7d1h\n"
        + "panda-panda-segy-recorder-5f7b8c9d6d-p8r2m   0/1     OOMKilled          3 (40s ago)  46h\n"
    )
    findings = crashloop(frames_of(make_bundle, {"k8s/pods.txt": txt}))
    by_subject = {f.subject: f for f in findings}
    assert set(by_subject) == {TXT_POD, "rabbitmq-panda-0", "panda-panda-segy-recorder-5f7b8c9d6d-p8r2m"}
    oom = by_subject.pop("panda-panda-segy-recorder-5f7b8c9d6d-p8r2m")
    assert oom.code is Code.CRASHLOOP_OOM
    assert oom.severity is Severity.CRITICAL
    assert oom.metrics["restart_count"] == 3
    assert oom.metrics["last_restart_at"] == ts("2025-11-08T13:24:20Z")
    findings = list(by_subject.values())
    assert all(f.code is Code.CRASHLOOP_OTHER for f in findings)
    rabbit = by_subject["rabbitmq-panda-0"]
    assert rabbit.severity is Severity.CRITICAL
    assert rabbit.component == "rabbitmq-panda"
    assert "no previous log in the bundle" in rabbit.summary
    assert by_subject[TXT_POD].severity is Severity.WARNING
    assert by_subject[TXT_POD].component == "panda-panda-focus-server"


def test_pods_json_wins_over_pods_text(fiber_frames: Frames) -> None:
    # the sample has both; the finding comes from pods.json only
    assert only(crashloop(fiber_frames)).metrics["status_source"] == "pods.json"


# ----------------------------------------------------------------------------- frames built directly


def test_from_conformed_frames() -> None:
    restarts = schema.RESTARTS.conform(
        [
            {
                "ts": "2025-11-08T13:20:00Z",
                "source": "k8s/pods.json#/items/0/status/containerStatuses/0",
                "namespace": NS,
                "pod": POD,
                "container": CTR,
                "restart_count": 5,
                "is_ready": False,
                "state": "waiting",
                "waiting_reason": "CrashLoopBackOff",
                "last_reason": "Error",
                "last_exit_code": 1,
                "last_started_at": "2025-11-08T13:19:30Z",
                "last_finished_at": "2025-11-08T13:20:00Z",
            }
        ]
    )
    other = schema.OTHER_LOGS.conform(
        [
            {
                "ts": "2025-11-08T13:19:59Z",
                "source": previous(),
                "line_no": 1,
                "namespace": NS,
                "pod": POD,
                "container": CTR,
                "is_previous": True,
                "message": "pika.exceptions.AMQPConnectionError: [Errno 111] Connection refused host=rabbitmq-panda port=5672",
            },
            # the current log says the same, but only the previous log counts
            {
                "ts": "2025-11-08T13:21:00Z",
                "source": f"logs/{NS}/{POD}/{CTR}.log",
                "line_no": 1,
                "namespace": NS,
                "pod": POD,
                "container": CTR,
                "is_previous": False,
                "message": "socket.gaierror: [Errno -2] Name or service not known",
            },
        ]
    )
    frames = Frames(restarts=restarts, other_logs=other, meta={"created_at": COLLECTED})
    f = only(crashloop(frames))
    assert f.code is Code.CRASHLOOP_DB_UNREACHABLE
    assert (f.metrics["host"], f.metrics["port"]) == ("rabbitmq-panda", 5672)
    assert f.severity is Severity.CRITICAL
    assert f.metrics["endpoints_ready"] is None  # no services / endpoints in the bundle: nothing claimed
    assert "endpoint" not in f.summary


def test_without_created_at_recency_is_not_guessed() -> None:
    restarts = schema.RESTARTS.conform(
        [
            {
                "ts": "2025-11-08T13:20:00Z",
                "source": "k8s/pods.json#/items/0/status/containerStatuses/0",
                "namespace": NS,
                "pod": POD,
                "container": CTR,
                "restart_count": 2,
                "is_ready": True,
                "state": "running",
                "started_at": "2025-11-08T13:20:10Z",
                "last_reason": "Error",
                "last_exit_code": 1,
                "last_finished_at": "2025-11-08T13:20:00Z",
            }
        ]
    )
    f = only(crashloop(Frames(restarts=restarts)))
    assert f.severity is Severity.WARNING  # running and ready; collection time unknown
    assert "before collection" not in f.summary
    assert f.metrics["last_restart_age_s"] is None
    # with a collection time 5 min later the same restart is recent
    f = only(crashloop(Frames(restarts=restarts, meta={"created_at": "2025-11-08T13:25:00Z"})))
    assert f.severity is Severity.CRITICAL
    assert f.metrics["last_restart_age_s"] == 290.0


# ----------------------------------------------------------------------------- issue #12: scale and aggregation


def test_running_but_not_ready_is_critical_even_when_the_restart_is_old(make_bundle) -> None:
    # restarted 28 h before collection, running again, but its readiness probe fails: still broken now
    status = container_status(last=EXITED_1, ready=False)
    f = only(crashloop(frames_of(make_bundle, {"k8s/pods.json": pod_list(status)})))
    assert f.severity is Severity.CRITICAL
    assert f.metrics["is_ready"] is False
    assert "running, not ready, since" in f.summary


def test_a_container_listed_twice_is_judged_once_on_its_later_status(make_bundle) -> None:
    doc = pod_list(container_status(restarts=3, last=EXITED_1))
    later = pod_list(container_status(restarts=5, last=EXITED_1))["items"][0]
    doc["items"].append(later)  # e.g. two `kubectl get pods -o json` outputs merged into one list
    f = only(crashloop(frames_of(make_bundle, {"k8s/pods.json": doc})))
    assert f.metrics["restart_count"] == 5
    assert f.evidence[0].source == "k8s/pods.json#/items/1/status/containerStatuses/0"


CAUSES = (
    (
        "pymongo.errors.ServerSelectionTimeoutError: mongodb:27017: [Errno -3] Temporary failure in name resolution",
        Code.CRASHLOOP_DNS,
    ),
    ("ConnectionRefusedError: [Errno 111] Connection refused", Code.CRASHLOOP_DB_UNREACHABLE),
    ("KeyError: 'SETTINGS_PATH'", Code.CRASHLOOP_OTHER),
)


def _busy_crash_bundle(n: int, *, chatter: int) -> dict[str, Any]:
    """``n`` restarted worker pods, pod i crashing with cause i % 3 after ``chatter`` ordinary lines of its own."""
    pods, events, files = [], [], {}
    for i in range(n):
        name = f"worker-5d9c7b8f6d-{i:05d}"
        pods.append(pod_list(container_status(restarts=2 + i % 7, last=EXITED_1), pod=name)["items"][0])
        backoff = event(
            "BackOff",
            f"Back-off restarting failed container {CTR}",
            "2025-11-07T09:00:00Z",
            "2025-11-07T09:12:00Z",
            count=3,
        )
        backoff["involvedObject"]["name"] = backoff["metadata"]["name"] = name
        events.append(backoff)
        lines = [f"worker {name} processed batch {k}" for k in range(chatter)]
        files[previous(pod=name)] = kubelet(["starting worker 1.0", *lines, *PY_TRACEBACK, CAUSES[i % 3][0]])
    files["k8s/pods.json"] = {"apiVersion": "v1", "kind": "PodList", "items": pods}
    files["k8s/events.json"] = event_list(*events)
    return files


def test_many_containers_each_judged_on_its_own_log_and_events(make_bundle) -> None:
    n = 120
    found = crashloop(frames_of(make_bundle, _busy_crash_bundle(n, chatter=5)))
    assert len(found) == n  # one finding per container, however many rows the frames hold
    for f in found:
        pod = f.subject.split("/")[1]
        i = int(pod.rsplit("-", 1)[1])
        assert f.code is CAUSES[i % 3][1], f.summary
        assert f.metrics["restart_count"] == 2 + i % 7
        assert f.metrics["backoff_events"] == 3  # its own BackOff event only
        # every quoted log line comes from its own previous log
        assert all(e.source in (previous(pod=pod), "k8s/events.json#/items/" + str(i)) for e in f.evidence[1:]), (
            f.evidence
        )


def test_a_busy_bundle_gives_the_same_findings_as_its_small_twin(make_bundle) -> None:
    small = crashloop(frames_of(make_bundle, _busy_crash_bundle(3, chatter=2)))
    busy = crashloop(frames_of(make_bundle, _busy_crash_bundle(3, chatter=3000)))
    assert [(f.code, f.severity, f.subject) for f in busy] == [(f.code, f.severity, f.subject) for f in small]
    assert [f.metrics["cause"] for f in busy] == [f.metrics["cause"] for f in small]
