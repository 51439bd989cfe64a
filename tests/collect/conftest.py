"""Fixtures for the collectors: a real RabbitMQ broker on loopback (Debian's ``rabbitmq-server``).

The broker is private to the test session: its own node name, ports (AMQP, management,
Erlang distribution and epmd), data and log directories and Erlang cookie, all under a
temporary directory, listening on 127.0.0.1 only, so it neither sees nor disturbs a
system broker. ``rabbitmq-server`` is installed with apt when missing and we are root
(``.ci/run`` installs it beforehand); otherwise the tests that need it are skipped.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Debian's /usr/sbin wrappers `su` to the rabbitmq user; the scripts behind them run as
# whoever calls them, with the directories we give them.
DEBIAN_BIN = Path("/usr/lib/rabbitmq/bin")
NODENAME = "panda-test@localhost"
START_TIMEOUT_S = 60.0


def _tools() -> Path | None:
    if (DEBIAN_BIN / "rabbitmq-server").exists():
        return DEBIAN_BIN
    found = shutil.which("rabbitmq-server")
    return Path(found).resolve().parent if found else None


def _install() -> Path:
    tools = _tools()
    if tools is not None:
        return tools
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip(
            "rabbitmq-server is not installed (and we are not root with apt-get): apt-get install rabbitmq-server"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=600, capture_output=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "rabbitmq-server"],
            check=True,
            env=env,
            timeout=900,
            capture_output=True,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as err:
        detail = getattr(err, "stderr", b"") or b""
        reason = f"could not install rabbitmq-server with apt-get: {err}: {detail.decode(errors='replace')[-500:]}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    tools = _tools()
    if tools is None:
        pytest.fail("apt-get installed rabbitmq-server but no rabbitmq-server script was found")
    return tools


def _free_ports(count: int) -> list[int]:
    """Distinct free loopback TCP ports (held open together so they differ)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(count)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]


def _overview_status(url: str) -> int | None:
    import requests

    try:
        return requests.get(f"{url}/api/overview", auth=("guest", "guest"), timeout=2).status_code
    except requests.RequestException:
        return None


def _tail(path: Path, n: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return ""


@pytest.fixture(scope="session")
def rabbitmq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A real RabbitMQ broker with the management plugin, on loopback, for this test session.

    Yields ``{"amqp_port", "mgmt_url", "user", "password", "nodename", "env", "tools"}``
    (``guest`` / ``guest``: RabbitMQ allows that account from loopback only). Also
    records ``install_s`` and ``start_s`` (seconds) for the report.
    """
    started = time.monotonic()
    tools = _install()
    install_s = time.monotonic() - started
    base = tmp_path_factory.mktemp("rabbitmq")
    amqp_port, mgmt_port, dist_port, epmd_port = _free_ports(4)
    (base / "rabbitmq.conf").write_text(
        f"listeners.tcp.default = 127.0.0.1:{amqp_port}\n"
        f"management.tcp.ip = 127.0.0.1\n"
        f"management.tcp.port = {mgmt_port}\n"
        # the management API's queue counts lag by the stats interval and the sample
        # granularity (5 s each by default): 0.5 s and 1 s keep the test quick
        "collect_statistics_interval = 500\n"
        "management.sample_retention_policies.global.minute = 1\n"
        "management.sample_retention_policies.basic.minute = 1\n"
        "management.sample_retention_policies.detailed.10 = 1\n"
        "log.console = false\n",
        encoding="utf-8",
    )
    (base / "rabbitmq-env.conf").write_text("", encoding="utf-8")  # do not read /etc/rabbitmq/rabbitmq-env.conf
    env = {
        **os.environ,
        "HOME": str(base),  # the Erlang cookie goes here, not in root's home
        "RABBITMQ_NODENAME": NODENAME,
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(amqp_port),
        "RABBITMQ_DIST_PORT": str(dist_port),
        "ERL_EPMD_PORT": str(epmd_port),  # a private epmd: no clash with a system node's names
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
        "RABBITMQ_LOG_BASE": str(base / "log"),
        "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(base / "advanced.config"),
        "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
        "RABBITMQ_PLUGINS_EXPAND_DIR": str(base / "plugins-expand"),
        "RABBITMQ_PID_FILE": str(base / "rabbitmq.pid"),
    }
    subprocess.run(
        [str(tools / "rabbitmq-plugins"), "--offline", "enable", "rabbitmq_management"],
        check=True,
        env=env,
        timeout=120,
        capture_output=True,
    )
    out = base / "server.out"
    with open(out, "wb") as sink:
        proc = subprocess.Popen(
            [str(tools / "rabbitmq-server")], env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    mgmt_url = f"http://127.0.0.1:{mgmt_port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while _overview_status(mgmt_url) != 200:
            if proc.poll() is not None:
                pytest.fail(f"rabbitmq-server exited with {proc.returncode}:\n{_tail(out)}")
            if time.monotonic() > deadline:
                pytest.fail(f"RabbitMQ management API not up after {START_TIMEOUT_S:g} s:\n{_tail(out)}")
            time.sleep(0.25)
        start_s = time.monotonic() - started - install_s
        yield {
            "amqp_port": amqp_port,
            "mgmt_url": mgmt_url,
            "user": "guest",
            "password": "guest",
            "nodename": NODENAME,
            "env": env,
            "tools": tools,
            "install_s": install_s,
            "start_s": start_s,
        }
    finally:
        _stop(proc, tools, env)


def _stop(proc: subprocess.Popen[bytes], tools: Path, env: dict[str, str]) -> None:
    """Stop our node and its private epmd.

    SIGTERM to ``rabbitmq-server`` is its documented graceful stop (the script forwards
    it to the VM, as under Docker) and saves the seconds a ``rabbitmqctl`` start costs;
    ``rabbitmqctl stop`` and then SIGKILL of the process group we created are the
    fallbacks.
    """
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(subprocess.TimeoutExpired, OSError):
            subprocess.run(
                [str(tools / "rabbitmqctl"), "-n", NODENAME, "stop"],
                env=env,
                timeout=30,
                capture_output=True,
                check=False,
            )
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the group we created with start_new_session
            proc.wait(timeout=15)
    epmd = shutil.which("epmd")
    if epmd:  # the node started a private epmd on ERL_EPMD_PORT: stop that one only
        with contextlib.suppress(subprocess.TimeoutExpired, OSError):
            subprocess.run([epmd, "-kill"], env=env, timeout=10, capture_output=True, check=False)
