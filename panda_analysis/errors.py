"""Exceptions and warnings raised by panda_analysis.

Every error says what failed, where (``path:line_no`` or pod/container) and what to
do next. Parsers never raise for bad lines (they count them); they raise only when an
explicitly given path cannot be read.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "BundleError",
    "CollectError",
    "MissingDependencyError",
    "PandaAnalysisError",
    "PandaAnalysisWarning",
    "ReportError",
    "SchemaError",
]


class PandaAnalysisError(Exception):
    """Root of every error raised on purpose by panda_analysis."""


class BundleError(PandaAnalysisError):
    """An evidence bundle cannot be opened or written (bad archive, bad manifest, ...)."""


class SchemaError(PandaAnalysisError):
    """A DataFrame does not have the columns or dtypes its schema declares."""


class CollectError(PandaAnalysisError):
    """A live read-only collection failed after its few retries."""


class MissingDependencyError(PandaAnalysisError, ImportError):
    """An optional package is needed for this feature; the message names what to install."""


class ReportError(PandaAnalysisError):
    """A notebook failed while executing; the partial outputs are still written.

    Attributes
    ----------
    notebook
        Path to the executed (partial) notebook.
    html
        Path to the exported (partial) HTML page, if it could be written.
    """

    def __init__(self, msg: str, *, notebook: Path | None = None, html: Path | None = None):
        super().__init__(msg)
        self.notebook = notebook
        self.html = html


class PandaAnalysisWarning(UserWarning):
    """Degraded evidence: truncated logs, clock skew, unparsed lines, ..."""
