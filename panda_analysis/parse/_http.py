"""STUB: to be replaced by the real parser."""

from __future__ import annotations

import pandas as pd

from panda_analysis import schema


def _frames(source) -> dict[str, pd.DataFrame]:
    return {"live_metadata": schema.LIVE_METADATA.empty(), "job_metadata": schema.JOB_METADATA.empty()}


def live_metadata(source) -> pd.DataFrame:
    return _frames(source)["live_metadata"]


def job_metadata(source) -> pd.DataFrame:
    return _frames(source)["job_metadata"]
