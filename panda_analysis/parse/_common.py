"""Helpers shared by the parsers: route templates, job ids, level names."""

from __future__ import annotations

import re

__all__ = ["job_id_from_name", "normalize_level", "route_template"]

_JOB_ID = r"\d+-\d+"
# grpc-job-<job_id>-<suffix>: Job pods get a 5-character suffix; the Job and its queue have none.
_GRPC_NAME = re.compile(rf"^grpc-job-({_JOB_ID})(?:-[a-z0-9]{{5}})?$")
_SEGMENT_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(rf"^{_JOB_ID}$"), "{job_id}"),
    (re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"), "{uuid}"),
    (re.compile(r"^[0-9a-fA-F]{24}$"), "{object_id}"),
    (re.compile(r"^\d+$"), "{id}"),
    (re.compile(r"^(?=.*\d)[0-9a-fA-F]{16,}$"), "{hex}"),
)
_LEVELS = {
    "trace": "debug", "debug": "debug", "dbg": "debug", "d": "debug",
    "info": "info", "information": "info", "notice": "info", "i": "info",
    "warn": "warning", "warning": "warning", "w": "warning",
    "error": "error", "err": "error", "e": "error",
    "critical": "critical", "crit": "critical", "fatal": "critical", "alert": "critical",
    "emergency": "critical", "emerg": "critical", "f": "critical", "c": "critical",
}


def route_template(path: str | None) -> str | None:
    """Template the ids in a request path so requests group by endpoint.

    Examples
    --------
    >>> route_template("/focus-server/metadata/19-5")
    '/focus-server/metadata/{job_id}'
    >>> route_template("/api/jobs/42?x=1")
    '/api/jobs/{id}'
    >>> route_template("/prisma/api/prisma-210-1000/api/push-to-rabbit")
    '/prisma/api/prisma-210-1000/api/push-to-rabbit'
    """
    if path is None:
        return None
    path = path.split("?", 1)[0]
    segments = path.split("/")
    for i, segment in enumerate(segments):
        for pattern, name in _SEGMENT_RULES:
            if pattern.match(segment):
                segments[i] = name
                break
    return "/".join(segments)


def job_id_from_name(name: str | None) -> str | None:
    """The Panda job id in a Job, pod or queue name (``grpc-job-<job_id>[-<suffix>]``).

    Examples
    --------
    >>> job_id_from_name("grpc-job-19-5-cj8hc")
    '19-5'
    >>> job_id_from_name("grpc-job-19-5")
    '19-5'
    >>> job_id_from_name("rabbitmq-panda-0") is None
    True
    """
    if not name:
        return None
    match = _GRPC_NAME.match(name)
    return match.group(1) if match else None


def normalize_level(level: str | None) -> str | None:
    """Map a level name (``WARN``, ``notice``, ``E``, ...) to debug/info/warning/error/critical.

    Examples
    --------
    >>> normalize_level("WARN"), normalize_level("notice"), normalize_level("bogus")
    ('warning', 'info', None)
    """
    if not level:
        return None
    return _LEVELS.get(level.strip().lower())
