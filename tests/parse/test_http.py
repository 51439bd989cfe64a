"""Focus Server HTTP probes: /live_metadata and /metadata/{job_id}."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

import panda_analysis as pa
from panda_analysis import schema
from panda_analysis.parse import _http

DATA = Path(__file__).resolve().parents[1] / "data" / "http"


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_convert("UTC")


def test_waiting_for_fiber_probe_from_seed_002():
    df = pa.parse.live_metadata(DATA / "live_metadata_waiting.jsonl")
    schema.LIVE_METADATA.validate(df)
    assert df.attrs["unparsed"] == 0
    assert len(df) == 2
    first = df.iloc[0]
    assert first["ts"] == ts("2025-11-08T13:18:00.114Z")
    assert (first["source"], first["line_no"]) == (str(DATA / "live_metadata_waiting.jsonl"), 1)
    assert first["status"] == 200
    assert (first["prr"], first["dx"]) == (0.0, 0.0)
    assert pd.isna(first["fiber_start_meters"])
    assert pd.isna(first["fiber_length_meters"])
    assert first["number_of_channels"] == 2337
    assert first["sw_version"] == "waiting for fiber"
    assert first["fiber_description"] == "waiting for fiber"
    assert pd.isna(first["error"])
    assert json.loads(first["body"])["sw_version"] == "waiting for fiber"
    assert " " not in first["body"].replace("waiting for fiber", "")  # compact JSON
    assert df["line_no"].tolist() == [1, 2]


def test_healthy_probe():
    df = pa.parse.live_metadata(DATA / "live_metadata_healthy.jsonl")
    (row,) = df.itertuples()
    assert row.ts == ts("2025-11-10T08:59:30Z")
    assert (row.prr, row.dx, row.fiber_start_meters, row.fiber_length_meters) == (2000.0, 1.0213, 0.0, 2386.5)
    assert row.sw_version == "4.2.1"
    assert pd.isna(row.error)


def test_failed_probes_carry_their_error():
    df = pa.parse.live_metadata(DATA / "live_metadata_failures.jsonl")
    schema.LIVE_METADATA.validate(df)
    assert df.attrs["unparsed"] == 0
    timeout, unavailable, bad_gateway, not_metadata = (df.iloc[i] for i in range(4))
    assert pd.isna(timeout["status"])
    assert timeout["error"].startswith("ConnectTimeout(MaxRetryError(")
    assert pd.isna(timeout["body"])
    assert pd.isna(timeout["prr"])
    assert (unavailable["status"], unavailable["error"]) == (503, "Service Unavailable")
    assert bad_gateway["status"] == 502
    assert "<h1>502 Bad Gateway</h1>" in bad_gateway["error"]
    assert json.loads(bad_gateway["body"]).startswith("<html>")
    assert not_metadata["status"] == 200
    assert not_metadata["error"] == "response body is not live metadata"
    assert pd.isna(not_metadata["prr"])


def test_broken_lines_are_counted_with_their_line_numbers():
    df = pa.parse.live_metadata(DATA / "live_metadata_broken.jsonl")
    schema.LIVE_METADATA.validate(df)
    assert df["line_no"].tolist() == [1]
    assert df.attrs["unparsed"] == 5  # line 2 is blank
    where = [s.split(": ", 1)[0].rsplit(":", 1)[1] for s in df.attrs["unparsed_sample"]]
    assert where == ["3", "4", "5", "6", "7"]


def test_job_metadata_polls():
    df = pa.parse.job_metadata(DATA / "job_metadata_polls.jsonl")
    schema.JOB_METADATA.validate(df)
    assert df.attrs["unparsed"] == 0
    assert df["job_id"].tolist() == ["19-5", "19-5", "19-5", "19-6", "19-7"]
    assert df["status"].tolist()[:3] == [404, 404, 200]
    assert pd.isna(df["status"].iloc[3])
    assert df["error"].tolist()[:2] == ["Invalid job_id", "Invalid job_id"]
    assert pd.isna(df["error"].iloc[2])
    assert df["error"].iloc[3].startswith("ReadTimeout(")
    detail = json.loads(df["error"].iloc[4])  # a FastAPI validation error: detail is a list
    assert detail[0]["loc"] == ["path", "job_id"]
    assert json.loads(df["body"].iloc[2])["channels"] == {"min": 11, "max": 109}
    assert df["ts"].iloc[2] == ts("2025-11-13T09:41:17.321Z")


def test_job_id_from_the_body_when_the_line_has_none():
    line = '{"at": "2025-11-13T09:41:17Z", "status": 200, "body": {"job_id": "19-5"}}\n'
    assert pa.parse.job_metadata(io.StringIO(line))["job_id"].tolist() == ["19-5"]


def test_odd_values_do_not_leak_into_typed_columns():
    line = json.dumps(
        {
            "at": "2025-11-08T13:18:00Z",
            "status": "200",
            "body": {
                "prr": "2000.0",
                "dx": [1],
                "number_of_channels": 2337.5,
                "sw_version": 4,
                "fiber_description": {"a": 1},
            },
        }
    )
    (row,) = pa.parse.live_metadata(io.StringIO(line)).itertuples()
    assert (row.status, row.prr) == (200, 2000.0)
    assert pd.isna(row.dx)
    assert pd.isna(row.number_of_channels)
    assert (row.sw_version, row.fiber_description) == ("4", '{"a":1}')


def test_bundle_reads_both_files(make_bundle):
    root = make_bundle(
        {
            "http/focus/live_metadata.jsonl": (DATA / "live_metadata_waiting.jsonl").read_text(encoding="utf-8"),
            "http/focus/job_metadata.jsonl": (DATA / "job_metadata_polls.jsonl").read_text(encoding="utf-8"),
        }
    )
    frames = _http._frames(pa.load_bundle(root))
    assert {k: len(v) for k, v in frames.items()} == {"live_metadata": 2, "job_metadata": 5}
    assert frames["live_metadata"]["source"].tolist() == ["http/focus/live_metadata.jsonl"] * 2
    empty = _http._frames(pa.load_bundle(make_bundle({})))
    assert all(len(v) == 0 for v in empty.values())


def test_empty_input():
    for text in ("", "\n\n  \n"):
        df = pa.parse.live_metadata(io.StringIO(text))
        schema.LIVE_METADATA.validate(df)
        assert len(df) == 0
        assert df.attrs["unparsed"] == 0


# --------------------------------------------------------------------------- properties

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=15),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=12,
)
RECORDS = st.fixed_dictionaries(
    {"at": st.sampled_from(["2025-11-08T13:18:00.114Z", "2025-11-08T13:18:00+02:00", "later", "", None, 5])},
    optional={"status": JSON | st.integers(-(2**70), 2**70), "body": JSON, "error": JSON, "job_id": JSON},
)
LINE = st.one_of(
    RECORDS.map(json.dumps),
    JSON.map(json.dumps),
    st.text(max_size=60).filter(lambda t: "\n" not in t),
    st.sampled_from(['2025-11-08T13:18:33.123456789Z {"at": 1}', '{"at": "2025-11-08T13:18:00Z"', "x" * 70_000]),
)


def _valid(line: str) -> bool:
    try:
        record = json.loads(line)
    except ValueError:
        return False
    return isinstance(record, dict) and record.get("at") in {"2025-11-08T13:18:00.114Z", "2025-11-08T13:18:00+02:00"}


@settings(max_examples=80, deadline=None)
@given(lines=st.lists(LINE, max_size=8))
def test_every_line_is_a_row_or_unparsed(lines):
    text = "\n".join(lines)
    nonblank = [line for line in text.split("\n") if line.strip()]
    for parse, frame in ((pa.parse.live_metadata, schema.LIVE_METADATA), (pa.parse.job_metadata, schema.JOB_METADATA)):
        df = parse(io.StringIO(text))
        frame.validate(df)
        # every line with a readable "at" is a row (odd values in it counted, the row kept);
        # every other line is counted
        assert len(df) == sum(_valid(line) for line in nonblank)
        assert len(df) + df.attrs["unparsed"] >= len(nonblank)


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=300))
def test_random_bytes_never_raise(data, tmp_path_factory):
    path = tmp_path_factory.mktemp("http") / "live_metadata.jsonl"
    path.write_bytes(data)
    frames = {**_http._frames(path, only="live_metadata"), **_http._frames(path, only="job_metadata")}
    for name, df in frames.items():
        schema.FRAMES[name].validate(df)
