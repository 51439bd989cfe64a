"""``serve-bundle``: the bundle served as a read-only Kubernetes API, checked with real clients.

The expectations are read straight from the sample bundles' files (``k8s/*.json``,
``logs/...``, the pasted ``k8s/pods.txt``), never from the server's own code, and the
clients are the real ones: the ``kubernetes`` Python package and the ``kubectl`` binary
(skipped, with the reason, when it is not on PATH).
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import panda_analysis as pa
from panda_analysis.serve import BundleServer, add_parser, main

kubernetes = pytest.importorskip("kubernetes")
from kubernetes import client, config, watch  # noqa: E402  (after importorskip)

SAMPLES = ["waiting_for_fiber", "consumer_slow", "alert_lost", "healthy"]
CORE_LISTS = {  # plural -> (all-namespaces call, per-namespace call)
    "pods": ("list_pod_for_all_namespaces", "list_namespaced_pod"),
    "events": ("list_event_for_all_namespaces", "list_namespaced_event"),
    "services": ("list_service_for_all_namespaces", "list_namespaced_service"),
    "endpoints": ("list_endpoints_for_all_namespaces", "list_namespaced_endpoints"),
}
FOCUS_PREVIOUS = "logs/panda/panda-panda-focus-server-78dbcfd9d9-kjj77/focus-server.previous.log"


@dataclass
class Served:
    name: str
    bundle: pa.Bundle
    server: BundleServer
    kubeconfig: Path
    core: Any
    batch: Any


@pytest.fixture(scope="module", params=SAMPLES)
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server per sample for the whole module, with clients configured from its kubeconfig."""
    bundle = pa.load_bundle(f"sample:{request.param}")
    with BundleServer(bundle) as server:
        kubeconfig = server.write_kubeconfig(tmp_path_factory.mktemp(request.param) / "kubeconfig")
        api = config.new_client_from_config(config_file=str(kubeconfig))
        try:
            yield Served(request.param, bundle, server, kubeconfig, client.CoreV1Api(api), client.BatchV1Api(api))
        finally:
            api.close()


# ----------------------------------------------------------------- expectations from the files
def bundle_items(bundle: pa.Bundle, plural: str) -> list[dict[str, Any]]:
    """The objects of ``k8s/<plural>.json`` as a list API returns them (no per-item kind/apiVersion)."""
    doc = json.loads((bundle.root / f"k8s/{plural}.json").read_text(encoding="utf-8"))
    items = [{k: v for k, v in item.items() if k not in ("kind", "apiVersion")} for item in doc["items"]]
    return sorted(items, key=key_of)


def key_of(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj["metadata"]
    return meta.get("namespace", ""), meta["name"]


def raw(response: Any) -> Any:
    """Decode a ``_preload_content=False`` response as JSON."""
    return json.loads(response.data)


def log_lines(path: Path) -> list[tuple[pd.Timestamp, str, str]]:
    """(kubelet time, line with prefix, line without prefix) for every line of a bundle log."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        stamp, _, rest = line.partition(" ")
        out.append((pd.Timestamp(stamp), line, rest))
    return out


def logs_of(bundle: pa.Bundle) -> list[tuple[str, str, str, bool, Path]]:
    """(namespace, pod, container, previous, path) for every log file of the bundle."""
    found = []
    for path in sorted((bundle.root / "logs").glob("*/*/*.log")):
        previous = path.name.endswith(".previous.log")
        container = path.name.removesuffix(".log").removesuffix(".previous")
        found.append((path.parent.parent.name, path.parent.name, container, previous, path))
    return found


def body_of(err: Any) -> Any:
    """The Status object of a client ``ApiException``."""
    assert err.body is not None
    return json.loads(err.body)


def http(server: BundleServer, method: str, path: str, *, accept: str = "application/json") -> tuple[int, Any]:
    request = urllib.request.Request(server.url + path, method=method, headers={"Accept": accept})
    if method in ("POST", "PUT", "PATCH"):
        request.data = b"{}"
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        with err:
            body = err.read()
        return err.code, json.loads(body) if body.startswith(b"{") else body.decode()


# ----------------------------------------------------------------- lists, with the Python client
@pytest.mark.parametrize("plural", [*CORE_LISTS, "jobs"])
def test_lists_equal_bundle_objects(served: Served, plural: str) -> None:
    expected = bundle_items(served.bundle, plural)
    if plural == "jobs":
        all_call, ns_call, api = "list_job_for_all_namespaces", "list_namespaced_job", served.batch
    else:
        (all_call, ns_call), api = CORE_LISTS[plural], served.core
    everything = raw(getattr(api, all_call)(_preload_content=False))
    assert everything["kind"].endswith("List")
    assert everything["metadata"]["resourceVersion"]
    assert sorted(everything["items"], key=key_of) == expected
    for namespace in {key_of(o)[0] for o in expected} | {"no-such-namespace"}:
        listed = raw(getattr(api, ns_call)(namespace, _preload_content=False))["items"]
        assert sorted(listed, key=key_of) == [o for o in expected if key_of(o)[0] == namespace]
    typed = getattr(api, all_call)()  # the client's own models read every object
    assert sorted((i.metadata.namespace, i.metadata.name) for i in typed.items) == [key_of(o) for o in expected]


def test_get_one_object_and_namespaces(served: Served) -> None:
    pod = bundle_items(served.bundle, "pods")[0]
    namespace, name = key_of(pod)
    got = raw(served.core.read_namespaced_pod(name, namespace, _preload_content=False))
    assert got == {"apiVersion": "v1", "kind": "Pod", **pod}
    namespaces = {n.metadata.name for n in served.core.list_namespace().items}
    assert namespaces >= set(served.bundle.manifest["namespaces"])
    assert served.core.read_namespace("panda").status.phase == "Active"


def test_limit_and_continue_page_through_everything(served: Served) -> None:
    seen, token = [], None
    while True:
        page = served.core.list_pod_for_all_namespaces(limit=2, _continue=token)
        assert len(page.items) <= 2
        seen += [(p.metadata.namespace, p.metadata.name) for p in page.items]
        token = page.metadata._continue
        if not token:
            break
    assert seen == [key_of(o) for o in bundle_items(served.bundle, "pods")]


def test_label_and_field_selectors(served: Served) -> None:
    pods = bundle_items(served.bundle, "pods")

    def names(response: Any) -> list[str]:
        return sorted(i.metadata.name for i in response.items)

    def labels(pod: dict[str, Any]) -> dict[str, str]:
        return pod["metadata"].get("labels", {})

    key = "app.kubernetes.io/name"
    focus = "panda-panda-focus-server"
    assert names(served.core.list_pod_for_all_namespaces(label_selector=f"{key}={focus}")) == sorted(
        p["metadata"]["name"] for p in pods if labels(p).get(key) == focus
    )
    assert names(
        served.core.list_pod_for_all_namespaces(label_selector=f"{key} in ({focus},mongodb),!job-name")
    ) == sorted(
        p["metadata"]["name"] for p in pods if labels(p).get(key) in (focus, "mongodb") and "job-name" not in labels(p)
    )
    assert names(served.core.list_namespaced_pod("panda", label_selector=f"{key}!={focus},{key}")) == sorted(
        p["metadata"]["name"]
        for p in pods
        if p["metadata"]["namespace"] == "panda" and key in labels(p) and labels(p)[key] != focus
    )
    node = pods[0]["spec"]["nodeName"]
    assert names(
        served.core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node},status.phase=Running")
    ) == sorted(
        p["metadata"]["name"] for p in pods if p["spec"].get("nodeName") == node and p["status"]["phase"] == "Running"
    )
    assert names(served.core.list_pod_for_all_namespaces(field_selector="status.phase!=Running")) == sorted(
        p["metadata"]["name"] for p in pods if p["status"]["phase"] != "Running"
    )
    events = bundle_items(served.bundle, "events")
    for event in events[:3]:
        target = event["involvedObject"]["name"]
        got = served.core.list_event_for_all_namespaces(
            field_selector=f"involvedObject.kind=Pod,involvedObject.name={target}"
        )
        assert names(got) == sorted(
            e["metadata"]["name"]
            for e in events
            if e["involvedObject"]["kind"] == "Pod" and e["involvedObject"]["name"] == target
        )
    with pytest.raises(client.ApiException) as err:
        served.core.list_pod_for_all_namespaces(field_selector="spec.containers=x")
    assert err.value.status == 400
    assert "field label not supported: spec.containers" in body_of(err.value)["message"]


# ----------------------------------------------------------------- logs
def test_pod_logs_equal_files(served: Served) -> None:
    files = logs_of(served.bundle)
    assert files, "every sample keeps pod logs"
    for namespace, pod, container, previous, path in files:
        lines = log_lines(path)
        plain = served.core.read_namespaced_pod_log(
            pod, namespace, container=container, previous=previous, _preload_content=False
        ).data.decode()
        assert plain == "".join(rest for _, _, rest in lines), path
        stamped = served.core.read_namespaced_pod_log(
            pod, namespace, container=container, previous=previous, timestamps=True, _preload_content=False
        ).data
        assert stamped == path.read_bytes(), path
        tail = served.core.read_namespaced_pod_log(
            pod, namespace, container=container, previous=previous, tail_lines=3, _preload_content=False
        ).data.decode()
        assert tail == "".join(rest for _, _, rest in lines[-3:])


def test_since_seconds_is_relative_to_created_at(served: Served) -> None:
    now = pd.Timestamp(served.bundle.manifest["created_at"])
    namespace, pod, container, _, path = next(f for f in logs_of(served.bundle) if not f[3])
    lines = log_lines(path)
    middle = lines[len(lines) // 2][0]
    seconds = math.ceil((now - middle).total_seconds())
    cutoff = now - pd.Timedelta(seconds=seconds)
    expected = "".join(rest for ts, _, rest in lines if ts >= cutoff)
    got = served.core.read_namespaced_pod_log(
        pod, namespace, container=container, since_seconds=seconds, _preload_content=False
    ).data.decode()
    assert got == expected
    assert 0 < len(got.splitlines()) < len(lines)  # the window really cuts the file
    since_time = lines[-2][0].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    request = urllib.request.Request(
        f"{served.server.url}/api/v1/namespaces/{namespace}/pods/{pod}/log?container={container}&sinceTime={since_time}"
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        body = resp.read().decode()
    assert body == "".join(rest for ts, _, rest in lines if ts >= pd.Timestamp(since_time))


def test_previous_log_and_its_absence(served: Served) -> None:
    pods = bundle_items(served.bundle, "pods")
    previous_files = {(ns, p, c) for ns, p, c, prev, _ in logs_of(served.bundle) if prev}
    if served.name == "waiting_for_fiber":
        path = served.bundle.root / FOCUS_PREVIOUS
        got = served.core.read_namespaced_pod_log(
            "panda-panda-focus-server-78dbcfd9d9-kjj77", "panda", previous=True, _preload_content=False
        ).data.decode()
        assert got == "".join(rest for _, _, rest in log_lines(path))
        assert "Temporary failure in name resolution" in got
    without = next(
        p
        for p in pods
        if (p["metadata"]["namespace"], p["metadata"]["name"], p["spec"]["containers"][0]["name"]) not in previous_files
    )
    namespace, name = key_of(without)
    container = without["spec"]["containers"][0]["name"]
    with pytest.raises(client.ApiException) as err:
        served.core.read_namespaced_pod_log(name, namespace, container=container, previous=True)
    assert err.value.status == 400
    body = body_of(err.value)
    assert body["kind"] == "Status"
    assert body["reason"] == "BadRequest"
    assert body["message"] == f'previous terminated container "{container}" in pod "{name}" not found'
    with pytest.raises(client.ApiException) as err:
        served.core.read_namespaced_pod_log(name, namespace, container="no-such-container")
    assert err.value.status == 400
    assert body_of(err.value)["message"] == f"container no-such-container is not valid for pod {name}"


def test_collecting_from_the_served_bundle_gives_back_the_same_evidence(served: Served, tmp_path: Path) -> None:
    """Round trip: read everything back over the API, as a collector does, into a new bundle."""
    out = tmp_path / "again"
    calls = {
        "pods": served.core.list_pod_for_all_namespaces,
        "events": served.core.list_event_for_all_namespaces,
        "services": served.core.list_service_for_all_namespaces,
        "endpoints": served.core.list_endpoints_for_all_namespaces,
        "jobs": served.batch.list_job_for_all_namespaces,
    }
    refused: set[tuple[int, bool]] = set()
    with pa.bundle.BundleWriter(out, manifest={"source": "round trip"}) as writer:
        for plural, call in calls.items():
            listed = raw(call(_preload_content=False))
            kind, api_version = listed["kind"].removesuffix("List"), listed["apiVersion"]
            items = [{"apiVersion": api_version, "kind": kind, **item} for item in listed["items"]]  # as kubectl prints
            writer.add_json(f"k8s/{plural}.json", {"apiVersion": "v1", "kind": "List", "items": items})
        for pod in raw(served.core.list_pod_for_all_namespaces(_preload_content=False))["items"]:
            namespace, name = key_of(pod)
            for container in (c["name"] for c in pod["spec"]["containers"]):
                for previous in (False, True):
                    try:
                        text = served.core.read_namespaced_pod_log(
                            name,
                            namespace,
                            container=container,
                            previous=previous,
                            timestamps=True,
                            _preload_content=False,
                        ).data
                    except client.ApiException as err:
                        refused.add((err.status, previous))  # only a missing previous log may fail
                        continue
                    if text:
                        suffix = ".previous.log" if previous else ".log"
                        writer.add_bytes(f"logs/{namespace}/{name}/{container}{suffix}", text)
    assert refused <= {(400, True)}
    again = pa.load_bundle(out)
    original_files = [
        f for f in served.bundle.files() if f.startswith(("k8s/", "logs/")) and f.endswith((".json", ".log"))
    ]
    assert sorted(again.files()) == sorted(original_files)
    for rel in original_files:
        if rel.endswith(".log"):
            assert (again.root / rel).read_bytes() == (served.bundle.root / rel).read_bytes(), rel
        else:

            def saved(bundle: pa.Bundle, rel: str = rel) -> list[Any]:
                return sorted(json.loads((bundle.root / rel).read_text(encoding="utf-8"))["items"], key=key_of)

            assert saved(again) == saved(served.bundle), rel


# ----------------------------------------------------------------- errors, writes, discovery, watch
def test_not_found_is_a_status_object(served: Served) -> None:
    with pytest.raises(client.ApiException) as err:
        served.core.read_namespaced_pod("no-such-pod", "panda")
    assert err.value.status == 404
    assert body_of(err.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'pods "no-such-pod" not found',
        "reason": "NotFound",
        "details": {"name": "no-such-pod", "kind": "pods"},
        "code": 404,
    }
    with pytest.raises(client.ApiException) as err:
        served.batch.read_namespaced_job("no-such-job", "panda")
    assert body_of(err.value)["message"] == 'jobs.batch "no-such-job" not found'
    with pytest.raises(client.ApiException) as err:
        served.core.read_namespaced_pod_log("no-such-pod", "panda")
    assert err.value.status == 404


def test_every_write_verb_is_refused(served: Served) -> None:
    pod = bundle_items(served.bundle, "pods")[0]
    namespace, name = key_of(pod)
    with pytest.raises(client.ApiException) as err:
        served.core.delete_namespaced_pod(name, namespace)
    assert err.value.status == 405
    assert body_of(err.value)["reason"] == "MethodNotAllowed"
    with pytest.raises(client.ApiException) as err:
        served.core.patch_namespaced_pod(name, namespace, {"metadata": {"labels": {"x": "y"}}})
    assert err.value.status == 405
    with pytest.raises(client.ApiException) as err:
        served.batch.create_namespaced_job(namespace, {"metadata": {"name": "probe"}})
    assert err.value.status == 405
    for method in ("POST", "PUT", "DELETE"):
        status, body = http(served.server, method, f"/api/v1/namespaces/{namespace}/pods/{name}")
        assert (status, body["code"], body["status"]) == (405, 405, "Failure")
    # and nothing changed
    assert raw(served.core.read_namespaced_pod(name, namespace, _preload_content=False))["metadata"] == pod["metadata"]


def test_discovery_offers_read_verbs_only(served: Served) -> None:
    _, groups = http(served.server, "GET", "/apis")
    assert groups["kind"] == "APIGroupList"
    assert any(v["groupVersion"] == "batch/v1" for g in groups["groups"] for v in g["versions"])
    served_kinds = set()
    for path in ("/api/v1", "/apis/batch/v1"):
        _, resources = http(served.server, "GET", path)
        assert resources["kind"] == "APIResourceList"
        for res in resources["resources"]:
            assert set(res["verbs"]) <= {"get", "list", "watch"}
            served_kinds.add(res["name"])
    assert served_kinds == {"pods", "pods/log", "events", "services", "endpoints", "namespaces", "jobs"}
    assert http(served.server, "GET", "/apis/apps/v1/deployments")[0] == 404


@pytest.mark.parametrize("served", ["consumer_slow"], indirect=True)  # a watch is held open for its timeout
def test_watch_streams_the_list_as_added_events(served: Served) -> None:
    expected = [key_of(o) for o in bundle_items(served.bundle, "pods") if key_of(o)[0] == "panda"]
    events = list(watch.Watch().stream(served.core.list_namespaced_pod, "panda", timeout_seconds=1))
    assert [e["type"] for e in events] == ["ADDED"] * len(expected)
    assert [(e["object"].metadata.namespace, e["object"].metadata.name) for e in events] == expected


def test_tables_follow_kubectl_printers(served: Served) -> None:
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    _, table = http(served.server, "GET", "/api/v1/namespaces/panda/pods", accept=accept)
    assert (table["kind"], table["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    assert [c["name"] for c in table["columnDefinitions"] if c["priority"] == 0] == [
        "Name",
        "Ready",
        "Status",
        "Restarts",
        "Age",
    ]
    pasted = (served.bundle.root / "k8s/pods.txt").read_text(encoding="utf-8").splitlines()[1:]
    # the ticket text: NAME READY STATUS RESTARTS AGE, where RESTARTS may read "4 (28h ago)"
    assert [row["cells"][:5] for row in table["rows"]] == [
        [*line.split()[:3], " ".join(line.split()[3:-1]), line.split()[-1]] for line in pasted
    ]
    assert all(row["object"]["kind"] == "PartialObjectMetadata" for row in table["rows"])


@pytest.mark.parametrize("served", ["waiting_for_fiber"], indirect=True)
def test_tar_gz_bundle_serves_the_same(served: Served, tmp_path: Path) -> None:
    archive = served.bundle.save(tmp_path / "evidence.tar.gz")
    with BundleServer(archive) as other:
        assert http(other, "GET", "/api/v1/pods")[1] == http(served.server, "GET", "/api/v1/pods")[1]


def test_server_refuses_non_loopback_and_cli_parser() -> None:
    with pytest.raises(ValueError, match="loopback"):
        BundleServer("sample:healthy", host="0.0.0.0")
    import argparse

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["serve-bundle", "sample:healthy", "--port", "0", "--kubeconfig", "k"])
    assert (args.bundle, args.port, args.kubeconfig, args.func) == ("sample:healthy", 0, "k", main)


# ----------------------------------------------------------------- the real kubectl
KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH")


def kubectl(served: Served, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert KUBECTL is not None
    command = [KUBECTL, "--kubeconfig", str(served.kubeconfig), "--cache-dir", str(tmp_path / "cache"), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


@needs_kubectl
def test_kubectl_get_pods_prints_the_pasted_table(served: Served, tmp_path: Path) -> None:
    result = kubectl(served, tmp_path, "get", "pods", "-n", "panda")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (served.bundle.root / "k8s/pods.txt").read_text(encoding="utf-8")
    if served.name == "waiting_for_fiber":
        line = next(x for x in result.stdout.splitlines() if x.startswith("panda-panda-focus-server"))
        assert line.split()[3] == "4"


@needs_kubectl
def test_kubectl_get_pods_json_round_trips(served: Served, tmp_path: Path) -> None:
    result = kubectl(served, tmp_path, "get", "pods", "-A", "-o", "json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    original = json.loads((served.bundle.root / "k8s/pods.json").read_text(encoding="utf-8"))
    assert doc["kind"] == "List"
    assert sorted(doc["items"], key=key_of) == sorted(original["items"], key=key_of)


@needs_kubectl
@pytest.mark.parametrize("served", ["waiting_for_fiber"], indirect=True)  # it has the previous log
def test_kubectl_logs_previous_and_delete(served: Served, tmp_path: Path) -> None:
    pod = "panda-panda-focus-server-78dbcfd9d9-kjj77"
    result = kubectl(served, tmp_path, "logs", "-n", "panda", pod, "--previous", "--timestamps")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (served.bundle.root / FOCUS_PREVIOUS).read_text(encoding="utf-8")
    result = kubectl(served, tmp_path, "logs", "-n", "panda", pod, "--since=6m")  # 13:19:00 onwards
    expected = [
        rest
        for ts, _, rest in log_lines(served.bundle.root / FOCUS_PREVIOUS.replace(".previous", ""))
        if ts >= pd.Timestamp("2025-11-08T13:19:00Z")
    ]
    assert result.stdout == "".join(expected)
    assert expected
    result = kubectl(served, tmp_path, "delete", "pod", "-n", "panda", pod)
    assert result.returncode != 0
    assert "MethodNotAllowed" in result.stderr
    assert kubectl(served, tmp_path, "get", "pod", "-n", "panda", pod).returncode == 0
