"""The embedded sample bundles: real Kubernetes objects, reproducible, small, clean.

These tests look at the bundle files themselves (not at parsed values, which the parser
tests own): every Kubernetes object validates strictly against the official schema,
``tools/make_samples.py`` regenerates the committed files byte for byte, each sample is
small, logs carry the kubelet prefix, JSON lines have their required keys, nothing
leaks from this machine, and the facts each sample's docstring promises are in the files.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import itertools
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import kubernetes_validate
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import panda_analysis as pa
from panda_analysis._lines import KUBELET_PREFIX

ROOT = Path(__file__).resolve().parent.parent
SAMPLES_DIR = ROOT / "panda_analysis" / "samples"
NAMES = ["alert_lost", "consumer_slow", "healthy", "queue_backlog", "waiting_for_fiber"]
K8S_FILES = ["pods.json", "events.json", "jobs.json", "services.json", "endpoints.json"]
K8S_VERSION = "1.31"  # the staging cluster runs k3s v1.31
MAX_SAMPLE_BYTES = 300_000
MAX_LOG_LINES = 500


def _load_tool() -> ModuleType:
    path = ROOT / "tools" / "make_samples.py"
    spec = importlib.util.spec_from_file_location("make_samples", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_samples"] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


make_samples = _load_tool()


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _k8s_items(name: str) -> list[tuple[str, int, dict]]:
    out = []
    for file in K8S_FILES:
        doc = json.loads((SAMPLES_DIR / name / "k8s" / file).read_text(encoding="utf-8"))
        out.extend((file, i, item) for i, item in enumerate(doc["items"]))
    return out


def _lines(name: str, rel: str) -> list[str]:
    return (SAMPLES_DIR / name / rel).read_text(encoding="utf-8").splitlines()


def _jsonl(name: str, rel: str) -> list[dict]:
    return [json.loads(line) for line in _lines(name, rel)]


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --------------------------------------------------------------------------- inventory and manifest
def test_sample_names_match_the_package() -> None:
    assert pa.samples.names() == NAMES
    assert sorted(make_samples.SAMPLES) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_manifest(name: str) -> None:
    manifest = json.loads((SAMPLES_DIR / name / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["format"] == "panda-bundle/1"
    assert manifest["source"] == "sample"
    assert manifest["namespaces"] == ["panda", "kube-system"]
    assert manifest["redacted"] == []
    assert manifest["description"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", manifest["created_at"])
    bundle = pa.load_bundle(f"sample:{name}")
    assert bundle.format == "panda-bundle/1"
    assert bundle.created_at == _ts(manifest["created_at"])


@pytest.mark.parametrize(
    ("name", "created_at"),
    [
        ("waiting_for_fiber", "2025-11-08T13:25:00Z"),
        ("consumer_slow", "2025-11-13T09:45:00Z"),
        ("alert_lost", "2025-11-13T12:15:00Z"),
        ("healthy", "2025-11-10T09:00:00Z"),
        ("queue_backlog", "2025-11-14T10:15:00Z"),
    ],
)
def test_created_at(name: str, created_at: str) -> None:
    assert pa.load_bundle(f"sample:{name}").manifest["created_at"] == created_at


@pytest.mark.parametrize("name", NAMES)
def test_readme_present_and_not_evidence(name: str) -> None:
    assert (SAMPLES_DIR / name / "README.md").read_text(encoding="utf-8").startswith(f"# Sample `{name}`")
    bundle = pa.load_bundle(f"sample:{name}")
    assert "README.md" not in bundle.files()
    assert bundle.unrecognised() == []


# --------------------------------------------------------------------------- Kubernetes objects
@pytest.mark.parametrize("name", NAMES)
def test_k8s_lists_as_kubectl_prints_them(name: str) -> None:
    for file in K8S_FILES:
        text = (SAMPLES_DIR / name / "k8s" / file).read_text(encoding="utf-8")
        doc = json.loads(text)
        assert doc["apiVersion"] == "v1"
        assert doc["kind"] == "List"
        assert doc["metadata"] == {"resourceVersion": ""}
        # kubectl -o json: keys sorted, 4-space indent, trailing newline
        assert text == json.dumps(doc, indent=4, sort_keys=True, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("name", NAMES)
def test_every_k8s_object_validates_strictly(name: str) -> None:
    items = _k8s_items(name)
    assert len(items) >= 10
    for file, i, item in items:
        try:
            kubernetes_validate.validate(item, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as err:  # pragma: no cover - the failure message
            pytest.fail(f"{name}/k8s/{file} item {i} ({item['kind']} {item['metadata']['name']}): {err}")


def test_strict_validation_rejects_an_unknown_field() -> None:
    _, _, pod = next(x for x in _k8s_items("healthy") if x[2]["kind"] == "Pod")
    broken = json.loads(json.dumps(pod))
    broken["status"]["containerStatuses"][0]["restarts"] = 1  # not a field; restartCount is
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


@pytest.mark.parametrize("name", NAMES)
def test_pods_are_wired_like_real_controllers(name: str) -> None:
    pods = [item for file, _, item in _k8s_items(name) if file == "pods.json"]
    uids = [p["metadata"]["uid"] for p in pods]
    assert len(set(uids)) == len(uids)
    for pod in pods:
        meta, status = pod["metadata"], pod["status"]
        (owner,) = meta["ownerReferences"]
        assert owner["controller"] is True
        assert status["phase"] == "Running"
        assert {c["type"] for c in status["conditions"]} == {
            "PodReadyToStartContainers",
            "Initialized",
            "Ready",
            "ContainersReady",
            "PodScheduled",
        }
        for c in status["containerStatuses"]:
            assert c["containerID"].startswith("containerd://")
            assert c["image"].startswith("registry.example.internal/")
        name_ = meta["name"]
        if name_.startswith("grpc-job-"):
            assert owner["kind"] == "Job"
            job = owner["name"]
            assert meta["labels"] == {
                "batch.kubernetes.io/controller-uid": owner["uid"],
                "batch.kubernetes.io/job-name": job,
                "controller-uid": owner["uid"],
                "job-name": job,
            }
            assert "job_id" not in meta["labels"]  # seed 004: "No job_id label found"
            assert meta["finalizers"] == ["batch.kubernetes.io/job-tracking"]
            assert pod["spec"]["restartPolicy"] == "Never"
        elif name_ == "rabbitmq-panda-0":
            assert owner["kind"] == "StatefulSet"
            assert meta["labels"]["app.kubernetes.io/instance"] == "rabbitmq-panda"
        else:
            assert owner["kind"] == "ReplicaSet"
            assert name_.startswith(owner["name"] + "-")
    jobs = {item["metadata"]["uid"]: item for file, _, item in _k8s_items(name) if file == "jobs.json"}
    for pod in pods:
        owner = pod["metadata"]["ownerReferences"][0]
        if owner["kind"] == "Job":
            assert jobs[owner["uid"]]["metadata"]["name"] == owner["name"]


@pytest.mark.parametrize("name", NAMES)
def test_events_point_at_objects_of_the_bundle(name: str) -> None:
    items = _k8s_items(name)
    known = {item["metadata"]["uid"] for file, _, item in items if file in {"pods.json", "jobs.json"}}
    events = [item for file, _, item in items if file == "events.json"]
    assert events
    for event in events:
        assert event["involvedObject"]["uid"] in known
        assert event["metadata"]["name"].startswith(event["involvedObject"]["name"] + ".")
        if event["reason"] == "Scheduled":
            assert event["firstTimestamp"] is None
            assert event["reportingComponent"] == "default-scheduler"
            assert event["eventTime"]
        else:
            assert event["firstTimestamp"] <= event["lastTimestamp"]


@pytest.mark.parametrize("name", NAMES)
def test_endpoints_match_services_and_pods(name: str) -> None:
    items = _k8s_items(name)
    services = {i["metadata"]["name"] for f, _, i in items if f == "services.json"}
    pod_ips = {i["status"]["podIP"] for f, _, i in items if f == "pods.json"}
    endpoints = {i["metadata"]["name"]: i for f, _, i in items if f == "endpoints.json"}
    assert set(endpoints) == services
    assert {"mongodb", "panda-focus-server", "rabbitmq-panda"} <= services
    for ep in endpoints.values():
        (subset,) = ep["subsets"]
        assert subset["addresses"]  # every service has a ready endpoint now
        assert {a["ip"] for a in subset["addresses"]} <= pod_ips
    mongo = next(i for f, _, i in items if f == "services.json" and i["metadata"]["name"] == "mongodb")
    assert [p["port"] for p in mongo["spec"]["ports"]] == [27017]


# --------------------------------------------------------------------------- reproducibility and size
def test_generator_reproduces_the_committed_files(tmp_path: Path) -> None:
    make_samples.main(["--out", str(tmp_path)])
    for name in NAMES:
        generated, committed = _files(tmp_path / name), _files(SAMPLES_DIR / name)
        assert sorted(generated) == sorted(committed), name
        different = [rel for rel in generated if generated[rel] != committed[rel]]
        assert different == [], f"{name}: regenerate with `python tools/make_samples.py` ({different[:3]})"


def test_generator_is_deterministic_in_process() -> None:
    assert make_samples.build("alert_lost") == make_samples.build("alert_lost")


def test_generator_replaces_stale_files(tmp_path: Path) -> None:
    stale = tmp_path / "healthy" / "logs" / "old.log"
    stale.parent.mkdir(parents=True)
    stale.write_text("left over\n", encoding="utf-8")
    make_samples.main(["--out", str(tmp_path), "healthy"])
    assert not stale.exists()
    assert (tmp_path / "healthy" / "manifest.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["healthy"]


def test_generator_check_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert make_samples.main(["--check"]) == 0  # the committed samples
    make_samples.main(["--out", str(tmp_path), "healthy"])
    assert make_samples.main(["--check", "--out", str(tmp_path), "healthy"]) == 0
    (tmp_path / "healthy" / "k8s" / "pods.txt").write_text("edited\n", encoding="utf-8")
    capsys.readouterr()
    assert make_samples.main(["--check", "--out", str(tmp_path), "healthy"]) == 1
    assert "stale samples" in capsys.readouterr().out
    assert (tmp_path / "healthy" / "k8s" / "pods.txt").read_text(encoding="utf-8") == "edited\n"  # wrote nothing


def test_generator_rejects_unknown_names(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        make_samples.main(["--out", str(tmp_path), "nope"])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", NAMES)
def test_sample_is_small(name: str) -> None:
    files = _files(SAMPLES_DIR / name)
    assert sum(len(data) for data in files.values()) < MAX_SAMPLE_BYTES
    for rel, data in files.items():
        if rel.endswith((".log", ".jsonl")):
            assert data.count(b"\n") <= MAX_LOG_LINES, rel
        assert data.endswith(b"\n"), rel


# --------------------------------------------------------------------------- hygiene
_SECRET = re.compile(
    r"(?i)(pass(word|wd)?|secret|api[_-]?key|token)\"?\s*[=:]\s*\"?[^\s\",{}\[\]]"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|\b(Authorization|Bearer)\b"
    r"|[a-z][a-z0-9+.-]*://[^/\s:@\"']+:[^/\s@\"']+@"
)
_IPV4 = re.compile(r"(?<![\d.])(?<![A-Za-z]/)(\d{1,3}(?:\.\d{1,3}){3})(?![\d.])")  # not "Chrome/130.0.0.0"
_DOMAIN = re.compile(r"(?<![\w.@-])((?:[a-z0-9-]+\.)+(?:com|net|org|io|sh|dev|co|il|ru|de|app|cloud|ai|me))(?![\w-])")
_ALLOWED_DOMAINS = ("kubernetes.io", "k8s.io", "helm.sh", "socket.io")  # API groups; Socket.IO's URL path


@pytest.mark.parametrize("name", NAMES)
def test_no_secrets_paths_or_real_hosts(name: str) -> None:
    machine = {str(ROOT), str(Path.home()), "/work/", "/tmp/", "/home/"}
    for rel, data in _files(SAMPLES_DIR / name).items():
        text = data.decode("utf-8")
        for needle in machine:
            assert needle not in text, f"{rel}: contains {needle!r}"
        assert not _SECRET.search(text), f"{rel}: {_SECRET.search(text)}"
        for ip in _IPV4.findall(text):
            assert ipaddress.ip_address(ip).is_private, f"{rel}: public address {ip}"
        for host in _DOMAIN.findall(text):
            assert host.endswith(_ALLOWED_DOMAINS), f"{rel}: real host name {host}"
        if rel == "k8s/pods.json":
            assert "registry.example.internal/" in text


def test_hygiene_patterns_catch_what_they_should() -> None:
    assert _SECRET.search("amqp://panda:hunter2@rabbitmq-panda:5672")
    assert _SECRET.search('{"name": "RABBITMQ_PASSWORD"}') is None  # a name without a value is fine
    assert _SECRET.search('"serviceAccountToken": {"path": "token"}') is None
    assert _SECRET.search("password=hunter2")
    assert _SECRET.search('{"password": "hunter2"}')
    assert _SECRET.search("Authorization: Basic cGFuZGE6eA==")
    assert not ipaddress.ip_address(_IPV4.findall("from 8.8.8.8:53")[0]).is_private
    assert _DOMAIN.findall("see mongodb.example.com") == ["mongodb.example.com"]
    assert _IPV4.findall("Chrome/130.0.0.0 from http://10.42.1.9:80") == ["10.42.1.9"]


# --------------------------------------------------------------------------- logs and JSON lines
@pytest.mark.parametrize("name", NAMES)
def test_every_log_line_has_a_kubelet_prefix_in_order(name: str) -> None:
    bundle = pa.load_bundle(f"sample:{name}")
    logs = [rel for rel in bundle.files() if rel.startswith("logs/")]
    assert logs
    for rel in logs:
        assert rel.endswith(".log")
        previous = None
        for no, line in enumerate(_lines(name, rel), 1):
            match = KUBELET_PREFIX.match(line)
            assert match, f"{rel}:{no}: {line[:60]!r}"
            assert match.group(1).endswith("Z")
            assert len(match.group(1)) == 30
            assert line[match.end() :].strip(), f"{rel}:{no}: empty after the prefix"
            assert line == line.rstrip(), f"{rel}:{no}: trailing whitespace"
            assert previous is None or match.group(1) > previous, f"{rel}:{no}: kubelet time goes back"
            previous = match.group(1)


_REQUIRED = {
    "http/focus/live_metadata.jsonl": {"at", "status", "body"},
    "http/focus/job_metadata.jsonl": {"at", "job_id", "status", "body"},
    "rabbitmq/snapshots.jsonl": {"at", "overview", "queues", "consumers"},
}


@pytest.mark.parametrize("name", NAMES)
def test_jsonl_records_have_their_keys(name: str) -> None:
    bundle = pa.load_bundle(f"sample:{name}")
    jsonl = [rel for rel in bundle.files() if rel.endswith(".jsonl")]
    assert "http/focus/live_metadata.jsonl" in jsonl
    assert "rabbitmq/snapshots.jsonl" in jsonl
    for rel in jsonl:
        records = _jsonl(name, rel)
        assert records, rel
        if rel.startswith("mongo/"):
            for doc in records:
                assert re.fullmatch(r"[0-9a-f]{24}", doc["_id"]["$oid"])
            continue
        ats = [r["at"] for r in records]
        assert ats == sorted(ats), rel
        for record in records:
            assert set(record) == _REQUIRED[rel], rel
            _ts(record["at"])
            assert isinstance(record.get("status", 200), int)


@pytest.mark.parametrize("name", NAMES)
def test_snapshots_look_like_the_management_api(name: str) -> None:
    for snap in _jsonl(name, "rabbitmq/snapshots.jsonl"):
        overview = snap["overview"]
        assert overview["product_name"] == "RabbitMQ"
        assert overview["object_totals"]["queues"] == len(snap["queues"])
        assert overview["object_totals"]["consumers"] == len(snap["consumers"])
        for q in snap["queues"]:
            assert {
                "name",
                "vhost",
                "consumers",
                "messages",
                "messages_ready",
                "messages_unacknowledged",
                "state",
                "node",
                "type",
                "durable",
                "auto_delete",
                "exclusive",
                "memory",
            } <= set(q)
            assert q["consumers"] == sum(c["queue"]["name"] == q["name"] for c in snap["consumers"])
        for c in snap["consumers"]:
            assert {
                "consumer_tag",
                "channel_details",
                "queue",
                "ack_required",
                "prefetch_count",
                "active",
                "activity_status",
                "exclusive",
                "arguments",
            } <= set(c)
            assert c["channel_details"]["connection_name"].startswith(c["channel_details"]["peer_host"] + ":")


# --------------------------------------------------------------------------- bundle parts
_PARTS = {
    "waiting_for_fiber": {
        "focus": ["focus-server.previous.log", "focus-server.log"],
        "ingress": ["controller.log"],
        "rabbitmq_log": ["rabbitmq.log"],
        "analyzer": [],
        "mongo": [],
    },
    "consumer_slow": {
        "focus": ["focus-server.log"],
        "ingress": ["controller.log"],
        "rabbitmq_log": ["rabbitmq.log"],
        "analyzer": ["grpc-job-19-5-cj8hc/baby-analyzer.log", "grpc-job-19-6-q4w9z/baby-analyzer.log"],
        "mongo": ["jobs.jsonl"],
        "job_metadata": ["job_metadata.jsonl"],
    },
    "alert_lost": {
        "focus": ["focus-server.log"],
        "ingress": ["controller.log"],
        "rabbitmq_log": ["rabbitmq.log"],
        "analyzer": ["grpc-job-1-3-rm5ms/baby-analyzer.log"],
        "mongo": ["alerts.jsonl"],
    },
    "healthy": {
        "focus": ["focus-server.log"],
        "ingress": ["controller.log"],
        "rabbitmq_log": ["rabbitmq.log"],
        "analyzer": ["grpc-job-20-1-h7x2k/baby-analyzer.log"],
        "mongo": ["jobs.jsonl"],
        "job_metadata": ["job_metadata.jsonl"],
    },
    "queue_backlog": {
        "focus": ["focus-server.log"],
        "ingress": ["controller.log"],
        "rabbitmq_log": ["rabbitmq.log"],
        "analyzer": ["grpc-job-21-4-n8kxd/baby-analyzer.log"],
        "mongo": ["jobs.jsonl"],
        "job_metadata": [],
    },
}


@pytest.mark.parametrize("name", NAMES)
def test_bundle_classifies_every_file(name: str) -> None:
    bundle = pa.load_bundle(f"sample:{name}")
    for part, expected in _PARTS[name].items():
        got = sorted(f.name for f in bundle.sources(part))
        assert len(got) == len(expected), (part, got)
        assert all(any(g.endswith(e) for g in got) for e in expected), (part, got)
    assert bundle.sources("other_logs") == []
    for part in ("pods", "events", "jobs", "services", "endpoints", "pods_text", "live_metadata", "queues"):
        assert len(bundle.sources(part)) == 1, part
    focus = bundle.sources("focus")
    assert {f.container for f in focus} == {"focus-server"}
    assert {f.namespace for f in focus} == {"panda"}
    assert [f.is_previous for f in focus] == [f.name.endswith(".previous.log") for f in focus]
    (ingress,) = bundle.sources("ingress")
    assert (ingress.namespace, ingress.pod, ingress.container) == (
        "kube-system",
        "ingress-nginx-controller-55694fd6ff-rqgp9",
        "controller",
    )


# --------------------------------------------------------------------------- what each sample promises
def test_waiting_for_fiber_facts() -> None:
    name = "waiting_for_fiber"
    pods_txt = _lines(name, "k8s/pods.txt")
    assert "panda-panda-focus-server-78dbcfd9d9-kjj77    1/1     Running   4 (28h ago)   46h" in pods_txt
    assert pods_txt[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert all(line.split()[2] == "Running" for line in pods_txt[1:])

    probes = _jsonl(name, "http/focus/live_metadata.jsonl")
    assert 45 <= len(probes) <= 55
    assert {p["status"] for p in probes} == {200}
    assert all(p["body"] == make_samples.WAITING_METADATA for p in probes)
    assert probes[0]["at"].startswith("2025-11-08T13:00")
    assert probes[-1]["at"] < "2025-11-08T13:25"

    focus = _lines(name, "logs/panda/panda-panda-focus-server-78dbcfd9d9-kjj77/focus-server.log")
    configure = [line for line in focus if '"POST /configure HTTP/1.1"' in line]
    assert len(configure) >= 60
    assert all(line.endswith("503 Service Unavailable") for line in configure)
    errors = [line for line in focus if "ERROR pz.focus_server" in line]
    assert len(errors) == len(configure)
    assert all(line.endswith("Missing required fiber metadata fields: prr") for line in errors)
    configs = {line.split("got configuration: ")[1] for line in focus if "got configuration:" in line}
    assert configs == {
        "displayTimeAxisDuration=30 nfftSelection=1024 displayInfo.height=200 channels.min=11 channels.max=109 "
        "frequencyRange.min=0 frequencyRange.max=1000 view_type=0",
        "displayTimeAxisDuration=30 nfftSelection=1024 displayInfo.height=1000 channels.min=1 channels.max=50 "
        "frequencyRange.min=0 frequencyRange.max=500 view_type=0",
    }
    # each client repeats every 2-3 s
    for client in ("10.42.0.0", "10.42.2.0"):
        times = [_ts(line[:30]) for line in configure if f" {client}:" in line]
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
        assert len(times) >= 30
        assert all(1.9 <= g <= 3.1 for g in gaps), gaps
    assert any('"GET /live_metadata HTTP/1.1" 200 OK' in line for line in focus)
    assert any('"GET /channels HTTP/1.1" 200 OK' in line for line in focus)

    previous = "\n".join(_lines(name, "logs/panda/panda-panda-focus-server-78dbcfd9d9-kjj77/focus-server.previous.log"))
    assert "ERROR pz.focus_server FocusManager init failed" in previous
    assert (
        "pymongo.errors.ServerSelectionTimeoutError: mongodb:27017: [Errno -3] Temporary failure in name resolution, "
        "Timeout: 30s, Topology Description: <TopologyDescription id: " in previous
    )
    assert previous.endswith("ERROR:    Application startup failed. Exiting.")

    pod = next(
        i for f, _, i in _k8s_items(name) if i["metadata"]["name"] == "panda-panda-focus-server-78dbcfd9d9-kjj77"
    )
    (status,) = pod["status"]["containerStatuses"]
    assert status["restartCount"] == 4
    terminated = status["lastState"]["terminated"]
    assert (terminated["reason"], terminated["exitCode"]) == ("Error", 1)
    ago = _ts("2025-11-08T13:25:00Z") - _ts(terminated["finishedAt"])
    assert timedelta(hours=28) <= ago < timedelta(hours=29)
    backoff = [i for f, _, i in _k8s_items(name) if f == "events.json" and i["reason"] == "BackOff"]
    assert len(backoff) == 1
    assert backoff[0]["type"] == "Warning"
    assert backoff[0]["count"] == 3
    assert backoff[0]["message"].startswith(
        "Back-off restarting failed container focus-server in pod panda-panda-focus-server-78dbcfd9d9-kjj77_panda("
    )

    ingress = _lines(name, "logs/kube-system/ingress-nginx-controller-55694fd6ff-rqgp9/controller.log")
    access = [line for line in ingress if '] "' in line and " - - [" in line]
    conf = [line for line in access if "/focus-server/configure" in line]
    assert len(conf) == len(configure)
    assert all('" 503 ' in line and "[panda-panda-focus-server-5000]" in line for line in conf)
    others = [line for line in access if "/focus-server/" in line and "/configure" not in line]
    assert others
    assert all('" 200 ' in line for line in others)
    assert sum(" [error] " in line for line in ingress) == 1
    assert sum(re.match(r"\S+ I\d{4} ", line) is not None for line in ingress) >= 2

    rabbit = _lines(name, "logs/panda/rabbitmq-panda-0/rabbitmq.log")
    assert all(re.search(r" \[debug\] <0\.928\.0> Peer discovery: ", line) for line in rabbit)


def test_consumer_slow_facts() -> None:
    name = "consumer_slow"
    polls = _jsonl(name, "http/focus/job_metadata.jsonl")
    for job_id, first_ok in (("19-5", "2025-11-13T09:41:17.234Z"), ("19-6", "2025-11-13T09:43:11.087Z")):
        mine = [p for p in polls if p["job_id"] == job_id]
        assert [p["status"] for p in mine] == [404] * (len(mine) - 1) + [200]
        assert all(p["body"] == {"detail": "Invalid job_id"} for p in mine[:-1])
        assert mine[-1]["at"] == first_ok
        assert mine[-1]["body"]["job_id"] == job_id
    focus = _lines(name, "logs/panda/panda-panda-focus-server-78dbcfd9d9-4ld4s/focus-server.log")
    assert any(
        line.endswith("INFO pz.focus_server Job 19-5 configured, creating k8s job grpc-job-19-5") for line in focus
    )
    ingress = _lines(name, "logs/kube-system/ingress-nginx-controller-55694fd6ff-rqgp9/controller.log")
    (conf_19_5, conf_19_6) = [line for line in ingress if "POST /focus-server/configure" in line]
    assert '" 200 ' in conf_19_5
    assert " 0.291 [panda-panda-focus-server-5000]" in conf_19_5
    assert "[13/Nov/2025:09:42:30 +0000]" in conf_19_6

    items = _k8s_items(name)
    jobs = {i["metadata"]["name"]: i for f, _, i in items if f == "jobs.json"}
    assert sorted(jobs) == ["grpc-job-19-5", "grpc-job-19-6"]
    pods = {i["metadata"]["name"]: i for f, _, i in items if f == "pods.json"}
    assert pods["grpc-job-19-5-cj8hc"]["metadata"]["creationTimestamp"] == "2025-11-13T09:41:14Z"
    assert pods["grpc-job-19-6-q4w9z"]["metadata"]["creationTimestamp"] == "2025-11-13T09:42:33Z"
    reasons = [
        i["reason"] for f, _, i in items if f == "events.json" and i["involvedObject"]["name"] == "grpc-job-19-5-cj8hc"
    ]
    assert reasons == ["Scheduled", "Pulling", "Pulled", "Created", "Started"]

    analyzer = _lines(name, "logs/panda/grpc-job-19-5-cj8hc/baby-analyzer.log")
    texts = [line[31:] for line in analyzer]
    for expected in (
        "[INFO] Connecting to RabbitMQ amqp://rabbitmq-panda:5672",
        "[INFO] Declared queue grpc-job-19-5",
        "[INFO] Consumer started on queue grpc-job-19-5",
    ):
        assert expected in texts
    slow = {line[31:]: _ts(line[:30]) for line in _lines(name, "logs/panda/grpc-job-19-6-q4w9z/baby-analyzer.log")}
    start = _ts("2025-11-13T09:42:30Z")
    assert 7.9 <= (slow["[INFO] Declared queue grpc-job-19-6"] - start).total_seconds() <= 8.1
    assert 40 <= (slow["[INFO] Consumer started on queue grpc-job-19-6"] - start).total_seconds() <= 41.1

    # every job queue is seen without a consumer first, then with one
    seen: dict[str, list[int]] = {}
    for snap in _jsonl(name, "rabbitmq/snapshots.jsonl"):
        for q in snap["queues"]:
            if q["name"].startswith("grpc-job-"):
                seen.setdefault(q["name"], []).append(q["consumers"])
    assert set(seen) == {"grpc-job-19-5", "grpc-job-19-6"}
    for counts in seen.values():
        assert counts[0] == 0
        assert counts[-1] == 1
        assert counts == sorted(counts)
    assert {p["body"]["prr"] for p in _jsonl(name, "http/focus/live_metadata.jsonl")} == {2000.0}


def test_alert_lost_facts() -> None:
    name = "alert_lost"
    ingress = _lines(name, "logs/kube-system/ingress-nginx-controller-55694fd6ff-rqgp9/controller.log")
    seed_line = (
        '10.42.0.0 - - [13/Nov/2025:12:08:41 +0000] "POST /prisma/api/prisma-210-1000/api/push-to-rabbit HTTP/1.1" '
        '201 450 "-" "python-requests/2.32.5" 902 0.106 [webapp-webapp-pz-web-webapp-ui-80] [] 10.42.1.9:80 450 '
        "0.106 201 80e1da9a6d866cc1ede71922a8232394"
    )
    assert seed_line in [line[31:] for line in ingress]
    pushes = [i for i, line in enumerate(ingress) if "push-to-rabbit" in line]
    sounds = [i for i, line in enumerate(ingress) if "alert_sound.mp3" in line]
    assert len(pushes) == 2
    assert len(sounds) == 1
    assert all('" 201 ' in ingress[i] for i in pushes)
    assert pushes[0] < sounds[0] < pushes[1]
    assert '"GET /assets/sounds/alert_sound.mp3 HTTP/2.0" 206 25214 ' in ingress[sounds[0]]
    assert "[13/Nov/2025:12:10:05 +0000]" in ingress[pushes[1]]

    focus = [
        line[31:] for line in _lines(name, "logs/panda/panda-panda-focus-server-78dbcfd9d9-4ld4s/focus-server.log")
    ]
    for alert in ("test-sd-123", "test-sd-124"):
        assert f'[INFO] Received alert: {{"alertId": "{alert}", "classId": 104, "severity": 3}}' in focus
        assert f"[INFO] Publishing alert to RabbitMQ: {alert}" in focus
    assert focus.count("[INFO] Alert published successfully") == 1
    assert any(
        line.startswith("[ERROR] Failed to publish alert test-sd-124: pika.exceptions.StreamLostError")
        for line in focus
    )

    rabbit = "\n".join(_lines(name, "logs/panda/rabbitmq-panda-0/rabbitmq.log"))
    assert rabbit.count("Message published to exchange 'prisma' with routing_key 'Algorithm.AlertReport.MLGround'") == 1
    assert rabbit.count("Message consumed from queue 'prisma-210-1000-alerts'") == 1
    analyzer = [line[31:] for line in _lines(name, "logs/panda/grpc-job-1-3-rm5ms/baby-analyzer.log")]
    for expected in (
        "[INFO] Alert detected: class_id=104, severity=3, distance_m=4163",
        "[INFO] Publishing alert to RabbitMQ: Algorithm.AlertReport.MLGround",
        "[INFO] Alert published successfully: test-sd-123",
    ):
        assert expected in analyzer
    assert not any("test-sd-124" in line for line in analyzer)
    assert [d["alertId"] for d in _jsonl(name, "mongo/alerts.jsonl")] == ["test-sd-123"]
    for snap in _jsonl(name, "rabbitmq/snapshots.jsonl"):
        (alerts,) = [q for q in snap["queues"] if q["name"] == "prisma-210-1000-alerts"]
        assert alerts["consumers"] == 1
        assert alerts["messages"] == 0


def test_healthy_facts() -> None:
    name = "healthy"
    probes = _jsonl(name, "http/focus/live_metadata.jsonl")
    assert {p["status"] for p in probes} == {200}
    assert all(p["body"]["prr"] == 2000.0 and p["body"]["dx"] > 0 for p in probes)
    pods = [i for f, _, i in _k8s_items(name) if f == "pods.json"]
    assert all(c["restartCount"] == 0 and c["ready"] for p in pods for c in p["status"]["containerStatuses"])
    assert all(line.split()[3] == "0" for line in _lines(name, "k8s/pods.txt")[1:])
    assert not [i for f, _, i in _k8s_items(name) if f == "events.json" and i["type"] != "Normal"]
    for rel in pa.load_bundle("sample:healthy").files():
        if rel.startswith("logs/"):
            text = "\n".join(_lines(name, rel))
            for bad in ("ERROR", "[error]", "Traceback"):
                assert bad not in text, rel
    ingress = _lines(name, "logs/kube-system/ingress-nginx-controller-55694fd6ff-rqgp9/controller.log")
    statuses = {re.search(r'" (\d{3}) ', line).group(1) for line in ingress}
    assert statuses == {"200", "404"}  # 404 only for /metadata polls before the consumer exists
    assert all("/focus-server/metadata/20-1" in line for line in ingress if '" 404 ' in line)
    polls = _jsonl(name, "http/focus/job_metadata.jsonl")
    ready = _ts(polls[-1]["at"]) - _ts("2025-11-10T08:55:00Z")
    assert polls[-1]["status"] == 200
    assert ready < timedelta(seconds=5)
    for snap in _jsonl(name, "rabbitmq/snapshots.jsonl"):
        assert all(q["messages_ready"] == 0 for q in snap["queues"])


def test_queue_backlog_facts() -> None:
    name = "queue_backlog"
    # the broker closes the web app's consumer channel (rabbit_channel's two-line error, one header per line)
    rabbit = [line[31:] for line in _lines(name, "logs/panda/rabbitmq-panda-0/rabbitmq.log")]
    errors = [line for line in rabbit if " [error] " in line]
    assert [e.split(" <0.2963.0> ", 1)[1] for e in errors] == [
        "Channel error on connection <0.2954.0> (10.42.1.9:41766 -> 10.42.0.15:5672, vhost: '/', user: 'panda'), "
        "channel 1:",
        "operation basic.ack caused a channel exception precondition_failed: unknown delivery tag 509",
    ]
    closed = _ts(errors[0][:26].replace(" ", "T") + "+00:00")
    assert errors[0][:32] == errors[1][:32]  # same header: one entry
    assert all(" [debug] <0.928.0> Peer discovery: " in line for line in rabbit if line not in errors)

    snaps = _jsonl(name, "rabbitmq/snapshots.jsonl")
    assert len(snaps) == 10
    gaps = [(_ts(b["at"]) - _ts(a["at"])).total_seconds() for a, b in itertools.pairwise(snaps)]
    assert all(44.9 <= g <= 45.1 for g in gaps), gaps
    alerts = [next(q for q in s["queues"] if q["name"] == "prisma-210-1000-alerts") for s in snaps]
    assert [q["consumers"] for q in alerts] == [1] + [0] * 9
    assert _ts(snaps[0]["at"]) < closed < _ts(snaps[1]["at"])
    ready = [q["messages_ready"] for q in alerts]
    assert ready[0] == 0
    assert ready[-1] == 50
    assert ready == sorted(ready)
    for q in alerts:
        stats = q["message_stats"]
        assert stats["publish"] == stats["deliver_get"] + q["messages_ready"]
        assert q["messages_unacknowledged"] == 0
    # every delivery up to the double-acked tag 509 was acked; nothing has been delivered since
    assert {q["message_stats"]["ack"] for q in alerts[1:]} == {509}
    assert [q["message_stats"]["deliver_get_details"]["rate"] for q in alerts[1:]] == [0.0] * 9
    web = [c for c in snaps[0]["consumers"] if c["queue"]["name"] == "prisma-210-1000-alerts"]
    assert [c["channel_details"]["name"] for c in web] == ["10.42.1.9:41766 -> 10.42.0.15:5672 (1)"]
    # the web app's connection stays open: one channel fewer, not one connection fewer
    assert [
        (s["overview"]["object_totals"]["connections"], s["overview"]["object_totals"]["channels"]) for s in snaps
    ] == [(3, 3)] + [(3, 2)] * 9

    orphan = [next(q for q in s["queues"] if q["name"] == "grpc-job-18-2") for s in snaps]
    assert {(q["consumers"], q["messages"], q["durable"], q["auto_delete"]) for q in orphan} == {(0, 37, True, False)}
    assert {q["idle_since"] for q in orphan} == {"2025-11-05T17:42:09.118+00:00"}
    live = [next(q for q in s["queues"] if q["name"] == "grpc-job-21-4") for s in snaps]
    assert {(q["consumers"], q["messages"], q["auto_delete"]) for q in live} == {(1, 0, True)}

    items = _k8s_items(name)
    names = {i["metadata"]["name"] for f, _, i in items if f in {"pods.json", "jobs.json"}}
    assert "grpc-job-21-4" in names
    assert not [n for n in names if n.startswith("grpc-job-18-2")]  # its Job and pod are long gone
    jobs = {d["job_id"]: d for d in _jsonl(name, "mongo/jobs.jsonl")}
    assert (jobs["18-2"]["status"], jobs["18-2"]["finished_at"]) == ("completed", {"$date": "2025-11-05T17:42:09.118Z"})
    assert jobs["21-4"]["status"] == "running"

    # nobody crashed: the consumer was lost to a channel error, not a restart
    pods = [i for f, _, i in items if f == "pods.json"]
    assert all(c["restartCount"] == 0 and c["ready"] for p in pods for c in p["status"]["containerStatuses"])
    assert not [i for f, _, i in items if f == "events.json" and i["type"] != "Normal"]
    assert {p["body"]["prr"] for p in _jsonl(name, "http/focus/live_metadata.jsonl")} == {2000.0}

    # the job keeps publishing: alert lines on both sides of the close
    analyzer = _lines(name, "logs/panda/grpc-job-21-4-n8kxd/baby-analyzer.log")
    detected = [_ts(line[:30]) for line in analyzer if "[INFO] Alert detected: class_id=104" in line]
    assert any(t < closed for t in detected)
    assert sum(t > closed for t in detected) >= 40
    ingress = _lines(name, "logs/kube-system/ingress-nginx-controller-55694fd6ff-rqgp9/controller.log")
    assert ingress
    assert not [line for line in ingress if "push-to-rabbit" in line]
    assert {re.search(r'" (\d{3}) ', line).group(1) for line in ingress} == {"200"}


# --------------------------------------------------------------------------- the generator's helpers
_KUBECTL_AGE = re.compile(r"\d+s|\d+m(\d+s)?|\d+h(\d+m)?|\d+d(\d+h)?")


@settings(max_examples=150, deadline=None)
@given(seconds=st.integers(min_value=0, max_value=400 * 86400))
def test_human_duration_prints_like_kubectl(seconds: int) -> None:
    text = make_samples.human_duration(timedelta(seconds=seconds))
    assert _KUBECTL_AGE.fullmatch(text), text
    assert len(text) <= 6


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (59, "59s"),
        (119, "119s"),
        (120, "2m"),
        (312, "5m12s"),
        (600, "10m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 61, "3h1m"),
        (28 * 3600 + 720, "28h"),
        (46 * 3600, "46h"),
        (50 * 3600, "2d2h"),
        (8 * 86400, "8d"),
    ],
)
def test_human_duration_examples(seconds: int, expected: str) -> None:
    assert make_samples.human_duration(timedelta(seconds=seconds)) == expected


@settings(max_examples=100, deadline=None)
@given(
    offsets=st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=40),
    texts=st.lists(
        st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30),
        min_size=40,
        max_size=40,
    ),
)
def test_rendered_logs_always_carry_increasing_kubelet_times(offsets: list[int], texts: list[str]) -> None:
    sample = make_samples.Sample("prop", datetime(2025, 11, 8, 13, 25, tzinfo=UTC), "d", "r")
    base = datetime(2025, 11, 8, 13, 18, tzinfo=UTC)
    for offset, text in zip(offsets, texts, strict=False):
        sample.log("logs/x/y/z.log", base + timedelta(microseconds=offset), text)
    rendered = sample.render_log("logs/x/y/z.log").split("\n")
    assert rendered[-1] == ""
    stamps = []
    for line in rendered[:-1]:
        match = KUBELET_PREFIX.match(line)
        assert match
        stamps.append(match.group(1))
    assert len(stamps) == len(offsets)
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == len(stamps)


def test_readme_sample_table_matches_the_expected_findings() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\w+)` \| [^|]+ \| ([^|]+) \|$", readme, re.M)
    table = {name: cell.strip() for name, cell in rows if name in pa.samples.names()}
    assert sorted(table) == sorted(pa.samples.names())
    expected_dir = Path(__file__).resolve().parent / "data" / "expected"
    for name, cell in table.items():
        codes = [r["code"] for r in json.loads((expected_dir / f"{name}.json").read_text())]
        shown = [] if cell == "none" else re.findall(r"`(\w+)`(?: ×(\d+))?", cell)
        assert sorted(c for c, n in shown for _ in range(int(n or 1))) == sorted(codes), name
