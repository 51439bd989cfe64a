"""STUB: to be replaced by the real parser."""

from __future__ import annotations

import pandas as pd

from panda_analysis import schema


def _frames(source) -> dict[str, pd.DataFrame]:
    return {"mongo": schema.MONGO.empty()}


def mongo(source) -> pd.DataFrame:
    return _frames(source)["mongo"]
