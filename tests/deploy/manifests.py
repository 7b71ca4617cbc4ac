"""Rendering and checking the deployment files offline, for tests/deploy.

Built-in Kubernetes kinds are checked against the schemas in `kubernetes-validate`; the
operators' kinds against the CRD schemas kept in infra/schemas/crds. Both are strict: a field
the schema does not know is an error, as kubeconform's -strict makes it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "infra" / "k8s"
SCHEMAS = ROOT / "infra" / "schemas"
OVERLAYS = ("dev", "prod")
KUBERNETES_VERSION = "1.30.0"

Manifest = dict[str, Any]


def kustomize_command() -> list[str] | None:
    """kustomize, or kubectl's built-in one; None when the machine has neither."""
    if found := shutil.which("kustomize"):
        return [found, "build"]
    if found := shutil.which("kubectl"):
        return [found, "kustomize"]
    return None


def render(directory: Path) -> list[Manifest]:
    command = kustomize_command()
    assert command is not None, "no kustomize or kubectl on PATH"
    done = subprocess.run(
        [*command, str(directory)], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return [document for document in yaml.safe_load_all(done.stdout) if document]


def schema_errors(manifest: Manifest) -> list[str]:
    """Why `manifest` is not valid, or nothing when it is."""
    crd_schema = _crd_schema(manifest)
    if crd_schema is None:
        try:
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            return [f"{_name(manifest)}: {error.message} at {list(error.path)}"]
        except kubernetes_validate.SchemaNotFoundError:
            return [f"{_name(manifest)}: no schema for {manifest.get('apiVersion')}"]
        return []
    validator = jsonschema.Draft7Validator(crd_schema)
    return [
        f"{_name(manifest)}: {error.message} at {list(error.absolute_path)}"
        for error in validator.iter_errors(manifest)
    ]


def _crd_schema(manifest: Manifest) -> dict[str, Any] | None:
    group, _, version = str(manifest.get("apiVersion", "")).rpartition("/")
    path = SCHEMAS / "crds" / f"{str(manifest.get('kind', '')).lower()}.{group}.{version}.json"
    if not group or not path.exists():
        return None
    schema: dict[str, Any] = _strict(json.loads(path.read_text()))
    return schema


def _strict(schema: Any) -> Any:
    """The schema with unknown properties refused wherever the CRD lists the known ones."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    strict = {key: _strict(value) for key, value in schema.items()}
    if (
        "properties" in strict
        and "additionalProperties" not in strict
        and not strict.get("x-kubernetes-preserve-unknown-fields")
    ):
        strict["additionalProperties"] = False
    return strict


def containers(manifest: Manifest) -> Iterator[dict[str, Any]]:
    spec = manifest.get("spec", {}).get("template", {}).get("spec", {})
    yield from spec.get("containers", [])


def _name(manifest: Manifest) -> str:
    return f"{manifest.get('kind')}/{manifest.get('metadata', {}).get('name')}"
