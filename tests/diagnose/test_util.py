"""diagnose._util: the helpers every rule shares, and the cluster's names found in the frames (issue #12)."""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd
import pytest

import panda_analysis as pa
from panda_analysis import schema
from panda_analysis.diagnose import _util as util
from panda_analysis.schema import Frames

T0 = pd.Timestamp("2025-11-08T13:00:00Z")
DIAGNOSE = Path(util.__file__).parent
FOCUS_POD = "panda-panda-focus-server-78dbcfd9d9-kjj77"


def focus_rows(*rows: tuple[str, str, float, bool]) -> pd.DataFrame:
    """``(namespace, pod, seconds after T0, is_previous)`` → Focus log rows."""
    return schema.FOCUS.conform(
        [
            {
                "ts": T0 + pd.Timedelta(seconds=s),
                "source": f"logs/{ns}/{pod}/focus-server{'.previous' if prev else ''}.log",
                "line_no": i + 1,
                "namespace": ns,
                "pod": pod,
                "container": "focus-server",
                "is_previous": prev,
                "kind": "record",
                "level": "info",
                "message": "Starting Focus Server 2.14.1",
            }
            for i, (ns, pod, s, prev) in enumerate(rows)
        ]
    )


def services(*items: tuple[str, str, str | None]) -> pd.DataFrame:
    return schema.SERVICES.conform(
        [
            {"ts": T0, "source": f"k8s/services.json#/items/{i}", "namespace": ns, "service": name, "ports": ports}
            for i, (ns, name, ports) in enumerate(items)
        ]
    )


def pods(*items: tuple[str, str, str | None]) -> pd.DataFrame:
    return schema.PODS.conform(
        [
            {"ts": T0, "source": f"k8s/pods.json#/items/{i}", "namespace": ns, "pod": name, "app": app}
            for i, (ns, name, app) in enumerate(items)
        ]
    )


# --------------------------------------------------------------------------- the Focus Server


def test_focus_server_of_the_sample() -> None:
    found = util.focus_server(pa.samples.waiting_for_fiber().frames())
    assert (found.namespace, found.pod, found.service, found.port) == ("panda", FOCUS_POD, "panda-focus-server", 5000)
    assert found.url() == "http://panda-focus-server.panda:5000"


def test_focus_pod_is_the_one_that_logged_last_and_not_its_crashed_predecessor() -> None:
    new, old = "panda-panda-focus-server-5c7d9f8b6-q2w3e", FOCUS_POD
    frames = Frames(
        focus=focus_rows(("panda", new, 100, False), ("panda", old, 50, False), ("panda", old, 400, True)),
        services=services(
            ("panda", "focus-metrics", "metrics:9100/TCP"), ("panda", "panda-focus-server", "http:5000/TCP")
        ),
    )
    found = util.focus_server(frames)
    assert found.pod == new  # newest live row, whatever the file order; the previous log does not count
    assert (found.service, found.port) == ("panda-focus-server", 5000)  # "focus-server" before any "focus"


def test_focus_server_falls_back_to_the_previous_log_then_the_pod_list_then_the_defaults() -> None:
    only_previous = Frames(focus=focus_rows(("panda", FOCUS_POD, 0, True)))
    assert util.focus_server(only_previous).pod == FOCUS_POD
    listed = Frames(pods=pods(("panda", "mongodb-7cb5d67cc5-wb7qz", "mongodb"), ("lab", "focus-server-0", None)))
    assert (util.focus_server(listed).namespace, util.focus_server(listed).pod) == ("lab", "focus-server-0")
    nothing = util.focus_server(Frames())
    assert (nothing.namespace, nothing.pod, nothing.service, nothing.port) == (None, None, None, None)
    assert nothing.url("panda") == "http://panda-focus-server.panda:5000"
    # a Service without a port listed: the Focus Server's own port
    portless = util.focus_server(Frames(services=services(("lab", "focus", None))))
    assert portless.url() == "http://focus.lab:5000"


# --------------------------------------------------------------------------- RabbitMQ


def test_rabbitmq_pod_from_the_pod_list_the_log_or_the_default() -> None:
    assert util.rabbitmq_pod(Frames()) == ("panda", "rabbitmq-panda-0")
    by_app = Frames(pods=pods(("panda", "mongodb-0", "mongodb"), ("mq", "broker-1", "rabbitmq")))
    assert util.rabbitmq_pod(by_app) == ("mq", "broker-1")
    by_name = Frames(pods=pods(("panda", "worker-1", None), ("msg", "rabbitmq-0", None)))
    assert util.rabbitmq_pod(by_name) == ("msg", "rabbitmq-0")
    log = schema.RABBITMQ_LOG.conform(
        [{"ts": T0, "source": "logs/msg/rabbit-2/rabbitmq.log", "line_no": 1, "namespace": "msg", "pod": "rabbit-2"}]
    )
    assert util.rabbitmq_pod(Frames(rabbitmq_log=log)) == ("msg", "rabbit-2")


# --------------------------------------------------------------------------- small values


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), (pd.NA, None), (pd.NaT, None), (float("nan"), None), (0, "0"), ("", ""), ("x", "x")],
)
def test_text_of_missing_values(value: object, expected: str | None) -> None:
    assert util.text(value) == expected


def test_number_accessors() -> None:
    assert (util.integer(pd.NA), util.integer(3.0), util.number(None), util.number(2)) == (None, 3, None, 2.0)
    assert util.instant(pd.NaT) is None
    assert util.instant("2025-11-08T13:00:00Z") == T0


def test_job_ids_from_pod_names_and_their_order() -> None:
    assert util.job_of_pod("grpc-job-19-5-cj8hc") == "19-5"
    assert util.job_of_pod("grpc-job-19-5") == "19"  # the last word is always the pod's suffix
    assert util.job_of_pod("grpc-job-19-5-CJ8HC") is None  # Kubernetes suffixes are lower case
    assert util.job_of_pod("baby-analyzer-q7w2e") is None
    assert sorted(["19-10", "20-1", "19-9", "19-x"], key=util.job_key) == ["19-9", "19-10", "19-x", "20-1"]
    assert util.job_name("19-5") == "grpc-job-19-5"


def test_component_of_pods_and_containers() -> None:
    assert util.component_of("ingress-nginx-controller-55694fd6ff-rqgp9", "controller") == "ingress-nginx"
    assert util.component_of("baby-analyzer-q7w2e", "baby-analyzer") == "grpc-job"
    assert util.component_of("prisma-web-app-6d5f-x", None) == "prisma-web-app"
    assert util.component_of(None, None, default="rabbitmq") == "rabbitmq"


# --------------------------------------------------------------------------- one declaration each


OWN = ("_crashloop.py", "_queues.py", "_fiber.py", "_timeline.py", "_consumer.py")
NAMES = ("rabbitmq-panda-0", "panda-panda-focus-server", "panda-focus-server", "grpc-job-")


@pytest.mark.parametrize("module", OWN)
def test_rules_spell_no_cluster_name_and_define_no_missing_value_helper(module: str) -> None:
    tree = ast.parse((DIAGNOSE / module).read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    code_strings = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]
    assert not [s for s in code_strings for name in NAMES if name in s], module
    assert '"panda"' not in [repr(s).replace("'", '"') for s in code_strings], module
    defined = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    assert not defined & {"_null", "_missing", "_str", "_s", "_i", "_t", "_v", "_num", "_int", "_float", "_text"}, (
        module
    )
