"""Serve an evidence bundle as a read-only Kubernetes API on loopback (``serve-bundle``).

``panda-analysis serve-bundle BUNDLE`` starts :class:`BundleServer`, writes a kubeconfig
and prints its path, so ``kubectl get pods``, ``kubectl logs --previous`` and the
``kubernetes`` Python client work against saved evidence, offline (the idea of
``sbctl`` for support bundles). It is also the test stand-in for a Kubernetes API
server, which cannot run in CI: collecting from a served bundle must give back the same
evidence.

What is served, shaped as a real API server answers (Kubernetes API conventions):

* discovery: ``/version``, ``/api``, ``/apis`` (``batch/v1``), ``/api/v1`` and
  ``/apis/batch/v1`` (``APIResourceList``; verbs ``get``, ``list``, ``watch`` only);
  aggregated discovery is not offered, so clients fall back to these documents;
* ``pods``, ``events``, ``services``, ``endpoints``, ``namespaces`` (core ``v1``) and
  ``jobs`` (``batch/v1``), cluster-wide and per namespace, one by name, from
  ``k8s/*.json`` (``"kind": "List"`` input is accepted); ``labelSelector``,
  ``fieldSelector``, ``limit`` / ``continue``; ``watch=true`` sends the list as ``ADDED``
  events and then holds the stream open, as a watch on an unchanging cluster does, until
  ``timeoutSeconds`` (capped), the client hanging up, or the server stopping;
* server-side printing: ``Accept: application/json;as=Table;g=meta.k8s.io`` gets a
  ``meta.k8s.io/v1`` Table (``NAME READY STATUS RESTARTS AGE`` ...) computed the way
  kubectl's printers do, with the bundle's ``created_at`` as "now";
* pod logs from ``logs/<ns>/<pod>/<container>[.previous].log`` with ``container``,
  ``previous``, ``timestamps``, ``sinceSeconds`` (relative to ``created_at``, so
  ``--since`` selects the lines it did on the day), ``sinceTime``, ``tailLines``,
  ``limitBytes``, streamed (chunked) with bounded memory whatever the file's size;
* errors as ``Status`` objects: 404 ``NotFound``, 400 ``BadRequest`` (unknown container,
  missing previous log, bad selector or name), 403 ``Forbidden`` (a log the bundle holds
  but that is never read: a link leaving the bundle, a FIFO), 405 ``MethodNotAllowed`` for
  every write verb, 500 ``InternalError`` naming the file for a part that cannot be read.

Evidence and requests are untrusted (issue #11). Names from a URL are checked against
the Kubernetes name rules and only looked up in an index of the bundle's own files
(:meth:`~panda_analysis.bundle.Bundle.files`), so no request builds a path; every file is
opened through :meth:`~panda_analysis.bundle.Bundle.path_of` and
:func:`~panda_analysis._lines.open_regular` (FIFOs and devices never block), and is
checked again, once open, to lie inside the bundle. Selectors are parsed in linear time
with length and term caps; JSON parts are read through a size cap, with wrong types,
huge numbers, deep nesting and duplicate keys tolerated and reported (logged as warnings
and listed in :attr:`BundleServer.problems`). Requests have caps on the request line,
headers, query and connections, and idle or slow connections are closed
(:class:`ServeLimits`). Whatever the evidence or the request, the answer is an HTTP
response with a ``Status`` body, never a traceback, and the server keeps serving.

Plain HTTP on 127.0.0.1 without authentication: kubectl and the Python client accept an
``http://`` server in a kubeconfig, and nothing leaves the machine.

Examples
--------
>>> import json, urllib.request
>>> with BundleServer("sample:waiting_for_fiber") as server:
...     with urllib.request.urlopen(server.url + "/api/v1/namespaces/panda/pods") as resp:
...         pods = json.load(resp)
>>> pods["kind"], len(pods["items"])
('PodList', 5)
"""

from __future__ import annotations

import argparse
import base64
import binascii
import io
import json
import logging
import math
import os
import re
import select
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qs, unquote, urlsplit

from panda_analysis import _procs
from panda_analysis._lines import NotRegularFileError, open_regular
from panda_analysis.bundle import Bundle, load_bundle
from panda_analysis.errors import BundleError, PandaAnalysisError

__all__ = ["BundleServer", "ServeError", "ServeLimits", "add_parser", "main"]

log = logging.getLogger(__name__)

#: The version this stand-in reports on ``/version`` (the API shapes it serves).
SERVER_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0+panda-bundle",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2025-01-01T00:00:00Z",
    "goVersion": "go1.23.4",
    "compiler": "gc",
    "platform": "linux/amd64",
}

_READ_VERBS = ["get", "list", "watch"]
_WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
#: A watch with nothing to report is held open at most this long (seconds) unless the
#: client asks for less with ``timeoutSeconds`` (real servers pick 30-60 min).
MAX_WATCH_SECONDS = 1800


class ServeError(PandaAnalysisError):
    """``serve-bundle`` cannot start as asked (kubeconfig already there, port taken, ...)."""


@dataclass(frozen=True, slots=True)
class ServeLimits:
    """Caps and timeouts of :class:`BundleServer` (the defaults suit kubectl and the Python client).

    Attributes
    ----------
    idle_timeout_s
        A connection that sends nothing for this long (before a request, or between two
        keep-alive requests) is closed; also the longest a single write to a client may
        block.
    header_timeout_s
        The request line and headers must arrive within this time (a client trickling
        header bytes is cut off).
    max_watch_s
        The longest a ``watch=true`` stream is held open (``timeoutSeconds`` asks for less).
    max_connections
        Connections served at once; more are answered ``429 TooManyRequests`` with
        ``Retry-After`` (client-go and kubectl retry those).
    max_request_line_bytes, max_header_bytes, max_headers, max_query_fields
        Request size caps: over them the answer is 414, 431, 431 and 400.
    max_selector_chars, max_selector_terms
        A ``labelSelector`` / ``fieldSelector`` longer or with more requirements is 400.
    max_log_bytes
        Most bytes one log response sends (``limitBytes`` asks for less); also how far
        ``tailLines`` reads back from the end. A response cut there is logged.
    max_json_bytes
        Largest ``k8s/*.json`` part read; a larger one answers 500 naming the file.
    max_json_depth
        Objects nested deeper than this are not served (counted in the problems).
    """

    idle_timeout_s: float = 60.0
    header_timeout_s: float = 10.0
    max_watch_s: float = MAX_WATCH_SECONDS
    max_connections: int = 64
    max_request_line_bytes: int = 256 * 1024
    max_header_bytes: int = 64 * 1024
    max_headers: int = 100
    max_query_fields: int = 100
    max_selector_chars: int = 10 * 1024
    max_selector_terms: int = 100
    max_log_bytes: int = 256 << 20
    max_json_bytes: int = 256 << 20
    max_json_depth: int = 64


#: Size of the blocks log files are read in (forwards and, for ``tailLines``, backwards).
_BLOCK = 64 * 1024


@dataclass(frozen=True, slots=True)
class _Resource:
    """One served resource type."""

    group: str  # "" for the core group
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...]
    categories: tuple[str, ...]
    #: field selector labels the real API server accepts for this type
    fields: tuple[str, ...]

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """``pods`` or ``jobs.batch``: the name used in NotFound messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


_META_FIELDS = ("metadata.name", "metadata.namespace")
RESOURCES: dict[tuple[str, str], _Resource] = {
    ("v1", "pods"): _Resource(
        "",
        "v1",
        "pods",
        "pod",
        "Pod",
        namespaced=True,
        short_names=("po",),
        categories=("all",),
        fields=(
            *_META_FIELDS,
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ),
    ),
    ("v1", "events"): _Resource(
        "",
        "v1",
        "events",
        "event",
        "Event",
        namespaced=True,
        short_names=("ev",),
        categories=(),
        fields=(
            *_META_FIELDS,
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ),
    ),
    ("v1", "services"): _Resource(
        "",
        "v1",
        "services",
        "service",
        "Service",
        namespaced=True,
        short_names=("svc",),
        categories=("all",),
        fields=(*_META_FIELDS, "spec.clusterIP", "spec.type"),
    ),
    ("v1", "endpoints"): _Resource(
        "",
        "v1",
        "endpoints",
        "endpoints",
        "Endpoints",
        namespaced=True,
        short_names=("ep",),
        categories=(),
        fields=_META_FIELDS,
    ),
    ("v1", "namespaces"): _Resource(
        "",
        "v1",
        "namespaces",
        "namespace",
        "Namespace",
        namespaced=False,
        short_names=("ns",),
        categories=(),
        fields=(*_META_FIELDS, "status.phase"),
    ),
    ("batch/v1", "jobs"): _Resource(
        "batch",
        "v1",
        "jobs",
        "job",
        "Job",
        namespaced=True,
        short_names=(),
        categories=("all",),
        fields=(*_META_FIELDS, "status.successful"),
    ),
}
#: Bundle file holding each resource type (namespaces are also derived from the others).
_FILES = {
    "pods": "k8s/pods.json",
    "events": "k8s/events.json",
    "services": "k8s/services.json",
    "endpoints": "k8s/endpoints.json",
    "jobs": "k8s/jobs.json",
    "namespaces": "k8s/namespaces.json",
}

#: kubelet / CRI timestamp prefix of a log line (RFC 3339 with up to ns, then a space),
#: matched on the first bytes of the line: 36 bytes at most with a numeric offset.
_KUBELET_TS = re.compile(rb"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})) ")
_PREFIX_BYTES = 40

#: Status ``reason`` for the HTTP codes this server answers (Kubernetes ``StatusReason``).
_REASONS = {
    400: "BadRequest",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    408: "Timeout",
    410: "Expired",
    413: "RequestEntityTooLarge",
    414: "RequestURITooLong",
    422: "Invalid",
    429: "TooManyRequests",
    431: "RequestHeaderFieldsTooLarge",
    500: "InternalError",
    501: "NotImplemented",
    503: "ServiceUnavailable",
    505: "HTTPVersionNotSupported",
}


class ApiError(Exception):
    """An error answered as a ``Status`` object (code, reason, message, details)."""

    def __init__(self, code: int, reason: str, message: str, details: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = dict(details or {})

    def status(self) -> dict[str, Any]:
        """The ``Status`` object a real API server sends for this error."""
        return _status_doc(self.code, self.reason, self.message, self.details)


def _status_doc(code: int, reason: str, message: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": dict(details or {}),
        "code": code,
    }


def _shown(text: str, limit: int = 100) -> str:
    """``text`` as it goes into a message: as is when short and plain, else JSON-quoted and cut.

    Request text is echoed back to a terminal by kubectl: control characters are escaped.

    Examples
    --------
    >>> _shown("spec.containers")
    'spec.containers'
    >>> _shown("a\\x1b[2Jb")
    '"a\\\\u001b[2Jb"'
    """
    if len(text) <= limit and text.isprintable() and text.isascii() and '"' not in text:
        return text
    cut = text[:limit] + ("…" if len(text) > limit else "")
    return json.dumps(cut)


def _quoted(text: str) -> str:
    """``"text"`` as Kubernetes messages quote names (JSON-escaped, so always one safe line)."""
    return json.dumps(text[:300] + ("…" if len(text) > 300 else ""))


def _not_found(res: _Resource, name: str) -> ApiError:
    details: dict[str, Any] = {"name": name[:300], "kind": res.plural}
    if res.group:
        details["group"] = res.group
    return ApiError(404, "NotFound", f"{res.qualified} {_quoted(name)} not found", details)


def _bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def _invalid(message: str) -> ApiError:
    return ApiError(422, "Invalid", message)


def _internal(message: str) -> ApiError:
    return ApiError(500, "InternalError", message)


# --------------------------------------------------------------------------- names
#: RFC 1123 label (Kubernetes namespaces, container names): checked with ``fullmatch``
#: after the length, so the regex never sees more than 253 characters.
_LABEL = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?")
#: Name part of a qualified label key, and a label value (``k8s.io/apimachinery`` validation).
_QUALIFIED = re.compile(r"(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")

_LABEL_RULE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "start and end with an alphanumeric character, and be at most 63 characters"
)
_SUBDOMAIN_RULE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "start and end with an alphanumeric character, and be at most 253 characters"
)


def is_dns_label(text: str) -> bool:
    """True for an RFC 1123 label: a namespace or container name.

    Examples
    --------
    >>> is_dns_label("panda"), is_dns_label(".."), is_dns_label("Panda"), is_dns_label("a" * 64)
    (True, False, False, False)
    """
    return 0 < len(text) <= 63 and _LABEL.fullmatch(text) is not None


def is_dns_subdomain(text: str) -> bool:
    """True for an RFC 1123 subdomain: a pod, job, event or service name.

    Examples
    --------
    >>> is_dns_subdomain("panda-panda-focus-server-78dbcfd9d9-kjj77.1875e6a0b5d1c2f3")
    True
    >>> is_dns_subdomain("a/../b"), is_dns_subdomain("a..b"), is_dns_subdomain("a%2e")
    (False, False, False)
    """
    return 0 < len(text) <= 253 and all(_LABEL.fullmatch(part) for part in text.split("."))


def _check_namespace(namespace: str) -> None:
    if not is_dns_label(namespace):
        msg = f"invalid namespace {_quoted(namespace)}: {_LABEL_RULE}"
        raise _bad_request(msg)


# --------------------------------------------------------------------------- time
_RFC3339 = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?", re.ASCII)


def _parse_time(value: object) -> datetime | None:
    """RFC 3339 (with up to nanoseconds) → aware UTC datetime; None when empty, unreadable or out of range."""
    if not isinstance(value, str) or not value or len(value) > 64:
        return None
    match = _RFC3339.fullmatch(value.strip().replace("z", "Z"))
    if match is None:
        return None
    frac = (match.group(2) or "")[:7]  # microseconds are enough for comparisons here
    zone = match.group(3) or "Z"
    try:
        parsed = datetime.fromisoformat(match.group(1) + frac + ("+00:00" if zone == "Z" else zone))
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # 2025-13-01, or year 1 with a negative offset
        return None


def human_duration(delta: timedelta) -> str:
    """Format a duration as kubectl's AGE column does (``apimachinery/pkg/util/duration.HumanDuration``).

    Examples
    --------
    >>> human_duration(timedelta(hours=46, minutes=5))
    '46h'
    >>> human_duration(timedelta(days=7, hours=1, minutes=3))
    '7d1h'
    >>> human_duration(timedelta(minutes=4, seconds=59))
    '4m59s'
    """
    seconds = int(delta.total_seconds())
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 60 * 2:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if rest == 0 else f"{hours // 24 // 365}y{rest}d"
    return f"{hours // 24 // 365}y"


# --------------------------------------------------------------------------- selectors
# Label selectors follow k8s.io/apimachinery/pkg/labels (lexer + recursive-descent
# parser): a single left-to-right pass over the text, so a hostile 60 KB selector costs
# microseconds, not the 45 s a backtracking regex took (issue #11). Length and the number
# of requirements are capped before matching starts.
_SPECIAL = frozenset("!=<>(),")
_OPERATORS = {"=": "=", "==": "=", "!=": "!=", "in": "in", "notin": "notin", ">": "gt", "<": "lt"}


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "id", "in", "notin", "!", "!=", "=", "==", "<", ">", "(", ")", ",", "end"
    text: str
    at: int

    def shown(self) -> str:
        return "end of string" if self.kind == "end" else f"'{_shown(self.text, 40)}'"


def _lex(selector: str) -> list[_Token]:
    """Tokens of a label selector, in one pass (identifiers run to whitespace or a symbol)."""
    tokens: list[_Token] = []
    i, n = 0, len(selector)
    while i < n:
        ch = selector[i]
        if ch.isspace():
            i += 1
        elif ch in "!=" and selector.startswith(("!=", "=="), i):
            tokens.append(_Token(selector[i : i + 2], selector[i : i + 2], i))
            i += 2
        elif ch in _SPECIAL:
            tokens.append(_Token(ch, ch, i))
            i += 1
        else:
            start = i
            while i < n and not selector[i].isspace() and selector[i] not in _SPECIAL:
                i += 1
            word = selector[start:i]
            tokens.append(_Token(word if word in ("in", "notin") else "id", word, start))
    tokens.append(_Token("end", "", n))
    return tokens


def _check_size(kind: str, selector: str, limits: ServeLimits) -> None:
    if len(selector) > limits.max_selector_chars:
        msg = (
            f"{kind} selector is {len(selector)} characters long, over the {limits.max_selector_chars}-character cap "
            "of this server; select with fewer or shorter requirements"
        )
        raise _bad_request(msg)


def _label_key_problem(key: str) -> str | None:
    prefix, slash, name = key.rpartition("/")
    if slash and not is_dns_subdomain(prefix):
        return f"prefix part {_SUBDOMAIN_RULE}"
    if not (0 < len(name) <= 63 and _QUALIFIED.fullmatch(name)):
        return (
            "name part must consist of alphanumeric characters, '-', '_' or '.', start and end with an "
            "alphanumeric character, and be at most 63 characters"
        )
    return None


def _label_value_ok(value: str) -> bool:
    return value == "" or (len(value) <= 63 and _QUALIFIED.fullmatch(value) is not None)


def _parse_label_selector(selector: str, limits: ServeLimits) -> list[tuple[str, str, frozenset[str]]]:
    """Requirements ``(operator, key, values)`` of a label selector; ApiError 400 when it is malformed."""
    _check_size("label", selector, limits)
    tokens = _lex(selector)
    requirements: list[tuple[str, str, frozenset[str]]] = []
    pos = 0

    def fail(found: _Token | None, expected: str) -> ApiError:
        where = f"found {found.shown()} at position {found.at}, expected: " if found is not None else ""
        return _bad_request(f"unable to parse requirement: {where}{expected} in label selector {_shown(selector)}")

    if tokens[0].kind == "end":
        return requirements
    while True:
        tok = tokens[pos]
        if tok.kind == "!":
            key_tok = tokens[pos + 1]
            if key_tok.kind != "id":
                raise fail(key_tok, "identifier after '!'")
            op, key, values, pos = "!", key_tok.text, frozenset[str](), pos + 2
        elif tok.kind == "id":
            key, op_tok = tok.text, tokens[pos + 1]
            pos += 2
            if op_tok.kind in (",", "end"):
                op, values, pos = "exists", frozenset(), pos - 1
            elif op_tok.kind in ("=", "==", "!="):
                value_tok = tokens[pos]
                if value_tok.kind == "id":
                    value, pos = value_tok.text, pos + 1
                elif value_tok.kind in (",", "end"):
                    value = ""
                else:
                    raise fail(value_tok, "identifier")
                op, values = _OPERATORS[op_tok.kind], frozenset([value])
            elif op_tok.kind in ("in", "notin"):
                if tokens[pos].kind != "(":
                    raise fail(tokens[pos], "'('")
                pos += 1
                items: list[str] = []
                expecting = True  # as apimachinery: "()" and "(a,)" hold the empty value
                while tokens[pos].kind != ")":
                    item = tokens[pos]
                    if item.kind == "id" and expecting:
                        items.append(item.text)
                        expecting = False
                    elif item.kind == ",":
                        if expecting:
                            items.append("")
                        expecting = True
                    else:
                        raise fail(item, "',' or ')'")
                    pos += 1
                if expecting:
                    items.append("")
                pos += 1
                op, values = op_tok.kind, frozenset(items)
            elif op_tok.kind in (">", "<"):
                value_tok = tokens[pos]
                if value_tok.kind != "id" or _int64(value_tok.text) is None:
                    raise fail(value_tok, "an integer (for the 'gt', 'lt' operators)")
                op, values, pos = _OPERATORS[op_tok.kind], frozenset([value_tok.text]), pos + 1
            else:
                raise fail(op_tok, "=, !=, ==, in, notin, <, >")
        else:
            raise fail(tok, "!, identifier")
        problem = _label_key_problem(key)
        if problem is not None:
            reason = f"key {_quoted(key)}: {problem}"
            raise fail(None, reason)
        bad = next((v for v in sorted(values) if not _label_value_ok(v)), None) if op not in ("gt", "lt") else None
        if bad is not None:
            reason = (
                f"values[{key}]: Invalid value: {_quoted(bad)}: a valid label value must be an empty string or "
                "consist of alphanumeric characters, '-', '_' or '.', start and end with an alphanumeric character"
            )
            raise fail(None, reason)
        requirements.append((op, key, values))
        if len(requirements) > limits.max_selector_terms:
            msg = f"label selector has more than {limits.max_selector_terms} requirements, the cap of this server"
            raise _bad_request(msg)
        end = tokens[pos]
        if end.kind == "end":
            return requirements
        if end.kind != ",":
            raise fail(end, "',' or 'end of string'")
        pos += 1


def _int64(text: str) -> int | None:
    """``text`` as Go's ``strconv.ParseInt(text, 10, 64)`` reads it (ASCII digits, optional sign), else None."""
    digits = text[1:] if text[:1] in "+-" else text
    if not (0 < len(digits) <= 19 and digits.isascii() and digits.isdigit()):
        return None
    value = int(text)
    return value if -(1 << 63) <= value < (1 << 63) else None


def label_matcher(selector: str, *, limits: ServeLimits | None = None) -> Callable[[Mapping[str, str]], bool]:
    """Compile a label selector (``a=b``, ``a!=b``, ``a in (x,y)``, ``a notin (x)``, ``a``, ``!a``, ``a>1``; comma = AND).

    Parsing is linear in the selector's length, which is capped
    (:attr:`ServeLimits.max_selector_chars`), as is the number of requirements.

    Examples
    --------
    >>> match = label_matcher("app in (web,api),tier!=db,!canary")
    >>> match({"app": "web", "tier": "front"}), match({"app": "web", "canary": "1"})
    (True, False)
    """
    requirements = _parse_label_selector(selector, limits or ServeLimits())

    def matches(labels: Mapping[str, str]) -> bool:
        for op, key, values in requirements:
            value = labels.get(key)
            if op == "!":
                ok = value is None
            elif op == "exists":
                ok = value is not None
            elif op in ("=", "in"):
                ok = value is not None and value in values
            elif op in ("!=", "notin"):
                ok = value is None or value not in values
            else:  # gt / lt compare integers; a label that is not one never matches
                have, want = _int64(value or ""), _int64(next(iter(values)))
                ok = have is not None and want is not None and (have > want if op == "gt" else have < want)
            if not ok:
                return False
        return True

    return matches


def _field_value(obj: Mapping[str, Any], path: str) -> str:
    """The string form of a dotted field as field selectors compare it ("" when absent)."""
    if path == "source":  # events: the source component
        return _text(_d(obj.get("source")).get("component"))
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if value is None or isinstance(value, dict | list):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _field_terms(selector: str) -> list[str]:
    """Split on commas not escaped with a backslash (``fields.splitTerms``); escapes are kept."""
    terms: list[str] = []
    start, i, n = 0, 0, len(selector)
    while i < n:
        if selector[i] == "\\":
            i += 2
            continue
        if selector[i] == ",":
            terms.append(selector[start:i])
            start = i + 1
        i += 1
    terms.append(selector[start:])
    return terms


def _unescape_field(value: str, selector: str) -> str:
    """Undo ``\\\\``, ``\\,`` and ``\\=`` (``fields.UnescapeValue``); anything else is 400."""
    if "\\" not in value:
        return value
    out: list[str] = []
    i = 0
    while i < len(value):
        if value[i] == "\\":
            nxt = value[i + 1 : i + 2]
            if nxt not in ("\\", ",", "="):
                msg = f"invalid field selector {_shown(selector)}: invalid escape sequence at position {i}"
                raise _bad_request(msg)
            out.append(nxt)
            i += 2
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def field_matcher(
    selector: str, res: _Resource, *, limits: ServeLimits | None = None
) -> Callable[[Mapping[str, Any]], bool]:
    """Compile a field selector (``f=v``, ``f==v``, ``f!=v``; comma = AND; ``\\,`` escapes) for ``res``.

    Examples
    --------
    >>> match = field_matcher("status.phase!=Running,spec.nodeName=k3s-0", RESOURCES[("v1", "pods")])
    >>> match({"status": {"phase": "Pending"}, "spec": {"nodeName": "k3s-0"}})
    True
    """
    limits = limits or ServeLimits()
    _check_size("field", selector, limits)
    requirements: list[tuple[str, bool, str]] = []  # (field, equal, value)
    for term in _field_terms(selector):
        if not term.strip():
            continue
        found = None
        i = 0
        while i < len(term) and found is None:  # the first operator, escapes skipped (fields.splitTerm)
            if term[i] == "\\":
                i += 2
                continue
            for op in ("!=", "==", "="):
                if term.startswith(op, i):
                    found = (i, op)
                    break
            i += 1
        if found is None:
            msg = f"invalid selector: {_shown(selector)}; can't understand {_shown(term.strip())}"
            raise _bad_request(msg)
        at, op = found
        path, value = term[:at].strip(), _unescape_field(term[at + len(op) :].strip(), selector)
        if path not in res.fields:
            msg = f"field label not supported: {_shown(path)}"
            raise _bad_request(msg)
        requirements.append((path, op != "!=", value))
        if len(requirements) > limits.max_selector_terms:
            msg = f"field selector has more than {limits.max_selector_terms} requirements, the cap of this server"
            raise _bad_request(msg)

    def matches(obj: Mapping[str, Any]) -> bool:
        return all((_field_value(obj, path) == value) is equal for path, equal, value in requirements)

    return matches


# --------------------------------------------------------------------------- safe access
# Bundle JSON is untrusted: any field may hold any JSON type. The printers and indexes read
# it only through these, so a wrong type reads as "absent", never as an exception.
def _d(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: object) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _text(value: object) -> str:
    """A cell's text: strings as they are, numbers and booleans printed, anything else ""."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value) if not isinstance(value, int) or abs(value) < 10**100 else "<out of range>"
    return ""


def _count(value: object, default: int = 0) -> int:
    """A count as kubectl shows it: an integer (also ``7.0`` or ``"7"``); anything else is ``default``.

    Examples
    --------
    >>> _count(4), _count("7"), _count(-1), _count(None), _count(float("inf")), _count(2**70), _count([1])
    (4, 7, -1, 0, 0, 0, 0)
    """
    if isinstance(value, bool):
        return default
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        value = _int64(value.strip())
    if isinstance(value, int) and -(1 << 31) <= value < (1 << 31):  # restartCount, exitCode are int32
        return value
    return default


# --------------------------------------------------------------------------- tables
def _col(name: str, description: str, *, priority: int = 0, type_: str = "string", fmt: str = "") -> dict[str, Any]:
    return {"name": name, "type": type_, "format": fmt, "description": description, "priority": priority}


_NAME_COL = _col("Name", "Name must be unique within a namespace.", fmt="name")
_AGE_COL = _col("Age", "CreationTimestamp is a timestamp representing the server time when this object was created.")


def _since(ts: object, now: datetime) -> str:
    """kubectl's ``translateTimestampSince``: ``<unknown>`` for a missing time."""
    parsed = _parse_time(ts)
    return "<unknown>" if parsed is None else human_duration(now - parsed)


def _pod_row(pod: Mapping[str, Any], now: datetime) -> list[Any]:
    """Cells of ``kubectl get pods`` (kubernetes ``pkg/printers/internalversion`` printPod)."""
    spec, status, meta = _d(pod.get("spec")), _d(pod.get("status")), _d(pod.get("metadata"))
    conditions = _dicts(status.get("conditions"))
    restarts = 0
    total = len(_dicts(spec.get("containers")))
    ready = 0
    last_restart: datetime | None = None
    reason = _text(status.get("reason")) or _text(status.get("phase"))
    for cond in conditions:
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    def later(current: datetime | None, finished: object) -> datetime | None:
        when = _parse_time(finished)
        return when if when is not None and (current is None or when > current) else current

    init_specs = {_text(c.get("name")): c for c in _dicts(spec.get("initContainers"))}
    sidecars = {n for n, c in init_specs.items() if c.get("restartPolicy") == "Always"}
    total += len(sidecars)
    initializing = False
    sidecar_restarts, sidecar_last = 0, None
    for i, cs in enumerate(_dicts(status.get("initContainerStatuses"))):
        name = _text(cs.get("name"))
        restarts += _count(cs.get("restartCount"))
        last_term = _d(_d(cs.get("lastState")).get("terminated"))
        if last_term:
            last_restart = later(last_restart, last_term.get("finishedAt"))
        if name in sidecars:
            sidecar_restarts += _count(cs.get("restartCount"))
            if last_term:
                sidecar_last = later(sidecar_last, last_term.get("finishedAt"))
        state = _d(cs.get("state"))
        term, waiting = _d(state.get("terminated")), _d(state.get("waiting"))
        if term and _count(term.get("exitCode")) == 0:
            continue
        if name in sidecars and cs.get("started"):
            ready += 1 if cs.get("ready") else 0
            continue
        if term:
            if _text(term.get("reason")):
                reason = "Init:" + _text(term.get("reason"))
            elif _count(term.get("signal")):
                reason = f"Init:Signal:{_count(term.get('signal'))}"
            else:
                reason = f"Init:ExitCode:{_count(term.get('exitCode'))}"
        elif _text(waiting.get("reason")) and waiting.get("reason") != "PodInitializing":
            reason = "Init:" + _text(waiting.get("reason"))
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break
    initialized = any(c.get("type") == "Initialized" and c.get("status") == "True" for c in conditions)
    if not initializing or initialized:
        restarts, last_restart = sidecar_restarts, sidecar_last
        has_running = False
        for cs in reversed(_dicts(status.get("containerStatuses"))):
            restarts += _count(cs.get("restartCount"))
            last_term = _d(_d(cs.get("lastState")).get("terminated"))
            if last_term:
                last_restart = later(last_restart, last_term.get("finishedAt"))
            state = _d(cs.get("state"))
            term, waiting = _d(state.get("terminated")), _d(state.get("waiting"))
            if _text(waiting.get("reason")):
                reason = _text(waiting.get("reason"))
            elif _text(term.get("reason")):
                reason = _text(term.get("reason"))
            elif term:
                signal = _count(term.get("signal"))
                reason = f"Signal:{signal}" if signal else f"ExitCode:{_count(term.get('exitCode'))}"
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            pod_ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
            reason = "Running" if pod_ready else "NotReady"
    if meta.get("deletionTimestamp") and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif meta.get("deletionTimestamp") and status.get("phase") not in ("Succeeded", "Failed"):
        reason = "Terminating"
    restarts_text = str(restarts)
    if restarts and last_restart is not None:
        restarts_text = f"{restarts} ({human_duration(now - last_restart)} ago)"
    ips = [_text(p.get("ip")) for p in _dicts(status.get("podIPs")) if _text(p.get("ip"))] or (
        [_text(status.get("podIP"))] if _text(status.get("podIP")) else []
    )
    gates = _dicts(spec.get("readinessGates"))
    gates_text = "<none>"
    if gates:
        conds = {_text(c.get("type")): c.get("status") for c in conditions}
        gates_text = f"{sum(conds.get(_text(g.get('conditionType'))) == 'True' for g in gates)}/{len(gates)}"
    return [
        _text(meta.get("name")),
        f"{ready}/{total}",
        reason,
        restarts_text,
        _since(meta.get("creationTimestamp"), now),
        ips[0] if ips else "<none>",
        _text(spec.get("nodeName")) or "<none>",
        _text(status.get("nominatedNodeName")) or "<none>",
        gates_text,
    ]


def _event_row(ev: Mapping[str, Any], now: datetime) -> list[Any]:
    first = _since(ev.get("firstTimestamp"), now) if ev.get("firstTimestamp") else _since(ev.get("eventTime"), now)
    last = _since(ev.get("lastTimestamp"), now) if ev.get("lastTimestamp") else first
    count = _count(ev.get("count")) or 1
    series = _d(ev.get("series"))
    if series:
        last, count = _since(series.get("lastObservedTime"), now), _count(series.get("count")) or count
    involved = _d(ev.get("involvedObject"))
    kind = _text(involved.get("kind")).lower()
    target = f"{kind}/{_text(involved.get('name'))}" if _text(involved.get("name")) else kind
    source = _d(ev.get("source"))
    origin = _text(source.get("component")) or _text(ev.get("reportingComponent"))
    host = _text(source.get("host")) or _text(ev.get("reportingInstance"))
    origin_text = f"{origin}, {host}" if host else origin
    return [
        last,
        _text(ev.get("type")),
        _text(ev.get("reason")),
        target,
        _text(involved.get("fieldPath")),
        origin_text,
        _text(ev.get("message")).strip(),
        first,
        count,
        _text(_d(ev.get("metadata")).get("name")),
    ]


def _pairs(mapping: object) -> str:
    """``k=v,k2=v2`` of a selector map, sorted by key."""
    return ",".join(f"{k}={_text(v)}" for k, v in sorted(_d(mapping).items(), key=lambda kv: str(kv[0])))


def _texts(value: object) -> list[str]:
    return [t for t in (_text(v) for v in value) if t] if isinstance(value, list) else []


def _service_row(svc: Mapping[str, Any], now: datetime) -> list[Any]:
    spec, status, meta = _d(svc.get("spec")), _d(svc.get("status")), _d(svc.get("metadata"))
    kind = _text(spec.get("type")) or "ClusterIP"
    external = "<none>"
    if kind == "LoadBalancer":
        ingress = [
            _text(i.get("ip")) or _text(i.get("hostname"))
            for i in _dicts(_d(status.get("loadBalancer")).get("ingress"))
        ]
        external = ",".join([*(i for i in ingress if i), *_texts(spec.get("externalIPs"))]) or "<pending>"
    elif kind == "ExternalName":
        external = _text(spec.get("externalName")) or "<none>"
    elif _texts(spec.get("externalIPs")):
        external = ",".join(_texts(spec.get("externalIPs")))
    ports = []
    for port in _dicts(spec.get("ports")):
        node_port = _text(port.get("nodePort"))
        text = f"{_text(port.get('port'))}:{node_port}" if node_port else _text(port.get("port"))
        ports.append(f"{text}/{_text(port.get('protocol')) or 'TCP'}")
    return [
        _text(meta.get("name")),
        kind,
        _text(spec.get("clusterIP")) or "<none>",
        external,
        ",".join(ports) or "<none>",
        _since(meta.get("creationTimestamp"), now),
        _pairs(spec.get("selector")) or "<none>",
    ]


def _endpoints_row(ep: Mapping[str, Any], now: datetime) -> list[Any]:
    listed: list[str] = []
    count, more = 0, False
    subsets = _dicts(ep.get("subsets"))
    for subset in subsets:
        addresses = [_text(a.get("ip")) for a in _dicts(subset.get("addresses"))]
        port_list = _dicts(subset.get("ports"))
        targets = (
            [(ip, "") for ip in addresses]
            if not port_list
            else [(ip, _text(p.get("port"))) for p in port_list for ip in addresses]
        )
        count += len(targets)
        for ip, port in targets:
            if len(listed) == 3:
                more = True
                break
            listed.append(ip if not port else (f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"))
    text = ",".join(listed) if subsets else "<none>"
    if more:
        text = f"{text} + {count - 3} more..."
    meta = _d(ep.get("metadata"))
    return [_text(meta.get("name")), text, _since(meta.get("creationTimestamp"), now)]


def _job_row(job: Mapping[str, Any], now: datetime) -> list[Any]:
    spec, status, meta = _d(job.get("spec")), _d(job.get("status")), _d(job.get("metadata"))
    conds = {_text(c.get("type")) for c in _dicts(status.get("conditions")) if c.get("status") == "True"}
    if "Complete" in conds:
        state = "Complete"
    elif "Failed" in conds:
        state = "Failed"
    elif meta.get("deletionTimestamp"):
        state = "Terminating"
    elif "Suspended" in conds:
        state = "Suspended"
    elif "FailureTarget" in conds:
        state = "FailureTarget"
    else:
        state = "Running"
    succeeded = _count(status.get("succeeded"))
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{_text(spec.get('completions'))}"
    elif _count(spec.get("parallelism"), 1) > 1:
        completions = f"{succeeded}/1 of {_count(spec.get('parallelism'), 1)}"
    else:
        completions = f"{succeeded}/1"
    start, end = _parse_time(status.get("startTime")), _parse_time(status.get("completionTime"))
    duration = "" if start is None else human_duration((end or now) - start)
    template = _dicts(_d(_d(spec.get("template")).get("spec")).get("containers"))
    return [
        _text(meta.get("name")),
        state,
        completions,
        duration,
        _since(meta.get("creationTimestamp"), now),
        ",".join(_text(c.get("name")) for c in template),
        ",".join(_text(c.get("image")) for c in template),
        _pairs(_d(spec.get("selector")).get("matchLabels")) or "<none>",
    ]


def _namespace_row(ns: Mapping[str, Any], now: datetime) -> list[Any]:
    meta = _d(ns.get("metadata"))
    return [
        _text(meta.get("name")),
        _text(_d(ns.get("status")).get("phase")),
        _since(meta.get("creationTimestamp"), now),
    ]


TABLES: dict[str, tuple[list[dict[str, Any]], Callable[[Mapping[str, Any], datetime], list[Any]]]] = {
    "pods": (
        [
            _NAME_COL,
            _col("Ready", "The aggregate readiness state of this pod for accepting traffic."),
            _col("Status", "The aggregate status of the containers in this pod."),
            _col(
                "Restarts",
                "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
            ),
            _AGE_COL,
            _col(
                "IP",
                "IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
                priority=1,
            ),
            _col("Node", "NodeName is a request to schedule this pod onto a specific node.", priority=1),
            _col(
                "Nominated Node",
                "nominatedNodeName is set only when this pod preempts other pods on the node.",
                priority=1,
            ),
            _col(
                "Readiness Gates", "If specified, all readiness gates will be evaluated for pod readiness.", priority=1
            ),
        ],
        _pod_row,
    ),
    "events": (
        [
            _col("Last Seen", "The time at which the most recent occurrence of this event was recorded."),
            _col("Type", "Type of this event (Normal, Warning), new types could be added in the future."),
            _col(
                "Reason",
                "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
            ),
            _col("Object", "The object that this event is about."),
            _col("Subobject", "The subobject this event is about.", priority=1),
            _col("Source", "The component reporting this event.", priority=1),
            _col("Message", "A human-readable description of the status of this operation."),
            _col("First Seen", "The time at which the event was first recorded.", priority=1),
            _col("Count", "The number of times this event has occurred.", priority=1, type_="integer"),
            _col("Name", "Name must be unique within a namespace.", priority=1, fmt="name"),
        ],
        _event_row,
    ),
    "services": (
        [
            _NAME_COL,
            _col("Type", "type determines how the Service is exposed."),
            _col("Cluster-IP", "clusterIP is the IP address of the service."),
            _col(
                "External-IP",
                "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.",
            ),
            _col("Port(s)", "The list of ports that are exposed by this service."),
            _AGE_COL,
            _col(
                "Selector",
                "Route service traffic to pods with label keys and values matching this selector.",
                priority=1,
            ),
        ],
        _service_row,
    ),
    "endpoints": (
        [
            _NAME_COL,
            _col("Endpoints", "Endpoints of the service"),
            _AGE_COL,
        ],
        _endpoints_row,
    ),
    "jobs": (
        [
            _NAME_COL,
            _col("Status", "Status of the job."),
            _col("Completions", "The completion status of the job."),
            _col("Duration", "Time required to complete the job."),
            _AGE_COL,
            _col("Containers", "Names of each container in the template.", priority=1),
            _col("Images", "Images referenced by each container in the template.", priority=1),
            _col("Selector", "A label query over pods that should match the pod count.", priority=1),
        ],
        _job_row,
    ),
    "namespaces": (
        [
            _NAME_COL,
            _col("Status", "The status of the namespace"),
            _AGE_COL,
        ],
        _namespace_row,
    ),
}


# --------------------------------------------------------------------------- bundle data
def _json_type(value: object) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    return "null" if value is None else "number"


class _JsonOddities:
    """Hooks for ``json.loads`` that keep what Python would mangle, and count it.

    * duplicate keys: the last value is kept (as Go's ``encoding/json`` and so kubectl do),
      counted, the first key named;
    * numbers a float cannot hold (``1e400``), integers too long to print back, and the
      ``NaN`` / ``Infinity`` literals (not JSON): kept as their text in a string, so what is
      served is always valid JSON.
    """

    def __init__(self) -> None:
        self.duplicates = 0
        self.first_duplicate = ""
        self.out_of_range = 0
        self.first_out_of_range = ""

    def pairs(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    self.duplicates += 1
                    self.first_duplicate = self.first_duplicate or key
                seen.add(key)
        return obj

    def _odd(self, text: str) -> str:
        self.out_of_range += 1
        self.first_out_of_range = self.first_out_of_range or text[:40]
        return text

    def integer(self, text: str) -> int | str:
        return self._odd(text) if len(text) > 4000 else int(text)  # Python prints ints up to 4300 digits

    def number(self, text: str) -> float | str:
        value = float(text)
        return value if math.isfinite(value) else self._odd(text)

    def constant(self, text: str) -> str:
        return self._odd(text)


def _too_deep(value: object, limit: int) -> bool:
    """True when ``value`` nests containers deeper than ``limit`` (iterative: no recursion to exhaust)."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


class _PartError(Exception):
    """A bundle part that cannot be served; the message names the file and what is wrong."""


def _open_evidence(bundle: Bundle, rel: str, top: Path) -> BinaryIO:
    """Open bundle file ``rel`` for reading: listed, regular, and (checked once open) inside ``top``.

    :meth:`Bundle.path_of` checked the path when the bundle was walked; the check on the
    open descriptor catches a file swapped for a link or a FIFO since then.
    """
    path = bundle.path_of(rel)
    handle = open_regular(path)
    try:
        try:
            real = Path(f"/proc/self/fd/{handle.fileno()}").readlink()
        except OSError:  # no /proc: the resolved path is the best check there is
            real = path.resolve()
        if not real.is_relative_to(top):
            msg = f"{bundle.origin}: {rel}: now resolves to a file outside the bundle; not served"
            raise BundleError(msg)
    except BaseException:
        handle.close()
        raise
    return handle


@dataclass(slots=True)
class _Entry:
    """One served object with its index fields (read once, defensively)."""

    obj: dict[str, Any]
    namespace: str | None
    name: str | None
    labels: dict[str, str]

    @classmethod
    def of(cls, obj: dict[str, Any]) -> _Entry:
        meta = _d(obj.get("metadata"))
        namespace, name = meta.get("namespace"), meta.get("name")
        labels = {k: v for k, v in _d(meta.get("labels")).items() if isinstance(v, str)}
        return cls(
            obj, namespace if isinstance(namespace, str) else None, name if isinstance(name, str) else None, labels
        )


def _log_key(rel: str) -> tuple[str, str, str, bool] | None:
    """``(namespace, pod, container, previous)`` of ``logs/<ns>/<pod>/<container>[.previous].log``."""
    parts = rel.split("/")
    if len(parts) != 4 or parts[0] != "logs" or not parts[3].endswith(".log"):
        return None
    previous = parts[3].endswith(".previous.log")
    container = parts[3].removesuffix(".log").removesuffix(".previous") if previous else parts[3].removesuffix(".log")
    return parts[1], parts[2], container, previous


class _Store:
    """The bundle's objects and log files, indexed for the handlers (read-only after construction).

    Requests are answered from these indexes only: a name from a URL is looked up here,
    never joined into a path.
    """

    def __init__(self, bundle: Bundle, limits: ServeLimits):
        self.bundle = bundle
        self.limits = limits
        #: what could not be read or was odd, one line each (also logged as warnings)
        self.problems: list[str] = []
        #: parts that cannot be served at all: plural -> message (answered as 500)
        self.errors: dict[str, str] = {}
        self.top = bundle.root.resolve()
        files = bundle.files()
        refused = dict(bundle.refused())
        self.now = self._clock(files)
        self.entries: dict[str, list[_Entry]] = {}
        self.by_key: dict[str, dict[tuple[str | None, str], _Entry]] = {}
        for plural, rel in _FILES.items():
            res = next(r for r in RESOURCES.values() if r.plural == plural)
            entries = []
            for item in self._read_items(plural, rel, files, refused):
                obj = dict(item)
                obj.setdefault("apiVersion", res.api_version)
                obj.setdefault("kind", res.kind)
                entries.append(_Entry.of(obj))
            # a real API server lists in storage-key order: namespace, then name
            entries.sort(key=lambda e: (e.namespace or "", e.name or ""))
            self.entries[plural] = entries
        self.logs: dict[tuple[str, str], dict[tuple[str, bool], str]] = {}
        self.refused_logs: dict[tuple[str, str], dict[tuple[str, bool], str]] = {}
        self._index_logs(files, refused)
        self._add_namespaces()
        for plural, entries in self.entries.items():
            res = next(r for r in RESOURCES.values() if r.plural == plural)
            index: dict[tuple[str | None, str], _Entry] = {}
            for entry in entries:
                if entry.name is not None:
                    index.setdefault((entry.namespace if res.namespaced else None, entry.name), entry)
            self.by_key[plural] = index
        versions = [
            int(rv)
            for entries in self.entries.values()
            for e in entries
            if isinstance(rv := _d(e.obj.get("metadata")).get("resourceVersion"), str)
            and 0 < len(rv) <= 18
            and rv.isascii()
            and rv.isdigit()
        ]
        self.resource_version = str(max(versions, default=1))
        for problem in self.problems:
            log.warning("%s: %s", bundle.origin, problem)

    # ---- loading
    def _clock(self, files: list[str]) -> datetime:
        created = self.bundle.manifest.get("created_at")
        now = _parse_time(created) if isinstance(created, str) else None
        if now is not None:
            return now
        newest = 0.0  # no manifest time: the newest file in the bundle is "now"
        for rel in files:
            try:
                newest = max(newest, self.bundle.path_of(rel).stat().st_mtime)
            except (OSError, BundleError):
                continue
        try:
            return datetime.fromtimestamp(newest, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return datetime.now(tz=UTC)

    def _read_items(self, plural: str, rel: str, files: list[str], refused: Mapping[str, str]) -> list[dict[str, Any]]:
        try:
            return self._parse_part(rel, files, refused)
        except _PartError as err:
            message = str(err)
            self.errors[plural] = message
            self.problems.append(message)
            return []

    def _parse_part(self, rel: str, files: list[str], refused: Mapping[str, str]) -> list[dict[str, Any]]:
        limits = self.limits
        if rel in refused:
            msg = f"{rel}: {refused[rel]}; not read"
            raise _PartError(msg)
        if rel not in files:
            return []  # a missing part is "no evidence"
        try:
            with _open_evidence(self.bundle, rel, self.top) as handle:
                size = os.fstat(handle.fileno()).st_size
                data = b"" if size > limits.max_json_bytes else handle.read(limits.max_json_bytes + 1)
        except BundleError as err:
            raise _PartError(str(err)) from err
        except OSError as err:
            msg = f"{rel}: cannot read ({err.strerror or type(err).__name__})"
            raise _PartError(msg) from err
        if size > limits.max_json_bytes or len(data) > limits.max_json_bytes:
            msg = f"{rel}: over the {limits.max_json_bytes}-byte cap for one JSON part; not read"
            raise _PartError(msg)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            msg = f"{rel}: not UTF-8 text (byte {err.start}); re-save it with `kubectl get -A -o json`"
            raise _PartError(msg) from err
        odd = _JsonOddities()
        try:
            doc = json.loads(
                text,
                object_pairs_hook=odd.pairs,
                parse_int=odd.integer,
                parse_float=odd.number,
                parse_constant=odd.constant,
            )
        except RecursionError as err:
            msg = f"{rel}: JSON nested too deeply to read"
            raise _PartError(msg) from err
        except json.JSONDecodeError as err:
            msg = f"{rel}: line {err.lineno} column {err.colno}: malformed JSON ({err.msg}); re-save it with `kubectl get -A -o json`"
            raise _PartError(msg) from err
        except ValueError as err:
            msg = f"{rel}: unreadable JSON ({err})"
            raise _PartError(msg) from err
        if isinstance(doc, list):
            items: Any = doc
        elif isinstance(doc, dict):
            if "items" in doc:
                items = doc["items"] if doc["items"] is not None else []
            elif doc.get("kind") in (None, "List"):
                items = []
            else:
                items = [doc]  # a single object saved with `kubectl get x NAME -o json`
            if not isinstance(items, list):
                msg = f'{rel}: "items" is a JSON {_json_type(items)}, not an array; not a Kubernetes list'
                raise _PartError(msg)
        else:
            msg = f'{rel}: a JSON {_json_type(doc)}, not a Kubernetes list (an object with "items")'
            raise _PartError(msg)
        kept: list[dict[str, Any]] = []
        not_objects: list[int] = []
        too_deep: list[int] = []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                not_objects.append(index)
            elif _too_deep(item, limits.max_json_depth):
                too_deep.append(index)
            else:
                kept.append(item)
        if not_objects:
            first = not_objects[0]
            self.problems.append(
                f"{rel}: {len(not_objects)} of {len(items)} items are not JSON objects "
                f"(first: items[{first}], a {_json_type(items[first])}); not served"
            )
        if too_deep:
            self.problems.append(
                f"{rel}: {len(too_deep)} items nest deeper than {limits.max_json_depth} levels "
                f"(first: items[{too_deep[0]}]); not served"
            )
        if odd.duplicates:
            self.problems.append(
                f"{rel}: {odd.duplicates} duplicate JSON keys (first: {_quoted(odd.first_duplicate)}); "
                "the last value of each is served, as kubectl reads such a file"
            )
        if odd.out_of_range:
            self.problems.append(
                f"{rel}: {odd.out_of_range} numbers out of range (first: {odd.first_out_of_range}); served as strings"
            )
        return kept

    def _index_logs(self, files: list[str], refused: Mapping[str, str]) -> None:
        unreachable: list[str] = []
        for rel, reason in [*((f, None) for f in files), *refused.items()]:
            key = _log_key(rel)
            if key is None:
                continue
            namespace, pod, container, previous = key
            if not (is_dns_label(namespace) and is_dns_subdomain(pod) and is_dns_label(container)):
                unreachable.append(rel)
                continue
            target = self.logs if reason is None else self.refused_logs
            target.setdefault((namespace, pod), {})[(container, previous)] = rel if reason is None else reason
        if unreachable:
            self.problems.append(
                f"{len(unreachable)} log files have names the Kubernetes API cannot ask for "
                f"(first: {_shown(unreachable[0])}; namespace, pod and container must be RFC 1123 names); not served"
            )
        for (namespace, pod), reasons in sorted(self.refused_logs.items()):
            for (container, previous), reason in sorted(reasons.items()):
                suffix = ".previous.log" if previous else ".log"
                self.problems.append(f"logs/{namespace}/{pod}/{container}{suffix}: {reason}; answered 403 Forbidden")

    def _add_namespaces(self) -> None:
        names = {e.name for e in self.entries["namespaces"] if e.name}
        derived = {e.namespace for k, v in self.entries.items() if k != "namespaces" for e in v if e.namespace}
        given = self.bundle.manifest.get("namespaces")
        derived |= {n for n in given if isinstance(n, str)} if isinstance(given, list) else set()
        derived |= {ns for ns, _ in [*self.logs, *self.refused_logs]}
        for ns in sorted(n for n in derived - names if n is not None and is_dns_label(n)):
            obj = {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}},
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            }
            self.entries["namespaces"].append(_Entry.of(obj))
        self.entries["namespaces"].sort(key=lambda e: e.name or "")

    # ---- queries
    def _usable(self, res: _Resource) -> None:
        if res.plural in self.errors:
            raise _internal(self.errors[res.plural])

    def find(self, res: _Resource, namespace: str | None, name: str) -> dict[str, Any]:
        """The object ``name`` (in ``namespace``); ApiError 404 when the bundle has none, 500 when its part is broken."""
        self._usable(res)
        ok = is_dns_label(name) if res.plural == "namespaces" else is_dns_subdomain(name)
        entry = self.by_key[res.plural].get((namespace if res.namespaced else None, name)) if ok else None
        if entry is None:
            raise _not_found(res, name)
        return entry.obj

    def select(self, res: _Resource, namespace: str | None, query: Mapping[str, str]) -> list[dict[str, Any]]:
        """Objects of ``res`` in ``namespace`` (all when None) matching the query's selectors."""
        self._usable(res)
        entries = self.entries[res.plural]
        if namespace is not None:
            entries = [e for e in entries if e.namespace == namespace]
        if query.get("labelSelector"):
            match_labels = label_matcher(query["labelSelector"], limits=self.limits)
            entries = [e for e in entries if match_labels(e.labels)]
        items = [e.obj for e in entries]
        if query.get("fieldSelector"):
            match_fields = field_matcher(query["fieldSelector"], res, limits=self.limits)
            items = [o for o in items if match_fields(o)]
        return items


# --------------------------------------------------------------------------- logs
@dataclass(slots=True)
class _LogPlan:
    """What ``GET .../pods/{name}/log`` sends: a file from ``start``, filtered line by line, capped."""

    rel: str
    handle: BinaryIO
    start: int
    since: datetime | None
    strip: bool  # remove the kubelet timestamp prefix (timestamps=false)
    limit: int  # most bytes to send (limitBytes, or the server's cap)
    capped: bool  # the limit is the server's cap, not the client's limitBytes


def _plan_log(store: _Store, namespace: str, name: str, query: Mapping[str, str]) -> _LogPlan | None:
    """Check a log request and open its file; None when the container has no output in the bundle.

    Every error is raised before the response starts, so it is answered as a Status.
    """
    pods_res = RESOURCES[("v1", "pods")]
    _check_namespace(namespace)
    if not is_dns_subdomain(name):
        raise _not_found(pods_res, name)
    files = store.logs.get((namespace, name), {})
    refused = store.refused_logs.get((namespace, name), {})
    pod: dict[str, Any] | None = None
    if "pods" not in store.errors:  # with k8s/pods.json unreadable, the log files still tell the containers
        try:
            pod = store.find(pods_res, namespace, name)
        except ApiError:
            if not files and not refused:
                raise
    elif not files and not refused:
        raise _not_found(pods_res, name)
    if pod is not None:
        spec = _d(pod.get("spec"))
        containers = [_text(c.get("name")) for c in _dicts(spec.get("containers"))]
        others = [
            _text(c.get("name"))
            for c in [*_dicts(spec.get("initContainers")), *_dicts(spec.get("ephemeralContainers"))]
        ]
    else:  # logs kept for a pod the bundle has no object for: still serve them
        containers = sorted({c for c, _ in [*files, *refused]})
        others = []
    container = query.get("container", "")
    if not container:
        if len(containers) != 1:
            msg = f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]"
            if others:
                msg += f" or one of the init containers: [{' '.join(others)}]"
            raise _bad_request(msg)
        container = containers[0]
    elif not is_dns_label(container) or (container not in containers and container not in others):
        msg = f"container {_shown(container)} is not valid for pod {name}"
        raise _bad_request(msg)
    previous = _bool_param(query, "previous")
    timestamps = _bool_param(query, "timestamps")
    since: datetime | None = None
    if query.get("sinceSeconds") and query.get("sinceTime"):
        msg = "at most one of `sinceTime` or `sinceSeconds` may be specified"
        raise _invalid(msg)
    if query.get("sinceSeconds"):
        seconds = _int_param(query, "sinceSeconds")
        if seconds < 1:
            msg = "sinceSeconds: Invalid value: must be greater than 0"
            raise _invalid(msg)
        try:
            since = store.now - timedelta(seconds=seconds)
        except OverflowError:  # further back than datetime goes: every line
            since = None
    elif query.get("sinceTime"):
        since = _parse_time(query["sinceTime"])
        if since is None:
            msg = f"sinceTime: Invalid value: {_quoted(query['sinceTime'])}: must be RFC 3339"
            raise _bad_request(msg)
    tail: int | None = None
    if query.get("tailLines"):
        tail = _int_param(query, "tailLines")
        if tail < 0:
            msg = "tailLines: Invalid value: must be greater than or equal to 0"
            raise _invalid(msg)
    limit, capped = store.limits.max_log_bytes, True
    if query.get("limitBytes"):
        asked = _int_param(query, "limitBytes")
        if asked < 1:
            msg = "limitBytes: Invalid value: must be greater than 0"
            raise _invalid(msg)
        if asked <= limit:
            limit, capped = asked, False
    shown = f"logs/{namespace}/{name}/{container}{'.previous' if previous else ''}.log"
    if (container, previous) in refused:
        msg = f"{shown}: {refused[(container, previous)]}; serve-bundle reads only regular files inside the bundle"
        raise ApiError(403, "Forbidden", msg)
    rel = files.get((container, previous))
    if rel is None:
        if previous:
            msg = f'previous terminated container "{container}" in pod "{name}" not found'
            raise _bad_request(msg)
        return None  # the container exists but the bundle holds no output for it
    try:
        handle = _open_evidence(store.bundle, rel, store.top)
    except BundleError as err:
        raise ApiError(403, "Forbidden", f"{shown}: {err}") from err
    except NotRegularFileError as err:  # swapped for a FIFO or device since the bundle was walked
        msg = f"{shown}: {err.strerror}; serve-bundle reads only regular files inside the bundle"
        raise ApiError(403, "Forbidden", msg) from err
    except OSError as err:
        msg = f"{shown}: cannot read ({err.strerror or type(err).__name__})"
        raise _internal(msg) from err
    try:
        start = 0 if tail is None else _tail_start(handle, tail, max_scan=store.limits.max_log_bytes, rel=rel)
    except OSError as err:
        handle.close()
        msg = f"{shown}: cannot read ({err.strerror or type(err).__name__})"
        raise _internal(msg) from err
    return _LogPlan(rel, handle, start, since, not timestamps, limit, capped)


def _tail_start(handle: BinaryIO, lines: int, *, max_scan: int, rel: str = "") -> int:
    r"""Offset where the last ``lines`` lines of ``handle`` start, read backwards in blocks (``kubectl logs --tail``).

    A final ``\n`` ends the last line, it does not start another. At most ``max_scan``
    bytes are read back: when the lines are longer, the answer starts at the earliest line
    start found (or mid-line, ``max_scan`` bytes before the end, when there is none).

    Examples
    --------
    >>> import io
    >>> data = b"a\nbb\nccc\n"
    >>> data[_tail_start(io.BytesIO(data), 2, max_scan=1 << 20):]
    b'bb\nccc\n'
    >>> unended = b"a\nbb"  # a last line without a newline is a line
    >>> unended[_tail_start(io.BytesIO(unended), 1, max_scan=1 << 20):]
    b'bb'
    >>> data[_tail_start(io.BytesIO(data), 5, max_scan=1 << 20):]
    b'a\nbb\nccc\n'
    """
    size = handle.seek(0, os.SEEK_END)
    if lines == 0:
        return size
    pos, needed, earliest = size, lines, None
    while pos > 0 and size - pos < max_scan:
        step = min(_BLOCK, pos, max_scan - (size - pos))
        pos -= step
        handle.seek(pos)
        block = handle.read(step)
        end = len(block) - 1 if pos + len(block) == size and block.endswith(b"\n") else len(block)
        while (nl := block.rfind(b"\n", 0, end)) >= 0:
            needed -= 1
            earliest = pos + nl + 1
            if needed == 0:
                return earliest
            end = nl
    if pos == 0:
        return 0
    start = earliest if earliest is not None else pos
    log.warning(
        "%s: the last %d lines span more than %d bytes; tail answered from byte %d", rel, lines, max_scan, start
    )
    return start


def _decide(head: bytes, plan: _LogPlan) -> tuple[bytes, bool]:
    """What to send of a line's first bytes, and whether the rest of the line is sent."""
    match = _KUBELET_TS.match(head)
    if match is None:
        return head, True  # lines without a kubelet time are kept, whatever the window
    if plan.since is not None:
        when = _parse_time(match.group(1).decode("ascii"))
        if when is not None and when < plan.since:
            return b"", False
    return (head[match.end() :] if plan.strip else head), True


def _log_pieces(plan: _LogPlan) -> Iterator[bytes]:
    """The bytes of a log response, streamed: one block of the file in memory at a time.

    Without a time window and with timestamps kept, blocks pass as they are; otherwise
    each line's first bytes decide (kubelet prefix: strip it, or drop the line as older
    than ``since``) and the rest of the line passes or is skipped without being held.
    """
    handle = plan.handle
    handle.seek(plan.start)
    if plan.since is None and not plan.strip:
        while block := handle.read(_BLOCK):
            yield block
        return
    head = b""  # the first bytes of the current line, until _PREFIX_BYTES or its end
    keep: bool | None = None  # None: deciding the current line; else pass / skip its rest
    while block := handle.read(_BLOCK):
        pos, size = 0, len(block)
        while pos < size:
            if keep is not None:
                nl = block.find(b"\n", pos)
                end = size if nl < 0 else nl + 1
                if keep:
                    yield block[pos:end]
                pos = end
                if nl >= 0:
                    keep = None
                continue
            nl = block.find(b"\n", pos, pos + _PREFIX_BYTES - len(head))
            end = nl + 1 if nl >= 0 else min(size, pos + _PREFIX_BYTES - len(head))
            head += block[pos:end]
            pos = end
            if nl < 0 and len(head) < _PREFIX_BYTES:
                continue  # the block ended inside the line's first bytes
            out, keep = _decide(head, plan)
            if out:
                yield out
            if nl >= 0:
                keep = None
            head = b""
    if head:  # a last line without a newline, shorter than the prefix window
        out, _ = _decide(head, plan)
        if out:
            yield out


_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def _bool_param(query: Mapping[str, str], key: str) -> bool:
    """A boolean parameter as Go's ``strconv.ParseBool`` reads it (absent or empty: false)."""
    value = query.get(key, "")
    if value in _TRUE:
        return True
    if value in _FALSE or value == "":
        return False
    msg = f"{key}: Invalid value: {_quoted(value)}: must be a boolean (true or false)"
    raise _bad_request(msg)


def _int_param(query: Mapping[str, str], key: str) -> int:
    """An integer parameter as Go's ``strconv.ParseInt(v, 10, 64)`` reads it; 400 otherwise."""
    value = _int64(query[key])
    if value is None:
        msg = f"{key}: Invalid value: {_quoted(query[key])}: must be an integer (64-bit)"
        raise _bad_request(msg)
    return value


# --------------------------------------------------------------------------- discovery
def _discovery(path: str) -> dict[str, Any] | None:
    if path == "/version":
        return dict(SERVER_VERSION)
    if path == "/api":
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
        }
    batch = {
        "name": "batch",
        "versions": [{"groupVersion": "batch/v1", "version": "v1"}],
        "preferredVersion": {"groupVersion": "batch/v1", "version": "v1"},
    }
    if path == "/apis":
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [batch]}
    if path == "/apis/batch":
        return {"kind": "APIGroup", "apiVersion": "v1", **batch}
    for group_version in ("v1", "batch/v1"):
        prefix = "/api/v1" if group_version == "v1" else "/apis/batch/v1"
        if path == prefix:
            resources = []
            for (gv, _), res in RESOURCES.items():
                if gv != group_version:
                    continue
                entry: dict[str, Any] = {
                    "name": res.plural,
                    "singularName": res.singular,
                    "namespaced": res.namespaced,
                    "kind": res.kind,
                    "verbs": list(_READ_VERBS),
                }
                if res.short_names:
                    entry["shortNames"] = list(res.short_names)
                if res.categories:
                    entry["categories"] = list(res.categories)
                resources.append(entry)
                if res.plural == "pods":
                    resources.append(
                        {"name": "pods/log", "singularName": "", "namespaced": True, "kind": "Pod", "verbs": ["get"]}
                    )
            return {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": group_version,
                "resources": resources,
            }
    return None


# --------------------------------------------------------------------------- HTTP
@dataclass(slots=True)
class _Route:
    res: _Resource
    namespace: str | None
    name: str | None
    log: bool = False


def _route(path: str) -> _Route | None:
    """Map a resource path to (resource, namespace, name, is_log); None when nothing matches.

    Segments are percent-decoded one by one (so ``%2F`` stays inside its segment, where the
    name rules refuse it); namespace and names are checked by the caller.
    """
    if path.startswith("/api/v1/"):
        group_version, rest = "v1", path[len("/api/v1/") :]
    elif path.startswith("/apis/batch/v1/"):
        group_version, rest = "batch/v1", path[len("/apis/batch/v1/") :]
    else:
        return None
    parts = [unquote(p, errors="replace") for p in rest.split("/") if p]
    namespace: str | None = None
    if len(parts) >= 3 and parts[0] == "namespaces":
        namespace, parts = parts[1], parts[2:]
    res = RESOURCES.get((group_version, parts[0])) if parts else None
    if res is None or (namespace is not None and not res.namespaced):
        return None
    if len(parts) == 1:
        return _Route(res, namespace, None)
    if len(parts) == 2 and (namespace is not None or not res.namespaced):
        return _Route(res, namespace, parts[1])
    if len(parts) == 3 and parts[2] == "log" and res.plural == "pods" and namespace is not None:
        return _Route(res, namespace, parts[1], log=True)
    return None


def _wants_table(accept: str) -> str | None:
    """The Table apiVersion the client asks for first (``meta.k8s.io/v1``), or None."""
    for media in accept.split(",")[:20]:
        params = dict(p.strip().partition("=")[::2] for p in media.split(";")[1:])
        if params.get("as") == "Table" and params.get("g") == "meta.k8s.io":
            version = params.get("v", "v1")
            if version in ("v1", "v1beta1"):
                return f"meta.k8s.io/{version}"
            continue
        if media.split(";")[0].strip() in ("application/json", "*/*") and "as" not in params:
            return None
    return None


def _page(items: list[dict[str, Any]], query: Mapping[str, str]) -> tuple[list[dict[str, Any]], str | None]:
    """Apply ``limit`` / ``continue`` (the token is the offset, base64 JSON as real tokens look)."""
    start = 0
    if query.get("continue"):
        try:
            if len(query["continue"]) > 1024:
                raise ValueError(query["continue"][:20])
            start = json.loads(base64.b64decode(query["continue"]))["start"]
            if not isinstance(start, int) or isinstance(start, bool) or start < 0:
                raise TypeError(start)
        except (ValueError, KeyError, TypeError, IndexError, binascii.Error, RecursionError) as err:
            msg = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter."
            raise ApiError(410, "Expired", msg) from err
    limit = _int_param(query, "limit") if query.get("limit") else 0
    if limit <= 0:
        return items[start:], None
    end = start + limit
    if end >= len(items):
        return items[start:], None
    token = base64.b64encode(json.dumps({"start": end, "remaining": len(items) - end}).encode()).decode()
    return items[start:end], token


def _dumps(obj: Any) -> bytes:
    """JSON bytes of a response: always valid JSON (no NaN), UTF-8, lone surrogates escaped."""
    try:
        return json.dumps(obj, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except UnicodeEncodeError:  # "\ud800" in the evidence: keep it as a JSON escape
        return json.dumps(obj, allow_nan=False).encode("ascii")


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms delayed-ACK stall
    _started = False  # the current response's headers are out: errors can no longer be a Status

    # ---- plumbing
    def setup(self) -> None:
        # idle connections and stuck writes end: StreamRequestHandler applies `timeout` to the socket
        self.timeout = self.server.limits.idle_timeout_s  # type: ignore[misc]
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def end_headers(self) -> None:
        self._started = True
        super().end_headers()

    def handle_one_request(self) -> None:
        """Read one request under the caps of :class:`ServeLimits` and answer it.

        The stdlib's own loop reads lines of up to 64 KiB and any number of headers at
        any pace; here the request line, header bytes and header count are capped and the
        whole head must arrive within ``header_timeout_s`` (the server's reaper closes a
        connection that trickles it).
        """
        limits = self.server.limits
        self._started = False
        self.requestline, self.request_version, self.command = "", "HTTP/1.1", ""
        try:
            if not self.rfile.peek(1):  # type: ignore[attr-defined]  # a BufferedReader; waits at most idle_timeout_s
                self.close_connection = True
                return
            self.server.watch_head(self.connection)
            try:
                line = self.rfile.readline(limits.max_request_line_bytes + 1)
                if len(line) > limits.max_request_line_bytes:
                    msg = f"request line over {limits.max_request_line_bytes} bytes (URL and query); ask for less"
                    self._reject(414, msg)
                    return
                head = self._read_head() if line else None
            finally:
                self.server.unwatch_head(self.connection)
            if head is None:
                self.close_connection = True
                return
            self.raw_requestline = line
            sock_file, self.rfile = self.rfile, io.BytesIO(head)
            try:
                ok = self.parse_request()  # request line and headers, from the bytes read above
            finally:
                self.rfile = sock_file
            if not ok:
                return
            method = getattr(self, "do_" + self.command, None)
            if method is None:
                self._refuse()
                return
            method()
            self.wfile.flush()
        except TimeoutError:
            log.debug("%s: connection idle or too slow; closed", self.address_string())
            self.close_connection = True
        except (ConnectionError, ValueError):  # ValueError: I/O on a socket the reaper closed
            self.close_connection = True

    def _read_head(self) -> bytes | None:
        """The header lines up to the blank line, within the caps; None when the client left or was answered 431."""
        limits = self.server.limits
        lines: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(limits.max_header_bytes - total + 1)
            if not line:
                return None
            total += len(line)
            if total > limits.max_header_bytes:
                self._reject(431, f"request headers over {limits.max_header_bytes} bytes")
                return None
            lines.append(line)
            if line in (b"\r\n", b"\n"):
                return b"".join(lines)
            if len(lines) > limits.max_headers:
                self._reject(431, f"more than {limits.max_headers} request headers")
                return None

    def _reject(self, code: int, message: str) -> None:
        """Answer a request that is not read to its end, then hang up (letting the answer arrive)."""
        self.close_connection = True
        if self.request_version not in ("HTTP/1.0", "HTTP/1.1"):  # unparsable request line: answer in HTTP/1.1
            self.request_version = "HTTP/1.1"
        body = _dumps(_status_doc(code, _REASONS.get(code, "BadRequest"), message))
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            # what the client still sends is read and dropped for a moment, so closing does
            # not reset the connection before it has read the answer
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(0.5)
            until, drained = time.monotonic() + 1.0, 0
            while time.monotonic() < until and drained < (4 << 20):
                data = self.connection.recv(65536)
                if not data:
                    break
                drained += len(data)
        except OSError:
            return

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors found by the stdlib's request parsing, answered as ``Status`` objects too."""
        self._reject(code, message or explain or f"HTTP {code}")

    def _send(self, code: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, code: int, obj: Any) -> None:
        self._send(code, _dumps(obj))

    def _start_stream(self, content_type: str) -> bool:
        """Send 200 headers for a body of unknown length; True when it is chunked (HTTP/1.1)."""
        chunked = self.request_version == "HTTP/1.1"
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-cache, private")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:  # HTTP/1.0: the end of the body is the end of the connection
            self.close_connection = True
            self.send_header("Connection", "close")
        self.end_headers()
        return chunked

    def _chunk(self, data: bytes | bytearray, *, chunked: bool) -> None:
        if data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)

    def _drain_body(self) -> None:
        """Read and drop a request body (at most 1 MiB); hang up after answering when it is bigger or unsized."""
        length_text = self.headers.get("Content-Length")
        if length_text is None and self.headers.get("Transfer-Encoding") is None:
            return
        length = _int64(length_text.strip()) if length_text is not None else None
        if self.headers.get("Transfer-Encoding") is not None or length is None or not 0 <= length <= 1 << 20:
            self.close_connection = True  # do not read an unbounded body; just hang up after answering
            return
        if length:
            self.server.watch_head(self.connection)
            try:
                self.rfile.read(length)
            finally:
                self.server.unwatch_head(self.connection)

    def _answer(self, call: Callable[[], None]) -> None:
        """Run ``call``; whatever goes wrong is answered with a Status (or ends the connection)."""
        try:
            call()
        except ApiError as err:
            if self._started:
                self.close_connection = True
            else:
                self._json(err.code, err.status())
        except (ConnectionError, TimeoutError):
            log.debug("client hung up or stalled during %s %s", self.command, _shown(self.path, 200))
            self.close_connection = True
        except Exception as err:  # last resort: one request fails, the server goes on (logged below)
            where = f"{self.command} {_shown(self.path, 200)}"
            log.error("internal error answering %s: %s: %s", where, type(err).__name__, err)
            log.debug("internal error answering %s", where, exc_info=True)
            if self._started:
                self.close_connection = True
            else:
                msg = f"internal error: {type(err).__name__}: {err} (serve-bundle goes on serving; please report it)"
                self._json(500, _status_doc(500, "InternalError", msg))

    # ---- verbs
    def do_GET(self) -> None:
        def get() -> None:
            self._drain_body()
            try:
                url = urlsplit(self.path)
            except ValueError as err:
                msg = f"malformed request target {_shown(self.path)}"
                raise _bad_request(msg) from err
            try:
                parsed = parse_qs(url.query, keep_blank_values=True, max_num_fields=self.server.limits.max_query_fields)
            except ValueError as err:
                msg = f"more than {self.server.limits.max_query_fields} query parameters"
                raise _bad_request(msg) from err
            query = {k: v[-1] for k, v in parsed.items()}
            log.debug("GET %s %s (Accept: %s)", url.path, query, self.headers.get("Accept"))
            self._get(url.path.rstrip("/") or "/", query)

        self._answer(get)

    do_HEAD = do_GET

    def _refuse(self) -> None:
        def refuse() -> None:
            self._drain_body()
            try:
                path = urlsplit(self.path).path
            except ValueError:
                path = ""
            route = _route(path)
            details: dict[str, Any] = {}
            if route is not None:
                details = {
                    "kind": route.res.plural,
                    **({"name": route.name[:300]} if route.name else {}),
                    **({"group": route.res.group} if route.res.group else {}),
                }
            log.debug("%s %s refused: the bundle server is read-only", _shown(self.command), _shown(path, 200))
            err = ApiError(
                405, "MethodNotAllowed", "the server does not allow this method on the requested resource", details
            )
            self._json(405, err.status())

        self._answer(refuse)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _refuse

    # ---- reads
    def _get(self, path: str, query: dict[str, str]) -> None:
        store = self.server.store
        if path in ("/healthz", "/livez", "/readyz"):
            self._send(200, b"ok", "text/plain; charset=utf-8")
            return
        doc = _discovery(path)
        if doc is not None:
            self._json(200, doc)
            return
        route = _route(path)
        if route is None and path.startswith(("/api/", "/apis/")):  # as kube-apiserver: a Status under the API
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if route is None:
            self._send(404, b"404 page not found\n", "text/plain; charset=utf-8")
            return
        if route.namespace is not None:
            _check_namespace(route.namespace)
        if route.log:
            assert route.namespace is not None
            assert route.name is not None
            plan = _plan_log(store, route.namespace, route.name, query)
            if plan is None:
                self._send(200, b"", "text/plain")
            else:
                self._stream_log(plan)
            return
        table = _wants_table(self.headers.get("Accept", ""))
        watching = _bool_param(query, "watch")
        if route.name is not None:
            obj = store.find(route.res, route.namespace, route.name)
            if watching:
                self._watch([obj], query)
                return
            self._json(200, self._table([obj], route.res, table, query) if table else obj)
            return
        items = store.select(route.res, route.namespace, query)
        if watching:
            self._watch(items, query)
            return
        items, token = _page(items, query)
        if table:
            doc = self._table(items, route.res, table, query)
        else:
            # a real API server omits kind/apiVersion on list items (kubectl adds them back)
            doc = {
                "kind": f"{route.res.kind}List",
                "apiVersion": route.res.api_version,
                "metadata": {"resourceVersion": store.resource_version},
                "items": [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")} for o in items],
            }
        if token:
            doc["metadata"]["continue"] = token
            doc["metadata"]["remainingItemCount"] = int(json.loads(base64.b64decode(token))["remaining"])
        self._json(200, doc)

    def _stream_log(self, plan: _LogPlan) -> None:
        """Send a log file as the plan says, in chunks: memory stays at a block or two."""
        with plan.handle:
            chunked = self._start_stream("text/plain")
            if self.command == "HEAD":
                return
            buffer = bytearray()
            sent, more = 0, False
            try:
                for piece in _log_pieces(plan):
                    room = plan.limit - sent - len(buffer)
                    if len(piece) > room:
                        buffer += piece[:room]
                        more = True
                        break
                    buffer += piece
                    if len(buffer) >= _BLOCK:
                        self._chunk(buffer, chunked=chunked)
                        sent += len(buffer)
                        buffer.clear()
            except (ConnectionError, TimeoutError):
                raise
            except OSError as err:  # the file failed part way (EIO, removed): the answer is cut, the client sees it
                log.warning("%s: read failed after %d bytes (%s); response cut", plan.rel, sent, err.strerror or err)
                self.close_connection = True
                return
            if more and plan.capped:  # logged before the answer ends, so whoever reads it can see why
                log.warning(
                    "%s: log response cut at the server's %d-byte cap (ServeLimits.max_log_bytes)", plan.rel, plan.limit
                )
            self._chunk(buffer, chunked=chunked)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")

    def _table(
        self, items: list[dict[str, Any]], res: _Resource, api_version: str, query: Mapping[str, str]
    ) -> dict[str, Any]:
        columns, row_of = TABLES[res.plural]
        store = self.server.store
        include = query.get("includeObject", "Metadata")
        rows = []
        for obj in items:
            try:
                cells = row_of(obj, store.now)
            except (TypeError, ValueError, AttributeError, KeyError, OverflowError, RecursionError) as err:
                # a printer tripped on an odd object: show it as unreadable, keep the others
                name = _text(_d(obj.get("metadata")).get("name"))
                log.warning(
                    "%s %s: cannot print this object (%s: %s)", res.plural, _shown(name), type(err).__name__, err
                )
                cells = [name, *(["<invalid>"] * (len(columns) - 1))]
            row: dict[str, Any] = {"cells": cells}
            if include == "Object":
                row["object"] = obj
            elif include != "None":
                row["object"] = {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": _d(obj.get("metadata")),
                }
            rows.append(row)
        return {
            "kind": "Table",
            "apiVersion": api_version,
            "metadata": {"resourceVersion": store.resource_version},
            "columnDefinitions": columns,
            "rows": rows,
        }

    def _watch(self, items: list[dict[str, Any]], query: Mapping[str, str]) -> None:
        """Stream the objects as ``ADDED`` events, then hold the stream open (nothing changes).

        The stream ends after ``timeoutSeconds`` (capped at ``max_watch_s``), when the client
        hangs up (an abandoned watch does not hold a thread for half an hour), or when the
        server stops.
        """
        store, limits = self.server.store, self.server.limits
        asked = _int64(query.get("resourceVersion", "") or "0")
        fresh = asked is None or asked == 0 or asked < int(store.resource_version)
        timeout = limits.max_watch_s
        if query.get("timeoutSeconds"):
            timeout = max(0.0, min(float(_int_param(query, "timeoutSeconds")), limits.max_watch_s))
        chunked = self._start_stream("application/json")
        if self.command == "HEAD":
            return
        for obj in items if fresh else []:
            self._chunk(_dumps({"type": "ADDED", "object": obj}) + b"\n", chunked=chunked)
            self.wfile.flush()
        self._hold(timeout)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")
        self.close_connection = True

    def _hold(self, timeout: float) -> None:
        """Wait up to ``timeout`` s, returning early when the server stops or the client hangs up or talks."""
        until = time.monotonic() + timeout
        while not self.server.stopping.is_set():
            left = until - time.monotonic()
            if left <= 0:
                return
            readable, _, _ = select.select([self.connection], [], [], min(left, 0.2))
            if readable:  # EOF (the client left) or bytes nobody asked for: either way the watch ends
                log.debug("watch client hung up or sent data; watch ended")
                raise ConnectionResetError


class _HTTPServer(ThreadingHTTPServer):
    """The threading HTTP server with a connection cap, a head-deadline reaper and quiet errors."""

    daemon_threads = True
    store: _Store

    def __init__(self, address: tuple[str, int], limits: ServeLimits):
        self.limits = limits
        self.stopping = threading.Event()
        self._slots = threading.BoundedSemaphore(limits.max_connections)
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._deadlines: dict[socket.socket, float] = {}
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self._busy(request)
            return
        with self._lock:
            self._open.add(request)
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._forget(request)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._forget(request)

    def _forget(self, request: socket.socket) -> None:
        with self._lock:
            if request not in self._open:
                return
            self._open.discard(request)
            self._deadlines.pop(request, None)
        self._slots.release()

    def _busy(self, request: socket.socket) -> None:
        """Answer 429 with Retry-After (client-go retries it) to a connection over the cap, and close it."""
        body = _dumps(
            _status_doc(
                429,
                "TooManyRequests",
                f"serve-bundle is serving {self.limits.max_connections} connections, its cap; try again shortly",
                {"retryAfterSeconds": 1},
            )
        )
        head = (
            "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
        ).encode()
        try:
            request.settimeout(0.2)
            request.sendall(head + body)
            request.shutdown(socket.SHUT_WR)
            request.recv(65536)  # let the client's request arrive, so closing does not reset the answer
        except OSError:
            pass
        finally:
            self.shutdown_request(request)

    def watch_head(self, connection: socket.socket) -> None:
        with self._lock:
            self._deadlines[connection] = time.monotonic() + self.limits.header_timeout_s

    def unwatch_head(self, connection: socket.socket) -> None:
        with self._lock:
            self._deadlines.pop(connection, None)

    def service_actions(self) -> None:
        """Between accepts: close connections whose request head (or small body) is overdue."""
        super().service_actions()
        now = time.monotonic()
        with self._lock:
            late = [conn for conn, deadline in self._deadlines.items() if deadline < now]
            for conn in late:
                del self._deadlines[conn]
        for conn in late:
            log.debug("request head not complete within %s s; connection closed", self.limits.header_timeout_s)
            _hang_up(conn)

    def close_connections(self) -> None:
        with self._lock:
            connections = list(self._open)
        for conn in connections:
            _hang_up(conn)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One line per failed connection (the stdlib prints a traceback to stderr)."""
        err = sys.exc_info()[1]
        if isinstance(err, ConnectionError | TimeoutError | ValueError):
            log.debug("connection from %s ended: %s", client_address, err)
            return
        log.error("connection from %s failed: %s: %s", client_address, type(err).__name__, err)
        log.debug("connection from %s failed", client_address, exc_info=True)


def _hang_up(conn: socket.socket) -> None:
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        return


class _HTTPServer6(_HTTPServer):
    address_family = socket.AF_INET6


class BundleServer:
    """A read-only Kubernetes API over one bundle, on loopback, in a background thread.

    Parameters
    ----------
    bundle
        A :class:`~panda_analysis.bundle.Bundle`, a bundle directory or ``.tar.gz``, or
        ``sample:<name>``.
    host
        Loopback address to listen on (``127.0.0.1`` or ``::1``); other addresses are
        refused, the evidence must not leave the machine.
    port
        TCP port; ``0`` picks a free one (see :attr:`url`).
    limits
        Caps and timeouts (:class:`ServeLimits`; the defaults suit kubectl).

    Examples
    --------
    >>> import json, pathlib, tempfile, urllib.request
    >>> with BundleServer("sample:healthy") as server:
    ...     kubeconfig = server.write_kubeconfig(pathlib.Path(tempfile.mkdtemp()) / "kubeconfig")
    ...     with urllib.request.urlopen(server.url + "/apis/batch/v1/namespaces/panda/jobs") as resp:
    ...         jobs = json.load(resp)
    >>> [job["metadata"]["name"] for job in jobs["items"]]
    ['grpc-job-20-1']
    >>> "server: http://127.0.0.1:" in kubeconfig.read_text()
    True
    """

    def __init__(
        self,
        bundle: Bundle | str | os.PathLike[str],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        limits: ServeLimits | None = None,
    ):
        if host not in ("127.0.0.1", "::1", "localhost"):
            msg = f"serve-bundle listens on loopback only (127.0.0.1 or ::1), not {host!r}"
            raise ValueError(msg)
        self.limits = limits or ServeLimits()
        self.bundle = load_bundle(bundle)
        self._store = _Store(self.bundle, self.limits)
        try:
            self._httpd = (_HTTPServer6 if ":" in host else _HTTPServer)((host, port), self.limits)
        except OSError as err:
            msg = f"cannot listen on {host} port {port} ({err.strerror}); choose another --port"
            raise ServeError(msg) from err
        self._httpd.store = self._store
        self._thread: threading.Thread | None = None
        bound_host, bound_port = self._httpd.server_address[:2]
        bound = bound_host.decode() if isinstance(bound_host, bytes) else str(bound_host)
        shown = f"[{bound}]" if ":" in bound else bound
        #: Base URL of the API (``http://127.0.0.1:PORT``).
        self.url = f"http://{shown}:{bound_port}"
        self.port = int(bound_port)

    @property
    def now(self) -> datetime:
        """The server's clock: the bundle's ``created_at`` (UTC)."""
        return self._store.now

    @property
    def problems(self) -> list[str]:
        """What in the bundle could not be served or was odd, one line each (also logged as warnings).

        Parts that cannot be read at all (malformed JSON, over the size cap, a link leaving
        the bundle) answer 500 naming the file; items that are not objects or nest too
        deeply are left out; duplicate keys and out-of-range numbers are noted; logs that
        are refused answer 403.
        """
        return list(self._store.problems)

    def start(self) -> BundleServer:
        """Serve in a daemon thread (idempotent); returns ``self``."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.1},
                name=f"serve-bundle:{self.port}",
                daemon=True,
            )
            self._thread.start()
            log.debug("serving %s at %s", self.bundle.origin, self.url)
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`close` is called from another thread (or Ctrl-C)."""
        self._httpd.serve_forever(poll_interval=0.2)

    def close(self) -> None:
        """Stop serving, end held watches and open connections, and release the port."""
        self._httpd.stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.close_connections()
        self._httpd.server_close()

    def __enter__(self) -> BundleServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write_kubeconfig(
        self, path: str | os.PathLike[str], *, context: str = "panda-bundle", overwrite: bool = False
    ) -> Path:
        """Write a kubeconfig pointing at this server (no credentials, mode 0600) and return its path.

        An existing file is never replaced unless ``overwrite`` is true (``--force``):
        :class:`ServeError` names it. The context's default namespace is the first of the
        manifest's ``namespaces``.
        """
        given = self.bundle.manifest.get("namespaces")
        namespaces = [n for n in given if isinstance(n, str) and is_dns_label(n)] if isinstance(given, list) else []
        q = json.dumps  # JSON strings are valid YAML double-quoted scalars
        lines = [
            "apiVersion: v1",
            "kind: Config",
            "preferences: {}",
            "clusters:",
            f"- name: {q(context)}",
            "  cluster:",
            f"    server: {self.url}",
            "contexts:",
            f"- name: {q(context)}",
            "  context:",
            f"    cluster: {q(context)}",
            f"    user: {q(context)}",
            *([f"    namespace: {q(namespaces[0])}"] if namespaces else []),
            f"current-context: {q(context)}",
            "users:",
            f"- name: {q(context)}",
            "  user: {}",
        ]
        target = Path(path)
        flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | (os.O_TRUNC if overwrite else os.O_EXCL)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(target, flags, 0o600)
        except FileExistsError as err:
            msg = f"{target}: already exists; the kubeconfig is not overwritten (--force replaces it, or choose another path)"
            raise ServeError(msg) from err
        except OSError as err:
            msg = f"{target}: cannot write the kubeconfig ({err.strerror})"
            raise ServeError(msg) from err
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            os.fchmod(fd, 0o600)  # a replaced file keeps its mode otherwise
            out.write("\n".join(lines) + "\n")
        return target


# --------------------------------------------------------------------------- CLI
def add_parser(subparsers: Any) -> None:
    """Add ``serve-bundle BUNDLE [--port N] [--kubeconfig PATH [--force]]`` to the CLI's subparsers."""
    cmd = subparsers.add_parser(
        "serve-bundle",
        help="serve a bundle as a read-only Kubernetes API on loopback (kubectl works offline)",
        description="Serve BUNDLE as a read-only Kubernetes API on 127.0.0.1 and write a kubeconfig for it, "
        "so `kubectl get pods`, `kubectl logs --previous` and the kubernetes client read the saved evidence. "
        "The server's clock is the bundle's created_at. Stop with Ctrl-C.",
    )
    cmd.add_argument("bundle", metavar="BUNDLE", help="bundle directory, .tar.gz, or sample:<name>")
    cmd.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (default: a free port)")
    cmd.add_argument(
        "--kubeconfig",
        metavar="PATH",
        help="where to write the kubeconfig (default: a new temporary file, removed at exit); "
        "an existing file is left alone unless --force",
    )
    cmd.add_argument("--force", action="store_true", help="replace an existing --kubeconfig file")
    cmd.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Run ``serve-bundle``: serve until interrupted; prints the kubeconfig path and how to use it.

    Refuses (:class:`ServeError`, exit 2) to overwrite an existing ``--kubeconfig`` file
    without ``--force``, before anything is opened.
    """
    force = bool(getattr(args, "force", False))
    temp_dir: Path | None = None
    if args.kubeconfig:
        path = Path(args.kubeconfig)
        if os.path.lexists(path) and not force:
            msg = f"{path}: already exists; serve-bundle does not overwrite it (add --force to replace it, or choose another --kubeconfig)"
            raise ServeError(msg)
    else:
        temp_dir = _procs.make_temp_dir("panda-bundle-kube-")
        path = temp_dir / "kubeconfig"
    try:
        server = BundleServer(args.bundle, port=args.port)
        try:
            server.write_kubeconfig(path, overwrite=force)
            created = server.bundle.manifest.get("created_at", "unknown")
            try:  # from here on, Ctrl-C or SIGTERM / SIGHUP is the normal way to stop: exit 0
                print(f"serving {server.bundle.origin} (created_at {created}) read-only at {server.url}")
                if server.problems:
                    print(f"{len(server.problems)} problems in the bundle (warnings above)")
                print(f"kubeconfig: {path}")
                print(f"  export KUBECONFIG={path}\n  kubectl get pods -A\nPress Ctrl-C to stop.", flush=True)
                server.serve_forever()
            except KeyboardInterrupt:
                print("serve-bundle stopped", file=sys.stderr)
        finally:
            server.close()
    finally:
        if temp_dir is not None:
            _procs.remove_temp(temp_dir)
    return 0
