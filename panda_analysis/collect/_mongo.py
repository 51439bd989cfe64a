"""MongoDB → a classified connectivity check and ``mongo/<collection>.jsonl`` (issue #6, seeds 000, 002, 004).

Two read-only steps, both bounded in time and size (DESIGN "Live collection rules"):

- :func:`check` pings the server with a short server-selection timeout and says *why*
  it could not: ``name_resolution`` (the seed 002 crash loop: ``mongodb:27017: [Errno -3]
  Temporary failure in name resolution``), ``refused``, ``timeout``, ``auth``, ``tls``
  or ``other``. The error text is kept, with the password removed.
- :func:`export` writes the newest documents of a few collections (``jobs`` and
  ``alerts`` by default) as relaxed Extended JSON lines, the format ``mongoexport``
  prints and :func:`panda_analysis.parse.mongo` reads, newest first (``_id`` ObjectIds
  begin with their creation time), capped in documents and bytes.

Credentials live in the URI only for the connection: every URI or error written
anywhere has its password replaced by ``<redacted>``. Documents go through the bundle
writer, so its redaction (``BundleWriter(..., redact=True)``) applies to them too.
``pymongo`` and ``bson`` are imported inside the functions.

Examples
--------
The category comes from pymongo's own errors:

>>> from pymongo.errors import ServerSelectionTimeoutError
>>> classify(ServerSelectionTimeoutError("mongodb:27017: [Errno -3] Temporary failure in name resolution"))
'name_resolution'
>>> redact_uri("mongodb://panda:hunter2@mongodb:27017/panda")
'mongodb://panda:<redacted>@mongodb:27017/panda'
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote

from panda_analysis.errors import CollectError, MissingDependencyError

if TYPE_CHECKING:
    from panda_analysis.bundle import BundleWriter

__all__ = [
    "CATEGORIES",
    "MAX_BYTES",
    "MAX_LIMIT",
    "MongoCheck",
    "MongoExport",
    "check",
    "classify",
    "export",
    "redact_uri",
]

log = logging.getLogger(__name__)

Category = Literal["ok", "name_resolution", "refused", "timeout", "auth", "tls", "other"]
#: Every value :attr:`MongoCheck.category` can take.
CATEGORIES: tuple[str, ...] = ("ok", "name_resolution", "refused", "timeout", "auth", "tls", "other")
#: Most documents one collection may export (``limit`` above it is refused).
MAX_LIMIT = 100_000
#: Most bytes of Extended JSON one collection may export; the newest documents are kept.
MAX_BYTES = 64 << 20
#: Longest error text kept in a :class:`MongoCheck` (pymongo appends a long topology dump).
MAX_ERROR_CHARS = 600
_DEFAULT_PORT = 27017
_REDACTED = "<redacted>"
_SYSTEM_DATABASES = frozenset({"admin", "local", "config"})
_CHECK_CONNECT_SHARE = 0.7

# Patterns over the text of pymongo's errors (ServerSelectionTimeoutError names each
# server's last socket error: "host:port: [Errno -2] Name or service not known"). Tried
# in this order: a name that does not resolve is the root cause even if the message
# goes on to mention a timeout.
_NAME_RESOLUTION = re.compile(
    r"Errno -[235]\]|Name or service not known|Temporary failure in name resolution|nodename nor servname"
    r"|No address associated with hostname|getaddrinfo failed|DNS query name does not exist|"
    r"DNS operation timed out|All nameservers failed|NXDOMAIN",
    re.IGNORECASE,
)
_REFUSED = re.compile(r"Connection refused|\[Errno 111\]|\[Errno 61\]|\[WinError 10061\]", re.IGNORECASE)
_TLS = re.compile(
    r"\bSSL\b|\bTLS\b|CERTIFICATE_VERIFY_FAILED|certificate verify|SSLError|handshake failure", re.IGNORECASE
)
_TIMEOUT = re.compile(r"timed out|timeout expired|\[Errno 110\]|NetworkTimeout", re.IGNORECASE)
# server selection ran out before any server answered (or failed): nothing came back in time
_NO_ANSWER = re.compile(r"No servers found yet|No servers available|No replica set members found yet", re.IGNORECASE)
_AUTH_TEXT = re.compile(
    r"Authentication failed|AuthenticationFailed|auth failed|requires authentication", re.IGNORECASE
)
# MongoDB server error codes: 18 AuthenticationFailed, 13 Unauthorized, 11 UserNotFound
_AUTH_CODES = frozenset({11, 13, 18})


@dataclass(frozen=True, slots=True)
class MongoCheck:
    """The outcome of :func:`check`.

    Attributes
    ----------
    ok
        The server answered ``ping``.
    category
        ``ok``, ``name_resolution``, ``refused``, ``timeout``, ``auth``, ``tls`` or ``other``.
    host, port
        The first host of the URI and its port (``None`` for a ``mongodb+srv`` URI,
        whose ports come from DNS).
    error
        What pymongo said (exception type and message, password redacted, capped);
        ``None`` when ``ok``.
    elapsed_s
        Seconds the check took.
    """

    ok: bool
    category: Category
    host: str | None
    port: int | None
    error: str | None
    elapsed_s: float

    def to_dict(self) -> dict[str, Any]:
        """The check as a JSON-ready dict (as written into the bundle manifest)."""
        return asdict(self)


@dataclass(slots=True)
class MongoExport:
    """What :func:`export` wrote.

    Attributes
    ----------
    uri
        The URI with its password redacted.
    database
        The database read.
    check
        The connectivity check run first.
    collections
        Documents written per collection (``mongo/<name>.jsonl``).
    missing
        Requested collections the database does not have (recorded, not an error).
    errors
        Collections whose read failed: name → error (password redacted).
    truncated
        Collections cut short by :data:`MAX_BYTES` (their newest documents were kept).
    files
        Bundle-relative paths written.
    """

    uri: str
    database: str | None
    check: MongoCheck
    collections: dict[str, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    truncated: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def to_manifest(self) -> dict[str, Any]:
        """The ``manifest["mongo"]`` entry."""
        return {
            "uri": self.uri,
            "database": self.database,
            "check": self.check.to_dict(),
            "collections": dict(self.collections),
            "missing": list(self.missing),
            "errors": dict(self.errors),
            "truncated": list(self.truncated),
        }


# --------------------------------------------------------------------------- URIs
def _split_uri(uri: str) -> tuple[str, str | None, str | None, str, str]:
    """``(scheme, user, password, hosts, path_and_query)``; user and password percent-decoded."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return "", None, None, uri, ""
    end = len(rest)
    for stop in ("/", "?"):
        i = rest.find(stop, rest.rfind("@") + 1)
        if i != -1:
            end = min(end, i)
    netloc, tail = rest[:end], rest[end:]
    user = password = None
    if "@" in netloc:
        userinfo, _, netloc = netloc.rpartition("@")
        raw_user, colon, raw_password = userinfo.partition(":")
        user = unquote(raw_user)
        password = unquote(raw_password) if colon else None
    return scheme, user, password, netloc, tail


def redact_uri(uri: str) -> str:
    """``uri`` with the password of ``user:password@`` and secret query values replaced.

    Works on multi-host URIs (``mongodb://u:p@h1:27017,h2:27017/db?replicaSet=rs0``),
    which :func:`urllib.parse.urlsplit` rejects.

    Examples
    --------
    >>> redact_uri("mongodb://panda:hunter2@mongodb-0:27017,mongodb-1:27017/panda?authSource=admin")
    'mongodb://panda:<redacted>@mongodb-0:27017,mongodb-1:27017/panda?authSource=admin'
    >>> redact_uri("mongodb://mongodb:27017/?tlsCertificateKeyFilePassword=pem-pass")
    'mongodb://mongodb:27017/?tlsCertificateKeyFilePassword=<redacted>'
    """
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return uri
    _, user, password, hosts, tail = _split_uri(uri)
    raw_user = rest.rpartition("@")[0].partition(":")[0] if user is not None else None
    userinfo = ""
    if raw_user is not None:
        userinfo = f"{raw_user}:{_REDACTED}@" if password is not None else f"{raw_user}@"
    path, qmark, query = tail.partition("?")
    if query:
        from panda_analysis.redact import is_secret_key

        pairs = []
        for pair in query.split("&"):
            key, eq, _ = pair.partition("=")
            pairs.append(f"{key}={_REDACTED}" if eq and is_secret_key(key) else pair)
        query = "&".join(pairs)
    return f"{scheme}://{userinfo}{hosts}{path}{qmark}{query}"


def _first_host(uri: str) -> tuple[str | None, int | None]:
    scheme, _, _, hosts, _ = _split_uri(uri)
    first = unquote(hosts.split(",")[0]) if hosts else ""
    if not first:
        return None, None
    if first.endswith(".sock"):  # a Unix domain socket path
        return first, None
    host, port = first, None
    if first.startswith("["):  # [::1]:27017
        host, _, after = first[1:].partition("]")
        port_text = after.removeprefix(":")
    else:
        host, _, port_text = first.partition(":")
    if port_text.isdigit():
        port = int(port_text)
    elif scheme != "mongodb+srv":
        port = _DEFAULT_PORT
    return host or None, port


def _secrets_of(uri: str) -> list[str]:
    _, _user, password, _, tail = _split_uri(uri)
    found = [s for s in (password,) if s]
    for pair in tail.partition("?")[2].split("&"):
        key, eq, value = pair.partition("=")
        if eq and value:
            from panda_analysis.redact import is_secret_key

            if is_secret_key(key):
                found.append(unquote(value))
    return found


def _redact_error(text: str, uri: str) -> str:
    """Error text safe to write: the URI's secrets (verbatim and as URIs) replaced, capped."""
    from panda_analysis.redact import Redactor

    redactor = Redactor(known_secrets=_secrets_of(uri))
    text = redactor.redact_text(text, where="mongo-check")
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


# --------------------------------------------------------------------------- classification
def _error_text(err: BaseException) -> str:
    """``Type: message`` without pymongo's topology dump (the first part names every server's error)."""
    message = str(err)
    for marker in (", Timeout: ", ", Topology Description: "):
        head, found, _ = message.partition(marker)
        if found:
            message = head
            break
    return f"{type(err).__name__}: {message}"


def classify(err: BaseException) -> Category:
    """The category of a pymongo (or socket) error: why the server could not be reached.

    Parameters
    ----------
    err
        The exception ``MongoClient(...)`` or ``client.admin.command("ping")`` raised.

    Returns
    -------
    str
        ``name_resolution``, ``refused``, ``timeout``, ``auth``, ``tls`` or ``other``.

    Examples
    --------
    >>> from pymongo.errors import OperationFailure, ServerSelectionTimeoutError
    >>> classify(ServerSelectionTimeoutError("mongodb:27017: [Errno -3] Temporary failure in name resolution"))
    'name_resolution'
    >>> classify(OperationFailure("Authentication failed.", code=18))
    'auth'
    """
    import ssl

    text = _error_text(err)
    code = getattr(err, "code", None)
    if code in _AUTH_CODES or _AUTH_TEXT.search(text):
        return "auth"
    if _NAME_RESOLUTION.search(text) or type(err).__name__ == "gaierror":
        return "name_resolution"
    if isinstance(err, ConnectionRefusedError) or _REFUSED.search(text):
        return "refused"
    if isinstance(err, ssl.SSLError) or _TLS.search(text):
        return "tls"
    if isinstance(err, TimeoutError) or _TIMEOUT.search(text) or _NO_ANSWER.search(text):
        return "timeout"
    return "other"


def _import_pymongo() -> Any:
    try:
        import pymongo
    except ImportError as err:  # pragma: no cover - pymongo is a core dependency
        msg = "the MongoDB collector needs pymongo: pip install pymongo (a core dependency of panda-analysis)"
        raise MissingDependencyError(msg) from err
    return pymongo


def _client_options(timeout_s: float, *, connect_share: float = 1.0) -> dict[str, Any]:
    ms = max(1, round(timeout_s * 1000))
    io_ms = max(1, round(timeout_s * 1000 * connect_share))
    return {
        "serverSelectionTimeoutMS": ms,
        "connectTimeoutMS": io_ms,
        "socketTimeoutMS": io_ms,
        "appname": "panda-analysis",  # shows in the server's log and currentOp: who asked
    }


# --------------------------------------------------------------------------- check
def check(uri: str, *, timeout_s: float = 3.0, client_factory: Callable[..., Any] | None = None) -> MongoCheck:
    """Ping a MongoDB server and classify why it fails, if it does (read-only, bounded).

    Parameters
    ----------
    uri
        A ``mongodb://`` or ``mongodb+srv://`` URI, e.g. ``mongodb://mongodb:27017`` (take
        credentials from the environment rather than typing them). Never written as given.
    timeout_s
        Server-selection timeout, seconds (connect and socket timeouts are 70 % of it, so
        the socket's own error is known when selection gives up); the check takes about
        this long at most when the server cannot be reached (plus DNS time for ``+srv``).
    client_factory
        ``client_factory(uri, **options)`` returning a client with pymongo's API (tests
        inject one); default :class:`pymongo.MongoClient`. The client is closed after.

    Returns
    -------
    MongoCheck
        ``ok``, ``category`` (see :func:`classify`), first ``host`` and ``port``,
        ``error`` (password redacted) and ``elapsed_s``.

    Examples
    --------
    Nothing listens on port 9 of loopback:

    >>> result = check("mongodb://127.0.0.1:9/panda", timeout_s=0.5)
    >>> result.category, result.port, result.elapsed_s < 5
    ('refused', 9, True)
    """
    if not timeout_s > 0:
        msg = f"timeout_s must be positive, got {timeout_s!r}"
        raise ValueError(msg)
    host, port = _first_host(uri)
    started = time.monotonic()
    client = None
    try:
        if client_factory is None:
            pymongo = _import_pymongo()
            client_factory = pymongo.MongoClient
        # the monitor's connect / hello must time out *before* server selection gives
        # up, or pymongo only says "No servers found yet" instead of the socket error
        client = client_factory(uri, **_client_options(timeout_s, connect_share=_CHECK_CONNECT_SHARE))
        client.admin.command("ping")
    except Exception as err:  # noqa: BLE001 - every failure is the result, classified below
        elapsed = time.monotonic() - started
        category = classify(err)
        error = _redact_error(_error_text(err), uri)
        log.info("MongoDB %s: %s (%s)", redact_uri(uri), category, error)
        return MongoCheck(False, category, host, port, error, round(elapsed, 3))
    finally:
        if client is not None:
            client.close()
    return MongoCheck(True, "ok", host, port, None, round(time.monotonic() - started, 3))


# --------------------------------------------------------------------------- export
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


def _file_for(collection: str) -> str:
    name = _UNSAFE_NAME.sub("_", collection).lstrip(".") or "_"
    return f"mongo/{name}.jsonl"


def _pick_database(client: Any, database: str | None, uri: str) -> str:
    if database:
        return database
    configured = _split_uri(uri)[4].partition("?")[0].lstrip("/")
    if configured:
        return unquote(configured)
    names = [n for n in client.list_database_names() if n not in _SYSTEM_DATABASES]
    if len(names) == 1:
        return str(names[0])
    msg = (
        f"MongoDB at {redact_uri(uri)}: no database named in the URI and "
        f"{'none' if not names else len(names)} user database(s) found ({', '.join(names[:20])}); "
        "pass database=... (or --mongo-uri mongodb://host:27017/<database>)"
    )
    raise CollectError(msg)


def export(
    out: BundleWriter,
    *,
    uri: str,
    database: str | None = None,
    collections: Sequence[str] = ("jobs", "alerts"),
    limit: int = 500,
    timeout_s: float = 10.0,
    client: Any | None = None,
) -> MongoExport:
    """Write the newest documents of some collections to ``mongo/<collection>.jsonl`` (read-only).

    First a :func:`check` (a short ping, timeout at most 3 s). Then, per collection,
    ``find({}).sort("_id", -1).limit(limit)`` with a server-side ``maxTimeMS``: newest
    first, because ``_id`` ObjectIds begin with their creation time. Documents are
    written as relaxed Extended JSON lines (``{"$oid": ...}``, ``{"$date": "ISO"}``),
    through ``out`` so its redaction applies. A requested collection that does not exist
    is recorded in ``missing``; a collection that cannot be read is recorded in
    ``errors``; neither stops the others. The result also goes into
    ``out.manifest["mongo"]`` (URI redacted).

    Parameters
    ----------
    out
        The bundle being written.
    uri
        The MongoDB URI, e.g. ``mongodb://mongodb:27017/panda``; used to connect only.
    database
        Database to read; default the URI's, else the only non-system database.
    collections
        Collections to export (default ``jobs`` and ``alerts``).
    limit
        Most documents per collection, 1 to :data:`MAX_LIMIT`; each collection also stops
        at :data:`MAX_BYTES` of output (recorded in ``truncated``).
    timeout_s
        Timeout of each network operation (select, connect, socket) and server-side
        ``maxTimeMS`` of each find, seconds.
    client
        A client with pymongo's API (``client[db][coll].find().sort().limit()``,
        ``list_collection_names``); tests inject one. Default: a
        :class:`pymongo.MongoClient` made here and closed at the end. pymongo retries a
        failed read once (``retryReads``); nothing is written to the server.

    Returns
    -------
    MongoExport

    Raises
    ------
    CollectError
        When the check fails (after recording it in ``out.manifest["mongo"]``): the
        message names the category, the host and the next step; or when no database can
        be chosen.

    Examples
    --------
    >>> import panda_analysis as pa
    >>> with pa.BundleWriter("evidence/", redact=True) as out:  # doctest: +SKIP
    ...     result = export(out, uri="mongodb://mongodb:27017/panda", limit=200)
    >>> result.collections  # doctest: +SKIP
    {'jobs': 200, 'alerts': 37}
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        msg = f"limit must be an integer from 1 to {MAX_LIMIT}, got {limit!r}"
        raise ValueError(msg)
    if not timeout_s > 0:
        msg = f"timeout_s must be positive, got {timeout_s!r}"
        raise ValueError(msg)
    if isinstance(collections, str):
        collections = (collections,)
    shown = redact_uri(uri)

    own = client is None
    if own:
        pymongo = _import_pymongo()
        factory: Callable[..., Any] = pymongo.MongoClient
    else:

        def factory(*_args: Any, **_kwargs: Any) -> Any:
            return _Unclosed(client)

    result = MongoExport(
        uri=shown, database=database, check=check(uri, timeout_s=min(timeout_s, 3.0), client_factory=factory)
    )
    out.manifest["mongo"] = result.to_manifest()
    if not result.check.ok:
        msg = _check_failure(shown, result.check)
        raise CollectError(msg)

    from bson import json_util

    conn: Any = factory(uri, **_client_options(timeout_s)) if own else client
    try:
        result.database = _pick_database(conn, database, uri)
        db = conn[result.database]
        present = _existing(db, collections, result, uri)
        for name in dict.fromkeys(collections):  # each once, in the order asked
            if present is not None and name not in present:
                result.missing.append(name)
                continue
            _export_one(out, db, name, limit=limit, timeout_s=timeout_s, uri=uri, result=result, json_util=json_util)
    finally:
        out.manifest["mongo"] = result.to_manifest()
        if own:
            conn.close()
    log.info("MongoDB %s/%s: %s, missing %s", shown, result.database, result.collections, result.missing)
    return result


class _Unclosed:
    """An injected client lent to :func:`check`, which must not close it."""

    def __init__(self, client: Any):
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def close(self) -> None:
        """Leave the caller's client open."""


def _check_failure(shown: str, result: MongoCheck) -> str:
    where = f"{result.host}:{result.port}" if result.port is not None else str(result.host)
    hint = {
        "name_resolution": f"the name {result.host!r} does not resolve: check the service name and namespace "
        "(kubectl get svc -A | grep mongo) and cluster DNS",
        "refused": f"nothing listens on {where}: is the MongoDB pod running and the port right?",
        "timeout": f"{where} did not answer in time: check network policies, the pod's readiness, or raise the timeout",
        "auth": "the server rejected the credentials: check user, password and authSource",
        "tls": "the TLS handshake failed: check tls=true / tlsCAFile in the URI",
        "other": "see the error",
    }[result.category]
    return f"MongoDB at {shown}: {result.category} after {result.elapsed_s:g} s ({result.error}); {hint}"


def _existing(db: Any, wanted: Sequence[str], result: MongoExport, uri: str) -> set[str] | None:
    """The requested collections that exist, or ``None`` when the server will not say (then find decides)."""
    try:
        names = db.list_collection_names(filter={"name": {"$in": list(wanted)}})
    except Exception as err:  # noqa: BLE001 - listing is a nicety: without the privilege, find still works
        log.info("MongoDB: cannot list collections (%s); reading them blind", _redact_error(_error_text(err), uri))
        return None
    return {str(n) for n in names}


def _export_one(
    out: BundleWriter,
    db: Any,
    name: str,
    *,
    limit: int,
    timeout_s: float,
    uri: str,
    result: MongoExport,
    json_util: Any,
) -> None:
    options = json_util.JSONOptions(json_mode=json_util.JSONMode.RELAXED)
    lines: list[str] = []
    size = 0
    try:
        cursor = db[name].find({}).sort("_id", -1).limit(limit).max_time_ms(max(1, round(timeout_s * 1000)))
        try:
            for document in cursor:
                line = json_util.dumps(document, json_options=options, ensure_ascii=False) + "\n"
                size += len(line.encode("utf-8"))
                if size > MAX_BYTES:
                    result.truncated.append(name)
                    break
                lines.append(line)
        finally:
            cursor.close()
    except Exception as err:  # noqa: BLE001 - one unreadable collection must not lose the others
        result.errors[name] = _redact_error(_error_text(err), uri)
        log.warning("MongoDB: %s.%s not exported: %s", result.database, name, result.errors[name])
        return
    rel = _file_for(name)
    out.add_text(rel, "".join(lines))
    result.files.append(rel)
    result.collections[name] = len(lines)
