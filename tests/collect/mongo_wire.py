"""A tiny MongoDB stand-in speaking the real wire protocol on loopback, for collector tests.

No MongoDB server can be installed here (it is not in Debian, and the tests may not
download one), so the real ``pymongo`` client is pointed at this instead. It answers
just what pymongo's connection handshake, ``ping`` and a ``find`` need:

- ``OP_QUERY`` (opcode 2004), which pymongo uses for the first ``hello`` of a connection,
  answered with ``OP_REPLY`` (opcode 1);
- ``OP_MSG`` (opcode 2013; section kind 0 body and kind 1 document sequences, optional
  CRC-32C checksum skipped), answered with ``OP_MSG``;
- commands ``hello`` / ``isMaster``, ``ping``, ``buildInfo``, ``endSessions``,
  ``listDatabases``, ``listCollections``, ``find`` (empty filter only; ``sort`` on one
  field, ``limit``, all results in ``firstBatch`` with cursor id 0), and ``saslStart``
  (refused with ``AuthenticationFailed``, code 18, as a server does for a wrong password).

Every command received is kept in :attr:`MongoStandIn.commands` so a test can check what
the client asked (read-only commands only, the sort, the limit, ``maxTimeMS``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import operator
import socket
import struct
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import bson

OP_REPLY = 1
OP_QUERY = 2004
OP_MSG = 2013
_HEADER = struct.Struct("<iiii")
_CHECKSUM_PRESENT = 1


class MongoStandIn:
    """A MongoDB stand-in on ``127.0.0.1:<free port>``; use as a context manager.

    Parameters
    ----------
    databases
        ``{database: {collection: [documents]}}`` served by ``find``.
    reject_auth
        Answer SCRAM ``saslStart`` with ``AuthenticationFailed`` (code 18).
    """

    def __init__(self, databases: Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]], *, reject_auth: bool = True):
        self.databases = {
            db: {c: [dict(d) for d in docs] for c, docs in colls.items()} for db, colls in databases.items()
        }
        self.reject_auth = reject_auth
        self.commands: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port: int = self._sock.getsockname()[1]
        self._stopped = threading.Event()
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, name="mongo-stand-in", daemon=True)
        self._request_id = 0

    @property
    def uri(self) -> str:
        """``mongodb://127.0.0.1:<port>`` (add a path for a database)."""
        return f"mongodb://127.0.0.1:{self.port}"

    def __enter__(self) -> MongoStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        with contextlib.suppress(OSError):  # wakes the thread blocked in accept(); close() alone does not on Linux
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        self._thread.join(timeout=5)

    def command_names(self) -> list[str]:
        """The name (first key) of every command received, in order."""
        with self._lock:
            return [next(iter(c)) for c in self.commands]

    # ----------------------------------------------------------------- transport
    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            while True:
                header = _recv_exact(conn, _HEADER.size)
                if header is None:
                    return
                length, request_id, _, opcode = _HEADER.unpack(header)
                body = _recv_exact(conn, length - _HEADER.size)
                if body is None:
                    return
                if opcode == OP_QUERY:
                    conn.sendall(self._op_query(body, request_id))
                elif opcode == OP_MSG:
                    reply = self._op_msg(body, request_id)
                    if reply is not None:
                        conn.sendall(reply)
                else:
                    return  # an opcode we do not speak: hang up, as a server would on garbage
        except OSError:
            return
        finally:
            conn.close()

    def _next_id(self) -> int:
        with self._lock:
            self._request_id += 1
            return self._request_id

    def _op_query(self, body: bytes, request_id: int) -> bytes:
        # int32 flags, cstring fullCollectionName, int32 skip, int32 return, query document
        end = body.index(b"\x00", 4)
        offset = end + 1 + 8
        size = struct.unpack_from("<i", body, offset)[0]
        query = bson.decode(body[offset : offset + size])
        reply = bson.encode(self._dispatch(query))
        payload = struct.pack("<iqii", 0, 0, 0, 1) + reply
        return _HEADER.pack(_HEADER.size + len(payload), self._next_id(), request_id, OP_REPLY) + payload

    def _op_msg(self, body: bytes, request_id: int) -> bytes | None:
        flags = struct.unpack_from("<I", body, 0)[0]
        end = len(body) - (4 if flags & _CHECKSUM_PRESENT else 0)
        offset = 4
        command: dict[str, Any] = {}
        while offset < end:
            kind = body[offset]
            offset += 1
            size = struct.unpack_from("<i", body, offset)[0]
            if kind == 0:
                command.update(bson.decode(body[offset : offset + size]))
            else:  # kind 1: int32 size, cstring identifier, documents
                section_end = offset + size
                name_end = body.index(b"\x00", offset + 4)
                identifier = body[offset + 4 : name_end].decode()
                docs, pos = [], name_end + 1
                while pos < section_end:
                    doc_size = struct.unpack_from("<i", body, pos)[0]
                    docs.append(bson.decode(body[pos : pos + doc_size]))
                    pos += doc_size
                command[identifier] = docs
            offset += size
        if flags & 2:  # moreToCome from the client: no reply expected
            self._dispatch(command)
            return None
        reply = bson.encode(self._dispatch(command))
        payload = struct.pack("<IB", 0, 0) + reply
        return _HEADER.pack(_HEADER.size + len(payload), self._next_id(), request_id, OP_MSG) + payload

    # ----------------------------------------------------------------- commands
    def _dispatch(self, command: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.commands.append(command)
        name = next(iter(command))
        handler = {
            "hello": self._hello,
            "ismaster": self._hello,
            "ismaster_": self._hello,
            "ping": lambda _c: {"ok": 1.0},
            "buildinfo": lambda _c: {"version": "7.0.14", "versionArray": [7, 0, 14, 0], "ok": 1.0},
            "endsessions": lambda _c: {"ok": 1.0},
            "listdatabases": self._list_databases,
            "listcollections": self._list_collections,
            "find": self._find,
            "saslstart": self._sasl_start,
        }.get(name.lower())
        if handler is None:
            return {"ok": 0.0, "errmsg": f"no such command: '{name}'", "code": 59, "codeName": "CommandNotFound"}
        return handler(command)

    def _hello(self, command: dict[str, Any]) -> dict[str, Any]:
        reply: dict[str, Any] = {
            "helloOk": True,
            "ismaster": True,
            "maxBsonObjectSize": 16777216,
            "maxMessageSizeBytes": 48000000,
            "maxWriteBatchSize": 100000,
            "localTime": dt.datetime.now(dt.UTC),
            "logicalSessionTimeoutMinutes": 30,
            "connectionId": 1,
            "minWireVersion": 0,
            "maxWireVersion": 17,
            "readOnly": False,
            "ok": 1.0,
        }
        if "saslSupportedMechs" in command:
            reply["saslSupportedMechs"] = ["SCRAM-SHA-256", "SCRAM-SHA-1"]
        return reply

    def _sasl_start(self, _command: dict[str, Any]) -> dict[str, Any]:
        if self.reject_auth:
            return {"ok": 0.0, "errmsg": "Authentication failed.", "code": 18, "codeName": "AuthenticationFailed"}
        return {"ok": 0.0, "errmsg": "the stand-in does not implement SCRAM", "code": 2, "codeName": "BadValue"}

    def _list_databases(self, _command: dict[str, Any]) -> dict[str, Any]:
        dbs = [{"name": name, "sizeOnDisk": 8192, "empty": False} for name in ("admin", *self.databases)]
        return {"databases": dbs, "totalSize": 8192 * len(dbs), "ok": 1.0}

    def _list_collections(self, command: dict[str, Any]) -> dict[str, Any]:
        db = command["$db"]
        names = list(self.databases.get(db, {}))
        wanted = command.get("filter", {}).get("name")
        if isinstance(wanted, dict) and "$in" in wanted:
            names = [n for n in names if n in wanted["$in"]]
        batch = [{"name": n, "type": "collection", "options": {}, "info": {"readOnly": False}} for n in names]
        return {
            "cursor": {"id": bson.int64.Int64(0), "ns": f"{db}.$cmd.listCollections", "firstBatch": batch},
            "ok": 1.0,
        }

    def _find(self, command: dict[str, Any]) -> dict[str, Any]:
        db, name = command["$db"], command["find"]
        if command.get("filter"):
            return {
                "ok": 0.0,
                "errmsg": "the stand-in supports an empty filter only",
                "code": 2,
                "codeName": "BadValue",
            }
        docs = list(self.databases.get(db, {}).get(name, []))
        for key, direction in reversed(list(command.get("sort", {}).items())):
            docs.sort(key=operator.itemgetter(key), reverse=direction < 0)
        limit = abs(int(command.get("limit", 0)))
        if limit:
            docs = docs[:limit]
        return {"cursor": {"firstBatch": docs, "id": bson.int64.Int64(0), "ns": f"{db}.{name}"}, "ok": 1.0}


def _recv_exact(conn: socket.socket, n: int) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        chunk = conn.recv(n - got)
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)
