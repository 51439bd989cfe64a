"""``serve-bundle`` against hostile requests and hostile evidence (issue #11), over real HTTP on loopback.

Each test plants one thing (a traversal in a URL, a link out of the bundle, a FIFO, a
60 KB selector, a 2 GiB sparse log, a PodList with wrong types) and checks the server
neither leaks, nor blocks, nor reads whole files, nor crashes: every answer is an HTTP
response with a Kubernetes ``Status`` body when it is an error, and the next request is
served. Requests go over raw sockets so that paths the ``kubernetes`` client would
refuse to build (``..``, NUL, backslashes) reach the server exactly as written.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import panda_analysis as pa
from panda_analysis import serve
from panda_analysis.serve import BundleServer, ServeError, ServeLimits

MARKER = "MARKER-OUTSIDE-THE-BUNDLE"
FOCUS_POD = "panda-panda-focus-server-78dbcfd9d9-kjj77"
FOCUS_LOG = f"logs/panda/{FOCUS_POD}/focus-server.log"
SEGY_POD = "panda-panda-segy-recorder-5f7b8c9d6d-p8r2m"
KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH")


# ----------------------------------------------------------------- raw HTTP
@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float = 0.0

    def json(self) -> Any:
        return json.loads(self.body, parse_constant=_no_constants)

    def status_doc(self) -> dict[str, Any]:
        """The body as a Kubernetes Status, checked to be one that matches the HTTP code."""
        doc = self.json()
        assert doc["kind"] == "Status", doc
        assert doc["apiVersion"] == "v1"
        assert doc["status"] == "Failure"
        assert doc["code"] == self.status
        assert doc["reason"]
        assert doc["message"]
        return doc


def _no_constants(text: str) -> Any:
    raise AssertionError(f"the server sent {text}, which is not JSON")


def send(
    server: BundleServer,
    target: str | bytes,
    *,
    method: str = "GET",
    headers: tuple[tuple[str, str], ...] = (("Accept", "application/json"),),
    timeout: float = 10.0,
) -> Reply:
    """One request on a fresh connection, the target sent byte for byte as given."""
    raw = target.encode("utf-8") if isinstance(target, str) else target
    head = method.encode() + b" " + raw + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    head += b"".join(f"{k}: {v}\r\n".encode() for k, v in headers)
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(head + b"\r\n")
        resp = http.client.HTTPResponse(sock, method=method)
        resp.begin()  # raises RemoteDisconnected when the server hangs up without answering
        body = resp.read()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body, time.monotonic() - started)


def log_url(pod: str, container: str, **params: str) -> str:
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in {"container": container, **params}.items())
    return f"/api/v1/namespaces/panda/pods/{pod}/log?{query}"


def strip_prefix(line: bytes) -> bytes:
    """A log line without the kubelet timestamp, as ``kubectl logs`` (no --timestamps) prints it."""
    match = re.match(rb"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2}) ", line)
    return line[match.end() :] if match else line


# ----------------------------------------------------------------- planted bundles
@dataclass
class Planted:
    base: Path
    root: Path  # the directory bundle
    tar_bundle: pa.Bundle
    servers: dict[str, BundleServer] = field(default_factory=dict)


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Planted]:
    """The waiting_for_fiber sample as a directory and as a .tar.gz, with things planted around and in it.

    Outside the bundles: ``X.log`` where ``<root>/../X.log`` lands for each of them (for a
    collected .tar.gz the root is a directory in $TMPDIR), and a secret log. Inside the
    directory bundle: a pod whose only log links to the secret, the rabbitmq log replaced
    by such a link, a log linking to /etc/passwd, a log that is a FIFO, and the segy
    recorder's log linking to the focus log inside the bundle (allowed).
    """
    base = tmp_path_factory.mktemp("planted")
    sample = pa.load_bundle("sample:waiting_for_fiber")
    root = base / "bundle"
    sample.save(root)
    (base / "X.log").write_text(f"{MARKER} (dir bundle parent)\n", encoding="utf-8")
    secret = base / "outside" / "secret.log"
    secret.parent.mkdir()
    secret.write_text(f"2025-11-08T13:18:00.000000000Z {MARKER} root:x:0:0:secret\n", encoding="utf-8")
    for rel, target in {
        "logs/panda/evil-0/app.log": secret,
        "logs/panda/rabbitmq-panda-0/rabbitmq.log": secret,
        "logs/panda/passwd-0/app.log": Path("/etc/passwd"),
        f"logs/panda/{SEGY_POD}/segy-recorder.log": root / FOCUS_LOG,
    }.items():
        link = root / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        link.unlink(missing_ok=True)
        link.symlink_to(target)
    (root / "logs/panda/fifo-0").mkdir()
    os.mkfifo(root / "logs/panda/fifo-0/app.log")
    archive = sample.save(base / "evidence.tar.gz")
    tmpdir = base / "tmp"
    tmpdir.mkdir()
    (tmpdir / "X.log").write_text(f"{MARKER} ($TMPDIR)\n", encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tempfile, "tempdir", str(tmpdir))
        tar_bundle = pa.load_bundle(archive)
    assert tar_bundle.root.parent == tmpdir  # <root>/../X.log is the planted file
    found = Planted(base, root, tar_bundle)
    limits = ServeLimits(max_watch_s=0.5)  # random requests may ask for a watch
    found.servers = {
        "dir": BundleServer(root, limits=limits).start(),
        "tar": BundleServer(tar_bundle, limits=limits).start(),
    }
    try:
        yield found
    finally:
        for server in found.servers.values():
            server.close()


TRAVERSALS = [
    "/api/v1/namespaces/../pods/../log?container=X",
    "/api/v1/namespaces/%2e%2e/pods/%2e%2e/log?container=X",
    "/api/v1/namespaces/%2E%2E/pods/%2E%2E/log?container=X",
    "/api/v1/namespaces/%252e%252e/pods/%252e%252e/log?container=X",
    "/api/v1/namespaces/..%2F..%2F/pods/x/log?container=X",
    "/api/v1/namespaces/panda/pods/..%2F..%2F..%2F/log?container=X",
    "/api/v1/namespaces/panda/pods/..%252F..%252F/log?container=X",
    f"/api/v1/namespaces/panda/pods/{FOCUS_POD}/log?container=../../../X",
    f"/api/v1/namespaces/panda/pods/{FOCUS_POD}/log?container=..%2F..%2F..%2FX",
    f"/api/v1/namespaces/panda/pods/{FOCUS_POD}/log?container=%2E%2E%2F%2E%2E%2F%2E%2E%2FX",
    f"/api/v1/namespaces/panda/pods/{FOCUS_POD}/log?container=%252e%252e%252fX",
    f"/api/v1/namespaces/panda/pods/{FOCUS_POD}/log?container=/etc/passwd",
    f"/api/v1/namespaces/panda/pods/{FOCUS_POD}/log?container=%2Fetc%2Fpasswd",
    f"/api/v1/namespaces/panda/pods/{FOCUS_POD}/log?container=..\\..\\..\\X",
    f"/api/v1/namespaces/panda/pods/{FOCUS_POD}/log?container=..%5C..%5C..%5CX",
    f"/api/v1/namespaces/panda/pods/{FOCUS_POD}/log?container=focus-server%00",
    f"/api/v1/namespaces/panda/pods/{FOCUS_POD}/log?container=focus-server%00.previous",
    f"/api/v1/namespaces/panda/pods/{FOCUS_POD}/log?container=focus-server/../../../X",
    f"/api/v1/namespaces/panda/pods/{FOCUS_POD}/log?container=focus-server.previous",
    f"/api/v1/namespaces/panda/pods/{FOCUS_POD}%00/log?container=focus-server",
    f"/api/v1/namespaces/panda/pods/{FOCUS_POD}%2F..%2F..%2F/log?container=focus-server",
    "/api/v1/namespaces/panda%00/pods/x/log",
    "/api/v1/namespaces/panda\\..\\..\\/pods/x/log",
    "/api/v1/namespaces/%2Fetc/pods",
    "/api/v1/namespaces/..",
    "/api/v1/namespaces/panda/pods/%2Fetc%2Fpasswd",
    f"/api/v1/namespaces/{'a' * 64}/pods/x/log",
    f"/api/v1/namespaces/panda/pods/{'a' * 254}/log",
    f"/api/v1/namespaces/panda/pods/{'a.' * 2000}/log",
    f"/api/v1/namespaces/panda/pods/{FOCUS_POD}/log?container={'a' * 64}",
    f"/api/v1/namespaces/panda/pods/{FOCUS_POD}/log?container=focus-server&previous=..%2F..%2FX",
    f"/api/v1/namespaces/panda/pods/{FOCUS_POD}/log?container=focus-server&sinceTime=..%2F..%2FX",
    "http://127.0.0.1/api/v1/namespaces/../pods/../log?container=X",  # absolute-form request target
    "/api/v1/namespaces/panda/pods/evil-0/log",  # links out of the directory bundle
    "/api/v1/namespaces/panda/pods/passwd-0/log",
    "/api/v1/namespaces/panda/pods/rabbitmq-panda-0/log?container=rabbitmq",
]


DIR_ONLY = {TRAVERSALS[-1]}  # the .tar.gz holds the real rabbitmq log, the directory a link out


@pytest.mark.parametrize(
    ("kind", "target"), [(k, t) for t in TRAVERSALS for k in ("dir", "tar") if k == "dir" or t not in DIR_ONLY]
)
def test_no_url_reads_outside_the_bundle(planted: Planted, kind: str, target: str) -> None:
    reply = send(planted.servers[kind], target)
    assert MARKER.encode() not in reply.body
    assert b"root:x:0:0" not in reply.body
    assert reply.status in (400, 403, 404), (reply.status, reply.body[:300])
    reply.status_doc()


@pytest.mark.parametrize("kind", ["dir", "tar"])
def test_the_bundle_is_still_served_around_the_traps(planted: Planted, kind: str) -> None:
    """The positive control: the same servers answer the real log, byte for byte."""
    root = planted.root if kind == "dir" else planted.tar_bundle.root
    expected = (root / FOCUS_LOG).read_bytes()
    reply = send(planted.servers[kind], log_url(FOCUS_POD, "focus-server", timestamps="true"))
    assert (reply.status, reply.body) == (200, expected)
    plain = send(planted.servers[kind], log_url(FOCUS_POD, "focus-server"))
    assert plain.body == b"".join(strip_prefix(line) for line in expected.splitlines(keepends=True))


def test_links_out_are_forbidden_and_links_inside_are_followed(planted: Planted) -> None:
    server = planted.servers["dir"]
    for target in ("/api/v1/namespaces/panda/pods/evil-0/log", log_url("rabbitmq-panda-0", "rabbitmq")):
        reply = send(server, target)
        assert reply.status == 403
        assert "a link that leaves the bundle" in reply.status_doc()["message"]
    inside = send(server, log_url(SEGY_POD, "segy-recorder", timestamps="true"))
    assert (inside.status, inside.body) == (200, (planted.root / FOCUS_LOG).read_bytes())
    problems = "\n".join(server.problems)
    assert "logs/panda/evil-0/app.log" in problems
    assert "logs/panda/fifo-0/app.log" in problems  # refused entries are listed, never silently gone


def test_a_fifo_log_answers_at_once_and_the_server_goes_on(planted: Planted) -> None:
    server = planted.servers["dir"]
    reply = send(server, "/api/v1/namespaces/panda/pods/fifo-0/log", timeout=5)
    assert reply.status == 403
    assert "FIFO" in reply.status_doc()["message"]
    assert reply.seconds < 2
    assert send(server, "/version", timeout=5).json()["gitVersion"].startswith("v1.32")


def test_a_log_swapped_for_a_fifo_or_a_link_after_start_is_refused(tmp_path: Path) -> None:
    """The check happens on the opened file too, not only when the bundle was walked."""
    root = tmp_path / "bundle"
    pa.load_bundle("sample:waiting_for_fiber").save(root)
    secret = tmp_path / "secret.log"
    secret.write_text(f"{MARKER}\n", encoding="utf-8")
    with BundleServer(root) as server:
        assert send(server, log_url(FOCUS_POD, "focus-server")).status == 200
        log_file = root / FOCUS_LOG
        log_file.unlink()
        os.mkfifo(log_file)
        reply = send(server, log_url(FOCUS_POD, "focus-server"), timeout=5)
        assert (reply.status, reply.status_doc()["reason"]) == (403, "Forbidden")
        log_file.unlink()
        log_file.symlink_to(secret)
        reply = send(server, log_url(FOCUS_POD, "focus-server"), timeout=5)
        assert reply.status == 403
        assert MARKER.encode() not in reply.body
        assert send(server, "/api/v1/namespaces/panda/pods").status == 200


@needs_kubectl
def test_kubectl_logs_of_a_linked_log_is_forbidden(planted: Planted, tmp_path: Path) -> None:
    server = planted.servers["dir"]
    config = server.write_kubeconfig(tmp_path / "kubeconfig")
    assert KUBECTL is not None
    result = subprocess.run(
        [
            KUBECTL,
            "--kubeconfig",
            str(config),
            "--cache-dir",
            str(tmp_path / "cache"),
            "logs",
            "-n",
            "panda",
            "rabbitmq-panda-0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "Forbidden" in result.stderr
    assert MARKER not in result.stdout + result.stderr


# ----------------------------------------------------------------- selectors
@pytest.fixture(scope="module")
def sample_server() -> Iterator[BundleServer]:
    with BundleServer("sample:waiting_for_fiber", limits=ServeLimits(max_watch_s=0.5)) as server:
        yield server


PATHOLOGICAL = {
    "60 KB of one identifier": "a" * 60_000,
    "60 KB of requirements": ",".join(["app.kubernetes.io/name=x"] * 2_500),
    "60 KB set": "app in (" + "a," * 30_000 + ")",
    "60 KB of spaces before a bang": " " * 60_000 + "!",
    "9 KB of spaces between key and value": "app" + " " * 9_000 + "=" + "x",
    "9 KB identifier then a bad operator": "a" * 9_000 + " ~ b",
    "9 KB of bangs": "!" * 9_000,
    "9 KB of open parens": "app in " + "(" * 9_000,
    "9 KB of commas": "a," * 4_500,
}


@pytest.mark.parametrize("selector", list(PATHOLOGICAL.values()), ids=list(PATHOLOGICAL))
@pytest.mark.parametrize("param", ["labelSelector", "fieldSelector"])
def test_pathological_selectors_are_refused_at_once(sample_server: BundleServer, param: str, selector: str) -> None:
    reply = send(sample_server, f"/api/v1/pods?{param}={quote(selector, safe='')}")
    assert reply.seconds < 2  # a generous bound: the backtracking regex took 45 s for 60 KB
    if len(selector) > ServeLimits().max_selector_chars or param == "fieldSelector" or "," in selector[-2:]:
        assert reply.status == 400, reply.body[:300]
    if reply.status != 200:  # "app<9 KB of spaces>=x" is a valid label selector
        assert reply.status_doc()["reason"] == "BadRequest"


def test_selector_caps_name_the_cap(sample_server: BundleServer) -> None:
    message = send(sample_server, "/api/v1/pods?labelSelector=" + "a" * 20_000).status_doc()["message"]
    assert "10240-character cap" in message
    many = ",".join(f"k{i}=v" for i in range(101))
    assert (
        "more than 100 requirements"
        in send(sample_server, f"/api/v1/pods?labelSelector={many}").status_doc()["message"]
    )


def test_selectors_still_select_as_the_api_does(sample_server: BundleServer) -> None:
    """The linear parser reads what apimachinery reads (expectations from the bundle's pods.json)."""
    pods = json.loads((sample_server.bundle.root / "k8s/pods.json").read_text(encoding="utf-8"))["items"]

    def names(query: str) -> list[str]:
        reply = send(sample_server, f"/api/v1/pods?{query}")
        assert reply.status == 200, reply.body
        return sorted(p["metadata"]["name"] for p in reply.json()["items"])

    def where(keep: Any) -> list[str]:
        return sorted(p["metadata"]["name"] for p in pods if keep(p["metadata"].get("labels", {}), p))

    key = "app.kubernetes.io/name"
    assert names(quote(f"labelSelector={key} notin (mongodb, panda-panda-focus-server)", safe="=")) == where(
        lambda labels, _: labels.get(key) not in ("mongodb", "panda-panda-focus-server")
    )
    assert names(quote(f"labelSelector=  {key} == mongodb ,  !job-name ", safe="=")) == where(
        lambda labels, _: labels.get(key) == "mongodb" and "job-name" not in labels
    )
    assert names("labelSelector=" + quote("pod-template-hash", safe="")) == where(
        lambda labels, _: "pod-template-hash" in labels
    )
    assert names("fieldSelector=" + quote("metadata.namespace=kube-system,status.phase==Running", safe="")) == sorted(
        p["metadata"]["name"]
        for p in pods
        if p["metadata"]["namespace"] == "kube-system" and p["status"]["phase"] == "Running"
    )
    for bad in ("a=b,", "a in (b", "a in b", "=b", "a=b=c", "a b", "Bad Key=x", "a=" + "v" * 64, "a>x", "!"):
        reply = send(sample_server, "/api/v1/pods?labelSelector=" + quote(bad, safe=""))
        assert reply.status == 400, bad
        assert reply.status_doc()["message"].startswith("unable to parse requirement")
    assert send(sample_server, "/api/v1/pods?fieldSelector=" + quote("metadata.name=a\\x", safe="")).status == 400


def test_gt_and_lt_compare_integer_labels(tmp_path: Path) -> None:
    pod = json.loads((pa.samples.path("waiting_for_fiber") / "k8s/pods.json").read_text(encoding="utf-8"))["items"][0]
    items = []
    for name, tier in (("web-0", "1"), ("web-1", "3"), ("web-2", "x")):
        item = json.loads(json.dumps(pod))
        item["metadata"].update(name=name, labels={"tier": tier})
        items.append(item)
    root = tmp_path / "bundle"
    with pa.bundle.BundleWriter(root) as writer:
        writer.add_json("k8s/pods.json", {"apiVersion": "v1", "kind": "List", "items": items})
    with BundleServer(root) as server:
        assert [p["metadata"]["name"] for p in send(server, "/api/v1/pods?labelSelector=tier%3E2").json()["items"]] == [
            "web-1"
        ]
        assert [p["metadata"]["name"] for p in send(server, "/api/v1/pods?labelSelector=tier%3C2").json()["items"]] == [
            "web-0"
        ]


# ----------------------------------------------------------------- request caps and timeouts
def test_oversized_requests_get_414_431_and_400(sample_server: BundleServer) -> None:
    long_url = send(sample_server, "/api/v1/pods?labelSelector=" + "a" * 300_000)
    assert long_url.status == 414
    assert long_url.status_doc()["reason"] == "RequestURITooLong"
    big_header = send(sample_server, "/version", headers=(("X-Padding", "p" * 70_000),))
    assert big_header.status == 431
    big_header.status_doc()
    many = send(sample_server, "/version", headers=tuple((f"X-H{i}", "1") for i in range(150)))
    assert many.status == 431
    params = "&".join(f"p{i}=1" for i in range(150))
    assert send(sample_server, f"/api/v1/pods?{params}").status_doc()["code"] == 400
    assert send(sample_server, "/version").status == 200


def test_bad_http_is_answered_with_a_status(sample_server: BundleServer) -> None:
    for request in (b"GARBAGE\r\n\r\n", b"GET /version HTTP/9.9\r\n\r\n", b"GET /version HTTP/x\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", sample_server.port), timeout=5) as sock:
            sock.sendall(request)
            resp = http.client.HTTPResponse(sock)
            resp.begin()
            reply = Reply(resp.status, {}, resp.read())
        assert reply.status >= 400, request
        reply.status_doc()
    brew = send(sample_server, "/api/v1/pods", method="BREW")
    assert (brew.status, brew.status_doc()["reason"]) == (405, "MethodNotAllowed")
    assert send(sample_server, "/api/v1/pods?limit=1&continue=" + quote("eyJzdGFydCI6IC0xfQ==", safe="")).status == 410
    assert send(sample_server, "/api/v1/pods?limit=99999999999999999999999").status == 400
    assert send(sample_server, "/api/v1/pods?watch=maybe").status == 400


@pytest.fixture
def strict_server() -> Iterator[BundleServer]:
    limits = ServeLimits(idle_timeout_s=0.5, header_timeout_s=1.0, max_watch_s=1.0, max_connections=2)
    with BundleServer("sample:healthy", limits=limits) as server:
        yield server


def _closed_within(sock: socket.socket, seconds: float) -> float:
    """Seconds until the server closes ``sock`` (fails when it stays open longer than ``seconds``)."""
    started = time.monotonic()
    sock.settimeout(seconds)
    while sock.recv(65536):
        pass
    return time.monotonic() - started


def _trickle_until_closed(sock: socket.socket, *, seconds: float) -> bool:
    """Send a byte every 0.1 s; False once the server has closed the connection, True if it is still open after ``seconds``."""
    until = time.monotonic() + seconds
    try:
        while time.monotonic() < until:
            sock.sendall(b"X")
            time.sleep(0.1)
    except OSError:
        return False
    return True


def test_idle_and_trickling_connections_are_closed(strict_server: BundleServer) -> None:
    with socket.create_connection(("127.0.0.1", strict_server.port)) as idle:
        assert _closed_within(idle, 5) < 3
    with socket.create_connection(("127.0.0.1", strict_server.port)) as slow:  # a slowloris client
        slow.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        assert not _trickle_until_closed(slow, seconds=5)  # one header byte at a time, faster than the idle timeout
        assert time.monotonic() - started < 4
    with socket.create_connection(("127.0.0.1", strict_server.port)) as kept:  # keep-alive, then silence
        kept.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
        resp = http.client.HTTPResponse(kept)
        resp.begin()
        assert resp.status == 200
        resp.read()
        assert _closed_within(kept, 5) < 3
    assert send(strict_server, "/version").status == 200


def test_watches_end_by_themselves_and_when_abandoned(strict_server: BundleServer) -> None:
    for query in ("watch=true", "watch=true&timeoutSeconds=100000"):
        reply = send(strict_server, f"/api/v1/namespaces/panda/pods?{query}", timeout=10)
        events = [json.loads(line) for line in reply.body.splitlines()]
        assert events
        assert {e["type"] for e in events} == {"ADDED"}
        assert reply.seconds < 4  # max_watch_s=1: capped whatever the client asks


def test_an_abandoned_watch_frees_its_connection(tmp_path: Path) -> None:
    """A client that leaves a watch does not hold the server's one connection slot for the watch's hour."""
    with BundleServer("sample:healthy", limits=ServeLimits(max_connections=1, max_watch_s=600)) as server:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        sock.sendall(b"GET /api/v1/pods?watch=true&timeoutSeconds=600 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 200")
        assert send(server, "/version").status == 429  # the watch holds the only slot
        sock.close()
        until = time.monotonic() + 3
        while (status := send(server, "/version").status) == 429 and time.monotonic() < until:
            time.sleep(0.1)
        assert status == 200


def test_connections_over_the_cap_get_429_with_retry_after() -> None:
    with BundleServer("sample:healthy", limits=ServeLimits(max_connections=2, idle_timeout_s=30)) as server:
        held = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(2)]
        try:
            over = send(server, "/version")
            assert (over.status, over.headers.get("retry-after")) == (429, "1")
            assert over.status_doc()["reason"] == "TooManyRequests"
        finally:
            for sock in held:
                sock.close()
        until = time.monotonic() + 3  # the held connections' threads see EOF and free their slots
        while (status := send(server, "/version").status) == 429 and time.monotonic() < until:
            time.sleep(0.1)
        assert status == 200


# ----------------------------------------------------------------- big logs, bounded memory
def _rss_kib(field_name: str) -> int:
    status = Path("/proc/self/status").read_text(encoding="ascii")
    match = re.search(rf"^{field_name}:\s+(\d+) kB", status, re.MULTILINE)
    assert match is not None
    return int(match.group(1))


def peak_growth_mib(call: Any) -> tuple[Any, float]:
    """Run ``call`` and return its result with how far the process's peak RSS rose above its RSS (MiB)."""
    try:
        Path("/proc/self/clear_refs").write_text("5", encoding="ascii")  # reset VmHWM to the current RSS
    except OSError:
        pytest.skip("cannot reset the peak RSS (/proc/self/clear_refs)")
    before = _rss_kib("VmRSS")
    result = call()
    return result, (_rss_kib("VmHWM") - before) / 1024


HEAD_LINES = [
    f"2025-11-08T13:{m:02d}:00.{m:09d}Z 2025-11-08T13:{m:02d}:00+0000 INFO pz.focus_server GET /live_metadata 200\n"
    for m in range(20)
]
TAIL_LINES = [
    f"2025-11-08T13:{20 + m:02d}:00.000000001Z 2025-11-08T13:{20 + m:02d}:00+0000 WARNING pz.focus_server waiting for fiber ({m})\n"
    for m in range(10)
]


@pytest.fixture(scope="module")
def big_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, BundleServer, BundleServer]]:
    """The focus log as 20 real lines, a 2 GiB sparse hole (no disk), then 10 real lines; and one of only zeros."""
    root = tmp_path_factory.mktemp("big") / "bundle"
    pa.load_bundle("sample:waiting_for_fiber").save(root)
    path = root / FOCUS_LOG
    with path.open("wb") as out:
        out.write("".join(HEAD_LINES).encode())
        out.truncate(2 * 1024**3)
        out.seek(0, os.SEEK_END)
        out.write("".join(TAIL_LINES).encode())
    zeros = root / "logs/panda/rabbitmq-panda-0/rabbitmq.log"
    with zeros.open("wb") as out:
        out.truncate(2 * 1024**3)
    with BundleServer(root) as server, BundleServer(root, limits=ServeLimits(max_log_bytes=1 << 20)) as capped:
        yield path, server, capped


def test_limit_bytes_on_a_2_gib_log_reads_100_bytes(big_log: tuple[Path, BundleServer, BundleServer]) -> None:
    _, server, _ = big_log
    head = "".join(HEAD_LINES).encode()
    reply, growth = peak_growth_mib(
        lambda: send(server, log_url(FOCUS_POD, "focus-server", limitBytes="100", timestamps="true"))
    )
    assert (reply.status, reply.body) == (200, head[:100])
    assert growth < 64, f"peak RSS grew by {growth:.0f} MiB to answer limitBytes=100"
    plain = send(server, log_url(FOCUS_POD, "focus-server", limitBytes="100"))
    assert plain.body == b"".join(strip_prefix(line.encode()) for line in HEAD_LINES)[:100]


def test_tail_lines_on_a_2_gib_log_reads_from_the_end(big_log: tuple[Path, BundleServer, BundleServer]) -> None:
    _, server, _ = big_log
    reply, growth = peak_growth_mib(lambda: send(server, log_url(FOCUS_POD, "focus-server", tailLines="5")))
    assert reply.body == b"".join(strip_prefix(line.encode()) for line in TAIL_LINES[-5:])
    assert reply.seconds < 2
    assert growth < 64
    stamped = send(server, log_url(FOCUS_POD, "focus-server", tailLines="3", timestamps="true", limitBytes="50"))
    assert stamped.body == "".join(TAIL_LINES[-3:]).encode()[:50]
    assert send(server, log_url(FOCUS_POD, "focus-server", tailLines="0")).body == b""


def test_a_window_on_a_2_gib_log_streams_under_the_cap(
    big_log: tuple[Path, BundleServer, BundleServer], caplog: pytest.LogCaptureFixture
) -> None:
    """sinceTime keeps the 2 GiB line of zeros (it has no time): the response stops at the server's cap."""
    _, _, capped = big_log
    with caplog.at_level(logging.WARNING, logger="panda_analysis.serve"):
        reply, growth = peak_growth_mib(
            lambda: send(capped, log_url(FOCUS_POD, "focus-server", sinceTime="2025-11-08T13:10:00Z"), timeout=60)
        )
    kept = b"".join(strip_prefix(line.encode()) for line in HEAD_LINES[10:])
    assert len(reply.body) == 1 << 20
    assert reply.body.startswith(kept)
    assert reply.body[len(kept) :] == b"\0" * ((1 << 20) - len(kept))
    assert growth < 64
    assert any("cut at the server's 1048576-byte cap" in r.getMessage() for r in caplog.records)
    tail = send(capped, log_url("rabbitmq-panda-0", "rabbitmq", tailLines="5"), timeout=60)
    assert len(tail.body) == 1 << 20  # no newline in 2 GiB: read back no further than the cap


@st.composite
def log_texts(draw: st.DrawFn) -> bytes:
    stamps = st.sampled_from(
        ["2025-11-08T13:18:00.414756434Z ", "2025-11-08T13:19:30Z ", "2025-11-08T13:20:00.5+01:00 ", ""]
    )
    words = st.text(alphabet="ab \t\r\x00é", max_size=12)
    lines = draw(st.lists(st.tuples(stamps, words), max_size=12))
    text = "\n".join(stamp + word for stamp, word in lines)
    return (text + draw(st.sampled_from(["", "\n"]))).encode("utf-8")


def expected_log(data: bytes, *, tail: int | None, since: str | None, timestamps: bool, limit: int | None) -> bytes:
    """kubelet's answer, computed naively in memory: tail first, then the window, then the prefix, then the limit."""
    lines = data.split(b"\n")
    lines = [line + b"\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])
    if tail is not None:
        lines = lines[max(0, len(lines) - tail) :] if tail else []  # tail beyond the file: all of it
    out = []
    for line in lines:
        match = re.match(rb"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})) ", line)
        if match and since is not None and pd.Timestamp(match.group(1).decode()) < pd.Timestamp(since):
            continue
        out.append(line if timestamps or not match else line[match.end() :])
    body = b"".join(out)
    return body if limit is None else body[:limit]


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=log_texts(),
    tail=st.one_of(st.none(), st.integers(0, 14)),
    since=st.sampled_from([None, "2025-11-08T13:19:00Z", "2025-11-08T13:19:45Z"]),
    timestamps=st.booleans(),
    limit=st.one_of(st.none(), st.integers(1, 80)),
    block=st.sampled_from([1, 3, 7, 64 * 1024]),
)
def test_streamed_logs_equal_the_whole_file_answer(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    data: bytes,
    tail: int | None,
    since: str | None,
    timestamps: bool,
    limit: int | None,
    block: int,
) -> None:
    """Streaming in tiny blocks (lines and prefixes split across them) gives what the whole-file answer gives."""
    monkeypatch.setattr(serve, "_BLOCK", block)
    path = tmp_path / "f.log"
    path.write_bytes(data)
    with path.open("rb") as handle:
        start = 0 if tail is None else serve._tail_start(handle, tail, max_scan=1 << 20)
        plan = serve._LogPlan(
            "f.log",
            handle,
            start,
            serve._parse_time(since),
            not timestamps,
            limit or (1 << 20),
            capped=limit is None,
        )
        got = b"".join(serve._log_pieces(plan))
    got = got if limit is None else got[:limit]
    assert got == expected_log(data, tail=tail, since=since, timestamps=timestamps, limit=limit)


# ----------------------------------------------------------------- hostile JSON
def _real_pod() -> dict[str, Any]:
    doc = json.loads((pa.samples.path("waiting_for_fiber") / "k8s/pods.json").read_text(encoding="utf-8"))
    return doc["items"][0]  # the focus server pod, restarted 4 times, as `kubectl get pods -o json` saved it


def _pod(name: str, **changes: Any) -> dict[str, Any]:
    pod = json.loads(json.dumps(_real_pod()))
    pod["metadata"]["name"] = name
    for dotted, value in changes.items():
        target = pod
        *parents, last = dotted.split("__")
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        target[last] = value
    return pod


ODD_COUNTS = {  # restartCount as the raw JSON text
    "huge-float": "1e400",
    "negative": "-1",
    "string": '"7"',
    "beyond-int64": str(2**70),
    "null": "null",
    "boolean": "true",
    "array": "[4]",
    "nan": "NaN",
    "minus-infinity": "-Infinity",
    "five-thousand-digits": "9" * 5000,
}


def odd_numbers_pods() -> str:
    pods = []
    for label, literal in ODD_COUNTS.items():
        pod = _pod(f"odd-{label}-0", status__containerStatuses__0__restartCount="@@RC@@")
        pods.append(json.dumps(pod).replace('"@@RC@@"', literal))
    return '{"apiVersion": "v1", "kind": "List", "items": [' + ",".join(pods) + "]}"


def wrong_type_pods() -> str:
    pods: list[Any] = [
        _pod("metadata-string", metadata="panda/metadata-string"),
        _pod("labels-list", metadata__labels=["app=x", 7]),
        _pod("name-number", metadata__name=42),
        _pod("namespace-object", metadata__namespace={"name": "panda"}),
        _pod("spec-number", spec=7),
        _pod("status-list", status=["Running"]),
        _pod("statuses-object", status__containerStatuses={"focus-server": {}}),
        _pod("status-entry-string", status__containerStatuses=["focus-server"]),
        _pod("terminated-string", status__containerStatuses__0__lastState={"terminated": "OOMKilled"}),
        _pod("conditions-string", status__conditions="True"),
        _pod("pod-ips-numbers", status__podIPs=[1, 2], status__podIP=["10.0.0.1"]),
        _pod("time-number", metadata__creationTimestamp=1731070000),
        _pod("time-year-one", metadata__creationTimestamp="0001-01-01T00:00:00-23:59"),
        _pod("time-garbage", metadata__creationTimestamp="2025-13-45T99:99:99Z"),
        _pod("containers-string", spec__containers="focus-server"),
        _pod("gates-strings", spec__readinessGates=["a", {"conditionType": ["x"]}]),
        _pod("init-odd", spec__initContainers=[{"name": ["x"], "restartPolicy": "Always"}, 5]),
        "a string item",
        5,
        None,
        [],
    ]
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": pods})


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


HOSTILE_PARTS: dict[str, dict[str, str | bytes]] = {
    "odd numbers": {"k8s/pods.json": odd_numbers_pods()},
    "wrong types": {
        "k8s/pods.json": wrong_type_pods(),
        "k8s/events.json": '{"apiVersion": "v1", "kind": "EventList", "items": {"not": "a list"}}',
        "k8s/services.json": '"a JSON string, not a list"',
        "k8s/endpoints.json": '{"kind": "List", "items": [{"metadata": {"name": "a", "namespace": "panda"}}],'
        ' "items": [{"metadata": {"name": "b", "namespace": "panda"}, "subsets": [{"addresses": "10.0.0.1"}]}]}',
    },
    "deep nesting": {
        "k8s/pods.json": json.dumps({"kind": "List", "items": [_real_pod()]})[:-2]
        + ', {"metadata": {"name": "deep", "namespace": "panda"}, "spec": '
        + _nested(200)
        + "}]}",
        "k8s/jobs.json": '{"kind": "List", "items": [{"spec": ' + _nested(100_000) + "}]}",
        "k8s/namespaces.json": '{"kind": "List", "items": [{"metadata": {"name": "panda", "x": '
        + _nested(300)
        + "}}]}",
    },
    "broken bytes": {
        "k8s/pods.json": b'{"kind": "List", "items": [\xff\xfe]}',
        "k8s/events.json": '{"kind": "List", "items": [',
        "k8s/jobs.json": b"\x00" * 1000,
        "k8s/services.json": "\ufeff"
        + json.dumps({"kind": "List", "items": [{"metadata": {"name": "bom", "namespace": "panda"}}]}),
        "k8s/endpoints.json": '{"kind": "List", "items": [{"metadata": {"name": "\\ud800", "namespace": "panda"}}]}',
    },
}

LIST_URLS = [
    "/api/v1/pods",
    "/api/v1/namespaces/panda/pods",
    "/api/v1/namespaces/panda/pods?labelSelector=app.kubernetes.io%2Fname%3Dpanda-panda-focus-server",
    "/api/v1/pods?fieldSelector=status.phase%3DRunning,spec.nodeName%3Dstaging-node-2",
    "/api/v1/pods?limit=2",
    "/api/v1/namespaces/panda/pods?watch=true&timeoutSeconds=0",
    "/api/v1/events",
    "/api/v1/services",
    "/api/v1/endpoints",
    "/apis/batch/v1/jobs",
    "/api/v1/namespaces",
    "/api/v1/namespaces/panda",
]
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def _check_answer(reply: Reply, target: str) -> None:
    if reply.status >= 500:
        doc = reply.status_doc()
        assert reply.status == 500
        assert doc["reason"] == "InternalError"
        assert re.search(r"k8s/\w+\.json", doc["message"]), doc["message"]  # names the file
    elif "watch=true" in target:
        for line in reply.body.splitlines():
            assert json.loads(line, parse_constant=_no_constants)["type"] == "ADDED"
    elif "/log" not in target:
        reply.json()


@pytest.mark.parametrize("case", list(HOSTILE_PARTS))
def test_hostile_json_parts_never_crash_a_request(
    make_bundle: Any, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    root = make_bundle(HOSTILE_PARTS[case])
    with caplog.at_level(logging.DEBUG, logger="panda_analysis.serve"), BundleServer(root) as server:
        pods_doc = send(server, "/api/v1/pods")
        names = [
            p["metadata"]["name"]
            for p in (pods_doc.json().get("items", []) if pods_doc.status == 200 else [])
            if isinstance(p.get("metadata"), dict) and isinstance(p["metadata"].get("name"), str)
        ]
        targets = [*LIST_URLS, *(f"/api/v1/namespaces/panda/pods/{n}" for n in names)]
        targets += [f"/api/v1/namespaces/panda/pods/{n}/log" for n in names]
        for target in targets:
            for accept in ("application/json", TABLE):
                reply = send(server, target, headers=(("Accept", accept),))
                _check_answer(reply, target)
        assert send(server, "/version").status == 200
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], "a request crashed"
    assert server.problems or case == "odd numbers"
    assert {r.getMessage() for r in caplog.records if r.levelno == logging.WARNING} >= {
        f"{root}: {p}" for p in server.problems
    }


def test_odd_restart_counts_are_listed_printed_and_kept_valid_json(make_bundle: Any) -> None:
    root = make_bundle(HOSTILE_PARTS["odd numbers"])
    with BundleServer(root) as server:
        listed = send(server, "/api/v1/pods").json()["items"]  # parse_constant refuses NaN/Infinity
        counts = {p["metadata"]["name"]: p["status"]["containerStatuses"][0]["restartCount"] for p in listed}
        table = send(server, "/api/v1/namespaces/panda/pods", headers=(("Accept", TABLE),)).json()
        problems = server.problems
    assert sorted(counts) == sorted(f"odd-{label}-0" for label in ODD_COUNTS)
    assert counts["odd-negative-0"] == -1
    assert counts["odd-beyond-int64-0"] == 2**70  # an integer too big for int32 is still served as it was
    assert counts["odd-huge-float-0"] == "1e400"  # a float cannot hold it: kept as its text
    assert counts["odd-nan-0"] == "NaN"
    restarts = {row["cells"][0]: row["cells"][3] for row in table["rows"]}
    assert restarts["odd-negative-0"].startswith("-1")
    assert restarts["odd-string-0"].startswith("7 (")
    assert restarts["odd-huge-float-0"] == "0"
    assert any("numbers out of range" in p and "k8s/pods.json" in p for p in problems)


def test_wrong_types_are_served_reported_and_broken_parts_named(make_bundle: Any) -> None:
    root = make_bundle(HOSTILE_PARTS["wrong types"])
    with BundleServer(root) as server:
        listed = send(server, "/api/v1/pods").json()["items"]
        table = send(server, "/api/v1/pods", headers=(("Accept", TABLE),)).json()
        events = send(server, "/api/v1/events")
        services = send(server, "/api/v1/services")
        endpoints = send(server, "/api/v1/endpoints").json()["items"]
        problems = "\n".join(server.problems)
    assert len(listed) == 17  # every object item, whatever its fields hold
    assert len(table["rows"]) == 17
    assert events.status == 500
    assert 'k8s/events.json: "items" is a JSON object, not an array' in events.status_doc()["message"]
    assert "k8s/services.json: a JSON string" in services.status_doc()["message"]
    assert [e["metadata"]["name"] for e in endpoints] == ["b"]  # duplicate key: the last wins, as kubectl reads it
    assert "k8s/pods.json: 4 of 21 items are not JSON objects" in problems
    assert 'k8s/endpoints.json: 1 duplicate JSON keys (first: "items")' in problems


def test_deep_nesting_is_refused_without_recursion(make_bundle: Any) -> None:
    root = make_bundle(HOSTILE_PARTS["deep nesting"])
    with BundleServer(root) as server:
        pods = [p["metadata"]["name"] for p in send(server, "/api/v1/pods").json()["items"]]
        jobs = send(server, "/apis/batch/v1/jobs")
        namespaces = send(server, "/api/v1/namespaces").json()["items"]
        problems = "\n".join(server.problems)
    assert pods == [FOCUS_POD]
    assert "k8s/pods.json: 1 items nest deeper than 64 levels" in problems
    assert (jobs.status, jobs.status_doc()["message"]) == (500, "k8s/jobs.json: JSON nested too deeply to read")
    assert [n["metadata"]["name"] for n in namespaces] == ["panda"]  # derived from the pod, the deep one left out


def test_a_json_part_over_the_cap_or_a_fifo_is_named(make_bundle: Any) -> None:
    root = make_bundle({"k8s/pods.json": (pa.samples.path("waiting_for_fiber") / "k8s/pods.json").read_text("utf-8")})
    os.mkfifo(root / "k8s/events.json")
    started = time.monotonic()
    with BundleServer(root, limits=ServeLimits(max_json_bytes=1000)) as server:
        assert time.monotonic() - started < 5  # the FIFO did not block the start
        pods = send(server, "/api/v1/pods")
        events = send(server, "/api/v1/events")
    assert "over the 1000-byte cap" in pods.status_doc()["message"]
    assert "k8s/events.json: a FIFO" in events.status_doc()["message"]


def test_unreadable_files_answer_500_naming_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """EACCES on open (as for a file without read permission; these tests may run as root, so it is injected)."""
    root = tmp_path / "bundle"
    pa.load_bundle("sample:waiting_for_fiber").save(root)
    real_open = serve.open_regular

    def denied(path: str | os.PathLike[str]) -> Any:
        if Path(path).name in ("events.json", "focus-server.log"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_open(path)

    monkeypatch.setattr(serve, "open_regular", denied)
    with BundleServer(root) as server:
        events = send(server, "/api/v1/events")
        log = send(server, log_url(FOCUS_POD, "focus-server"))
        pods = send(server, "/api/v1/pods")
    assert events.status_doc()["message"] == "k8s/events.json: cannot read (Permission denied)"
    assert (log.status, log.status_doc()["message"]) == (500, f"{FOCUS_LOG}: cannot read (Permission denied)")
    assert pods.status == 200
    assert "k8s/events.json: cannot read (Permission denied)" in server.problems


@needs_kubectl
def test_kubectl_prints_the_odd_pods(make_bundle: Any, tmp_path: Path) -> None:
    root = make_bundle(HOSTILE_PARTS["odd numbers"])
    assert KUBECTL is not None
    with BundleServer(root) as server:
        config = server.write_kubeconfig(tmp_path / "kubeconfig")
        result = subprocess.run(
            [
                KUBECTL,
                "--kubeconfig",
                str(config),
                "--cache-dir",
                str(tmp_path / "cache"),
                "get",
                "pods",
                "-n",
                "panda",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert sorted(line.split()[0] for line in result.stdout.splitlines()[1:]) == sorted(
        f"odd-{k}-0" for k in ODD_COUNTS
    )


# ----------------------------------------------------------------- random requests
SEGMENTS = st.one_of(
    st.sampled_from(
        [
            "api",
            "v1",
            "apis",
            "batch",
            "namespaces",
            "panda",
            "kube-system",
            "pods",
            "log",
            "events",
            "jobs",
            "services",
            "endpoints",
            FOCUS_POD,
            "evil-0",
            "fifo-0",
            "..",
            ".",
            "%2e%2e",
            "%2F",
            "%00",
            "%",
            "%zz",
            "%c0%ae",
            "%252e",
            "\\",
            "~",
            "*",
        ]
    ),
    st.text(alphabet="abcz09-._~%/\\:@!$&'()*+,;=", max_size=20),
)
QUERY_KEYS = st.sampled_from(
    [
        "container",
        "previous",
        "timestamps",
        "sinceSeconds",
        "sinceTime",
        "tailLines",
        "limitBytes",
        "labelSelector",
        "fieldSelector",
        "limit",
        "continue",
        "watch",
        "timeoutSeconds",
        "resourceVersion",
        "includeObject",
        "x",
    ]
)
QUERY_VALUES = st.one_of(
    st.sampled_from(
        [
            "",
            "-1",
            "0",
            "1",
            "1e400",
            "9" * 30,
            "true",
            "False",
            "maybe",
            "..",
            "%00",
            "focus-server",
            "2025-11-08T13:19:00Z",
            "app in (a",
            "metadata.name=x",
            "eyJzdGFydCI6IDF9",
        ]
    ),
    st.text(max_size=30).map(lambda t: quote(t, safe="")),
)


@st.composite
def targets(draw: st.DrawFn) -> str:
    path = "/" + "/".join(draw(st.lists(SEGMENTS, max_size=8)))
    params = draw(st.lists(st.tuples(QUERY_KEYS, QUERY_VALUES), max_size=5))
    return path + ("?" + "&".join(f"{k}={v}" for k, v in params) if params else "")


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=targets(), accept=st.sampled_from(["application/json", TABLE, "*/*", "text/html;q=x;;=,"]))
def test_random_requests_always_get_an_answer(
    planted: Planted, caplog: pytest.LogCaptureFixture, target: str, accept: str
) -> None:
    server = planted.servers["dir"]
    with caplog.at_level(logging.DEBUG, logger="panda_analysis.serve"):
        reply = send(server, target, headers=(("Accept", accept),), timeout=10)
    assert reply.status < 500, (target, reply.body[:300])
    assert MARKER.encode() not in reply.body
    if reply.status >= 400 and reply.headers.get("content-type") == "application/json":
        reply.status_doc()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], target


def test_no_traceback_reaches_stderr(planted: Planted, capfd: pytest.CaptureFixture[str]) -> None:
    """Connections cut mid-request and mid-response leave nothing but debug lines."""
    server = planted.servers["dir"]
    for raw in (b"GET /api/v1/pods HTTP/1.1\r\nHost", b"GET /api/v1/namespaces/panda/pods/x/log HTTP/1.1\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(raw)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(f"GET {log_url(FOCUS_POD, 'focus-server')} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        sock.recv(10)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # reset on close
    time.sleep(0.3)
    assert send(server, "/version").status == 200
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err + captured.out


# ----------------------------------------------------------------- kubeconfig and the command
@pytest.mark.parametrize("existing", ["file", "dangling link"])
def test_kubeconfig_onto_an_existing_path_exits_2_and_leaves_it(tmp_path: Path, existing: str) -> None:
    target = tmp_path / "kubeconfig"
    if existing == "file":
        target.write_text("apiVersion: v1\nkind: Config\ncurrent-context: production\n", encoding="utf-8")
    else:
        target.symlink_to(tmp_path / "nowhere")
    before = target.readlink() if target.is_symlink() else target.read_bytes()
    result = subprocess.run(
        [sys.executable, "-m", "panda_analysis", "serve-bundle", "sample:healthy", "--kubeconfig", str(target)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert str(target) in result.stderr
    assert "--force" in result.stderr
    assert "Traceback" not in result.stderr
    assert (target.readlink() if target.is_symlink() else target.read_bytes()) == before
    assert not (tmp_path / "nowhere").exists()


def test_write_kubeconfig_replaces_only_when_asked(tmp_path: Path) -> None:
    target = tmp_path / "kubeconfig"
    target.write_text("current-context: production\n", encoding="utf-8")
    with BundleServer("sample:healthy") as server:
        with pytest.raises(ServeError, match="already exists"):
            server.write_kubeconfig(target)
        assert target.read_text(encoding="utf-8") == "current-context: production\n"
        server.write_kubeconfig(target, overwrite=True)
        assert f"server: {server.url}" in target.read_text(encoding="utf-8")
        assert target.stat().st_mode & 0o777 == 0o600


def _run_until_served(*args: str) -> tuple[subprocess.Popen[str], Path]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "panda_analysis", "serve-bundle", "sample:healthy", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    timer = threading.Timer(60, proc.kill)
    timer.start()
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("kubeconfig: "):
                url = re.search(r"read-only at (http://\S+)", "".join(lines))
                assert url is not None, lines
                with urllib.request.urlopen(url.group(1) + "/version", timeout=10) as resp:  # serving, for real
                    assert resp.status == 200
                return proc, Path(line.removeprefix("kubeconfig: ").strip())
    finally:
        timer.cancel()
    proc.kill()
    _, err = proc.communicate()
    raise AssertionError("serve-bundle never printed its kubeconfig: " + "".join(lines) + err)


def test_force_replaces_and_sigterm_stops_cleanly_removing_the_temporary_kubeconfig(tmp_path: Path) -> None:
    target = tmp_path / "kubeconfig"
    target.write_text("current-context: production\n", encoding="utf-8")
    proc, path = _run_until_served("--kubeconfig", str(target), "--force")
    try:
        assert path == target
        assert "server: http://127.0.0.1:" in target.read_text(encoding="utf-8")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)  # also closes the pipes
        assert proc.returncode == 0, err
    proc, path = _run_until_served()
    try:
        assert path.is_file()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)  # also closes the pipes
        assert proc.returncode == 0, err
    assert not path.parent.exists()
