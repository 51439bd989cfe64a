"""Public API structure (after scanpy's structure test): signatures, names, docs."""

from __future__ import annotations

import inspect
import typing

import pandas as pd
import pytest

import panda_analysis as pa


def _parse_functions():
    return [getattr(pa.parse, name) for name in pa.parse.__all__ if name != "frames"]


@pytest.mark.parametrize("fn", _parse_functions(), ids=lambda f: f.__name__)
def test_parse_functions_follow_the_layer_convention(fn):
    params = list(inspect.signature(fn).parameters.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    assert [p.name for p in positional] == ["source"]
    assert all(p.kind is p.KEYWORD_ONLY for p in params[1:])
    hints = typing.get_type_hints(fn)
    assert hints["return"] is pd.DataFrame
    doc = inspect.getdoc(fn) or ""
    assert doc.strip(), f"{fn.__name__} has no docstring"
    assert f"Columns of ``{fn.__name__}``" in doc, "docstring lacks the column table (schema.documented)"


def test_every_frame_has_its_parse_function():
    assert set(pa.schema.FRAMES) <= set(pa.parse.__all__)


def test_top_level_exports():
    for name in pa.__all__:
        assert getattr(pa, name) is not None
    assert pa.load_bundle("sample:healthy").format == "panda-bundle/1"


def test_samples_have_a_documented_function_each():
    for name in pa.samples.names():
        fn = getattr(pa.samples, name)
        assert "Expected findings" in (fn.__doc__ or "")
        assert isinstance(fn(), pa.Bundle)
