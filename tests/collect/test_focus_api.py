"""Focus Server collection against a loopback look-alike of the seeds' Focus Server (fake_focus.py).

The collector's lines are read back with the real parsers and diagnoses, so a line the
parsers would not read (or read wrongly) fails here.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import panda_analysis as pa
from panda_analysis.bundle import BundleWriter
from panda_analysis.collect import _http
from panda_analysis.collect._focus_api import base_url, focus_api, job_ids_in
from panda_analysis.errors import CollectError
from panda_analysis.findings import Code

sys.path.insert(0, str(Path(__file__).parent))
from fake_focus import MISSING_PRR, FakeFocus

SAMPLES = Path(pa.__file__).parent / "samples"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_samples_at_the_interval_and_job_metadata_read_back_by_the_parsers(tmp_path: Path) -> None:
    with FakeFocus(ready=False) as fake:
        fake.configured["19-5"] = fake.clock() - 60.0  # a job whose consumer exists: 200
        progress: list[tuple[int, int, str]] = []
        with BundleWriter(tmp_path / "b", redact=True) as out:
            result = focus_api(
                out,
                url=fake.url + "/live_metadata",  # pasted from the seed's curl command
                samples=3,
                interval_s=0.25,
                job_ids=["19-5", "19-7", "19-5", "../etc"],
                on_progress=lambda *a: progress.append(a),
            )
        assert fake.count("GET", "/live_metadata") == 3
        assert fake.count("GET", "/metadata/") == 2  # deduplicated; the path-like id never sent
    assert result.skipped_job_ids == ("../etc",)
    assert (result.ok, result.failed) == (5, 0)
    assert result.ready is False
    assert [p[:2] for p in progress] == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]

    bundle = pa.load_bundle(tmp_path / "b")
    live = pa.parse.live_metadata(bundle)
    assert len(live) == 3
    assert live.attrs.get("unparsed", 0) == 0
    assert live["prr"].tolist() == [0.0, 0.0, 0.0]
    assert set(live["sw_version"]) == {"waiting for fiber"}
    gaps = live["ts"].diff().dropna().dt.total_seconds()
    assert all(0.24 <= g < 1.0 for g in gaps), gaps.tolist()

    jobs = pa.parse.job_metadata(bundle).set_index("job_id")
    assert int(jobs.loc["19-5", "status"]) == 200
    assert json.loads(jobs.loc["19-5", "body"])["queue"] == "grpc-job-19-5"
    assert int(jobs.loc["19-7", "status"]) == 404
    assert jobs.loc["19-7", "error"] == "Invalid job_id"

    assert bundle.manifest["focus_api"]["job_ids"] == ["19-5", "19-7"]
    assert bundle.manifest["focus_api"]["verify"] is True
    # the evidence diagnoses as the seed 002 incident did
    assert Code.FIBER_WAITING in {f.code for f in pa.diagnose.fiber(bundle.frames())}


def test_failed_requests_are_recorded_as_lines_not_raised(tmp_path: Path) -> None:
    with FakeFocus(ready=True, live_failures=1) as fake, BundleWriter(tmp_path / "b") as out:
        result = focus_api(out, url=fake.url, samples=2, interval_s=0.0)
    assert [line["status"] for line in result.live_metadata] == [500, 200]
    assert (result.ok, result.failed) == (1, 1)
    assert result.ready is True
    live = pa.parse.live_metadata(pa.load_bundle(tmp_path / "b"))
    assert live["error"].tolist()[0] == "Internal Server Error"
    assert float(live["prr"].iloc[1]) == 2000.0


def test_nothing_answered_raises_naming_the_url_without_password_and_still_writes(tmp_path: Path) -> None:
    url = f"http://focus:s3cret-pw@127.0.0.1:{_free_port()}/focus-server"
    out = BundleWriter(tmp_path / "b")
    with _http.session(retries=0, timeout_s=2.0) as s, pytest.raises(CollectError) as err:
        focus_api(out, url=url, samples=2, interval_s=0.0, job_ids=["19-5"], session=s)
    out.close()
    text = str(err.value)
    assert "s3cret-pw" not in text
    assert f"http://focus:<redacted>@127.0.0.1:{url.split(':')[-1]}" in text
    assert "no request was answered (3 tried)" in text
    assert "connection failed" in text
    lines = _lines(tmp_path / "b/http/focus/live_metadata.jsonl")
    assert [(line["status"], "connection failed" in line["error"]) for line in lines] == [(None, True)] * 2
    assert "s3cret-pw" not in (tmp_path / "b/manifest.json").read_text()
    # the parser reads a failure line as a failed probe
    live = pa.parse.live_metadata(pa.load_bundle(tmp_path / "b"))
    assert live["status"].isna().all()
    assert live["error"].str.contains("connection failed").all()


def test_wrong_path_prefix_is_no_answer(tmp_path: Path) -> None:
    with FakeFocus() as fake, pytest.raises(CollectError, match="path prefix"):
        focus_api(None, url=fake.url.removesuffix("/focus-server"), samples=1)


def test_unknown_job_404_counts_as_an_answer_but_a_configure_503_body_is_kept() -> None:
    with FakeFocus(ready=False) as fake:
        result = focus_api(None, url=fake.url, samples=1, job_ids=("19-5",))
    assert result.job_metadata[0]["body"] == {"detail": "Invalid job_id"}
    assert result.ok == 2
    assert MISSING_PRR.startswith("Cannot proceed")  # the fake speaks the seed's words


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="samples"):
        focus_api(None, url="http://127.0.0.1:9", samples=0)
    with pytest.raises(ValueError, match="interval_s"):
        focus_api(None, url="http://127.0.0.1:9", interval_s=-1)
    with pytest.raises(CollectError, match="not an http"):
        focus_api(None, url="ftp://10.10.10.100/focus-server")
    assert base_url("https://10.10.10.100/focus-server/metadata/19-5") == "https://10.10.10.100/focus-server"


def test_job_ids_in_frames_bundles_and_a_bundle_being_written(tmp_path: Path) -> None:
    assert job_ids_in(pa.samples.consumer_slow().frames()) == ["19-5", "19-6"]
    assert job_ids_in(SAMPLES / "healthy") == ["20-1"]
    assert job_ids_in("sample:waiting_for_fiber") == []
    with BundleWriter(tmp_path / "evidence.tar.gz") as out:
        assert job_ids_in(out) == []
        out.add_bytes("k8s/pods.json", (SAMPLES / "consumer_slow/k8s/pods.json").read_bytes())
        assert job_ids_in(out) == ["19-5", "19-6"]


# --------------------------------------------------------------------------- TLS


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    if importlib.util.find_spec("cryptography") is not None:
        import datetime

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        private = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "focus-server")])
        now = datetime.datetime.now(datetime.UTC)
        import ipaddress

        built = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(private.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(private, hashes.SHA256())
        )
        cert.write_bytes(built.public_bytes(serialization.Encoding.PEM))
        key.write_bytes(
            private.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return cert, key
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("neither cryptography nor openssl is available to make a test certificate")
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=focus-server",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def test_tls_verified_by_default_and_insecure_on_request(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    with FakeFocus(tls=(cert, key)) as fake:
        assert fake.url.startswith("https://")
        with _http.session(retries=0) as s, pytest.raises(CollectError, match=r"TLS error.*--insecure"):
            focus_api(None, url=fake.url, samples=1, session=s)
        # --insecure (the seeds' curl -k): works, and no InsecureRequestWarning per request
        # (pytest turns warnings into errors here)
        insecure = focus_api(None, url=fake.url, samples=2, interval_s=0.0, verify=False)
        assert [line["status"] for line in insecure.live_metadata] == [200, 200]
        # trusting the certificate itself also works
        pinned = focus_api(None, url=fake.url, samples=1, verify=str(cert))
        assert pinned.ready is True
