"""The MongoDB collector: classified connectivity check and bounded export.

The check is run with the real ``pymongo`` client against real failures (a name under
``.invalid`` that never resolves — one DNS query —, a closed loopback port, a loopback
port that accepts and never answers) and against :mod:`mongo_wire`, a stand-in speaking
the real MongoDB wire protocol on loopback (no MongoDB server can be installed here).
The export is run through the same stand-in with the real client, and through an
injected fake client for the caps and failures a stand-in cannot easily produce.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pymongo = pytest.importorskip("pymongo")
from bson import Decimal128, ObjectId  # noqa: E402
from pymongo.errors import (  # noqa: E402
    AutoReconnect,
    ConfigurationError,
    NetworkTimeout,
    OperationFailure,
    ServerSelectionTimeoutError,
)

import panda_analysis as pa  # noqa: E402
from panda_analysis.bundle import BundleWriter, load_bundle  # noqa: E402
from panda_analysis.collect import _mongo  # noqa: E402
from panda_analysis.errors import CollectError  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from mongo_wire import MongoStandIn  # noqa: E402

PASSWORD = "Sup3r-s3cret-pw"
TIMEOUT_S = 1.0
# pymongo gives up at serverSelectionTimeoutMS; allow thread start-up and a slow CI box
BOUND_S = 6.0
READ_ONLY = {
    "hello",
    "ismaster",
    "isMaster",
    "ping",
    "buildInfo",
    "buildinfo",
    "endSessions",
    "listCollections",
    "find",
    "saslStart",
    "listDatabases",
}


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port whose listener accepts connections (kernel backlog) and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield int(s.getsockname()[1])


def _timed_check(uri: str) -> tuple[_mongo.MongoCheck, float]:
    started = time.monotonic()
    result = _mongo.check(uri, timeout_s=TIMEOUT_S)
    return result, time.monotonic() - started


# --------------------------------------------------------------------------- check: real failures
def test_check_unresolvable_host_is_name_resolution() -> None:
    result, took = _timed_check(f"mongodb://panda:{PASSWORD}@mongodb.invalid:27017/panda?authSource=admin")
    assert (result.ok, result.category, result.host, result.port) == (
        False,
        "name_resolution",
        "mongodb.invalid",
        27017,
    )
    assert result.error is not None
    assert result.error.startswith("ServerSelectionTimeoutError: mongodb.invalid:27017: [Errno")
    assert PASSWORD not in result.error
    assert took < BOUND_S
    assert 0 < result.elapsed_s <= took


def test_check_closed_port_is_refused() -> None:
    port = _closed_port()
    result, took = _timed_check(f"mongodb://panda:{PASSWORD}@127.0.0.1:{port}/panda")
    assert (result.ok, result.category, result.port) == (False, "refused", port)
    assert result.error is not None
    assert "Connection refused" in result.error
    assert PASSWORD not in result.error
    assert took < BOUND_S


def test_check_silent_port_is_timeout(silent_port: int) -> None:
    result, took = _timed_check(f"mongodb://127.0.0.1:{silent_port}")
    assert (result.ok, result.category, result.port) == (False, "timeout", silent_port)
    assert result.error is not None
    assert "timed out" in result.error
    # bounded by the timeouts we set, not pymongo's 30 s / 20 s defaults
    assert TIMEOUT_S * 0.8 <= took < BOUND_S


def test_check_ok_against_wire_stand_in() -> None:
    with MongoStandIn({"panda": {}}) as server:
        result = _mongo.check(f"{server.uri}/panda", timeout_s=TIMEOUT_S)
        names = server.command_names()
    assert (result.ok, result.category, result.error) == (True, "ok", None)
    assert (result.host, result.port) == ("127.0.0.1", server.port)
    assert "ping" in names
    assert set(names) <= READ_ONLY


def test_check_wrong_password_over_the_wire_is_auth() -> None:
    """The real client's SCRAM handshake meets a real ``AuthenticationFailed`` (code 18) reply."""
    with MongoStandIn({"panda": {}}, reject_auth=True) as server:
        result = _mongo.check(f"mongodb://panda:{PASSWORD}@127.0.0.1:{server.port}/panda", timeout_s=TIMEOUT_S)
        names = server.command_names()
    assert (result.ok, result.category) == (False, "auth")
    assert "saslStart" in names
    assert result.error is not None
    assert "Authentication failed" in result.error
    assert PASSWORD not in result.error


def test_check_auth_with_injected_factory() -> None:
    seen: dict[str, Any] = {}

    class RejectingClient:
        def __init__(self, uri: str, **options: Any):
            seen.update(options, uri=uri)
            self.closed = False
            seen["client"] = self

        @property
        def admin(self) -> Any:
            return self

        def command(self, name: str) -> None:
            # pymongo's text for a failed SCRAM conversation; an echo of the URI is redacted too
            raise OperationFailure(
                f"Authentication failed. (uri mongodb://panda:{PASSWORD}@mongodb:27017)",
                code=18,
                details={"ok": 0.0, "errmsg": "Authentication failed.", "code": 18, "codeName": "AuthenticationFailed"},
            )

        def close(self) -> None:
            self.closed = True

    result = _mongo.check(
        f"mongodb://panda:{PASSWORD}@mongodb:27017/panda", timeout_s=2.5, client_factory=RejectingClient
    )
    assert (result.ok, result.category, result.host, result.port) == (False, "auth", "mongodb", 27017)
    assert result.error is not None
    assert PASSWORD not in result.error
    assert "<redacted>" in result.error
    # selection gives up at the timeout; the socket times out first, so its error is known by then
    assert seen["serverSelectionTimeoutMS"] == 2500
    assert 0 < seen["connectTimeoutMS"] == seen["socketTimeoutMS"] < 2500
    assert seen["client"].closed


@pytest.mark.parametrize(
    ("error", "category"),
    [
        (
            ServerSelectionTimeoutError("mongodb:27017: [Errno -3] Temporary failure in name resolution, Timeout: 30s"),
            "name_resolution",
        ),
        (
            ServerSelectionTimeoutError("mongodb:27017: [Errno 8] nodename nor servname provided, or not known"),
            "name_resolution",
        ),
        (ConfigurationError("The DNS query name does not exist: _mongodb._tcp.cluster0.invalid."), "name_resolution"),
        (AutoReconnect("mongodb-0.mongodb:27017: [Errno 111] Connection refused"), "refused"),
        (
            ServerSelectionTimeoutError(
                "10.0.0.5:27017: timed out (configured timeouts: connectTimeoutMS: 2000.0ms), Timeout: 2.0s"
            ),
            "timeout",
        ),
        (NetworkTimeout("mongodb:27017: timed out"), "timeout"),
        (ServerSelectionTimeoutError("No servers found yet, Timeout: 1.0s, Topology Description: <...>"), "timeout"),
        (
            ServerSelectionTimeoutError(
                "mongodb:27017: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed (_ssl.c:1006)"
            ),
            "tls",
        ),
        (OperationFailure("Authentication failed.", code=18), "auth"),
        (OperationFailure("command find requires authentication", code=13), "auth"),
        (OperationFailure("not master", code=10107), "other"),
    ],
)
def test_classify_pymongo_errors(error: BaseException, category: str) -> None:
    assert _mongo.classify(error) == category


def test_redact_uri_multi_host_keeps_everything_but_secrets() -> None:
    uri = f"mongodb://panda:{PASSWORD}@mongodb-0.mongodb:27017,mongodb-1.mongodb:27017/panda?replicaSet=rs0&authSource=admin"
    shown = _mongo.redact_uri(uri)
    assert (
        shown
        == "mongodb://panda:<redacted>@mongodb-0.mongodb:27017,mongodb-1.mongodb:27017/panda?replicaSet=rs0&authSource=admin"
    )
    assert _mongo.redact_uri(shown) == shown


# --------------------------------------------------------------------------- export data
BASE = dt.datetime(2025, 11, 13, 9, 0, tzinfo=dt.UTC)


def _jobs(n: int) -> list[dict[str, Any]]:
    """Jobs created 7 s apart (seed 004: ``POST /configure`` stores the job), shuffled."""
    jobs = []
    for i in range(n):
        created = BASE + dt.timedelta(seconds=7 * i, milliseconds=291)
        jobs.append(
            {
                "_id": ObjectId.from_datetime(created),
                "job_id": f"19-{i}",
                "k8s_job": f"grpc-job-19-{i}",
                "queue": f"grpc-job-19-{i}",
                "status": "running" if i % 3 else "failed",
                "config": {
                    "displayInfo": {"height": 200},
                    "channels": {"min": 11, "max": 109},
                    "frequencyRange": {"min": 0, "max": 1000},
                },
                "created_at": created,
            }
        )
    random.Random(6).shuffle(jobs)
    return jobs


def _alerts() -> list[dict[str, Any]]:
    """Alerts from seed 000, one carrying secrets a careless service might store."""
    out = []
    for i, (class_id, severity) in enumerate([(104, 3), (105, 2), (104, 1)]):
        created = BASE + dt.timedelta(minutes=5 + i, milliseconds=84)
        out.append(
            {
                "_id": ObjectId.from_datetime(created),
                "alertId": f"test-sd-{123 + i}",
                "classId": class_id,
                "severity": severity,
                "distance_m": Decimal128("4163.5"),
                "jobId": "19-5",
                "createdAt": created,
            }
        )
    out[1]["publisher"] = {"amqp_url": f"amqp://prisma:{PASSWORD}@rabbitmq-panda:5672/", "password": PASSWORD}
    return out


def _write(tmp_path: Path, **kwargs: Any) -> tuple[_mongo.MongoExport, Path]:
    path = tmp_path / "bundle"
    with BundleWriter(path, redact=True) as out:
        result = _mongo.export(out, **kwargs)
    return result, path


# --------------------------------------------------------------------------- export: real client, wire stand-in
def test_export_over_the_wire_newest_first_capped_and_redacted(tmp_path: Path) -> None:
    jobs = _jobs(40)
    with MongoStandIn({"panda": {"jobs": jobs, "alerts": _alerts(), "recordings": []}}) as server:
        result, path = _write(tmp_path, uri=f"{server.uri}/panda", collections=("jobs", "alerts", "fibers"), limit=25)
        commands = list(server.commands)
    # what the client asked: read-only commands, one find per existing collection
    assert {next(iter(c)) for c in commands} <= READ_ONLY
    finds = [c for c in commands if "find" in c]
    assert [c["find"] for c in finds] == ["jobs", "alerts"]
    assert all(
        c["sort"] == {"_id": -1} and c["limit"] == 25 and c["filter"] == {} and c["maxTimeMS"] > 0 for c in finds
    )

    assert result.collections == {"jobs": 25, "alerts": 3}
    assert result.missing == ["fibers"]
    assert result.errors == {}
    assert result.database == "panda"

    bundle = load_bundle(path)
    assert bundle.files() == ["mongo/alerts.jsonl", "mongo/jobs.jsonl"]
    df = pa.parse.mongo(bundle)
    assert df.attrs.get("unparsed", 0) == 0
    got_jobs = df[df["collection"] == "jobs"]
    newest = sorted(jobs, key=lambda d: d["_id"], reverse=True)[:25]
    assert list(got_jobs["doc_id"]) == [str(d["_id"]) for d in newest]
    assert list(got_jobs["job_id"]) == [d["job_id"] for d in newest]
    assert list(got_jobs["ts"]) == [d["created_at"] for d in newest]  # ms kept, UTC
    assert got_jobs["ts"].is_monotonic_decreasing
    assert got_jobs["ts"].iloc[0] == BASE + dt.timedelta(seconds=7 * 39, milliseconds=291)

    alerts = df[df["collection"] == "alerts"]
    assert list(alerts["alert_id"]) == ["test-sd-125", "test-sd-124", "test-sd-123"]
    # relaxed Extended JSON, as mongoexport prints it
    first = json.loads((path / "mongo/alerts.jsonl").read_text().splitlines()[0])
    assert first["_id"] == {"$oid": str(_alerts()[2]["_id"])}
    assert first["createdAt"] == {"$date": "2025-11-13T09:07:00.084Z"}
    assert first["distance_m"] == {"$numberDecimal": "4163.5"}

    # secrets inside documents were redacted by the writer, and the manifest says so
    written = "".join(p.read_text() for p in (path / "mongo").iterdir()) + (path / "manifest.json").read_text()
    assert PASSWORD not in written
    redacted = json.loads(alerts["document"].iloc[1])["publisher"]
    assert redacted == {"amqp_url": "amqp://prisma:<redacted>@rabbitmq-panda:5672/", "password": "<redacted>"}
    kinds = {(r["kind"], r["file"]) for r in bundle.manifest["redacted"]}
    assert {("uri_password", "mongo/alerts.jsonl"), ("json_secret_field", "mongo/alerts.jsonl")} <= kinds

    entry = bundle.manifest["mongo"]
    assert entry["uri"] == f"{server.uri}/panda"
    assert entry["collections"] == {"jobs": 25, "alerts": 3}
    assert entry["missing"] == ["fibers"]
    assert entry["check"]["ok"] is True
    assert entry["check"]["category"] == "ok"


def test_export_picks_the_only_user_database(tmp_path: Path) -> None:
    with MongoStandIn({"panda": {"jobs": _jobs(3)}}) as server:
        result, path = _write(tmp_path, uri=server.uri, collections=["jobs"])
    assert result.database == "panda"
    assert len(pa.parse.mongo(load_bundle(path))) == 3


def test_export_auth_failure_is_recorded_then_raised(tmp_path: Path) -> None:
    path = tmp_path / "bundle"
    with MongoStandIn({"panda": {"jobs": _jobs(3)}}, reject_auth=True) as server:
        with BundleWriter(path, redact=True) as out:
            with pytest.raises(CollectError, match=r"auth after .* authSource") as info:
                _mongo.export(out, uri=f"mongodb://panda:{PASSWORD}@127.0.0.1:{server.port}/panda")
            out.close()
        assert "find" not in server.command_names()
    assert PASSWORD not in str(info.value)
    manifest_text = (path / "manifest.json").read_text()
    assert PASSWORD not in manifest_text
    entry = json.loads(manifest_text)["mongo"]
    assert entry["uri"] == f"mongodb://panda:<redacted>@127.0.0.1:{server.port}/panda"
    assert entry["check"]["category"] == "auth"
    assert entry["collections"] == {}
    assert not (path / "mongo").exists()


def test_export_unreachable_is_bounded_and_recorded(tmp_path: Path) -> None:
    port = _closed_port()
    path = tmp_path / "bundle"
    started = time.monotonic()
    with BundleWriter(path) as out:
        with pytest.raises(CollectError, match="refused"):
            _mongo.export(out, uri=f"mongodb://127.0.0.1:{port}/panda", timeout_s=TIMEOUT_S)
        out.close()
    assert time.monotonic() - started < BOUND_S
    assert json.loads((path / "manifest.json").read_text())["mongo"]["check"]["category"] == "refused"


# --------------------------------------------------------------------------- export: injected client
class FakeCursor:
    """pymongo's cursor API over a list: sort, limit, max_time_ms, iteration, close."""

    def __init__(self, docs: list[dict[str, Any]], fail: BaseException | None = None):
        self.docs, self.fail, self.closed = docs, fail, False
        self.max_time_ms_value: int | None = None
        self.consumed = 0

    def sort(self, key: str, direction: int) -> FakeCursor:
        self.docs = sorted(self.docs, key=lambda d: d[key], reverse=direction < 0)
        return self

    def limit(self, n: int) -> FakeCursor:
        self.docs = self.docs[:n]
        return self

    def max_time_ms(self, ms: int) -> FakeCursor:
        self.max_time_ms_value = ms
        return self

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if self.fail is not None:
            raise self.fail
        for doc in self.docs:
            self.consumed += 1
            yield doc

    def close(self) -> None:
        self.closed = True


class FakeClient:
    """The slice of ``MongoClient`` the collector uses."""

    def __init__(
        self, data: dict[str, dict[str, list[dict[str, Any]]]], *, fail: dict[str, BaseException] | None = None
    ):
        self.data, self.fail, self.closed = data, fail or {}, False
        self.cursors: dict[str, FakeCursor] = {}
        self.admin = self

    def command(self, name: str) -> dict[str, Any]:
        assert name == "ping"
        return {"ok": 1.0}

    def close(self) -> None:
        self.closed = True

    def __getitem__(self, db: str) -> Any:
        client = self

        class Db:
            def list_collection_names(self, *, filter: dict[str, Any]) -> list[str]:
                return [n for n in client.data[db] if n in filter["name"]["$in"]]

            def __getitem__(self, name: str) -> Any:
                class Collection:
                    def find(self, query: dict[str, Any]) -> FakeCursor:
                        assert query == {}
                        cursor = FakeCursor(list(client.data[db][name]), client.fail.get(name))
                        client.cursors[name] = cursor
                        return cursor

                return Collection()

        return Db()


def test_export_injected_client_caps_bytes_and_survives_a_bad_collection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = _jobs(30)
    one_line = len(json.dumps({"_id": {"$oid": "0" * 24}}))
    monkeypatch.setattr(_mongo, "MAX_BYTES", 10 * (one_line + 400))  # a few jobs' worth
    client = FakeClient(
        {"panda": {"jobs": jobs, "alerts": _alerts()}},
        fail={"alerts": OperationFailure(f"not authorized on panda to execute find (user panda:{PASSWORD})", code=13)},
    )
    result, path = _write(tmp_path, uri=f"mongodb://panda:{PASSWORD}@mongodb:27017/panda", client=client, limit=500)
    assert not client.closed  # the caller's client stays open
    assert result.truncated == ["jobs"]
    kept = result.collections["jobs"]
    assert 0 < kept < 30
    assert client.cursors["jobs"].closed
    assert client.cursors["jobs"].max_time_ms_value == 10_000
    assert "alerts" in result.errors
    assert PASSWORD not in result.errors["alerts"]
    df = pa.parse.mongo(load_bundle(path))
    newest = sorted(jobs, key=lambda d: d["_id"], reverse=True)[:kept]
    assert list(df["job_id"]) == [d["job_id"] for d in newest]
    size = (path / "mongo/jobs.jsonl").stat().st_size
    assert size <= _mongo.MAX_BYTES
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["mongo"]["truncated"] == ["jobs"]
    assert PASSWORD not in json.dumps(manifest)


@pytest.mark.parametrize("limit", [0, -1, _mongo.MAX_LIMIT + 1, True, 2.5])
def test_export_rejects_bad_limits(tmp_path: Path, limit: Any) -> None:
    with BundleWriter(tmp_path / "b") as out, pytest.raises(ValueError, match="limit"):
        _mongo.export(out, uri="mongodb://mongodb:27017/panda", limit=limit, client=FakeClient({"panda": {}}))
