"""``scripts/collect.sh``: the bash + kubectl + curl collector, run for real against ``serve-bundle``.

The script runs with the real ``kubectl`` binary against
:class:`~panda_analysis.serve.BundleServer` (a read-only Kubernetes API over a sample
bundle, on loopback), and with ``curl`` against a loopback stand-in that answers
``/live_metadata`` and the RabbitMQ management API with the bodies the sample recorded.
Then the bundle it wrote is loaded with ``pa.load_bundle`` and compared with the sample
it was served from: the same objects, the same logs (cut the way ``--since`` and
``--max-lines`` say), the same findings. Expectations come from the sample files, never
from the script. A second bundle with planted secrets checks that no secret byte reaches
the output and that the manifest says what was redacted.

Needs bash 4+ and kubectl on PATH (skipped otherwise); ``shellcheck`` is used when present.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import shutil
import subprocess
import tarfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import panda_analysis as pa
from panda_analysis.serve import BundleServer

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "collect.sh"
BASH = shutil.which("bash")
KUBECTL = shutil.which("kubectl")
K8S_PARTS = ["pods", "events", "jobs", "services", "endpoints"]
RABBIT_USER = "panda-monitor"
RABBIT_PASSWORD = "Rmq-Pl4nted-pass-7c1e9"  # must never appear in a bundle
FOCUS_POD = "panda-panda-focus-server-78dbcfd9d9-kjj77"


def _bash_major() -> int:
    if BASH is None:
        return 0
    out = subprocess.run([BASH, "-c", "echo ${BASH_VERSINFO[0]}"], capture_output=True, text=True, check=False)
    return int(out.stdout.strip() or 0)


needs_bash = pytest.mark.skipif(_bash_major() < 4, reason="bash 4 or newer is not on PATH")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH")


# ----------------------------------------------------------------- loopback stand-ins
class _Replay(BaseHTTPRequestHandler):
    """Answers GETs from ``server.routes``: path -> (status, body, needs RabbitMQ auth)."""

    server: _ReplayServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.seen.append((self.path, self.headers.get("Authorization", "")))
        route = self.server.routes.get(self.path)
        if route is None:
            status, body, auth = 404, b'{"error":"not_found"}', False
        else:
            status, body, auth = route
        expected = "Basic " + base64.b64encode(f"{RABBIT_USER}:{RABBIT_PASSWORD}".encode()).decode()
        if auth and self.headers.get("Authorization") != expected:
            status, body = 401, b'{"error":"not_authorised","reason":"Login failed"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _ReplayServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, routes: dict[str, tuple[int, bytes, bool]]):
        super().__init__(("127.0.0.1", 0), _Replay)
        self.routes = routes
        self.seen: list[tuple[str, str]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


def replay_routes(root: Path, *, focus_body: Any = None) -> dict[str, tuple[int, bytes, bool]]:
    """The last recorded ``/live_metadata`` answer and RabbitMQ snapshot of a bundle, as routes."""
    probe = json.loads((root / "http/focus/live_metadata.jsonl").read_text(encoding="utf-8").splitlines()[-1])
    snap = json.loads((root / "rabbitmq/snapshots.jsonl").read_text(encoding="utf-8").splitlines()[-1])
    body = probe["body"] if focus_body is None else focus_body
    routes = {"/live_metadata": (probe["status"], json.dumps(body, indent=2).encode(), False)}  # pretty: must be joined
    for part in ("overview", "queues", "consumers"):
        routes[f"/api/{part}"] = (200, json.dumps(snap[part]).encode(), True)
    return routes


# ----------------------------------------------------------------- running the script
@dataclass
class Run:
    """One finished run of the script."""

    result: subprocess.CompletedProcess[str]
    out: Path
    root: Path  # the bundle directory (extracted when out is a .tar.gz)
    bundle: pa.Bundle
    replay: _ReplayServer | None


def run_script(
    tmp: Path, kubeconfig: Path | None, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run collect.sh with a private HOME and kubectl cache (nothing is written to ~/.kube)."""
    assert BASH is not None
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    full_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "KUBECACHEDIR": str(tmp / "kube-cache"),
        "TMPDIR": str(tmp),
        **({"KUBECONFIG": str(kubeconfig)} if kubeconfig else {}),
        **(env or {}),
    }
    return subprocess.run(
        [BASH, str(SCRIPT), *args], capture_output=True, text=True, timeout=180, check=False, env=full_env
    )


def collect(
    tmp: Path, source: pa.Bundle | Path, out_name: str, *args: str, focus_body: Any = None, http: bool = True
) -> Run:
    """Serve ``source`` with serve-bundle (+ the HTTP stand-in) and run the script against it."""
    bundle = pa.load_bundle(source)
    with BundleServer(bundle) as server:
        kubeconfig = server.write_kubeconfig(tmp / "kubeconfig")
        replay = _ReplayServer(replay_routes(bundle.root, focus_body=focus_body)) if http else None
        thread = threading.Thread(target=replay.serve_forever, daemon=True) if replay else None
        if thread:
            thread.start()
        try:
            extra = ["--focus-url", replay.url, "--rabbitmq-url", replay.url + "/"] if replay else []
            out = tmp / out_name
            result = run_script(
                tmp,
                kubeconfig,
                "-o",
                str(out),
                *extra,
                *args,
                env={"RABBITMQ_USER": RABBIT_USER, "RABBITMQ_PASSWORD": RABBIT_PASSWORD},
            )
        finally:
            if replay:
                replay.shutdown()
                replay.server_close()
    assert result.returncode == 0, result.stderr
    root = out
    if out.name.endswith(".tar.gz"):
        root = tmp / "extracted"
        with tarfile.open(out) as tar:
            tar.extractall(root, filter="data")
        (root,) = root.iterdir()  # one top-level folder, named after the archive
        assert root.name == out.name.removesuffix(".tar.gz")
    return Run(result, out, root, pa.load_bundle(out), replay)


# ----------------------------------------------------------------- expectations from the files
def items_of(root: Path, part: str) -> list[dict[str, Any]]:
    """Objects of ``k8s/<part>.json`` without per-item kind/apiVersion (lists may omit them), sorted."""
    doc = json.loads((root / f"k8s/{part}.json").read_text(encoding="utf-8"))
    items = [{k: v for k, v in item.items() if k not in ("kind", "apiVersion")} for item in doc["items"]]
    return sorted(items, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))


def expected_logs(root: Path, *, since: pd.Timedelta | None, max_lines: int) -> dict[str, bytes]:
    """What ``kubectl logs --timestamps --tail --since`` returns for each log of a bundle.

    Current logs: the last ``max_lines`` lines, then those stamped at or after
    ``created_at - since``; previous logs: the last ``max_lines`` lines, never cut by
    time. Empty results are absent (the script writes no empty log).
    """
    created = pd.Timestamp(json.loads((root / "manifest.json").read_text(encoding="utf-8"))["created_at"])
    found = {}
    for path in sorted((root / "logs").glob("*/*/*.log")):
        lines = path.read_bytes().splitlines(keepends=True)[-max_lines:]
        if since is not None and not path.name.endswith(".previous.log"):
            lines = [x for x in lines if pd.Timestamp(x.split(b" ", 1)[0].decode()) >= created - since]
        if lines:
            found[path.relative_to(root).as_posix()] = b"".join(lines)
    return found


def collected_logs(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted((root / "logs").glob("*/*/*.log"))}


def codes(bundle: pa.Bundle) -> list[str]:
    return sorted({f.code.value for f in pa.diagnose.run(bundle)})


def every_byte(run: Run) -> bytes:
    """Every file of the output (the .tar.gz as packed and each member extracted) plus stdout/stderr."""
    blobs = [run.result.stdout.encode(), run.result.stderr.encode()]
    if run.out.is_file():
        blobs.append(run.out.read_bytes())
    blobs += [p.read_bytes() for p in sorted(run.root.rglob("*")) if p.is_file()]
    return b"\n".join(blobs)


# ----------------------------------------------------------------- static checks
@needs_bash
def test_script_parses_and_lints() -> None:
    assert BASH is not None
    syntax = subprocess.run([BASH, "-n", str(SCRIPT)], capture_output=True, text=True, check=False)
    assert syntax.returncode == 0, syntax.stderr
    assert SCRIPT.read_text(encoding="utf-8").startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in SCRIPT.read_text(encoding="utf-8")
    shellcheck = shutil.which("shellcheck")
    if shellcheck:
        lint = subprocess.run([shellcheck, "-x", str(SCRIPT)], capture_output=True, text=True, check=False)
        assert lint.returncode == 0, lint.stdout


@needs_bash
@needs_kubectl
def test_only_read_only_kubectl_verbs() -> None:
    """Every kubectl call goes through kube_read with ``get`` or ``logs`` as its verb."""
    text = SCRIPT.read_text(encoding="utf-8")
    verbs = [line.split("kube_read", 1)[1].split()[1] for line in text.splitlines() if 'kube_read "$' in line]
    assert verbs
    assert set(verbs) <= {"get", '"${args[@]}";'}, verbs
    assert "args=(logs -n" in text
    for verb in ("apply", "delete", "patch", "edit", "exec", "scale", "create", "replace", "port-forward"):
        assert f"kubectl {verb}" not in text
        assert f'"{verb}"' not in text


@needs_bash
def test_help_and_usage_errors(tmp_path: Path) -> None:
    result = run_script(tmp_path, None, "--help")
    assert result.returncode == 0
    for option in (
        "--out",
        "--namespace",
        "--context",
        "--since",
        "--max-lines",
        "--focus-url",
        "--insecure",
        "--samples",
        "--interval",
        "--rabbitmq-url",
        "RABBITMQ_PASSWORD",
    ):
        assert option in result.stdout
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep me", encoding="utf-8")
    for bad in (
        ["--bogus"],
        ["--since", "yesterday"],
        ["-n", "Not_A_Namespace"],
        ["--samples", "0"],
        ["-o", str(tmp_path / "full")],
        ["--focus-url", "ftp://x"],
        ["-o"],
    ):
        result = run_script(tmp_path, None, *bad)
        assert result.returncode == 2, (bad, result.stderr)
        assert "see --help" in result.stderr
    assert (tmp_path / "full" / "x").read_text(encoding="utf-8") == "keep me"


# ----------------------------------------------------------------- against served samples
CASES = {  # sample -> (output name, extra arguments, since, max_lines)
    "waiting_for_fiber": ("evidence.tar.gz", ["--since", "10m", "--samples", "2", "--interval", "0.2"], "10m", 20000),
    "alert_lost": ("evidence-dir", ["--context", "panda-bundle"], "2h", 20000),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def served_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Run]:
    if _bash_major() < 4 or KUBECTL is None:
        pytest.skip("needs bash 4+ and kubectl on PATH")
    name = request.param
    out_name, args, _, _ = CASES[name]
    return name, collect(tmp_path_factory.mktemp(name), pa.load_bundle(f"sample:{name}"), out_name, *args)


def test_manifest(served_run: tuple[str, Run]) -> None:
    name, run = served_run
    manifest = run.bundle.manifest
    sample = pa.load_bundle(f"sample:{name}")
    assert manifest["format"] == "panda-bundle/1"
    assert manifest["source"] == "collect.sh"
    assert manifest["namespaces"] == ["panda", "kube-system"]
    assert pd.Timestamp(manifest["created_at"]).tzinfo is not None
    assert manifest["failures"] == []
    assert manifest["context"] == ("panda-bundle" if name == "alert_lost" else None)
    assert manifest["redacted"] == []  # the samples hold no secrets: nothing may be mangled
    assert sorted(run.bundle.unrecognised()) == sorted(sample.unrecognised()) == []
    assert "collected:" in run.result.stderr
    assert "failures: 0" in run.result.stderr


def test_same_kubernetes_objects(served_run: tuple[str, Run]) -> None:
    name, run = served_run
    sample = pa.load_bundle(f"sample:{name}")
    for part in K8S_PARTS:
        doc = json.loads((run.root / f"k8s/{part}.json").read_text(encoding="utf-8"))
        assert doc["kind"] == "List", part  # two namespaces spliced into one kubectl List
        assert items_of(run.root, part) == items_of(sample.root, part), part
    frames = pa.parse.frames(run.bundle)
    assert sorted(frames.pods["pod"]) == sorted(pa.parse.pods(sample)["pod"])
    assert len(frames.events) == len(pa.parse.events(sample)) > 0


def test_pods_table_has_every_pod_with_its_namespace(served_run: tuple[str, Run]) -> None:
    name, run = served_run
    table = pa.parse.pods_text(run.root / "k8s/pods.txt")
    pods = json.loads((pa.load_bundle(f"sample:{name}").root / "k8s/pods.json").read_text(encoding="utf-8"))
    expected = sorted((p["metadata"]["namespace"], p["metadata"]["name"]) for p in pods["items"])
    assert sorted(zip(table["namespace"].astype(str), table["pod"].astype(str), strict=True)) == expected
    assert table.attrs["unparsed"] == 0
    if name == "waiting_for_fiber":  # the pasted ticket table, with a NAMESPACE column in front
        pasted = (pa.load_bundle(f"sample:{name}").root / "k8s/pods.txt").read_text(encoding="utf-8").splitlines()
        lines = (run.root / "k8s/pods.txt").read_text(encoding="utf-8").splitlines()
        assert [x[len("kube-system   ") :] for x in lines[: len(pasted)]] == pasted
        assert lines[0].startswith("NAMESPACE     NAME")


def test_same_logs_cut_by_since(served_run: tuple[str, Run]) -> None:
    name, run = served_run
    _, _, since, max_lines = CASES[name]
    sample = pa.load_bundle(f"sample:{name}")
    expected = expected_logs(sample.root, since=pd.Timedelta(since), max_lines=max_lines)
    assert collected_logs(run.root) == expected
    if name == "waiting_for_fiber":
        previous = f"logs/panda/{FOCUS_POD}/focus-server.previous.log"
        assert expected[previous] == (sample.root / previous).read_bytes()  # 28 h old, still kept whole
        rabbit = "logs/panda/rabbitmq-panda-0/rabbitmq.log"
        assert 0 < len(expected[rabbit]) < len((sample.root / rabbit).read_bytes())  # --since 10m did cut


def test_http_probes_and_snapshots(served_run: tuple[str, Run]) -> None:
    name, run = served_run
    sample = pa.load_bundle(f"sample:{name}")
    samples = 2 if name == "waiting_for_fiber" else 1
    probe = json.loads((sample.root / "http/focus/live_metadata.jsonl").read_text(encoding="utf-8").splitlines()[-1])
    snap = json.loads((sample.root / "rabbitmq/snapshots.jsonl").read_text(encoding="utf-8").splitlines()[-1])
    probes = [
        json.loads(x) for x in (run.root / "http/focus/live_metadata.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    snaps = [json.loads(x) for x in (run.root / "rabbitmq/snapshots.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(probes) == len(snaps) == samples
    for got in probes:
        assert (got["status"], got["body"]) == (probe["status"], probe["body"])
        assert pd.Timestamp(got["at"]).tzinfo is not None
    for got in snaps:
        assert {k: got[k] for k in ("overview", "queues", "consumers")} == {
            k: snap[k] for k in ("overview", "queues", "consumers")
        }
    assert [pd.Timestamp(s["at"]) for s in snaps] == sorted(pd.Timestamp(s["at"]) for s in snaps)
    assert run.replay is not None
    rabbit_auth = {auth for path, auth in run.replay.seen if path.startswith("/api/")}
    assert rabbit_auth == {"Basic " + base64.b64encode(f"{RABBIT_USER}:{RABBIT_PASSWORD}".encode()).decode()}
    assert RABBIT_PASSWORD.encode() not in every_byte(run)
    assert base64.b64encode(f"{RABBIT_USER}:{RABBIT_PASSWORD}".encode()) not in every_byte(run)


def test_same_findings_as_the_served_sample(served_run: tuple[str, Run]) -> None:
    name, run = served_run
    expected = codes(pa.load_bundle(f"sample:{name}"))
    assert expected  # both cases are incidents
    assert codes(run.bundle) == expected


@needs_bash
@needs_kubectl
def test_one_namespace_and_max_lines(tmp_path: Path) -> None:
    """One namespace: kubectl's List as printed; ``--max-lines`` keeps the last N lines of each log."""
    run = collect(
        tmp_path,
        pa.load_bundle("sample:healthy"),
        "one",
        "-n",
        "panda",
        "--since",
        "all",
        "--max-lines",
        "5",
        http=False,
    )
    sample = pa.load_bundle("sample:healthy")
    assert run.bundle.manifest["namespaces"] == ["panda"]
    pods = items_of(run.root, "pods")
    assert pods == [p for p in items_of(sample.root, "pods") if p["metadata"]["namespace"] == "panda"]
    assert collected_logs(run.root) == {
        rel: body for rel, body in expected_logs(sample.root, since=None, max_lines=5).items() if "/panda/" in rel
    }
    assert all(body.count(b"\n") == 5 for body in collected_logs(run.root).values())
    assert not (run.root / "http").exists()
    assert not (run.root / "rabbitmq").exists()


@needs_bash
@needs_kubectl
def test_unreachable_sources_are_recorded_not_fatal(tmp_path: Path) -> None:
    """A dead API server and a dead Focus URL: failures in the manifest, exit 1 (nothing collected)."""
    with BundleServer("sample:healthy") as server:
        kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
    # the port is closed now: connection refused, quickly
    result = run_script(
        tmp_path,
        kubeconfig,
        "-o",
        str(tmp_path / "out"),
        "--focus-url",
        "http://panda:s3cret-in-url@127.0.0.1:9",
        "--timeout",
        "5s",
    )
    assert result.returncode == 1, result.stderr
    manifest = json.loads((tmp_path / "out/manifest.json").read_text(encoding="utf-8"))
    sources = [f["source"] for f in manifest["failures"]]
    assert sources[0] == "kubectl get pods -n panda"
    assert "refused" in manifest["failures"][0]["error"]
    assert "kubernetes" in sources  # the other reads were skipped, not each timed out
    assert any(s.startswith("GET http://127.0.0.1:9/live_metadata") for s in sources)
    assert "s3cret-in-url" not in (tmp_path / "out/manifest.json").read_text(encoding="utf-8") + result.stderr
    assert "nothing could be collected" in result.stderr


# ----------------------------------------------------------------- planted secrets
DB_PASSWORD = "Pl4nted-DB-pw-91f3"
URI_PASSWORD = "s3cretMongo77"
LOG_PASSWORD = "hunter2"
BEARER = "eyJhbGciOiJIUzI1NiJ9.cGxhbnRlZC10b2tlbg.c2lnbmF0dXJlLXBsYW50ZWQ"
PREVIOUS_PASSWORD = "prev-Pl4nted-0x5"
FOCUS_API_KEY = "fk-Pl4nted-0001"
SECRETS = [DB_PASSWORD, URI_PASSWORD, LOG_PASSWORD, BEARER, PREVIOUS_PASSWORD, FOCUS_API_KEY, RABBIT_PASSWORD]


def planted_bundle(dest: Path) -> Path:
    """waiting_for_fiber with secrets where real clusters leak them (pod env, annotations, logs)."""
    shutil.copytree(pa.load_bundle("sample:waiting_for_fiber").root, dest)
    pods_path = dest / "k8s/pods.json"
    pods = json.loads(pods_path.read_text(encoding="utf-8"))
    pod = next(p for p in pods["items"] if p["metadata"]["name"] == FOCUS_POD)
    container = pod["spec"]["containers"][0]
    env = [
        {"name": "DB_PASSWORD", "value": DB_PASSWORD},
        {"name": "MONGO_URI", "value": f"mongodb://panda:{URI_PASSWORD}@mongodb:27017/panda"},
        {"name": "JOB_ID", "value": "19-5"},
        {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "focus", "key": "token"}}},
    ]
    container["env"] = [*container.get("env", []), *env]
    applied = {"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": container["name"], "env": env[:2]}]}}
    pod["metadata"].setdefault("annotations", {})["kubectl.kubernetes.io/last-applied-configuration"] = (
        json.dumps(applied, separators=(",", ":")) + "\n"
    )
    pods_path.write_text(json.dumps(pods, indent=2), encoding="utf-8")
    log = dest / f"logs/panda/{FOCUS_POD}/focus-server.log"
    with log.open("a", encoding="utf-8") as f:
        f.write(
            "2025-11-08T13:24:10.100000000Z 2025-11-08T13:24:10+0000 INFO pz.focus_server connecting "
            f"password={LOG_PASSWORD} uri=mongodb://panda:{URI_PASSWORD}@mongodb:27017/panda\n"
            "2025-11-08T13:24:10.200000000Z 2025-11-08T13:24:10+0000 DEBUG pz.focus_server outgoing headers "
            f"{{'Authorization': 'Bearer {BEARER}', 'Accept': 'application/json'}}\n"
            "2025-11-08T13:24:10.300000000Z 2025-11-08T13:24:10+0000 INFO pz.focus_server stats "
            "token_count=5 password_changed_at=2025-11-01 secretName=focus\n"
        )
    previous = dest / f"logs/panda/{FOCUS_POD}/focus-server.previous.log"
    with previous.open("a", encoding="utf-8") as f:
        f.write(f'2025-11-07T09:12:09.700000000Z {{"event": "settings", "password": "{PREVIOUS_PASSWORD}"}}\n')
    return dest


@needs_bash
@needs_kubectl
def test_planted_secrets_never_reach_the_bundle(tmp_path: Path) -> None:
    source = planted_bundle(tmp_path / "planted")
    probe = json.loads((source / "http/focus/live_metadata.jsonl").read_text(encoding="utf-8").splitlines()[-1])
    focus_body = {**probe["body"], "api_key": FOCUS_API_KEY}
    run = collect(tmp_path, source, "planted.tar.gz", "--since", "2h", focus_body=focus_body)

    blob = every_byte(run)
    for secret in SECRETS:
        assert secret.encode() not in blob, secret
    # the tar.gz as packed holds compressed bytes: every member was checked extracted, too
    with tarfile.open(run.out) as tar:
        members = [tar.extractfile(m) for m in tar.getmembers() if m.isfile()]
        for handle in members:
            assert handle is not None
            data = handle.read()
            assert not any(s.encode() in data for s in SECRETS)

    focus_dir = f"logs/panda/{FOCUS_POD}"
    assert sorted((r["kind"], r["file"], r["count"]) for r in run.bundle.manifest["redacted"]) == sorted(
        [
            ("env_secret", "k8s/pods.json", 2),  # the env entry and its twin in last-applied-configuration
            ("uri_password", "k8s/pods.json", 2),
            ("secret_assignment", f"{focus_dir}/focus-server.log", 1),
            ("uri_password", f"{focus_dir}/focus-server.log", 1),
            ("authorization", f"{focus_dir}/focus-server.log", 1),
            ("json_secret_field", f"{focus_dir}/focus-server.previous.log", 1),
            ("json_secret_field", "http/focus/live_metadata.jsonl", 1),
        ]
    )

    # what is left still reads, and still diagnoses
    text = (run.root / f"{focus_dir}/focus-server.log").read_text(encoding="utf-8")
    assert "password=<redacted> uri=mongodb://panda:<redacted>@mongodb:27017/panda" in text
    assert "'Authorization': 'Bearer <redacted>', 'Accept': 'application/json'" in text
    assert "token_count=5 password_changed_at=2025-11-01 secretName=focus" in text
    assert '"password": "<redacted>"' in (run.root / f"{focus_dir}/focus-server.previous.log").read_text(
        encoding="utf-8"
    )
    pod = next(p for p in items_of(run.root, "pods") if p["metadata"]["name"] == FOCUS_POD)
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in pod["spec"]["containers"][0]["env"]}
    assert env["DB_PASSWORD"] == "<redacted>"
    assert env["MONGO_URI"] == "mongodb://panda:<redacted>@mongodb:27017/panda"
    assert env["JOB_ID"] == "19-5"
    assert env["API_TOKEN"] == {"secretKeyRef": {"name": "focus", "key": "token"}}
    applied = json.loads(pod["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    assert applied["spec"]["containers"][0]["env"][0] == {"name": "DB_PASSWORD", "value": "<redacted>"}
    # everything else of the pod is untouched
    original = next(p for p in items_of(source, "pods") if p["metadata"]["name"] == FOCUS_POD)
    scrubbed = copy.deepcopy(original)
    scrubbed["spec"]["containers"][0]["env"] = pod["spec"]["containers"][0]["env"]
    scrubbed["metadata"]["annotations"] = pod["metadata"]["annotations"]
    assert pod == scrubbed
    live = json.loads((run.root / "http/focus/live_metadata.jsonl").read_text(encoding="utf-8"))
    assert live["body"] == {**probe["body"], "api_key": "<redacted>"}
    assert codes(run.bundle) == codes(pa.load_bundle("sample:waiting_for_fiber"))
    assert "redacted: 9 values" in run.result.stderr
