"""Pasted `kubectl get pods` text (plain, -A, -o wide, re-flowed)."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import panda_analysis as pa
from panda_analysis import schema

DATA = Path(__file__).resolve().parents[1] / "data" / "k8s"
NOW = "2025-11-08T13:25:00Z"


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_convert("UTC")


def row(df: pd.DataFrame, pod: str) -> pd.Series:
    rows = df[df["pod"] == pod]
    assert len(rows) == 1
    return rows.iloc[0]


def test_seed_listing_with_command_line():
    df = pa.parse.pods_text(DATA / "pods_seed.txt", now=NOW)
    schema.PODS_TEXT.validate(df)
    assert df.attrs["unparsed"] == 0
    assert len(df) == 7
    assert df["line_no"].tolist() == [3, 4, 5, 6, 7, 8, 9]  # line 1 is the command, 2 the header
    assert (df["source"] == str(DATA / "pods_seed.txt")).all()
    assert (df["ts"] == ts(NOW)).all()
    assert df["namespace"].isna().all()

    seed = row(df, "panda-panda-focus-server-78dbcfd9d9-kjj77")
    assert (seed["ready"], seed["ready_count"], seed["container_count"]) == ("1/1", 1, 1)
    assert (seed["status"], seed["restart_count"]) == ("Running", 4)
    assert seed["last_restart_ago_s"] == 28 * 3600
    assert seed["last_restart_at"] == ts("2025-11-07T09:25:00Z")
    assert seed["age_s"] == 46 * 3600
    assert pd.isna(seed["node"])
    assert pd.isna(seed["pod_ip"])

    crash = row(df, "panda-panda-focus-server-78dbcfd9d9-x7v2q")
    assert (crash["status"], crash["restart_count"], crash["last_restart_ago_s"]) == ("CrashLoopBackOff", 12, 200.0)
    assert crash["last_restart_at"] == ts("2025-11-08T13:21:40Z")
    assert crash["age_s"] == 27 * 60

    assert row(df, "rabbitmq-panda-0")["last_restart_ago_s"] == (2 * 24 + 4) * 3600
    assert row(df, "rabbitmq-panda-0")["age_s"] == (2 * 24 + 5) * 3600
    assert row(df, "mongodb-0")["age_s"] == 120 * 86400
    assert row(df, "grpc-job-19-5-cj8hc")["age_s"] == 330.0
    completed = row(df, "grpc-job-19-4-7tq2m")
    assert completed["status"] == "Completed"
    assert completed["restart_count"] == 0
    assert pd.isna(completed["last_restart_ago_s"])
    assert pd.isna(completed["last_restart_at"])
    init = row(df, "panda-panda-segy-recorder-5c9f7d8b6-2hw4n")
    assert init["status"] == "Init:0/1"
    assert pd.isna(init["age_s"])  # <invalid>


def test_without_an_observation_time_the_times_are_null():
    df = pa.parse.pods_text(DATA / "pods_seed.txt")
    assert df["ts"].isna().all()
    assert df["last_restart_at"].isna().all()
    assert row(df, "panda-panda-focus-server-78dbcfd9d9-kjj77")["last_restart_ago_s"] == 100800.0


def test_all_namespaces():
    df = pa.parse.pods_text(DATA / "pods_all_namespaces.txt", now=pd.Timestamp(NOW))
    schema.PODS_TEXT.validate(df)
    assert df.attrs["unparsed"] == 0
    assert df["namespace"].tolist() == ["kube-system", "kube-system", "panda", "panda"]
    assert df["pod"].tolist()[0] == "ingress-nginx-controller-6b8f9c7d5-zx2lp"
    coredns = row(df, "coredns-7b98449c4-h5xkq")
    assert (coredns["restart_count"], coredns["last_restart_ago_s"]) == (3, 46 * 3600)
    assert pd.isna(row(df, "grpc-job-19-7-q4zrt")["age_s"])  # <unknown>
    assert df["line_no"].tolist() == [3, 4, 5, 6]


def test_wide_output_with_multi_word_headers():
    df = pa.parse.pods_text(io.StringIO((DATA / "pods_wide.txt").read_text(encoding="utf-8")), now=NOW)
    schema.PODS_TEXT.validate(df)
    assert df.attrs["unparsed"] == 0
    assert len(df) == 4
    job = row(df, "grpc-job-19-5-cj8hc")
    assert (job["pod_ip"], job["node"]) == ("10.42.1.9", "worker-2")
    pending = row(df, "grpc-job-19-7-q4zrt")
    assert pd.isna(pending["pod_ip"])
    assert pd.isna(pending["node"])
    assert pending["age_s"] == 180.0
    focus = row(df, "panda-panda-focus-server-78dbcfd9d9-kjj77")
    assert (focus["restart_count"], focus["node"], focus["pod_ip"]) == (4, "worker-1", "10.42.0.15")
    assert row(df, "rabbitmq-panda-0")["status"] == "Running"


def test_no_resources_message_is_not_a_pod_nor_unparsed():
    df = pa.parse.pods_text(DATA / "pods_no_resources.txt", now=NOW)
    schema.PODS_TEXT.validate(df)
    assert len(df) == 0
    assert df.attrs["unparsed"] == 0


def test_reflowed_paste_uses_the_whitespace_fallback():
    df = pa.parse.pods_text(DATA / "pods_reflowed.txt", now=NOW)
    schema.PODS_TEXT.validate(df)
    assert df.attrs["unparsed"] == 0
    assert df["pod"].tolist() == ["panda-panda-focus-server-78dbcfd9d9-kjj77", "grpc-job-19-5-cj8hc"]
    assert df["restart_count"].tolist() == [4, 0]
    assert df["last_restart_ago_s"].tolist()[0] == 100800.0
    assert df["age_s"].tolist() == [165600.0, 330.0]


def test_garbage_lines_are_counted():
    df = pa.parse.pods_text(DATA / "pods_garbage.txt", now=NOW)
    schema.PODS_TEXT.validate(df)
    assert df["pod"].tolist() == ["grpc-job-19-4-7tq2m", "grpc-job-19-5-cj8hc"]
    assert df.attrs["unparsed"] == 3  # klog error, "four" restarts, "Unable to connect"
    samples = df.attrs["unparsed_sample"]
    assert samples[0].startswith(f"{DATA / 'pods_garbage.txt'}:4: E1108 13:25:02.118733")
    assert samples[1].startswith(f"{DATA / 'pods_garbage.txt'}:6: panda-panda-focus-server")
    assert samples[2].endswith(":7: Unable to connect to the server: net/http: TLS handshake timeout")


def test_misaligned_row_under_a_header_falls_back_to_tokens():
    text = "NAME                  READY   STATUS    RESTARTS   AGE\ngrpc-job-19-5-cj8hc 1/1 Running 2 (5m ago) 1h\n  \n"
    df = pa.parse.pods_text(io.StringIO(text), now=NOW)
    assert df["pod"].tolist() == ["grpc-job-19-5-cj8hc"]
    assert df["last_restart_at"].tolist() == [ts("2025-11-08T13:20:00Z")]
    assert df.attrs["unparsed"] == 0


def test_bundle_uses_the_manifest_time(make_bundle):
    root = make_bundle({"k8s/pods.txt": (DATA / "pods_seed.txt").read_text(encoding="utf-8")})
    bundle = pa.load_bundle(root)
    df = pa.parse.pods_text(bundle)
    assert (df["ts"] == ts("2025-11-08T13:25:00Z")).all()
    assert (df["source"] == "k8s/pods.txt").all()
    later = pa.parse.pods_text(bundle, now="2025-11-08T14:25:00Z")
    assert row(later, "panda-panda-focus-server-78dbcfd9d9-kjj77")["last_restart_at"] == ts("2025-11-07T10:25:00Z")


def test_bundle_without_manifest_time_has_null_ts(make_bundle):
    root = make_bundle({"k8s/pods.txt": (DATA / "pods_seed.txt").read_text(encoding="utf-8")}, manifest=None)
    df = pa.parse.pods_text(pa.load_bundle(root))
    assert len(df) == 7
    assert df["ts"].isna().all()


def test_empty_and_header_only():
    for text in ("", "\n\n", "NAME   READY   STATUS   RESTARTS   AGE\n"):
        df = pa.parse.pods_text(io.StringIO(text))
        schema.PODS_TEXT.validate(df)
        assert len(df) == 0
        assert df.attrs["unparsed"] == 0


# --------------------------------------------------------------------------- properties

NAMES = st.from_regex(r"[a-z][a-z0-9-]{0,40}[a-z0-9]", fullmatch=True)
DURATIONS = st.tuples(st.integers(0, 3), st.integers(0, 23), st.integers(0, 59), st.integers(0, 59)).filter(any)


def _human(d: int, h: int, m: int, s: int) -> tuple[str, float]:
    text = "".join(f"{n}{unit}" for n, unit in ((d, "d"), (h, "h"), (m, "m"), (s, "s")) if n)
    return text, float(((d * 24 + h) * 60 + m) * 60 + s)


@settings(max_examples=60, deadline=None)
@given(
    pods=st.lists(
        st.tuples(
            NAMES,
            st.integers(0, 5),
            st.integers(1, 5),
            st.sampled_from(["Running", "CrashLoopBackOff", "Init:0/1"]),
            st.integers(0, 999),
            DURATIONS,
            DURATIONS,
            st.booleans(),
        ),
        min_size=1,
        max_size=5,
    ),
    pad=st.integers(1, 6),
)
def test_generated_listings_round_trip(pods, pad):
    cells = [["NAME", "READY", "STATUS", "RESTARTS", "AGE"]]
    expected = []
    for name, ready, total, status, restarts, ago, age, with_ago in pods:
        ago_text, ago_s = _human(*ago)
        age_text, age_s = _human(*age)
        restarts_text = f"{restarts} ({ago_text} ago)" if with_ago else str(restarts)
        cells.append([name, f"{ready}/{total}", status, restarts_text, age_text])
        expected.append((name, ready, total, restarts, ago_s if with_ago else None, age_s))
    widths = [max(len(r[i]) for r in cells) + pad for i in range(5)]
    text = "\n".join("".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells)
    df = pa.parse.pods_text(io.StringIO(text), now=NOW)
    schema.PODS_TEXT.validate(df)
    assert df.attrs["unparsed"] == 0
    got = [
        (
            r.pod,
            r.ready_count,
            r.container_count,
            r.restart_count,
            None if pd.isna(r.last_restart_ago_s) else r.last_restart_ago_s,
            r.age_s,
        )
        for r in df.itertuples()
    ]
    assert got == expected


LINES = st.lists(
    st.one_of(
        st.text(max_size=80),
        st.sampled_from(
            [
                "NAME   READY   STATUS   RESTARTS   AGE",
                "NAMESPACE   NAME   READY   STATUS   RESTARTS   AGE   IP   NODE   NOMINATED NODE   READINESS GATES",
                "panda-panda-focus-server-78dbcfd9d9-kjj77   1/1     Running   4 (28h ago)   46h",
                "x 1/1 Running 4 (28h ago",
                "2025-11-08T13:18:33.123456789Z x 1/1 Running 0 5m",
                "$ kubectl get pods -n panda",
            ]
        ),
        st.text(alphabet="ab1/ ()", max_size=40),
        st.just("y" * 70_000),
    ),
    max_size=10,
)


@settings(max_examples=80, deadline=None)
@given(lines=LINES)
def test_random_text_never_raises(lines):
    text = "\n".join(lines)
    df = pa.parse.pods_text(io.StringIO(text), now=NOW)
    schema.PODS_TEXT.validate(df)
    physical = text.split("\n")
    nonblank = sum(1 for line in physical if line.replace("\r", "").strip())
    assert len(df) + df.attrs["unparsed"] <= nonblank


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=300))
def test_random_bytes_never_raise(data, tmp_path_factory):
    path = tmp_path_factory.mktemp("txt") / "pods.txt"
    path.write_bytes(data)
    df = pa.parse.pods_text(path)
    schema.PODS_TEXT.validate(df)


def test_invalid_now_is_an_error():
    with pytest.raises(ValueError, match="is not a time"):
        pa.parse.pods_text(io.StringIO(""), now="yesterday")
