"""The Kubernetes manifests: every overlay renders, validates, and keeps the promises the
operations guide makes about probes, draining, disruption and settings."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from livedesk.shared.broker_users import SERVICE_PERMISSIONS
from livedesk.shared.settings import Settings
from tests.deploy.manifests import (
    K8S,
    OVERLAYS,
    Manifest,
    containers,
    kustomize_command,
    render,
    schema_errors,
)

pytestmark = pytest.mark.skipif(
    kustomize_command() is None, reason="needs kustomize or kubectl on PATH to render"
)

WORKLOADS = ("livedesk-api", "livedesk-gateway", "livedesk-presence")


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> list[Manifest]:
    return render(K8S / "overlays" / request.param)


def by_kind(manifests: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def test_every_manifest_keeps_to_its_schema(rendered: list[Manifest]) -> None:
    errors = [error for manifest in rendered for error in schema_errors(manifest)]
    assert errors == []


def test_the_checks_refuse_an_unknown_field_and_a_wrong_type(rendered: list[Manifest]) -> None:
    deployment = copy.deepcopy(by_kind(rendered, "Deployment")["livedesk-api"])
    deployment["spec"]["replica"] = 2
    cluster = copy.deepcopy(by_kind(rendered, "RabbitmqCluster")["livedesk-rabbitmq"])
    cluster["spec"]["replicas"] = "three"
    user = copy.deepcopy(next(iter(by_kind(rendered, "User").values())))
    user["spec"]["passwordd"] = "x"
    for broken in (deployment, cluster, user):
        assert schema_errors(broken), broken["kind"]


def test_each_service_has_probes_limits_and_runs_unprivileged(rendered: list[Manifest]) -> None:
    deployments = by_kind(rendered, "Deployment")
    assert set(deployments) == set(WORKLOADS)
    for deployment in deployments.values():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in containers(deployment):
            assert {"readinessProbe", "livenessProbe"} <= container.keys()
            assert {"requests", "limits"} <= container["resources"].keys()
            assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_every_workload_has_a_disruption_budget(rendered: list[Manifest]) -> None:
    budgets = by_kind(rendered, "PodDisruptionBudget").values()
    selected = {b["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] for b in budgets}
    assert selected == set(WORKLOADS)


def test_presence_runs_two_replicas_that_roll_and_drain_one_at_a_time(
    rendered: list[Manifest],
) -> None:
    # Both replicas become ready (ready = state built, docs/adr/0004), so a rollout that waits
    # for a new pod's readiness before removing an old one finishes, and one may be evicted.
    deployment = by_kind(rendered, "Deployment")["livedesk-presence"]
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    (probe,) = (c["readinessProbe"]["httpGet"]["path"] for c in containers(deployment))
    assert probe == "/readyz"
    budget = by_kind(rendered, "PodDisruptionBudget")["livedesk-presence"]["spec"]
    assert budget["maxUnavailable"] == 1
    assert budget["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


def test_a_gateway_is_given_longer_than_its_drain_window(rendered: list[Manifest]) -> None:
    config = by_kind(rendered, "ConfigMap")["livedesk-config"]["data"]
    drain_window_s = float(config["LIVEDESK_GATEWAY__DRAIN_WINDOW_S"])
    gateway = by_kind(rendered, "Deployment")["livedesk-gateway"]
    assert gateway["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > drain_window_s


def test_the_ingress_sends_sockets_to_gateways_and_the_rest_to_the_api(
    rendered: list[Manifest],
) -> None:
    (ingress,) = by_kind(rendered, "Ingress").values()
    paths = {
        path["path"]: path["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert paths == {"/ws": "livedesk-gateway", "/": "livedesk-api"}


def test_the_autoscaler_targets_the_gateways(rendered: list[Manifest]) -> None:
    (autoscaler,) = by_kind(rendered, "HorizontalPodAutoscaler").values()
    assert autoscaler["spec"]["scaleTargetRef"]["name"] in by_kind(rendered, "Deployment")


def test_every_livedesk_variable_names_a_setting(rendered: list[Manifest]) -> None:
    names = set(by_kind(rendered, "ConfigMap")["livedesk-config"]["data"])
    for workload in [*by_kind(rendered, "Deployment").values(), *by_kind(rendered, "Job").values()]:
        names |= {e["name"] for c in containers(workload) for e in c.get("env", [])}
    unknown = [n for n in names if n.startswith("LIVEDESK_") and not names_a_setting(n)]
    assert unknown == []


def names_a_setting(variable: str) -> bool:
    """Whether `LIVEDESK_A__B` is a field of Settings (`a.b`), as pydantic-settings reads it."""
    model: Any = Settings
    for part in variable.removeprefix("LIVEDESK_").lower().split("__"):
        field = model.model_fields.get(part)
        if field is None:
            return False
        model = field.annotation
    return True


def test_each_service_gets_exactly_the_broker_permissions_the_code_declares(
    rendered: list[Manifest],
) -> None:
    granted = {
        name.removeprefix("livedesk-broker-"): permission["spec"]["permissions"]
        for name, permission in by_kind(rendered, "Permission").items()
    }
    declared = {
        service: {"configure": p.configure, "write": p.write, "read": p.read}
        for service, p in SERVICE_PERMISSIONS.items()
    }
    assert granted == declared
    users = by_kind(rendered, "User")
    for permission in by_kind(rendered, "Permission").values():
        assert permission["spec"]["userReference"]["name"] in users
