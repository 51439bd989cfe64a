"""pyproject.toml and environment.yml declare the same dependency set."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names that differ from PyPI names
CONDA_TO_PYPI = {"python-kubernetes": "kubernetes"}


def _name_spec(req: str) -> tuple[str, str]:
    match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", req)
    assert match, req
    return match.group(1).lower().replace("_", "-"), match.group(2).replace(" ", "")


def _pyproject() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = data["project"]["dependencies"] + data["project"]["optional-dependencies"]["dev"]
    return dict(_name_spec(r) for r in reqs)


def _environment() -> dict[str, str]:
    specs: dict[str, str] = {}
    text = (ROOT / "environment.yml").read_text()
    for raw in text.split("dependencies:", 1)[1].splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line.startswith("- ") or line.endswith(":"):
            continue
        item = line[2:].strip()
        if item in {"pip", "-e ."} or item.startswith(("python>", "python=")) or item == "python":
            continue
        name, spec = _name_spec(item)
        specs[CONDA_TO_PYPI.get(name, name)] = spec
    return specs


def test_environment_yml_matches_pyproject():
    assert _environment() == _pyproject()


def test_readme_test_command_is_what_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in ci
    assert "make test" in readme
    assert "make report" in readme


def test_readme_frame_tables_match_the_schema():
    import importlib.util

    spec = importlib.util.spec_from_file_location("readme_frames", ROOT / "tools" / "readme_frames.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert module.START in text
    assert module.END in text
    assert module.updated(text) == text, "README.md frame tables are stale: run python tools/readme_frames.py --write"
