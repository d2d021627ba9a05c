"""deploy/kubernetes/ without a cluster: what can be checked for real is.

Each manifest is validated offline against Kubernetes' own OpenAPI schemas (kubernetes-validate,
strict: an unknown or misspelt field is an error). The Deployment's container command runs as a
real process, only its bind address made local, as the pod's uid when the tests run as root,
and its probe paths are asked. The numbers that must agree across the files are checked
against each other, the mypkg flags read by mypkg's own command-line parser.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from mypkg.config import Config
from mypkg.config.argv import parse_config
from mypkg.supervisor.arbiter import STOP_MARGIN
from tests.support.processes import ROOT, Master, free_port, mypkg_command, status_of

KUBERNETES = ROOT / "deploy" / "kubernetes"
FILES = sorted(KUBERNETES.glob("*.yaml"))


def manifest(kind: str) -> dict[str, Any]:
    [found] = [
        doc for path in FILES for doc in yaml.safe_load_all(path.read_text()) if doc["kind"] == kind
    ]
    return dict(found)


def pod() -> dict[str, Any]:
    return dict(manifest("Deployment")["spec"]["template"])


def container() -> dict[str, Any]:
    [only] = pod()["spec"]["containers"]
    return dict(only)


def mypkg_settings() -> Config:
    """The container's mypkg flags as mypkg reads them (a bad flag or value fails here)."""
    assert container()["command"] == ["mypkg-supervise"]
    return parse_config(container()["args"])


def memory_mib(quantity: str) -> int:
    match = re.fullmatch(r"(\d+)(Mi|Gi)", quantity)
    assert match is not None, f"write memory as Mi or Gi, not {quantity}"
    return int(match.group(1)) * (1024 if match.group(2) == "Gi" else 1)


@pytest.mark.parametrize("version", ["1.29.0", kubernetes_validate.latest_version()])
@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_manifest_matches_the_kubernetes_schema(path: Path, version: str) -> None:
    for doc in yaml.safe_load_all(path.read_text()):
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_deployment_service_and_budget_select_the_pods() -> None:
    labels = pod()["metadata"]["labels"]
    assert manifest("Deployment")["spec"]["selector"]["matchLabels"] == labels
    assert manifest("PodDisruptionBudget")["spec"]["selector"]["matchLabels"] == labels
    assert manifest("Service")["spec"]["selector"] == labels


def test_probes_and_service_reach_the_ports_mypkg_binds() -> None:
    settings = mypkg_settings()
    [bind] = settings.bind
    metrics = settings.metrics_bind
    assert metrics is not None
    ports = {port["name"]: port["containerPort"] for port in container()["ports"]}
    assert ports == {"http": bind.port, "metrics": metrics.port}
    for probe in ("readinessProbe", "livenessProbe"):
        assert ports[container()[probe]["httpGet"]["port"]] == metrics.port
    [service_port] = manifest("Service")["spec"]["ports"]
    assert ports[service_port["targetPort"]] == bind.port
    assert bind.host == metrics.host == "0.0.0.0"  # the probes and the Service come to the pod IP


def pre_stop_seconds() -> int:
    hook = container().get("lifecycle", {}).get("preStop")
    return int(hook["exec"]["command"][1]) if hook else 0


def test_termination_grace_outlasts_the_delay_and_graceful_shutdown() -> None:
    """SIGKILL comes terminationGracePeriodSeconds after preStop starts (or SIGTERM, without
    one): any preStop, mypkg's --shutdown-delay, its graceful timeout and the master's margin for
    lifespan shutdown must all fit before it."""
    grace = pod()["spec"]["terminationGracePeriodSeconds"]
    settings = mypkg_settings()
    assert settings.shutdown_delay >= 5  # endpoint removal takes seconds to propagate
    budget = settings.shutdown_delay + settings.timeout_graceful_shutdown + STOP_MARGIN
    assert grace > pre_stop_seconds() + budget


def test_workers_are_recycled_before_the_memory_limit() -> None:
    settings = mypkg_settings()
    assert settings.limit_max_memory is not None
    limit = memory_mib(container()["resources"]["limits"]["memory"])
    assert settings.workers * settings.limit_max_memory < limit


def test_the_pod_asks_for_no_privileges_and_a_read_only_root() -> None:
    spec = pod()["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] != 0
    context = container()["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]


def _as_pod_user() -> list[str]:
    """``setpriv`` to the pod's uid and gid when we are root and that user can read the tree."""
    context = pod()["spec"]["securityContext"]
    uid, gid = context["runAsUser"], context["runAsGroup"]
    if os.geteuid() != 0:
        return []  # already not root, as runAsNonRoot asks
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is missing: cannot run as the pod's uid")
    prefix = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups"]
    probe = [*prefix, sys.executable, "-c", "import mypkg"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    if subprocess.run(probe, env=env, cwd="/", capture_output=True, timeout=30).returncode != 0:
        pytest.skip(f"uid {uid} cannot read this checkout or Python: cannot run as the pod does")
    return prefix


def test_the_container_command_serves_its_probes_and_stops_in_time() -> None:
    metrics = free_port()  # the master's own port: it must be known to probe it
    local = {"--bind": "127.0.0.1:0", "--metrics-bind": f"127.0.0.1:{metrics}"}
    args = [
        f"{name}={local[name]}" if (name := arg.partition("=")[0]) in local else arg
        for arg in container()["args"]
    ]
    env = {item["name"]: item["value"] for item in container()["env"]}
    with Master(env=env, command=[*_as_pod_user(), *mypkg_command(*args)]) as mypkg:
        port = mypkg.ready()  # the port the master bound
        for probe in ("readinessProbe", "livenessProbe"):
            path = container()[probe]["httpGet"]["path"]
            assert httpx.get(f"http://127.0.0.1:{metrics}{path}", timeout=5).status_code == 200
        # 127.0.0.1 is outside the trusted pod network: its X-Forwarded-For is ignored.
        spoofed = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
        info = httpx.get(f"http://127.0.0.1:{port}/api/info", headers=spoofed, timeout=5).json()
        assert (info["client"][0], info["scheme"]) == ("127.0.0.1", "http")
        if os.geteuid() == 0:
            uid = str(pod()["spec"]["securityContext"]["runAsUser"])
            assert status_of(info["pid"])["Uid"].split()[0] == uid
        # What the kubelet does: SIGTERM, then SIGKILL when the grace is over. Meanwhile the
        # pod turns unready and still serves for --shutdown-delay.
        mypkg.signal(signal.SIGTERM)
        readyz = f"http://127.0.0.1:{metrics}" + container()["readinessProbe"]["httpGet"]["path"]
        mypkg.wait_for("shutdown-delay")
        assert httpx.get(readyz, timeout=5).status_code == 503
        assert httpx.get(f"http://127.0.0.1:{port}/api/info", timeout=5).status_code == 200
        grace = pod()["spec"]["terminationGracePeriodSeconds"] - pre_stop_seconds()
        assert mypkg.wait(grace) == 0
