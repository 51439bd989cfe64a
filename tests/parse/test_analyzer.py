"""gRPC job (Baby Analyzer) log parser: events, alert fields, job ids, tracebacks."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import panda_analysis as pa
from panda_analysis import schema
from panda_analysis._lines import iter_lines

DATA = Path(__file__).parent.parent / "data" / "analyzer"
POD_LOG = DATA / "logs/panda/grpc-job-19-5-cj8hc/analyzer.log"


# a line that is only a kubelet timestamp (an empty line, trailing space trimmed) is blank
_STAMP_ONLY = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})\s*$"
)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _is_blank(text: str) -> bool:
    text = _ANSI.sub("", text)
    return not text.strip() or _STAMP_ONLY.match(text) is not None


def parse(path: Path | str) -> pd.DataFrame:
    df = pa.parse.analyzer(DATA / path)
    schema.ANALYZER.validate(df)
    return df


def vals(series: pd.Series) -> list[object]:
    """Values with every kind of null as None (pandas 3 string columns hold pd.NA)."""
    return [None if pd.isna(v) else v for v in series]


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_convert("UTC")


def test_pod_log_stages_and_alert():
    df = parse(POD_LOG)
    assert len(df) == 7
    assert df.attrs["unparsed"] == 0
    assert df["event"].tolist() == [
        "rabbitmq_connecting", "rabbitmq_connected", "queue_declared", "consumer_started",
        "alert_detected", "alert_publishing", "alert_published",
    ]
    # job id from the pod name, on every row (also rows that do not mention it)
    assert df["job_id"].tolist() == ["19-5"] * 7
    assert df["pod"].tolist() == ["grpc-job-19-5-cj8hc"] * 7
    assert df["container"].tolist() == ["analyzer"] * 7
    assert df["namespace"].tolist() == ["panda"] * 7
    assert not df["is_previous"].any()
    assert vals(df["queue"]) == [None, None, "grpc-job-19-5", "grpc-job-19-5", None, None, None]
    detected = df.iloc[4]
    assert (detected["class_id"], detected["severity"], detected["distance_m"]) == (104, 3, 4163.0)
    # the line's own python-logging time wins over the kubelet's
    assert detected["ts"] == ts("2025-11-13T12:08:41.118Z")
    assert df.loc[0, "ts"] == ts("2025-11-13T09:41:14.120334512Z")
    assert not df["is_ts_inferred"].any()
    assert df.loc[5, "routing_key"] == "Algorithm.AlertReport.MLGround"
    assert pd.isna(df.loc[5, "alert_id"])
    assert df.loc[6, "alert_id"] == "test-sd-123"
    assert str(df["class_id"].dtype) == "Int64"
    assert str(df["severity"].dtype) == "Int16"
    assert str(df["distance_m"].dtype) == "float64"


def test_seed_lines_without_time_or_pod():
    df = parse("seed_lines.log")
    assert len(df) == 3
    assert df["level"].tolist() == ["info"] * 3
    assert df["job_id"].isna().all()
    assert df["ts"].isna().all()
    assert not df["is_ts_inferred"].any()
    assert df.loc[0, "message"] == "Alert detected: class_id=104, severity=3, distance_m=4163"
    assert vals(df["routing_key"]) == [None, "Algorithm.AlertReport.MLGround", None]
    assert vals(df["alert_id"]) == [None, None, "test-sd-123"]


def test_timestamp_and_header_forms():
    df = parse("timestamp_forms.log")
    assert len(df) == 6
    assert df.attrs["unparsed"] == 0
    assert df["ts"].tolist() == [
        ts("2025-11-13T12:08:41.123Z"),
        ts("2025-11-13T12:08:42.5Z"),
        ts("2025-11-13T12:08:43.001Z"),
        ts("2025-11-13T12:08:44.002Z"),
        ts("2025-11-13T12:08:44.002Z"),  # `INFO:root:...` has no time: the previous one
        ts("2025-11-13T12:08:45Z"),
    ]
    assert df["is_ts_inferred"].tolist() == [False] * 4 + [True, False]
    assert df["level"].tolist() == ["info", "warning", "info", "error", "info", "debug"]
    assert vals(df["logger"]) == [None, None, "baby_analyzer", "baby_analyzer.consumer", "root", None]
    assert df.loc[5, "message"] == "chunk 118 processed"
    # job id falls back to a mention in the line
    assert vals(df["job_id"]) == ["20-1", None, None, "20-1", None, None]
    assert vals(df["queue"]) == ["grpc-job-20-1", None, None, "grpc-job-20-1", None, None]
    second = df.iloc[1]
    assert (second["class_id"], second["severity"], second["distance_m"], second["alert_id"]) == (
        7, 1, 12.5, "a-7",
    )
    assert df.loc[2, "routing_key"] == "Algorithm.AlertReport.Pulse"
    assert df.loc[4, ["event", "alert_id"]].tolist() == ["alert_published", "a-7"]
    assert pd.isna(df.loc[3, "event"])


def test_traceback_joined_and_junk_counted():
    df = parse("traceback.log")
    assert len(df) == 2
    assert df.attrs["unparsed"] == 2
    assert [s.rsplit(": ", 1)[1] for s in df.attrs["unparsed_sample"]] == [
        "not a record", "printed junk line",
    ]
    crashed = df.iloc[0]
    assert crashed["line_no"] == 2
    assert crashed["level"] == "error"
    lines = crashed["message"].split("\n")
    assert lines[0] == "Consumer crashed"
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[-1].startswith("pika.exceptions.StreamLostError: Stream connection lost")
    assert len(lines) == 5
    assert df.loc[1, "event"] == "rabbitmq_connecting"


def test_bare_traceback_row():
    text = (
        "2025-11-13T12:10:00.000000001Z Traceback (most recent call last):\n"
        '2025-11-13T12:10:00.000000002Z   File "/app/main.py", line 9, in <module>\n'
        "2025-11-13T12:10:00.000000003Z pika.exceptions.AMQPConnectionError\n"
    )
    df = pa.parse.analyzer(io.StringIO(text))
    schema.ANALYZER.validate(df)
    assert len(df) == 1
    assert df.loc[0, "level"] == "error"
    assert df.loc[0, "ts"] == ts("2025-11-13T12:10:00.000000001Z")
    assert df.loc[0, "message"].count("\n") == 2


@pytest.mark.parametrize("name", ["empty.log"])
def test_empty(name):
    df = parse(name)
    assert len(df) == 0
    assert df.attrs["unparsed"] == 0
    assert list(df.columns) == schema.ANALYZER.names


def test_missing_path_raises():
    with pytest.raises(FileNotFoundError):
        pa.parse.analyzer(DATA / "absent.log")


def test_bundle_families(tmp_path):
    for pod in ("grpc-job-19-5-cj8hc", "grpc-job-19-6-ab12c"):
        log = tmp_path / f"logs/panda/{pod}/analyzer.log"
        log.parent.mkdir(parents=True)
        log.write_bytes(POD_LOG.read_bytes())
    df = pa.parse.analyzer(pa.load_bundle(tmp_path))
    schema.ANALYZER.validate(df)
    assert len(df) == 14
    assert df.groupby("job_id", observed=True).size().to_dict() == {"19-5": 7, "19-6": 7}


# ------------------------------------------------------------------- properties
_REAL = [line for path in (POD_LOG, DATA / "traceback.log", DATA / "timestamp_forms.log")
         for line in path.read_text().splitlines()]


def _nonblank(data: bytes | str) -> int:
    return sum(1 for line in iter_lines(data) if not _is_blank(line.text))


def _accounted(df: pd.DataFrame) -> int:
    return int(sum(m.count("\n") + 1 for m in df["message"])) + df.attrs["unparsed"]


_LINE = st.tuples(
    st.sampled_from(["", "2025-11-13T12:08:41.120551932Z "]),
    st.one_of(
        st.sampled_from(_REAL),
        st.tuples(st.sampled_from(_REAL), st.integers(0, 120)).map(lambda t: t[0][: t[1]]),
        st.text(st.characters(blacklist_categories=("Cs",)), max_size=60),
    ),
).map("".join)


@settings(max_examples=150, deadline=None)
@given(st.lists(_LINE, max_size=30))
def test_property_text(lines):
    text = "\n".join(lines)
    df = pa.parse.analyzer(io.StringIO(text))
    schema.ANALYZER.validate(df)
    assert _accounted(df) == _nonblank(text)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2000))
def test_property_bytes(data):
    df = pa.parse.analyzer(io.BytesIO(data))  # type: ignore[arg-type]
    schema.ANALYZER.validate(df)
    assert _accounted(df) == _nonblank(data)


def test_huge_line():
    df = pa.parse.analyzer(io.StringIO("[INFO] Alert detected: class_id=1 " + "x" * 100_000))
    schema.ANALYZER.validate(df)
    assert len(df) == 1
    assert df.loc[0, "class_id"] == 1
    assert df.loc[0, "message"].endswith("chars]")


def test_uvicorn_style_traceback_header_and_alert_word():
    text = (
        "[ERROR] Traceback (most recent call last):\n"
        '  File "/app/analyzer/consumer.py", line 41, in run\n'
        "StopIteration\n"
        "[ERROR] Failed to publish alert test-sd-124: connection lost\n"
    )
    df = pa.parse.analyzer(io.StringIO(text))
    schema.ANALYZER.validate(df)
    assert df.attrs["unparsed"] == 0
    assert len(df) == 2
    assert df.loc[0, "message"].split("\n")[-1] == "StopIteration"
    assert vals(df["alert_id"]) == [None, "test-sd-124"]
