"""RabbitMQ management API snapshots: ``rabbitmq/snapshots.jsonl``.

One line per snapshot: ``{"at": ISO, "overview": {...}, "queues": [...], "consumers":
[...]}``, the bodies exactly as the management HTTP API returns them for
``GET /api/overview``, ``/api/queues`` and ``/api/consumers``. Any part may be missing or
null (that GET failed): the snapshot then adds no rows for it. A line that is not a JSON
object with a readable ``at`` is counted as unparsed in all three frames; a part that is
not a list (an error body), or a queue / consumer that is not an object with a name, is
counted in its own frame, and so is every value a column cannot hold (``"messages":
"lots"``, ``"consumers": null``, a count beyond Int64, an ``idle_since`` outside the years
of datetime64[ns]), with its line and JSON pointer (``/queues/17/messages``): the row is
kept with that value null. Lines may be up to 64 MiB long (a broker with thousands of
queues); a longer line is counted, saying so.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any, TextIO

import pandas as pd

from panda_analysis import schema
from panda_analysis._lines import Unparsed, resolve_sources
from panda_analysis._time import read_iso
from panda_analysis.bundle import Bundle
from panda_analysis.parse._common import (
    Node,
    Spot,
    as_dict,
    as_text,
    conform,
    job_id_from_name,
    json_snippet,
    stamped_json_lines,
)

__all__ = ["consumers", "queues", "rabbitmq_overview"]

Row = dict[str, Any]

_NAMES = ("queues", "consumers", "rabbitmq_overview")
# RabbitMQ < 3.12 printed idle_since as local "2017-05-25 19:14:32" (hour may be unpadded)
_OLD_IDLE_SINCE = re.compile(r"^(\d{4})-(\d{2})-(\d{2}) (\d{1,2}):(\d{2}):(\d{2})$")


def _read_instant(text: str) -> pd.Timestamp:
    """An ISO-8601 time, or RabbitMQ < 3.12's local ``2017-05-25 19:14:32`` (read as UTC); ValueError if neither."""
    old = _OLD_IDLE_SINCE.match(text)
    if old:
        year, month, day, hour, minute, second = (int(g) for g in old.groups())
        try:
            return pd.Timestamp(year, month, day, hour, minute, second, tz="UTC").as_unit("ns")
        except (ValueError, OverflowError) as err:
            msg = f"{text!r} is not a time"
            raise ValueError(msg) from err
    return read_iso(text)


def _stats(node: Node, key: str) -> Node:
    # the API prints an empty message_stats / queue_totals / channel_details as [] in some versions
    return Node({}, node.at(key), node.spot) if node.get(key) == [] else node.child(key)


def _rate(stats: Node, name: str) -> float | None:
    return stats.child(f"{name}_details").number("rate")


def _items(part: Any) -> tuple[list[Any], str] | None:
    """The list of a ``/api/queues``-like body and its pointer under the part (also the paginated ``{"items": [...]}``)."""
    if isinstance(part, list):
        return part, ""
    if isinstance(part, dict) and isinstance(part.get("items"), list):
        return part["items"], "/items"
    return None


def _count(node: Node, key: str) -> int | None:
    # the management API always gives these as integers ≥ 0: null, "lots", -1 are counted
    return node.integer(key, minimum=0, nullable=False)


def _queue_row(queue: Node) -> Row:
    name = queue.text("name")
    stats = _stats(queue, "message_stats")
    return {
        "vhost": queue.text("vhost"),
        "queue": name,
        "job_id": job_id_from_name(name),
        "queue_type": queue.text("type"),
        "state": queue.text("state"),
        "node": queue.text("node"),
        "durable": queue.boolean("durable"),
        "auto_delete": queue.boolean("auto_delete"),
        "exclusive": queue.boolean("exclusive"),
        "messages": _count(queue, "messages"),
        "messages_ready": _count(queue, "messages_ready"),
        "messages_unacknowledged": _count(queue, "messages_unacknowledged"),
        "consumer_count": _count(queue, "consumers"),
        "consumer_utilisation": queue.number("consumer_utilisation"),
        "publish_rate": _rate(stats, "publish"),
        "deliver_rate": _rate(stats, "deliver_get"),
        "ack_rate": _rate(stats, "ack"),
        "memory_bytes": queue.integer("memory", minimum=0),
        "idle_since": queue.instant("idle_since", _read_instant),
    }


def _consumer_row(consumer: Node) -> Row:
    queue = consumer.child("queue")
    channel = _stats(consumer, "channel_details")
    name = queue.text("name")
    return {
        "vhost": queue.text("vhost"),
        "queue": name,
        "job_id": job_id_from_name(name),
        "consumer_tag": consumer.text("consumer_tag"),
        "channel": channel.text("name"),
        "connection": channel.text("connection_name"),
        "peer_host": channel.text("peer_host"),
        "peer_port": channel.integer("peer_port", minimum=0),
        "user": channel.text("user"),
        "ack_required": consumer.boolean("ack_required"),
        "exclusive": consumer.boolean("exclusive"),
        "is_active": consumer.boolean("active"),
        "activity_status": consumer.text("activity_status"),
        "prefetch_count": consumer.integer("prefetch_count", minimum=0),
    }


def _overview_row(overview: Node) -> Row:
    totals = _stats(overview, "queue_totals")
    objects = _stats(overview, "object_totals")
    stats = _stats(overview, "message_stats")
    return {
        "cluster_name": overview.text("cluster_name"),
        "rabbitmq_version": overview.text("rabbitmq_version"),
        "messages": totals.integer("messages", minimum=0),
        "messages_ready": totals.integer("messages_ready", minimum=0),
        "messages_unacknowledged": totals.integer("messages_unacknowledged", minimum=0),
        "queue_count": objects.integer("queues", minimum=0),
        "consumer_count": objects.integer("consumers", minimum=0),
        "connection_count": objects.integer("connections", minimum=0),
        "channel_count": objects.integer("channels", minimum=0),
        "publish_rate": _rate(stats, "publish"),
        "deliver_rate": _rate(stats, "deliver_get"),
    }


def _named_queue(item: dict[str, Any]) -> bool:
    return as_text(item.get("name")) is not None


def _named_consumer(item: dict[str, Any]) -> bool:
    return as_text(as_dict(item.get("queue")).get("name")) is not None


_PARTS: tuple[tuple[str, Callable[[Node], Row], Callable[[dict[str, Any]], bool]], ...] = (
    ("queues", _queue_row, _named_queue),
    ("consumers", _consumer_row, _named_consumer),
)


def _frames(source: Bundle | str | os.PathLike[str] | TextIO) -> dict[str, pd.DataFrame]:
    """The three snapshot frames, reading each file once."""
    rows: dict[str, list[Row]] = {name: [] for name in _NAMES}
    unparsed = {name: Unparsed() for name in _NAMES}
    for file in resolve_sources(source, "queues"):
        broken = Unparsed()
        for line_no, at, snapshot in stamped_json_lines(file, broken):
            where = {"ts": at, "source": file.name, "line_no": line_no}
            overview = snapshot.get("overview")
            if isinstance(overview, dict):
                node = Node(overview, "/overview", Spot(unparsed["rabbitmq_overview"], file.name, line_no))
                rows["rabbitmq_overview"].append({**where, **_overview_row(node)})
            elif overview is not None:
                unparsed["rabbitmq_overview"].add(
                    file.name, line_no, f"overview is not an object: {json_snippet(overview)}"
                )
            for part, build, usable in _PARTS:
                body = snapshot.get(part)
                if body is None:  # that GET failed (the snapshot's "errors" say why) or was not made
                    continue
                found = _items(body)
                if found is None:
                    unparsed[part].add(file.name, line_no, f"{part} is not a list: {json_snippet(body)}")
                    continue
                items, inner = found
                spot = Spot(unparsed[part], file.name, line_no)
                for i, item in enumerate(items):
                    pointer = f"/{part}{inner}/{i}"
                    if isinstance(item, dict) and usable(item):
                        rows[part].append({**where, **build(Node(item, pointer, spot))})
                    else:
                        spot.bad(pointer, f"unreadable {part} entry: {json_snippet(item)}")
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
