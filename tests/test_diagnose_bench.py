"""The busy-bundle generator of ``benchmarks/diagnose_bench.py`` (issue #12), at a tiny size.

The benchmark is only as good as its bundles: they must load, their Kubernetes objects must
be real (strict ``kubernetes-validate``, as ``tests/test_samples.py`` checks the samples),
the dirt must be there and be counted, and the busy platform around the seed 002 incident
must be healthy, so that ``diagnose`` finds exactly the incident's codes.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import kubernetes_validate
import pytest

import panda_analysis as pa

ROOT = Path(__file__).resolve().parent.parent
K8S_VERSION = "1.31"  # the staging cluster runs k3s v1.31 (as tests/test_samples.py)


def _bench() -> ModuleType:
    name = "diagnose_bench"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / "diagnose_bench.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


bench = _bench()

#: The issue's tiny size; a 20 KB huge value keeps the RabbitMQ parser's quadratic
#: connection regex (issue #12 report) from dominating a unit test.
TINY = bench.Plan(lines=2_000, containers=20, jobs=20, queues=30, alerts=50, huge=20_000)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bench") / "busy"
    bench.build_bundle(path, TINY)
    return path


@pytest.fixture(scope="module")
def frames(tiny: Path) -> pa.Frames:
    return pa.parse.frames(pa.load_bundle(tiny))


def _items(path: Path) -> list[tuple[str, int, dict[str, Any]]]:
    out: list[tuple[str, int, dict[str, Any]]] = []
    for file in sorted((path / "k8s").glob("*.json")):
        doc = json.loads(file.read_text(encoding="utf-8"))
        assert doc["kind"] == "List"
        out.extend((file.name, i, item) for i, item in enumerate(doc["items"]))
    return out


def test_the_bundle_loads_with_every_part(tiny: Path, frames: pa.Frames) -> None:
    bundle = pa.load_bundle(tiny)
    assert bundle.manifest["format"] == "panda-bundle/1"
    inventory = bundle.inventory().set_index("part")
    for part in ("ingress", "focus", "analyzer", "rabbitmq_log", "other_logs", "pods", "restarts", "events",
                 "jobs", "queues", "consumers", "live_metadata", "job_metadata", "mongo"):  # fmt: skip
        assert bool(inventory.loc[part, "present"]), part
    assert frames.parse_errors == ()
    # the plan's sizes, give or take the dirt
    requests = frames.ingress
    assert 1_990 <= len(requests) <= 2_100
    assert frames.jobs["job_id"].nunique() == TINY.jobs
    assert frames.pods["pod"].str.startswith("grpc-job-").sum() == TINY.jobs
    assert frames.queues.groupby("ts").size().max() == TINY.queues
    assert frames.queues["ts"].nunique() == TINY.snapshots
    pushes = requests[requests["path"].astype("string").str.endswith("push-to-rabbit").fillna(False)]
    assert len(pushes) == TINY.alerts
    assert frames.mongo["alert_id"].notna().sum() == TINY.alerts
    containers = frames.restarts[~frames.restarts["pod"].astype("string").str.startswith("grpc-job-")]
    assert len(containers) == TINY.containers
    assert int((containers["restart_count"] > 0).sum()) == TINY.restarting + 1  # + the Focus Server


def test_every_k8s_object_validates_strictly(tiny: Path) -> None:
    items = _items(tiny)
    kinds = Counter(item["kind"] for _, _, item in items)
    assert kinds["Pod"] >= TINY.jobs + 10
    assert kinds["Job"] == TINY.jobs
    assert kinds["Event"] > 6 * TINY.jobs
    for file, i, item in items:
        try:
            kubernetes_validate.validate(item, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as err:  # pragma: no cover - the failure message
            pytest.fail(f"k8s/{file} item {i} ({item['kind']} {item['metadata']['name']}): {err}")


def test_finished_jobs_look_like_the_job_controller_left_them(tiny: Path) -> None:
    items = [item for _, _, item in _items(tiny)]
    jobs = [i for i in items if i["kind"] == "Job"]
    done = [j for j in jobs if j["status"].get("succeeded")]
    assert 0 < len(done) < len(jobs)  # the older ones completed, the newest still run
    pods = {p["metadata"]["name"]: p for p in items if p["kind"] == "Pod"}
    for job in done:
        assert job["status"]["conditions"][-1]["type"] == "Complete"
        (pod,) = [p for p in pods.values() if p["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"]]
        assert pod["status"]["phase"] == "Succeeded"
        assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"


def test_every_family_carries_dirt_and_it_is_counted(tiny: Path, frames: pa.Frames) -> None:
    ingress = next((tiny / "logs" / "kube-system").glob("*/controller.log")).read_bytes()
    focus = next((tiny / "logs" / "panda").glob("*focus-server*/focus-server.log")).read_bytes()
    rabbit = (tiny / "logs" / "panda" / "rabbitmq-panda-0" / "rabbitmq.log").read_bytes()
    for data in (ingress, focus, rabbit):
        assert b"\x00" * 64 in data  # NUL runs
        assert b"\xe9" in data  # a byte that is no UTF-8
        assert max(len(line) for line in data.splitlines()) > TINY.huge  # a huge value
    assert b"NGINX Ingress controller" in ingress
    assert b"RabbitMQ 3.12.13" in rabbit
    assert b'"Mozilla/5.0 "quoted" agent"' in ingress  # odd quotes
    for name in ("snapshots", "live_metadata", "job_metadata", "alerts"):
        (path,) = tiny.rglob(f"{name}.jsonl")
        assert b"\x00" * 300 in path.read_bytes()
    # the dirt is counted, never dropped silently
    for name in ("ingress", "focus", "rabbitmq_log", "queues", "live_metadata", "job_metadata", "mongo"):
        assert frames[name].attrs["unparsed"] > 0, name


def test_diagnose_finds_the_seed_002_codes_and_nothing_else(frames: pa.Frames) -> None:
    found = pa.diagnose.run(frames)
    assert Counter(str(f.code) for f in found) == bench.expected_codes(TINY)
    assert Counter(str(f.code) for f in found) == bench.TWIN_CODES + Counter({"CRASHLOOP_DNS": TINY.restarting})
    # the restarted containers died in the seed 002 DNS outage: the same cause as the Focus Server
    dns = [f for f in found if str(f.code) == "CRASHLOOP_DNS"]
    assert all(f.metrics["host"] == "mongodb" for f in dns)


def test_the_twin_without_restarts_is_the_sample(tmp_path: Path) -> None:
    plan = bench.Plan.twin(bench.Plan(restarting=0))
    bench.build_bundle(tmp_path / "twin", plan)
    found = pa.diagnose.run(tmp_path / "twin")
    expected = json.loads((ROOT / "tests" / "data" / "expected" / "waiting_for_fiber.json").read_text())
    assert sorted((str(f.code), str(f.severity)) for f in found) == sorted((e["code"], e["severity"]) for e in expected)


def test_the_generator_is_deterministic(tmp_path: Path) -> None:
    plan = bench.Plan(lines=500, containers=12, jobs=6, queues=12, alerts=5, huge=2_000)
    digests = []
    for name in ("a", "b"):
        bench.build_bundle(tmp_path / name, plan)
        files = sorted(p for p in (tmp_path / name).rglob("*") if p.is_file())
        digests.append({str(p.relative_to(tmp_path / name)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files})
    assert digests[0] == digests[1]


def test_growth_per_ten_x() -> None:
    assert bench.growth([10_000, 100_000, 1_000_000], [2.0, 20.0, 400.0]) == [
        (10_000, 100_000, 10.0),
        (100_000, 1_000_000, 20.0),
    ]
    assert bench.growth([1_000, 4_000], [1.0, 4.0])[0][2] == pytest.approx(10.0)  # linear is 10x per 10x


@pytest.mark.slow
def test_the_benchmark_runs_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--sizes", "1000,3000", "--pods", "300", "--containers", "9", "--jobs", "6", "--queues", "12",
            "--alerts", "5", "--clean"]  # fmt: skip
    assert bench.main(argv) == 0  # a report: 0 whatever the verdicts (--check makes misses exit 1)
    out = capsys.readouterr().out
    rows = {line[:44].strip(): line[44:].split() for line in out.splitlines() if line.endswith(("PASS", "FAIL"))}
    assert set(rows) >= {
        "twin findings = seed 002 (+ restarted)",
        "1,000 lines: findings = twin",
        "3,000 lines: findings = twin",
        "growth per 10x, 1,000 -> 3,000",
        "300 pods: diagnose wall s",
        "300 pods: findings = twin",
    }
    assert rows["twin findings = seed 002 (+ restarted)"][1] == "9"  # expected: seed 002's 5 + 4 restarted
    assert float(rows["300 pods: diagnose wall s"][0]) > 0
    # the per-rule table: parse, each parser, every rule of the registry, per size
    table = {
        line.split()[0]: line.split()[1:]
        for line in out.splitlines()
        if line.startswith(("parse", "  ", *pa.diagnose.RULES))
    }
    assert set(pa.diagnose.RULES) <= set(table)
    assert all(len(cells) >= 2 for name, cells in table.items() if name in pa.diagnose.RULES)
