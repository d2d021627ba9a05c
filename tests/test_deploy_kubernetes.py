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

from mypkg.cli import parse_config
from mypkg.config import Config
from mypkg.supervisor.arbiter import STOP_MARGIN
from tests.conftest import ROOT, mypkg_command
from tests.master import Master, status_of

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


def test_probes_and_service_reach_the_port_mypkg_binds() -> None:
    [bind] = mypkg_settings().bind
    ports = {port["name"]: port["containerPort"] for port in container()["ports"]}
    assert list(ports.values()) == [bind.port]
    for probe in ("readinessProbe", "livenessProbe"):
        assert ports[container()[probe]["httpGet"]["port"]] == bind.port
    [service_port] = manifest("Service")["spec"]["ports"]
    assert ports[service_port["targetPort"]] == bind.port
    assert bind.host == "0.0.0.0"  # the probes and the Service come to the pod IP


def test_termination_grace_outlasts_pre_stop_and_graceful_shutdown() -> None:
    """SIGKILL comes terminationGracePeriodSeconds after preStop starts: the sleep, mypkg's
    graceful timeout and the master's margin for lifespan shutdown must all fit before it."""
    command = container()["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    grace = pod()["spec"]["terminationGracePeriodSeconds"]
    graceful = mypkg_settings().timeout_graceful_shutdown
    assert grace > int(command[1]) + graceful + STOP_MARGIN


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
    args = [
        "--bind=127.0.0.1:0" if arg.startswith("--bind") else arg for arg in container()["args"]
    ]
    env = {item["name"]: item["value"] for item in container()["env"]}
    with Master(env=env, command=[*_as_pod_user(), *mypkg_command(*args)]) as mypkg:
        port = mypkg.ready()  # the port the master bound
        for probe in ("readinessProbe", "livenessProbe"):
            path = container()[probe]["httpGet"]["path"]
            assert httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5).status_code == 200
        # 127.0.0.1 is outside the trusted pod network: its X-Forwarded-For is ignored.
        spoofed = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
        info = httpx.get(f"http://127.0.0.1:{port}/api/info", headers=spoofed, timeout=5).json()
        assert (info["client"][0], info["scheme"]) == ("127.0.0.1", "http")
        if os.geteuid() == 0:
            uid = str(pod()["spec"]["securityContext"]["runAsUser"])
            assert status_of(info["pid"])["Uid"].split()[0] == uid
        # What the kubelet does after preStop: SIGTERM, then SIGKILL when the grace is over.
        mypkg.signal(signal.SIGTERM)
        pre_stop = int(container()["lifecycle"]["preStop"]["exec"]["command"][1])
        assert mypkg.wait(pod()["spec"]["terminationGracePeriodSeconds"] - pre_stop) == 0
