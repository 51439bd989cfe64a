"""STUB: to be replaced by the real parser."""

from __future__ import annotations

import pandas as pd

from panda_analysis import schema


def _frames(source) -> dict[str, pd.DataFrame]:
    return {"queues": schema.QUEUES.empty(), "consumers": schema.CONSUMERS.empty(), "rabbitmq_overview": schema.RABBITMQ_OVERVIEW.empty()}


def queues(source) -> pd.DataFrame:
    return _frames(source)["queues"]


def consumers(source) -> pd.DataFrame:
    return _frames(source)["consumers"]


def rabbitmq_overview(source) -> pd.DataFrame:
    return _frames(source)["rabbitmq_overview"]
