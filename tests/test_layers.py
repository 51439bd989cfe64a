"""DESIGN's one-way flow made enforceable: parse/ never imports network, plotting or reporting."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "panda_analysis"
FORBIDDEN = {"requests", "kubernetes", "pymongo", "bson", "urllib3", "plotly", "papermill", "nbconvert", "socket", "http"}
FORBIDDEN_INTERNAL = {"panda_analysis.collect", "panda_analysis.plot", "panda_analysis.report", "panda_analysis.cli"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted((PACKAGE / "parse").glob("*.py")), ids=lambda p: p.name)
def test_parsers_import_no_network_or_plotting(path):
    imported = _imports(path)
    bad = {name for name in imported if name.split(".")[0] in FORBIDDEN or any(name.startswith(f) for f in FORBIDDEN_INTERNAL)}
    assert not bad, f"{path.name} imports {bad}"


def test_layer_check_can_fail(tmp_path):
    offender = tmp_path / "x.py"
    offender.write_text("import requests\nfrom panda_analysis.plot import timeline\n")
    assert _imports(offender) == {"requests", "panda_analysis.plot"}
