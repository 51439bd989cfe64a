"""End to end on a real broker: ``collect --no-kube --rabbitmq-url``, then ``diagnose`` and ``report``.

Issue #11: a bundle collected with ``--no-kube`` from a real broker holding a
``grpc-job-*`` queue killed ``diagnose`` and ``report`` in the consumer rule. Here the
private ``rabbitmq-server`` of conftest.py (fixture ``rabbitmq``) gets the platform's
topology through its management HTTP API (no AMQP client needed): the topic exchange
``prisma``; the alerts queue ``prisma-210-1000-alerts`` bound with
``Algorithm.AlertReport.#`` (seeds 000 and 003, sample ``queue_backlog``); the job queue
``grpc-job-19-5`` (seed 004) bound with its own name; messages published to both through
the exchange, and no consumer. The command line is then run as a user would run it, each
step a subprocess: ``python -m panda_analysis collect`` with the collector's credentials
in the URL, ``diagnose --json`` and ``report`` on what it wrote.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

import panda_analysis as pa
from panda_analysis.findings import Code, Severity

VHOST = quote("/", safe="")
EXCHANGE = "prisma"
ALERTS = "prisma-210-1000-alerts"
JOB_QUEUE = "grpc-job-19-5"
ALERTS_KEY = "Algorithm.AlertReport.MLGround"
USER = "panda-collector-e2e"
# distinctive, so that finding it in a written file can only mean it leaked
PASSWORD = "Pz-e2e-7f3c9e1d-broker-secret"
ALERTS_PUBLISHED = 5
JOB_MESSAGES = 3


def _api(rabbitmq: dict[str, Any], method: str, path: str, body: Any = None) -> Any:
    import requests

    resp = requests.request(
        method,
        rabbitmq["mgmt_url"] + path,
        json=body,
        auth=(rabbitmq["user"], rabbitmq["password"]),
        timeout=10,
    )
    resp.raise_for_status()
    return resp.json() if resp.content else None


def _wait_for_ready(rabbitmq: dict[str, Any], queue: str, expected: int, timeout_s: float = 20.0) -> None:
    """The management API's counts lag the broker by the stats interval: wait until they show."""
    deadline = time.monotonic() + timeout_s
    seen = None
    while time.monotonic() < deadline:
        seen = _api(rabbitmq, "GET", f"/api/queues/{VHOST}/{queue}").get("messages_ready")
        if seen == expected:
            return
        time.sleep(0.2)
    pytest.fail(f"{queue}: messages_ready {seen}, expected {expected} within {timeout_s:g} s")


def _run(*args: str, cwd: Path, timeout_s: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RABBITMQ_USER", "RABBITMQ_PASSWORD")}
    return subprocess.run(
        [sys.executable, "-m", "panda_analysis", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def _files_holding(root: Path, secret: str) -> list[str]:
    needle = secret.encode()
    return [str(p.relative_to(root)) for p in sorted(root.rglob("*")) if p.is_file() and needle in p.read_bytes()]


@pytest.fixture(scope="module")
def broker(rabbitmq: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The platform's topology on the test broker, a publisher's messages, no consumer."""
    _api(rabbitmq, "PUT", f"/api/users/{USER}", {"password": PASSWORD, "tags": "monitoring"})
    # a monitoring user sees the vhost's queues only with access to it: "^$" grants that
    # access with no right to configure, write or read any resource
    _api(rabbitmq, "PUT", f"/api/permissions/{VHOST}/{USER}", {"configure": "^$", "write": "^$", "read": "^$"})
    _api(rabbitmq, "PUT", f"/api/exchanges/{VHOST}/{EXCHANGE}", {"type": "topic", "durable": True})
    _api(rabbitmq, "PUT", f"/api/queues/{VHOST}/{ALERTS}", {"durable": True})
    _api(rabbitmq, "PUT", f"/api/queues/{VHOST}/{JOB_QUEUE}", {"durable": False})
    for queue, key in ((ALERTS, "Algorithm.AlertReport.#"), (JOB_QUEUE, JOB_QUEUE)):
        _api(rabbitmq, "POST", f"/api/bindings/{VHOST}/e/{EXCHANGE}/q/{queue}", {"routing_key": key})
    try:
        messages = [
            (ALERTS_KEY, {"alertId": f"test-sd-{i}", "classId": 104, "severity": 3, "distance_m": 4163})
            for i in range(1, ALERTS_PUBLISHED + 1)
        ] + [(JOB_QUEUE, {"job_id": "19-5", "chunk": i}) for i in range(JOB_MESSAGES)]
        for key, body in messages:
            routed = _api(
                rabbitmq,
                "POST",
                f"/api/exchanges/{VHOST}/{EXCHANGE}/publish",
                {
                    "properties": {"content_type": "application/json", "delivery_mode": 2},
                    "routing_key": key,
                    "payload": json.dumps(body),
                    "payload_encoding": "string",
                },
            )
            assert routed == {"routed": True}, (key, routed)
        _wait_for_ready(rabbitmq, ALERTS, ALERTS_PUBLISHED)
        _wait_for_ready(rabbitmq, JOB_QUEUE, JOB_MESSAGES)
        yield rabbitmq
    finally:  # the broker is shared by the session: leave it as we found it
        for queue in (ALERTS, JOB_QUEUE):
            _api(rabbitmq, "DELETE", f"/api/queues/{VHOST}/{queue}")
        _api(rabbitmq, "DELETE", f"/api/exchanges/{VHOST}/{EXCHANGE}")
        _api(rabbitmq, "DELETE", f"/api/users/{USER}")


@pytest.fixture(scope="module")
def collected(broker: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``panda-analysis collect --no-kube --rabbitmq-url http://USER:PASS@127.0.0.1:PORT --out DIR``."""
    work = tmp_path_factory.mktemp("real_broker")
    url = broker["mgmt_url"].replace("http://", f"http://{USER}:{quote(PASSWORD, safe='')}@")
    out = work / "evidence"
    proc = _run(
        "collect",
        "--no-kube",
        "--rabbitmq-url",
        url,
        "--out",
        str(out),
        "--samples",
        "2",
        "--interval",
        "1s",
        cwd=work,
        timeout_s=120,
    )
    return {"work": work, "bundle": out, "proc": proc, "mgmt_url": broker["mgmt_url"]}


def test_collect_writes_a_bundle_without_the_password(collected: dict[str, Any]) -> None:
    proc, bundle = collected["proc"], collected["bundle"]
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["format"] == "panda-bundle/1"
    assert manifest["rabbitmq_api"]["url"] == collected["mgmt_url"]  # userinfo removed
    lines = (bundle / "rabbitmq" / "snapshots.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    queues = {q["name"]: q for q in json.loads(lines[-1])["queues"]}
    assert {ALERTS, JOB_QUEUE} <= set(queues)
    assert (queues[ALERTS]["messages_ready"], queues[ALERTS]["consumers"]) == (ALERTS_PUBLISHED, 0)
    assert (queues[JOB_QUEUE]["messages_ready"], queues[JOB_QUEUE]["consumers"]) == (JOB_MESSAGES, 0)
    assert not (bundle / "k8s").exists()  # --no-kube
    assert _files_holding(bundle, PASSWORD) == []
    assert PASSWORD not in proc.stdout + proc.stderr


def test_diagnose_finds_the_backlog_and_does_not_crash_on_the_job_queue(collected: dict[str, Any]) -> None:
    proc = _run("diagnose", str(collected["bundle"]), "--json", cwd=collected["work"], timeout_s=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])  # critical finding
    findings = json.loads(proc.stdout)
    by_subject: dict[str, set[str]] = {}
    for f in findings:
        by_subject.setdefault(f["subject"], set()).add(f["code"])
    assert "ANALYSIS_ERROR" not in {f["code"] for f in findings}, findings
    backlog = [f for f in findings if f["code"] == "QUEUE_BACKLOG" and f["subject"] == ALERTS]
    assert len(backlog) == 1, findings
    assert backlog[0]["severity"] == "critical"
    assert backlog[0]["metrics"]["messages_ready"] == ALERTS_PUBLISHED
    assert backlog[0]["metrics"]["consumers"] == 0
    # the job queue, seen for seconds only: messages and no consumer is a backlog; it would be
    # orphaned only after orphan_min_age_s (60 s) without consumer (pa.diagnose.queues docs)
    assert by_subject.get(JOB_QUEUE) == {"QUEUE_BACKLOG"}, findings
    # no consumer-creation verdict: nothing says when job 19-5 was configured (issue #11: crashed)
    assert "19-5" not in by_subject, findings
    assert PASSWORD not in proc.stdout + proc.stderr


def test_the_job_queue_is_orphaned_once_old_enough(collected: dict[str, Any]) -> None:
    # the same evidence in the library, with the orphan age lowered to what the snapshots span:
    # without Kubernetes evidence nothing shows the job alive, so the queue is orphaned
    frames = pa.load_bundle(collected["bundle"]).frames()
    stages = pa.diagnose.consumer_stages(frames)
    assert set(stages["job_id"]) == {"19-5"}
    assert set(stages["stage"].astype(str)) == {"queue_declared"}
    assert stages["since_configure_s"].isna().all()
    assert pa.diagnose.consumer(frames) == []
    found = pa.diagnose.queues(frames, orphan_min_age_s=0.0)
    job = [(f.code, f.severity) for f in found if f.subject == JOB_QUEUE]
    assert job == [(Code.QUEUE_ORPHANED, Severity.WARNING)], found
    assert found[[f.subject for f in found].index(JOB_QUEUE)].metrics["messages"] == JOB_MESSAGES


@pytest.mark.notebook
def test_report_pages_on_the_collected_bundle(collected: dict[str, Any]) -> None:
    out = collected["work"] / "report"
    proc = _run(
        "report",
        str(collected["bundle"]),
        "--out",
        str(out),
        "-n",
        "overview",
        "-n",
        "queues",
        "-n",
        "consumer_delay",
        cwd=collected["work"],
        timeout_s=900,
    )
    assert "Traceback" not in proc.stderr, proc.stderr[-4000:]
    assert proc.returncode == 1, (proc.returncode, proc.stdout[-2000:], proc.stderr[-4000:])  # critical, not 3
    for name in ("overview", "queues", "consumer_delay"):
        assert (out / f"{name}.ipynb").is_file(), sorted(p.name for p in out.iterdir())
        page = (out / f"{name}.html").read_text(encoding="utf-8")
        assert "<html" in page.lower()
    assert ALERTS in (out / "queues.html").read_text(encoding="utf-8")
    codes = {f["code"] for f in json.loads((out / "findings.json").read_text(encoding="utf-8"))}
    assert "QUEUE_BACKLOG" in codes
    assert "ANALYSIS_ERROR" not in codes
    assert _files_holding(out, PASSWORD) == []
    assert PASSWORD not in proc.stdout + proc.stderr
