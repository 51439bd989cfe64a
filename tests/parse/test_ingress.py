"""ingress-nginx parser: access lines (upstreaminfo, combined, JSON) and controller messages."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import panda_analysis as pa_
from panda_analysis import schema
from panda_analysis.parse import _ingress

DATA = Path(__file__).parents[1] / "data" / "ingress"
FILES = sorted(DATA.glob("*.log"))
UTC = "UTC"


def _ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_convert(UTC) if pd.Timestamp(text).tzinfo else pd.Timestamp(text, tz=UTC)


def _values(series: pd.Series) -> list[object]:
    """The values with every kind of null as None."""
    return [None if pd.isna(v) else v for v in series.tolist()]


def _both(source: Path | str) -> tuple[pd.DataFrame, pd.DataFrame]:
    frames = _ingress._frames(source)
    schema.INGRESS.validate(frames["ingress"])
    schema.INGRESS_MESSAGES.validate(frames["ingress_messages"])
    return frames["ingress"], frames["ingress_messages"]


def _non_blank(data: bytes) -> int:
    text = data.decode("utf-8", errors="replace")
    if text.count("\r") - text.count("\r\n") > text.count("\n"):  # lone CR line ends (_lines.read_pieces)
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    count = 0
    for line in lines:
        line = line[:-1] if line.endswith("\r") else line
        match = _ingress._KUBELET.match(line)
        rest = line[match.end() :] if match else line
        count += bool(line.strip()) and bool(rest.strip())
    return count


# ---------------------------------------------------------------- formats
def test_seed_line_field_by_field() -> None:
    df, messages = _both(DATA / "upstreaminfo_seed.log")
    assert len(df) == 2
    assert len(messages) == 0
    assert df.attrs["unparsed"] == 0
    row = df.iloc[0]
    assert row["ts"] == _ts("2025-11-13T12:08:41Z")
    assert row["source"] == str(DATA / "upstreaminfo_seed.log")
    assert row["line_no"] == 1
    assert row["log_format"] == "upstreaminfo"
    assert row["remote_addr"] == "10.42.0.0"
    assert pd.isna(row["remote_user"])
    assert (row["method"], row["path"], row["protocol"]) == (
        "POST",
        "/prisma/api/prisma-210-1000/api/push-to-rabbit",
        "HTTP/1.1",
    )
    assert pd.isna(row["query"])
    assert row["route"] == "/prisma/api/prisma-210-1000/api/push-to-rabbit"
    assert (row["status"], row["body_bytes"], row["request_length_bytes"]) == (201, 450, 902)
    assert pd.isna(row["referer"])
    assert row["user_agent"] == "python-requests/2.32.5"
    assert row["request_time_s"] == 0.106
    assert row["proxy_upstream_name"] == "webapp-webapp-pz-web-webapp-ui-80"
    assert pd.isna(row["proxy_alternative_upstream_name"])
    assert (
        row["upstream_addr"],
        row["upstream_response_length"],
        row["upstream_response_time"],
        row["upstream_status"],
    ) == (
        "10.42.1.9:80",
        "450",
        "0.106",
        "201",
    )
    assert (row["upstream_count"], row["upstream_response_length_bytes"], row["upstream_status_code"]) == (1, 450, 201)
    assert row["upstream_response_time_s"] == 0.106
    assert row["request_id"] == "80e1da9a6d866cc1ede71922a8232394"
    second = df.iloc[1]
    assert (second["status"], second["referer"], second["route"]) == (
        206,
        "http://10.10.10.100/prisma/",
        "/assets/sounds/alert_sound.mp3",
    )
    assert second["user_agent"] == "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0"


def test_kubelet_prefix_routes_queries_and_canary() -> None:
    df, _ = _both(DATA / "upstreaminfo_kubelet.log")
    assert df["line_no"].tolist() == [1, 2, 3, 4]
    # the application's own time wins over the kubelet prefix
    assert df["ts"].tolist() == [_ts(f"2025-11-08T13:18:{s}Z") for s in (33, 35, 36, 37)]
    assert df["status"].tolist() == [503, 503, 404, 200]
    assert df["route"].tolist() == [
        "/focus-server/configure",
        "/focus-server/configure",
        "/focus-server/metadata/{job_id}",
        "/focus-server/channels",
    ]
    assert df["path"].iloc[2] == "/focus-server/metadata/19-5"
    assert df["query"].iloc[3] == "start=1&end=50"
    assert df["proxy_alternative_upstream_name"].iloc[3] == "canary-focus-5000"
    assert df.attrs["unparsed"] == 0


def test_multi_upstream_lists_are_summarised() -> None:
    df, _ = _both(DATA / "upstreaminfo_multi_upstream.log")
    assert df["upstream_addr"].tolist() == [
        "10.0.0.1:80, 10.0.0.2:80",
        "10.0.0.1:80, 10.0.0.2:80 : 10.0.0.3:80",
        "10.0.0.3:80",
    ]
    assert df["upstream_status"].tolist() == ["502, 201", "504, 502 : 200", "200"]
    assert df["upstream_response_length"].tolist() == ["0, 450", "-, 0 : 1184", "1184"]
    assert df["upstream_response_time"].tolist() == ["0.004, 0.106", "1.001, 0.100 : 0.109", "0.009"]
    assert df["upstream_count"].tolist() == [2, 3, 1]
    assert df["upstream_status_code"].tolist() == [201, 200, 200]
    assert df["upstream_response_length_bytes"].tolist() == [450, 1184, 1184]
    np.testing.assert_allclose(df["upstream_response_time_s"], [0.110, 1.210, 0.009])
    assert df["request_id"].tolist() == [
        "c0ffee00c0ffee00c0ffee00c0ffee00",
        "d00dfeedd00dfeedd00dfeedd00dfeed",
        "e00dfeedd00dfeedd00dfeedd00dfeed",
    ]


def test_requests_without_upstream_and_garbage_request_lines() -> None:
    df, _ = _both(DATA / "upstreaminfo_no_upstream.log")
    assert df["status"].tolist() == [499, 400, 400, 400, 504]
    assert df["upstream_count"].tolist() == [0, 0, 0, 0, 1]
    assert df["upstream_addr"].isna().tolist() == [True, True, True, True, False]
    assert df["upstream_status_code"].isna().tolist() == [True, True, True, True, False]
    assert df["upstream_response_time_s"].isna().tolist() == [True, True, True, True, False]
    # TLS bytes on the plain port, "-" and "": no method / path / route
    assert df["method"].isna().tolist() == [False, True, True, True, False]
    assert df["path"].isna().tolist() == [False, True, True, True, False]
    assert df["route"].iloc[4] == "/focus-server/metadata/{job_id}"
    assert df["proxy_upstream_name"].isna().tolist() == [False, True, True, True, False]
    assert df["user_agent"].isna().tolist() == [False, True, True, True, False]
    assert df["request_time_s"].iloc[4] == 60.002
    assert df.attrs["unparsed"] == 0


def test_ipv6_clients() -> None:
    df, _ = _both(DATA / "ipv6.log")
    assert df["remote_addr"].tolist() == ["2001:db8::1", "::1"]
    assert df["upstream_addr"].iloc[0] == "[fd00:10:42::9]:80"
    assert df["protocol"].tolist() == ["HTTP/2.0", "HTTP/1.1"]


def test_escaped_quotes_are_unescaped() -> None:
    df, _ = _both(DATA / "escaped_quotes.log")
    assert df["user_agent"].tolist() == ['Mozilla/5.0 "quoted" agent При', 'Mozilla/5.0 "json escaped" agent', '"']
    assert df["referer"].iloc[0] == 'http://10.10.10.100/prisma/?q="x"'
    assert (df["path"].iloc[0], df["query"].iloc[0]) == ("/prisma/", 'q="alert"')
    assert _values(df["remote_user"]) == ["alice", None, None]
    assert df.attrs["unparsed"] == 0


def test_combined_format() -> None:
    df, _ = _both(DATA / "combined.log")
    assert df["log_format"].tolist() == ["combined", "combined"]
    assert _values(df["remote_user"]) == [None, "bob"]
    assert _values(df["query"]) == [None, "dry_run=1"]
    assert _values(df["referer"]) == [None, "http://10.10.10.100/"]
    # combined has no upstream fields at all: null, not 0
    assert df["upstream_count"].isna().all()
    assert df["request_time_s"].isna().all()
    assert df["request_id"].isna().all()


def test_time_local_offsets_to_utc_and_invalid_dates_fall_back_to_kubelet() -> None:
    df, _ = _both(DATA / "time_offsets.log")
    assert df["ts"].tolist() == [
        _ts("2025-11-08T13:18:33Z"),
        _ts("2025-11-08T13:18:33Z"),
        _ts("2025-12-31T20:00:00Z"),
        _ts("2025-11-08T13:18:33Z"),  # 31/Nov does not exist: the kubelet prefix is used
    ]


def test_missing_req_id() -> None:
    df, _ = _both(DATA / "missing_req_id.log")
    assert len(df) == 2
    assert df["request_id"].isna().all()
    assert df["upstream_status_code"].tolist() == [200, 200]


def test_json_lines() -> None:
    df, _ = _both(DATA / "json.log")
    assert df["line_no"].tolist() == [1, 2, 3, 4, 6]
    assert df["log_format"].unique().tolist() == ["json"]
    assert df["ts"].tolist() == [
        _ts("2025-11-08T13:26:00Z"),
        _ts("2025-11-08T13:26:01Z"),
        _ts("2025-11-08T13:26:02Z"),
        _ts("2025-11-08T13:26:03.5Z"),
        _ts("2025-11-08T13:26:04Z"),
    ]
    assert _values(df["status"]) == [503, 200, 499, 200, None]
    assert df["method"].tolist() == ["POST", "GET", "GET", "GET", "GET"]
    assert df["path"].iloc[1] == "/focus-server/metadata/19-5"
    assert df["query"].iloc[1] == "verbose=1"
    assert df["route"].iloc[1] == "/focus-server/metadata/{job_id}"
    assert df["remote_addr"].iloc[1] == "2001:db8::1"
    assert df["user_agent"].iloc[1] == 'ua "quoted"'
    assert df["referer"].iloc[0] is None or pd.isna(df["referer"].iloc[0])
    assert _values(df["upstream_count"]) == [1, 2, 0, None, None]
    assert _values(df["upstream_status_code"]) == [503, 200, None, None, None]
    assert _values(df["request_id"]) == [
        "ffff0000aaaa1111bbbb2222cccc3333",
        "0000ffff1111aaaa2222bbbb3333cccc",
        None,
        None,
        None,
    ]
    np.testing.assert_allclose(df["request_time_s"], [0.012, 0.003, np.nan, np.nan, 0.001])
    assert df.attrs["unparsed"] == 2
    assert df.attrs["unparsed_sample"][1] == f"{DATA / 'json.log'}:7: {{broken json"


def test_controller_messages_and_banner() -> None:
    df, messages = _both(DATA / "controller_messages.log")
    assert len(df) == 1
    assert df["line_no"].tolist() == [13]
    assert df.attrs["unparsed"] == 4  # the NGINX Ingress controller banner
    assert df.attrs["unparsed_sample"][1] == f"{DATA / 'controller_messages.log'}:2: NGINX Ingress controller"
    assert messages.attrs["unparsed"] == 0
    assert messages["line_no"].tolist() == [5, 6, 7, 8, 9, 10, 11, 12]
    assert messages["kind"].tolist() == ["klog"] * 4 + ["nginx_error"] * 4
    assert messages["level"].tolist() == [
        "info",
        "warning",
        "error",
        "critical",
        "error",
        "warning",
        "critical",
        "info",
    ]
    assert messages["location"].tolist()[:5] == [
        "controller.go:190",
        "controller.go:1214",
        "queue.go:131",
        "main.go:64",
        "41#41: *12345",
    ]
    assert messages["location"].iloc[7] == "41#41"
    assert messages["message"].iloc[0] == "Configuration changes detected, backend reload required"
    assert (
        messages["message"].iloc[2]
        == '"requeuing" err="error reloading nginx: exit status 1" key="kube-system/ingress-nginx-controller"'
    )
    assert (
        messages["message"].iloc[4]
        == "upstream prematurely closed connection while reading response header from upstream"
    )
    error = messages.iloc[4]
    assert (error["client"], error["server"], error["request"], error["upstream"]) == (
        "10.42.0.0",
        "_",
        "POST /focus-server/configure HTTP/1.1",
        "http://10.42.2.17:5000/configure",
    )
    assert messages["server"].iloc[6] == "0.0.0.0:443"
    assert pd.isna(messages["request"].iloc[6])
    assert messages["ts"].tolist()[:5] == [
        _ts("2025-11-08T13:18:33.123456Z"),
        _ts("2025-11-08T13:18:33.223456Z"),
        _ts("2025-11-08T13:18:34.000001Z"),
        _ts("2025-11-08T13:18:34.5Z"),
        _ts("2025-11-08T13:18:35Z"),
    ]


def test_klog_year_from_neighbouring_access_lines_across_new_year() -> None:
    df, messages = _both(DATA / "klog_no_prefix.log")
    assert df["ts"].tolist() == [_ts("2025-12-31T23:59:59Z")]
    assert messages["ts"].tolist() == [_ts("2025-12-31T23:59:58.000001Z"), _ts("2026-01-01T00:00:01.000001Z")]
    assert messages["message"].tolist() == ["before midnight", "after midnight"]


def test_klog_year_defaults_to_the_current_year() -> None:
    _, messages = _both(io.StringIO('I0615 10:00:00.000000       7 controller.go:190] "alone"\n'))
    now = pd.Timestamp.now(tz=UTC)
    assert messages["ts"].iloc[0].year in {now.year - 1, now.year, now.year + 1}
    assert abs(messages["ts"].iloc[0] - now) <= pd.Timedelta(days=366 // 2 + 1)
    assert (messages["ts"].iloc[0].month, messages["ts"].iloc[0].day) == (6, 15)


def test_mixed_prefixes_and_line_numbers() -> None:
    df, _ = _both(DATA / "mixed_prefix.log")
    assert df["path"].tolist() == ["/a", "/b", "/c", "/d"]
    assert df["line_no"].tolist() == [1, 2, 3, 4]
    assert df["log_format"].tolist() == ["upstreaminfo"] * 3 + ["combined"]
    assert df.attrs["unparsed"] == 1  # an unescaped quote inside the request line
    assert df.attrs["unparsed_sample"][0].startswith(f"{DATA / 'mixed_prefix.log'}:5: 10.42.0.0 - - ")


def test_crlf_line_endings() -> None:
    df, _ = _both(DATA / "crlf.log")
    assert df["request_id"].tolist() == ["1234", "5678"]
    assert df.attrs["unparsed"] == 0


def test_bad_bytes_and_truncated_last_line() -> None:
    df, messages = _both(DATA / "bad_bytes_truncated.log")
    assert df["line_no"].tolist() == [1, 4]
    assert df["path"].iloc[0] == "/\ufffd\ufffd"
    assert len(messages) == 0
    assert df.attrs["unparsed"] == 2
    assert [s.split(": ", 1)[0] for s in df.attrs["unparsed_sample"]] == [
        f"{DATA / 'bad_bytes_truncated.log'}:2",
        f"{DATA / 'bad_bytes_truncated.log'}:5",
    ]


def test_empty_inputs_give_empty_typed_frames() -> None:
    for source in (DATA / "empty.log", io.StringIO(""), io.StringIO("\n\n   \n")):
        df, messages = _both(source)
        assert len(df) == 0
        assert len(messages) == 0
        assert df.attrs["unparsed"] == 0


def test_missing_path_raises() -> None:
    with pytest.raises(FileNotFoundError, match=r"no-such\.log"):
        pa_.parse.ingress(str(DATA / "no-such.log"))


def test_public_functions_and_bundle(make_bundle) -> None:
    seed = (DATA / "upstreaminfo_kubelet.log").read_text()
    root = make_bundle(
        {
            "logs/kube-system/ingress-nginx-controller-7d9f8c6b5-x2x9k/controller.log": seed,
            "logs/kube-system/ingress-nginx-controller-7d9f8c6b5-x2x9k/controller.previous.log": (
                DATA / "controller_messages.log"
            ).read_text(),
        }
    )
    bundle = pa_.load_bundle(root)
    df = pa_.parse.ingress(bundle)
    messages = pa_.parse.ingress_messages(bundle)
    schema.INGRESS.validate(df)
    assert len(df) == 5
    assert set(df["namespace"]) == {"kube-system"}
    assert set(df["container"]) == {"controller"}
    assert set(df["pod"]) == {"ingress-nginx-controller-7d9f8c6b5-x2x9k"}
    by_file = df.groupby("is_previous", observed=True)["line_no"].apply(list).to_dict()
    assert by_file == {False: [1, 2, 3, 4], True: [13]}
    assert len(messages) == 8
    assert messages["is_previous"].all()
    assert messages["source"].iloc[0].endswith("controller.previous.log")
    frames = pa_.parse.frames(bundle)
    pd.testing.assert_frame_equal(frames.ingress, df)
    pd.testing.assert_frame_equal(frames.ingress_messages, messages)


# ---------------------------------------------------------------- fast path == per-line path
def _assert_paths_agree(source_factory) -> tuple[pd.DataFrame, pd.DataFrame]:
    fast = _ingress._frames(source_factory())
    slow = _ingress._frames(source_factory(), _slow=True)
    for name in ("ingress", "ingress_messages"):
        pd.testing.assert_frame_equal(fast[name], slow[name])
        assert fast[name].attrs == slow[name].attrs
    return fast["ingress"], fast["ingress_messages"]


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_fast_and_per_line_paths_agree_on_every_data_file(path: Path) -> None:
    _assert_paths_agree(lambda: path)


def _bench_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "ingress_bench", Path(__file__).parents[2] / "benchmarks" / "ingress_bench.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


#: Lines real controller logs hold besides access lines (prefixed or not when mixed in).
_DIRTY = [
    b"-------------------------------------------------------------------------------",
    b"NGINX Ingress controller",
    b"  Release:       v1.9.4",
    b"  Build:         git-8a9c7d2",
    b'I1113 12:00:01.000001       7 controller.go:190] "Configuration changes detected, backend reload required"',
    b'W1113 12:00:01.000000       7 controller.go:1214] Service "panda/panda" does not have any active Endpoint.',
    b"2025/11/13 12:00:01 [error] 41#41: *513279 upstream prematurely closed connection while reading response "
    b'header from upstream, client: 10.42.0.0, server: _, request: "POST /focus-server/configure HTTP/1.1", '
    b'upstream: "http://10.42.2.17:5000/configure", host: "10.10.10.100"',
    b'10.42.0.7 - - [13/Nov/2025:12:00:01 +0000] "GET /x"y" HTTP/1.1" 400 0 "-" "curl/8.5.0" 80 0.000 [] [] - - - - 00ff',
    b'10.42.0.7 - - [13/Nov/2025:12:00:01 +0000] "GET / HTTP/1.1" 200 1 "-" "a "quoted" agent" 80 0.001 [] [] - - - - 01',
    b'"',
    b'" "',
    b"\x00\x00\x00\x00 binary junk \x00",
    b'10.42.0.7 - - [13/Nov/2025:12:00:01 +0000] "GET /\x00 HTTP/1.1" 200 1 "-" "nul\x00agent" 80 0.001 [] [] - - - - 02',
    b'10.42.0.7 - - [13/Nov/2025:12:00:01 +0000] "GET / HTTP/1.1" 200 1 "-" "\xd0\x9f\xd1\x80\xd0" 80 0.001 [] [] - - - - 03',
    b'{"status": 200, "request": "GET /json HTTP/1.1", "time": "2025-11-13T12:00:01Z"}',
    b'10.42.0.7 - - [13/Nov/2025:12:00:01 +0000] "GET /cr HTTP/1.1" 200 1 "-" "lone\rcr" 80 0.001 [] [] - - - - 04',
]


def _cut_at_random_bytes(line: bytes, rng: np.random.Generator) -> list[bytes]:
    """``line`` cut at a random byte offset (maybe inside a UTF-8 character); sometimes its tail goes on."""
    at = int(rng.integers(1, max(2, len(line))))
    return [line[:at], line[at:]] if rng.random() < 0.5 else [line[:at]]


def _dirty_mix(tmp_path: Path) -> Path:
    """Generated access lines with and without the kubelet prefix, cut lines, odd quotes, banners, klog and
    ``[error]`` lines, NUL bytes, broken UTF-8 and every data file, mixed in one file."""
    bench = _bench_module()
    rng = np.random.default_rng(12)
    kubelet, plain = tmp_path / "kubelet.log", tmp_path / "plain.log"
    bench.generate(kubelet, 3000, seed=3, cut=0.01)
    bench.generate(plain, 1000, seed=4, kubelet=False, cut=0.01)
    lines = kubelet.read_bytes().splitlines()
    plain_lines = plain.read_bytes().splitlines()
    out: list[bytes] = []
    for i, line in enumerate(lines):
        roll = rng.random()
        if roll < 0.02:
            out += _cut_at_random_bytes(line, rng)
        elif roll < 0.05:
            dirty = _DIRTY[int(rng.integers(len(_DIRTY)))]
            out.append(line[:31] + dirty if rng.random() < 0.5 else dirty)
            out.append(line)
        else:
            out.append(line)
        if i % 3 == 0 and plain_lines:  # a run of lines without the prefix now and then
            out.append(plain_lines.pop())
    for data_file in FILES:  # every data file too, with and without prefixes
        out += data_file.read_bytes().replace(b"\r", b"").splitlines()
    path = tmp_path / "controller.log"
    path.write_bytes(b"\n".join(out) + b"\n")
    return path


def _watch_paths(monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], list[bool]]:
    """Record the lines the fast path hands to the per-line path, and whether each piece took it."""
    per_line: list[str] = []
    took_fast: list[bool] = []
    slow_rows, fast_piece = _ingress._slow_rows, _ingress._fast_piece

    def rows(lines, skipped):
        per_line.extend(text for _, text in lines)
        return slow_rows(lines, skipped)

    def piece(data, layout, ends):
        result = fast_piece(data, layout, ends)
        took_fast.append(result is not None)
        return result

    monkeypatch.setattr(_ingress, "_slow_rows", rows)
    monkeypatch.setattr(_ingress, "_fast_piece", piece)
    return per_line, took_fast


def test_paths_agree_on_a_dirty_mix_cut_into_many_pieces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _dirty_mix(tmp_path)
    data = path.read_bytes()
    assert data.count(b"\x00") > 5
    assert b"\xd0\n" in data or b'\xd0\x9f\xd1\x80\xd0"' in data
    whole, whole_messages = _assert_paths_agree(lambda: path)
    assert len(whole) > 3500
    assert set(whole_messages["kind"]) == {"klog", "nginx_error"}
    assert whole.attrs["unparsed"] > 100
    _, took_fast = _watch_paths(monkeypatch)
    monkeypatch.setattr(_ingress, "_PIECE_BYTES", 20_000)
    pieces, pieces_messages = _assert_paths_agree(lambda: path)
    assert len(took_fast) > 40
    assert all(took_fast)  # every piece took the vectorised path
    pd.testing.assert_frame_equal(whole, pieces)
    pd.testing.assert_frame_equal(whole_messages, pieces_messages)
    untimed = int(whole["ts"].isna().sum())
    assert len(whole) + len(whole_messages) + whole.attrs["unparsed"] - untimed == _non_blank(data)
    assert whole["line_no"].is_monotonic_increasing


@pytest.mark.parametrize("kubelet", [True, False], ids=["kubelet-prefix", "no-prefix"])
def test_a_cut_line_never_drags_its_neighbours_along(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kubelet: bool
) -> None:
    bench = _bench_module()
    intact, cut = tmp_path / "intact.log", tmp_path / "cut.log"
    bench.generate(intact, 4000, seed=5, kubelet=kubelet, cut=0)
    bench.generate(cut, 4000, seed=5, kubelet=kubelet, cut=0.01)
    layout = _ingress._detect(intact.read_bytes())
    assert layout == _ingress._Layout(19 + kubelet, kubelet=kubelet)
    whole = set(intact.read_text().splitlines())
    lines = cut.read_text().splitlines()
    damaged = {line for line in lines if line not in whole}
    assert len(damaged) > 40
    per_line, took_fast = _watch_paths(monkeypatch)
    monkeypatch.setattr(_ingress, "_PIECE_BYTES", 50_000)
    df = _ingress._frames(cut)["ingress"]
    assert len(took_fast) > 10
    assert all(took_fast)
    # the per-line path saw the damaged lines and the lines no layout fits (klog, [error], upstream
    # lists), never a line of the file's own layout
    fits = {
        line
        for line in lines
        if len(tokens := _ingress._tokenize(line)) == layout.ncols
        and _ingress._from_tokens(tokens[kubelet:], None) is not None
        and (not kubelet or _ingress._KUBELET_TOKEN.fullmatch(tokens[0]))
    }
    assert damaged - fits <= set(per_line)  # (a line cut inside its request id still fits)
    assert not fits & set(per_line)
    assert len(per_line) < 0.05 * len(lines)
    # and every line that fits is a row
    rows = {lines[n - 1] for n in df["line_no"].tolist()}
    assert fits <= rows


def _ends(data: bytes) -> np.ndarray:
    return np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)


def test_fast_path_is_taken_for_the_dominant_layout() -> None:
    data = (DATA / "upstreaminfo_kubelet.log").read_bytes()
    layout = _ingress._detect(data)
    assert layout == _ingress._Layout(20, kubelet=True)
    result = _ingress._fast_piece(data, layout, _ends(data))
    assert result is not None
    raw, messages, skipped = result
    assert raw.line_no.tolist() == [1, 2, 3, 4]
    assert (messages, skipped.count) == ([], 0)


def test_a_line_with_an_open_quote_costs_only_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    data = (DATA / "upstreaminfo_kubelet.log").read_bytes()
    layout = _ingress._detect(data)
    # pyarrow keeps a quote left open across line ends: line 1 would swallow lines 2-4
    swallowing = data.replace(b"a7b\n", b'a7b "oops\n', 1)
    assert _ingress._risky_lines(swallowing, _ends(swallowing)).tolist() == [0]
    per_line: list[int] = []
    slow_rows = _ingress._slow_rows
    monkeypatch.setattr(
        _ingress,
        "_slow_rows",
        lambda lines, skipped: (per_line.extend(n for n, _ in lines), slow_rows(lines, skipped))[1],
    )
    raw, _, skipped = _ingress._fast_piece(swallowing, layout, _ends(swallowing))
    assert raw.line_no.tolist() == [2, 3, 4]
    assert per_line == [1]  # only the bad line went the per-line way
    assert skipped.count == 1
    assert _ingress._frames(io.BytesIO(swallowing))["ingress"]["line_no"].tolist() == [2, 3, 4]
    # a lone carriage return ends a row in pyarrow but not a line: that line alone
    per_line.clear()
    lone_cr = data.replace(b" 503 96", b"\r503 96", 1)
    raw, _, _ = _ingress._fast_piece(lone_cr, layout, _ends(lone_cr))
    assert raw.line_no.tolist() == [2, 3, 4]
    assert per_line == [1]


@pytest.mark.parametrize(
    ("line", "risky"),
    [
        ('a "b c" d', False),
        ('a "b c"', False),
        ('"b c" d', False),
        ('a "b c"\r', False),  # CR LF line end: the \n follows
        ('a "b c', True),  # cut inside a quoted field
        ('a "b" "c', True),
        ('a"b "c', True),  # literal quote, then one left open: even count, still swallows
        ('a "b"c d', True),  # closing quote not at a field end
        ('a b"c d', True),  # quote inside a bare token
        ('{"status": 200}', True),
        ("a \rb", True),  # lone CR
        ('a "b c" d\x00"', True),
    ],
)
def test_risky_lines(line: str, risky: bool) -> None:
    data = f"ok line\n{line}\nok line\n".encode()
    assert _ingress._risky_lines(data, _ends(data)).tolist() == ([1] if risky else [])


def test_categories_do_not_depend_on_the_path() -> None:
    df, _ = _assert_paths_agree(lambda: DATA / "upstreaminfo_no_upstream.log")
    assert list(df["proxy_upstream_name"].cat.categories) == ["panda-panda-focus-server-5000"]
    assert str(df["route"].cat.categories.dtype) == "string"


# ---------------------------------------------------------------- properties
_PREFIX = st.sampled_from(["", "2025-11-08T13:18:33.123456789Z ", "2025-11-08T13:18:33Z ", "2025-13-45T99:99:99Z "])
_SEED = (DATA / "upstreaminfo_seed.log").read_text().splitlines()[0]
_LINES = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80),
    st.text(alphabet=' "\\-[]:,0123456789abcx\t', max_size=80),
    st.builds(lambda p, cut: p + _SEED[:cut], _PREFIX, st.integers(0, len(_SEED))),
    st.builds(
        lambda p, i, t: p + _SEED[:i] + t + _SEED[i:],
        _PREFIX,
        st.integers(0, len(_SEED)),
        st.text(' "\\-[],x', max_size=4),
    ),
    st.builds(lambda p, n: p + _SEED.replace("python-requests/2.32.5", "x" * n), _PREFIX, st.integers(0, 70_000)),
    st.just('I1108 13:18:33.123456       7 controller.go:190] "x"'),
    st.just('{"status": 200, "request": "GET / HTTP/1.1"}'),
    st.just('{"status": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[['),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(lines=st.lists(_LINES, max_size=12), ending=st.sampled_from(["\n", "\r\n"]), final=st.booleans())
def test_never_raises_validates_and_accounts_for_every_line(lines: list[str], ending: str, final: bool) -> None:
    text = ending.join(lines) + (ending if final and lines else "")
    df, messages = _assert_paths_agree(lambda: io.StringIO(text))
    schema.INGRESS.validate(df)
    schema.INGRESS_MESSAGES.validate(messages)
    # a row without any valid time is kept and also counted (never a silent null ts)
    untimed = int(df["ts"].isna().sum())
    assert len(df) + len(messages) + df.attrs["unparsed"] - untimed == _non_blank(text.encode("utf-8"))


@settings(max_examples=50, deadline=None)
@given(data=st.binary(max_size=400), seed_lines=st.integers(0, 3))
def test_random_bytes_never_raise(tmp_path_factory: pytest.TempPathFactory, data: bytes, seed_lines: int) -> None:
    path = tmp_path_factory.mktemp("bytes") / "controller.log"
    path.write_bytes((_SEED + "\n").encode() * seed_lines + data)
    df, messages = _assert_paths_agree(lambda: path)
    assert len(df) >= seed_lines
    assert len(df) + len(messages) + df.attrs["unparsed"] == _non_blank(path.read_bytes())


def _arrow_tokens(line: str, count: int) -> list[str] | None:
    rows: list[str] = []
    options = pacsv.ParseOptions(
        delimiter=" ",
        quote_char='"',
        double_quote=False,
        escape_char=False,
        newlines_in_values=False,
        ignore_empty_lines=False,
        invalid_row_handler=lambda row: rows.append(row.text) or "skip",
    )
    names = [f"t{i}" for i in range(count)]
    table = pacsv.read_csv(
        pa.BufferReader(line.encode()),
        parse_options=options,
        read_options=pacsv.ReadOptions(column_names=names, use_threads=False),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.large_string()), strings_can_be_null=False
        ),
    )
    return None if rows else [table.column(i)[0].as_py() for i in range(count)]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=' "ab\\-\t[]é,', min_size=1, max_size=30).filter(lambda s: s.strip(" ") != "" or '"' in s))
def test_tokenizer_matches_pyarrow(line: str) -> None:
    tokens = _ingress._tokenize(line)
    assert _arrow_tokens(line, len(tokens)) == tokens


def test_json_keys_as_people_configure_them() -> None:
    line = json.dumps(
        {
            "@timestamp": "2025-11-08T13:26:00.250Z",
            "client_ip": "10.0.0.5",
            "request_method": "GET",
            "request_uri": "/focus-server/metadata/7-2?x=1",
            "server_protocol": "HTTP/1.1",
            "status_code": 404,
            "bytes_sent": 12,
            "duration": 0.5,
            "x_request_id": "abc",
        }
    )
    df, _ = _both(io.StringIO(line + "\n"))
    row = df.iloc[0]
    assert row["ts"] == _ts("2025-11-08T13:26:00.250Z")
    assert (row["remote_addr"], row["method"], row["path"], row["query"]) == (
        "10.0.0.5",
        "GET",
        "/focus-server/metadata/7-2",
        "x=1",
    )
    assert (row["route"], row["status"], row["body_bytes"], row["request_time_s"], row["request_id"]) == (
        "/focus-server/metadata/{job_id}",
        404,
        12,
        0.5,
        "abc",
    )


def test_lines_longer_than_a_piece(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "controller.log"
    path.write_bytes((DATA / "upstreaminfo_kubelet.log").read_bytes() + (DATA / "controller_messages.log").read_bytes())
    expected = _ingress._frames(path)
    monkeypatch.setattr(_ingress, "_PIECE_BYTES", 64)
    pieces = list(_ingress.resolve_sources(path, "ingress")[0].pieces(piece_bytes=_ingress._PIECE_BYTES))
    assert len(pieces) >= 10
    assert all(piece.endswith(b"\n") for piece in pieces)
    assert b"".join(pieces) == path.read_bytes()
    got = _ingress._frames(path)
    for name in ("ingress", "ingress_messages"):
        pd.testing.assert_frame_equal(got[name], expected[name])
        assert got[name].attrs == expected[name].attrs


@pytest.mark.parametrize("size", [0, 1, 7, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3 * (1 << 20) + 17])
def test_positions_scanned_in_blocks_equal_one_scan(size: int) -> None:
    # the block-wise scan (small temporaries) finds what one whole-array scan finds, at block edges too
    rng = np.random.default_rng(size)
    arr = rng.integers(0, 256, size, dtype=np.uint8)
    if size:
        arr[[0, size - 1, min(size - 1, 1 << 20), min(size - 1, (1 << 20) - 1)]] = 10
    for byte in (10, 13, 34):
        assert np.array_equal(_ingress._positions(arr, byte), np.flatnonzero(arr == byte))
