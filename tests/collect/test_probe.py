"""The consumer-timing probe against the Focus Server look-alike (fake_focus.py).

What must never happen is tested by counting what the server received: no POST when
the fiber is "waiting" or without ``yes``, exactly one POST even when it fails, and a
bounded number of polls. The long scenarios (a consumer ready after 35 s, a 3 s
deadline) share a fake clock between the probe and the server, so they take
milliseconds; one scenario runs on the real clock to check the timings end to end.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

import panda_analysis as pa
from panda_analysis.bundle import BundleWriter
from panda_analysis.collect import _http
from panda_analysis.findings import Code
from panda_analysis.probe import DEFAULT_CONFIGURATION, ProbeRefused, consumer_probe

sys.path.insert(0, str(Path(__file__).parent))
from fake_focus import MISSING_PRR, FakeClock, FakeFocus


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stages(path: Path) -> dict[str, float]:
    stages = pa.diagnose.consumer_stages(pa.load_bundle(path).frames())
    return {str(r["stage"]): float(r["since_configure_s"]) for r in stages.to_dict("records")}


def test_refuses_while_waiting_for_fiber_and_sends_nothing_else(tmp_path: Path) -> None:
    with FakeFocus(ready=False) as fake, BundleWriter(tmp_path / "b") as out:
        with pytest.raises(ProbeRefused) as err:
            consumer_probe(out, focus_url=fake.url, yes=True)
        assert fake.requests == [("GET", "/live_metadata")]
    assert fake.count("POST") == 0
    assert "waiting for fiber" in err.value.reason
    assert "prr is 0.0" in err.value.reason
    assert err.value.result.status == "refused"
    # the refusal is evidence too: the check diagnoses as seed 002's incident
    bundle = pa.load_bundle(tmp_path / "b")
    assert bundle.manifest["probe"]["status"] == "refused"
    assert Code.FIBER_WAITING in {f.code for f in pa.diagnose.fiber(bundle.frames())}


@pytest.mark.parametrize("how", ["http_500", "unreachable"])
def test_refuses_when_live_metadata_cannot_be_read(how: str) -> None:
    if how == "http_500":
        with FakeFocus(live_failures=1) as fake, pytest.raises(ProbeRefused, match="HTTP 500"):
            consumer_probe(None, focus_url=fake.url, yes=True)
        assert fake.count("POST") == 0
        assert len(fake.requests) == 1
    else:
        with pytest.raises(ProbeRefused, match="connection failed"):
            consumer_probe(None, focus_url=f"http://127.0.0.1:{_free_port()}/focus-server", yes=True)


def test_without_yes_it_only_plans(tmp_path: Path) -> None:
    with FakeFocus() as fake, BundleWriter(tmp_path / "b") as out:
        result = consumer_probe(out, focus_url=fake.url, deadline_s=30, poll_interval_s=0.5)
        assert out.written == []
    assert fake.requests == [("GET", "/live_metadata")]
    assert result.status == "plan"
    assert result.job_id is None
    assert result.plan is not None
    assert "ONE POST" in result.plan
    assert "/configure" in result.plan
    assert "at most 61 polls" in result.plan
    assert '"channels":{"min":11,"max":109}' in result.plan


def test_a_failing_configure_is_sent_once_and_never_retried(tmp_path: Path) -> None:
    clock = FakeClock()
    # live metadata ready, yet configure answers 503 (the fiber dropped in between)
    # the default collection session retries GETs on 503; the probe must not retry its POST
    with (
        FakeFocus(configure_status=503, clock=clock) as fake,
        BundleWriter(tmp_path / "b") as out,
        _http.session(retries=3, backoff_s=0.01) as s,
    ):
        result = consumer_probe(out, focus_url=fake.url, yes=True, session=s, clock=clock, sleep=clock.sleep)
    assert fake.count("POST", "/configure") == 1
    assert fake.count("GET", "/metadata/") == 0
    assert fake.bodies == [dict(DEFAULT_CONFIGURATION)]
    assert result.status == "configure_failed"
    assert result.configure_status == 503
    assert result.error is not None
    assert MISSING_PRR in result.error
    probe = pa.load_bundle(tmp_path / "b").manifest["probe"]
    assert probe["status"] == "configure_failed"
    assert probe["configure_body"] == {"detail": MISSING_PRR}


def test_a_session_that_could_resend_the_post_is_refused_before_anything_is_sent() -> None:
    s = requests.Session()
    s.mount("http://", HTTPAdapter(max_retries=Retry(total=3, allowed_methods=None, status_forcelist=[503])))
    with FakeFocus() as fake, s, pytest.raises(ValueError, match="more than once"):
        consumer_probe(None, focus_url=fake.url, yes=True, session=s)
    assert fake.requests == []


def test_times_the_consumer_on_the_real_clock(tmp_path: Path) -> None:
    with FakeFocus(ready_after_s=0.5) as fake, BundleWriter(tmp_path / "b") as out:
        result = consumer_probe(out, focus_url=fake.url, yes=True, deadline_s=5.0, poll_interval_s=0.1)
    assert fake.count("POST") == 1
    assert result.status == "ready"
    assert result.job_id == "19-5"
    assert result.configure_s is not None
    assert 0 <= result.configure_s < 0.5
    assert result.ready_s is not None
    assert 0.5 <= result.ready_s < 0.5 + 0.1 + 0.4
    gets = fake.count("GET", "/metadata/")
    assert gets == result.polls
    assert gets <= result.ready_s / 0.1 + 2  # never faster than the poll interval

    stages = _stages(tmp_path / "b")
    assert stages["configure"] == 0.0
    assert stages["metadata_ready"] == pytest.approx(result.ready_s, abs=0.002)
    frames = pa.load_bundle(tmp_path / "b").frames()
    configure = pa.diagnose.consumer_stages(frames).set_index("stage").loc["configure", "text"]
    assert configure == "POST /configure for job 19-5 sent by the consumer probe (its first line for the job)"
    assert pa.diagnose.consumer(frames) == []  # ready in 0.5 s: healthy
    slow = pa.diagnose.consumer(frames, consumer_within_s=0.2)
    assert [(f.code, f.subject) for f in slow] == [(Code.CONSUMER_SLOW, "19-5")]
    probe = pa.load_bundle(tmp_path / "b").manifest["probe"]
    assert probe["job_id"] == "19-5"
    assert probe["ready_s"] == result.ready_s
    assert probe["status"] == "ready"


@pytest.mark.parametrize(("ready_after_s", "slow"), [(35.0, True), (5.0, False)])
def test_a_late_consumer_diagnoses_consumer_slow(tmp_path: Path, ready_after_s: float, slow: bool) -> None:
    clock = FakeClock(tick_s=0.001)
    with FakeFocus(ready_after_s=ready_after_s, clock=clock) as fake, BundleWriter(tmp_path / "b") as out:
        result = consumer_probe(
            out, focus_url=fake.url, yes=True, deadline_s=60, poll_interval_s=0.5, clock=clock, sleep=clock.sleep
        )
    assert result.status == "ready"
    assert result.ready_s is not None
    assert result.ready_s == pytest.approx(ready_after_s, abs=0.5 + 0.01)
    assert result.polls <= result.ready_s / 0.5 + 2
    found = pa.diagnose.consumer(pa.load_bundle(tmp_path / "b").frames())
    if slow:
        assert [(f.code, f.subject) for f in found] == [(Code.CONSUMER_SLOW, "19-5")]
        assert found[0].metrics["ready_s"] == pytest.approx(result.ready_s, abs=0.002)
    else:
        assert found == []
    assert fake.count("POST") == 1


def test_stops_by_itself_at_the_deadline(tmp_path: Path) -> None:
    clock = FakeClock()
    with FakeFocus(ready_after_s=1e9, clock=clock) as fake, BundleWriter(tmp_path / "b") as out:
        start = clock.now
        result = consumer_probe(
            out, focus_url=fake.url, yes=True, deadline_s=3.0, poll_interval_s=0.5, clock=clock, sleep=clock.sleep
        )
    assert result.status == "timeout"
    assert result.ready_s is None
    assert clock.now - start == pytest.approx(3.0)
    assert fake.count("GET", "/metadata/") == result.polls == 7  # at 0, 0.5, ..., 3.0 s
    assert fake.count("GET") <= 3.0 / 0.5 + 2
    assert result.error == "GET /metadata/19-5 did not answer 200 within 3 s (7 polls)"
    # the bundle says the consumer never came: CONSUMER_NOT_CREATED needs pod evidence, so
    # here the timeline simply has no metadata_ready
    assert "metadata_ready" not in _stages(tmp_path / "b")


def test_poll_interval_has_a_floor() -> None:
    clock = FakeClock()
    with FakeFocus(ready_after_s=1e9, clock=clock) as fake:
        result = consumer_probe(
            None, focus_url=fake.url, yes=True, deadline_s=1.0, poll_interval_s=0.0001, clock=clock, sleep=clock.sleep
        )
    assert result.polls == fake.count("GET", "/metadata/") <= 1.0 / 0.1 + 2
    assert min(clock.sleeps) >= 0.1 - 1e-9


class _Kube:
    """A CoreV1Api + BatchV1Api look-alike: the job's pod appears 0.2 s after configure."""

    def __init__(self, fake: FakeFocus, clock: FakeClock, pod_after_s: float = 0.2):
        self.fake, self.clock, self.pod_after_s = fake, clock, pod_after_s
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def _when(self, since: float) -> str:
        import datetime

        return (datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=since)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def list_namespaced_job(self, namespace: str, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("jobs", kwargs))
        return {"apiVersion": "batch/v1", "kind": "JobList", "metadata": {}, "items": []}

    def list_namespaced_pod(self, namespace: str, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("pods", kwargs))
        at = self.fake.configured.get("19-5")
        items = []
        if at is not None and self.clock() - at >= self.pod_after_s:
            items.append(
                {
                    "metadata": {"name": "grpc-job-19-5-cj8hc", "namespace": namespace, "uid": "u1",
                                 "creationTimestamp": self._when(0), "labels": {"job-name": "grpc-job-19-5"}},
                    "spec": {"containers": [{"name": "baby-analyzer", "image": "panda/baby-analyzer:2.14"}]},
                    "status": {"phase": "Running"},
                }
            )  # fmt: skip
        other = {"metadata": {"name": "mongodb-0", "namespace": namespace, "uid": "u2"}, "status": {}}
        return {"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": [*items, other]}

    def list_namespaced_event(self, namespace: str, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("events", kwargs))
        return {"apiVersion": "v1", "kind": "EventList", "metadata": {}, "items": []}


def test_kubernetes_and_rabbitmq_are_observed_alongside_and_written(tmp_path: Path) -> None:
    clock = FakeClock(tick_s=0.001)
    snapshots = 0

    def rabbit() -> dict[str, Any]:
        nonlocal snapshots
        snapshots += 1
        consumers = 1 if fake.count("GET", "/metadata/") and clock() - fake.configured["19-5"] >= 2.0 else 0
        queue = {"name": "grpc-job-19-5", "vhost": "/", "consumers": consumers, "messages": 0, "messages_ready": 0,
                 "messages_unacknowledged": 0, "state": "running", "durable": False, "auto_delete": True}  # fmt: skip
        return {"overview": {"rabbitmq_version": "3.12.1"}, "queues": [queue], "consumers": []}

    with FakeFocus(ready_after_s=2.0, clock=clock) as fake, BundleWriter(tmp_path / "b") as out:
        kube = _Kube(fake, clock)
        result = consumer_probe(
            out, focus_url=fake.url, yes=True, deadline_s=10, poll_interval_s=0.1,
            kube_api=kube, rabbit=rabbit, clock=clock, sleep=clock.sleep,
        )  # fmt: skip
    assert result.status == "ready"
    assert result.ready_s is not None
    assert 2 <= snapshots <= result.ready_s / 1.0 + 2  # at most once a second, plus one when ready
    assert all(kw.get("_request_timeout") for _, kw in kube.calls)
    bundle = pa.load_bundle(tmp_path / "b")
    pods = pa.parse.pods(bundle)
    assert pods["pod"].tolist() == ["grpc-job-19-5-cj8hc"]  # only the job's pod is kept
    queues = pa.parse.queues(bundle)
    assert queues["consumer_count"].iloc[-1] == 1
    assert queues["job_id"].iloc[-1] == "19-5"
    stages = _stages(tmp_path / "b")
    assert {"configure", "pod_created", "queue_declared", "consumer_attached", "metadata_ready"} <= set(stages)
