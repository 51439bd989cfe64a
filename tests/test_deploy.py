"""The scheduled-report deployment examples in ``deploy/`` are valid, read-only and runnable.

* every manifest in ``deploy/kubernetes/`` validates (strict) against the Kubernetes 1.31
  schemas with ``kubernetes-validate``;
* RBAC is read-only: no verb outside get / list / watch, namespaced Roles only, every
  resource the collector reads is granted in every namespace it reads, and the CronJob's
  ServiceAccount is the one bound (a negative test proves the verb check catches ``delete``);
* no Secret with values is committed; credentials come through ``secretKeyRef``;
* the CronJob's script calls ``panda-analysis collect`` then ``report`` with flags the real
  CLI parser accepts, and — run under ``sh`` with a stub ``panda-analysis`` — reports on a
  partial collect, skips an empty one and passes the report's exit status on;
* ``deploy/cron.txt`` holds a crontab line that parses (5 fields + command) and runs the
  same two commands.
"""

from __future__ import annotations

import copy
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from panda_analysis.cli import _parser

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
K8S_VERSION = "1.31"
READ_VERBS = {"get", "list", "watch"}
#: What ``panda_analysis/collect/_kube.py`` lists and reads, as (apiGroup, resource).
NEEDED = {("", "pods"), ("", "pods/log"), ("", "events"), ("", "services"), ("", "endpoints"), ("batch", "jobs")}
SECRET_NAME = "panda-analysis-credentials"
SECRET_KEYS = {"rabbitmq-password", "mongo-uri"}


def _documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc is not None:
                docs.append((path.name, doc))
    return docs


DOCS = _documents()


def _of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in DOCS if doc["kind"] == kind]


def _cronjob() -> dict[str, Any]:
    (cronjob,) = _of_kind("CronJob")
    return cronjob


def _pod_spec() -> dict[str, Any]:
    spec: dict[str, Any] = _cronjob()["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return spec


def _container() -> dict[str, Any]:
    (container,) = _pod_spec()["containers"]
    return container


def _script() -> str:
    container = _container()
    assert container["command"] == ["sh", "-c"]
    (script,) = container["args"]
    return str(script)


def write_verbs(doc: dict[str, Any]) -> list[str]:
    """``kind/name: verb on resources`` for every verb outside get / list / watch (``*`` included)."""
    if doc.get("kind") not in {"Role", "ClusterRole"}:
        return []
    bad = []
    for rule in doc.get("rules") or []:
        for verb in rule.get("verbs") or []:
            if verb not in READ_VERBS:
                bad.append(f"{doc['kind']}/{doc['metadata']['name']}: {verb} on {rule.get('resources')}")
    return bad


def _commands(text: str, prefix: str) -> dict[str, list[str]]:
    """``{"collect": argv, "report": argv}`` of the ``<prefix> collect|report ...`` calls in a shell text."""
    text = text.replace("\\\n", " ")
    found = {}
    for match in re.finditer(re.escape(prefix) + r" (collect|report)\b([^;&|'\n]*)", text):
        found[match[1]] = [match[1], *shlex.split(match[2])]
    return found


# --------------------------------------------------------------------------- manifests
def test_the_expected_set_of_manifests() -> None:
    kinds = sorted((doc["kind"], doc["metadata"].get("namespace", "")) for _, doc in DOCS)
    assert kinds == sorted(
        [
            ("ServiceAccount", "panda"),
            ("Role", "panda"),
            ("RoleBinding", "panda"),
            ("Role", "kube-system"),
            ("RoleBinding", "kube-system"),
            ("PersistentVolumeClaim", "panda"),
            ("CronJob", "panda"),
        ]
    )


@pytest.mark.parametrize(
    ("file", "doc"), DOCS, ids=[f"{f}:{d['kind']}/{d['metadata'].get('namespace')}" for f, d in DOCS]
)
def test_manifest_validates_strictly(file: str, doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_validation_catches_a_misspelled_field() -> None:
    """The strict schemas are really applied: an unknown field is refused."""
    cronjob = copy.deepcopy(_cronjob())
    cronjob["spec"]["concurrencyPolicyy"] = "Forbid"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(cronjob, K8S_VERSION, strict=True)


# --------------------------------------------------------------------------- RBAC
def test_roles_grant_read_verbs_only() -> None:
    assert [bad for _, doc in DOCS for bad in write_verbs(doc)] == []


def test_the_verb_check_catches_delete_and_wildcards() -> None:
    (role, *_) = _of_kind("Role")
    modified = copy.deepcopy(role)
    modified["rules"][0]["verbs"].append("delete")
    assert write_verbs(modified) == [f"Role/panda-analysis-read: delete on {modified['rules'][0]['resources']}"]
    modified["rules"][1]["verbs"] = ["*"]
    assert len(write_verbs(modified)) == 2
    cluster = copy.deepcopy(role) | {"kind": "ClusterRole"}
    cluster["rules"][0]["verbs"] = ["create"]
    assert len(write_verbs(cluster)) == 1


def test_no_cluster_wide_rights() -> None:
    assert _of_kind("ClusterRole") == []
    assert _of_kind("ClusterRoleBinding") == []
    for binding in _of_kind("RoleBinding"):
        assert binding["roleRef"]["kind"] == "Role"


def test_every_collected_resource_is_granted_in_every_collected_namespace() -> None:
    collect = _commands(_script(), "panda-analysis")["collect"]
    namespaces = set(_parser().parse_args(collect).namespace)
    assert namespaces == {"panda", "kube-system"}
    roles = {role["metadata"]["namespace"]: role for role in _of_kind("Role")}
    assert set(roles) == namespaces
    for ns, role in roles.items():
        granted = {
            (group, resource): set(rule["verbs"])
            for rule in role["rules"]
            for group in rule["apiGroups"]
            for resource in rule["resources"]
        }
        for needed in NEEDED:
            assert granted.get(needed) == READ_VERBS, (ns, needed)


def test_the_cronjob_runs_as_the_bound_service_account() -> None:
    cronjob = _cronjob()
    ns = cronjob["metadata"]["namespace"]
    account = _pod_spec()["serviceAccountName"]
    assert _pod_spec()["automountServiceAccountToken"] is True
    assert [(sa["metadata"]["name"], sa["metadata"]["namespace"]) for sa in _of_kind("ServiceAccount")] == [
        (account, ns)
    ]
    roles = {(r["metadata"]["namespace"], r["metadata"]["name"]) for r in _of_kind("Role")}
    bound = set()
    for binding in _of_kind("RoleBinding"):
        where = binding["metadata"]["namespace"]
        assert (where, binding["roleRef"]["name"]) in roles, "a RoleBinding refers to a Role of its own namespace"
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": ns}]
        bound.add(where)
    assert bound == {ns for ns, _ in roles}


# --------------------------------------------------------------------------- secrets and pod settings
def test_no_secret_values_are_committed() -> None:
    for secret in _of_kind("Secret"):
        assert not secret.get("data"), "commit no Secret with values"
        assert not secret.get("stringData"), "commit no Secret with values"
    refs = set()
    for env in _container()["env"]:
        if re.search(r"PASSWORD|TOKEN|MONGO_URI|SECRET", env["name"]):
            assert "value" not in env, f"{env['name']} must come from a secretKeyRef"
            ref = env["valueFrom"]["secretKeyRef"]
            refs.add((ref["name"], ref["key"]))
    assert refs == {(SECRET_NAME, key) for key in SECRET_KEYS}


def test_cronjob_settings() -> None:
    cronjob = _cronjob()
    spec, job = cronjob["spec"], cronjob["spec"]["jobTemplate"]["spec"]
    assert spec["schedule"] == "*/30 * * * *"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert {"startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"} <= set(spec)
    assert job["backoffLimit"] == 0
    assert 0 < job["activeDeadlineSeconds"] < 30 * 60, "a run ends before the next one is due"
    pod, container = _pod_spec(), _container()
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert {"requests", "limits"} <= set(container["resources"])
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
    assert "emptyDir" in mounts["/tmp"]
    (pvc,) = _of_kind("PersistentVolumeClaim")
    assert (
        mounts["/reports"]["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"] == "panda-analysis-reports"
    )
    assert container["image"] == "registry.example.internal/panda/panda-analysis:0.1.0"


# --------------------------------------------------------------------------- the CronJob's script
def test_cronjob_calls_collect_then_report_with_real_flags() -> None:
    script = _script()
    assert script.index("panda-analysis collect") < script.index("panda-analysis report")
    commands = _commands(script, "panda-analysis")
    env = {e["name"]: e["value"] for e in _container()["env"] if "value" in e}
    collect = _parser().parse_args(commands["collect"])
    report = _parser().parse_args([re.sub(r"^\$(\w+)$", lambda m: env[m[1]], word) for word in commands["report"]])
    assert collect.since == "1h"
    assert report.bundle == collect.out == "/tmp/bundle.tar.gz"
    assert (report.out, report.dated, report.keep, report.fail_on) == ("/reports", True, 48, "critical")
    assert "date " not in script, "--dated replaces a hand-made dated directory"
    assert "find " not in script, "--keep replaces hand-made pruning"


STUB = (
    "#!/bin/sh\n"
    'echo "$*" >> "$STUB_LOG"\n'
    'echo "stub panda-analysis $1"\n'
    'case "$1" in\n'
    '  collect) while [ $# -gt 0 ]; do [ "$1" = --out ] && : > "$2"; shift; done; exit "$COLLECT_RC" ;;\n'
    "  report)\n"
    '    [ "$REPORT_RC" = 2 ] && exit 2\n'  # a usage / bundle error writes nothing
    '    out=; dated=; while [ $# -gt 0 ]; do case "$1" in --out|-o) out=$2; shift ;; --dated) dated=1 ;; esac; shift; done\n'
    '    run="$out"; [ -n "$dated" ] && run="$out/$(date -u +%Y%m%dT%H%M%SZ)"\n'
    '    mkdir -p "$run" && : > "$run/index.html" && : > "$run/overview.html"\n'
    '    [ -n "$dated" ] && ln -sfn "$(basename "$run")" "$out/latest"\n'
    '    exit "$REPORT_RC" ;;\n'
    "esac\n"
    "exit 99\n"
)


def _stub(path: Path) -> None:
    """A stand-in ``panda-analysis``: logs its argv, writes the bundle / report, exits $COLLECT_RC / $REPORT_RC."""
    path.write_text(STUB)
    path.chmod(0o755)


def _run_script(tmp_path: Path, *, collect_rc: int, report_rc: int) -> tuple[int, str, Path]:
    bin_dir, reports = tmp_path / "bin", tmp_path / "reports"
    bin_dir.mkdir()
    reports.mkdir(exist_ok=True)
    _stub(bin_dir / "panda-analysis")
    script = _script().replace("/tmp/bundle.tar.gz", str(tmp_path / "bundle.tar.gz")).replace("/reports", str(reports))
    env = {e["name"]: e["value"] for e in _container()["env"] if "value" in e}
    env |= {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "STUB_LOG": str(tmp_path / "calls.log"),
        "COLLECT_RC": str(collect_rc),
        "REPORT_RC": str(report_rc),
        "HOME": str(tmp_path),
    }
    proc = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=30, check=False)
    calls = (tmp_path / "calls.log").read_text() if (tmp_path / "calls.log").exists() else ""
    return proc.returncode, calls, reports


@pytest.mark.skipif(shutil.which("sh") is None, reason="no POSIX sh")
@pytest.mark.parametrize(
    ("collect_rc", "report_rc", "expected", "reported"),
    [
        (0, 0, 0, True),
        (1, 0, 0, True),  # a partial collect still reports
        (2, 0, 2, False),  # nothing collected: no report
        (0, 1, 1, True),  # a finding at or above --fail-on fails the Job
        (1, 3, 3, True),  # a notebook failed: the partial run is kept
        (0, 2, 2, False),  # report refused the bundle: nothing written, latest untouched
    ],
)
def test_cronjob_script_exit_handling(tmp_path: Path, collect_rc: int, report_rc: int, expected: int, reported: bool) -> None:
    rc, calls, reports = _run_script(tmp_path, collect_rc=collect_rc, report_rc=report_rc)
    assert rc == expected
    assert [line.split()[0] for line in calls.splitlines()] == (["collect", "report"] if collect_rc <= 1 else ["collect"])
    if collect_rc <= 1:
        assert "--dated --keep 48 --fail-on critical" in calls.splitlines()[1]
    runs = sorted(p for p in reports.iterdir() if p.name != "latest")
    if reported:
        (run,) = runs
        assert re.fullmatch(r"\d{8}T\d{6}Z", run.name)
        assert (reports / "latest").resolve() == run.resolve()
        assert {p.name for p in run.iterdir()} == {"index.html", "overview.html", "bundle.tar.gz"}
    else:
        assert runs == []
        assert not (reports / "latest").exists()


# --------------------------------------------------------------------------- cron.txt
CRON_FIELDS = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]


def _cron_field_ok(field: str, low: int, high: int) -> bool:
    for part in field.split(","):
        match = re.fullmatch(r"(\*|(\d+)(?:-(\d+))?)(?:/(\d+))?", part)
        if not match:
            return False
        values = [int(v) for v in match.group(2, 3) if v is not None]
        if any(not low <= v <= high for v in values) or (match[4] is not None and int(match[4]) == 0):
            return False
    return True


def _cron_lines() -> list[str]:
    lines = []
    for line in (DEPLOY / "cron.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#") and not re.match(r"^[A-Z_]+=", line):
            lines.append(line)
    return lines


def test_cron_field_check() -> None:
    assert _cron_field_ok("*/30", 0, 59)
    assert _cron_field_ok("1-5,7", 0, 7)
    for bad in ("60", "*/0", "x", "5-"):
        assert not _cron_field_ok(bad, 0, 59), bad


def test_cron_line_parses_and_runs_collect_then_report() -> None:
    (line,) = _cron_lines()
    fields = line.split(None, 5)
    assert len(fields) == 6, "5 schedule fields and a command"
    *schedule, command = fields
    assert all(_cron_field_ok(f, lo, hi) for f, (lo, hi) in zip(schedule, CRON_FIELDS, strict=True)), schedule
    assert schedule == ["*/30", "*", "*", "*", "*"]
    assert re.search(r"(?<!\\)%", command) is None, "cron turns a bare % into a newline: write \\%"
    assert command.index("panda-analysis collect") < command.index("panda-analysis report")
    commands = _commands(command.replace("\\%", "%"), ".venv/bin/panda-analysis")
    collect = _parser().parse_args(commands["collect"])
    report = _parser().parse_args(commands["report"])
    assert report.bundle == collect.out
    assert (report.out, report.dated, report.keep, report.fail_on) == ("reports", True, 48, "critical")
    assert sorted(collect.namespace) == ["kube-system", "panda"]
    assert ">> /var/log/panda-analysis.log 2>&1" in command


@pytest.mark.skipif(shutil.which("sh") is None or shutil.which("flock") is None, reason="no POSIX sh / flock")
@pytest.mark.parametrize(("collect_rc", "reported"), [(0, True), (1, True), (2, False)])
def test_cron_line_runs(tmp_path: Path, collect_rc: int, reported: bool) -> None:
    """The crontab command, after cron's \\% → % and with its paths moved under tmp_path, runs under sh."""
    (line,) = _cron_lines()
    command = line.split(None, 5)[5].replace("\\%", "%")
    home = tmp_path / "opt"
    (home / ".venv" / "bin").mkdir(parents=True)
    _stub(home / ".venv" / "bin" / "panda-analysis")
    (home / "panda-analysis.env").write_text("export RABBITMQ_USER=panda-analysis RABBITMQ_PASSWORD=x\n")
    for path, moved in (("/opt/panda-analysis", home), ("/var/tmp", tmp_path), ("/var/log", tmp_path)):
        command = command.replace(path, str(moved))
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "STUB_LOG": str(tmp_path / "calls.log")}
    env |= {"COLLECT_RC": str(collect_rc), "REPORT_RC": "0"}
    subprocess.run(["sh", "-c", command], env=env, cwd=tmp_path, timeout=30, check=False)
    calls = [c.split()[0] for c in (tmp_path / "calls.log").read_text().splitlines()]
    assert calls == (["collect", "report"] if reported else ["collect"])
    assert "stub panda-analysis collect" in (tmp_path / "panda-analysis.log").read_text()
    runs = sorted((home / "reports").iterdir()) if (home / "reports").exists() else []
    assert [r.name if r.name == "latest" else bool(re.fullmatch(r"\d{8}T\d{6}Z", r.name)) for r in runs] == (
        [True, "latest"] if reported else []
    )


# --------------------------------------------------------------------------- README
def test_readme_names_the_real_objects() -> None:
    text = (DEPLOY / "README.md").read_text(encoding="utf-8")
    assert f"--from=cronjob/{_cronjob()['metadata']['name']}" in text
    assert f"create secret generic {SECRET_NAME}" in text
    for key in SECRET_KEYS:
        assert f"--from-literal={key}=" in text
    assert "kubectl cp" in text
