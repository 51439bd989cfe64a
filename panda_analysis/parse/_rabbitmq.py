"""STUB: to be replaced by the real parser."""

from __future__ import annotations

import pandas as pd

from panda_analysis import schema


def _frames(source) -> dict[str, pd.DataFrame]:
    return {"rabbitmq_log": schema.RABBITMQ_LOG.empty()}


def rabbitmq_log(source) -> pd.DataFrame:
    return _frames(source)["rabbitmq_log"]
