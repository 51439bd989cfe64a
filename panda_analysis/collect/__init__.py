"""Live, read-only evidence collection → a ``panda-bundle/1`` bundle.

One function per source, and :func:`bundle` running all of them into one bundle:

``kube``         pods, events, jobs, services, endpoints; current and previous container logs
``focus_api``    ``GET /live_metadata`` sampled, ``GET /metadata/{job_id}`` for the jobs seen
``rabbit_api``   RabbitMQ management API ``/api/overview``, ``/api/queues``, ``/api/consumers`` sampled
``mongo_check``  MongoDB connectivity, failures classified (name resolution / refused / timeout / auth)
``mongo_export`` recent documents of a few collections, newest first, capped

Everything is read-only (get / list / logs, HTTP GET), every call has a timeout, retries
are few and only for reads, output is capped, and secrets are redacted before anything
is written (the manifest lists what was redacted). ``requests``, ``kubernetes`` and
``pymongo`` load on first use.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["CollectSummary", "bundle", "focus_api", "job_ids_in", "kube", "mongo", "mongo_check", "mongo_export", "rabbit_api"]

log = logging.getLogger(__name__)

_LAZY = {
    "rabbit_api": ("panda_analysis.collect._rabbit_api", "rabbit_api"),
    "kube": ("panda_analysis.collect._kube", "kube"),
    "focus_api": ("panda_analysis.collect._focus_api", "focus_api"),
    "job_ids_in": ("panda_analysis.collect._focus_api", "job_ids_in"),
    "mongo_check": ("panda_analysis.collect._mongo", "check"),
    "mongo_export": ("panda_analysis.collect._mongo", "export"),
    "mongo": ("panda_analysis.collect._mongo", "export"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    msg = f"module 'panda_analysis.collect' has no attribute {name!r}"
    raise AttributeError(msg)


@dataclass
class CollectSummary:
    """What :func:`bundle` collected and what it could not."""

    path: Path
    collected: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every requested source was collected."""
        return not self.failed


def _secrets_in(*values: str | None) -> list[str]:
    """Credentials given on the command line or in the environment: redacted wherever they appear."""
    from urllib.parse import urlsplit

    out = []
    for value in values:
        if not value:
            continue
        try:
            parts = urlsplit(value)
        except ValueError:
            continue
        if parts.password:
            out.append(parts.password)
    out += [os.environ[k] for k in ("RABBITMQ_PASSWORD", "MONGO_PASSWORD") if os.environ.get(k)]
    return [s for s in out if len(s) >= 4]


def bundle(
    out: str | os.PathLike[str],
    *,
    namespaces: Sequence[str] = ("panda", "kube-system"),
    context: str | None = None,
    kubeconfig: str | None = None,
    since: str | None = "2h",
    focus_url: str | None = None,
    insecure: bool = False,
    rabbitmq_url: str | None = None,
    mongo_uri: str | None = None,
    samples: int = 3,
    interval_s: float = 5.0,
    kubernetes: bool = True,
    on_progress: Callable[[str], None] | None = None,
) -> CollectSummary:
    """Collect every configured source into one bundle at ``out`` (directory, or ``.tar.gz``).

    A source that fails is recorded (manifest ``failures`` and the returned summary) and
    the others go on; the bundle is written whatever was collected. Sources without a URL
    are skipped.

    Parameters
    ----------
    out
        Bundle path; a name ending in ``.tar.gz`` writes an archive.
    namespaces, context, kubeconfig, since
        Kubernetes: namespaces to read, kubeconfig context and file (default
        ``$KUBECONFIG`` / ``~/.kube/config``, else in-cluster), window of current logs.
    focus_url, insecure
        Focus Server base URL (``https://host/focus-server``); ``insecure`` turns TLS
        verification off (as ``curl -k``).
    rabbitmq_url
        RabbitMQ management URL (``http://host:15672``); credentials from the URL or
        ``RABBITMQ_USER`` / ``RABBITMQ_PASSWORD``.
    mongo_uri
        MongoDB URI; the connectivity check always runs, the export when it connects.
    samples, interval_s
        How many probes / snapshots, how far apart.
    kubernetes
        False to skip the Kubernetes API (e.g. only HTTP sources reachable).
    on_progress
        Called with one line of text per step.
    """
    from panda_analysis import __version__
    from panda_analysis.bundle import BundleWriter
    from panda_analysis.errors import PandaAnalysisError
    from panda_analysis.redact import Redactor

    say = on_progress or (lambda text: log.info("%s", text))
    summary = CollectSummary(path=Path(out))
    redactor = Redactor(known_secrets=_secrets_in(rabbitmq_url, mongo_uri, focus_url))
    manifest = {
        "source": f"panda-analysis {__version__} collect",
        "namespaces": list(namespaces) if kubernetes else [],
        "failures": [],
    }
    with BundleWriter(out, manifest=manifest, redact=redactor) as writer:

        def attempt(name: str, step: Callable[[], Any]) -> Any:
            say(f"{name}: collecting …")
            try:
                result = step()
            except (PandaAnalysisError, OSError) as err:
                summary.failed.append(f"{name}: {err}")
                writer.manifest["failures"].append({"source": name, "error": str(err)})
                say(f"{name}: FAILED: {err}")
                return None
            summary.collected.append(name)
            say(f"{name}: done")
            return result

        def progress(done: int, total: int, text: str) -> None:
            say(f"  [{done}/{total}] {text}")

        if kubernetes:
            result = attempt(
                "kubernetes",
                lambda: __getattr__("kube")(
                    writer, namespaces=namespaces, context=context, kubeconfig=kubeconfig, since=since,
                    on_progress=progress,
                ),
            )
            for failure in getattr(result, "failures", None) or []:
                where = "/".join(str(failure.get(k)) for k in ("namespace", "pod", "container") if failure.get(k))
                text = f"kubernetes {failure.get('what')} {where}: {failure.get('error')}"
                summary.failed.append(text)
        else:
            summary.skipped.append("kubernetes (--no-kube)")
        if focus_url:
            job_ids = __getattr__("job_ids_in")(writer)
            attempt(
                "focus",
                lambda: __getattr__("focus_api")(
                    writer, url=focus_url, samples=samples, interval_s=interval_s, job_ids=job_ids, verify=not insecure
                ),
            )
        else:
            summary.skipped.append("focus (no --focus-url)")
        if rabbitmq_url:
            attempt(
                "rabbitmq",
                lambda: __getattr__("rabbit_api")(writer, url=rabbitmq_url, samples=samples, interval_s=interval_s),
            )
        else:
            summary.skipped.append("rabbitmq (no --rabbitmq-url)")
        if mongo_uri:
            check = attempt("mongodb check", lambda: __getattr__("mongo_check")(mongo_uri))
            if check is not None and getattr(check, "ok", False):
                attempt("mongodb export", lambda: __getattr__("mongo_export")(writer, uri=mongo_uri))
            elif check is not None:
                summary.failed.append(f"mongodb: {check.category}: {check.error}")
                writer.manifest["failures"].append({"source": "mongodb", "error": f"{check.category}: {check.error}"})
        else:
            summary.skipped.append("mongodb (no --mongo-uri)")
    return summary
