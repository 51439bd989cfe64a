"""STUB: to be replaced by the real parser."""

from __future__ import annotations

import pandas as pd

from panda_analysis import schema


def _frames(source) -> dict[str, pd.DataFrame]:
    return {"pods": schema.PODS.empty(), "restarts": schema.RESTARTS.empty(), "events": schema.EVENTS.empty(), "jobs": schema.JOBS.empty(), "services": schema.SERVICES.empty(), "endpoints": schema.ENDPOINTS.empty(), "pods_text": schema.PODS_TEXT.empty()}


def pods(source) -> pd.DataFrame:
    return _frames(source)["pods"]


def restarts(source) -> pd.DataFrame:
    return _frames(source)["restarts"]


def events(source) -> pd.DataFrame:
    return _frames(source)["events"]


def jobs(source) -> pd.DataFrame:
    return _frames(source)["jobs"]


def services(source) -> pd.DataFrame:
    return _frames(source)["services"]


def endpoints(source) -> pd.DataFrame:
    return _frames(source)["endpoints"]


def pods_text(source) -> pd.DataFrame:
    return _frames(source)["pods_text"]
