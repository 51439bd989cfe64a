"""Kubernetes JSON parsers: pods, restarts, events, jobs, services, endpoints."""

from __future__ import annotations

import io
import json
from pathlib import Path

import kubernetes_validate
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import panda_analysis as pa
from panda_analysis import schema
from panda_analysis.parse import _k8s

DATA = Path(__file__).resolve().parents[1] / "data" / "k8s"
K8S_VERSION = "1.33"


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_convert("UTC")


def by(df: pd.DataFrame, column: str, value: str) -> pd.Series:
    rows = df[df[column] == value]
    assert len(rows) == 1, f"expected one row with {column}={value!r}, got {len(rows)}"
    return rows.iloc[0]


# --------------------------------------------------------------------------- fixtures are real


def _objects_to_validate(path: Path) -> list[dict]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(doc, list):
        return doc
    if doc.get("kind") == "List":  # kubectl's List has no schema of its own: check each item
        return doc["items"]
    return [doc]


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*.json") if p.name != "pods_truncated.json"))
def test_fixtures_validate_against_the_kubernetes_schema(name):
    objects = _objects_to_validate(DATA / name)
    for obj in objects:
        assert kubernetes_validate.validate(obj, K8S_VERSION, strict=True) == K8S_VERSION


def test_strict_validation_catches_a_misspelt_field():
    pod = json.loads((DATA / "pod_single.json").read_text(encoding="utf-8"))
    pod["status"]["containerStatuses"][0]["restartCnt"] = 3
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(pod, K8S_VERSION, strict=True)


# --------------------------------------------------------------------------- pods


def test_pods_from_a_kubectl_list():
    df = pa.parse.pods(DATA / "pods_list.json")
    schema.PODS.validate(df)
    assert len(df) == 5
    assert df.attrs["unparsed"] == 0
    assert df["line_no"].isna().all()
    assert df["source"].tolist() == [f"{DATA / 'pods_list.json'}#/items/{i}" for i in range(5)]

    ok = by(df, "pod", "panda-panda-focus-server-78dbcfd9d9-kjj77")
    assert ok["ts"] == ts("2025-11-06T15:12:40Z")
    assert ok["namespace"] == "panda"
    assert ok["phase"] == "Running"
    assert ok["node"] == "worker-1"
    assert ok["pod_ip"] == "10.42.0.15"
    assert ok["app"] == "panda-panda-focus-server"
    assert pd.isna(ok["job_id"])
    assert pd.isna(ok["job_name"])
    assert (ok["owner_kind"], ok["owner_name"]) == ("ReplicaSet", "panda-panda-focus-server-78dbcfd9d9")
    assert json.loads(ok["labels"])["pod-template-hash"] == "78dbcfd9d9"
    assert (ok["container_count"], ok["ready_count"], ok["restart_count"]) == (1, 1, 4)
    assert bool(ok["is_ready"]) is True
    assert ok["scheduled_at"] == ts("2025-11-06T15:12:40Z")
    assert ok["ready_at"] == ts("2025-11-07T09:25:31Z")
    assert ok["containers_ready_at"] == ts("2025-11-07T09:25:31Z")
    assert pd.isna(ok["deleted_at"])

    crash = by(df, "pod", "panda-panda-focus-server-78dbcfd9d9-x7v2q")
    assert bool(crash["is_ready"]) is False
    assert pd.isna(crash["ready_at"])
    assert pd.isna(crash["containers_ready_at"])
    assert crash["initialized_at"] == ts("2025-11-08T12:58:09Z")
    assert (crash["container_count"], crash["ready_count"], crash["restart_count"]) == (1, 0, 12)

    job = by(df, "pod", "grpc-job-19-5-cj8hc")
    assert (job["job_name"], job["job_id"], job["owner_kind"]) == ("grpc-job-19-5", "19-5", "Job")
    # no job_id label: the id comes from the job-name label
    assert by(df, "pod", "grpc-job-19-6-x8k2p")["job_id"] == "19-6"

    pending = by(df, "pod", "grpc-job-19-7-q4zrt")
    assert pending["phase"] == "Pending"
    assert pd.isna(pending["node"])
    assert pd.isna(pending["pod_ip"])
    assert pd.isna(pending["scheduled_at"])
    assert (pending["container_count"], pending["ready_count"], pending["restart_count"]) == (1, 0, 0)


def test_pods_api_podlist_matches_kubectl_list():
    api = pa.parse.pods(DATA / "podlist_api.json")
    listed = pa.parse.pods(DATA / "pods_list.json")
    schema.PODS.validate(api)
    assert api["pod"].tolist() == ["panda-panda-focus-server-78dbcfd9d9-kjj77", "grpc-job-19-5-cj8hc"]
    cols = [c for c in schema.PODS.names if c != "source"]
    expected = listed[listed["pod"].isin(api["pod"].tolist())][cols].reset_index(drop=True)
    pd.testing.assert_frame_equal(api[cols], expected, check_categorical=False)


def test_single_object_and_bare_array_get_json_pointers():
    single = pa.parse.pods(DATA / "pod_single.json")
    assert single["source"].tolist() == [f"{DATA / 'pod_single.json'}#"]
    array = pa.parse.pods(DATA / "pods_array.json")
    assert array["source"].tolist() == [f"{DATA / 'pods_array.json'}#/0", f"{DATA / 'pods_array.json'}#/1"]
    assert array["pod"].tolist() == ["panda-panda-focus-server-78dbcfd9d9-kjj77", "grpc-job-19-7-q4zrt"]


def test_malformed_json_is_one_unparsed_entry_naming_line_and_column():
    for parse in (pa.parse.pods, pa.parse.restarts):
        df = parse(DATA / "pods_truncated.json")
        assert len(df) == 0
        assert df.attrs["unparsed"] == 1
        (sample,) = df.attrs["unparsed_sample"]
        assert sample.startswith(f"{DATA / 'pods_truncated.json'}:75: malformed JSON at line 75 column 29")


def test_items_that_are_not_usable_pods_are_counted():
    good = json.loads((DATA / "pod_single.json").read_text(encoding="utf-8"))
    nameless = {"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": "panda"}}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "mongodb"}}
    doc = {"apiVersion": "v1", "kind": "List", "items": [good, "oops", nameless, service, None]}
    df = pa.parse.pods(io.StringIO(json.dumps(doc)))
    schema.PODS.validate(df)
    assert df["source"].tolist() == ["<stream>#/items/0"]
    assert df.attrs["unparsed"] == 4
    samples = df.attrs["unparsed_sample"]
    assert samples[0].startswith("<stream>#/items/1: item is not an object")
    assert samples[1].startswith("<stream>#/items/2: object has no metadata.name")
    assert samples[2] == "<stream>#/items/3: kind 'Service' is not Pod"


@pytest.mark.parametrize(
    "text", ["", "   \n\n", '{"apiVersion": "v1", "items": [], "kind": "List", "metadata": {}}', '{"items": null}']
)
def test_empty_inputs_give_empty_frames_without_unparsed(text):
    frames = _k8s._frames(io.StringIO(text), only="pods")
    for name in ("pods", "restarts"):
        schema.FRAMES[name].validate(frames[name])
        assert len(frames[name]) == 0
        assert frames[name].attrs["unparsed"] == 0


@pytest.mark.parametrize("text", ["42", '"PodList"', '{"items": {"a": 1}}', "\ufeff[1, 2"])
def test_documents_that_are_not_lists_of_objects_are_unparsed(text):
    df = pa.parse.pods(io.StringIO(text))
    assert len(df) == 0
    assert df.attrs["unparsed"] >= 1


def test_bom_is_tolerated():
    text = "\ufeff" + (DATA / "pod_single.json").read_text(encoding="utf-8")
    assert pa.parse.pods(io.StringIO(text))["pod"].tolist() == ["panda-panda-focus-server-78dbcfd9d9-x7v2q"]


def test_missing_path_raises():
    with pytest.raises(FileNotFoundError, match="no such file"):
        pa.parse.pods(DATA / "does-not-exist.json")


# --------------------------------------------------------------------------- restarts


def test_restarts_one_row_per_container_status_including_init():
    df = pa.parse.restarts(DATA / "pods_list.json")
    schema.RESTARTS.validate(df)
    assert df.attrs["unparsed"] == 0
    assert len(df) == 5  # 1 + (1 init + 1) + 1 + 1; the pending pod has no statuses yet
    name = DATA / "pods_list.json"

    ok = by(df, "pod", "panda-panda-focus-server-78dbcfd9d9-kjj77")
    assert ok["source"] == f"{name}#/items/0/status/containerStatuses/0"
    assert (ok["container"], bool(ok["is_init"]), ok["state"]) == ("focus-server", False, "running")
    assert ok["restart_count"] == 4
    assert ok["started_at"] == ts("2025-11-07T09:25:29Z")
    assert (ok["last_reason"], ok["last_exit_code"]) == ("Error", 1)
    assert ok["last_started_at"] == ts("2025-11-07T09:24:41Z")
    assert ok["ts"] == ok["last_finished_at"] == ts("2025-11-07T09:25:12Z")
    assert ok["image"] == "harbor.prisma.local/panda/focus-server:1.14.2"

    crash = df[df["pod"] == "panda-panda-focus-server-78dbcfd9d9-x7v2q"]
    init = crash[crash["is_init"]].iloc[0]
    main = crash[~crash["is_init"]].iloc[0]
    assert init["source"] == f"{name}#/items/1/status/initContainerStatuses/0"
    assert (init["container"], init["state"], init["last_reason"], init["last_exit_code"]) == (
        "wait-for-mongodb",
        "terminated",
        "Completed",
        0,
    )
    assert init["started_at"] == ts("2025-11-08T12:58:04Z")
    assert main["source"] == f"{name}#/items/1/status/containerStatuses/0"
    assert main["state"] == "waiting"
    assert main["waiting_reason"] == "CrashLoopBackOff"
    assert main["waiting_message"].startswith(
        "back-off 5m0s restarting failed container=focus-server pod=panda-panda-focus-server-78dbcfd9d9-x7v2q_panda("
    )
    assert pd.isna(main["started_at"])
    assert bool(main["is_ready"]) is False
    assert main["restart_count"] == 12
    assert main["last_message"].endswith("[Errno -3] Temporary failure in name resolution")
    assert main["ts"] == ts("2025-11-08T13:21:40Z")

    oom = by(df, "pod", "grpc-job-19-6-x8k2p")
    assert (oom["last_reason"], oom["last_exit_code"], oom["restart_count"]) == ("OOMKilled", 137, 1)
    assert pd.isna(oom["last_signal"])

    fresh = by(df, "pod", "grpc-job-19-5-cj8hc")
    assert pd.isna(fresh["last_reason"])
    assert pd.isna(fresh["last_finished_at"])
    assert fresh["ts"] == fresh["started_at"] == ts("2025-11-13T09:41:13Z")


def test_restart_ts_falls_back_to_pod_creation():
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "panda", "creationTimestamp": "2025-11-08T12:00:00Z"},
        "status": {
            "containerStatuses": [
                {
                    "name": "c",
                    "image": "i",
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "state": {"waiting": {"reason": "ContainerCreating"}},
                },
                {"image": "no-name"},
            ]
        },
    }
    df = pa.parse.restarts(io.StringIO(json.dumps(pod)))
    assert len(df) == 1
    assert df.loc[0, "ts"] == ts("2025-11-08T12:00:00Z")
    assert df.loc[0, "waiting_reason"] == "ContainerCreating"
    assert df.attrs["unparsed"] == 1
    assert df.attrs["unparsed_sample"][0].startswith("<stream>#/status/containerStatuses/1: ")
    # the pod itself is fine
    assert pa.parse.pods(io.StringIO(json.dumps(pod))).attrs["unparsed"] == 0


# --------------------------------------------------------------------------- events


def test_core_v1_events():
    df = pa.parse.events(DATA / "events_list.json")
    schema.EVENTS.validate(df)
    assert len(df) == 6
    assert df.attrs["unparsed"] == 0

    created = by(df, "reason", "SuccessfulCreate")
    assert (created["object_kind"], created["object_name"]) == ("Job", "grpc-job-19-5")
    assert pd.isna(created["pod"])
    assert created["reporting_component"] == "job-controller"
    assert created["ts"] == ts("2025-11-13T09:41:12Z")

    scheduled = by(df, "reason", "Scheduled")  # only eventTime, from the scheduler
    assert scheduled["ts"] == ts("2025-11-13T09:41:12.503212Z")
    assert scheduled["first_ts"] == scheduled["last_ts"] == scheduled["ts"]
    assert scheduled["pod"] == "grpc-job-19-5-cj8hc"
    assert pd.isna(scheduled["container"])
    assert scheduled["reporting_component"] == "default-scheduler"
    assert scheduled["host"] == "default-scheduler-control-plane-1"
    assert scheduled["count"] == 1

    pulled = by(df, "reason", "Pulled")
    assert pulled["container"] == "analyzer"
    assert (pulled["reporting_component"], pulled["host"]) == ("kubelet", "worker-2")

    backoff = by(df, "reason", "BackOff")
    assert (backoff["type"], backoff["count"], backoff["container"]) == ("Warning", 57, "focus-server")
    assert backoff["pod"] == "panda-panda-focus-server-78dbcfd9d9-x7v2q"
    assert backoff["first_ts"] == ts("2025-11-08T13:00:31Z")
    assert backoff["ts"] == backoff["last_ts"] == ts("2025-11-08T13:21:41Z")
    assert backoff["message"].startswith("Back-off restarting failed container focus-server in pod ")

    probe = by(df, "reason", "Unhealthy")  # an event series
    assert probe["count"] == 6
    assert probe["ts"] == ts("2025-11-07T09:25:20.412907Z")
    assert probe["first_ts"] == ts("2025-11-07T09:24:50.118733Z")

    mount = by(df, "reason", "FailedMount")  # no time at all but the object's creation
    assert mount["ts"] == ts("2025-11-08T12:57:40Z")
    assert pd.isna(mount["first_ts"])
    assert pd.isna(mount["last_ts"])
    assert pd.isna(mount["reporting_component"])
    assert df["source"].iloc[3] == f"{DATA / 'events_list.json'}#/items/3"


def test_events_k8s_io_v1_shape():
    df = pa.parse.events(DATA / "events_k8s_io.json")
    schema.EVENTS.validate(df)
    assert len(df) == 2
    scheduled, started = df.iloc[0], df.iloc[1]
    assert scheduled["message"] == "Successfully assigned panda/grpc-job-19-6-x8k2p to worker-1"
    assert scheduled["ts"] == ts("2025-11-13T09:45:00.221874Z")
    assert scheduled["reporting_component"] == "default-scheduler"
    assert scheduled["pod"] == "grpc-job-19-6-x8k2p"
    assert (started["count"], started["container"], started["host"]) == (3, "analyzer", "worker-1")
    assert started["first_ts"] == ts("2025-11-13T09:45:01Z")
    assert started["ts"] == ts("2025-11-13T09:47:30Z")
    assert started["reporting_component"] == "kubelet"


# --------------------------------------------------------------------------- jobs, services, endpoints


def test_jobs():
    df = pa.parse.jobs(DATA / "jobs_list.json")
    schema.JOBS.validate(df)
    assert df["job_name"].tolist() == ["grpc-job-19-5", "grpc-job-19-4", "grpc-job-19-3"]
    assert df["job_id"].tolist() == ["19-5", "19-4", "19-3"]  # 19-4 has no label: from the name
    active, complete, failed = (df.iloc[i] for i in range(3))
    assert active["active"] == 1
    assert pd.isna(active["condition"])
    assert pd.isna(active["completed_at"])
    assert active["ts"] == active["started_at"] == ts("2025-11-13T09:41:12Z")
    assert (complete["condition"], complete["succeeded"]) == ("Complete", 1)
    assert complete["completed_at"] == ts("2025-11-13T09:38:44Z")
    assert (failed["condition"], failed["condition_reason"], failed["failed"], failed["backoff_limit"]) == (
        "Failed",
        "BackoffLimitExceeded",
        3,
        2,
    )
    assert failed["condition_message"] == "Job has reached the specified backoff limit"


def test_services():
    df = pa.parse.services(DATA / "services_list.json")
    schema.SERVICES.validate(df)
    assert df["service"].tolist() == [
        "mongodb",
        "rabbitmq-panda-headless",
        "panda-panda-focus-server",
        "legacy-recorder",
    ]
    mongodb = by(df, "service", "mongodb")
    assert (mongodb["type"], mongodb["cluster_ip"], mongodb["ports"]) == (
        "ClusterIP",
        "10.43.12.7",
        "mongodb:27017/TCP",
    )
    assert json.loads(mongodb["selector"])["app.kubernetes.io/name"] == "mongodb"
    headless = by(df, "service", "rabbitmq-panda-headless")
    assert headless["cluster_ip"] == "None"
    assert headless["ports"] == "epmd:4369/TCP, amqp:5672/TCP, http-stats:15672/TCP"
    legacy = by(df, "service", "legacy-recorder")
    assert legacy["ports"] == "8080/TCP"
    assert pd.isna(legacy["selector"])


def test_endpoints():
    df = pa.parse.endpoints(DATA / "endpoints_list.json")
    schema.ENDPOINTS.validate(df)
    assert len(df) == 4
    mongodb = by(df, "service", "mongodb")
    assert (mongodb["ready_count"], mongodb["not_ready_count"]) == (0, 1)
    assert pd.isna(mongodb["addresses"])
    assert mongodb["ts"] == ts("2025-11-08T12:57:31Z")  # last-change-trigger-time
    focus = by(df, "service", "panda-panda-focus-server")
    assert (focus["ready_count"], focus["not_ready_count"], focus["addresses"]) == (1, 1, "10.42.0.15")
    assert focus["ports"] == "http:5000/TCP"
    legacy = by(df, "service", "legacy-recorder")  # no subsets at all
    assert (legacy["ready_count"], legacy["not_ready_count"]) == (0, 0)
    assert legacy["ts"] == ts("2025-10-01T08:01:30Z")


def test_wrong_kind_in_a_file_is_counted_not_parsed():
    df = pa.parse.events(DATA / "pods_list.json")
    assert len(df) == 0
    assert df.attrs["unparsed"] == 5


# --------------------------------------------------------------------------- bundles


def test_bundle_reads_each_part(make_bundle):
    root = make_bundle(
        {
            f"k8s/{name}.json": json.loads((DATA / src).read_text(encoding="utf-8"))
            for name, src in [
                ("pods", "pods_list.json"),
                ("events", "events_list.json"),
                ("jobs", "jobs_list.json"),
                ("services", "services_list.json"),
                ("endpoints", "endpoints_list.json"),
            ]
        }
    )
    bundle = pa.load_bundle(root)
    frames = _k8s._frames(bundle)
    assert set(frames) == {"pods", "restarts", "events", "jobs", "services", "endpoints", "pods_text"}
    for name, df in frames.items():
        schema.FRAMES[name].validate(df)
    sizes = {name: len(df) for name, df in frames.items()}
    assert sizes == {"pods": 5, "restarts": 5, "events": 6, "jobs": 3, "services": 4, "endpoints": 4, "pods_text": 0}
    assert frames["restarts"]["source"].iloc[1] == "k8s/pods.json#/items/1/status/initContainerStatuses/0"
    pd.testing.assert_frame_equal(pa.parse.pods(bundle), frames["pods"])


def test_bundle_without_k8s_parts_gives_empty_frames(make_bundle):
    frames = _k8s._frames(pa.load_bundle(make_bundle({})))
    assert all(len(df) == 0 and df.attrs["unparsed"] == 0 for df in frames.values())


# --------------------------------------------------------------------------- properties

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
TIMES = st.sampled_from(["2025-11-13T09:41:12Z", "2025-11-13T09:41:12.503212Z", "bogus", "", None, 17])
POD_LIKE = st.fixed_dictionaries(
    {"metadata": st.fixed_dictionaries({"name": st.text(max_size=10) | st.none(), "creationTimestamp": TIMES})},
    optional={
        "kind": st.sampled_from(["Pod", "Event", "Job", "Service", "Endpoints"]),
        "status": st.fixed_dictionaries(
            {},
            optional={
                "phase": JSON,
                "startTime": TIMES,
                "conditions": st.lists(
                    st.fixed_dictionaries(
                        {
                            "type": st.sampled_from(["Ready", "PodScheduled"]),
                            "status": st.sampled_from(["True", "False", 1]),
                        },
                        optional={"lastTransitionTime": TIMES},
                    ),
                    max_size=3,
                ),
                "containerStatuses": st.lists(
                    JSON
                    | st.fixed_dictionaries(
                        {"name": st.text(max_size=5), "restartCount": JSON, "state": JSON, "lastState": JSON}
                    ),
                    max_size=3,
                ),
            },
        ),
        "spec": JSON,
        "involvedObject": JSON,
        "series": JSON,
        "count": JSON,
        "lastTimestamp": TIMES,
        "eventTime": TIMES,
        "subsets": JSON,
    },
)
ITEMS = st.lists(POD_LIKE | JSON, max_size=6)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=ITEMS)
def test_every_item_is_a_row_or_unparsed(items):
    text = json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    frames = {}
    for name in ("pods", "events", "jobs", "services", "endpoints"):
        frames.update(_k8s._frames(io.StringIO(text), only=name))
    kinds = {"pods": "Pod", "events": "Event", "jobs": "Job", "services": "Service", "endpoints": "Endpoints"}
    for name, kind in kinds.items():
        df = frames[name]
        schema.FRAMES[name].validate(df)
        # an object of the kind with a name is a row (odd values in it are counted, the row
        # kept); every other item is counted
        usable = [
            i for i, item in enumerate(items)
            if isinstance(item, dict)
            and item.get("kind") in (None, kind)
            and isinstance(item.get("metadata"), dict)
            and isinstance(item["metadata"].get("name"), str)
            and item["metadata"]["name"] != ""
        ]
        assert df["source"].tolist() == [f"<stream>#/items/{i}" for i in usable]
        assert df.attrs["unparsed"] >= len(items) - len(usable)
    schema.RESTARTS.validate(frames["restarts"])


@settings(max_examples=50, deadline=None)
@given(data=st.binary(max_size=400) | st.text(max_size=400).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_random_bytes_never_raise(data, tmp_path_factory):
    path = tmp_path_factory.mktemp("k8s") / "pods.json"
    path.write_bytes(data)
    for name in ("pods", "events", "jobs", "services", "endpoints"):
        frames = _k8s._frames(path, only=name)
        for frame_name, df in frames.items():
            schema.FRAMES[frame_name].validate(df)
            assert df.attrs["unparsed"] >= 0


@settings(max_examples=60, deadline=None)
@given(cut=st.integers(min_value=0, max_value=5000))
def test_truncated_real_file_never_raises(cut):
    text = (DATA / "pods_list.json").read_text(encoding="utf-8")[:cut]
    frames = _k8s._frames(io.StringIO(text), only="pods")
    for name, df in frames.items():
        schema.FRAMES[name].validate(df)
        assert len(df) == 0
        assert df.attrs["unparsed"] == (1 if text.strip() else 0)
