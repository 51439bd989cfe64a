"""RabbitMQ server log parser: 3.9+, lager (3.7/3.8) and legacy report formats."""

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

DATA = Path(__file__).parent.parent / "data" / "rabbitmq_log"
POD_LOG = DATA / "logs/panda/rabbitmq-panda-0/rabbitmq.log"


# a line that is only a kubelet timestamp (an empty line, trailing space trimmed) is blank
_STAMP_ONLY = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})\s*$"
)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _is_blank(text: str) -> bool:
    text = _ANSI.sub("", text)
    return not text.strip() or _STAMP_ONLY.match(text) is not None


def parse(path: Path | str) -> pd.DataFrame:
    df = pa.parse.rabbitmq_log(DATA / path)
    schema.RABBITMQ_LOG.validate(df)
    return df


def vals(series: pd.Series) -> list[object]:
    """Values with every kind of null as None (pandas 3 string columns hold pd.NA)."""
    return [None if pd.isna(v) else v for v in series]


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_convert("UTC")


def test_modern_entries_and_banner():
    df = parse("modern_3_12.log")
    assert len(df) == 13
    assert df.attrs["unparsed"] == 0
    # the console banner before the first entry: one row, no level, no format
    banner = df.iloc[0]
    assert banner["line_no"] == 2
    assert pd.isna(banner["level"])
    assert pd.isna(banner["log_format"])
    assert pd.isna(banner["ts"])
    assert banner["message"].split("\n")[0] == "##  ##      RabbitMQ 3.12.13"
    assert banner["message"].endswith("  Starting broker...")
    # a multi-line 3.9+ message repeats its prefix on every line: one row
    start = df.iloc[1]
    assert start["line_no"] == 10
    assert start["message"] == (
        "Starting RabbitMQ 3.12.13 on Erlang 26.2.5 [jit]\n"
        " Copyright (c) 2007-2024 Broadcom Inc and/or its subsidiaries\n"
        " Licensed under the MPL 2.0. Website: https://rabbitmq.com"
    )
    assert start["ts"] == ts("2025-11-08T13:12:20.101234Z")
    assert df.loc[2, "message"].startswith("node           : rabbit@rabbitmq-panda-0.")
    assert df.loc[2, "line_no"] == 14
    assert df["log_format"].tolist()[1:] == ["modern"] * 12
    assert vals(df["level"]) == [None, "info", "info", "debug", "debug", "info", "info", "info",
                                 "info", "info", "warning", "info", "error"]
    assert df.loc[3, "erlang_pid"] == "<0.928.0>"
    assert df.loc[3, "message"] == "Peer discovery: checking for partitioned nodes to clean up."
    assert df.loc[3, "ts"] == ts("2025-11-08T13:12:24.748786Z")
    assert df.loc[5, "level"] == "info"  # [notice]


def test_modern_extracted_fields():
    df = parse("modern_3_12.log")
    published, consumed = df.iloc[8], df.iloc[9]
    assert (published["exchange"], published["routing_key"]) == ("prisma", "Algorithm.AlertReport.MLGround")
    assert consumed["queue"] == "prisma-210-1000-alerts"
    assert pd.isna(consumed["exchange"])
    conn = "10.42.1.9:43210 -> 10.42.0.15:5672"
    assert vals(df["connection"])[6:8] == [conn, conn]
    assert vals(df["user"])[6:8] == [None, "panda"]
    closing = df.iloc[10]
    assert closing["message"] == (
        "closing AMQP connection <0.1234.0> (10.42.1.9:43210 -> 10.42.0.15:5672, vhost: '/', "
        "user: 'panda'):\nclient unexpectedly closed TCP connection"
    )
    assert (closing["connection"], closing["user"], closing["level"]) == (conn, "panda", "warning")
    assert df.loc[11, "queue"] == "grpc-job-19-5"
    error = df.iloc[12]
    assert error["queue"] == "grpc-job-19-6"
    assert error["connection"] == "10.42.1.10:40000 -> 10.42.0.15:5672"
    assert error["message"].count("\n") == 1
    for column in ("exchange", "routing_key"):
        assert str(df[column].dtype) == "category"


def test_lager_format():
    df = parse("lager_3_8.log")
    assert len(df) == 4
    assert df.attrs["unparsed"] == 0
    assert df["log_format"].tolist() == ["modern"] * 4
    assert df["line_no"].tolist() == [1, 2, 3, 5]
    assert df["level"].tolist() == ["info", "info", "warning", "warning"]  # [warn] too
    assert df.loc[0, "ts"] == ts("2025-11-08T13:12:24.748Z")  # no offset: UTC
    assert df.loc[2, "message"].endswith(":\nclient unexpectedly closed TCP connection")
    assert df.loc[2, "user"] == "panda"
    assert vals(df["erlang_pid"]) == ["<0.928.0>"] * 3 + ["<0.32.0>"]


def test_legacy_format():
    df = parse("legacy_3_6.log")
    assert len(df) == 6
    assert df.attrs["unparsed"] == 1
    assert df.attrs["unparsed_sample"] == [f"{DATA / 'legacy_3_6.log'}:12: stray line outside any report"]
    assert df["log_format"].tolist() == ["legacy"] * 6
    assert df["line_no"].tolist() == [1, 5, 8, 14, 18, 22]
    assert df["level"].tolist() == ["info", "info", "warning", "error", "error", "error"]
    assert df["ts"].tolist() == [
        ts("2025-11-08T13:12:24Z"), ts("2025-11-08T13:12:25Z"), ts("2025-11-08T13:14:10.123Z"),
        ts("2025-11-08T13:15:00Z"), ts("2025-11-08T13:16:00Z"), ts("2025-11-08T13:16:00Z"),
    ]
    assert df.loc[0, "message"] == (
        "Starting RabbitMQ 3.6.16 on Erlang 20.3.8\nCopyright (C) 2007-2019 Pivotal Software, Inc."
    )
    assert df["erlang_pid"].isna().all()
    assert df.loc[2, "user"] == "panda"
    assert df.loc[3, "queue"] == "grpc-job-19-6"
    assert df.loc[4, "message"].split("\n") == [
        "crasher:", "    initial call: rabbit_reader:init/4", "    pid: <0.1600.0>",
    ]


def test_pod_log_with_kubelet_prefix_ansi_and_junk():
    df = parse(POD_LOG)
    assert len(df) == 3
    assert df.attrs["unparsed"] == 1
    assert df["pod"].tolist() == ["rabbitmq-panda-0"] * 3
    assert df["container"].tolist() == ["rabbitmq"] * 3
    # the server's own time wins over the kubelet's
    assert df.loc[0, "ts"] == ts("2025-11-08T13:12:24.748786Z")
    assert df.loc[2, "ts"] == ts("2025-11-08T13:12:29.999999Z")
    assert df.loc[2, "level"] == "warning"
    assert df.loc[2, "message"].endswith("):\nclient unexpectedly closed TCP connection")
    assert "\x1b" not in df.loc[2, "message"]


def test_seed_publish_trace_without_time():
    df = parse("seed_publish_trace.log")
    assert len(df) == 2
    assert df["ts"].isna().all()
    assert df["level"].tolist() == ["info", "info"]
    assert df.loc[0, "exchange"] == "prisma"
    assert df.loc[0, "routing_key"] == "Algorithm.AlertReport.MLGround"
    assert df.loc[1, "queue"] == "prisma-210-1000-alerts"


def test_same_prefix_lager_lines_not_merged():
    # lager has no offset and millisecond times: equal prefixes are separate entries
    line = "2025-11-08 13:12:24.748 [info] <0.928.0> tick"
    df = pa.parse.rabbitmq_log(io.StringIO(f"{line}\n{line}\n"))
    assert len(df) == 2


def test_empty_and_missing():
    df = parse("empty.log")
    assert len(df) == 0
    assert df.attrs["unparsed"] == 0
    assert list(df.columns) == schema.RABBITMQ_LOG.names
    with pytest.raises(FileNotFoundError):
        pa.parse.rabbitmq_log(DATA / "absent.log")


def test_bad_month_and_unknown_level():
    text = (
        "=INFO REPORT==== 8-Foo-2025::13:12:24 ===\nmessage\n\n"
        "2025-11-08 13:12:24.748786+00:00 [bogus] <0.1.0> not a level\n"
    )
    df = pa.parse.rabbitmq_log(io.StringIO(text))
    schema.RABBITMQ_LOG.validate(df)
    assert len(df) == 1
    assert pd.isna(df.loc[0, "ts"])
    assert df.loc[0, "message"] == "message"
    # the bad month is counted (the entry has no time), and so is the unknown level's line
    assert df.attrs["unparsed"] == 2
    assert "time '8-Foo-2025::13:12:24' is not a real date" in df.attrs["unparsed_sample"][0]


# ------------------------------------------------------------------- properties
_REAL = [line for path in (DATA / "modern_3_12.log", DATA / "legacy_3_6.log", DATA / "lager_3_8.log")
         for line in path.read_text().splitlines()]


@settings(max_examples=150, deadline=None)
@given(st.lists(
    st.tuples(
        st.sampled_from(["", "2025-11-08T13:12:24.748900123Z "]),
        st.one_of(
            st.sampled_from(_REAL),
            st.tuples(st.sampled_from(_REAL), st.integers(0, 80)).map(lambda t: t[0][: t[1]]),
            st.text(st.characters(blacklist_categories=("Cs",)), max_size=60),
        ),
    ).map("".join),
    max_size=30,
))
def test_property_text(lines):
    text = "\n".join(lines)
    df = pa.parse.rabbitmq_log(io.StringIO(text))
    schema.RABBITMQ_LOG.validate(df)
    nonblank = sum(1 for line in iter_lines(text) if not _is_blank(line.text))
    assert len(df) + df.attrs["unparsed"] <= nonblank + text.count(" [")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 10**6), max_size=20), st.lists(st.binary(min_size=1, max_size=30), max_size=5))
def test_property_every_entry_counted(micros, junk):
    # distinct single-line entries and control-character junk: rows + unparsed == lines
    lines = [f"2025-11-08 13:12:24.{m:06d}+00:00 [info] <0.{i}.0> entry {i}" for i, m in enumerate(micros)]
    # junk is control characters within a line (lone CRs would be line ends in a CR-only file)
    lines += ["\x00" + j.decode("latin-1").replace("\n", " ").replace("\r", " ") for j in junk]
    df = pa.parse.rabbitmq_log(io.StringIO("\n".join(lines)))
    schema.RABBITMQ_LOG.validate(df)
    assert len(df) == len(micros)
    assert df.attrs["unparsed"] == len(junk)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2000))
def test_property_bytes(data):
    df = pa.parse.rabbitmq_log(io.BytesIO(data))  # type: ignore[arg-type]
    schema.RABBITMQ_LOG.validate(df)


def test_huge_line():
    big = "2025-11-08 13:12:24.748786+00:00 [info] <0.1.0> " + "queue 'q' " * 20_000
    df = pa.parse.rabbitmq_log(io.StringIO(big + "\n"))
    assert len(df) == 1
    assert df.loc[0, "queue"] == "q"
    assert df.loc[0, "message"].endswith("chars]")
