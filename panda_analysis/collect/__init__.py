"""Live, read-only evidence collection → bundles (imported lazily: requests, kubernetes and
pymongo load on first use).

Modules: ``_http`` (one requests.Session factory: timeouts, a few retries with backoff
for GET only, redaction), ``_rabbit_api`` (RabbitMQ management API snapshots). More
sources (Kubernetes, Focus Server, MongoDB) are being added.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["rabbit_api"]

_LAZY = {"rabbit_api": ("panda_analysis.collect._rabbit_api", "rabbit_api")}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    msg = f"module 'panda_analysis.collect' has no attribute {name!r}"
    raise AttributeError(msg)
