"""Bundles: directories and archives, manifests, safety of tar reading, writing."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pandas as pd
import pytest

import panda_analysis as pa
from panda_analysis.bundle import BundleWriter, TarLimits
from panda_analysis.errors import BundleError

FOCUS_LOG = (
    "2025-11-08T13:18:33.000000001Z 2025-11-08T13:18:33+0000 INFO pz.focus_server got configuration: "
    "displayTimeAxisDuration=30\n"
)


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


MANIFEST = json.dumps({"format": "panda-bundle/1", "created_at": "2025-11-08T13:25:00Z"}).encode()


def test_directory_and_archive_hold_the_same_files(make_bundle, tmp_path):
    root = make_bundle(
        {
            "logs/panda/panda-panda-focus-server-78dbcfd9d9-kjj77/focus-server.log": FOCUS_LOG,
            "k8s/pods.txt": "NAME READY STATUS RESTARTS AGE\n",
        }
    )
    from_dir = pa.load_bundle(root)
    archive = from_dir.save(tmp_path / "copy.tar.gz")
    from_tar = pa.load_bundle(archive)
    assert from_tar.files() == from_dir.files() == [
        "k8s/pods.txt",
        "logs/panda/panda-panda-focus-server-78dbcfd9d9-kjj77/focus-server.log",
    ]
    assert from_tar.manifest["created_at"] == "2025-11-08T13:25:00Z"
    assert from_tar.created_at == pd.Timestamp("2025-11-08T13:25:00Z")
    pd.testing.assert_frame_equal(
        from_dir.inventory()[["part", "files"]], from_tar.inventory()[["part", "files"]]
    )


def test_archive_with_a_top_level_folder_is_opened_at_that_folder(tmp_path):
    archive = _tar(
        tmp_path / "b.tar.gz",
        [_file("evidence/manifest.json", MANIFEST), _file("evidence/k8s/pods.txt", b"NAME\n")],
    )
    bundle = pa.load_bundle(archive)
    assert bundle.files() == ["k8s/pods.txt"]
    assert bundle.root.name == "evidence"


def test_archive_temporary_directory_is_removed_with_the_bundle(tmp_path):
    archive = _tar(tmp_path / "b.tar.gz", [_file("manifest.json", MANIFEST)])
    bundle = pa.load_bundle(archive)
    root = bundle.root
    assert root.exists()
    bundle._finalizer()
    assert not root.exists()


def test_missing_parts_are_no_evidence_not_errors(make_bundle):
    bundle = pa.load_bundle(make_bundle({}))
    inv = bundle.inventory()
    assert not inv["present"].any()
    assert (inv["rows"] == 0).all()
    frames = bundle.frames()
    for name, df in frames.items():
        pa.schema.FRAMES[name].validate(df)
        assert df.empty


def test_bundle_without_manifest_is_accepted(make_bundle):
    bundle = pa.load_bundle(make_bundle({"k8s/pods.txt": "NAME\n"}, manifest=None))
    assert bundle.manifest == {}
    assert bundle.format == "panda-bundle/1"
    assert bundle.created_at is None


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"format": "panda-bundle/1",\n "created_at": }', r"manifest\.json: line 2 column 16: malformed JSON"),
        ("[1, 2]", r"manifest\.json: must be a JSON object"),
        ('{"created_at": "2025-11-08T13:25:00Z"}', r'manifest\.json: no "format" field'),
        ('{"format": "panda-bundle/2"}', r"unknown bundle format 'panda-bundle/2'"),
        ('{"format": "panda-bundle/1", "created_at": "yesterday"}', r"created_at 'yesterday' is not an ISO-8601 time"),
        (b"\xff\xfe{}", r"manifest\.json: not UTF-8"),
    ],
)
def test_bad_manifest_is_a_clear_error_naming_the_file(make_bundle, content, expected):
    root = make_bundle({}, manifest=None)
    target = root / "manifest.json"
    if isinstance(content, bytes):
        target.write_bytes(content)
    else:
        target.write_text(content)
    with pytest.raises(BundleError, match=expected) as info:
        pa.load_bundle(root)
    assert str(root) in str(info.value)


@pytest.mark.parametrize(
    ("name", "why"),
    [("../escape.txt", "escapes the bundle"), ("/etc/passwd", "absolute path"), ("a/../../x", "escapes the bundle")],
)
def test_archive_members_cannot_escape(tmp_path, name, why):
    archive = _tar(tmp_path / "evil.tar.gz", [_file("manifest.json", MANIFEST), _file(name, b"x")])
    with pytest.raises(BundleError, match=why):
        pa.load_bundle(archive)
    assert not (tmp_path / "escape.txt").exists()


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.FIFOTYPE, tarfile.CHRTYPE])
def test_archive_links_and_special_files_are_refused(tmp_path, kind):
    info = tarfile.TarInfo("logs/panda/p/c.log")
    info.type = kind
    info.linkname = "/etc/shadow"
    archive = _tar(tmp_path / "links.tar.gz", [_file("manifest.json", MANIFEST), (info, None)])
    with pytest.raises(BundleError, match=r"link|special file"):
        pa.load_bundle(archive)


def test_archive_size_caps(tmp_path):
    archive = _tar(
        tmp_path / "big.tar.gz",
        [_file("manifest.json", MANIFEST), _file("a.log", b"x" * 5000), _file("b.log", b"y" * 5000)],
    )
    with pytest.raises(BundleError, match="over the 4000-byte cap"):
        pa.Bundle.open(archive, limits=TarLimits(max_member_bytes=4000))
    with pytest.raises(BundleError, match="unpacks to more than 8000 bytes"):
        pa.Bundle.open(archive, limits=TarLimits(max_total_bytes=8000))
    with pytest.raises(BundleError, match="more than 2 members"):
        pa.Bundle.open(archive, limits=TarLimits(max_members=2))


def test_corrupt_archive_is_a_clear_error(tmp_path):
    good = _tar(tmp_path / "good.tar.gz", [_file("manifest.json", MANIFEST), _file("k8s/pods.txt", os.urandom(20000))])
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(good.read_bytes()[:-4000])
    with pytest.raises(BundleError, match=r"truncated\.tar\.gz: corrupt or truncated archive"):
        pa.load_bundle(truncated)


def test_not_a_bundle(tmp_path):
    stray = tmp_path / "notes.txt"
    stray.write_text("hello")
    with pytest.raises(BundleError, match="neither a bundle directory nor a tar archive"):
        pa.load_bundle(stray)
    with pytest.raises(BundleError, match="no such bundle"):
        pa.load_bundle(tmp_path / "missing")


def test_unknown_sample_lists_the_samples():
    with pytest.raises(BundleError, match=r"no sample named 'nope'; samples are \[.*'healthy'"):
        pa.load_bundle("sample:nope")


def test_log_files_are_routed_to_their_family(make_bundle):
    root = make_bundle(
        {
            "logs/kube-system/ingress-nginx-controller-55694fd6ff-rqgp9/controller.log": "",
            "logs/panda/panda-panda-focus-server-78dbcfd9d9-kjj77/focus-server.log": "",
            "logs/panda/panda-panda-focus-server-78dbcfd9d9-kjj77/focus-server.previous.log": "",
            "logs/panda/rabbitmq-panda-0/rabbitmq.log": "",
            "logs/panda/grpc-job-19-5-cj8hc/baby-analyzer.log": "",
            "logs/panda/mongodb-7cb5d67cc5-wb7qz/mongodb.log": "",
            "notes/extra.md": "why is this here",
        }
    )
    bundle = pa.load_bundle(root)
    assert [f.name for f in bundle.sources("ingress")] == [
        "logs/kube-system/ingress-nginx-controller-55694fd6ff-rqgp9/controller.log"
    ]
    focus = bundle.sources("focus")
    assert [(f.pod, f.container, f.is_previous) for f in focus] == [
        ("panda-panda-focus-server-78dbcfd9d9-kjj77", "focus-server", True),
        ("panda-panda-focus-server-78dbcfd9d9-kjj77", "focus-server", False),
    ]
    assert [f.pod for f in bundle.sources("rabbitmq_log")] == ["rabbitmq-panda-0"]
    assert [f.pod for f in bundle.sources("analyzer")] == ["grpc-job-19-5-cj8hc"]
    assert [f.pod for f in bundle.sources("other_logs")] == ["mongodb-7cb5d67cc5-wb7qz"]
    assert bundle.unrecognised() == ["notes/extra.md"]
    inv = bundle.inventory().set_index("part")
    assert inv.loc["unrecognised", "files"] == 1
    assert inv.loc["unrecognised", "unparsed_sample"] == "notes/extra.md"


def test_manifest_can_route_unusual_pod_names(make_bundle):
    root = make_bundle(
        {"logs/panda/api-7d9c/api.log": ""},
        manifest={"format": "panda-bundle/1", "log_families": {"logs/panda/api-*/*.log": "focus"}},
    )
    assert [f.pod for f in pa.load_bundle(root).sources("focus")] == ["api-7d9c"]


def test_inventory_shape(make_bundle):
    root = make_bundle({"logs/panda/mongodb-0/mongodb.log": "2025-11-08T13:00:00.5Z started\n\n2025-11-08T13:05:00Z ready\n"})
    inv = pa.load_bundle(root).inventory()
    assert list(inv.columns) == ["part", "present", "files", "rows", "unparsed", "unparsed_sample", "first_ts", "last_ts"]
    assert str(inv["first_ts"].dtype) == "datetime64[ns, UTC]"
    row = inv.set_index("part").loc["other_logs"]
    assert (row["files"], row["rows"]) == (1, 2)
    assert row["first_ts"] == pd.Timestamp("2025-11-08T13:00:00.5Z")
    assert row["last_ts"] == pd.Timestamp("2025-11-08T13:05:00Z")
    assert set(inv["part"]) == {*pa.schema.FRAMES, "unrecognised", "refused"}


def test_writer_makes_a_bundle_that_reads_back(tmp_path):
    seen = []

    def redact(rel: str, text: str) -> str:
        seen.append(rel)
        return text.replace("hunter2", "<redacted>")

    with BundleWriter(tmp_path / "out", manifest={"source": "unit test"}, redact=redact) as w:
        w.add_json("k8s/pods.json", {"apiVersion": "v1", "kind": "List", "items": []})
        w.add_jsonl("http/focus/live_metadata.jsonl", [{"at": "2025-11-08T13:00:00Z", "status": 200, "body": {}}])
        w.add_text("logs/panda/p/c.log", "password=hunter2\n")
    bundle = pa.load_bundle(tmp_path / "out")
    assert bundle.manifest["format"] == "panda-bundle/1"
    assert bundle.manifest["source"] == "unit test"
    assert pd.Timestamp(bundle.manifest["created_at"]).tzinfo is not None
    assert (bundle.root / "logs/panda/p/c.log").read_text() == "password=<redacted>\n"
    assert sorted(seen) == sorted(bundle.files())


def test_writer_refuses_escaping_paths_and_existing_output(tmp_path):
    writer = BundleWriter(tmp_path / "o")
    with pytest.raises(BundleError, match="must be a relative file path"):
        writer.add_text("../outside.txt", "x")
    assert not (tmp_path / "outside.txt").exists()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep me")
    with pytest.raises(BundleError, match="already exists and is not empty"):
        BundleWriter(tmp_path / "full")


def test_writer_archive_is_not_left_half_written_on_error(tmp_path):
    target = tmp_path / "out.tar.gz"

    def collect() -> None:
        with BundleWriter(target) as w:
            w.add_text("k8s/pods.txt", "NAME\n")
            raise RuntimeError("collector failed")

    with pytest.raises(RuntimeError, match="collector failed"):
        collect()
    assert not target.exists()
