"""Hostile and broken bundles (issue #11): links out, special files, no evidence, lone CRs,
overlong lines, capped and unreadable files, failing rules and parsers.

Each test plants one thing a bundle handed over by someone else can hold and checks the
tool neither follows it, nor blocks, nor crashes, nor loses evidence silently.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import panda_analysis as pa
from panda_analysis import _lines, cli
from panda_analysis.errors import BundleError
from panda_analysis.findings import Code

MANIFEST = {"format": "panda-bundle/1", "created_at": "2025-11-08T13:25:00Z", "source": "test"}
FOCUS = "logs/panda/panda-panda-focus-server-78dbcfd9d9-kjj77/focus-server.log"
INGRESS = "logs/kube-system/ingress-nginx-controller-55694fd6ff-rqgp9/controller.log"
ANALYZER = "logs/panda/grpc-job-20-1-h7x2k/baby-analyzer.log"
SECRET = "root:x:0:0:MARKER-OUTSIDE-THE-BUNDLE"
FOCUS_LINE = (
    "2025-11-08T13:18:00.414756434Z 2025-11-08T13:18:00+0000 ERROR pz.focus_server Cannot configure job - "
    "validation failed: Cannot proceed: Missing required fiber metadata fields: prr"
)
INGRESS_LINE = (
    '10.42.0.0 - - [08/Nov/2025:13:18:00 +0000] "POST /focus-server/configure HTTP/1.1" 503 114 "-" '
    '"python-requests/2.32.5" 439 0.005 [panda-panda-focus-server-5000] [] 10.42.1.14:5000 114 0.004 503 '
    "5d3b1bf5439bc6ad2810296356ca3c01"
)


def _diagnose(*args: str) -> tuple[int, str, str]:
    """``panda-analysis diagnose ARGS`` in a subprocess (exit status, stdout, stderr)."""
    proc = subprocess.run(
        [sys.executable, "-m", "panda_analysis", "diagnose", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )
    return proc.returncode, proc.stdout, proc.stderr


def _all_text(frames: pa.Frames) -> str:
    return "\n".join(df.astype("string").fillna("").to_csv() for _, df in frames.items())


# ------------------------------------------------------------------ links and special files
def test_a_link_out_of_a_directory_bundle_is_refused_listed_and_never_read(make_bundle, tmp_path):
    outside = tmp_path / "passwd"
    outside.write_text(SECRET + "\n", encoding="utf-8")
    root = make_bundle({FOCUS: FOCUS_LINE + "\n"})
    link = root / "logs/panda/focus-server-2/focus-server.log"
    link.parent.mkdir(parents=True)
    link.symlink_to(outside)
    (root / "k8s").mkdir()
    (root / "k8s/pods.json").symlink_to(outside)  # a fixed-path part as a link out
    bundle = pa.load_bundle(root)
    refused = dict(bundle.refused())
    assert set(refused) == {"logs/panda/focus-server-2/focus-server.log", "k8s/pods.json"}
    assert all("leaves the bundle" in why for why in refused.values())
    assert "logs/panda/focus-server-2/focus-server.log" not in bundle.files()
    assert SECRET not in _all_text(bundle.frames())
    inv = bundle.inventory().set_index("part")
    assert inv.loc["refused", "files"] == 2
    assert "leaves the bundle" in inv.loc["refused", "unparsed_sample"]
    with pytest.raises(BundleError, match="leaves the bundle"):
        bundle.path_of("k8s/pods.json")
    code, out, _ = _diagnose(str(root))
    assert code in (0, 1)
    assert "2 refused" in out
    assert SECRET not in out


def test_a_link_inside_the_bundle_is_followed(make_bundle):
    root = make_bundle({"logs/panda/panda-panda-focus-server-1/real.txt": FOCUS_LINE + "\n"})
    link = root / "logs/panda/panda-panda-focus-server-1/focus-server.log"
    link.symlink_to("real.txt")
    bundle = pa.load_bundle(root)
    assert bundle.refused() == []
    assert "logs/panda/panda-panda-focus-server-1/focus-server.log" in bundle.files()
    focus = bundle.frames().focus
    assert (focus["source"] == "logs/panda/panda-panda-focus-server-1/focus-server.log").sum() == 1


def test_links_to_directories_and_path_escapes_are_refused(make_bundle, tmp_path):
    outside = tmp_path / "elsewhere"
    (outside / "panda/grpc-job-1-1-abcde").mkdir(parents=True)
    (outside / "panda/grpc-job-1-1-abcde/baby-analyzer.log").write_text(SECRET + "\n", encoding="utf-8")
    root = make_bundle({FOCUS: FOCUS_LINE + "\n"})
    (root / "logs/other").symlink_to(outside / "panda", target_is_directory=True)
    bundle = pa.load_bundle(root)
    assert ("logs/other", "a link to a directory") in bundle.refused()
    assert SECRET not in _all_text(bundle.frames())
    for rel in ("../passwd", "/etc/passwd", "logs/../../passwd", "logs/other/grpc-job-1-1-abcde/baby-analyzer.log", ""):
        with pytest.raises(BundleError):
            bundle.path_of(rel)


def test_a_fifo_log_is_refused_without_blocking(make_bundle):
    root = make_bundle({FOCUS: FOCUS_LINE + "\n"})
    fifo = root / ANALYZER
    fifo.parent.mkdir(parents=True)
    os.mkfifo(fifo)
    # in a subprocess: if the FIFO were opened, the read would block until the timeout
    code, out, err = _diagnose(str(root))
    assert code in (0, 1), err
    assert "1 refused" in out
    assert dict(pa.load_bundle(root).refused())[ANALYZER].startswith("a FIFO")


@pytest.mark.parametrize("kind", ["fifo", "directory", "link"])
def test_a_manifest_that_is_not_a_plain_file_is_a_clear_error(tmp_path, kind):
    root = tmp_path / "bundle"
    root.mkdir()
    manifest = root / "manifest.json"
    if kind == "fifo":
        os.mkfifo(manifest)
    elif kind == "directory":
        manifest.mkdir()
    else:
        (tmp_path / "m.json").write_text(json.dumps(MANIFEST), encoding="utf-8")
        manifest.symlink_to(tmp_path / "m.json")
    code, _, err = _diagnose(str(root))
    assert code == 2
    assert "manifest.json" in err
    assert "Traceback" not in err


def test_a_fifo_given_as_the_bundle_does_not_block(tmp_path):
    fifo = tmp_path / "evidence.tar.gz"
    os.mkfifo(fifo)
    code, _, err = _diagnose(str(fifo))
    assert code == 2
    assert "FIFO" in err


# ------------------------------------------------------------------ no evidence is not healthy
def _zeros_gzip(path: Path) -> Path:
    path.write_bytes(gzip.compress(bytes(100_000)))
    return path


@pytest.mark.parametrize("case", ["empty dir", "manifest only", "empty path", "gzip of zeros", "empty files", "empty tar"])
def test_no_evidence_exits_2_and_says_so(tmp_path, case):
    if case == "empty dir":
        target = tmp_path / "empty"
        target.mkdir()
    elif case == "manifest only":
        target = tmp_path / "b"
        target.mkdir()
        (target / "manifest.json").write_text(json.dumps(MANIFEST), encoding="utf-8")
    elif case == "empty path":
        target = Path()
    elif case == "gzip of zeros":
        target = _zeros_gzip(tmp_path / "zeros.tar.gz")
    elif case == "empty files":
        target = tmp_path / "b"
        (target / "k8s").mkdir(parents=True)
        (target / "k8s/pods.json").write_bytes(b"")
        (target / Path(FOCUS)).parent.mkdir(parents=True)
        (target / FOCUS).write_bytes(b"")
    else:
        target = tmp_path / "empty.tar.gz"
        with tarfile.open(target, "w:gz"):
            pass
    arg = "" if case == "empty path" else str(target)
    code, out, err = _diagnose(arg)
    assert code == 2, (out, err)
    assert "No findings" not in out
    assert ("no evidence in" in err) or ("no bundle given" in err)
    assert "Traceback" not in err


def test_report_and_inventory_refuse_a_bundle_without_evidence(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main(["inventory", str(empty)]) == 2
    assert cli.main(["report", str(empty), "--out", str(tmp_path / "out")]) == 2
    assert "no evidence in" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ line ends, long lines, caps
def test_lone_cr_line_ends_keep_every_record(make_bundle):
    lines = [
        f"2025-11-08T13:{i // 60:02d}:{i % 60:02d}+0000 INFO pz.focus_server got configuration: channels.min={i}"
        for i in range(219)
    ]
    root = make_bundle({FOCUS: ("\r".join(lines) + "\r").encode()})
    focus = pa.parse.focus(pa.load_bundle(root))
    assert len(focus) == 219
    assert focus["line_no"].tolist() == list(range(1, 220))
    assert focus.attrs["unparsed"] == 0


def test_crlf_and_lf_files_keep_their_line_numbers():
    text = "a\r\nb\r\n\r\nc\n"
    lines = list(_lines.LogFile(name="<stream>", stream=io.StringIO(text)).lines())
    assert [(ln.line_no, ln.text) for ln in lines] == [(1, "a"), (2, "b"), (3, ""), (4, "c")]
    mixed = "x\rstill line 1\ny\n"  # a stray CR inside an LF file is not a line end
    assert [ln.text for ln in _lines.iter_lines(mixed)] == ["x\rstill line 1", "y"]


def test_a_sparse_file_without_newlines_is_cut_not_held(tmp_path, make_bundle):
    root = make_bundle({})
    path = root / FOCUS
    path.parent.mkdir(parents=True)
    with open(path, "wb") as handle:
        handle.truncate(32 * 1024 * 1024)  # 32 MiB of NUL bytes, one "line"
        handle.seek(0, os.SEEK_END)
        handle.write(b"\n" + FOCUS_LINE.encode() + b"\n")
    file = _lines.LogFile(name=FOCUS, path=path)
    pieces = list(file.pieces(piece_bytes=1 << 20))
    assert max(len(p) for p in pieces) <= _lines.MAX_LINE_BYTES + 1000  # never the whole 32 MiB line
    focus = pa.parse.focus(pa.load_bundle(root))
    assert (focus["level"] == "error").sum() == 1  # the line after it is read
    assert int(focus.loc[focus["level"] == "error", "line_no"].iloc[0]) == 2


def test_a_file_over_the_read_cap_is_counted(make_bundle, monkeypatch):
    root = make_bundle({INGRESS: (INGRESS_LINE + "\n") * 1000})
    monkeypatch.setattr(_lines, "MAX_FILE_BYTES", 100_000)
    ingress = pa.parse.ingress(pa.load_bundle(root))
    per_line = len(INGRESS_LINE) + 1
    # the whole lines within the cap, and the cut one counted (not parsed as a request)
    assert len(ingress) == 100_000 // per_line
    sample = " ".join(ingress.attrs["unparsed_sample"])
    assert "read cap" in sample
    assert INGRESS in sample
    assert ingress.attrs["unparsed"] >= 1


def test_an_unreadable_file_is_counted_not_fatal(make_bundle, monkeypatch):
    # as root every file is readable, so make one open fail the way EACCES / EIO would
    root = make_bundle({FOCUS: FOCUS_LINE + "\n", INGRESS: INGRESS_LINE + "\n"})
    real = _lines.open_regular

    def failing(path):
        if str(path).endswith("focus-server.log"):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(_lines, "open_regular", failing)
    frames = pa.parse.frames(pa.load_bundle(root))
    assert len(frames.ingress) == 1
    assert frames.focus.attrs["unparsed"] == 1
    assert "Permission denied" in frames.focus.attrs["unparsed_sample"][0]
    assert FOCUS in frames.focus.attrs["unparsed_sample"][0]


def test_an_explicit_unreadable_path_raises_with_its_name(tmp_path, monkeypatch):
    path = tmp_path / "focus.log"
    path.write_text(FOCUS_LINE + "\n", encoding="utf-8")
    file = _lines.LogFile(name=str(path), path=path)
    monkeypatch.setattr(_lines, "open_regular", lambda p: (_ for _ in ()).throw(PermissionError(13, "Permission denied")))
    with pytest.raises(OSError, match=r"focus\.log: cannot read"):
        file.read_bytes()


# ------------------------------------------------------------------ one failure never loses the rest
def _boom(frames, **_):
    msg = "Cannot cast DatetimeArray to dtype float64"
    raise TypeError(msg)


def test_a_failing_rule_gives_analysis_error_and_the_others_still_run(monkeypatch):
    expected = {f.code for f in pa.diagnose.run("sample:waiting_for_fiber")}
    _, codes = pa.diagnose.RULES["fiber"]
    monkeypatch.setitem(pa.diagnose.RULES, "fiber", (_boom, codes))
    found = pa.diagnose.run("sample:waiting_for_fiber")
    errors = [f for f in found if f.code == Code.ANALYSIS_ERROR]
    assert len(errors) == 1
    error = errors[0]
    assert error.subject == "rule fiber"
    assert "TypeError: Cannot cast DatetimeArray" in error.summary
    assert error.evidence[0].source.startswith("tests/") or error.evidence[0].source.endswith(".py")
    # every other rule's findings are there
    assert {f.code for f in found} - {Code.ANALYSIS_ERROR} == expected - codes
    assert Code.RETRY_STORM in {f.code for f in found}
    # kept under --only too, and serialised like any finding
    only = pa.diagnose.run("sample:waiting_for_fiber", only=["FIBER_WAITING"])
    assert [f.code for f in only] == [Code.ANALYSIS_ERROR]
    assert pa.findings.to_json(errors)[0]["code"] == "ANALYSIS_ERROR"


def test_a_failing_rule_exits_3_with_json_and_stderr(monkeypatch, capsys):
    _, codes = pa.diagnose.RULES["consumer"]
    monkeypatch.setitem(pa.diagnose.RULES, "consumer", (_boom, codes))
    assert cli.main(["diagnose", "sample:waiting_for_fiber", "--json"]) == 3
    captured = capsys.readouterr()
    records = json.loads(captured.out)
    assert any(r["code"] == "ANALYSIS_ERROR" and "consumer" in r["summary"] for r in records)
    assert any(r["code"] == "FIBER_WAITING" for r in records)  # a critical finding, yet 3 not 1
    assert "consumer rule failed" in captured.err


def test_a_failing_parser_leaves_its_frames_empty_and_is_reported(monkeypatch):
    from panda_analysis.parse import _k8s

    def broken(source):
        msg = "hostile pods.json"
        raise ValueError(msg)

    monkeypatch.setattr(_k8s, "_frames", broken)
    frames = pa.parse.frames(pa.load_bundle("sample:waiting_for_fiber"))
    assert frames.pods.empty
    assert frames.restarts.empty
    assert frames.pods.attrs["unparsed"] == 1
    assert "parser k8s failed" in frames.pods.attrs["unparsed_sample"][0]
    assert len(frames.ingress) > 0
    found = pa.diagnose.run(frames)
    assert any(f.code == Code.ANALYSIS_ERROR and f.subject == "parser k8s" for f in found)
    assert any(f.code == Code.FIBER_WAITING for f in found)


def test_a_mistyped_rule_option_is_a_usage_error_not_an_analysis_error():
    with pytest.raises(ValueError, match="no option min_atempts"):
        pa.diagnose.run("sample:healthy", options={"retry_storm": {"min_atempts": 3}})


# ------------------------------------------------------------------ random bundles
_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=200)
_LINE = st.one_of(
    st.sampled_from([FOCUS_LINE, INGRESS_LINE, "2025-11-10T08:55:02.711904453Z [INFO] Baby Analyzer 2.14.1 starting for job 20-1"]),
    _TEXT,
    st.sampled_from([FOCUS_LINE, INGRESS_LINE]).flatmap(lambda s: st.integers(0, len(s)).map(lambda n: s[:n])),
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | _TEXT,
    lambda inner: st.lists(inner, min_size=1, max_size=4) | st.dictionaries(_TEXT, inner, min_size=1, max_size=4),
    max_leaves=20,
)
_POD = st.fixed_dictionaries(
    {
        "metadata": st.one_of(_JSON, st.fixed_dictionaries({"name": _TEXT, "namespace": st.sampled_from(["panda", "kube-system"])})),
        "status": st.one_of(
            _JSON,
            st.fixed_dictionaries(
                {"containerStatuses": st.lists(st.fixed_dictionaries({"name": _TEXT, "restartCount": _JSON, "lastState": _JSON}), max_size=2)}
            ),
        ),
    }
)
_FILES = st.fixed_dictionaries(
    {},
    optional={
        FOCUS: st.lists(_LINE, max_size=8).map("\n".join),
        INGRESS: st.lists(_LINE, max_size=8).map("\n".join),
        ANALYZER: st.lists(_LINE, max_size=6).map("\r".join),
        "k8s/pods.json": st.one_of(_JSON, st.fixed_dictionaries({"kind": st.just("PodList"), "items": st.lists(_POD, max_size=3)})),
        "k8s/events.json": _JSON,
        "rabbitmq/snapshots.jsonl": st.lists(_JSON, max_size=3),
        "http/focus/live_metadata.jsonl": st.lists(_JSON, max_size=3),
    },
)


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(files=_FILES)
def test_random_bundles_never_crash_diagnose(make_bundle, files):
    content = {}
    for rel, value in files.items():
        if rel.endswith(".jsonl"):
            content[rel] = "\n".join(json.dumps(v) for v in value)
        elif rel.endswith(".json"):
            content[rel] = json.dumps(value)
        else:
            content[rel] = value
    root = make_bundle(content)
    bundle = pa.load_bundle(root)
    found = pa.diagnose.run(bundle)  # never raises
    failures = [f.summary for f in found if f.code == Code.ANALYSIS_ERROR]
    assert failures == []  # and no rule or parser fails on it
    pa.findings.to_json(found)
    bundle.inventory()


# ------------------------------------------------------------------ values a schema cannot hold
def _access(time_local: str = "08/Nov/2025:13:18:00 +0000", body: str = "114") -> str:
    return INGRESS_LINE.replace("08/Nov/2025:13:18:00 +0000", time_local).replace(" 503 114 ", f" 503 {body} ", 1)


@pytest.mark.parametrize("slow", [False, True], ids=["fast path", "per-line path"])
def test_ingress_values_out_of_range_are_counted_with_their_line(slow):
    lines = [
        _access(),
        _access(time_local="08/Nov/9999:13:18:00 +0000"),  # past datetime64[ns]
        _access(body=str(2**70)),  # past Int64
        _access(time_local="08/Nov/0000:13:18:00 +0000"),
        _access(),
    ]
    from panda_analysis.parse import _ingress

    df = _ingress._frames(io.StringIO("\n".join(lines) + "\n"), _slow=slow)["ingress"]
    assert df["line_no"].tolist() == [1, 2, 3, 4, 5]  # every request is kept ...
    assert df["ts"].isna().tolist() == [False, True, False, True, False]
    assert df["body_bytes"].isna().tolist() == [False, False, True, False, False]
    assert df.attrs["unparsed"] == 3  # ... and each value it could not hold is counted
    sample = "\n".join(df.attrs["unparsed_sample"])
    assert "<stream>:2: no valid time" in sample
    assert "9999" in sample
    assert f"<stream>:3: body_bytes_sent '{2**70}' does not fit" in sample


@pytest.mark.parametrize("bad", [-1, "lots", 1e400, 2**70, None, True, [12]], ids=repr)
def test_an_unreadable_restart_count_does_not_hide_a_crash_loop(tmp_path, bad):
    import shutil

    root = tmp_path / "bundle"
    shutil.copytree(pa.samples.path("waiting_for_fiber"), root)
    pods = json.loads((root / "k8s/pods.json").read_text(encoding="utf-8"))
    focus = next(p for p in pods["items"] if "focus-server" in p["metadata"]["name"])
    focus["status"]["containerStatuses"][0]["restartCount"] = bad
    # json.dumps writes 1e400 as Infinity, which is what a hostile file may hold
    (root / "k8s/pods.json").write_text(json.dumps(pods, indent=2), encoding="utf-8")
    frames = pa.load_bundle(root).frames()
    assert frames.restarts.attrs["unparsed"] >= 1  # the value is counted ...
    found = [f for f in pa.diagnose.run(frames) if f.code == Code.CRASHLOOP_DNS]
    assert len(found) == 1  # ... and the crash loop is still diagnosed from its status
    assert "at least once (its restartCount could not be read)" in found[0].summary
    assert found[0].metrics["restart_count"] is None


def test_a_restart_count_written_as_a_string_is_read_and_counted(tmp_path):
    import shutil

    root = tmp_path / "bundle"
    shutil.copytree(pa.samples.path("waiting_for_fiber"), root)
    pods = json.loads((root / "k8s/pods.json").read_text(encoding="utf-8"))
    focus = next(p for p in pods["items"] if "focus-server" in p["metadata"]["name"])
    focus["status"]["containerStatuses"][0]["restartCount"] = "7"
    (root / "k8s/pods.json").write_text(json.dumps(pods, indent=2), encoding="utf-8")
    frames = pa.load_bundle(root).frames()
    assert 'restartCount "7" is a string' in frames.restarts.attrs["unparsed_sample"][0]
    (found,) = [f for f in pa.diagnose.run(frames) if f.code == Code.CRASHLOOP_DNS]
    assert found.metrics["restart_count"] == 7
    assert "restarted 7 times" in found.summary


@pytest.mark.parametrize(
    ("parser", "line"),
    [
        ("focus", "{date}T13:18:00+0000 ERROR pz.focus_server Cannot configure job"),
        ("focus", "{date} 13:18:00,512 - pz.focus_server - ERROR - Cannot configure job"),
        ("analyzer", "{date} 08:55:02,821 [INFO] baby_analyzer: consumer ready"),
        ("rabbitmq_log", "{date} 13:18:00.123456+00:00 [info] <0.1.0> accepting AMQP connection"),
    ],
)
@pytest.mark.parametrize("date", ["9999-11-08", "0000-01-01", "1500-01-01", "2025-02-30"])
def test_log_times_a_frame_cannot_hold_are_counted_and_fall_back(parser, line, date):
    kubelet = "2025-11-08T13:18:00.5Z"
    text = f"{kubelet} {line.format(date=date)}\n{line.format(date='2025-11-08')}\n"
    df = getattr(pa.parse, parser)(io.StringIO(text))
    assert len(df) == 2  # nothing dropped, no traceback
    assert df["ts"].iloc[0] == pd.Timestamp(kubelet)  # the kubelet time, not a silent null
    assert df.attrs["unparsed"] == 1
    assert df.attrs["unparsed_sample"][0].startswith(f"<stream>:1: time '{date} ")
