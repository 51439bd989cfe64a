"""MongoDB Extended JSON lines (mongoexport) → one row per document."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

import panda_analysis as pa
from panda_analysis import schema
from panda_analysis._lines import iter_lines
from panda_analysis.parse import _mongo

DATA = Path(__file__).resolve().parents[1] / "data" / "mongo"


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_convert("UTC")


def test_relaxed_jobs():
    df = pa.parse.mongo(DATA / "jobs.jsonl")
    schema.MONGO.validate(df)
    assert df.attrs["unparsed"] == 0
    assert df["collection"].tolist() == ["jobs", "jobs"]
    assert df["line_no"].tolist() == [1, 2]
    assert df["job_id"].tolist() == ["19-5", "19-6"]  # job_id, then jobId
    assert df["alert_id"].isna().all()
    assert df["ts"].tolist() == [ts("2025-11-13T09:41:12.291Z"), ts("2025-11-13T09:45:00.004Z")]
    assert df["doc_id"].iloc[0] == "6915a7b8c3b1f2a4d5e6f701"
    lines = (DATA / "jobs.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(d) for d in df["document"]] == [json.loads(line) for line in lines]
    assert df["document"].iloc[0] == json.dumps(json.loads(lines[0]), separators=(",", ":"))


def test_canonical_alerts():
    df = pa.parse.mongo(DATA / "alerts_canonical.jsonl")
    schema.MONGO.validate(df)
    first, second = df.iloc[0], df.iloc[1]
    assert (first["alert_id"], first["job_id"]) == ("test-sd-123", "19-5")
    assert first["ts"] == ts("2025-11-13T09:41:31.503Z")  # {"$date": {"$numberLong": ...}}
    assert (second["alert_id"], second["job_id"]) == ("9001", "7")  # $numberLong / $numberInt unwrapped
    assert second["ts"] == ts("2025-11-13T09:41:40Z")  # {"$timestamp": {"t": ..., "i": ...}}


def test_times_from_plain_strings_legacy_dates_and_object_ids():
    df = pa.parse.mongo(DATA / "events_no_time.jsonl")
    schema.MONGO.validate(df)
    # line 3's "time" holds no time and it has no ObjectId: its null ts is counted, the row kept
    assert df.attrs["unparsed_sample"] == [
        f'{DATA / "events_no_time.jsonl"}:3: /time: time "not a time" is not a time: ts kept as null'
    ]
    oid, named, number, no_id = (df.iloc[i] for i in range(4))
    assert oid["ts"] == ts("2025-11-13T09:41:12Z")  # the ObjectId's creation time
    assert oid["doc_id"] == "6915a7b80000000000000001"
    assert (named["doc_id"], named["ts"]) == ("job-19-5-configured", ts("2025-11-13T09:41:12.300Z"))
    assert number["doc_id"] == "42"
    assert pd.isna(number["ts"])  # "not a time", and no ObjectId to fall back on
    assert pd.isna(no_id["doc_id"])
    assert no_id["ts"] == ts("2025-11-13T09:41:12.503Z")  # legacy {"$date": <ms>}


def test_broken_lines_are_counted():
    df = pa.parse.mongo(DATA / "broken.jsonl")
    schema.MONGO.validate(df)
    assert df["line_no"].tolist() == [1]
    assert df["job_id"].tolist() == ["19-5"]
    assert df.attrs["unparsed"] == 4  # log line, array line, string, truncated document
    where = [s.split(": ", 1)[0].rsplit(":", 1)[1] for s in df.attrs["unparsed_sample"]]
    assert where == ["3", "4", "5", "6"]


def test_json_array_export():
    path = DATA / "alerts_array.json"
    df = pa.parse.mongo(path)
    schema.MONGO.validate(df)
    assert df["source"].tolist() == [f"{path}#/0", f"{path}#/2"]
    assert df["line_no"].isna().all()
    assert df["alert_id"].tolist() == ["test-sd-123", "test-sd-124"]
    assert df["collection"].tolist() == ["alerts_array", "alerts_array"]
    assert df.attrs["unparsed"] == 1
    assert df.attrs["unparsed_sample"] == [f'{path}#/1: "not a document"']


def test_bundle_collections_from_file_names(make_bundle):
    root = make_bundle(
        {
            "mongo/jobs.jsonl": (DATA / "jobs.jsonl").read_text(encoding="utf-8"),
            "mongo/alerts.jsonl": (DATA / "alerts_canonical.jsonl").read_text(encoding="utf-8"),
        }
    )
    df = pa.parse.mongo(pa.load_bundle(root))
    schema.MONGO.validate(df)
    assert sorted(df["collection"].astype(str)) == ["alerts", "alerts", "jobs", "jobs"]
    assert set(df["source"]) == {"mongo/jobs.jsonl", "mongo/alerts.jsonl"}
    assert len(_mongo._frames(pa.load_bundle(make_bundle({})))["mongo"]) == 0


def test_stream_has_no_collection():
    df = pa.parse.mongo(io.StringIO('{"_id": "a"}\n'))
    assert pd.isna(df["collection"].iloc[0])
    assert df["source"].tolist() == ["<stream>"]


# --------------------------------------------------------------------------- properties

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=10,
)
TIME = st.one_of(
    st.builds(lambda ms: {"$date": {"$numberLong": str(ms)}}, st.integers(-(2**70), 2**70)),
    st.builds(lambda ms: {"$date": ms}, st.integers(-(2**70), 2**70) | st.floats()),
    st.builds(lambda t: {"$timestamp": {"t": t, "i": 1}}, st.integers(-(2**70), 2**70)),
    st.sampled_from([{"$date": "2025-11-13T09:41:12Z"}, "2025-11-13T09:41:12Z", {"$date": "x"}, {"$date": {}}]),
    JSON,
)
DOCUMENT = st.fixed_dictionaries(
    {},
    optional={
        "_id": st.builds(lambda h: {"$oid": h}, st.from_regex(r"[0-9a-f]{24}", fullmatch=True)) | JSON,
        "created_at": TIME,
        "timestamp": TIME,
        "job_id": JSON,
        "alertId": JSON,
    },
)


@settings(max_examples=100, deadline=None)
@given(lines=st.lists(DOCUMENT.map(json.dumps) | st.text(max_size=40).filter(lambda t: "\n" not in t), max_size=6))
def test_every_line_is_a_row_or_unparsed(lines):
    text = "\n".join(lines)
    if text.lstrip().startswith("["):  # a whole-file JSON array is read differently
        text = "\n" + text.replace("[", "(", 1)
    df = pa.parse.mongo(io.StringIO(text))
    schema.MONGO.validate(df)
    # lines as _lines splits them: on LF, or on lone CR where those are the line ends
    nonblank = [line for line in iter_lines(text, kubelet=False) if line.text.strip()]
    # a line holding a JSON object is a row (a time in it no frame can hold is counted,
    # the row kept); every other line is counted
    documents = [n.line_no for n in nonblank if _is_object(n.text.lstrip("\ufeff") if n.line_no == 1 else n.text)]
    assert df["line_no"].tolist() == documents
    assert len(df) + df.attrs["unparsed"] >= len(nonblank)


def _is_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except (ValueError, RecursionError):
        return False


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=300))
def test_random_bytes_never_raise(data, tmp_path_factory):
    path = tmp_path_factory.mktemp("mongo") / "alerts.jsonl"
    path.write_bytes(data)
    schema.MONGO.validate(pa.parse.mongo(path))
