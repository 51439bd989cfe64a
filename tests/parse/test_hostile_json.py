"""Hostile and broken JSON evidence (issue #11): never a traceback, never a silent null.

Every value a frame cannot hold (wrong JSON type, a number out of the column's range, a
time outside datetime64[ns], a key given twice) is counted in ``attrs["unparsed"]`` with
its file and JSON pointer (or line and pointer); the row it belongs to is kept. The shapes
are the real ones of ``tests/data`` (a kubectl PodList, the management API's
``/api/queues`` bodies, mongoexport Extended JSON), changed in one place at a time.
"""

from __future__ import annotations

import copy
import io
import json
import math
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import panda_analysis as pa
from panda_analysis import schema
from panda_analysis._lines import LogFile
from panda_analysis._time import parse_instant, read_iso
from panda_analysis.parse import _http, _k8s, _mongo, _snapshots
from panda_analysis.parse._common import pointer_token

DATA = Path(__file__).resolve().parents[1] / "data"
RAW = "__RAW_JSON__"  # stands for JSON text json.dumps cannot write (1e400, a 5,000-digit integer)


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_convert("UTC")


def load(relative: str) -> Any:
    return json.loads((DATA / relative).read_text(encoding="utf-8"))


def dumps(value: Any, raw: str | None = None) -> str:
    text = json.dumps(value)
    return text if raw is None else text.replace(json.dumps(RAW), raw)


def samples(df: pd.DataFrame) -> list[str]:
    return list(df.attrs["unparsed_sample"])


# --------------------------------------------------------------------------- a crash loop with a bad restartCount

CRASH = "panda-panda-focus-server-78dbcfd9d9-x7v2q"


def crashloop_list(restart_count: Any) -> dict[str, Any]:
    """A kubectl List whose fourth pod (``/items/3``) crash-loops on a DNS failure."""
    items = load("k8s/pods_list.json")["items"]
    crash = next(p for p in items if p["metadata"]["name"] == CRASH)
    others = [p for p in items if p is not crash]
    crash["status"]["containerStatuses"][0]["restartCount"] = restart_count
    return {
        "apiVersion": "v1",
        "kind": "List",
        "items": [*others[:3], crash, *others[3:]],
        "metadata": {"resourceVersion": ""},
    }


BAD_RESTART_COUNTS = [
    (-1, "-1", "is below 0, not a count"),
    ("NaN", None, "is not an integer"),
    (True, None, "is a boolean, not a number"),
    (RAW, "1e400", "is not an integer"),  # json reads 1e400 as infinity
    (2**70, None, "does not fit the column (Int64)"),
    (7.5, None, "is not an integer"),
    (None, None, "is null where the API always gives a number"),
    ("lots", None, "is not an integer"),
    ([12], None, "is not an integer"),
]


@pytest.mark.parametrize(("value", "raw", "why"), BAD_RESTART_COUNTS)
def test_a_bad_restart_count_keeps_the_crash_loop_evidence(make_bundle, value, raw, why):
    root = make_bundle({"k8s/pods.json": dumps(crashloop_list(value), raw)})
    frames = pa.parse.frames(pa.load_bundle(root))
    restarts, pods = frames.restarts, frames.pods
    schema.RESTARTS.validate(restarts)
    schema.PODS.validate(pods)
    pointer = "k8s/pods.json#/items/3/status/containerStatuses/0/restartCount"
    # the row is kept with a null restart_count, and its termination evidence with it
    row = restarts[restarts["source"] == "k8s/pods.json#/items/3/status/containerStatuses/0"].iloc[0]
    assert (row["pod"], row["container"]) == (CRASH, "focus-server")
    assert pd.isna(row["restart_count"])
    assert (row["state"], row["waiting_reason"]) == ("waiting", "CrashLoopBackOff")
    assert (row["last_reason"], row["last_exit_code"]) == ("Error", 1)
    assert "Temporary failure in name resolution" in row["last_message"]
    assert row["last_finished_at"] == ts("2025-11-08T13:21:40Z")
    assert row["ts"] == ts("2025-11-08T13:21:40Z")
    assert bool(row["is_ready"]) is False
    # the value is counted with its JSON pointer, in both frames that read it
    for df in (restarts, pods):
        assert df.attrs["unparsed"] == 1
        (sample,) = samples(df)
        assert sample.startswith(f"{pointer}: restartCount ")
        assert why in sample
    # the pod's sum over containers is unknown, not a smaller number
    pod = pods[pods["pod"] == CRASH].iloc[0]
    assert pd.isna(pod["restart_count"])
    assert pod["source"] == "k8s/pods.json#/items/3"
    # the other pods are untouched
    assert pods[pods["pod"] != CRASH]["restart_count"].tolist() == [4, 0, 1, 0]
    # so is what the bundle inventory reports
    inventory = pa.load_bundle(root).inventory().set_index("part")
    assert inventory.loc["pods", "unparsed"] == 1


def test_a_restart_count_written_as_a_string_is_read_and_counted_as_odd(make_bundle):
    root = make_bundle({"k8s/pods.json": crashloop_list("7")})
    frames = pa.parse.frames(pa.load_bundle(root))
    row = frames.restarts[frames.restarts["pod"] == CRASH].iloc[-1]
    assert row["restart_count"] == 7
    assert frames.pods[frames.pods["pod"] == CRASH]["restart_count"].tolist() == [7]
    for df in (frames.restarts, frames.pods):
        assert samples(df) == [
            'k8s/pods.json#/items/3/status/containerStatuses/0/restartCount: restartCount "7" is a string, not a number: read as 7'
        ]


# --------------------------------------------------------------------------- huge and odd numbers in pod status


def test_numbers_beyond_the_column_dtype_are_counted_and_the_row_kept(make_bundle):
    doc = crashloop_list(12)
    crash = doc["items"][3]["status"]["containerStatuses"][0]
    crash["lastState"]["terminated"]["exitCode"] = 3221225477  # a Windows NTSTATUS, beyond Int16
    crash["lastState"]["terminated"]["signal"] = RAW
    init = doc["items"][3]["status"]["initContainerStatuses"][0]
    init["state"]["terminated"]["exitCode"] = -(2**31) - 1
    other = doc["items"][0]["status"]["containerStatuses"][0]
    other["restartCount"] = 2**63  # one past Int64
    root = make_bundle({"k8s/pods.json": dumps(doc, "1" * 5000)})  # longer than Python reads as an int
    frames = pa.parse.frames(pa.load_bundle(root))
    restarts = frames.restarts
    schema.RESTARTS.validate(restarts)
    assert len(restarts) == 5  # every container status is a row
    crash_row = restarts[restarts["source"] == "k8s/pods.json#/items/3/status/containerStatuses/0"].iloc[0]
    assert crash_row["restart_count"] == 12
    assert pd.isna(crash_row["last_exit_code"])
    assert pd.isna(crash_row["last_signal"])
    assert crash_row["last_reason"] == "Error"
    got = samples(restarts)
    assert restarts.attrs["unparsed"] == 5
    assert got == [
        "k8s/pods.json#/items/0/status/containerStatuses/0/restartCount: restartCount 9223372036854775808 "
        "does not fit the column (Int64): kept as null",
        "k8s/pods.json#/items/3/status/initContainerStatuses/0/state/terminated/exitCode: exitCode -2147483649 "
        "does not fit the column (Int16, -32768..32767): kept as null",
        "k8s/pods.json#/items/3/status/containerStatuses/0/lastState/terminated/exitCode: exitCode 3221225477 "
        "does not fit the column (Int16, -32768..32767): kept as null",
        "k8s/pods.json#/items/3/status/containerStatuses/0/lastState/terminated/signal: signal Infinity "
        "is not an integer: kept as null",
        "k8s/pods.json: 1 integer(s) longer than Python reads (4300 digits) were read as infinity",
    ]


def _pods_txt(rows: list[tuple[str, str, str, str, str]]) -> str:
    header = ("NAME", "READY", "STATUS", "RESTARTS", "AGE")
    widths = [max(len(r[i]) for r in [header, *rows]) + 3 for i in range(5)]
    return "".join("".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() + "\n" for r in [header, *rows])


def test_pods_text_with_huge_and_odd_numbers_keeps_every_row():
    text = _pods_txt(
        [
            (CRASH, "0/1", "CrashLoopBackOff", "5 (3m ago)", "292y"),
            ("panda-panda-focus-server-78dbcfd9d9-kjj77", "1/1", "Running", "999999999999999999999", "46h"),
            ("grpc-job-19-5-cj8hc", "1/1", "Running", "2 (300y ago)", "2d"),
            ("grpc-job-19-6-x8k2p", "99999999999999999999/1", "Running", "0", "9" * 40 + "y"),
        ]
    )
    df = pa.parse.pods_text(io.StringIO(text), now="2025-11-08T13:25:00Z")
    schema.PODS_TEXT.validate(df)
    assert df["pod"].tolist() == [
        CRASH,
        "panda-panda-focus-server-78dbcfd9d9-kjj77",
        "grpc-job-19-5-cj8hc",
        "grpc-job-19-6-x8k2p",
    ]
    crash, huge, old, wide = (df.iloc[i] for i in range(4))
    assert (crash["restart_count"], crash["last_restart_ago_s"]) == (5, 180.0)
    assert crash["last_restart_at"] == ts("2025-11-08T13:22:00Z")
    assert crash["age_s"] == 292 * 365 * 86400.0  # 292 years fit float64 seconds
    assert pd.isna(huge["restart_count"])
    assert old["restart_count"] == 2
    assert old["last_restart_ago_s"] == 300 * 365 * 86400.0
    assert pd.isna(old["last_restart_at"])  # before 1677
    assert pd.isna(wide["ready_count"])
    assert wide["container_count"] == 1
    assert pd.isna(wide["age_s"])
    assert df.attrs["unparsed"] == 4
    assert [s.split(": ", 1)[0].rsplit(":", 1)[1] for s in samples(df)] == ["3", "4", "5", "5"]
    assert samples(df)[0] == "<stream>:3: RESTARTS 999999999999999999999 does not fit Int64: kept as null"
    assert "before the first time a frame can hold" in samples(df)[1]


# --------------------------------------------------------------------------- duplicate keys


def _obj(*pairs: tuple[str, Any]) -> str:
    """A JSON object with the keys in order, repeats allowed."""
    return "{" + ", ".join(f"{json.dumps(k)}: {v if isinstance(v, _Raw) else json.dumps(v)}" for k, v in pairs) + "}"


class _Raw(str):
    """JSON text to put into an object as it is."""


def test_items_given_twice_are_merged_not_dropped(make_bundle):
    items = load("k8s/pods_list.json")["items"]
    text = _obj(
        ("apiVersion", "v1"),
        ("kind", "List"),
        ("items", items[:2]),
        ("items", items[2:]),
        ("metadata", {"resourceVersion": ""}),
    )
    frames = pa.parse.frames(pa.load_bundle(make_bundle({"k8s/pods.json": text})))
    assert frames.pods["pod"].tolist() == [p["metadata"]["name"] for p in items]
    assert frames.pods["source"].tolist() == [f"k8s/pods.json#/items/{i}" for i in range(5)]
    assert len(frames.restarts) == 5
    for df in (frames.pods, frames.restarts):
        assert samples(df) == ['k8s/pods.json#/items: key "items" is given 2 times: its lists were merged (5 items)']


def test_a_pod_with_two_status_keys_keeps_the_last_and_counts_the_first(make_bundle):
    items = load("k8s/pods_list.json")["items"]
    crash = next(p for p in items if p["metadata"]["name"] == CRASH)
    healthy = copy.deepcopy(items[0]["status"])
    pod = _obj(*((k, v) for k, v in crash.items() if k != "status"), ("status", healthy), ("status", crash["status"]))
    text = "{" + f'"apiVersion": "v1", "kind": "List", "items": [{json.dumps(items[0])}, {pod}]' + "}"
    frames = pa.parse.frames(pa.load_bundle(make_bundle({"k8s/pods.json": text})))
    assert frames.pods["pod"].tolist() == [items[0]["metadata"]["name"], CRASH]
    crash_row = frames.restarts[frames.restarts["pod"] == CRASH].iloc[-1]
    assert (crash_row["restart_count"], crash_row["waiting_reason"]) == (12, "CrashLoopBackOff")  # the last status
    for df in (frames.pods, frames.restarts):
        (sample,) = samples(df)
        assert sample.startswith('k8s/pods.json#/items/1/status: key "status" is given twice in one object')


def test_duplicate_keys_in_a_snapshot_line_are_counted_with_line_and_pointer():
    line = load_lines("rabbitmq/snapshots_consumer_slow.jsonl")[0]
    queue = line["queues"][0]
    text = _obj(
        ("at", line["at"]),
        ("queues", [dict(queue, name="grpc-job-19-4")]),
        ("queues", _Raw("[" + _obj(*queue.items(), ("messages_ready", 7)) + "]")),
    )
    frames = _snapshots._frames(io.StringIO(text))
    queues = frames["queues"]
    assert queues["queue"].tolist() == [queue["name"]]
    assert queues["messages_ready"].tolist() == [7]
    assert sorted(samples(queues)) == [
        f'<stream>:1: /queues/0/messages_ready: key "messages_ready" is given twice in one object: only its last value (7) was kept, not {queue["messages_ready"]}',
        '<stream>:1: /queues: key "queues" is given twice in one object: only its last value'
        f" ({json.dumps(json.loads(text)['queues'])[:60]}) was kept, not {json.dumps([dict(queue, name='grpc-job-19-4')])[:60]}",
    ]


def load_lines(relative: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA / relative).read_text(encoding="utf-8").splitlines() if line.strip()]


# --------------------------------------------------------------------------- out-of-range years

OUT_OF_RANGE = ["0000-01-01T00:00:00Z", "10000-01-01T00:00:00Z", "1677-09-21T00:00:00Z", "2262-04-12T00:00:00Z"]


@pytest.mark.parametrize("text", OUT_OF_RANGE)
def test_read_iso_says_why_a_year_cannot_be_held(text):
    with pytest.raises(ValueError, match="outside the years a frame can hold"):
        read_iso(text)
    with pytest.raises(ValueError, match="cannot read time"):  # --since 0000-01-01 is a usage error, not a traceback
        parse_instant(text)


def test_read_iso_keeps_the_edges_of_datetime64_ns():
    assert read_iso("1677-09-21T00:12:44Z") == ts("1677-09-21T00:12:44Z")
    assert read_iso("2262-04-11T23:47:16Z") == ts("2262-04-11T23:47:16Z")
    for word in ("now", "today", "NaT", "nan", ""):
        with pytest.raises(ValueError, match="is not an ISO-8601 time"):
            read_iso(word)


def test_k8s_times_out_of_range_are_counted_with_their_pointers(make_bundle):
    doc = crashloop_list(12)
    pod = doc["items"][3]
    pod["metadata"]["creationTimestamp"] = OUT_OF_RANGE[0]
    pod["status"]["startTime"] = OUT_OF_RANGE[2]
    pod["metadata"]["deletionTimestamp"] = OUT_OF_RANGE[3]
    pod["status"]["containerStatuses"][0]["lastState"]["terminated"]["finishedAt"] = OUT_OF_RANGE[1]
    events = load("k8s/events_list.json")
    events["items"][0]["lastTimestamp"] = OUT_OF_RANGE[1]
    frames = pa.parse.frames(pa.load_bundle(make_bundle({"k8s/pods.json": doc, "k8s/events.json": events})))
    row = frames.pods[frames.pods["pod"] == CRASH].iloc[0]
    assert pd.isna(row["ts"])
    assert pd.isna(row["started_at"])
    assert pd.isna(row["deleted_at"])
    assert row["phase"] == "Running"
    base = "k8s/pods.json#/items/3"
    assert [s.split(": ", 1)[0] for s in samples(frames.pods)] == [
        f"{base}/metadata/creationTimestamp",
        f"{base}/status/startTime",
        f"{base}/metadata/deletionTimestamp",
    ]
    assert "outside the years a frame can hold" in samples(frames.pods)[0]
    crash = frames.restarts[frames.restarts["source"] == f"{base}/status/containerStatuses/0"].iloc[0]
    assert pd.isna(crash["last_finished_at"])
    assert crash["last_started_at"] == ts("2025-11-08T13:21:09Z")
    assert [s.split(": ", 1)[0] for s in samples(frames.restarts)] == [
        f"{base}/metadata/creationTimestamp",
        f"{base}/status/containerStatuses/0/lastState/terminated/finishedAt",
    ]
    assert len(frames.events) == len(events["items"])
    assert samples(frames.events)[0].startswith(
        "k8s/events.json#/items/0/lastTimestamp: lastTimestamp: time '10000-01-01"
    )


def test_probe_times_out_of_range_are_counted_with_their_lines():
    good = (DATA / "http/live_metadata_healthy.jsonl").read_text(encoding="utf-8").splitlines()[0]
    lines = [good.replace("2025-11-10T08:59:30+00:00", year) for year in OUT_OF_RANGE] + [good]
    df = pa.parse.live_metadata(io.StringIO("\n".join(lines)))
    assert df["line_no"].tolist() == [5]
    assert df.attrs["unparsed"] == 4
    assert [s.split(": ", 2)[:2] for s in samples(df)[:1]] == [["<stream>:1", "/at"]]
    assert all("outside the years a frame can hold" in s and s.endswith("line not read") for s in samples(df))


def test_snapshot_times_out_of_range_are_counted():
    line = load_lines("rabbitmq/snapshots_consumer_slow.jsonl")[0]
    queue = line["queues"][0]
    late = dict(line, queues=[dict(queue, idle_since="2262-04-12 00:00:00")])  # the < 3.12 form
    early = dict(line, at="0000-01-01T00:00:00Z")
    frames = _snapshots._frames(io.StringIO(f"{json.dumps(late)}\n{json.dumps(early)}\n"))
    queues = frames["queues"]
    assert queues["line_no"].tolist() == [1]
    assert pd.isna(queues["idle_since"].iloc[0])
    assert samples(queues)[0] == (
        "<stream>:1: /queues/0/idle_since: idle_since: '2262-04-12 00:00:00' is not a time: kept as null"
    )
    for df in frames.values():  # line 2 has no time a frame can hold: lost for every frame, and counted
        assert any(s.startswith("<stream>:2: /at: time '0000-01-01T00:00:00Z' is outside") for s in samples(df))


def test_mongo_times_out_of_range_are_counted_and_the_next_time_field_tried():
    lines = [
        {
            "_id": {"$oid": "6915a7b8c3b1f2a4d5e6f701"},
            "job_id": "19-5",
            "created_at": {"$date": {"$numberLong": "-99999999999999999"}},
        },
        {
            "_id": "job-19-6",
            "created_at": {"$date": "0000-01-01T00:00:00Z"},
            "updated_at": {"$date": "2025-11-13T09:45:00Z"},
        },
        {"_id": "job-19-7", "createdAt": "10000-01-01T00:00:00Z"},
        {"_id": "job-19-8", "timestamp": {"$timestamp": {"t": 2**40, "i": 1}}},
    ]
    df = pa.parse.mongo(io.StringIO("\n".join(json.dumps(line) for line in lines)))
    schema.MONGO.validate(df)
    assert df["doc_id"].tolist() == ["6915a7b8c3b1f2a4d5e6f701", "job-19-6", "job-19-7", "job-19-8"]
    assert df["ts"].iloc[0] == ts("2025-11-13T09:41:12Z")  # the ObjectId's creation time
    assert df["ts"].iloc[1] == ts("2025-11-13T09:45:00Z")  # updated_at
    assert df["ts"].iloc[2:].isna().all()
    assert [s.split(": ", 2)[:2] for s in samples(df)] == [
        ["<stream>:1", "/created_at"],
        ["<stream>:2", "/created_at"],
        ["<stream>:3", "/createdAt"],
        ["<stream>:4", "/timestamp"],
    ]
    assert all("outside the years a frame can hold" in s for s in samples(df))


def test_mongo_array_export_counts_with_json_pointers(tmp_path):
    path = tmp_path / "alerts.json"
    path.write_text(
        json.dumps([{"_id": "a-1", "createdAt": {"$date": "2262-04-12T00:00:00Z"}}, {"_id": True}]), encoding="utf-8"
    )
    df = pa.parse.mongo(path)
    assert df["source"].tolist() == [f"{path}#/0", f"{path}#/1"]
    assert [s.split(": ", 1)[0] for s in samples(df)] == [f"{path}#/0/createdAt", f"{path}#/1/_id"]


# --------------------------------------------------------------------------- big snapshot lines


def _queues(n: int) -> list[dict[str, Any]]:
    queue = load_lines("rabbitmq/snapshots_consumer_slow.jsonl")[0]["queues"][0]
    return [dict(queue, name=f"grpc-job-{i}-1", messages_ready=i % 7) for i in range(n)]


def test_a_snapshot_of_a_broker_with_5000_queues_is_read_whole(make_bundle):
    line = dict(load_lines("rabbitmq/snapshots_consumer_slow.jsonl")[0], queues=_queues(5000))
    text = json.dumps(line, separators=(",", ":"))
    assert len(text) > 4 * 1024 * 1024  # several MB on one line, far over the 64 KB log-line cap
    root = make_bundle({"rabbitmq/snapshots.jsonl": text + "\n"})
    frames = pa.parse.frames(pa.load_bundle(root))
    queues = frames.queues
    schema.QUEUES.validate(queues)
    assert len(queues) == 5000
    assert queues.attrs["unparsed"] == 0
    assert queues["queue"].iloc[4999] == "grpc-job-4999-1"
    assert queues["job_id"].iloc[4999] == "4999-1"
    assert int(queues["messages_ready"].sum()) == sum(i % 7 for i in range(5000))
    assert len(frames.rabbitmq_overview) == 1


def test_a_snapshot_line_over_the_cap_is_counted_saying_so(tmp_path):
    path = tmp_path / "snapshots.jsonl"
    good = load_lines("rabbitmq/snapshots_consumer_slow.jsonl")[0]
    with path.open("w", encoding="utf-8") as out:
        # one line of 64 MiB and more: a queue argument padded past the cap
        out.write('{"at": "2025-11-13T09:41:13Z", "queues": [{"name": "q", "arguments": {"x-pad": "')
        out.write("x" * (64 * 1024 * 1024))
        out.write('"}}]}\n')
        out.write(json.dumps(good) + "\n")
    frames = _snapshots._frames(path)
    for df in frames.values():
        assert df.attrs["unparsed"] >= 1
        assert samples(df)[0].startswith(f"{path}:1: JSON line longer than the 64 MiB line cap (")
        assert "cut off): not read" in samples(df)[0]
    assert frames["rabbitmq_overview"]["line_no"].tolist() == [2]
    assert frames["queues"]["line_no"].tolist() == [2]


# --------------------------------------------------------------------------- wrong JSON types


def _pods_with(change) -> str:
    doc = load("k8s/pods_list.json")
    change(doc)
    return json.dumps(doc)


WRONG_TYPES = [
    ("items not a list", lambda d: d.update(items={"a": d["items"][0]}), 0, ["<stream>#/items: items is not a list"]),
    (
        "metadata a string",
        lambda d: d["items"][1].update(metadata=CRASH),
        4,
        ["<stream>#/items/1: metadata is not an object"],
    ),
    (
        "labels a list",
        lambda d: d["items"][1]["metadata"].update(labels=["app=focus"]),
        5,
        ['<stream>#/items/1/metadata/labels: labels ["app=focus"] is not an object: not read'],
    ),
    (
        "containerStatuses a dict",
        lambda d: d["items"][1]["status"].update(containerStatuses={"focus-server": {"restartCount": 12}}),
        5,
        ["<stream>#/items/1/status/containerStatuses: containerStatuses {"],
    ),
    (
        "status a list",
        lambda d: d["items"][1].update(status=[{"phase": "Running"}]),
        5,
        ['<stream>#/items/1/status: status [{"phase": "Running"}] is not an object: not read'],
    ),
    (
        "conditions status a boolean",
        lambda d: d["items"][0]["status"]["conditions"][2].update(status=True),
        5,
        ["<stream>#/items/0/status/conditions/2/status: status true is not a string: kept as null"],
    ),
]


@pytest.mark.parametrize(("change", "rows", "expected"), [w[1:] for w in WRONG_TYPES], ids=[w[0] for w in WRONG_TYPES])
def test_wrong_json_types_in_pods_are_counted(change, rows, expected):
    frames = _k8s._frames(io.StringIO(_pods_with(change)), only="pods")
    pods = frames["pods"]
    schema.PODS.validate(pods)
    schema.RESTARTS.validate(frames["restarts"])
    assert len(pods) == rows
    assert pods.attrs["unparsed"] == len(expected)
    for sample, start in zip(samples(pods), expected, strict=True):
        assert sample.startswith(start)


def test_a_container_status_list_that_is_a_dict_loses_no_pod_and_is_counted_in_restarts():
    text = _pods_with(lambda d: d["items"][1]["status"].update(containerStatuses={"focus-server": {}}))
    frames = _k8s._frames(io.StringIO(text), only="pods")
    assert CRASH in frames["pods"]["pod"].tolist()
    restarts = frames["restarts"]
    assert restarts[restarts["pod"] == CRASH]["container"].tolist() == ["wait-for-mongodb"]  # the init container
    assert samples(restarts)[0].startswith("<stream>#/items/1/status/containerStatuses: containerStatuses {")


def test_wrong_json_types_in_snapshots_are_counted():
    line = load_lines("rabbitmq/snapshots_consumer_slow.jsonl")[0]
    queue = line["queues"][0]
    lines = [
        dict(line, queues="HTTP 500: {error: internal}"),
        dict(line, queues=[dict(queue, messages="lots", messages_ready=-3, consumers=None)]),
        dict(line, consumers=None, queues=None),  # those GETs failed: no rows, nothing lost by the parser
        dict(line, overview="unavailable"),
    ]
    frames = _snapshots._frames(io.StringIO("\n".join(json.dumps(x) for x in lines)))
    queues = frames["queues"]
    assert queues["line_no"].tolist() == [2, 4]
    odd = queues.iloc[0]
    assert pd.isna(odd["messages"])
    assert pd.isna(odd["messages_ready"])
    assert pd.isna(odd["consumer_count"])
    assert odd["queue"] == queue["name"]
    assert samples(queues) == [
        '<stream>:1: queues is not a list: "HTTP 500: {error: internal}"',
        '<stream>:2: /queues/0/messages: messages "lots" is not an integer: kept as null',
        "<stream>:2: /queues/0/messages_ready: messages_ready -3 is below 0, not a count: kept as null",
        "<stream>:2: /queues/0/consumers: consumers null is null where the API always gives a number",
    ]
    assert frames["rabbitmq_overview"]["line_no"].tolist() == [1, 2, 3]
    assert samples(frames["rabbitmq_overview"]) == ['<stream>:4: overview is not an object: "unavailable"']
    assert frames["consumers"]["line_no"].tolist() == [1, 2, 4]


@pytest.mark.parametrize("depth", [990, 100_000])
def test_deep_nesting_is_counted_never_raised(depth, tmp_path):
    nested = "[" * depth + "]" * depth
    pods = tmp_path / "pods.json"
    pods.write_text(
        '{"kind": "List", "items": [{"metadata": {"name": "p", "labels": ' + nested + "}}]}", encoding="utf-8"
    )
    for df in _k8s._frames(pods, only="pods").values():
        assert samples(df) == [f"{pods}: JSON nested too deeply to read"]
    snapshots = tmp_path / "snapshots.jsonl"
    snapshots.write_text('{"at": "2025-11-13T09:41:13Z", "queues": ' + nested + "}\n", encoding="utf-8")
    for df in _snapshots._frames(snapshots).values():
        assert samples(df)[0].startswith(f"{snapshots}:1: JSON nested too deeply to read")
    mongo = tmp_path / "jobs.jsonl"
    mongo.write_text('{"_id": 1, "x": ' + nested + "}\n", encoding="utf-8")
    assert samples(pa.parse.mongo(mongo))[0].startswith(f"{mongo}:1: JSON nested too deeply to read")


# --------------------------------------------------------------------------- memory: mongo lines are streamed


def test_mongo_json_lines_are_streamed_not_read_whole(tmp_path, monkeypatch):
    path = tmp_path / "jobs.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + (DATA / "mongo/jobs.jsonl").read_bytes())

    def whole_file(self, *args, **kwargs):
        raise AssertionError(f"{self.name} was read whole")

    monkeypatch.setattr(LogFile, "read_text", whole_file)
    df = pa.parse.mongo(path)
    assert df["job_id"].tolist()[:2] == ["19-5", "19-6"]  # a BOM before line 1 is tolerated
    assert df.attrs["unparsed"] == 0


# --------------------------------------------------------------------------- properties: one hostile value at a time
# A real evidence file, one value replaced by a hostile one of another JSON type (or a number
# out of range, a time out of range, a NaN-like string). Then: no exception, the frames
# validate, every item is a row or counted, and a value that was in a frame and is now
# null is counted with a pointer at (or around) the replaced value.

_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]")
BAD_NUMBERS = [
    -1,
    -(2**31) - 1,
    2**63,
    2**70,
    7.5,
    math.inf,
    -math.inf,
    math.nan,
    True,
    "NaN",
    "lots",
    "7",
    "-7",
    "1e400",
]
BAD_TIMES = [*OUT_OF_RANGE, "now", "today", "NaT", "2025-02-30T00:00:00Z", "13:18:33", 1763026872, True]
CONTAINERS = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, min_size=1, max_size=3)
        | st.dictionaries(st.text(max_size=6), children, min_size=1, max_size=3)
    ),
    max_leaves=8,
).filter(lambda v: isinstance(v, list | dict))


def exempt(value: Any) -> bool:
    """JSON null, an empty string / list / object: the file says "nothing" there, a null is its value."""
    return value is None or (isinstance(value, str | list | dict) and not value)


def hostile_for(original: Any) -> st.SearchStrategy[Any]:
    scalars = st.sampled_from([0, 1, -1, 2**70, 1.5, True, False])
    if isinstance(original, bool):
        return st.sampled_from(["true", "false", 1, 0, "yes"]) | CONTAINERS
    if isinstance(original, int | float):
        return (
            st.sampled_from(BAD_NUMBERS)
            | CONTAINERS
            | st.text(min_size=1, max_size=8).filter(lambda t: not t.strip().lstrip("+-").isdigit())
        )
    if isinstance(original, str):
        if _TIME.match(original):
            return st.sampled_from(BAD_TIMES) | CONTAINERS
        return scalars | CONTAINERS
    if isinstance(original, list):
        return scalars | st.text(max_size=8) | st.dictionaries(st.text(max_size=6), scalars, min_size=1, max_size=2)
    return scalars | st.text(max_size=8) | st.lists(scalars, min_size=1, max_size=2)


def paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path] if path else []
    if isinstance(value, dict):
        for key, child in value.items():
            out.extend(paths(child, (*path, key)))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            out.extend(paths(child, (*path, i)))
    return out


def replaced(document: Any, path: tuple[Any, ...], new: Any) -> Any:
    out = copy.deepcopy(document)
    target = out
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return out


def get(document: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        document = document[step]
    return document


def pointer(path: tuple[Any, ...]) -> str:
    return "".join(f"/{pointer_token(str(step))}" for step in path)


_SAMPLE_POINTER = re.compile(r"(?:#|:\d+: )(/[^:\s]*)")


def related(sample: str, where: str) -> bool:
    """Whether an unparsed sample names ``where``, a place inside it, or a place holding it."""
    match = _SAMPLE_POINTER.search(sample)
    if match is None:  # a whole file or line: it holds every place in it
        return True
    named = match.group(1)
    return named == where or where.startswith(named + "/") or named.startswith(where + "/")


def assert_no_silent_null(
    before: pd.DataFrame, after: pd.DataFrame, keys: list[str], where: str, *, explained: str | None = None
) -> None:
    """Every value of ``before`` that is null in ``after`` (or whose row is gone) is counted near ``where``."""
    left = before.set_index(keys)
    right = after.set_index(keys)
    for key, row in left.iterrows():
        if key not in right.index:
            lost = "its row"
        else:
            new = right.loc[key]
            if isinstance(new, pd.DataFrame):  # a key repeated after the change: rows are kept, fine
                continue
            if explained is not None and pd.notna(new[explained]) and pd.isna(row[explained]):
                continue  # the row itself says why (a probe's error column)
            gone = [c for c in left.columns if pd.notna(row[c]) and pd.isna(new[c])]
            if not gone:
                continue
            lost = f"columns {gone}"
        assert after.attrs["unparsed"] > 0, f"{lost} of {key} lost silently after changing {where}"
        assert any(related(s, where) for s in samples(after)), (lost, key, where, samples(after))


K8S_FILES = {
    "pods_list.json": ("pods", ("pods", "restarts")),
    "events_list.json": ("events", ("events",)),
    "events_k8s_io.json": ("events", ("events",)),
    "jobs_list.json": ("jobs", ("jobs",)),
    "services_list.json": ("services", ("services",)),
    "endpoints_list.json": ("endpoints", ("endpoints",)),
}
_K8S_DOCS = {name: load(f"k8s/{name}") for name in K8S_FILES}
_K8S_PATHS = [(name, path) for name, doc in _K8S_DOCS.items() for path in paths(doc)]


def _k8s_frames(name: str, document: Any) -> dict[str, pd.DataFrame]:
    only, _ = K8S_FILES[name]
    return _k8s._frames(io.StringIO(json.dumps(document)), only=only)


_K8S_BEFORE = {name: _k8s_frames(name, doc) for name, doc in _K8S_DOCS.items()}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), where=st.sampled_from(_K8S_PATHS))
def test_one_hostile_value_in_kubernetes_json_is_never_lost_silently(data, where):
    name, path = where
    document = _K8S_DOCS[name]
    new = data.draw(hostile_for(get(document, path)), label="new value")
    after = _k8s_frames(name, replaced(document, path, new))
    for frame_name in K8S_FILES[name][1]:
        df = after[frame_name]
        schema.FRAMES[frame_name].validate(df)
        if not exempt(new):
            assert_no_silent_null(_K8S_BEFORE[name][frame_name], df, ["source"], pointer(path))


_SNAPSHOT_LINES = load_lines("rabbitmq/snapshots_consumer_slow.jsonl")
_SNAPSHOT_PATHS = [(i, path) for i, line in enumerate(_SNAPSHOT_LINES) for path in paths(line)]
_SNAPSHOT_KEYS = {
    "queues": ["line_no", "queue"],
    "consumers": ["line_no", "consumer_tag"],
    "rabbitmq_overview": ["line_no"],
}


def _snapshot_frames(lines: list[Any]) -> dict[str, pd.DataFrame]:
    return _snapshots._frames(io.StringIO("\n".join(json.dumps(line) for line in lines)))


_SNAPSHOTS_BEFORE = _snapshot_frames(_SNAPSHOT_LINES)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), where=st.sampled_from(_SNAPSHOT_PATHS))
def test_one_hostile_value_in_a_snapshot_is_never_lost_silently(data, where):
    index, path = where
    new = data.draw(hostile_for(get(_SNAPSHOT_LINES[index], path)), label="new value")
    lines = [replaced(line, path, new) if i == index else line for i, line in enumerate(_SNAPSHOT_LINES)]
    after = _snapshot_frames(lines)
    for name, df in after.items():
        schema.FRAMES[name].validate(df)
        if not exempt(new):
            assert_no_silent_null(_SNAPSHOTS_BEFORE[name], df, _SNAPSHOT_KEYS[name], pointer(path))


_PROBES = {
    "live_metadata": load_lines("http/live_metadata_healthy.jsonl") + load_lines("http/live_metadata_waiting.jsonl"),
    "job_metadata": load_lines("http/job_metadata_polls.jsonl"),
}
_PROBE_PATHS = [
    (name, i, path) for name, lines in _PROBES.items() for i, line in enumerate(lines) for path in paths(line)
]


def _probe_frame(name: str, lines: list[Any]) -> pd.DataFrame:
    return _http._frames(io.StringIO("\n".join(json.dumps(line) for line in lines)), only=name)[name]


_PROBES_BEFORE = {name: _probe_frame(name, lines) for name, lines in _PROBES.items()}


@settings(max_examples=150, deadline=None)
@given(data=st.data(), where=st.sampled_from(_PROBE_PATHS))
def test_one_hostile_value_in_a_probe_is_never_lost_silently(data, where):
    name, index, path = where
    lines = _PROBES[name]
    new = data.draw(hostile_for(get(lines[index], path)), label="new value")
    after = _probe_frame(name, [replaced(line, path, new) if i == index else line for i, line in enumerate(lines)])
    schema.FRAMES[name].validate(after)
    if not exempt(new):
        assert_no_silent_null(_PROBES_BEFORE[name], after, ["line_no"], pointer(path), explained="error")


_DOCUMENTS = load_lines("mongo/jobs.jsonl") + load_lines("mongo/alerts_canonical.jsonl")
_DOCUMENT_PATHS = [(i, path) for i, line in enumerate(_DOCUMENTS) for path in paths(line)]


def _mongo_frame(lines: list[Any]) -> pd.DataFrame:
    return _mongo._frames(io.StringIO("\n".join(json.dumps(line) for line in lines)))["mongo"]


_MONGO_BEFORE = _mongo_frame(_DOCUMENTS)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), where=st.sampled_from(_DOCUMENT_PATHS))
def test_one_hostile_value_in_a_mongo_document_is_never_lost_silently(data, where):
    index, path = where
    new = data.draw(hostile_for(get(_DOCUMENTS[index], path)), label="new value")
    after = _mongo_frame([replaced(line, path, new) if i == index else line for i, line in enumerate(_DOCUMENTS)])
    schema.MONGO.validate(after)
    if not exempt(new):
        assert_no_silent_null(_MONGO_BEFORE, after, ["line_no"], pointer(path))


# --------------------------------------------------------------------------- properties: random JSON anywhere

KEYS = [
    "items", "kind", "metadata", "name", "namespace", "labels", "status", "spec", "containerStatuses",
    "initContainerStatuses", "restartCount", "state", "lastState", "terminated", "waiting", "running", "exitCode",
    "finishedAt", "startedAt", "creationTimestamp", "conditions", "type", "ownerReferences", "at", "queues",
    "consumers", "overview", "messages", "messages_ready", "message_stats", "idle_since", "queue", "body",
    "prr", "_id", "$date", "$numberLong", "created_at", "job_id",
]  # fmt: skip
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**80), 2**80)
    | st.floats()
    | st.sampled_from(["NaN", "Infinity", "7", "-1", "lots", *OUT_OF_RANGE, "2025-11-13T09:41:12Z"])
    | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=25,
)


def _random_text(value: Any, deep: int) -> str:
    text = json.dumps(value)
    if deep:
        text = text.replace("null", "[" * deep + "]" * deep, 1)
    return text


# make_bundle builds a new directory on every call, so one fixture serves every example
@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(
    document=st.one_of(JSON, st.fixed_dictionaries({"kind": st.just("List"), "items": st.lists(JSON, max_size=5)})),
    deep=st.sampled_from([0, 0, 0, 50, 5000]),
)
def test_random_json_in_every_json_evidence_file_never_raises(make_bundle, document, deep):
    text = _random_text(document, deep)
    files = {f"k8s/{name}.json": text for name in ("pods", "events", "jobs", "services", "endpoints")}
    files |= {
        "rabbitmq/snapshots.jsonl": text + "\n" + json.dumps({"at": "2025-11-13T09:41:13Z", "queues": document}),
        "http/focus/live_metadata.jsonl": text
        + "\n"
        + json.dumps({"at": "2025-11-13T09:41:13Z", "status": 200, "body": document}),
        "http/focus/job_metadata.jsonl": json.dumps(
            {"at": "2025-11-13T09:41:13Z", "job_id": document, "status": document}
        ),
        "mongo/jobs.jsonl": text + "\n" + json.dumps({"_id": document, "created_at": document}),
    }
    frames = pa.parse.frames(pa.load_bundle(make_bundle(files)))
    assert frames.parse_errors == ()
    for name, df in frames.items():
        schema.FRAMES[name].validate(df)
    items = document.get("items") if isinstance(document, dict) else document if isinstance(document, list) else None
    if isinstance(items, list) and not deep:
        for name in ("pods", "events", "jobs", "services", "endpoints"):
            df = frames[name]
            assert len(df) <= len(items)
            assert len(df) + df.attrs["unparsed"] >= len(items)  # every item a row or counted


# --------------------------------------------------------------------------- conform: the safety net of every parser


def test_a_log_time_no_frame_can_hold_is_counted_by_conform_not_raised(make_bundle):
    root = make_bundle(
        {
            "logs/panda/mongodb-0/mongodb/mongodb.log": "1677-01-01T13:18:33.123Z hello\n2025-11-08T13:18:33.123Z ok\n",
            "logs/panda/panda-panda-focus-server-78dbcfd9d9-kjj77/focus-server/focus-server.log": (
                "2300-01-01 13:18:33,123 - pz.focus_server - INFO - Application startup complete.\n"
                "2025-11-08 13:18:34,001 - pz.focus_server - INFO - ok\n"
            ),
        }
    )
    frames = pa.parse.frames(pa.load_bundle(root))
    assert frames.parse_errors == ()
    assert frames.other_logs["message"].tolist() == ["hello", "ok"]
    assert pd.isna(frames.other_logs["ts"].iloc[0])
    assert samples(frames.other_logs) == [
        "logs/panda/mongodb-0/mongodb/mongodb.log:1: ts '1677-01-01T13:18:33.123Z' does not fit datetime64[ns, UTC]: kept as null"
    ]
    assert frames.focus["message"].tolist() == ["Application startup complete.", "ok"]
    assert frames.focus.attrs["unparsed"] == 1
    assert samples(frames.focus)[0].startswith(
        "logs/panda/panda-panda-focus-server-78dbcfd9d9-kjj77/focus-server/focus-server.log:1: time '2300-01-01 13:18:33'"
        " is not a real date between 1677 and 2262"
    )


def test_conform_counts_numbers_that_do_not_fit_instead_of_raising():
    rows = [
        {"source": "k8s/pods.txt", "line_no": 2, "pod": "a", "restart_count": 2**70, "ready_count": 1},
        {"source": "k8s/pods.txt", "line_no": 3, "pod": "b", "restart_count": 3, "ready_count": 2.5},
        {"source": "k8s/pods.txt", "line_no": 4, "pod": "c", "restart_count": None, "ready_count": "-"},
    ]
    df = schema.PODS_TEXT.conform(rows, unparsed=1, unparsed_sample=["k8s/pods.txt:1: NAME?"])
    schema.PODS_TEXT.validate(df)
    assert df["restart_count"].tolist()[1] == 3
    assert df["restart_count"].isna().tolist() == [True, False, True]
    assert df.attrs["unparsed"] == 3  # the one given, and two numbers that do not fit; "-" is no number
    assert df.attrs["unparsed_sample"] == [
        "k8s/pods.txt:1: NAME?",
        "k8s/pods.txt:3: ready_count '2.5' does not fit Int64: kept as null",  # columns in schema order
        "k8s/pods.txt:2: restart_count '1180591620717411303424' does not fit Int64: kept as null",
    ]
