"""STUB: to be replaced by the real parser."""

from __future__ import annotations

import pandas as pd

from panda_analysis import schema


def _frames(source) -> dict[str, pd.DataFrame]:
    return {"ingress": schema.INGRESS.empty(), "ingress_messages": schema.INGRESS_MESSAGES.empty()}


def ingress(source) -> pd.DataFrame:
    return _frames(source)["ingress"]


def ingress_messages(source) -> pd.DataFrame:
    return _frames(source)["ingress_messages"]
