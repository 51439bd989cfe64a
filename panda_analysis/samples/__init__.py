"""Embedded sample bundles: small, realistic ``panda-bundle/1`` evidence, the default input.

Each sample is a directory next to this module, built from the seed documents' real log
lines and API answers (see ``tools/make_samples.py``, which regenerates them
deterministically). One function per sample returns it as a :class:`Bundle`; its
docstring says what it contains and what a diagnosis should find.

Examples
--------
>>> import panda_analysis as pa
>>> pa.samples.names()
['alert_lost', 'consumer_slow', 'healthy', 'queue_backlog', 'waiting_for_fiber']
>>> pa.samples.healthy().manifest["format"]
'panda-bundle/1'
"""

from __future__ import annotations

from pathlib import Path

from panda_analysis.bundle import Bundle
from panda_analysis.errors import BundleError

__all__ = ["alert_lost", "consumer_slow", "healthy", "load", "names", "path", "queue_backlog", "waiting_for_fiber"]

_HERE = Path(__file__).resolve().parent


def names() -> list[str]:
    """Names of the embedded samples, sorted."""
    return sorted(p.name for p in _HERE.iterdir() if (p / "manifest.json").is_file())


def path(name: str) -> Path:
    """Directory of sample ``name``; :class:`BundleError` lists the names if it is unknown."""
    root = _HERE / name
    if name not in names():
        msg = f"no sample named {name!r}; samples are {names()}"
        raise BundleError(msg)
    return root


def load(name: str) -> Bundle:
    """Open sample ``name`` as a Bundle (same as ``pa.load_bundle(f"sample:{name}")``)."""
    return Bundle.open(f"sample:{name}")


def waiting_for_fiber() -> Bundle:
    """The 2025-11-08 staging incident (seed 002): metadata "waiting for fiber" and a retry storm.

    Contents: ``GET /live_metadata`` probes answering ``prr: 0.0``, ``dx: 0.0``,
    ``sw_version: "waiting for fiber"``; Focus Server logs where every ``POST /configure``
    fails with ``Missing required fiber metadata fields: prr`` and ``503``, repeated every
    2-3 s from two request configurations; the matching ingress access log; the Focus
    Server pod with ``4 (28h ago)`` restarts whose previous log ends in
    ``ServerSelectionTimeoutError: mongodb:27017: [Errno -3] Temporary failure in name
    resolution`` during FocusManager init; healthy RabbitMQ logs.

    Expected findings: FIBER_WAITING, FIBER_METADATA_MISSING, RETRY_STORM, CRASHLOOP_DNS.
    """
    return load("waiting_for_fiber")


def consumer_slow() -> Bundle:
    """A job's consumer creation (seed 004), one job fast and one slow.

    Contents: ``POST /configure`` for jobs ``19-5`` (ready after 5.2 s, as in the seed) and
    ``19-6`` (consumer ready after about 41 s); their Kubernetes Jobs, pods and events
    (Scheduled, Pulling, Pulled, Created, Started); ``GET /metadata/{job_id}`` polls (404
    ``Invalid job_id`` until ready, then 200); RabbitMQ snapshots where queues
    ``grpc-job-19-5`` / ``grpc-job-19-6`` appear and get their consumer; analyzer logs.

    Expected findings: CONSUMER_SLOW for job 19-6 only.
    """
    return load("consumer_slow")


def alert_lost() -> Bundle:
    """An alert's trip through the pipeline (seed 000): one delivered, one lost.

    Contents: ingress ``POST .../push-to-rabbit`` answered ``201`` for alerts
    ``test-sd-123`` and ``test-sd-124``, and ``GET /assets/sounds/alert_sound.mp3`` ``206``
    after the first only; Focus Server ``Received alert`` / ``Publishing alert to RabbitMQ``
    lines; RabbitMQ ``Message published to exchange 'prisma' with routing_key
    'Algorithm.AlertReport.MLGround'`` for the first only; analyzer ``Alert detected``.

    Expected findings: ALERT_NOT_DELIVERED for ``test-sd-124`` (stopped at the RabbitMQ
    publish).
    """
    return load("alert_lost")


def queue_backlog() -> Bundle:
    """RabbitMQ queues (seeds 001, 003): the alerts queue loses its consumer and backs up; an old job queue lives on.

    Contents: at 10:07:27 RabbitMQ closes channel 1 of the web app's connection, the only
    consumer of ``prisma-210-1000-alerts`` (``Channel error on connection <0.2954.0> (...),
    channel 1:`` / ``operation basic.ack caused a channel exception precondition_failed:
    unknown delivery tag 509``); the web app never reopens it, its pod stays Running with 0
    restarts. Job ``21-4`` keeps publishing about 8 alerts a minute (analyzer ``Alert
    detected`` lines), so over 10 management snapshots 45 s apart (``/api/overview``,
    ``/api/queues``, ``/api/consumers``, 10:07:00-10:13:45) the queue goes from 1 consumer and
    0 ready messages to 0 consumers and 50. Queue ``grpc-job-18-2``, durable, declared by
    analyzer 2.13 before the 2025-11-06 upgrade, outlived its job (finished 2025-11-05; Job and
    pod gone, ``completed`` in ``mongo/jobs.jsonl``): 0 consumers and 37 messages throughout.
    Live metadata ready (prr 2000), UI polls through ingress, no Warning events.

    Expected findings: QUEUE_BACKLOG (critical) for ``prisma-210-1000-alerts``,
    QUEUE_ORPHANED (warning) for ``grpc-job-18-2``; nothing else (the consumer was lost to a
    channel error, not a crash).

    Examples
    --------
    >>> import panda_analysis as pa
    >>> found = pa.diagnose.run(pa.samples.queue_backlog())
    >>> [(str(f.code), str(f.severity), f.subject) for f in found]
    [('QUEUE_BACKLOG', 'critical', 'prisma-210-1000-alerts'), ('QUEUE_ORPHANED', 'warning', 'grpc-job-18-2')]
    """
    return load("queue_backlog")


def healthy() -> Bundle:
    """A healthy system: metadata ready (prr 2000), configure → consumer in seconds, no restarts.

    Expected findings: none of severity warning or critical.
    """
    return load("healthy")
