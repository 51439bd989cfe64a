"""`panda-analysis collect` end to end against serve-bundle (the Kubernetes API stand-in)."""

from __future__ import annotations

import socket
import tarfile

import pytest

import panda_analysis as pa
from panda_analysis.cli import main
from panda_analysis.serve import BundleServer


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with BundleServer(pa.load_bundle("sample:waiting_for_fiber")) as server:
        yield server.write_kubeconfig(tmp_path_factory.mktemp("kube") / "config")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_collect_round_trip_diagnoses_the_same(served, tmp_path, capsys):
    out = tmp_path / "evidence.tar.gz"
    code = main(["collect", "--out", str(out), "--kubeconfig", str(served), "--since", "2h"])
    printed = capsys.readouterr()
    assert code == 0, printed
    assert "collected  kubernetes" in printed.out
    assert "skipped    focus (no --focus-url)" in printed.out
    assert "kubernetes: done" in printed.err  # progress on stderr
    collected = pa.load_bundle(out)
    assert collected.manifest["namespaces"] == ["panda", "kube-system"]
    assert collected.manifest["redacted"] == []
    original = {(f.code, f.subject) for f in pa.diagnose.run("sample:waiting_for_fiber")}
    again = {(f.code, f.subject) for f in pa.diagnose.run(collected)}
    # FIBER_WAITING needs the live_metadata probes, which only --focus-url collects
    assert again == {item for item in original if item[0] != "FIBER_WAITING"}


def test_collect_records_a_failed_source_and_never_writes_its_password(served, tmp_path, capsys):
    out = tmp_path / "partial.tar.gz"
    secret = "Sup3rS3cretPw"
    uri = f"mongodb://panda:{secret}@127.0.0.1:{_closed_port()}/panda"
    code = main(["collect", "--out", str(out), "--kubeconfig", str(served), "--mongo-uri", uri])
    printed = capsys.readouterr()
    assert code == 1  # partial: kubernetes collected, mongodb refused
    assert "FAILED     mongodb" in printed.out
    assert "refused" in printed.out
    assert secret not in printed.out + printed.err
    with tarfile.open(out) as tar:
        for member in tar.getmembers():
            data = tar.extractfile(member)
            if data is not None:
                assert secret.encode() not in data.read(), member.name
    manifest = pa.load_bundle(out).manifest
    assert any(f["source"].startswith("mongodb") for f in manifest["failures"])


def test_collect_with_nothing_reachable_exits_2(tmp_path, capsys):
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n"
        f"    server: http://127.0.0.1:{_closed_port()}\ncontexts:\n- name: c\n  context:\n    cluster: c\n"
        "current-context: c\nusers: []\n"
    )
    code = main(["collect", "--out", str(tmp_path / "b"), "--kubeconfig", str(kubeconfig)])
    printed = capsys.readouterr()
    assert code == 2
    assert "FAILED     kubernetes" in printed.out
    assert "Nothing could be collected" in printed.err


def test_collect_usage_errors(tmp_path, capsys):
    assert main(["collect", "--out", str(tmp_path / "b"), "--interval", "soon"]) == 2
    assert "cannot read duration" in capsys.readouterr().err
    assert main(["collect", "--out", str(tmp_path / "b"), "--samples", "0"]) == 2
