"""Kubernetes collection over real HTTP with the real ``kubernetes`` client (issue #6).

The API server is :class:`~panda_analysis.serve.BundleServer` serving an embedded sample
bundle on loopback (``serve-bundle``): collecting from it must give back the same
objects, the same log bytes and the same findings. The hostile cases put a small HTTP
proxy between the client and that server which, for chosen pods, answers as a real API
server does when a pod is deleted mid-collection (404 ``NotFound``), fails (500), is
overloaded once (503) or never answers within the timeout.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import panda_analysis as pa
from panda_analysis.bundle import BundleWriter, load_bundle
from panda_analysis.collect._kube import KINDS, kube
from panda_analysis.errors import CollectError
from panda_analysis.serve import BundleServer

SAMPLES = sorted(pa.samples.names())
STEMS = [k[0] for k in KINDS]
KUBELET_TS = re.compile(rb"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?Z ")
TOKEN = "eyJhbGciOiJSUzI1NiJ9.panda-collector-test-token.c2lnbmF0dXJl"


# --------------------------------------------------------------------------- helpers
def _items(path: Path) -> list[dict[str, Any]]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    return sorted(doc["items"], key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))


def _served_items(root: Path, stem: str) -> list[dict[str, Any]]:
    """What the API serves for a bundle file: the items, with kind / apiVersion added when missing."""
    api_version, kind = next((k[3], k[4]) for k in KINDS if k[0] == stem)
    return [{"apiVersion": api_version, "kind": kind, **i} for i in _items(root / "k8s" / f"{stem}.json")]


def _logs(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted((root / "logs").rglob("*.log"))}


def _kube_view(sample: str, dest: Path) -> Path:
    """The part of a sample the Kubernetes collector can give back: manifest, k8s lists, logs."""
    src = pa.samples.path(sample)
    dest.mkdir(parents=True)
    shutil.copy(src / "manifest.json", dest / "manifest.json")
    (dest / "k8s").mkdir()
    for stem in STEMS:
        if (src / "k8s" / f"{stem}.json").exists():
            shutil.copy(src / "k8s" / f"{stem}.json", dest / "k8s" / f"{stem}.json")
    shutil.copytree(src / "logs", dest / "logs")
    return dest


def _findings(root: Path) -> list[tuple[str, str, str | None, str | None]]:
    found = pa.diagnose.run(load_bundle(root).frames())
    return sorted((f.key, f.severity.value, str(f.first_seen), str(f.last_seen)) for f in found)


def _kubeconfig(path: Path, url: str, *, token: str | None = TOKEN, context: str = "panda-test") -> Path:
    user = f"    token: {token}\n" if token else "    {}\n"
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: c\n  cluster:\n    server: {url}\n"
        f"contexts:\n- name: {context}\n  context:\n    cluster: c\n    user: u\n"
        f"current-context: {context}\n"
        f"users:\n- name: u\n  user:\n{user}",
        encoding="utf-8",
    )
    return path


def _writer(dest: Path, server: BundleServer, *, redact: bool = False) -> BundleWriter:
    """A writer whose bundle is dated at the served bundle's clock, as if collected then."""
    created = server.now.isoformat().replace("+00:00", "Z")
    return BundleWriter(dest, manifest={"created_at": created}, redact=redact)


def _all_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def _kubelet_time(line: bytes) -> datetime | None:
    m = KUBELET_TS.match(line)
    if m is None:
        return None
    micro = (m.group(2) or b"0").decode()[:6].ljust(6, "0")
    return datetime.fromisoformat(m.group(1).decode()).replace(microsecond=int(micro), tzinfo=UTC)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[BundleServer, Path]]]:
    """Every sample served once for the module: name → (server, kubeconfig)."""
    out = {}
    try:
        for name in SAMPLES:
            server = BundleServer(f"sample:{name}").start()
            out[name] = (server, _kubeconfig(tmp_path_factory.mktemp(name) / "kubeconfig", server.url))
        yield out
    finally:
        for server, _ in out.values():
            server.close()


# --------------------------------------------------------------------------- round trip
@pytest.mark.parametrize("sample", SAMPLES)
def test_round_trip_gives_back_the_same_evidence(
    served: dict[str, tuple[BundleServer, Path]], sample: str, tmp_path: Path
) -> None:
    server, kubeconfig = served[sample]
    progress: list[tuple[int, int, str]] = []
    with _writer(tmp_path / "collected", server, redact=True) as out:
        result = kube(out, kubeconfig=str(kubeconfig), since=None, on_progress=lambda *a: progress.append(a))
    got, original = tmp_path / "collected", pa.samples.path(sample)

    assert result.failures == [], result.summary()
    assert result.server == server.url
    assert result.context == "panda-test"
    for stem in STEMS:
        want = _served_items(original, stem)
        assert _items(got / "k8s" / f"{stem}.json") == want, stem
        assert result.objects[stem] == len(want)
    # current and previous logs, byte for byte; no file for a container that logged nothing
    assert _logs(got) == _logs(original)
    assert result.logs_written + result.previous_logs_written == len(_logs(original))
    assert result.previous_logs_written == sum(".previous.log" in rel for rel in _logs(original))
    # the diagnosis reads the collected bundle as it reads the original's Kubernetes part
    assert _findings(got) == _findings(_kube_view(sample, tmp_path / "original"))

    manifest = load_bundle(got).manifest
    assert manifest["namespaces"] == ["panda", "kube-system"]
    assert manifest["kube"]["failures"] == []
    assert manifest["kube"]["caps"]["max_lines"] == 20000
    assert progress[-1][0] == progress[-1][1] > 0
    assert TOKEN.encode() not in _all_bytes(got)


def test_findings_survive_the_round_trip_on_the_crashloop_sample(
    served: dict[str, tuple[BundleServer, Path]], tmp_path: Path
) -> None:
    """The comparison above must be able to fail: the crash loop's cause is in the previous log."""
    server, kubeconfig = served["waiting_for_fiber"]
    with _writer(tmp_path / "collected", server) as out:
        kube(out, kubeconfig=str(kubeconfig), since=None)
    codes = {key.split("|")[0] for key, *_ in _findings(tmp_path / "collected")}
    assert {"CRASHLOOP_DNS", "RETRY_STORM"} <= codes


def test_an_injected_client_is_used_as_it_is(served: dict[str, tuple[BundleServer, Path]], tmp_path: Path) -> None:
    from kubernetes import config

    _, kubeconfig = served["healthy"]
    api = config.new_client_from_config(config_file=str(kubeconfig), persist_config=False)
    try:
        with BundleWriter(tmp_path / "b") as out:
            result = kube(out, api_client=api, namespaces=["kube-system"], since=None)
    finally:
        api.close()
    assert result.context is None
    pods = _items(tmp_path / "b" / "k8s" / "pods.json")
    assert {p["metadata"]["namespace"] for p in pods} == {"kube-system"}
    assert [p["metadata"]["name"] for p in pods] == [
        p["metadata"]["name"]
        for p in _served_items(pa.samples.path("healthy"), "pods")
        if p["metadata"]["namespace"] == "kube-system"
    ]
    assert set(_logs(tmp_path / "b")) == {r for r in _logs(pa.samples.path("healthy")) if "/kube-system/" in r}


# --------------------------------------------------------------------------- window and caps
def test_since_cuts_current_logs_but_not_previous_ones(
    served: dict[str, tuple[BundleServer, Path]], tmp_path: Path
) -> None:
    server, kubeconfig = served["waiting_for_fiber"]
    with BundleWriter(tmp_path / "b") as out:
        result = kube(out, kubeconfig=str(kubeconfig), since="10m")
    cutoff = server.now - timedelta(minutes=10)  # serve-bundle's clock is the bundle's created_at
    got, want = _logs(tmp_path / "b"), {}
    for rel, data in _logs(pa.samples.path("waiting_for_fiber")).items():
        if rel.endswith(".previous.log"):
            want[rel] = data
            continue
        kept = [ln for ln in data.splitlines(keepends=True) if (t := _kubelet_time(ln)) is None or t >= cutoff]
        if kept:
            want[rel] = b"".join(kept)
    assert got == want
    original = _logs(pa.samples.path("waiting_for_fiber"))
    assert any(0 < len(got[r]) < len(original[r]) for r in got), "the window should cut some log, not all or none"
    previous = "logs/panda/panda-panda-focus-server-78dbcfd9d9-kjj77/focus-server.previous.log"
    assert got[previous] == original[previous]  # 28 h old, still collected whole
    assert result.truncated == []


def test_line_cap_keeps_the_newest_lines(served: dict[str, tuple[BundleServer, Path]], tmp_path: Path) -> None:
    _, kubeconfig = served["waiting_for_fiber"]
    with BundleWriter(tmp_path / "b") as out:
        result = kube(out, kubeconfig=str(kubeconfig), since=None, max_lines=7)
    original = _logs(pa.samples.path("waiting_for_fiber"))
    got = _logs(tmp_path / "b")
    assert set(got) == set(original)
    for rel, data in original.items():
        assert got[rel] == b"".join(data.splitlines(keepends=True)[-7:]), rel
    assert result.truncated == [
        {"file": rel, "by": "lines"} for rel in sorted(original) if original[rel].count(b"\n") > 7
    ]
    assert load_bundle(tmp_path / "b").manifest["kube"]["truncated"] == result.truncated


def test_byte_cap_keeps_the_newest_whole_lines(served: dict[str, tuple[BundleServer, Path]], tmp_path: Path) -> None:
    _, kubeconfig = served["waiting_for_fiber"]
    cap = 3000
    with BundleWriter(tmp_path / "b") as out:
        result = kube(out, kubeconfig=str(kubeconfig), since=None, max_bytes=cap)
    original = _logs(pa.samples.path("waiting_for_fiber"))
    got = _logs(tmp_path / "b")
    assert any(len(d) > cap for d in original.values())
    for rel, data in original.items():
        lines = data.splitlines(keepends=True)
        # the longest suffix of whole lines that fits in the cap
        n = 0
        while n < len(lines) and sum(map(len, lines[len(lines) - n - 1 :])) <= cap:
            n += 1
        assert got[rel] == b"".join(lines[len(lines) - n :]), rel
    assert {t["file"] for t in result.truncated} == {r for r, d in original.items() if len(d) > cap}
    assert {t["by"] for t in result.truncated} == {"bytes"}


# --------------------------------------------------------------------------- hostile API
@dataclass
class _Rule:
    """How the proxy answers requests whose path contains ``match``."""

    match: str
    action: str  # "gone" | "error" | "busy-once" | "slow"
    current_only: bool = False  # leave ``previous=true`` requests alone
    hits: int = 0

    def applies(self, path: str) -> bool:
        return self.match in path and not (self.current_only and "previous=true" in path.lower())


class _Proxy:
    """A loopback HTTP proxy in front of a BundleServer that misbehaves for chosen paths."""

    def __init__(self, upstream: str, rules: list[_Rule], *, slow_s: float):
        self.upstream, self.rules, self.slow_s = upstream, rules, slow_s
        self.release = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _status(self, code: int, reason: str, message: str) -> None:
                body = json.dumps(
                    {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                     "message": message, "reason": reason, "code": code}
                ).encode()  # fmt: skip
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                assert self.headers.get("Authorization") == f"Bearer {TOKEN}"  # credentials do reach the API
                rule = next((r for r in proxy.rules if r.applies(self.path)), None)
                if rule is not None:
                    rule.hits += 1
                    pod = rule.match.split("/pods/")[-1].split("/")[0]
                    if rule.action == "gone":
                        self._status(404, "NotFound", f'pods "{pod}" not found')
                        return
                    if rule.action == "error":
                        self._status(
                            500,
                            "InternalError",
                            'an error on the server ("unknown") has prevented the request from succeeding',
                        )
                        return
                    if rule.action == "busy-once" and rule.hits == 1:
                        self._status(503, "ServiceUnavailable", "the server is currently unable to handle the request")
                        return
                    if rule.action == "slow":
                        proxy.release.wait(proxy.slow_s)
                try:
                    with urllib.request.urlopen(proxy.upstream + self.path, timeout=10) as resp:
                        code, body = resp.status, resp.read()
                except urllib.error.HTTPError as err:
                    code, body = err.code, err.read()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout): as a real client does

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    def __enter__(self) -> _Proxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def _log_path(ns: str, pod: str) -> str:
    return f"/api/v1/namespaces/{ns}/pods/{pod}/log"


def test_hostile_api_gives_a_partial_bundle_that_says_so(
    served: dict[str, tuple[BundleServer, Path]], tmp_path: Path
) -> None:
    server, _ = served["waiting_for_fiber"]
    focus = "panda-panda-focus-server-78dbcfd9d9-kjj77"
    rules = [
        _Rule(_log_path("panda", "rabbitmq-panda-0"), "gone"),  # deleted between list and log
        _Rule(_log_path("kube-system", "ingress-nginx-controller-55694fd6ff-rqgp9"), "error"),
        _Rule(_log_path("kube-system", "coredns-ccb96694c-7xk2p"), "busy-once"),
        _Rule(_log_path("panda", focus), "slow", current_only=True),
    ]
    timeout_s = 1.0
    with _Proxy(server.url, rules, slow_s=8.0) as proxy:
        kubeconfig = _kubeconfig(tmp_path / "kubeconfig", proxy.url)
        started = time.monotonic()
        with BundleWriter(tmp_path / "b", redact=True) as out:
            result = kube(out, kubeconfig=str(kubeconfig), since=None, timeout_s=timeout_s, workers=4)
        elapsed = time.monotonic() - started
    assert [r.hits for r in rules] == [1, 1, 2, 1], result.failures  # 503 retried once (a read); not 500, timeouts
    assert elapsed < 3 * timeout_s + 2, f"took {elapsed:.1f} s"

    failed = {(f["what"], f["pod"], f["container"]): str(f["error"]) for f in result.failures}
    assert set(failed) == {
        ("log", "rabbitmq-panda-0", "rabbitmq"),
        ("log", "ingress-nginx-controller-55694fd6ff-rqgp9", "controller"),
        ("log", focus, "focus-server"),
    }
    assert failed[("log", "rabbitmq-panda-0", "rabbitmq")].startswith('404 NotFound: pods "rabbitmq-panda-0" not found')
    assert failed[("log", "ingress-nginx-controller-55694fd6ff-rqgp9", "controller")].startswith("500 InternalError")
    assert "timeout" in failed[("log", focus, "focus-server")]

    # everything else is there, byte for byte: the previous log of the slow pod too
    original = _logs(pa.samples.path("waiting_for_fiber"))
    got = _logs(tmp_path / "b")
    missing = {
        "logs/panda/rabbitmq-panda-0/rabbitmq.log",
        "logs/kube-system/ingress-nginx-controller-55694fd6ff-rqgp9/controller.log",
        f"logs/panda/{focus}/focus-server.log",
    }
    assert got == {r: d for r, d in original.items() if r not in missing}
    assert len(_items(tmp_path / "b" / "k8s" / "pods.json")) == 7
    manifest = load_bundle(tmp_path / "b").manifest
    assert manifest["kube"]["failures"] == result.failures
    assert "FAILED log panda/rabbitmq-panda-0/rabbitmq: 404" in result.summary()
    assert TOKEN.encode() not in _all_bytes(tmp_path / "b")


def test_a_list_that_fails_is_recorded_and_the_rest_collected(
    served: dict[str, tuple[BundleServer, Path]], tmp_path: Path
) -> None:
    server, _ = served["healthy"]
    rules = [_Rule("/apis/batch/v1/namespaces/panda/jobs", "error")]
    with _Proxy(server.url, rules, slow_s=0) as proxy, BundleWriter(tmp_path / "b") as out:
        result = kube(out, kubeconfig=str(_kubeconfig(tmp_path / "kc", proxy.url)), since=None)
    assert [(f["what"], f["namespace"]) for f in result.failures] == [("list jobs", "panda")]
    jobs = _items(tmp_path / "b" / "k8s" / "jobs.json")  # kube-system's (empty) list still answered
    assert jobs == [
        j for j in _served_items(pa.samples.path("healthy"), "jobs") if j["metadata"]["namespace"] != "panda"
    ]
    assert _logs(tmp_path / "b") == _logs(pa.samples.path("healthy"))


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_api_raises_naming_the_server_without_credentials(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    kubeconfig = _kubeconfig(tmp_path / "kubeconfig", url)
    started = time.monotonic()
    with BundleWriter(tmp_path / "b") as out, pytest.raises(CollectError) as info:
        kube(out, kubeconfig=str(kubeconfig), timeout_s=1.0)
    assert time.monotonic() - started < 10
    text = str(info.value)
    assert url in text
    assert "kubectl cluster-info" in text
    assert TOKEN not in text


def test_no_configuration_at_all_raises(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from kubernetes.config import kube_config

    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(tmp_path / "no-such-kubeconfig"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with BundleWriter(tmp_path / "b") as out, pytest.raises(CollectError, match="no Kubernetes configuration"):
        kube(out)


# --------------------------------------------------------------------------- secrets and containers
def _edited_sample(tmp_path: Path, edit: Callable[[dict[str, Any], Path], None]) -> Path:
    root = tmp_path / "edited"
    shutil.copytree(pa.samples.path("healthy"), root)
    path = root / "k8s" / "pods.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    edit(doc, root)
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return root


def test_secrets_are_redacted_and_init_containers_collected(tmp_path: Path) -> None:
    secret = "Hunter2-mongo-root-pw"
    focus_dir = "logs/panda/panda-panda-focus-server-78dbcfd9d9-t8vzn"

    def edit(doc: dict[str, Any], root: Path) -> None:
        pod = next(p for p in doc["items"] if p["metadata"]["name"].startswith("panda-panda-focus-server"))
        pod["spec"]["containers"][0].setdefault("env", []).append({"name": "MONGO_PASSWORD", "value": secret})
        pod["spec"]["initContainers"] = [{"name": "wait-for-mongodb", "image": "busybox:1.36"}]
        pod["status"]["initContainerStatuses"] = [
            {"name": "wait-for-mongodb", "ready": True, "restartCount": 0, "image": "busybox:1.36",
             "imageID": "", "started": False,
             "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}, "lastState": {}}
        ]  # fmt: skip
        init_log = "2025-11-10T08:40:01.000000000Z waiting for mongodb:27017\n"
        init_log += f"2025-11-10T08:40:03.000000000Z mongodb is up (mongodb://root:{secret}@mongodb:27017)\n"
        (root / focus_dir / "wait-for-mongodb.log").write_text(init_log, encoding="utf-8")
        waiting = next(p for p in doc["items"] if p["metadata"]["name"].startswith("grpc-job-"))
        waiting["status"]["containerStatuses"][0]["state"] = {"waiting": {"reason": "ContainerCreating"}}
        waiting["status"]["containerStatuses"][0]["lastState"] = {}

    root = _edited_sample(tmp_path, edit)
    job_pod = next(r.split("/")[2] for r in _logs(root) if "/grpc-job-" in r)
    with BundleServer(root) as server, BundleWriter(tmp_path / "b.tar.gz", redact=True) as out:
        result = kube(out, kubeconfig=str(_kubeconfig(tmp_path / "kc", server.url)), since=None)
    bundle = load_bundle(tmp_path / "b.tar.gz")
    assert secret.encode() not in _all_bytes(bundle.root)
    init = (bundle.root / focus_dir / "wait-for-mongodb.log").read_text(encoding="utf-8")
    assert "mongodb://root:<redacted>@mongodb:27017" in init
    redacted = {(r["kind"], r["file"]) for r in bundle.manifest["redacted"]}
    assert ("env_secret", "k8s/pods.json") in redacted
    assert ("uri_password", f"{focus_dir}/wait-for-mongodb.log") in redacted
    assert result.skipped == [
        {
            "namespace": "panda",
            "pod": job_pod,
            "container": "baby-analyzer",
            "reason": "never started (ContainerCreating)",
        }
    ]
    assert not any("grpc-job" in r for r in _logs(bundle.root))  # the never-started container was not asked
    assert result.failures == []
