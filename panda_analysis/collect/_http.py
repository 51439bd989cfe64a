"""One ``requests.Session`` factory for every HTTP collector (DESIGN "Live collection rules").

What the session guarantees, so that collectors do not each re-invent it:

- **a timeout on every request** (requests has none by default and would wait forever on
  a server that accepts the connection but never answers);
- **few retries, with backoff, for idempotent reads only**: GET and HEAD are retried on
  connection errors and on 502 / 503 / 504; a read that timed out is not retried (the
  server may be busy, asking again only adds load) and nothing else is ever retried;
  ``Retry-After`` is not obeyed, so a server cannot stretch the run;
- a ``User-Agent: panda-analysis/<version>`` header, so the platform's access logs
  show who asked;
- **no credentials in URLs**: ``user:password@`` in a request URL is moved into HTTP
  Basic auth before requests sees it, so it cannot leak through ``response.url``,
  exception messages or logs; :func:`redact_url` and :func:`describe` make URLs and
  errors safe to log or raise.

Examples
--------
>>> redact_url("http://admin:s3cret@rabbitmq-panda:15672/api/overview?token=abc&page=1")
'http://admin:<redacted>@rabbitmq-panda:15672/api/overview?token=<redacted>&page=1'
>>> with session(timeout_s=2.0) as s:
...     s.headers["User-Agent"].startswith("panda-analysis/")
True
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

__all__ = ["RETRY_STATUSES", "describe", "redact_url", "session", "split_userinfo"]

log = logging.getLogger(__name__)

#: HTTP statuses a GET is retried on: the gateway / overload answers of a proxy or server.
RETRY_STATUSES = (502, 503, 504)
_REDACTED = "<redacted>"
# query keys whose values are secrets (api_key, access_token, ...); matched on the key only
_SECRET_QUERY_KEY = re.compile(r"(?i)(?:pass(?:word|wd)?|pwd|secret|token|api[_-]?key|apikey|auth|signature|sig)")
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>]+")


def _user_agent() -> str:
    from panda_analysis import __version__

    return f"panda-analysis/{__version__}"


def split_userinfo(url: str) -> tuple[str, tuple[str, str] | None]:
    """Split ``user:password@`` off a URL: ``(url_without_userinfo, (user, password) | None)``.

    Percent-escapes in the user and password are decoded (``p%40ss`` is ``p@ss``).

    Examples
    --------
    >>> split_userinfo("http://panda:p%40ss@127.0.0.1:15672/")
    ('http://127.0.0.1:15672/', ('panda', 'p@ss'))
    >>> split_userinfo("http://127.0.0.1:15672")
    ('http://127.0.0.1:15672', None)
    """
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    clean = urlunsplit(SplitResult(parts.scheme, hostport, parts.path, parts.query, parts.fragment))
    return clean, (unquote(user), unquote(password))


def redact_url(url: str) -> str:
    """``url`` safe to log: the password of ``user:password@`` and secret-looking query values replaced.

    The user name and every other part stay readable, so the evidence still says where
    it came from.

    Examples
    --------
    >>> redact_url("mongodb://panda:hunter2@mongodb:27017/panda")
    'mongodb://panda:<redacted>@mongodb:27017/panda'
    >>> redact_url("http://127.0.0.1:15672/api/queues")
    'http://127.0.0.1:15672/api/queues'
    """
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an invalid IPv6 literal: redact anything that looks like userinfo
        return re.sub(r"//[^/@\s]*@", f"//{_REDACTED}@", url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        # a bare ``token@host`` is as secret as a password: only ``user:`` stays readable
        netloc = f"{user}:{_REDACTED}@{hostport}" if colon else f"{_REDACTED}@{hostport}"
    query = parts.query
    if query:
        pairs = []
        for pair in query.split("&"):
            key, eq, _ = pair.partition("=")
            pairs.append(f"{key}={_REDACTED}" if eq and _SECRET_QUERY_KEY.search(key) else pair)
        query = "&".join(pairs)
    return urlunsplit(SplitResult(parts.scheme, netloc, parts.path, query, parts.fragment))


def _redact_text(text: str) -> str:
    return _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)


def describe(err: BaseException) -> str:
    """A one-line description of a request failure, with any URL in it redacted.

    Timeouts and refused connections are named plainly (also when they come wrapped in
    urllib3's "max retries exceeded"); the exception type is kept so the reader can
    search for it.

    Examples
    --------
    >>> describe(requests.ConnectTimeout("http://u:pw@10.0.0.1:15672/api/overview timed out"))
    'connect timeout (ConnectTimeout: http://u:<redacted>@10.0.0.1:15672/api/overview timed out)'
    """
    # requests raises ConnectionError(MaxRetryError(reason=...)) once retries are spent,
    # even for a read timeout: the reason says what really happened
    cause: BaseException = err
    wrapped = err.args[0] if err.args else None
    if isinstance(wrapped, urllib3.exceptions.MaxRetryError) and isinstance(wrapped.reason, BaseException):
        cause = wrapped.reason
    if isinstance(cause, urllib3.exceptions.NewConnectionError):  # a subclass of ConnectTimeoutError
        kind = "connection failed"
    elif isinstance(cause, requests.ConnectTimeout | urllib3.exceptions.ConnectTimeoutError):
        kind = "connect timeout"
    elif isinstance(cause, requests.ReadTimeout | urllib3.exceptions.ReadTimeoutError):
        kind = "no answer within the timeout"
    elif isinstance(cause, requests.exceptions.SSLError | urllib3.exceptions.SSLError):
        kind = "TLS error"
    elif isinstance(cause, requests.ConnectionError | urllib3.exceptions.HTTPError | OSError):
        kind = "connection failed"
    else:
        kind = "request failed"
    text = " ".join(str(cause).split())
    return f"{kind} ({type(cause).__name__}: {_redact_text(text)})"


class _TimeoutAdapter(HTTPAdapter):
    """An adapter that gives every request a default timeout (requests has none)."""

    def __init__(self, *, timeout_s: float, max_retries: Retry):
        self.timeout_s = timeout_s
        super().__init__(max_retries=max_retries)

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout_s
        return super().send(request, *args, **kwargs)


class _Session(requests.Session):
    """A Session that never lets ``user:password@`` of a URL reach requests."""

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        verb = method.decode() if isinstance(method, bytes) else method
        clean, userinfo = split_userinfo(url.decode() if isinstance(url, bytes) else url)
        if userinfo is not None and kwargs.get("auth") is None and self.auth is None:
            kwargs["auth"] = userinfo
        if self.verify is not True and kwargs.get("verify") is None:
            # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's CA path or
            # verify=False (psf/requests#3829); a per-request value is honoured
            kwargs["verify"] = self.verify
        log.debug("%s %s", verb, redact_url(clean))
        return super().request(verb, clean, *args, **kwargs)


def session(
    *,
    timeout_s: float = 10.0,
    retries: int = 2,
    backoff_s: float = 0.5,
    verify: bool | str = True,
    auth: tuple[str, str] | requests.auth.AuthBase | None = None,
) -> requests.Session:
    """A ``requests.Session`` for read-only collection: timeouts, few retries with backoff, redaction.

    Parameters
    ----------
    timeout_s
        Timeout of every request in seconds (connect, and each wait for data), unless
        the call passes its own ``timeout=``. Must be positive.
    retries
        How many times a GET / HEAD is retried after a connection error or a 502 / 503 /
        504 answer (0 disables retries; at most 5). Read timeouts are never retried.
    backoff_s
        Backoff factor: waits are ``0, 2·backoff_s, 4·backoff_s, ...`` (capped at 10 s).
    verify
        TLS verification: True, False, or the path of a CA bundle.
    auth
        HTTP auth for every request, e.g. ``(user, password)``. ``user:password@`` in a
        request URL is used when no auth is set.

    Returns
    -------
    requests.Session
        Use it as a context manager (or call ``close()``) to release connections.

    Examples
    --------
    >>> s = session(timeout_s=3.0, retries=1)
    >>> s.get_adapter("http://127.0.0.1/").timeout_s, s.get_adapter("http://127.0.0.1/").max_retries.total
    (3.0, 1)
    >>> s.close()
    """
    if not timeout_s > 0:
        msg = f"timeout_s must be positive, got {timeout_s!r}: every live request needs a timeout"
        raise ValueError(msg)
    if not 0 <= retries <= 5:
        msg = f"retries must be between 0 and 5, got {retries!r}: retries stay few (DESIGN 'Live collection rules')"
        raise ValueError(msg)
    retry = Retry(
        total=retries,
        connect=retries,
        read=0,  # a request that reached the server and timed out is not repeated
        status=retries,
        other=0,
        redirect=5,
        allowed_methods=frozenset({"GET", "HEAD"}),
        status_forcelist=RETRY_STATUSES,
        backoff_factor=max(backoff_s, 0.0),
        backoff_max=10.0,
        raise_on_status=False,  # the caller sees the last 503 and reports it
        respect_retry_after_header=False,  # a server must not stretch a bounded run
    )
    s = _Session()
    adapter = _TimeoutAdapter(timeout_s=float(timeout_s), max_retries=retry)
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    s.headers["User-Agent"] = _user_agent()
    s.verify = verify
    s.auth = auth
    return s
