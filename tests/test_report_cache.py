"""The frames cache of a report run (issue #12): written once by the command, read back exactly by every kernel.

Exactly means ``pd.testing.assert_frame_equal`` with exact values and dtypes (tz-aware ns
times, categoricals with their categories in order and the categories' string dtype, nullable
integers and booleans, Arrow-backed strings), the same ``attrs`` (unparsed counts and samples),
the same ``Frames.meta`` and ``Frames.parse_errors``, and so the same findings.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import panda_analysis as pa
from panda_analysis import _frames_cache, report
from panda_analysis.schema import FRAMES

DATA = Path(__file__).parent / "data"


def _assert_same_frames(parsed: pa.Frames, cached: pa.Frames) -> None:
    for name, df in parsed.items():
        back = cached[name]
        pd.testing.assert_frame_equal(back, df, check_exact=True, check_categorical=True, obj=f"frame {name}")
        assert list(back.dtypes.map(repr)) == list(df.dtypes.map(repr)), name  # categories' own dtype too
        for column in df.columns:
            if isinstance(df[column].dtype, pd.CategoricalDtype):
                assert list(back[column].cat.categories) == list(df[column].cat.categories), (name, column)
                assert back[column].cat.categories.dtype == df[column].cat.categories.dtype, (name, column)
        assert back.attrs == df.attrs, name
    assert cached.meta == parsed.meta
    assert [(p, type(e).__name__, str(e)) for p, e in cached.parse_errors] == [
        (p, type(e).__name__, str(e)) for p, e in parsed.parse_errors
    ]


def _round_trip(frames: pa.Frames, tmp_path: Path, *, bundle: str = "b", root: Path | None = None) -> _frames_cache.Cache:
    written = _frames_cache.write(frames, tmp_path / "cache", bundle=bundle, root=root or tmp_path)
    assert written == tmp_path / "cache"
    return _frames_cache.read(written)


def _findings(frames: pa.Frames) -> list[dict]:
    return pa.findings.to_json(pa.diagnose.run(frames))


@pytest.mark.parametrize("name", pa.samples.names())
def test_cached_frames_are_the_parsed_frames_for_every_sample(name: str, tmp_path: Path) -> None:
    bundle = pa.load_bundle(f"sample:{name}")
    parsed = pa.parse.frames(bundle)
    cache = _round_trip(parsed, tmp_path, bundle=f"sample:{name}", root=bundle.root)
    _assert_same_frames(parsed, cache.frames)
    assert cache.bundle == f"sample:{name}"
    assert cache.root == bundle.root
    assert _findings(cache.frames) == _findings(parsed)
    # and windowed as the notebooks window them
    assert _findings(cache.frames.window("", "10min")) == _findings(parsed.window("", "10min"))


@pytest.fixture
def dirty_bundle(make_bundle) -> Path:
    """The parser tests' awkward inputs in one bundle: cut and garbled lines, broken JSON, odd times."""
    ingress = "".join(
        (DATA / "ingress" / f).read_text(encoding="utf-8", errors="replace")
        for f in ("upstreaminfo_seed.log", "bad_bytes_truncated.log", "mixed_prefix.log", "escaped_quotes.log", "ipv6.log")
    )
    files: dict[str, object] = {
        "logs/ingress-nginx/ingress-nginx-controller-7d9f8-x2x2x/controller.log": ingress,
        "logs/ingress-nginx/ingress-nginx-controller-7d9f8-x2x2x/controller.previous.log": (
            DATA / "ingress" / "controller_messages.log"
        ).read_text(encoding="utf-8"),
        "logs/panda/panda-panda-focus-server-78dbcfd9d9-kjj77/focus-server.log": (
            (DATA / "focus" / "garbage.log").read_text(encoding="utf-8", errors="replace")
            + (DATA / "focus" / "configure_retry_storm.log").read_text(encoding="utf-8")
        ),
        "logs/panda/grpc-job-19-5-cj8hc/grpc-job.log": (DATA / "analyzer" / "traceback.log").read_text(encoding="utf-8"),
        "logs/panda/rabbitmq-panda-0/rabbitmq.log": (DATA / "rabbitmq_log" / "legacy_3_6.log").read_text(encoding="utf-8"),
        "logs/panda/mongodb-7cb5d67cc5-wb7qz/mongodb.log": "2025-11-08T13:00:00.000000001Z started, ünïcode\n",
        "k8s/pods.json": json.loads((DATA / "k8s" / "pods_list.json").read_text(encoding="utf-8")),
        "k8s/events.json": json.loads((DATA / "k8s" / "events_list.json").read_text(encoding="utf-8")),
        "k8s/pods.txt": (DATA / "k8s" / "pods_garbage.txt").read_text(encoding="utf-8"),
        "http/focus/live_metadata.jsonl": (DATA / "http" / "live_metadata_broken.jsonl").read_text(encoding="utf-8"),
        "rabbitmq/snapshots.jsonl": (DATA / "rabbitmq" / "snapshots_broken.jsonl").read_text(encoding="utf-8"),
        "mongo/alerts.jsonl": (DATA / "mongo" / "broken.jsonl").read_text(encoding="utf-8"),
    }
    return make_bundle(files)


def test_cached_frames_of_a_dirty_bundle_keep_every_count_and_sample(dirty_bundle: Path, tmp_path: Path) -> None:
    parsed = pa.parse.frames(dirty_bundle)
    assert sum(df.attrs["unparsed"] for _, df in parsed.items()) > 0, "the bundle is meant to have unparsed lines"
    nullable = [
        (name, column) for name, df in parsed.items() for column in df.columns
        if isinstance(df[column].dtype, pd.Int64Dtype | pd.Int16Dtype | pd.BooleanDtype) and df[column].isna().any()
    ]
    assert nullable, "nullable integers and booleans holding NA"
    _assert_same_frames(parsed, _round_trip(parsed, tmp_path).frames)


def test_unused_categories_ordered_categoricals_and_nulls_round_trip(tmp_path: Path) -> None:
    parsed = pa.parse.frames(pa.load_bundle("sample:waiting_for_fiber"))
    ingress = parsed.ingress.copy()
    ingress["method"] = ingress["method"].cat.add_categories(["PATCH", "DELETE"]).cat.reorder_categories(
        ["PATCH", "POST", "DELETE", "GET"]
    )  # unused categories, not in sorted order
    ingress["route"] = ingress["route"].cat.as_ordered()
    ingress.loc[::3, ["status", "body_bytes", "ts", "path", "method", "is_previous"]] = None
    ingress.attrs = {**parsed.ingress.attrs, "unparsed": 2, "unparsed_sample": ["controller.log:7: cut line", "x:9: ünï"]}
    frames = parsed.replace(ingress=ingress, focus=FRAMES["focus"].conform(FRAMES["focus"].empty()))
    _assert_same_frames(frames, _round_trip(frames, tmp_path).frames)


def test_a_failed_parser_gives_the_same_analysis_error_from_the_cache(tmp_path: Path, monkeypatch) -> None:
    import panda_analysis.parse._mongo as mongo_parser

    def broken(bundle: object) -> dict:
        return {"mongo": None}["mongo"].nothing  # AttributeError raised in the package's parse code path

    monkeypatch.setattr(mongo_parser, "_frames", broken)
    parsed = pa.parse.frames(pa.load_bundle("sample:alert_lost"))
    monkeypatch.undo()
    assert [p for p, _ in parsed.parse_errors] == ["mongo"]
    cache = _round_trip(parsed, tmp_path)
    _assert_same_frames(parsed, cache.frames)
    errors = [f for f in _findings(cache.frames) if f["code"] == "ANALYSIS_ERROR"]
    assert errors == [f for f in _findings(parsed) if f["code"] == "ANALYSIS_ERROR"]
    assert errors[0]["evidence"][0]["source"].startswith("panda_analysis/")  # where it was raised, as parsed
    assert "AttributeError" in errors[0]["summary"]


@pytest.mark.parametrize(
    "spoil",
    [
        lambda df: df.set_index("line_no"),
        lambda df: df.assign(extra=[object()] * len(df)),
        lambda df: df.set_axis([*df.columns[:-1], df.columns[0]], axis=1),
    ],
    ids=["index", "object-column", "duplicate-column"],
)
def test_frames_that_would_not_read_back_exactly_are_not_cached(spoil, tmp_path: Path) -> None:
    parsed = pa.parse.frames(pa.load_bundle("sample:healthy"))
    frames = parsed.replace(ingress=spoil(parsed.ingress))
    assert _frames_cache.write(frames, tmp_path / "cache", bundle="b", root=tmp_path) is None
    assert not (tmp_path / "cache" / "frames.json").exists()


def test_attrs_or_meta_json_would_change_are_not_cached(tmp_path: Path) -> None:
    parsed = pa.parse.frames(pa.load_bundle("sample:healthy"))
    ingress = parsed.ingress.copy()
    ingress.attrs = {**parsed.ingress.attrs, "unparsed_sample": ("a tuple",)}
    assert _frames_cache.write(parsed.replace(ingress=ingress), tmp_path / "a", bundle="b", root=tmp_path) is None
    assert _frames_cache.write(parsed.replace(meta={"at": pd.Timestamp(0)}), tmp_path / "b", bundle="b", root=tmp_path) is None


def test_a_foreign_or_half_written_cache_is_refused(tmp_path: Path) -> None:
    with pytest.raises(_frames_cache.CacheError, match="no frames cache"):
        _frames_cache.read(tmp_path)
    (tmp_path / "frames.json").write_text(json.dumps({"format": "panda-frames-cache/0"}), encoding="utf-8")
    with pytest.raises(_frames_cache.CacheError, match="not a panda-frames-cache/1 cache"):
        _frames_cache.read(tmp_path)
    parsed = pa.parse.frames(pa.load_bundle("sample:healthy"))
    written = _frames_cache.write(parsed, tmp_path / "cache", bundle="b", root=tmp_path)
    assert written is not None
    (written / "pods.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(_frames_cache.CacheError, match=r"pods\.parquet"):
        _frames_cache.read(written)


@pytest.fixture
def kernel_env(monkeypatch):
    """What a report kernel has: the cache named in the environment (and nothing read yet)."""
    monkeypatch.setattr(report, "_caches", {})
    monkeypatch.setattr(report, "_cache_bundles", {})

    def point_at(cache: Path) -> None:
        monkeypatch.setenv(_frames_cache.ENV, str(cache))

    return point_at


def test_load_and_inventory_read_the_cache_of_their_bundle_only(kernel_env, tmp_path: Path, monkeypatch) -> None:
    bundle = pa.load_bundle("sample:consumer_slow")
    parsed = pa.parse.frames(bundle)
    expected = bundle.inventory()
    written = _frames_cache.write(parsed, tmp_path / "cache", bundle="sample:consumer_slow", root=bundle.root)
    assert written is not None
    kernel_env(written)
    calls: list[object] = []
    real = pa.parse.frames
    monkeypatch.setattr(pa.parse, "frames", lambda source: calls.append(source) or real(source))

    frames = pa.report.load("sample:consumer_slow", since="", until="")
    _assert_same_frames(parsed, frames)
    windowed = pa.report.load("sample:consumer_slow", since="", until="10min")
    _assert_same_frames(parsed.window("", "10min"), windowed)
    pd.testing.assert_frame_equal(report._bundle("sample:consumer_slow").inventory(), expected)
    pd.testing.assert_frame_equal(pa.report.inventory("sample:consumer_slow").data, report._styled(expected).data)
    assert calls == []  # nothing parsed: all from the cache

    other = pa.report.load("sample:healthy")  # another bundle than the cache's: opened and parsed as always
    assert report._cached_bundle("sample:healthy") is None
    assert other.meta == pa.load_bundle("sample:healthy").manifest != parsed.meta


def test_an_unreadable_cache_falls_back_to_parsing_and_says_so(kernel_env, tmp_path: Path, caplog) -> None:
    kernel_env(tmp_path / "gone")
    with caplog.at_level(logging.WARNING, logger="panda_analysis.report"):
        frames = pa.report.load("sample:healthy")
    _assert_same_frames(pa.parse.frames(pa.load_bundle("sample:healthy")), frames)
    assert "frames cache not used, parsing the bundle" in caplog.text


def test_cache_argument_sets_the_path_in_the_kernel_whatever_its_characters(tmp_path: Path) -> None:
    odd = tmp_path / "it's a \"dir\" with ünïcode; $HOME `x`"
    odd.mkdir()
    argument = report._cache_argument(odd)
    code = argument.removeprefix("--IPKernelApp.exec_lines=")
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport os\nprint(os.environ[{_frames_cache.ENV!r}])"],
        capture_output=True, text=True, check=True, env={k: v for k, v in os.environ.items() if k != _frames_cache.ENV},
    )
    assert done.stdout.strip() == str(odd.resolve())


# ---------------------------------------------------------------- a real run parses once

COUNTER = '''
import os

import panda_analysis.parse as parse

_real = parse.frames


def frames(source):
    with open(os.environ["PANDA_TEST_PARSES"], "a", encoding="utf-8") as log:
        log.write(f"{os.getpid()}\\n")
    return _real(source)


parse.frames = frames
'''


@pytest.mark.notebook
def test_a_report_run_parses_its_bundle_once(tmp_path: Path) -> None:
    """The command parses (for findings.json and the index); its kernels read the cache; the cache is gone after."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(COUNTER, encoding="utf-8")
    parses = tmp_path / "parses"
    env = {
        **os.environ, "PANDA_TEST_PARSES": str(parses),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH", "")])),
    }
    out = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, "-m", "panda_analysis", "report", "sample:consumer_slow", "--out", str(out),
         "-n", "overview", "-n", "consumer_delay", "--jobs", "2"],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    pids = parses.read_text(encoding="utf-8").split()
    assert len(pids) == 1, f"the bundle was parsed {len(pids)} times: {pids}"
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []  # the cache is removed
    # the kernels saw the same frames: the pages show the findings the command computed
    found = {f["code"] for f in json.loads((out / "findings.json").read_text(encoding="utf-8"))}
    assert "CONSUMER_SLOW" in found
    assert "CONSUMER_SLOW" in (out / "consumer_delay.html").read_text(encoding="utf-8")
    assert "CONSUMER_SLOW" in (out / "overview.html").read_text(encoding="utf-8")


def test_hostile_text_round_trips(tmp_path: Path) -> None:
    parsed = pa.parse.frames(pa.load_bundle("sample:waiting_for_fiber"))
    focus = parsed.focus.copy()
    hostile = ["<script>document.title='x'</script>", "\x1b[31mred\x1b[0m\x07", "\u202egro.live", "nul\x00byte", "😀 ünï"]
    focus.loc[: len(hostile) - 1, "message"] = hostile
    focus["logger"] = focus["logger"].cat.add_categories(["\u202e<b>", "\x00"])
    frames = parsed.replace(focus=focus)
    _assert_same_frames(frames, _round_trip(frames, tmp_path).frames)
