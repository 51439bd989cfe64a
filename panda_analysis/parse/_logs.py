"""Every other container log (MongoDB, web app, recorder, ...): one row per line.

Nothing is interpreted beyond the kubelet timestamp prefix: these lines are kept so that
diagnostics (crash loops of any container, its previous log's last lines) can quote them,
and so that no evidence in the bundle disappears.
"""

from __future__ import annotations

import os
from typing import TextIO

import pandas as pd

from panda_analysis import schema
from panda_analysis._lines import Unparsed, resolve_sources
from panda_analysis.bundle import Bundle

__all__ = ["other_logs"]


def _frames(source: Bundle | str | os.PathLike[str] | TextIO) -> dict[str, pd.DataFrame]:
    files = resolve_sources(source, "other_logs")
    columns: dict[str, list[object]] = {name: [] for name in ("ts", "source", "line_no", "namespace", "pod", "container", "is_previous", "message")}
    unparsed = Unparsed()
    for file in files:
        for line in file.lines(unparsed):
            if not line.text.strip():
                continue
            columns["ts"].append(line.kubelet_ts)
            columns["source"].append(file.name)
            columns["line_no"].append(line.line_no)
            columns["namespace"].append(file.namespace)
            columns["pod"].append(file.pod)
            columns["container"].append(file.container)
            columns["is_previous"].append(file.is_previous)
            columns["message"].append(line.text)
    frame = schema.OTHER_LOGS.conform(pd.DataFrame(columns), unparsed=unparsed.count, unparsed_sample=unparsed.sample)
    return {"other_logs": frame}


@schema.documented(schema.OTHER_LOGS)
def other_logs(source: Bundle | str | os.PathLike[str] | TextIO) -> pd.DataFrame:
    """Parse container logs of no specific family into one row per non-blank line.

    Parameters
    ----------
    source
        A Bundle (its logs that are not ingress, Focus, RabbitMQ or analyzer logs), a
        path, or an open text stream.

    Returns
    -------
    pandas.DataFrame
        Conformed to :data:`panda_analysis.schema.OTHER_LOGS`; ``ts`` is the kubelet
        timestamp (null when the file has none).
    """
    return _frames(source)["other_logs"]
