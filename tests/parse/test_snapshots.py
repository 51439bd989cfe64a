"""RabbitMQ management API snapshots → queues, consumers, rabbitmq_overview."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

import panda_analysis as pa
from panda_analysis import schema
from panda_analysis.parse import _snapshots

DATA = Path(__file__).resolve().parents[1] / "data" / "rabbitmq"
NODE = "rabbit@rabbitmq-panda-0.rabbitmq-panda-headless.panda.svc.cluster.local"


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_convert("UTC")


def all_frames(source) -> dict[str, pd.DataFrame]:
    frames = _snapshots._frames(source)
    for name, df in frames.items():
        schema.FRAMES[name].validate(df)
    return frames


def test_consumer_appears_after_the_queue():
    frames = all_frames(DATA / "snapshots_consumer_slow.jsonl")
    queues, consumers, overview = frames["queues"], frames["consumers"], frames["rabbitmq_overview"]
    assert (len(queues), len(consumers), len(overview)) == (5, 4, 3)
    assert all(df.attrs["unparsed"] == 0 for df in frames.values())

    job = queues[queues["queue"] == "grpc-job-19-5"].reset_index(drop=True)
    assert job["ts"].tolist() == [ts("2025-11-13T09:41:15Z"), ts("2025-11-13T09:41:18Z")]
    assert job["line_no"].tolist() == [2, 3]
    assert (job["job_id"] == "19-5").all()
    assert job["messages_ready"].tolist() == [3, 0]
    assert job["messages_unacknowledged"].tolist() == [0, 1]
    assert job["messages"].tolist() == [3, 1]
    assert job["consumer_count"].tolist() == [0, 1]
    assert pd.isna(job["consumer_utilisation"].iloc[0])
    assert job["consumer_utilisation"].iloc[1] == 0.83
    assert job["publish_rate"].tolist() == [1.4, 0.4]
    assert job["deliver_rate"].tolist() == [0.0, 1.0]
    assert job["ack_rate"].tolist() == [0.0, 0.6]
    first = job.iloc[0]
    assert (first["vhost"], first["queue_type"], first["state"], first["node"]) == ("/", "classic", "running", NODE)
    assert (bool(first["durable"]), bool(first["auto_delete"]), bool(first["exclusive"])) == (True, True, False)
    assert first["memory_bytes"] == 13936
    assert pd.isna(first["idle_since"])

    alerts = queues[queues["queue"] == "prisma-210-1000-alerts"]
    assert len(alerts) == 3
    assert alerts["job_id"].isna().all()
    assert (alerts["idle_since"] == ts("2025-11-13T09:40:58.118Z")).all()

    job_consumer = consumers[consumers["queue"] == "grpc-job-19-5"]
    assert len(job_consumer) == 1
    c = job_consumer.iloc[0]
    assert c["ts"] == ts("2025-11-13T09:41:18Z")
    assert c["job_id"] == "19-5"
    assert c["consumer_tag"] == "ctag1.6f0c2b9e1a4d4c8f9b2e7a5d3c1f0e8b"
    assert c["connection"] == "10.42.1.9:43210 -> 10.42.0.7:5672"
    assert c["channel"] == "10.42.1.9:43210 -> 10.42.0.7:5672 (1)"
    assert (c["peer_host"], c["peer_port"], c["user"]) == ("10.42.1.9", 43210, "panda")
    assert (bool(c["ack_required"]), bool(c["exclusive"]), bool(c["is_active"])) == (True, False, True)
    assert (c["activity_status"], c["prefetch_count"], c["vhost"]) == ("up", 1, "/")

    assert overview["messages_ready"].tolist() == [0, 3, 0]
    assert overview["consumer_count"].tolist() == [1, 1, 2]
    assert overview["queue_count"].tolist() == [1, 2, 2]
    assert overview["channel_count"].tolist() == [1, 2, 3]
    assert overview["connection_count"].tolist() == [1, 2, 2]
    assert overview["publish_rate"].tolist() == [0.2, 1.4, 0.4]
    assert overview["deliver_rate"].tolist() == [0.2, 0.0, 1.0]
    assert set(overview["rabbitmq_version"]) == {"3.12.13"}
    assert set(overview["cluster_name"]) == {NODE}
    assert overview["source"].tolist() == [str(DATA / "snapshots_consumer_slow.jsonl")] * 3


def test_missing_null_and_error_parts():
    frames = all_frames(DATA / "snapshots_partial.jsonl")
    queues, consumers, overview = frames["queues"], frames["consumers"], frames["rabbitmq_overview"]
    assert len(consumers) == 0
    assert consumers.attrs["unparsed"] == 0

    # overview: null on line 1, missing on 2 and 4, a 3.8 body with [] for empty objects on 3
    assert overview["line_no"].tolist() == [3]
    assert overview.attrs["unparsed"] == 0
    old = overview.iloc[0]
    assert old["rabbitmq_version"] == "3.8.9"
    assert pd.isna(old["messages"])
    assert pd.isna(old["publish_rate"])
    assert old["queue_count"] == 1

    # queues: an old-style idle_since on line 2, an error body on 3, a paginated body on 4
    assert queues["line_no"].tolist() == [2, 4]
    assert queues["queue"].tolist() == ["grpc-job-19-3", "panda-quorum-q"]
    assert queues["idle_since"].iloc[0] == ts("2025-11-13T09:26:15Z")
    assert queues["queue_type"].iloc[1] == "quorum"
    assert queues.attrs["unparsed"] == 1
    assert queues.attrs["unparsed_sample"][0].startswith(f"{DATA / 'snapshots_partial.jsonl'}:3: queues is not a list")


def test_broken_lines_and_entries():
    frames = all_frames(DATA / "snapshots_broken.jsonl")
    queues, consumers, overview = frames["queues"], frames["consumers"], frames["rabbitmq_overview"]
    assert (len(queues), len(consumers), len(overview)) == (1, 1, 1)
    # lines 2 (truncated), 4 (array), 5 (no "at") are lost for every frame; line 3 is blank
    assert overview.attrs["unparsed"] == 3
    assert queues.attrs["unparsed"] == 3 + 2  # line 6: a bare string and a queue without a name
    assert consumers.attrs["unparsed"] == 3 + 1  # line 6: a consumer without a queue
    lines = [s.split(": ", 1)[0].rsplit(":", 1)[1] for s in queues.attrs["unparsed_sample"]]
    assert lines == ["6", "6", "2", "4", "5"]


def test_public_functions_and_bundle(make_bundle):
    text = (DATA / "snapshots_consumer_slow.jsonl").read_text(encoding="utf-8")
    bundle = pa.load_bundle(make_bundle({"rabbitmq/snapshots.jsonl": text}))
    assert len(pa.parse.queues(bundle)) == 5
    assert len(pa.parse.consumers(bundle)) == 4
    overview = pa.parse.rabbitmq_overview(bundle)
    assert overview["source"].tolist() == ["rabbitmq/snapshots.jsonl"] * 3
    assert len(pa.parse.queues(io.StringIO(text))) == 5
    empty = _snapshots._frames(pa.load_bundle(make_bundle({})))
    assert all(len(df) == 0 and df.attrs["unparsed"] == 0 for df in empty.values())


def test_odd_values_become_nulls():
    line = json.dumps(
        {
            "at": "2025-11-13T09:41:13Z",
            "queues": [
                {
                    "name": "q",
                    "messages": "3",
                    "durable": "true",
                    "consumer_utilisation": True,
                    "memory": 2**80,
                    "idle_since": "whenever",
                    "message_stats": {"publish_details": {"rate": "fast"}},
                }
            ],
            "consumers": [{"queue": {"name": "grpc-job-19-5"}, "channel_details": [], "prefetch_count": 1.5}],
        }
    )
    frames = all_frames(io.StringIO(line))
    q = frames["queues"].iloc[0]
    for column in ("durable", "consumer_utilisation", "memory_bytes", "idle_since", "publish_rate"):
        assert pd.isna(q[column]), column
    assert q["messages"] == 3  # a number written as a string is read, and counted as odd
    # every odd value is counted with its line and JSON pointer, the row kept
    assert frames["queues"].attrs["unparsed"] == 6
    where = [s.split(": ", 2)[1] for s in frames["queues"].attrs["unparsed_sample"]]
    # the sample keeps the first five, in the order the parser reads them
    assert where == [
        "/queues/0/durable",
        "/queues/0/messages",
        "/queues/0/consumer_utilisation",
        "/queues/0/message_stats/publish_details/rate",
        "/queues/0/memory",
    ]
    c = frames["consumers"].iloc[0]
    assert c["job_id"] == "19-5"
    assert pd.isna(c["prefetch_count"])
    assert pd.isna(c["connection"])  # channel_details [] is how some versions print "none"
    assert frames["consumers"].attrs["unparsed"] == 1
    assert frames["consumers"].attrs["unparsed_sample"] == [
        "<stream>:1: /consumers/0/prefetch_count: prefetch_count 1.5 is not an integer: kept as null"
    ]


# --------------------------------------------------------------------------- properties

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=10,
)
QUEUE = st.fixed_dictionaries(
    {"name": st.text(max_size=12)},
    optional={
        "messages": JSON,
        "consumers": JSON,
        "idle_since": st.sampled_from(["2025-11-13 9:41:20", "x", "2025-11-13T09:41:20.101+00:00"]),
        "message_stats": JSON,
        "state": JSON,
        "type": JSON,
        "durable": JSON,
    },
)
SNAPSHOT = st.fixed_dictionaries(
    {
        "at": st.sampled_from(["2025-11-13T09:41:13Z", "2025-11-13T09:41:13.5+01:00"]),
        "overview": st.dictionaries(st.text(max_size=8), JSON, max_size=3),
    },
    optional={
        "queues": st.none() | st.lists(QUEUE | JSON, max_size=4) | JSON,
        "consumers": st.none() | st.lists(JSON, max_size=3),
    },
)


@settings(max_examples=60, deadline=None)
@given(
    lines=st.lists(
        SNAPSHOT.map(lambda s: (True, json.dumps(s)))
        | st.text(max_size=50).filter(lambda t: "\n" not in t and "\r" not in t).map(lambda t: (False, t)),
        max_size=6,
    )
)
def test_every_snapshot_line_is_an_overview_row_or_unparsed(lines):
    text = "\n".join(line for _, line in lines)
    frames = all_frames(io.StringIO(text))
    nonblank = [line for _, line in lines if line.strip()]
    snapshots = [i for i, (is_snapshot, _) in enumerate(lines, start=1) if is_snapshot]
    overview = frames["rabbitmq_overview"]
    # every snapshot is a row (odd values in it counted, the row kept); every other line is counted
    assert overview["line_no"].tolist() == snapshots
    assert overview.attrs["unparsed"] >= len(nonblank) - len(snapshots)
    for name in ("queues", "consumers"):
        assert frames[name].attrs["unparsed"] >= overview.attrs["unparsed"]


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=300) | st.just(b'{"at": "2025-11-13T09:41:13Z", "queues": ' + b"[" * 5000))
def test_random_bytes_never_raise(data, tmp_path_factory):
    path = tmp_path_factory.mktemp("rmq") / "snapshots.jsonl"
    path.write_bytes(data)
    all_frames(path)
