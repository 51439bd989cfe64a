"""STUB: plotly figure builders, being written."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from panda_analysis.schema import Frames


def _empty(title: str) -> go.Figure:
    return go.Figure(layout={"title": title})


def timeline(frames: Frames, *, findings: Any = None) -> go.Figure:
    return _empty("timeline")


def fiber(frames: Frames) -> go.Figure:
    return _empty("fiber")


def retry_storm(frames: Frames, *, findings: Any = None) -> go.Figure:
    return _empty("retry storm")


def rates(frames: Frames, *, by: str = "route", freq: str = "1min") -> go.Figure:
    return _empty("rates")


def crashloop(frames: Frames, *, pod: str | None = None) -> go.Figure:
    return _empty("crashloop")


def consumer(frames: Frames, *, job_id: str | None = None) -> go.Figure:
    return _empty("consumer")


def queues(frames: Frames, *, queue: str | None = None) -> go.Figure:
    return _empty("queues")


def alerts(frames: Frames, *, alert_id: str | None = None) -> go.Figure:
    return _empty("alerts")
