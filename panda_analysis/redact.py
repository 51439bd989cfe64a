"""Secret redaction for evidence, applied before anything is written to a bundle.

DESIGN.md's "Live collection rules": passwords in URIs, tokens, ``Authorization``
headers and API keys are redacted before anything is written, and the manifest says
what was redacted (by kind and file, never the secret itself). :class:`Redactor` does
both: it rewrites text or JSON and keeps :attr:`Redactor.records`. An instance is also
the ``redact`` hook of :class:`~panda_analysis.bundle.BundleWriter` (``redact=True``
makes one), which then writes the records into ``manifest.json``.

The replacement is always ``<redacted>``, and the key, user name or auth scheme next to
it stays visible so the evidence still reads (``mongodb://panda:<redacted>@mongodb``,
``Authorization: Bearer <redacted>``, ``password=<redacted>``). Redaction is
idempotent, and text without secrets comes back unchanged, byte for byte: ingress
request ids, Erlang pids, Kubernetes uids, image digests, ObjectIds, ``token_count=5``
and ``password_changed_at`` are evidence, not secrets.

Kinds recorded (``Redactor.KINDS``):

================== ===================================================================
kind               what was replaced
================== ===================================================================
known_secret       a credential the caller handed over (``known_secrets=``), verbatim
private_key        a PEM ``-----BEGIN ... PRIVATE KEY-----`` block (also truncated)
jwt                a JSON Web Token (``eyJ...``), e.g. a service-account token
aws_access_key     an AWS access key id (``AKIA...``)
uri_password       the password of ``scheme://user:password@host``
authorization      the credentials of an ``Authorization`` header (scheme kept)
cookie             a ``Cookie`` / ``Set-Cookie`` header value
env_secret         the value of a ``{"name": ..., "value": ...}`` pair (pod ``env``,
                   header lists) whose name looks secret, e.g. ``DB_PASSWORD``
secret_assignment  ``password=...``, ``token: ...``, ``"api_key": "..."``,
                   ``--password ...`` in log text, query strings and YAML
json_secret_field  a JSON value under a secret-looking key (``password``, ``clientSecret``,
                   ``x-api-key``, ``password_hash``, ``client-key-data`` ...)
k8s_secret_data    ``data`` / ``stringData`` values of a ``kind: Secret`` object
================== ===================================================================

Limits worth knowing: an unquoted value (``password=...``) ends at whitespace, ``&``
or a quote, so a secret containing those characters is only fully redacted when it is
quoted or passed as a known secret. Known secrets shorter than
``Redactor.MIN_KNOWN_SECRET`` characters are ignored: replacing every ``abc`` would
destroy the evidence, and such a secret is no secret.

Examples
--------
>>> from panda_analysis.redact import Redactor
>>> r = Redactor()
>>> r.redact_text("connect amqp://panda:hunter2@rabbitmq-panda:5672/ password=hunter2 token_count=5", where="app.log")
'connect amqp://panda:<redacted>@rabbitmq-panda:5672/ password=<redacted> token_count=5'
>>> r.redact_json({"env": [{"name": "DB_PASSWORD", "value": "hunter2"}, {"name": "JOB_ID", "value": "19-5"}]},
...               where="k8s/pods.json")
{'env': [{'name': 'DB_PASSWORD', 'value': '<redacted>'}, {'name': 'JOB_ID', 'value': '19-5'}]}
>>> r.records
[{'kind': 'secret_assignment', 'file': 'app.log', 'count': 1}, {'kind': 'uri_password', 'file': 'app.log', 'count': 1}, {'kind': 'env_secret', 'file': 'k8s/pods.json', 'count': 1}]
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, ClassVar
from urllib.parse import quote

__all__ = ["REDACTED", "Redactor", "is_secret_key", "is_secret_name"]

log = logging.getLogger(__name__)

#: What every secret is replaced with.
REDACTED = "<redacted>"

# --------------------------------------------------------------------------- names
# Words are split on separators and camelCase ("clientSecret" → client, secret;
# "APIKey" → api, key; "x-api-key" → x, api, key).
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
# A last word equal to one of these marks a secret ...
_SECRET_WORDS = frozenset(
    {
        "password",
        "passwords",
        "passwd",
        "pwd",
        "passphrase",
        "secret",
        "secrets",
        "token",
        "tokens",
        "apikey",
        "apikeys",
        "authorization",
        "cookie",
        "cookies",
        "credential",
        "credentials",
        "creds",
        "dsn",
        "accesskey",
        "privatekey",
        "secretkey",
        "clientsecret",
        "passwordhash",
        "connectionstring",
    }
)
# ... also a last word that merely ends so ("dbpassword", "adminpass" is too vague) ...
_SECRET_SUFFIXES = ("password", "passwd", "passphrase", "secret", "token", "apikey")
# ... and these last two words.
_SECRET_PAIRS = frozenset(
    {
        ("api", "key"),
        ("api", "keys"),
        ("access", "key"),
        ("private", "key"),
        ("secret", "key"),
        ("account", "key"),
        ("signing", "key"),
        ("encryption", "key"),
        ("master", "key"),
        ("password", "hash"),
        ("key", "data"),
        ("connection", "string"),
        ("conn", "str"),
        ("conn", "string"),
    }
)


def _words(name: str) -> list[str]:
    words = [w.lower() for w in _WORD.findall(name)]
    while words and words[-1].isdigit():  # PASSWORD_2, token1
        words.pop()
    return words


@functools.lru_cache(maxsize=8192)  # JSON keys repeat a lot (every queue has the same 40 keys)
def is_secret_key(key: str) -> bool:
    """Whether a JSON key or ``key=value`` key names a secret (judged by its last words).

    Only the end of the key counts, so ``password_changed_at`` and ``token_count`` are
    not secrets while ``db_password``, ``clientSecret`` and ``x-api-key`` are.

    Examples
    --------
    >>> [is_secret_key(k) for k in ("password", "clientSecret", "x-api-key", "password_hash", "client-key-data")]
    [True, True, True, True, True]
    >>> [is_secret_key(k) for k in ("password_changed_at", "token_count", "secretKeyRef", "consumer_tag")]
    [False, False, False, False]
    """
    words = _words(key)
    if not words:
        return False
    last = words[-1]
    if last in _SECRET_WORDS or last.endswith(_SECRET_SUFFIXES):
        return True
    return len(words) >= 2 and (words[-2], last) in _SECRET_PAIRS


@functools.lru_cache(maxsize=8192)
def is_secret_name(name: str) -> bool:
    """Whether an environment variable (or header) name looks secret: any of its words counts.

    Examples
    --------
    >>> [is_secret_name(n) for n in ("MONGODB_ROOT_PASSWORD", "RABBITMQ_ERL_COOKIE", "SENTRY_DSN", "AWS_ACCESS_KEY_ID")]
    [True, True, True, True]
    >>> [is_secret_name(n) for n in ("MONGO_URI", "RABBITMQ_URL", "JOB_ID", "QUEUE_NAME")]
    [False, False, False, False]
    """
    words = _words(name)
    if any(w in _SECRET_WORDS or w.endswith(_SECRET_SUFFIXES) for w in words):
        return True
    return any(pair in _SECRET_PAIRS for pair in itertools.pairwise(words))


_ALREADY_AUTH = re.compile(
    r"(?:bearer|basic|digest|token|negotiate|ntlm|apikey|aws4-hmac-sha256|hoba|mutual|vapid|key)[ \t]+"
    + re.escape(REDACTED),
    re.IGNORECASE,
)


def _placeholder(value: str) -> bool:
    """Values that are not secrets but say something (unset, masked, already redacted)."""
    v = value.strip().strip("\"'").strip()
    return (
        not v
        or v == REDACTED
        or _ALREADY_AUTH.fullmatch(v) is not None
        or v.lower() in {"null", "none", "nil", "undefined", "true", "false", "[redacted]", "<hidden>"}
        or (set(v) <= {"*", "•"} and len(v) >= 3)
    )


# --------------------------------------------------------------------------- text rules
_SCHEMES = r"(?:bearer|basic|digest|token|negotiate|ntlm|apikey|aws4-hmac-sha256|hoba|mutual|vapid|key)"
# skip a value that is already exactly "<redacted>" (idempotence), not one that merely starts so
_NOT_DONE = "(?!" + re.escape(REDACTED) + r"(?:[\s&\"'\\,;)}\]]|$))"
# a key's end, for the fast first cut of ``key=value``; is_secret_key() decides
_KEY_END = (
    r"(?:passw(?:or)?ds?|pwd|passphrase|secrets?|tokens?|api[_.-]?keys?|authorization|cookies?|credentials?|creds|dsn"
    r"|(?:access|private|secret|account|signing|encryption|master)[_.-]?key|password[_.-]?hash|key[_.-]?data"
    r"|conn(?:ection)?[_.-]?str(?:ing)?)\d*"
)
_QUOTED = r"\\\"(?:[^\"\\\n]|\\(?!\"))*\\\"|\"(?:[^\"\\\n]|\\.)*\"|'[^'\n]*'"

_PRIVATE_KEY = re.compile(
    r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
    r"(?:[\s\S]*?-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|(?:[A-Za-z0-9+/=:,\-\s]|\\[nr])*)"
)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
_AWS_KEY = re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA|ASCA)[A-Z0-9]{16}\b")
_URI = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*:(?://|\\/\\/)[^:/?#@\s\"'<>\\]*:)(?P<pw>[^\s/?#\"'<>\\]*)@")
_AUTHORIZATION = re.compile(
    r"(?<![\w-])(?P<head>(?:proxy-)?authorization\\?[\"']?[ \t]*[:=][ \t]*\\?[\"']?(?:"
    + _SCHEMES
    + r"[ \t]+)?+)"  # possessive: "Bearer <redacted>" must not become "<redacted> <redacted>"
    + _NOT_DONE
    + r"(?P<val>[^\s\"'\\,]+)",
    re.IGNORECASE,
)
_COOKIE = re.compile(
    r"(?<![\w-])(?P<head>(?:set-)?cookie\\?[\"']?[ \t]*:[ \t]*\\?[\"']?)" + _NOT_DONE + r"(?P<val>[^\r\n\"\\]+)",
    re.IGNORECASE,
)
# {"name": "DB_PASSWORD", "value": "..."} as text (truncated JSON, JSON inside a log line)
_ENV_JSON = re.compile(
    r"(?P<head>(?P<q>\\?\")name(?P=q)[ \t]*:[ \t]*(?P=q)(?P<name>[^\"\\\n]{1,200})(?P=q)"
    r"\s*,\s*(?P=q)value(?P=q)[ \t]*:[ \t]*(?P=q))" + _NOT_DONE + r"(?P<val>(?:[^\"\\\n]|\\.)*?)(?P=q)"
)
# - name: DB_PASSWORD\n  value: ... (kubectl -o yaml pasted into a ticket)
_ENV_YAML = re.compile(
    r"(?P<head>\bname:[ \t]*[\"']?(?P<name>[\w.-]{1,200})[\"']?[ \t]*\r?\n[ \t]*value:[ \t]*)"
    + _NOT_DONE
    + r"(?P<val>[^\r\n]+)"
)
_ASSIGN = re.compile(
    r"(?<![\w.])(?P<key>(?:[A-Za-z_][\w.-]*?)?"
    + _KEY_END
    + r")(?P<sep>\\?[\"']?[ \t]*[:=][ \t]*)"
    + _NOT_DONE
    + r"(?P<val>"
    + _QUOTED
    + r"|(?:[^\s&\"'\\]|\\(?![\"']))+)",
    re.IGNORECASE,
)
# fast first cuts, searched in the lower-cased text: the full rules then run only on lines that have a hit
_ASSIGN_HINT = re.compile(r"(?:pass|pwd|secret|token|key|auth|cookie|cred|dsn|conn)[\w.-]*\\?[\"']?[ \t]*[:=]")
# a text matching none of these cannot hold a secret any rule finds (checked on the lower-cased text)
_ANY_HINT = re.compile(
    r"pass|pwd|secret|token|key|auth|cookie|cred|dsn|conn|value|eyj|private key|@"
    r"|\b(?:akia|asia|abia|acca|agpa|aida|aipa|anpa|anva|apka|aroa|asca)"
)
_CLI_HINT = re.compile(r"-(?:pass|pwd|token|secret|api|client)[\w-]*[ \t]")
_CLI_FLAG = re.compile(
    r"(?<![\w-])(?P<head>--?(?:[\w-]*-)?(?:password|passwd|pwd|token|secret|api-?key|client-secret)[ \t]+)"
    r"(?![-<])(?P<val>[^\s\"']+)",
    re.IGNORECASE,
)


def _credential_like(value: str) -> bool:
    return len(value) >= 20 or any(c.isdigit() for c in value)


def _unquote(value: str) -> tuple[str, str, str]:
    for q in ('\\"', '"', "'"):
        if len(value) >= 2 * len(q) and value.startswith(q) and value.endswith(q):
            return q, value[len(q) : -len(q)], q
    return "", value, ""


def _on_hint_lines(hint: re.Pattern[str], text: str, rule: Callable[[str], str]) -> str:
    """Apply ``rule`` to the lines of ``text`` where ``hint`` (lower-case) matches; others are copied.

    The full rules are slow-ish regexes (~4 MB/s); the hints run at ~100 MB/s, and a
    text without secrets has few hint lines. None of the rules spans lines.
    """
    lower = text.lower()
    pieces: list[str] = []
    done = 0
    for m in hint.finditer(lower):
        start = text.rfind("\n", 0, m.start()) + 1
        if start < done:  # same line as the previous hit
            continue
        end = text.find("\n", m.end())
        end = len(text) if end == -1 else end
        pieces.append(text[done:start])
        pieces.append(rule(text[start:end]))
        done = end
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)


class Redactor:
    """Redact secrets from text and JSON, and remember what was redacted where.

    Parameters
    ----------
    known_secrets
        Credentials the caller holds (from the environment or the command line), redacted
        verbatim (and URL-encoded) wherever they appear. Shorter than
        :attr:`MIN_KNOWN_SECRET` characters they are ignored (with a log warning).

    Attributes
    ----------
    records
        What was redacted: ``[{"kind": ..., "file": ..., "count": n}, ...]`` aggregated per
        kind and file, sorted by file then kind. Never holds a secret.

    Examples
    --------
    As the hook of a bundle writer (``BundleWriter(path, redact=True)`` does this):

    >>> r = Redactor(known_secrets=["s3cr3t-from-env"])
    >>> r("logs/panda/focus/focus.log", "login with s3cr3t-from-env\\nAuthorization: Bearer abc.def.ghi\\n")
    'login with <redacted>\\nAuthorization: Bearer <redacted>\\n'
    >>> r("http/focus/live_metadata.jsonl", '{"at":"2025-11-08T13:00:00Z","status":200,"body":{"api_key":"k-123"}}\\n')
    '{"at":"2025-11-08T13:00:00Z","status":200,"body":{"api_key":"<redacted>"}}\\n'
    >>> [(rec["kind"], rec["count"]) for rec in r.records]
    [('json_secret_field', 1), ('authorization', 1), ('known_secret', 1)]
    """

    #: Every kind that can appear in :attr:`records`.
    KINDS: ClassVar[tuple[str, ...]] = (
        "known_secret",
        "private_key",
        "jwt",
        "aws_access_key",
        "uri_password",
        "authorization",
        "cookie",
        "env_secret",
        "secret_assignment",
        "json_secret_field",
        "k8s_secret_data",
    )
    #: Known secrets shorter than this are not used (they would wipe out ordinary words).
    MIN_KNOWN_SECRET: ClassVar[int] = 4

    def __init__(self, *, known_secrets: Iterable[str] = ()):
        self._counts: Counter[tuple[str, str]] = Counter()
        literals: set[str] = set()
        for secret in known_secrets:
            if not secret:
                continue
            if len(secret) < self.MIN_KNOWN_SECRET:
                log.warning("a known secret shorter than %d characters is not redacted verbatim", self.MIN_KNOWN_SECRET)
                continue
            literals.update({secret, quote(secret, safe=""), json.dumps(secret)[1:-1]})
        self._known = (
            re.compile("|".join(re.escape(s) for s in sorted(literals, key=len, reverse=True))) if literals else None
        )

    # ------------------------------------------------------------------ records
    @property
    def records(self) -> list[dict[str, Any]]:
        """What was redacted, per kind and file (see the class docstring)."""
        return [{"kind": kind, "file": where, "count": n} for (where, kind), n in sorted(self._counts.items()) if n]

    @property
    def total(self) -> int:
        """How many secrets were redacted in all."""
        return sum(self._counts.values())

    def _count(self, kind: str, where: str, n: int = 1) -> None:
        self._counts[(where, kind)] += n

    # ------------------------------------------------------------------ text
    def redact_text(self, text: str, *, where: str) -> str:
        """Redact secrets from free text (log lines, pasted output, YAML, JSON-ish text).

        Parameters
        ----------
        text
            The text; returned unchanged when it holds no secret.
        where
            The file (bundle-relative path) the text belongs to, for :attr:`records`.

        Returns
        -------
        The text with every secret replaced by ``<redacted>``.

        Examples
        --------
        >>> r = Redactor()
        >>> r.redact_text('GET /api?apikey=abc123&page=2 "Authorization": "Basic dXNlcjpwYXNz"', where="a.log")
        'GET /api?apikey=<redacted>&page=2 "Authorization": "Basic <redacted>"'
        >>> r.redact_text("<0.928.0> ctag1.7f743dfad0fe17d5188472b002a86d64 sha256:9f86d081884c7d65", where="b.log")
        '<0.928.0> ctag1.7f743dfad0fe17d5188472b002a86d64 sha256:9f86d081884c7d65'
        """
        if not text:
            return text
        if self._known is None and not _ANY_HINT.search(text.lower()):
            return text
        if self._known is not None:
            text = self._sub_all(self._known, "known_secret", where, text)
        if "PRIVATE KEY" in text:
            text = self._sub_all(_PRIVATE_KEY, "private_key", where, text)
        if "eyJ" in text:
            text = self._sub_all(_JWT, "jwt", where, text)
        if "A" in text:
            text = self._sub_all(_AWS_KEY, "aws_access_key", where, text)
        if "@" in text and (":/" in text or ":\\/" in text):
            text = self._sub_keep_head(_URI, "uri_password", where, text, tail="@")
        lower = text.lower()
        if "authorization" in lower:
            text = self._sub_keep_head(_AUTHORIZATION, "authorization", where, text)
        if "cookie" in lower:
            text = self._sub_keep_head(_COOKIE, "cookie", where, text)
        if "value" in lower:
            text = self._sub_env(_ENV_JSON, where, text, quoted=True)
            text = self._sub_env(_ENV_YAML, where, text, quoted=False)
        text = _on_hint_lines(
            _CLI_HINT, text, lambda line: self._sub_keep_head(_CLI_FLAG, "secret_assignment", where, line)
        )
        return _on_hint_lines(_ASSIGN_HINT, text, lambda line: _ASSIGN.sub(lambda m: self._assignment(m, where), line))

    def _sub_all(self, pattern: re.Pattern[str], kind: str, where: str, text: str) -> str:
        out, n = pattern.subn(REDACTED, text)
        if n:
            self._count(kind, where, n)
        return out

    def _sub_keep_head(self, pattern: re.Pattern[str], kind: str, where: str, text: str, *, tail: str = "") -> str:
        def repl(m: re.Match[str]) -> str:
            value = m.groupdict().get("val", m.groupdict().get("pw")) or ""
            if _placeholder(value):
                return m[0]
            self._count(kind, where)
            return m["head"] + REDACTED + tail

        return pattern.sub(repl, text)

    def _sub_env(self, pattern: re.Pattern[str], where: str, text: str, *, quoted: bool) -> str:
        def repl(m: re.Match[str]) -> str:
            if not is_secret_name(m["name"]) or _placeholder(m["val"]):
                return m[0]
            self._count("env_secret", where)
            return m["head"] + REDACTED + (m["q"] if quoted else "")

        return pattern.sub(repl, text)

    def _assignment(self, m: re.Match[str], where: str) -> str:
        key = m["key"]
        words = _words(key)
        if not is_secret_key(key) or words[-1] == "authorization":  # headers have their own rule
            return m[0]
        opening, inner, closing = _unquote(m["val"])
        if _placeholder(inner):
            return m[0]
        if not opening and ":" in m["sep"] and not _credential_like(inner) and not words[-1].startswith("pass"):
            # "Failed to verify token: expired" is prose, "token: 0f3a..." in YAML is not:
            # mid-line, a token/secret/key value must look random (a digit, or long)
            line_start = m.string.rfind("\n", 0, m.start()) + 1
            if m.string[line_start : m.start()].strip(" \t-\"'") != "":
                return m[0]
        self._count("secret_assignment", where)
        return key + m["sep"] + opening + REDACTED + closing

    # ------------------------------------------------------------------ JSON
    def redact_json(self, obj: Any, *, where: str) -> Any:
        """Redact secrets from a decoded JSON document; the input is not modified.

        Values under secret-looking keys are replaced (containers under such keys are
        walked, so a Kubernetes volume ``secret: {secretName: ...}`` keeps its names);
        ``{"name": ..., "value": ...}`` pairs whose name looks secret (pod ``env``) lose
        their value (``valueFrom.secretKeyRef`` is a reference and stays); ``data`` of a
        ``kind: Secret`` object is replaced; every other string goes through the text
        rules, and a string that is itself JSON (``last-applied-configuration``) is
        redacted as JSON.

        Parameters
        ----------
        obj
            The decoded JSON (dicts, lists, scalars), e.g. a PodList or a management API body.
        where
            The file (bundle-relative path) the document belongs to, for :attr:`records`.

        Returns
        -------
        A redacted copy.

        Examples
        --------
        >>> r = Redactor()
        >>> pod_env = [{"name": "MONGODB_ROOT_PASSWORD", "value": "hunter2"},
        ...            {"name": "RABBITMQ_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "rabbitmq", "key": "password"}}}]
        >>> r.redact_json(pod_env, where="k8s/pods.json")[0]["value"]
        '<redacted>'
        >>> r.redact_json(pod_env, where="k8s/pods.json")[1] == pod_env[1]
        True
        >>> r.redact_json({"user": "panda", "password_hash": "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR",
        ...                "password_changed_at": "2025-11-01T00:00:00Z"}, where="rabbitmq/definitions.json")
        {'user': 'panda', 'password_hash': '<redacted>', 'password_changed_at': '2025-11-01T00:00:00Z'}
        """
        return self._walk(obj, where)

    def _walk(self, obj: Any, where: str) -> Any:
        if isinstance(obj, dict):
            return self._walk_dict(obj, where)
        if isinstance(obj, list):
            return [self._walk(v, where) for v in obj]
        if isinstance(obj, str):
            return self._walk_str(obj, where)
        return obj

    def _walk_dict(self, obj: dict[Any, Any], where: str) -> dict[Any, Any]:
        is_secret_object = obj.get("kind") == "Secret"
        name = obj.get("name") if isinstance(obj.get("name"), str) else obj.get("key")
        pair_is_secret = "value" in obj and isinstance(name, str) and is_secret_name(name)
        out: dict[Any, Any] = {}
        for key, value in obj.items():
            if is_secret_object and key in ("data", "stringData") and isinstance(value, dict):
                out[key] = {k: self._secret(v, "k8s_secret_data", where) for k, v in value.items()}
            elif pair_is_secret and key == "value":
                out[key] = self._secret(value, "env_secret", where, scheme=str(name))
            elif isinstance(key, str) and is_secret_key(key):
                out[key] = self._secret(value, "json_secret_field", where, scheme=key)
            else:
                out[key] = self._walk(value, where)
        return out

    def _secret(self, value: Any, kind: str, where: str, *, scheme: str = "", whole: bool = False) -> Any:
        """Redact a value held under a secret name: scalars replaced, containers walked.

        A MongoDB Extended JSON wrapper (``{"$binary": {...}}``, ``{"$numberLong": ...}``) is
        a scalar in disguise: all of it is redacted (``whole``).
        """
        if isinstance(value, dict):
            if whole or any(isinstance(k, str) and k.startswith("$") for k in value):
                return {k: self._secret(v, kind, where, scheme=scheme, whole=True) for k, v in value.items()}
            return self._walk_dict(value, where)
        if isinstance(value, list):
            return [self._secret(v, kind, where, scheme=scheme, whole=whole) for v in value]
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, str):
            if _placeholder(value):
                return value
            self._count(kind, where)
            if _words(scheme)[-1:] == ["authorization"]:
                auth = re.match(_SCHEMES + r"[ \t]+", value, re.IGNORECASE)
                if auth:
                    return auth[0] + REDACTED
            return REDACTED
        self._count(kind, where)  # a number under a secret key
        return REDACTED

    def _walk_str(self, text: str, where: str) -> str:
        stripped = text.strip()
        if len(stripped) > 1 and stripped[0] in "{[" and stripped[-1] in "}]":
            try:
                inner = json.loads(stripped)
            except ValueError:
                inner = None
            if isinstance(inner, dict | list):
                before = self.total
                redacted = self._walk(inner, where)
                if self.total == before:
                    return text
                dumped = json.dumps(redacted, ensure_ascii=False, separators=(",", ":"))
                return dumped + "\n" if text.endswith("\n") else dumped
        return self.redact_text(text, where=where)

    # ------------------------------------------------------------------ files
    def redact_file(self, rel_path: str, text: str) -> str:
        """Redact one bundle file's text, choosing the rules by its name.

        ``.json`` files are redacted as JSON (text rules when they do not parse), ``.jsonl``
        and ``.ndjson`` line by line (text rules for a line that is not JSON), anything
        else as text. A file without secrets comes back unchanged; a JSON file with some
        is re-serialised with its original indentation.

        Parameters
        ----------
        rel_path
            The bundle-relative path (``k8s/pods.json``), also the ``file`` of the records.
        text
            The file's content.

        Returns
        -------
        The redacted content.
        """
        name = rel_path.lower()
        if name.endswith((".jsonl", ".ndjson")):
            return "\n".join(self._redact_json_line(line, rel_path) for line in text.split("\n"))
        if name.endswith(".json"):
            return self._redact_json_document(text, rel_path)
        return self.redact_text(text, where=rel_path)

    def __call__(self, rel_path: str, text: str) -> str:
        """Redact one bundle file (the ``redact`` hook of ``BundleWriter``); see :meth:`redact_file`."""
        return self.redact_file(rel_path, text)

    def _redact_json_line(self, line: str, where: str) -> str:
        body = line.rstrip("\r")
        if not body.strip():
            return line
        try:
            doc = json.loads(body)
        except ValueError:
            return self.redact_text(line, where=where)
        before = self.total
        redacted = self._walk(doc, where)
        if self.total == before:
            return line
        return json.dumps(redacted, ensure_ascii=False, separators=(",", ":")) + line[len(body) :]

    def _redact_json_document(self, text: str, where: str) -> str:
        try:
            doc = json.loads(text)
        except ValueError:
            return self.redact_text(text, where=where)
        before = self.total
        redacted = self._walk(doc, where)
        if self.total == before:
            return text
        indent_match = re.search(r"\n([ \t]+)\S", text)
        indent: int | str | None = None
        if indent_match:
            indent = len(indent_match[1]) if indent_match[1].strip(" ") == "" else indent_match[1]
        compact = (",", ":") if indent is None and ", " not in text and ": " not in text else None
        dumped = json.dumps(redacted, ensure_ascii=False, indent=indent, separators=compact)
        return dumped + text[len(text.rstrip()) :]
