"""Focus Server log parser: records, uvicorn access lines, tracebacks, configurations."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import panda_analysis as pa
from panda_analysis import schema
from panda_analysis._lines import iter_lines
from panda_analysis.parse import _focus

DATA = Path(__file__).parent.parent / "data" / "focus"
PREVIOUS = DATA / "logs/panda/panda-panda-focus-server-78dbcfd9d9-kjj77/focus-server.previous.log"


# a line that is only a kubelet timestamp (an empty line, trailing space trimmed) is blank
_STAMP_ONLY = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})\s*$"
)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _is_blank(text: str) -> bool:
    text = _ANSI.sub("", text)
    return not text.strip() or _STAMP_ONLY.match(text) is not None


def parse(name: str) -> pd.DataFrame:
    df = pa.parse.focus(DATA / name)
    schema.FOCUS.validate(df)
    return df


def vals(series: pd.Series) -> list[object]:
    """Values with every kind of null as None (pandas 3 string columns hold pd.NA)."""
    return [None if pd.isna(v) else v for v in series]


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_convert("UTC")


# ------------------------------------------------------------------- seed 002: retry storm
def test_retry_storm_rows_kinds_and_times():
    df = parse("configure_retry_storm.log")
    assert len(df) == 9
    assert df.attrs["unparsed"] == 0
    assert df["kind"].tolist() == ["record", "record", "access"] * 3
    assert df["line_no"].tolist() == list(range(1, 10))
    assert df["level"].tolist() == ["info", "error", "info"] * 3
    assert df.loc[0, "ts"] == ts("2025-11-08T13:18:33Z")
    assert df.loc[3, "ts"] == ts("2025-11-08T13:18:35.512Z")
    assert df.loc[6, "ts"] == ts("2025-11-08T13:18:37.900Z")
    # uvicorn access lines have no time of their own: taken from the record before
    assert df["is_ts_inferred"].tolist() == [False, False, True] * 3
    assert df.loc[5, "ts"] == ts("2025-11-08T13:18:35.513Z")
    assert df.loc[1, "message"] == (
        "Cannot configure job - validation failed: Cannot proceed: "
        "Missing required fiber metadata fields: prr"
    )
    assert set(df["logger"].dropna()) == {"pz.focus_server", "uvicorn.access"}


def test_retry_storm_access_fields():
    df = parse("configure_retry_storm.log")
    access = df[df["kind"] == "access"]
    assert access["method"].tolist() == ["POST"] * 3
    assert access["path"].tolist() == ["/configure"] * 3
    assert access["route"].tolist() == ["/configure"] * 3
    assert access["status"].tolist() == [503] * 3
    # the seed's shortened `INFO: "POST /configure HTTP/1.1" 503 ...` has no client
    assert vals(access["client_addr"]) == ["10.42.0.0:51234", None, "10.42.0.0:51240"]
    assert str(df["status"].dtype) == "Int16"


def test_retry_storm_two_distinct_configurations():
    df = parse("configure_retry_storm.log")
    configs = df.dropna(subset=["config"])
    assert len(configs) == 3
    assert configs["config_id"].nunique() == 2
    first = configs.iloc[0]
    assert first["config"] == (
        "channels.max=109 channels.min=11 displayInfo.height=200 displayTimeAxisDuration=30 "
        "frequencyRange.max=1000 frequencyRange.min=0 nfftSelection=1024 view_type=0"
    )
    assert first["config_id"] == configs.iloc[2]["config_id"]
    assert re.fullmatch(r"[0-9a-f]{8}", first["config_id"])
    second = configs.iloc[1]
    assert (second["display_info_height"], second["channels_min"], second["channels_max"]) == (1000, 1, 50)
    assert second["frequency_range_max"] == 500.0
    assert first["display_time_axis_duration"] == 30.0
    assert first["nfft_selection"] == 1024
    assert first["frequency_range_min"] == 0.0
    assert first["view_type"] == "0"


def test_config_forms_hash_alike():
    df = parse("config_forms.log")
    assert len(df) == 6
    # key=value, JSON object and Python dict literal of the same configuration
    assert df.loc[0, "config_id"] == df.loc[1, "config_id"] == df.loc[2, "config_id"]
    assert df.loc[1, "config"] == df.loc[0, "config"]
    assert df.loc[1, "display_info_height"] == 200
    assert df.loc[2, "channels_max"] == 109
    # the seed's truncated `nfftSelection=1024...` keeps what is readable
    assert df.loc[3, "config"] == "displayTimeAxisDuration=30 nfftSelection=1024"
    assert df.loc[3, "nfft_selection"] == 1024
    assert pd.isna(df.loc[3, "channels_max"])
    # lists stay JSON, null and booleans are canonical
    assert df.loc[4, "config"] == "channels=[11,109] displayInfo.height=200 live=true start_time=null"
    # an unreadable body is still a record, without a configuration
    assert pd.isna(df.loc[5, "config"])
    assert pd.isna(df.loc[5, "config_id"])
    assert df.loc[5, "kind"] == "record"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("a=1 b=x y", {"a": "1", "b": "x y"}),
        ("a=1, b='q', c=2.50", {"a": "1", "b": "q", "c": "2.5"}),
        ('{"x": {"y": {"z": 1e3}}}', {"x.y.z": "1000"}),
        ("{'k': None, 'b': False}", {"k": "null", "b": "false"}),
        ("nothing here", None),
        ("{" * 500, None),
        ("[1, 2]", None),
    ],
)
def test_parse_config(body, expected):
    assert _focus._parse_config(body) == expected


# ------------------------------------------------------------------- seed 002: crash loop
def test_previous_log_traceback_joined_into_record():
    df = pa.parse.focus(PREVIOUS)
    schema.FOCUS.validate(df)
    assert len(df) == 5
    assert df.attrs["unparsed"] == 0
    assert df["namespace"].tolist() == ["panda"] * 5
    assert df["pod"].tolist() == ["panda-panda-focus-server-78dbcfd9d9-kjj77"] * 5
    assert df["container"].tolist() == ["focus-server"] * 5
    assert df["is_previous"].tolist() == [True] * 5
    assert df["source"].tolist() == [str(PREVIOUS)] * 5
    failed = df.iloc[3]
    assert failed["line_no"] == 4
    assert failed["message"] == "FocusManager init failed"
    assert failed["level"] == "error"
    assert failed["ts"] == ts("2025-11-07T09:12:31.516Z")  # the app's time, not the kubelet's
    # the LAST exception of the chain
    assert failed["exception_type"] == "pymongo.errors.ServerSelectionTimeoutError"
    assert failed["exception_message"].startswith(
        "mongodb:27017: [Errno -3] Temporary failure in name resolution, Timeout: 30s"
    )
    assert failed["exception_message"].endswith("name resolution')>]>")
    lines = failed["traceback"].split("\n")
    assert len(lines) == 16  # 18 continuation lines, 2 of them blank (skipped)
    assert lines[0] == "Traceback (most recent call last):"
    assert "socket.gaierror: [Errno -3] Temporary failure in name resolution" in lines
    # uvicorn lines take the kubelet time (they have none of their own)
    assert df.loc[1, "logger"] == "uvicorn"
    assert df.loc[1, "ts"] == ts("2025-11-07T09:12:01.483120417Z")
    assert not df["is_ts_inferred"].any()
    assert df.loc[4, "message"] == "Application startup failed. Exiting."
    assert df.loc[4, "level"] == "error"


def test_bare_traceback_is_its_own_row():
    df = parse("bare_traceback.log")
    assert len(df) == 2
    first = df.iloc[0]
    assert first["kind"] == "traceback"
    assert first["line_no"] == 1
    assert first["level"] == "error"
    assert pd.isna(first["ts"])
    assert first["exception_type"] == "KeyboardInterrupt"
    assert pd.isna(first["exception_message"])
    assert first["message"] == "KeyboardInterrupt"
    assert first["traceback"].split("\n")[0] == "Traceback (most recent call last):"
    assert first["traceback"].count("\n") == 4
    # an exception line right after a record (as the seed quotes it) joins that record
    second = df.iloc[1]
    assert second["message"] == "Starting Focus Server"
    assert second["exception_type"] == "pymongo.errors.ServerSelectionTimeoutError"
    assert second["exception_message"] == "mongodb:27017: [Errno -3] Temporary failure in name resolution"


def test_exception_of_chain_and_multiline_message():
    lines = [
        "Traceback (most recent call last):",
        '  File "a.py", line 1, in f',
        "ValueError: first",
        "During handling of the above exception, another exception occurred:",
        "Traceback (most recent call last):",
        '  File "b.py", line 2, in g',
        "grpc._channel._InactiveRpcError: <_InactiveRpcError of RPC that terminated with:",
        "\tstatus = StatusCode.UNAVAILABLE",
        'details = "failed to connect">',
    ]
    exc_type, message = _focus._exception_of(lines)
    assert exc_type == "grpc._channel._InactiveRpcError"
    assert message == '<_InactiveRpcError of RPC that terminated with:\ndetails = "failed to connect">'


# ------------------------------------------------------------------- seed 000: alerts
def test_bracket_alert_lines():
    df = parse("alerts_bracket.log")
    assert len(df) == 5
    assert df["kind"].tolist() == ["record"] * 5
    assert df["logger"].isna().all()
    assert vals(df["alert_id"]) == [None, "test-sd-123", "test-sd-123", None, "test-sd-124"]
    assert vals(df["class_id"]) == [None, 104, None, None, 105]
    assert vals(df["severity"]) == [None, 3, None, None, 1]
    assert str(df["class_id"].dtype) == "Int64"
    assert str(df["severity"].dtype) == "Int16"
    assert df.loc[0, "method"] == "POST"
    assert df.loc[0, "route"] == "/prisma-210-1000/api/push-to-rabbit"
    assert pd.isna(df.loc[0, "status"])
    assert df["ts"].isna().tolist() == [True, True, True, True, False]
    assert df.loc[4, "ts"] == ts("2025-11-13T12:08:41.123Z")
    assert df.loc[4, "level"] == "warning"


def test_job_id_mentions():
    df = parse("job_mentions.log")
    assert vals(df["job_id"]) == ["19-5", "19-6", "19-7", "19-8", None, "19-9", "20-1"]
    assert df.loc[5, "route"] == "/metadata/{job_id}"
    assert df.loc[5, "path"] == "/metadata/19-9"
    assert df.loc[5, "status"] == 404
    assert df.loc[6, "level"] == "critical"


def test_uvicorn_startup_lines():
    df = parse("uvicorn_startup.log")
    assert len(df) == 7
    assert df["kind"].tolist() == ["record"] * 4 + ["access", "record", "record"]
    assert df["logger"].tolist() == ["uvicorn"] * 4 + ["uvicorn.access", "uvicorn", "uvicorn"]
    assert df.loc[0, "message"] == "Started server process [1]"
    assert df.loc[5, "level"] == "warning"
    assert df.loc[4, "status"] == 200
    # no time anywhere in the file: null, not invented
    assert df["ts"].isna().all()
    assert not df["is_ts_inferred"].any()


# ------------------------------------------------------------------- bad input
def test_garbage_counted_not_dropped():
    df = parse("garbage.log")
    assert len(df) == 3
    assert df.attrs["unparsed"] == 4
    sample = df.attrs["unparsed_sample"]
    assert sample[0] == f"{DATA / 'garbage.log'}:1: garbage before the first record"
    assert [s.split(": ", 1)[0].rsplit(":", 1)[1] for s in sample] == ["1", "2", "4", "8"]
    assert df.loc[1, "traceback"] == "  indented continuation"
    assert df.loc[2, "message"] == "trunc"  # last line without newline


def test_empty_file_and_stream():
    for df in (parse("empty.log"), pa.parse.focus(io.StringIO(""))):
        schema.FOCUS.validate(df)
        assert len(df) == 0
        assert df.attrs["unparsed"] == 0


def test_missing_path_raises():
    with pytest.raises(FileNotFoundError, match=r"no-such\.log"):
        pa.parse.focus(DATA / "no-such.log")


def test_kubelet_prefix_and_ansi():
    text = (
        "2025-11-08T13:18:40.000000001Z \x1b[32mINFO\x1b[0m:     10.0.0.1:1 - \"GET /channels HTTP/1.1\" 200 OK\n"
        "2025-11-08T13:18:41.5Z 2025-11-08 13:18:33,250 - pz.focus_server - WARNING - slow\n"
        "INFO:pz.focus_server:basic config line\n"
        "2025-11-08T13:18:33+0530 ERROR FocusManager init failed\n"
    )
    df = pa.parse.focus(io.StringIO(text))
    schema.FOCUS.validate(df)
    assert df["kind"].tolist() == ["access", "record", "record", "record"]
    assert df.loc[0, "ts"] == ts("2025-11-08T13:18:40.000000001Z")
    assert df.loc[1, "ts"] == ts("2025-11-08T13:18:33.250Z")  # the app's time wins
    assert df.loc[1, "logger"] == "pz.focus_server"
    assert df.loc[2, ["logger", "message"]].tolist() == ["pz.focus_server", "basic config line"]
    assert df.loc[2, "is_ts_inferred"]
    assert df.loc[3, "ts"] == ts("2025-11-08T07:48:33Z")
    assert pd.isna(df.loc[3, "logger"])
    assert df.loc[3, "message"] == "FocusManager init failed"
    assert df["source"].tolist() == ["<stream>"] * 4


def test_invalid_app_time_falls_back():
    df = pa.parse.focus(io.StringIO("2025-13-45T99:00:00+0000 INFO pz.focus_server odd\n"))
    assert len(df) == 1
    assert pd.isna(df.loc[0, "ts"])
    assert df.loc[0, "message"] == "odd"


def test_frames_from_bundle_dir(tmp_path):
    log = tmp_path / "logs/panda/panda-panda-focus-server-1/focus-server.log"
    log.parent.mkdir(parents=True)
    log.write_bytes((DATA / "configure_retry_storm.log").read_bytes())
    df = pa.parse.focus(pa.load_bundle(tmp_path))
    schema.FOCUS.validate(df)
    assert len(df) == 9
    assert df["source"].unique().tolist() == ["logs/panda/panda-panda-focus-server-1/focus-server.log"]


# ------------------------------------------------------------------- properties
_REAL = [
    line
    for path in (DATA / "configure_retry_storm.log", PREVIOUS, DATA / "alerts_bracket.log")
    for line in path.read_text().splitlines()
]


def _line() -> st.SearchStrategy[str]:
    real = st.sampled_from(_REAL)
    truncated = st.tuples(real, st.integers(0, 200)).map(lambda t: t[0][: t[1]])
    noise = st.text(st.characters(blacklist_categories=("Cs",)), max_size=80)
    base = st.one_of(real, truncated, noise)
    prefix = st.sampled_from(["", "", "2025-11-08T13:18:33.123456789Z ", "2025-11-08T13:18:33Z "])
    return st.tuples(prefix, base).map("".join)


def _nonblank(data: bytes | str) -> int:
    return sum(1 for line in iter_lines(data) if not _is_blank(line.text))


def _accounted(df: pd.DataFrame) -> int:
    total = 0
    for kind, tb in zip(df["kind"], df["traceback"], strict=True):
        lines = 0 if pd.isna(tb) else tb.count("\n") + 1
        total += lines if kind == "traceback" else 1 + lines
    return total + df.attrs["unparsed"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_line(), max_size=30), st.sampled_from(["\n", "\r\n"]))
def test_property_text_never_raises_and_accounts(lines, newline):
    text = newline.join(lines)
    df = pa.parse.focus(io.StringIO(text))
    schema.FOCUS.validate(df)
    assert _accounted(df) == _nonblank(text)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2000))
def test_property_bytes_never_raise(data):
    df = pa.parse.focus(io.BytesIO(data))  # type: ignore[arg-type]
    schema.FOCUS.validate(df)
    assert _accounted(df) == _nonblank(data)


def test_huge_line_is_cut_not_fatal():
    text = "2025-11-08T13:18:33+0000 INFO pz.focus_server got configuration: a=" + "9" * 200_000 + "\n"
    df = pa.parse.focus(io.StringIO(text + "  continuation\n"))
    schema.FOCUS.validate(df)
    assert len(df) == 1
    assert df.loc[0, "message"].endswith("chars]")
    assert df.loc[0, "traceback"] == "  continuation"


def test_uvicorn_traceback_record_and_alert_word():
    text = (
        "ERROR:    Traceback (most recent call last):\n"
        '  File "/usr/local/lib/python3.11/site-packages/starlette/routing.py", line 693, in lifespan\n'
        "    async with self.lifespan_context(app) as maybe_state:\n"
        "StopAsyncIteration\n"
        "[ERROR] Failed to publish alert test-sd-124: pika.exceptions.StreamLostError: "
        "Stream connection lost\n"
        "[INFO] Playing alert sound\n"
    )
    df = pa.parse.focus(io.StringIO(text))
    schema.FOCUS.validate(df)
    assert df.attrs["unparsed"] == 0
    assert len(df) == 3
    assert df.loc[0, "logger"] == "uvicorn"
    assert df.loc[0, "message"] == "Traceback (most recent call last):"
    assert df.loc[0, "exception_type"] == "StopAsyncIteration"
    assert df.loc[0, "traceback"].count("\n") == 2
    assert vals(df["alert_id"]) == [None, "test-sd-124", None]
    assert pd.isna(df.loc[1, "exception_type"])  # no traceback, just a message


def test_trimmed_kubelet_blank_line_is_blank():
    # `kubectl logs --timestamps` writes "<ts> " for an empty line; trimmed, it stays blank
    text = PREVIOUS.read_text().replace("Z \n", "Z\n")
    assert text != PREVIOUS.read_text()
    df = pa.parse.focus(io.StringIO(text))
    assert df.attrs["unparsed"] == 0
    assert df.loc[3, "traceback"] == pa.parse.focus(PREVIOUS).loc[3, "traceback"]
