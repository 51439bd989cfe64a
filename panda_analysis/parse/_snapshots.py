"""RabbitMQ management API snapshots: ``rabbitmq/snapshots.jsonl``.

One line per snapshot: ``{"at": ISO, "overview": {...}, "queues": [...], "consumers":
[...]}``, the bodies exactly as the management HTTP API returns them for
``GET /api/overview``, ``/api/queues`` and ``/api/consumers``. Any part may be missing or
null (that GET failed): the snapshot then adds no rows for it. A line that is not a JSON
object with a readable ``at`` is counted as unparsed in all three frames; a part that is
not a list (an error body), or a queue / consumer that is not an object with a name, is
counted in its own frame.
"""

from __future__ import annotations

import os
import re
from typing import Any, TextIO

import pandas as pd

from panda_analysis import schema
from panda_analysis._lines import Unparsed, resolve_sources
from panda_analysis.bundle import Bundle
from panda_analysis.parse._common import (
    as_bool,
    as_dict,
    as_text,
    conform,
    iso_timestamp,
    job_id_from_name,
    json_snippet,
    stamped_json_lines,
)

__all__ = ["consumers", "queues", "rabbitmq_overview"]

Row = dict[str, Any]

_NAMES = ("queues", "consumers", "rabbitmq_overview")
# RabbitMQ < 3.12 printed idle_since as local "2017-05-25 19:14:32" (hour may be unpadded)
_OLD_IDLE_SINCE = re.compile(r"^(\d{4})-(\d{2})-(\d{2}) (\d{1,2}):(\d{2}):(\d{2})$")


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and abs(value) < 2**63:
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    return None


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


# ``as_dict``: the API prints an empty message_stats / queue_totals as [] in some versions
def _rate(stats: Any, name: str) -> float | None:
    return _float(as_dict(as_dict(stats).get(f"{name}_details")).get("rate"))


def _instant(value: Any) -> pd.Timestamp | None:
    if not isinstance(value, str) or not value.strip():
        return None
    old = _OLD_IDLE_SINCE.match(value)
    if old:
        year, month, day, hour, minute, second = (int(g) for g in old.groups())
        try:
            return pd.Timestamp(year, month, day, hour, minute, second, tz="UTC").as_unit("ns")
        except ValueError:
            return None
    return iso_timestamp(value)


def _items(part: Any) -> list[Any] | None:
    """The list of a ``/api/queues``-like body (also the paginated ``{"items": [...]}``)."""
    if isinstance(part, list):
        return part
    if isinstance(part, dict) and isinstance(part.get("items"), list):
        return part["items"]
    return None


def _queue_row(queue: dict[str, Any]) -> Row:
    name = as_text(queue.get("name"))
    stats = queue.get("message_stats")
    return {
        "vhost": as_text(queue.get("vhost")),
        "queue": name,
        "job_id": job_id_from_name(name),
        "queue_type": as_text(queue.get("type")),
        "state": as_text(queue.get("state")),
        "node": as_text(queue.get("node")),
        "durable": as_bool(queue.get("durable")),
        "auto_delete": as_bool(queue.get("auto_delete")),
        "exclusive": as_bool(queue.get("exclusive")),
        "messages": _int(queue.get("messages")),
        "messages_ready": _int(queue.get("messages_ready")),
        "messages_unacknowledged": _int(queue.get("messages_unacknowledged")),
        "consumer_count": _int(queue.get("consumers")),
        "consumer_utilisation": _float(queue.get("consumer_utilisation")),
        "publish_rate": _rate(stats, "publish"),
        "deliver_rate": _rate(stats, "deliver_get"),
        "ack_rate": _rate(stats, "ack"),
        "memory_bytes": _int(queue.get("memory")),
        "idle_since": _instant(queue.get("idle_since")),
    }


def _consumer_row(consumer: dict[str, Any]) -> Row:
    queue = as_dict(consumer.get("queue"))
    channel = as_dict(consumer.get("channel_details"))
    name = as_text(queue.get("name"))
    return {
        "vhost": as_text(queue.get("vhost")),
        "queue": name,
        "job_id": job_id_from_name(name),
        "consumer_tag": as_text(consumer.get("consumer_tag")),
        "channel": as_text(channel.get("name")),
        "connection": as_text(channel.get("connection_name")),
        "peer_host": as_text(channel.get("peer_host")),
        "peer_port": _int(channel.get("peer_port")),
        "user": as_text(channel.get("user")),
        "ack_required": as_bool(consumer.get("ack_required")),
        "exclusive": as_bool(consumer.get("exclusive")),
        "is_active": as_bool(consumer.get("active")),
        "activity_status": as_text(consumer.get("activity_status")),
        "prefetch_count": _int(consumer.get("prefetch_count")),
    }


def _overview_row(overview: dict[str, Any]) -> Row:
    totals = as_dict(overview.get("queue_totals"))
    objects = as_dict(overview.get("object_totals"))
    stats = overview.get("message_stats")
    return {
        "cluster_name": as_text(overview.get("cluster_name")),
        "rabbitmq_version": as_text(overview.get("rabbitmq_version")),
        "messages": _int(totals.get("messages")),
        "messages_ready": _int(totals.get("messages_ready")),
        "messages_unacknowledged": _int(totals.get("messages_unacknowledged")),
        "queue_count": _int(objects.get("queues")),
        "consumer_count": _int(objects.get("consumers")),
        "connection_count": _int(objects.get("connections")),
        "channel_count": _int(objects.get("channels")),
        "publish_rate": _rate(stats, "publish"),
        "deliver_rate": _rate(stats, "deliver_get"),
    }


def _named_queue(item: dict[str, Any]) -> bool:
    return as_text(item.get("name")) is not None


def _named_consumer(item: dict[str, Any]) -> bool:
    return as_text(as_dict(item.get("queue")).get("name")) is not None


def _frames(source: Bundle | str | os.PathLike[str] | TextIO) -> dict[str, pd.DataFrame]:
    """The three snapshot frames, reading each file once."""
    rows: dict[str, list[Row]] = {name: [] for name in _NAMES}
    unparsed = {name: Unparsed() for name in _NAMES}
    for file in resolve_sources(source, "queues"):
        broken = Unparsed()
        for line_no, at, snapshot in stamped_json_lines(file, broken, _instant):
            where = {"ts": at, "source": file.name, "line_no": line_no}
            overview = snapshot.get("overview")
            if isinstance(overview, dict):
                rows["rabbitmq_overview"].append({**where, **_overview_row(overview)})
            elif overview is not None:
                unparsed["rabbitmq_overview"].add(
                    file.name, line_no, f"overview is not an object: {json_snippet(overview)}"
                )
            for name, part, build, usable in (
                ("queues", "queues", _queue_row, _named_queue),
                ("consumers", "consumers", _consumer_row, _named_consumer),
            ):
                body = snapshot.get(part)
                if body is None:
                    continue
                items = _items(body)
                if items is None:
                    unparsed[name].add(file.name, line_no, f"{part} is not a list: {json_snippet(body)}")
                    continue
                for item in items:
                    if isinstance(item, dict) and usable(item):
                        rows[name].append({**where, **build(item)})
                    else:
                        unparsed[name].add(file.name, line_no, f"unreadable {part} entry: {json_snippet(item)}")
        for name in _NAMES:  # a broken line is lost for every frame
            unparsed[name].merge(broken)
    frames = {"queues": schema.QUEUES, "consumers": schema.CONSUMERS, "rabbitmq_overview": schema.RABBITMQ_OVERVIEW}
    return {
        name: conform(frames[name], rows[name], unparsed[name])
        for name in _NAMES
    }


@schema.documented(schema.QUEUES)
def queues(source: Bundle | str | os.PathLike[str] | TextIO) -> pd.DataFrame:
    """Queues of each snapshot (``GET /api/queues``): one row per queue per snapshot.

    ``ts`` is the snapshot's ``at``; ``job_id`` is set for per-job queues
    (``grpc-job-19-5``). Rates are the management API's ``*_details.rate`` (messages/s).

    Parameters
    ----------
    source
        A Bundle (its ``rabbitmq/snapshots.jsonl``), a path, or an open text stream.

    Returns
    -------
    pandas.DataFrame
        Conformed to ``schema.QUEUES``.

    Examples
    --------
    >>> import io
    >>> line = ('{"at": "2025-11-13T09:41:20Z", "queues": [{"name": "grpc-job-19-5", "vhost": "/", '
    ...         '"messages": 3, "messages_ready": 3, "consumers": 0}]}')
    >>> df = queues(io.StringIO(line))
    >>> df.loc[0, "queue"], df.loc[0, "job_id"], int(df.loc[0, "messages_ready"])
    ('grpc-job-19-5', '19-5', 3)
    """
    return _frames(source)["queues"]


@schema.documented(schema.CONSUMERS)
def consumers(source: Bundle | str | os.PathLike[str] | TextIO) -> pd.DataFrame:
    """Consumers of each snapshot (``GET /api/consumers``): one row per consumer per snapshot.

    Parameters
    ----------
    source
        A Bundle (its ``rabbitmq/snapshots.jsonl``), a path, or an open text stream.

    Returns
    -------
    pandas.DataFrame
        Conformed to ``schema.CONSUMERS``.
    """
    return _frames(source)["consumers"]


@schema.documented(schema.RABBITMQ_OVERVIEW)
def rabbitmq_overview(source: Bundle | str | os.PathLike[str] | TextIO) -> pd.DataFrame:
    """Broker totals of each snapshot (``GET /api/overview``): one row per snapshot.

    Parameters
    ----------
    source
        A Bundle (its ``rabbitmq/snapshots.jsonl``), a path, or an open text stream.

    Returns
    -------
    pandas.DataFrame
        Conformed to ``schema.RABBITMQ_OVERVIEW``.
    """
    return _frames(source)["rabbitmq_overview"]
