"""RabbitMQ management API collection: a real broker end to end, and a loopback fake for failures.

The end-to-end test drives a real ``rabbitmq-server`` (fixture ``rabbitmq`` in
conftest.py) with a real AMQP client (pika): per-job and alert queues, published
messages, a consumer that comes and goes; the collector snapshots it into a bundle and
the parsers and the ``queues`` diagnosis read that bundle back. The failure tests use a
stdlib HTTP server on 127.0.0.1 that serves management API bodies taken from the
embedded samples and misbehaves on demand (503, silence, 401, HTML).
"""

from __future__ import annotations

import base64
import json
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import panda_analysis as pa
from panda_analysis.collect import _http
from panda_analysis.collect._rabbit_api import rabbit_api
from panda_analysis.errors import CollectError
from panda_analysis.findings import Code, Severity

SAMPLES = Path(pa.__file__).parent / "samples"


# --------------------------------------------------------------------------- helpers
def _bundle_bytes(path: Path) -> bytes:
    """Every byte of a written bundle (a directory, or every member of a .tar.gz)."""
    if path.is_dir():
        return b"".join(p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file())
    with tarfile.open(path) as tar:
        return b"".join(tar.extractfile(m).read() for m in tar.getmembers() if m.isfile())  # type: ignore[union-attr]


def _wait_for(predicate: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.2)


# =========================================================================== real broker
def _api(rabbitmq: dict[str, Any], path: str) -> Any:
    import requests

    resp = requests.get(rabbitmq["mgmt_url"] + path, auth=(rabbitmq["user"], rabbitmq["password"]), timeout=5)
    resp.raise_for_status()
    return resp.json()


def _queue_state(rabbitmq: dict[str, Any], name: str) -> tuple[int | None, int | None, int | None]:
    q = _api(rabbitmq, f"/api/queues/%2F/{name}")
    return q.get("messages_ready"), q.get("messages_unacknowledged"), q.get("consumers")


def _consumer_tags(rabbitmq: dict[str, Any]) -> set[str]:
    return {c["consumer_tag"] for c in _api(rabbitmq, "/api/consumers")}


@pytest.fixture
def collector_user(rabbitmq: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """A read-only 'monitoring' user for the collector (set up through the API: tests only)."""
    import requests

    user, password = "panda-collector", "Tr0ub4dor&3-rabbit-collector"
    admin = (rabbitmq["user"], rabbitmq["password"])
    url = f"{rabbitmq['mgmt_url']}/api/users/{user}"
    requests.put(url, json={"password": password, "tags": "monitoring"}, auth=admin, timeout=10).raise_for_status()
    # without access to the vhost a monitoring user sees an empty /api/queues; "^$" grants
    # that access with no right to configure, write or read any resource
    requests.put(
        f"{rabbitmq['mgmt_url']}/api/permissions/%2F/{user}",
        json={"configure": "^$", "write": "^$", "read": "^$"},
        auth=admin,
        timeout=10,
    ).raise_for_status()
    yield user, password
    requests.delete(url, auth=admin, timeout=10)


@pytest.fixture
def amqp(rabbitmq: dict[str, Any]) -> Iterator[Any]:
    pika = pytest.importorskip("pika")
    params = pika.ConnectionParameters(
        host="127.0.0.1",
        port=rabbitmq["amqp_port"],
        credentials=pika.PlainCredentials(rabbitmq["user"], rabbitmq["password"]),
        client_properties={"connection_name": "grpc-job-19-5-cj8hc"},
        socket_timeout=10,
        blocked_connection_timeout=10,
    )
    connection = pika.BlockingConnection(params)
    yield connection
    if connection.is_open:
        cleanup = connection.channel()
        for queue in ("grpc-job-19-5", "prisma-210-1000-alerts"):
            cleanup.queue_delete(queue)
        cleanup.exchange_delete("prisma")
        connection.close()


def test_snapshots_of_a_real_broker_parse_and_diagnose(
    rabbitmq: dict[str, Any], amqp: Any, collector_user: tuple[str, str], tmp_path: Path
) -> None:
    # seed 004: a job's queue grpc-job-19-5; seed 000: alerts go to exchange 'prisma'
    ch = amqp.channel()
    ch.exchange_declare("prisma", exchange_type="topic", durable=True)
    ch.queue_declare("prisma-210-1000-alerts", durable=True)
    ch.queue_bind("prisma-210-1000-alerts", "prisma", routing_key="Algorithm.AlertReport.#")
    ch.queue_declare("grpc-job-19-5", durable=False)

    def publish_alerts(n: int, first: int) -> None:
        for i in range(first, first + n):
            body = json.dumps({"alertId": f"test-sd-{i}", "classId": 104, "severity": 3, "distance_m": 4163})
            ch.basic_publish("prisma", "Algorithm.AlertReport.MLGround", body.encode())

    for i in range(3):
        ch.basic_publish("", "grpc-job-19-5", json.dumps({"chunk": i}).encode())
    publish_alerts(4, first=1)
    _wait_for(lambda: _queue_state(rabbitmq, "prisma-210-1000-alerts")[0] == 4, "4 ready alerts in the API")
    _wait_for(lambda: _queue_state(rabbitmq, "grpc-job-19-5")[0] == 3, "3 ready messages on grpc-job-19-5")

    consumer_ch = amqp.channel()
    tags: dict[str, str] = {}
    progress: list[tuple[int, int, str]] = []

    def between_snapshots(done: int, total: int, text: str) -> None:
        """Change the broker after each snapshot, and wait until its API shows the change."""
        progress.append((done, total, text))
        if done == 1:  # publish more alerts with nobody consuming: the backlog grows
            publish_alerts(3, first=5)
            _wait_for(lambda: _queue_state(rabbitmq, "prisma-210-1000-alerts")[0] == 7, "7 ready alerts")
        elif done == 2:  # the job's consumer appears (prefetch 2, manual acks never sent)
            consumer_ch.basic_qos(prefetch_count=2)
            tags["tag"] = consumer_ch.basic_consume("grpc-job-19-5", lambda *_: None, auto_ack=False)
            amqp.process_data_events(time_limit=0.5)
            _wait_for(lambda: _queue_state(rabbitmq, "grpc-job-19-5") == (1, 2, 1), "the consumer with 2 unacked")
            _wait_for(lambda: tags["tag"] in _consumer_tags(rabbitmq), "the consumer in /api/consumers")
        elif done == 3:  # ... and goes away; its unacked messages go back to the queue
            consumer_ch.basic_cancel(tags["tag"])
            consumer_ch.close()
            _wait_for(lambda: _queue_state(rabbitmq, "grpc-job-19-5") == (3, 0, 0), "the consumer gone")
            _wait_for(lambda: not _consumer_tags(rabbitmq), "no consumer in /api/consumers")

    user, password = collector_user
    url = rabbitmq["mgmt_url"].replace("http://", f"http://{user}:{password}@")
    out_path = tmp_path / "evidence.tar.gz"
    with pa.BundleWriter(out_path, manifest={"source": "test"}) as out:
        snapshots = rabbit_api(out, url=url, samples=4, interval_s=0.0, on_progress=between_snapshots)

    assert [p[:2] for p in progress] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert all("errors" not in s for s in snapshots), [s.get("errors") for s in snapshots]
    assert password.encode() not in _bundle_bytes(out_path)
    bundle = pa.load_bundle(out_path)
    assert bundle.files() == ["rabbitmq/snapshots.jsonl"]
    assert bundle.manifest["rabbitmq_api"]["url"] == rabbitmq["mgmt_url"]
    assert bundle.manifest["rabbitmq_api"]["ok"] == 4
    # bodies are kept exactly as the API returned them
    written = [json.loads(line) for line in (bundle.root / "rabbitmq/snapshots.jsonl").read_text().splitlines()]
    assert written == snapshots
    assert snapshots[0]["overview"]["management_version"] == snapshots[0]["overview"]["rabbitmq_version"]
    assert {"name", "vhost", "messages_ready", "consumers", "node", "arguments"} <= set(snapshots[0]["queues"][0])

    queues = pa.parse.queues(bundle)
    assert queues.attrs.get("unparsed", 0) == 0
    times = sorted(queues["ts"].unique())
    assert len(times) == 4
    by = {(row.ts, row.queue): row for row in queues.itertuples()}
    alerts = [by[(t, "prisma-210-1000-alerts")] for t in times]
    job = [by[(t, "grpc-job-19-5")] for t in times]
    assert [int(a.messages_ready) for a in alerts] == [4, 7, 7, 7]
    assert [int(a.consumer_count) for a in alerts] == [0, 0, 0, 0]
    assert [(int(j.messages_ready), int(j.messages_unacknowledged), int(j.consumer_count)) for j in job] == [
        (3, 0, 0),
        (3, 0, 0),
        (1, 2, 1),
        (3, 0, 0),
    ]
    assert {j.job_id for j in job} == {"19-5"}
    assert {a.durable for a in alerts} == {True}
    assert {j.durable for j in job} == {False}

    consumers = pa.parse.consumers(bundle)
    assert list(consumers["ts"]) == [times[2]]  # it appears in snapshot 3 only, then disappears
    row = consumers.iloc[0]
    assert (row["queue"], row["job_id"], row["consumer_tag"]) == ("grpc-job-19-5", "19-5", tags["tag"])
    assert int(row["prefetch_count"]) == 2
    assert bool(row["ack_required"]) is True
    assert row["user"] == "guest"
    assert row["peer_host"] == "127.0.0.1"

    overview = pa.parse.rabbitmq_overview(bundle)
    assert list(overview["queue_count"]) == [2, 2, 2, 2]
    assert list(overview["consumer_count"]) == [0, 0, 1, 0]

    findings = pa.diagnose.queues(pa.parse.frames(bundle))
    backlog = [f for f in findings if f.code == Code.QUEUE_BACKLOG and f.subject == "prisma-210-1000-alerts"]
    assert len(backlog) == 1, findings
    assert backlog[0].severity == Severity.CRITICAL
    assert "7" in backlog[0].summary
    assert rabbitmq["start_s"] < 60


# =========================================================================== loopback fake
def _sample_bodies() -> dict[str, Any]:
    """The three bodies of a real snapshot from the 'healthy' sample."""
    line = (SAMPLES / "healthy" / "rabbitmq" / "snapshots.jsonl").read_text(encoding="utf-8").splitlines()[0]
    snap = json.loads(line)
    return {"/api/overview": snap["overview"], "/api/queues": snap["queues"], "/api/consumers": snap["consumers"]}


class FakeManagement:
    """A management API on 127.0.0.1: scripted answers per path, every request recorded.

    ``script[path]`` is a list of actions used in turn (the last one repeats): an int
    status (answered with a JSON error body), ``"hang"`` (never answers until the test
    ends), ``"html"`` (a proxy's HTML page), or ``"ok"`` (the sample body).
    """

    def __init__(self, *, credentials: tuple[str, str] | None = None):
        self.bodies = _sample_bodies()
        self.script: dict[str, list[Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self.credentials = credentials
        self.release = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._answer(self)

            def do_POST(self) -> None:
                fake._answer(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def _send(self, h: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str = "application/json") -> None:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        if status == 401:
            h.send_header("WWW-Authenticate", 'Basic realm="RabbitMQ Management"')
        h.end_headers()
        h.wfile.write(body)

    def _answer(self, h: BaseHTTPRequestHandler) -> None:
        auth = h.headers.get("Authorization")
        self.requests.append({"method": h.command, "path": h.path, "auth": auth, "agent": h.headers.get("User-Agent")})
        if self.credentials is not None:
            expected = "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode()
            if auth != expected:
                self._send(h, 401, b'{"error":"not_authorized","reason":"Login failed"}')
                return
        path = h.path.split("?", 1)[0]
        steps = self.script.get(path, ["ok"])
        seen = sum(1 for r in self.requests if r["path"].split("?", 1)[0] == path) - 1
        action = steps[min(seen, len(steps) - 1)]
        if action == "hang":
            self.release.wait(30)
            return
        if action == "html":
            self._send(h, 200, b"<html><body>Sign in</body></html>", "text/html")
            return
        if isinstance(action, int):
            self._send(h, action, json.dumps({"error": "unavailable", "reason": f"status {action}"}).encode())
            return
        body = self.bodies.get(path)
        if body is None:
            self._send(h, 404, b'{"error":"Object Not Found","reason":"Not Found"}')
            return
        self._send(h, 200, json.dumps(body).encode())

    def count(self, path: str) -> int:
        return sum(1 for r in self.requests if r["path"] == path)

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake() -> Iterator[FakeManagement]:
    server = FakeManagement()
    yield server
    server.close()


def test_snapshot_bodies_are_kept_exactly(fake: FakeManagement) -> None:
    with _http.session(retries=0) as s:
        snaps = rabbit_api(url=fake.url, samples=2, interval_s=0.05, session=s)
    assert len(snaps) == 2
    for snap in snaps:
        assert snap["overview"] == fake.bodies["/api/overview"]
        assert snap["queues"] == fake.bodies["/api/queues"]
        assert snap["consumers"] == fake.bodies["/api/consumers"]
        assert set(snap) == {"at", "overview", "queues", "consumers"}
        assert snap["at"].endswith("Z")
        assert len(snap["at"]) == len("2025-11-10T08:54:55.034Z")
    assert snaps[0]["at"] < snaps[1]["at"]
    assert {r["method"] for r in fake.requests} == {"GET"}
    # loopback without other credentials: guest/guest, as RabbitMQ allows from loopback only
    assert {r["auth"] for r in fake.requests} == {"Basic " + base64.b64encode(b"guest:guest").decode()}
    assert {r["agent"] for r in fake.requests} == {f"panda-analysis/{pa.__version__}"}


def test_503_is_retried_with_backoff_then_succeeds(fake: FakeManagement) -> None:
    fake.script["/api/overview"] = [503, 503, "ok"]
    with _http.session(retries=2, backoff_s=0.05) as s:
        snaps = rabbit_api(url=fake.url, samples=1, session=s)
    assert snaps[0]["overview"] == fake.bodies["/api/overview"]
    assert "errors" not in snaps[0]
    assert fake.count("/api/overview") == 3
    assert fake.count("/api/queues") == 1


def test_a_part_that_keeps_failing_is_null_with_its_error_and_the_run_goes_on(fake: FakeManagement) -> None:
    fake.script["/api/queues"] = [503]
    fake.script["/api/consumers"] = ["html"]
    with _http.session(retries=1, backoff_s=0.01) as s:
        snaps = rabbit_api(url=fake.url, samples=2, interval_s=0.0, session=s)
    assert len(snaps) == 2
    for snap in snaps:
        assert snap["overview"] == fake.bodies["/api/overview"]
        assert snap["queues"] is None
        assert snap["consumers"] is None
        errors = {e["part"]: e["error"] for e in snap["errors"]}
        assert errors["queues"].startswith("HTTP 503")
        assert "not JSON" in errors["consumers"]
    assert fake.count("/api/queues") == 4  # 2 snapshots x (1 try + 1 retry)
    # the parsers read such a snapshot: the overview rows, no queue rows, nothing unparsed
    import io

    text = "".join(json.dumps(s) + "\n" for s in snaps)
    assert len(pa.parse.rabbitmq_overview(io.StringIO(text))) == 2
    assert pa.parse.queues(io.StringIO(text)).empty


def test_a_server_that_never_answers_is_bounded_by_the_timeout(fake: FakeManagement) -> None:
    fake.script["/api/consumers"] = ["hang"]
    started = time.monotonic()
    with _http.session(timeout_s=0.4, retries=2, backoff_s=0.01) as s:
        snaps = rabbit_api(url=fake.url, samples=2, interval_s=0.0, session=s)
    elapsed = time.monotonic() - started
    assert elapsed < 4.0, elapsed
    assert [s["consumers"] for s in snaps] == [None, None]
    assert all(s["queues"] == fake.bodies["/api/queues"] for s in snaps)
    assert "no answer within the timeout" in snaps[0]["errors"][0]["error"]
    assert fake.count("/api/consumers") == 2  # a read timeout is not retried


def test_connection_refused_everywhere_raises_collect_error_naming_the_url() -> None:
    fake = FakeManagement()
    port = fake.server.server_address[1]
    fake.close()  # bound, then closed: nothing listens there now
    with _http.session(retries=1, backoff_s=0.01, timeout_s=2.0) as s, pytest.raises(CollectError) as info:
        rabbit_api(url=f"http://127.0.0.1:{port}", samples=2, interval_s=0.0, session=s)
    text = str(info.value)
    assert f"127.0.0.1:{port}" in text
    assert "connection failed" in text
    assert "management plugin" in text


def test_401_raises_without_the_password_and_stops_early(tmp_path: Path) -> None:
    server = FakeManagement(credentials=("panda", "right-password"))
    secret = "Wr0ng-s3cret!"
    try:
        out = pa.BundleWriter(tmp_path / "b")
        started = time.monotonic()
        with pytest.raises(CollectError) as info:
            rabbit_api(out, url=server.url.replace("//", f"//panda:{secret}@"), samples=5, interval_s=5.0)
        assert time.monotonic() - started < 4.0  # wrong credentials: no waiting out the 5 intervals
    finally:
        server.close()
    text = str(info.value)
    assert secret not in text
    assert "HTTP 401" in text
    assert "panda:<redacted>@127.0.0.1" in text
    assert "RABBITMQ_USER" in text
    assert len(server.requests) == 3
    assert out.written == []


@pytest.mark.parametrize("dest", ["dir", "evidence.tar.gz"])
def test_credentials_are_used_but_never_written(tmp_path: Path, dest: str) -> None:
    user, secret = "panda-monitor", "pw-9f2c1e-never-on-disk"
    server = FakeManagement(credentials=(user, secret))
    path = tmp_path / dest
    try:
        with pa.BundleWriter(path, manifest={"source": server.url}) as out:
            rabbit_api(
                out,
                url=f"http://{user}:{secret}@127.0.0.1:{server.server.server_address[1]}/api/",
                samples=2,
                interval_s=0,
            )
    finally:
        server.close()
    assert len(server.requests) == 6
    assert all(r["path"].startswith("/api/") and "//" not in r["path"] for r in server.requests)
    data = _bundle_bytes(path)
    assert secret.encode() not in data
    assert base64.b64encode(f"{user}:{secret}".encode()) not in data
    bundle = pa.load_bundle(path)
    assert bundle.manifest["rabbitmq_api"]["url"] == server.url
    assert secret not in json.dumps(bundle.manifest)
    assert len(pa.parse.queues(bundle)) == 2


def test_credentials_from_the_environment(fake: FakeManagement, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RABBITMQ_USER", "ops")
    monkeypatch.setenv("RABBITMQ_PASSWORD", "from-env")
    rabbit_api(url=fake.url, samples=1)
    assert {r["auth"] for r in fake.requests} == {"Basic " + base64.b64encode(b"ops:from-env").decode()}
    fake.requests.clear()
    rabbit_api(url=fake.url, user="cli", password="given", samples=1)  # arguments win
    assert {r["auth"] for r in fake.requests} == {"Basic " + base64.b64encode(b"cli:given").decode()}


def test_no_credentials_for_a_remote_broker_is_an_error_before_any_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RABBITMQ_USER", raising=False)
    monkeypatch.delenv("RABBITMQ_PASSWORD", raising=False)
    with pytest.raises(CollectError, match="RABBITMQ_USER"):
        rabbit_api(url="http://rabbitmq-panda.panda.svc.cluster.local:15672", samples=1)


def test_vhost_is_encoded_into_the_paths(fake: FakeManagement) -> None:
    fake.bodies["/api/queues/%2F"] = fake.bodies["/api/queues"]
    fake.bodies["/api/consumers/%2F"] = fake.bodies["/api/consumers"]
    snaps = rabbit_api(url=fake.url, samples=1, vhost="/")
    assert [r["path"] for r in fake.requests] == ["/api/overview", "/api/queues/%2F", "/api/consumers/%2F"]
    assert snaps[0]["queues"] == fake.bodies["/api/queues"]


@pytest.mark.parametrize("samples", [0, 101, True, 2.5])
def test_samples_are_bounded(samples: Any) -> None:
    with pytest.raises(ValueError, match="samples"):
        rabbit_api(url="http://127.0.0.1:1", samples=samples)


@pytest.mark.parametrize("interval_s", [-1.0, float("nan"), 3600.0])
def test_interval_is_bounded(interval_s: float) -> None:
    with pytest.raises(ValueError, match="interval_s"):
        rabbit_api(url="http://127.0.0.1:1", interval_s=interval_s)


def test_session_retries_reads_only(fake: FakeManagement) -> None:
    fake.script["/api/overview"] = [503]
    with _http.session(retries=2, backoff_s=0.01) as s:
        assert s.post(fake.url + "/api/overview", json={}).status_code == 503
        assert fake.count("/api/overview") == 1  # POST: never retried
        assert s.get(fake.url + "/api/overview").status_code == 503
        assert fake.count("/api/overview") == 4  # GET: 1 + 2 retries, then the last 503 is returned


def test_session_moves_userinfo_out_of_the_url(fake: FakeManagement) -> None:
    with _http.session(retries=0) as s:
        resp = s.get(fake.url.replace("//", "//someone:pa%3Ass@") + "/api/overview")
    assert resp.status_code == 200
    assert "@" not in resp.url
    assert fake.requests[0]["auth"] == "Basic " + base64.b64encode(b"someone:pa:ss").decode()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("amqp://panda:p4ss@rabbitmq-panda:5672/", "amqp://panda:<redacted>@rabbitmq-panda:5672/"),
        ("https://ghp_abcdef@github.example/x", "https://<redacted>@github.example/x"),
        (
            "http://h/api?api_key=k&page=2&access_token=t",
            "http://h/api?api_key=<redacted>&page=2&access_token=<redacted>",
        ),
        ("http://rabbitmq-panda:15672/api/queues?page=1", "http://rabbitmq-panda:15672/api/queues?page=1"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert _http.redact_url(url) == shown


def test_describe_redacts_urls_in_errors() -> None:
    import requests

    err = requests.ConnectionError("Max retries exceeded with url: http://u:topsecret@10.0.0.5:15672/api/queues")
    text = _http.describe(err)
    assert "topsecret" not in text
    assert text.startswith("connection failed")


def test_session_rejects_unbounded_settings() -> None:
    with pytest.raises(ValueError, match="timeout"):
        _http.session(timeout_s=0)
    with pytest.raises(ValueError, match="retries"):
        _http.session(retries=50)
