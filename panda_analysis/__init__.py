"""panda_analysis: incident analysis for the Panda / Prisma fiber-sensing platform.

Package map
-----------
``pa.load_bundle(path)``      open evidence: a directory, a ``.tar.gz`` or ``sample:<name>``
``pa.Bundle``                 an opened bundle: ``inventory()``, ``frames()``, ``save()``
``pa.BundleWriter``           write a ``panda-bundle/1`` bundle (directory or ``.tar.gz``)
``pa.parse``                  evidence → DataFrames: ``ingress``, ``focus``, ``rabbitmq_log``,
                              ``analyzer``, ``pods``, ``restarts``, ``events``, ``jobs``,
                              ``pods_text``, ``live_metadata``, ``job_metadata``, ``queues``,
                              ``consumers``, ``mongo``, ... and ``frames(bundle)`` for all
``pa.schema``                 one declaration per frame (columns, dtypes, meanings)
``pa.Frames``                 every frame of one bundle
``pa.diagnose``               frames → findings: ``run(frames)`` and one rule per problem family
``pa.findings``               ``Finding``/``Evidence`` values, ``table()``, ``to_json()``, ``select()``
``pa.plot``                   plotly figures named like the diagnoses (loaded on first use)
``pa.report``                 notebook helpers; run notebooks with papermill into HTML reports
``pa.ticket``                 findings as a ticket comment (Markdown or Jira wiki markup)
``pa.runbook_html``           runbooks/*.md rendered to HTML next to a report
``pa.collect``                live read-only collection (RabbitMQ management API so far; loaded on first use)
``pa.serve``                  ``BundleServer``: a bundle as a read-only Kubernetes API on loopback
``pa.redact``                 ``Redactor``: secrets out of evidence before it is written
``pa.samples``                embedded sample bundles (the default evidence)
``pa.errors``                 ``PandaAnalysisError`` and friends

Examples
--------
>>> import panda_analysis as pa
>>> bundle = pa.load_bundle("sample:waiting_for_fiber")
>>> frames = bundle.frames()
>>> frames.live_metadata["sw_version"].iloc[0]
'waiting for fiber'
"""

from __future__ import annotations

from panda_analysis import diagnose, errors, findings, parse, redact, report, runbook_html, samples, schema, ticket
from panda_analysis.bundle import Bundle, BundleWriter, load_bundle
from panda_analysis.schema import Frames

__all__ = [
    "Bundle",
    "BundleWriter",
    "Frames",
    "diagnose",
    "errors",
    "findings",
    "load_bundle",
    "parse",
    "plot",
    "redact",
    "report",
    "runbook_html",
    "samples",
    "schema",
    "ticket",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # plotly loads on first use of pa.plot (STYLE: heavy dependencies load lazily)
    if name in {"plot", "collect", "serve"}:
        import importlib

        module = importlib.import_module(f"panda_analysis.{name}")
        globals()[name] = module
        return module
    msg = f"module 'panda_analysis' has no attribute {name!r}"
    raise AttributeError(msg)
