"""Shared fixtures: a small bundle builder and the embedded samples."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

import panda_analysis as pa

BundleFactory = Callable[..., Path]


@pytest.fixture
def make_bundle(tmp_path: Path) -> BundleFactory:
    """Build a bundle directory from ``{relative_path: str | bytes | dict | list}``.

    dict/list values are written as JSON; ``manifest=None`` omits manifest.json.
    """
    counter = {"n": 0}

    def build(files: dict[str, object], *, manifest: dict | str | None = "default") -> Path:
        counter["n"] += 1
        root = tmp_path / f"bundle{counter['n']}"
        root.mkdir()
        if manifest == "default":
            manifest = {"format": "panda-bundle/1", "created_at": "2025-11-08T13:25:00Z", "source": "test"}
        if manifest is not None:
            (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
        for rel, content in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            elif isinstance(content, str):
                path.write_text(content, encoding="utf-8")
            else:
                path.write_text(json.dumps(content), encoding="utf-8")
        return root

    return build


@pytest.fixture(scope="session", params=["waiting_for_fiber", "consumer_slow", "alert_lost", "healthy"])
def sample_bundle(request: pytest.FixtureRequest) -> pa.Bundle:
    """Each embedded sample, opened once per session."""
    return pa.load_bundle(f"sample:{request.param}")
