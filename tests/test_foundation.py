"""Shared helpers: time parsing, line reading, schema conformance."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panda_analysis import schema
from panda_analysis._lines import MAX_LINE_CHARS, Unparsed, iter_lines, resolve_sources
from panda_analysis._time import parse_duration, parse_instant
from panda_analysis.errors import SchemaError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("5m", 300), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), ("10min", 600), ("500ms", 0.5), (2.5, 2.5)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "abc", "5 minutes", "-2h", "h"])
def test_parse_duration_rejects_nonsense(text):
    with pytest.raises(ValueError, match="cannot read duration"):
        parse_duration(text)


def test_parse_instant_iso_and_relative():
    now = pd.Timestamp("2025-11-08T15:00:00Z")
    assert parse_instant("2025-11-08T13:00:00+02:00") == pd.Timestamp("2025-11-08T11:00:00Z")
    assert parse_instant("2025-11-08 13:00") == pd.Timestamp("2025-11-08T13:00:00Z")
    assert parse_instant("2h", now=now) == pd.Timestamp("2025-11-08T13:00:00Z")
    assert parse_instant("2025-11-08T13:00:00.123456789Z").nanosecond == 789
    assert str(parse_instant("2025-11-08T13:00Z").unit) == "ns"
    with pytest.raises(ValueError, match="cannot read time 'soon'"):
        parse_instant("soon")


def test_iter_lines_splits_prefix_and_counts_lines_like_an_editor():
    data = (
        b"2025-11-08T13:18:33.123456789Z first\r\n"
        b"second \x0b with a vertical tab\n"
        b"\n"
        b"bad \xff\xfe bytes\n"
        b"2025-11-08T13:18:34+02:00 offset prefix"
    )
    lines = list(iter_lines(data))
    assert [(ln.line_no, ln.kubelet_ts, ln.text) for ln in lines] == [
        (1, "2025-11-08T13:18:33.123456789Z", "first"),
        (2, None, "second \x0b with a vertical tab"),
        (3, None, ""),
        (4, None, "bad \ufffd\ufffd bytes"),
        (5, "2025-11-08T13:18:34+02:00", "offset prefix"),
    ]


def test_iter_lines_cuts_huge_lines():
    (line,) = iter_lines("x" * (MAX_LINE_CHARS + 10))
    assert line.text.endswith("…[truncated 10 chars]")
    assert len(line.text) < MAX_LINE_CHARS + 40


def test_iter_lines_empty():
    assert list(iter_lines(b"")) == []
    assert [ln.line_no for ln in iter_lines("a\n")] == [1]


@given(st.binary(max_size=2000))
@settings(max_examples=150, deadline=None)
def test_iter_lines_never_raises_and_keeps_every_line(data):
    lines = list(iter_lines(data))
    text = data.decode("utf-8", errors="replace")
    if text.count("\r") - text.count("\r\n") > text.count("\n"):  # lone CR line ends
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    expected = text.split("\n")
    if expected and expected[-1] == "":
        expected.pop()
    assert len(lines) == len(expected)
    assert [ln.line_no for ln in lines] == list(range(1, len(expected) + 1))


def test_unparsed_keeps_a_small_sample():
    u = Unparsed(limit=2)
    for i in range(5):
        u.add("logs/a.log", i + 1, f"junk {i}")
    assert u.count == 5
    assert u.sample == ["logs/a.log:1: junk 0", "logs/a.log:2: junk 1"]


def test_resolve_sources_rejects_missing_path_and_accepts_streams(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        resolve_sources(str(tmp_path / "nope.log"), "focus")
    (stream,) = resolve_sources(io.StringIO("hello"), "focus")
    assert stream.name == "<stream>"
    assert stream.read_text() == "hello"
    log = tmp_path / "logs" / "panda" / "grpc-job-19-5-cj8hc" / "baby-analyzer.previous.log"
    log.parent.mkdir(parents=True)
    log.write_text("x\n")
    (file,) = resolve_sources(log, "analyzer")
    assert (file.namespace, file.pod, file.container, file.is_previous) == ("panda", "grpc-job-19-5-cj8hc", "baby-analyzer", True)


def test_conform_orders_casts_and_fills():
    raw = pd.DataFrame(
        {
            "status": ["503", "200", "bogus"],
            "ts": ["2025-11-08T13:18:33+00:00", "2025-11-08T15:18:33.5+02:00", None],
            "extra": [1, 2, 3],
            "line_no": [1, 2, 3],
            "job_id": ["19-5", None, "19-6"],
        }
    )
    df = schema.JOB_METADATA.conform(raw, unparsed=2, unparsed_sample=["a:1: x"])
    schema.JOB_METADATA.validate(df)
    assert list(df.columns) == schema.JOB_METADATA.names
    assert df["ts"].tolist()[:2] == [pd.Timestamp("2025-11-08T13:18:33Z"), pd.Timestamp("2025-11-08T13:18:33.5Z")]
    assert df["ts"].isna().tolist() == [False, False, True]
    assert df["status"].tolist()[:2] == [503, 200]
    assert df["status"].isna().iloc[2]
    assert df["source"].isna().all()
    assert df.attrs == {"schema": "job_metadata", "unparsed": 2, "unparsed_sample": ["a:1: x"]}


def test_conform_nulls_values_that_do_not_fit():
    df = schema.RESTARTS.conform(pd.DataFrame({"last_exit_code": [137, 70000, 1.5], "restart_count": [4, None, 2]}))
    assert df["last_exit_code"].tolist()[0] == 137
    assert df["last_exit_code"].isna().tolist() == [False, True, True]
    assert df["restart_count"].isna().tolist() == [False, True, False]


def test_conform_naive_times_are_utc_and_nanoseconds():
    naive = pd.DataFrame({"ts": pd.to_datetime(["2025-11-08 13:00:00"]).as_unit("us")})
    df = schema.OTHER_LOGS.conform(naive)
    assert str(df["ts"].dtype) == "datetime64[ns, UTC]"
    assert df["ts"].iloc[0] == pd.Timestamp("2025-11-08T13:00:00Z")


def test_every_schema_empty_frame_validates():
    for name, frame_schema in schema.FRAMES.items():
        df = frame_schema.empty()
        frame_schema.validate(df)
        assert df.empty
        assert df.columns[:3].tolist() == ["ts", "source", "line_no"], name


def test_validate_reports_missing_and_wrong_columns():
    with pytest.raises(SchemaError, match="lacks columns"):
        schema.PODS.validate(pd.DataFrame({"ts": []}))
    df = schema.PODS.empty()
    df["restart_count"] = df["restart_count"].astype("float64")
    with pytest.raises(SchemaError, match="wrong dtype"):
        schema.PODS.validate(df)


def test_frames_container():
    frames = schema.Frames(meta={"created_at": "2025-11-08T13:25:00Z"})
    assert frames.created_at == pd.Timestamp("2025-11-08T13:25:00Z")
    assert list(frames) == list(schema.FRAMES)
    assert frames["pods"].empty
    with pytest.raises(KeyError, match="no frame 'nope'"):
        frames["nope"]
    replaced = frames.replace(pods=schema.PODS.conform([{"pod": "a"}]))
    assert len(replaced.pods) == 1
    assert frames.pods.empty
    assert "pods=1" in repr(replaced)


def test_frames_window_cuts_events_not_state():
    frames = schema.Frames(
        focus=schema.FOCUS.conform([{"ts": "2025-11-08T13:00:00Z"}, {"ts": "2025-11-08T14:00:00Z"}, {"ts": None}]),
        pods=schema.PODS.conform([{"ts": "2025-10-01T00:00:00Z", "pod": "old-but-running"}]),
        meta={"created_at": "2025-11-08T15:00:00Z"},
    )
    cut = frames.window("2025-11-08T13:30:00Z", None)
    assert cut.focus["ts"].isna().tolist() == [False, True]
    assert len(cut.pods) == 1
    assert len(frames.focus) == 3  # the input is not changed
    assert len(frames.window("90min", "").focus) == 2  # since 13:30, relative to created_at
    assert frames.window(None, "") is frames
    with pytest.raises(ValueError, match="empty time window"):
        frames.window("2025-11-08T14:00Z", "2025-11-08T13:00Z")
