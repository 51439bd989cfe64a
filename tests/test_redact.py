"""Secret redaction: planted secrets never reach a written bundle; evidence stays intact.

The planted evidence is built from the real sample bundles (pods.json, snapshot lines,
log formats) with secrets added where live clusters put them, then written through
``BundleWriter(redact=True)`` as a directory and as a ``.tar.gz``; every byte written is
searched for every secret, in every encoding it could take.
"""

from __future__ import annotations

import base64
import copy
import json
import tarfile
import urllib.parse
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import panda_analysis as pa
from panda_analysis import samples
from panda_analysis.bundle import BundleWriter
from panda_analysis.redact import REDACTED, Redactor


def _b64url(obj: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


# A service-account token as the API server issues it (header.payload.signature).
SA_JWT = ".".join(
    [
        _b64url({"alg": "RS256", "kid": "Zq3kH1vX8yT0"}),
        _b64url({"iss": "kubernetes/serviceaccount", "sub": "system:serviceaccount:panda:focus-server"}),
        "Vb3kQ9xL2mN7pR4tY8wZ1cF6hJ0dS5gA-planted_sig",
    ]
)
BASIC_CREDENTIALS = base64.b64encode(b"svc-webapp:basic-Pa55-5521").decode()

SECRETS = {
    "env_password": "Mg0-r00t-Pw-7731",
    "env_token": "tok_live_5f8a9c2e71b34d06",
    "env_aws_secret": "wJalrXUtnFEMIK7MDENGbPxRfiCYplanted",
    "uri_in_env": "Fo%40cus-Pa55-0926",
    "last_applied": "lastapplied-S3cret-2288",
    "probe_header": "prb-8c1d7f3a2b9e4c50aa",
    "k8s_secret_data": "cmFiYml0LXNlY3JldC1kYXRhLTQ0",
    "jwt": SA_JWT,
    "kubeconfig_legacy_token": "0a1b2c3d4e5f60718293a4b5c6d7e8f9kube",
    "kubeconfig_client_key": "LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0tCk1IY0NBUUVFSUplantedkey",
    "kubeconfig_password": "kcfg-Pa55-6021",
    "pem_body": "MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQC7pl4nted",
    "focus_password": "hunter2-Focus-8841",
    "amqp_password": "rabbit-Pa55-4410",
    "basic_auth": BASIC_CREDENTIALS,
    "cookie": "sess-3f9e2b7c1a55d0e2",
    "aws_key_id": "AKIAZ4Q7PL2NX8WT3RBE",
    "ingress_token": "qTok-77a1e0c4d2f9",
    "cli_password": "cli-Pa55-9034",
    "client_properties": "cp-Pa55-3307",
    "password_hash": "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR",
    "probe_body_key": "ak_9f2c44e1b07d3a58",
    "probe_body_uri": "probe-Pa55-7150",
    "mongo_password": "doc-Pa55-6612",
    "mongo_binary": "c2VjcmV0LWJpbmFyeS1rZXktZG9j",
    "webhook": "hook-Pa55-1180",
    "manifest": "manifest-Pa55-4049",
}

# Things that look a little like secrets but are evidence (DESIGN: never destroy evidence).
NOT_SECRETS = [
    "token_count=5",
    "password_changed_at=2025-10-01T00:00:00Z",
    "Missing required fiber metadata fields: prr",
    "5d3b1bf5439bc6ad2810296356ca3c01",  # ingress request id
    "<0.5377.0>",  # Erlang pid
    "f3ad64f6-9336-43da-b03e-5b13f3096931",  # pod uid
    "sha256:9d4b9729d3409dafc05164a48e0b13578a934fa09ca882aff6ea2c87d7cbe4cd",  # image digest
    "6911a864f892526a687d51f4",  # ObjectId
    "ctag1.7f743dfad0fe17d5188472b002a86d64",  # consumer tag
    "amqp://rabbitmq-panda:5672",  # a URI without credentials
    '"secretKeyRef"',  # a reference, not a secret
    "Failed to verify token: expired",
]

FOCUS_POD = "panda-panda-focus-server-78dbcfd9d9-t8vzn"
FOCUS_LOG = f"logs/panda/{FOCUS_POD}/focus-server.log"
INGRESS_LOG = "logs/kube-system/ingress-nginx-controller-55694fd6ff-rqgp9/controller.log"
RABBIT_LOG = "logs/panda/rabbitmq-panda-0/rabbitmq.log"
ANALYZER_LOG = "logs/panda/grpc-job-20-1-h7x2k/baby-analyzer.log"
S = SECRETS


def _sample(name: str, rel: str) -> str:
    return (samples.path(name) / rel).read_text(encoding="utf-8")


def _pods() -> dict[str, Any]:
    pods = json.loads(_sample("healthy", "k8s/pods.json"))
    focus = next(p for p in pods["items"] if p["metadata"]["name"] == FOCUS_POD)
    container = focus["spec"]["containers"][0]
    container["env"] += [
        {"name": "MONGODB_ROOT_PASSWORD", "value": S["env_password"]},
        {"name": "FOCUS_API_TOKEN", "value": S["env_token"]},
        {"name": "AWS_SECRET_ACCESS_KEY", "value": S["env_aws_secret"]},
        {"name": "MONGO_URL", "value": f"mongodb://focus:{S['uri_in_env']}@mongodb:27017/panda?authSource=admin"},
        {
            "name": "RABBITMQ_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "rabbitmq-panda", "key": "rabbitmq-password"}},
        },
    ]
    container["readinessProbe"]["httpGet"]["httpHeaders"] = [
        {"name": "Authorization", "value": f"Bearer {S['probe_header']}"}
    ]
    last_applied = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": FOCUS_POD, "namespace": "panda"},
        "spec": {
            "containers": [{"name": "focus-server", "env": [{"name": "DB_PASSWORD", "value": S["last_applied"]}]}]
        },
    }
    focus["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": json.dumps(last_applied, separators=(",", ":")) + "\n"
    }
    return pods


def _kubeconfig() -> str:
    return (
        "apiVersion: v1\nkind: Config\ncurrent-context: staging\nusers:\n"
        f"- name: focus-server\n  user:\n    token: {S['jwt']}\n"
        f"- name: legacy\n  user:\n    token: {S['kubeconfig_legacy_token']}\n"
        f"- name: admin\n  user:\n    client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t\n"
        f"    client-key-data: {S['kubeconfig_client_key']}\n"
        f"- name: basic\n  user:\n    username: ops\n    password: {S['kubeconfig_password']}\n"
        "---\n# pasted from the recorder's config volume\n"
        f"-----BEGIN RSA PRIVATE KEY-----\n{S['pem_body']}\nQ0FuY2xvc2VkIGtleSBib2R5\n-----END RSA PRIVATE KEY-----\n"
    )


def _focus_log() -> str:
    head = _sample("healthy", FOCUS_LOG).splitlines(keepends=True)[:3]
    return "".join(
        [
            *head,
            "2025-11-10T08:52:10.100000001Z 2025-11-10T08:52:10+0000 INFO pz.focus_server Connecting to MongoDB at "
            f"mongodb://focus:{S['uri_in_env']}@mongodb:27017/panda\n",
            "2025-11-10T08:52:10.200000001Z 2025-11-10T08:52:10+0000 DEBUG pz.focus_server outgoing headers "
            f"{{'Authorization': 'Bearer {S['jwt']}', 'Accept': 'application/json'}}\n",
            "2025-11-10T08:52:10.300000001Z 2025-11-10T08:52:10+0000 INFO pz.focus_server settings loaded: "
            f"user=analyst password={S['focus_password']} token_count=5 password_changed_at=2025-10-01T00:00:00Z\n",
            "2025-11-10T08:52:10.400000001Z 2025-11-10T08:52:10+0000 ERROR pz.focus_server Cannot configure job - "
            "validation failed: Cannot proceed: Missing required fiber metadata fields: prr\n",
            "2025-11-10T08:52:10.500000001Z 2025-11-10T08:52:10+0000 WARNING pz.focus_server recorder upload as "
            f"{S['aws_key_id']} failed: Failed to verify token: expired\n",
            "2025-11-10T08:52:10.600000001Z 2025-11-10T08:52:10+0000 DEBUG pz.focus_server webapp call "
            f'{{"url": "http://webapp/api", "headers": {{"Authorization": "Basic {S["basic_auth"]}", "Cookie": "session={S["cookie"]}; lang=en"}}}}\n',
        ]
    )


def _ingress_log() -> str:
    head = _sample("waiting_for_fiber", INGRESS_LOG).splitlines(keepends=True)[:2]
    planted = (
        "2025-11-08T13:18:02.000000001Z 10.42.0.0 - - [08/Nov/2025:13:18:02 +0000] "
        f'"GET /focus-server/live_metadata?access_token={S["ingress_token"]}&view=1 HTTP/1.1" 200 165 "-" '
        '"python-requests/2.32.5" 439 0.005 [panda-panda-focus-server-5000] [] 10.42.1.14:5000 165 0.004 200 '
        "5d3b1bf5439bc6ad2810296356ca3c01\n"
    )
    return "".join([*head, planted])


def _rabbit_log() -> str:
    return _sample("alert_lost", RABBIT_LOG).splitlines(keepends=True)[0] + (
        "2025-11-13T12:10:05.358159334Z 2025-11-13 12:10:05.357658+00:00 [info] <0.5377.0> connection <0.5377.0> "
        "(10.42.1.14:51904 -> 10.42.0.15:5672): user 'panda' authenticated and granted access to vhost '/'\n"
        "2025-11-13T12:10:06.000000001Z 2025-11-13 12:10:06.000000+00:00 [debug] <0.5380.0> rabbitmqctl "
        f"add_user panda --password {S['cli_password']}\n"
    )


def _analyzer_log() -> str:
    return _sample("healthy", ANALYZER_LOG).replace(
        "amqp://rabbitmq-panda:5672", f"amqp://panda:{S['amqp_password']}@rabbitmq-panda:5672/", 1
    )


def _snapshots() -> list[dict[str, Any]]:
    snap = json.loads(_sample("consumer_slow", "rabbitmq/snapshots.jsonl").splitlines()[0])
    snap["connections"] = [
        {
            "name": "10.42.1.9:41766 -> 10.42.0.15:5672",
            "user": "panda",
            "client_properties": {
                "product": "pika",
                "connection_name": "baby-analyzer-19-5",
                "information": f"amqp://panda:{S['client_properties']}@rabbitmq-panda:5672/",
                "capabilities": {"authentication_failure_close": True},
            },
        }
    ]
    return [snap]


def _definitions() -> dict[str, Any]:
    return {
        "rabbit_version": "3.12.13",
        "users": [
            {
                "name": "panda",
                "password_hash": S["password_hash"],
                "hashing_algorithm": "rabbit_password_hashing_sha256",
                "tags": ["administrator"],
            },
        ],
        "vhosts": [{"name": "/"}],
    }


def _live_metadata() -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in _sample("healthy", "http/focus/live_metadata.jsonl").splitlines()[:3]]
    lines[1]["body"]["debug"] = {
        "api_key": S["probe_body_key"],
        "mongo": f"mongodb://focus:{S['probe_body_uri']}@mongodb:27017",
        "token_count": 5,
    }
    return lines


def _mongo_jobs() -> list[dict[str, Any]]:
    doc = json.loads(_sample("healthy", "mongo/jobs.jsonl").splitlines()[0])
    doc["_id"] = {"$oid": "6911a864f892526a687d51f4"}
    doc["notify"] = {
        "webhook": f"https://svc-alerts:{S['webhook']}@hooks.example.internal/prisma",
        "credentials": {"username": "svc-alerts", "password": S["mongo_password"]},
        "api_key": {"$binary": {"base64": S["mongo_binary"], "subType": "00"}},
        "password_changed_at": {"$date": "2025-10-01T00:00:00Z"},
    }
    return [doc]


def _secret_object() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "rabbitmq-panda", "namespace": "panda"},
                "type": "Opaque",
                "data": {"rabbitmq-password": S["k8s_secret_data"]},
            }
        ],
    }


def _write(dest: Path, *, redact: Any) -> Path:
    manifest = {
        "source": f"panda-analysis collect --mongo-uri mongodb://admin:{S['manifest']}@mongodb:27017 -n panda",
        "namespaces": ["panda", "kube-system"],
    }
    with BundleWriter(dest, manifest=manifest, redact=redact) as w:
        w.add_json("k8s/pods.json", _pods())
        w.add_json("k8s/secrets.json", _secret_object())
        w.add_text("k8s/kubeconfig.yaml", _kubeconfig())
        w.add_text(FOCUS_LOG, _focus_log())
        w.add_text(INGRESS_LOG, _ingress_log())
        w.add_text(RABBIT_LOG, _rabbit_log())
        w.add_text(ANALYZER_LOG, _analyzer_log())
        w.add_jsonl("rabbitmq/snapshots.jsonl", _snapshots())
        w.add_json("rabbitmq/definitions.json", _definitions())
        w.add_jsonl("http/focus/live_metadata.jsonl", _live_metadata())
        w.add_jsonl("mongo/jobs.jsonl", _mongo_jobs())
        # a truncated (capped) JSON file: the text rules still apply
        w.add_text("k8s/events.partial.json", json.dumps(_pods(), indent=2)[:4000])
    return dest


def _encodings(secret: str) -> set[str]:
    """Every form a secret could take in a written file."""
    forms = {secret, urllib.parse.unquote(secret), json.dumps(secret)[1:-1], urllib.parse.quote(secret, safe="")}
    try:
        decoded = base64.b64decode(secret, validate=True).decode("utf-8")
    except ValueError:
        decoded = ""
    if ":" in decoded:  # Basic credentials: the password half
        forms.add(decoded.split(":", 1)[1])
    return {f for f in forms if f}


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _untar(archive: Path, dest: Path) -> dict[str, bytes]:
    out = {}
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            assert member.isfile(), member.name
            data = tar.extractfile(member)
            assert data is not None
            out[member.name] = data.read()
    dest.mkdir()
    for rel, data in out.items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_bytes(data)
    return out


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("redact")
    plain = _write(base / "plain", redact=None)
    redacted_dir = _write(base / "redacted", redact=True)
    archive = _write(base / "redacted.tar.gz", redact=True)
    return {
        "plain": plain,
        "plain_files": _files(plain),
        "dir": redacted_dir,
        "dir_files": _files(redacted_dir),
        "tar_files": _untar(archive, base / "unpacked"),
        "unpacked": base / "unpacked",
    }


def test_the_planted_bundle_really_holds_every_secret(written):
    """Without redaction each secret is in the written bytes: the leak test below can fail."""
    blob = b"\n".join(written["plain_files"].values()).decode("utf-8")
    missing = [name for name, secret in SECRETS.items() if secret not in blob]
    assert missing == []


@pytest.mark.parametrize("form", ["dir_files", "tar_files"])
def test_no_planted_secret_is_written_anywhere(written, form):
    files = written[form]
    assert "manifest.json" in files
    assert set(files) == set(written["plain_files"])
    leaks = [
        (rel, name)
        for rel, data in files.items()
        for name, secret in SECRETS.items()
        for encoded in _encodings(secret)
        if encoded.encode() in data
    ]
    assert leaks == []
    # also no fragment long enough to matter (e.g. the tail of a half-redacted password)
    text = b"\n".join(files.values()).decode("utf-8")
    for name, secret in SECRETS.items():
        if len(secret) >= 16:
            assert secret[-10:] not in text, name


def test_directory_and_archive_are_identical(written):
    dir_files, tar_files = dict(written["dir_files"]), dict(written["tar_files"])
    dir_manifest, tar_manifest = json.loads(dir_files.pop("manifest.json")), json.loads(tar_files.pop("manifest.json"))
    assert dir_files == tar_files
    assert dir_manifest.pop("created_at") != ""
    tar_manifest.pop("created_at")
    assert dir_manifest == tar_manifest


def test_manifest_lists_kinds_and_files_with_counts(written):
    manifest = json.loads(written["dir_files"]["manifest.json"])
    assert manifest["format"] == "panda-bundle/1"
    assert manifest["namespaces"] == ["panda", "kube-system"]
    assert manifest["source"].startswith("panda-analysis collect --mongo-uri mongodb://admin:<redacted>@mongodb")
    records = manifest["redacted"]
    assert all(set(r) == {"kind", "file", "count"} and r["count"] >= 1 for r in records)
    assert len({(r["kind"], r["file"]) for r in records}) == len(records)  # aggregated
    got = {(r["file"], r["kind"]): r["count"] for r in records}
    assert set(got) >= {
        ("k8s/pods.json", "env_secret"),
        ("k8s/pods.json", "uri_password"),
        ("k8s/secrets.json", "k8s_secret_data"),
        ("k8s/kubeconfig.yaml", "jwt"),
        ("k8s/kubeconfig.yaml", "private_key"),
        ("k8s/kubeconfig.yaml", "secret_assignment"),
        (FOCUS_LOG, "uri_password"),
        (FOCUS_LOG, "jwt"),
        (FOCUS_LOG, "secret_assignment"),
        (FOCUS_LOG, "aws_access_key"),
        (FOCUS_LOG, "authorization"),
        (FOCUS_LOG, "cookie"),
        (INGRESS_LOG, "secret_assignment"),
        (RABBIT_LOG, "secret_assignment"),
        (ANALYZER_LOG, "uri_password"),
        ("rabbitmq/snapshots.jsonl", "uri_password"),
        ("rabbitmq/definitions.json", "json_secret_field"),
        ("http/focus/live_metadata.jsonl", "json_secret_field"),
        ("http/focus/live_metadata.jsonl", "uri_password"),
        ("mongo/jobs.jsonl", "json_secret_field"),
        ("mongo/jobs.jsonl", "uri_password"),
        ("k8s/events.partial.json", "env_secret"),
        ("manifest.json", "uri_password"),
    }
    # pods.json: 3 env values + the probe's Authorization header + the env pair inside last-applied-configuration
    assert got["k8s/pods.json", "env_secret"] == 5
    assert got["k8s/pods.json", "uri_password"] == 1
    assert got["k8s/kubeconfig.yaml", "secret_assignment"] == 3  # legacy token, client-key-data, password
    assert got["mongo/jobs.jsonl", "json_secret_field"] == 3  # password, $binary base64 + subType under api_key
    assert sum(got.values()) == sum(r["count"] for r in records)
    # nothing recorded for files that hold no secret
    assert not {f for f, _ in got} - set(written["dir_files"])


def test_redaction_keeps_the_key_visible(written):
    files = {rel: data.decode() for rel, data in written["dir_files"].items()}
    assert f"mongodb://focus:{REDACTED}@mongodb:27017/panda" in files[FOCUS_LOG]
    assert f"password={REDACTED} token_count=5" in files[FOCUS_LOG]
    assert f"'Authorization': 'Bearer {REDACTED}'" in files[FOCUS_LOG]
    assert f'"Authorization": "Basic {REDACTED}"' in files[FOCUS_LOG]
    assert f"access_token={REDACTED}&view=1 HTTP/1.1" in files[INGRESS_LOG]
    assert f"amqp://panda:{REDACTED}@rabbitmq-panda:5672/" in files[ANALYZER_LOG]
    pods = json.loads(files["k8s/pods.json"])
    env = {e["name"]: e for e in pods["items"][0]["spec"]["containers"][0]["env"]}
    assert env["MONGODB_ROOT_PASSWORD"]["value"] == REDACTED
    assert env["MONGO_URI"]["value"] == "mongodb://mongodb:27017/panda"  # no secret: untouched
    assert env["RABBITMQ_PASSWORD"]["valueFrom"] == {
        "secretKeyRef": {"name": "rabbitmq-panda", "key": "rabbitmq-password"}
    }
    headers = pods["items"][0]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["httpHeaders"]
    assert headers == [{"name": "Authorization", "value": f"Bearer {REDACTED}"}]
    applied = json.loads(
        pods["items"][0]["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    )
    assert applied["spec"]["containers"][0]["env"] == [{"name": "DB_PASSWORD", "value": REDACTED}]
    # the file keeps kubectl's layout (indent 2, as add_json wrote it)
    assert files["k8s/pods.json"].startswith('{\n  "apiVersion": "v1"')


def test_false_positives_survive(written):
    text = b"\n".join(written["dir_files"].values()).decode()
    for evidence in NOT_SECRETS:
        assert evidence in text, evidence
    jobs = [json.loads(line) for line in written["dir_files"]["mongo/jobs.jsonl"].decode().splitlines()]
    assert jobs[0]["_id"] == {"$oid": "6911a864f892526a687d51f4"}
    assert jobs[0]["notify"]["password_changed_at"] == {"$date": "2025-10-01T00:00:00Z"}
    assert jobs[0]["notify"]["credentials"]["username"] == "svc-alerts"


def test_files_without_secrets_are_byte_identical(written):
    for rel in ("k8s/pods.json", FOCUS_LOG, "mongo/jobs.jsonl"):
        assert written["dir_files"][rel] != written["plain_files"][rel]
    # the healthy sample's untouched head lines of the logs come through unchanged
    head = "".join(_sample("healthy", FOCUS_LOG).splitlines(keepends=True)[:3])
    assert written["dir_files"][FOCUS_LOG].decode().startswith(head)


def test_every_sample_bundle_passes_through_unchanged():
    """The embedded samples hold no secrets: redaction must not touch a byte of them."""
    redactor = Redactor()
    checked = 0
    for name in samples.names():
        root = samples.path(name)
        for path in sorted(root.rglob("*")):
            if path.is_file():
                rel = path.relative_to(root).as_posix()
                text = path.read_text(encoding="utf-8")
                assert redactor(rel, text) == text, f"{name}/{rel}"
                checked += 1
    assert checked > 40
    assert redactor.records == []


def _as_text(df: pd.DataFrame) -> pd.DataFrame:
    return df.astype("object").map(
        lambda v: "<NA>" if v is None or (not isinstance(v, dict | list) and pd.isna(v)) else str(v)
    )


def test_parsers_read_the_redacted_bundle_like_the_original(written):
    """Every frame has the same rows; a cell differs only where it held a planted secret.

    (The archive holds the same bytes as the directory, checked above, so one parse suffices.)
    """
    plain = pa.parse.frames(pa.load_bundle(written["plain"]))
    redacted = pa.parse.frames(pa.load_bundle(written["dir"]))
    changed = set()
    for name, before in plain.items():
        after = redacted[name]
        assert list(after.columns) == list(before.columns), name
        assert len(after) == len(before), name
        assert after.attrs.get("unparsed", 0) == before.attrs.get("unparsed", 0), name
        b, a = _as_text(before), _as_text(after)
        for col in b.columns:
            for i in b.index[b[col] != a[col]]:
                cell = b.at[i, col]
                assert any(e in cell for s in SECRETS.values() for e in _encodings(s)), (name, col, cell)
                changed.add((name, col))
    # the comparison is not vacuous: secrets did reach these frames, and were replaced there
    assert {("focus", "message"), ("ingress", "query"), ("mongo", "document"), ("live_metadata", "body")} <= changed
    assert len(plain.pods) == len(json.loads(_sample("healthy", "k8s/pods.json"))["items"])
    pd.testing.assert_frame_equal(
        pa.parse.pods(pa.load_bundle(written["dir"])), pa.parse.pods(pa.load_bundle(written["plain"]))
    )
    pd.testing.assert_frame_equal(
        pa.parse.queues(pa.load_bundle(written["dir"])), pa.parse.queues(pa.load_bundle(written["plain"]))
    )


def test_redaction_is_idempotent_and_saving_again_keeps_the_records(written, tmp_path):
    bundle = pa.load_bundle(written["dir"])
    copy_path = bundle.save(tmp_path / "again.tar.gz")
    again = pa.load_bundle(copy_path)
    assert again.manifest["redacted"] == bundle.manifest["redacted"]
    with BundleWriter(tmp_path / "twice", manifest=bundle.manifest, redact=True) as w:
        for rel in bundle.files():
            w.add_bytes(rel, (bundle.root / rel).read_bytes())
    twice = pa.load_bundle(tmp_path / "twice")
    assert twice.manifest["redacted"] == bundle.manifest["redacted"]  # nothing new found, nothing double-counted
    assert _files(twice.root) == _files(bundle.root)


def test_writer_merges_given_records_and_keeps_plain_hooks_as_before(tmp_path):
    given = [{"kind": "uri_password", "file": "logs/a.log", "count": 2}, "collector note: rabbitmq url redacted"]
    with BundleWriter(tmp_path / "m", manifest={"redacted": given}, redact=True) as w:
        w.add_text("logs/a.log", "amqp://panda:rabbit-Pa55-4410@rabbitmq-panda:5672/\n")
        w.add_text("logs/b.log", "nothing secret here\n")
    manifest = pa.load_bundle(tmp_path / "m").manifest
    assert manifest["redacted"] == [
        "collector note: rabbitmq url redacted",
        {"kind": "uri_password", "file": "logs/a.log", "count": 3},
    ]
    with BundleWriter(tmp_path / "none") as w:
        w.add_text("logs/a.log", "password=kept-as-is\n")
    plain = pa.load_bundle(tmp_path / "none")
    assert "redacted" not in plain.manifest
    assert (plain.root / "logs/a.log").read_text() == "password=kept-as-is\n"
    with BundleWriter(tmp_path / "empty", redact=True) as w:
        w.add_text("logs/a.log", "all fine\n")
    assert pa.load_bundle(tmp_path / "empty").manifest["redacted"] == []


def test_known_secrets_are_redacted_verbatim_and_url_encoded():
    r = Redactor(known_secrets=["p@ss w0rd!", "abc"])  # too short to use: "abc" would wipe ordinary words
    text = "login p@ss w0rd! then GET /x?q=p%40ss%20w0rd%21 abc"
    assert r.redact_text(text, where="a.log") == f"login {REDACTED} then GET /x?q={REDACTED} abc"
    assert r.records == [{"kind": "known_secret", "file": "a.log", "count": 2}]


def test_json_values_of_secret_keys_keep_their_structure():
    r = Redactor()
    pod_volume = {"name": "creds", "secret": {"secretName": "rabbitmq-panda", "defaultMode": 420}}
    assert r.redact_json(pod_volume, where="k8s/pods.json") == pod_volume  # a reference to a Secret, kept
    doc = {"clientSecret": "x9-client", "x-api-key": 12345, "tokens": ["t1-abc", "t2-def"], "password": None}
    assert r.redact_json(doc, where="d.json") == {
        "clientSecret": REDACTED,
        "x-api-key": REDACTED,
        "tokens": [REDACTED, REDACTED],
        "password": None,
    }
    assert doc["clientSecret"] == "x9-client"  # the input is not modified
    assert r.records == [{"kind": "json_secret_field", "file": "d.json", "count": 4}]


def test_non_json_lines_in_jsonl_fall_back_to_text_rules():
    r = Redactor()
    text = '{"at":"2025-11-08T13:00:00Z","status":200,"body":{}}\nnot json password=hunter2-x\r\n\n'
    out = r("http/focus/live_metadata.jsonl", text)
    assert out == '{"at":"2025-11-08T13:00:00Z","status":200,"body":{}}\nnot json password=<redacted>\r\n\n'


# --------------------------------------------------------------------------- property
_SECRET_CHARS = st.characters(
    min_codepoint=33, max_codepoint=0x2FF, exclude_characters="&\"'\\", exclude_categories=("Zs", "Cc")
)
_NOISE = st.text(st.characters(min_codepoint=9, max_codepoint=0x7FF, exclude_categories=("Cs",)), max_size=80)
_FORMS = [
    "{key}={secret}",
    "\n  {key}: {secret}",  # YAML / header style; mid-line "token: x" needs a credential-like x (prose rule)
    '"{key}": {json}',
    "'{key}': '{secret}'",
    "https://svc/api?a=1&{key}={secret}&b=2",
]


@settings(max_examples=300, deadline=None)
@given(
    secret=st.text(_SECRET_CHARS, min_size=8, max_size=40),
    key=st.sampled_from(["password", "PASSWORD", "db_password", "passwd", "pwd", "token", "api_key", "clientSecret"]),
    form=st.sampled_from(_FORMS),
    before=_NOISE,
    after=_NOISE,
)
def test_a_planted_password_never_leaks_from_random_text(secret, key, form, before, after):
    # placeholders (unset, masked, already redacted) are left alone by design, not secrets
    assume(secret.strip("*•") and secret.lower() not in {"null", "none", "nil", "undefined", "true", "false", "[redacted]", "<hidden>"})
    assume(not secret.startswith(REDACTED))
    assume(secret not in before + after)
    planted = form.format(key=key, secret=secret, json=json.dumps(secret, ensure_ascii=False))
    text = f"{before} {planted} {after}"
    r = Redactor()
    out = r.redact_text(text, where="random.log")
    assert secret not in out
    assert json.dumps(secret, ensure_ascii=False)[1:-1] not in out
    assert r.records
    assert all(rec["file"] == "random.log" for rec in r.records)
    assert r.redact_text(out, where="random.log") == out  # idempotent


@settings(max_examples=150, deadline=None)
@given(text=st.text(st.characters(min_codepoint=9, max_codepoint=0x7FF, exclude_categories=("Cs",)), max_size=300))
def test_random_text_without_secret_words_is_untouched(text):
    lowered = text.lower()
    assume(
        not any(
            w in lowered
            for w in (
                "pass",
                "pwd",
                "secret",
                "token",
                "key",
                "auth",
                "cookie",
                "cred",
                "dsn",
                "conn",
                "value",
                "eyj",
                "@",
            )
        )
    )
    r = Redactor()
    assert r.redact_text(text, where="x") == text
    assert r.records == []


def test_redactor_keeps_no_global_state():
    a, b = Redactor(), Redactor()
    a.redact_text("password=one-secret-1", where="a")
    assert b.records == []
    assert copy.deepcopy(a.records) == [{"kind": "secret_assignment", "file": "a", "count": 1}]
