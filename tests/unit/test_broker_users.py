"""The broker permissions: what each service's user may touch, from the topology's names, and
the `rabbitmqctl` lines of docs/security.md saying the same as the code."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from livedesk.cli.broker_setup import DEFAULT_PREFIX, given_passwords, management_base
from livedesk.shared.broker_users import SERVICE_PERMISSIONS, names
from livedesk.shared.errors import LivedeskError
from livedesk.shared.topology import EPHEMERAL, EVENTS, PRESENCE_IN, PRESENCE_QUEUE, node_queue

SECURITY = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def allowed(pattern: str, name: str) -> bool:
    # RabbitMQ matches the whole expression against the name, as `re.search` does here.
    return re.search(pattern, name) is not None


@pytest.mark.parametrize(
    ("service", "kind", "name", "expected"),
    [
        ("api", "write", EVENTS, True),
        ("api", "write", PRESENCE_IN, True),
        ("api", "write", EPHEMERAL, False),
        ("api", "read", node_queue("gw-1").name, False),
        ("api", "configure", node_queue("gw-1").name, False),
        ("gateway", "write", EVENTS, False),
        ("gateway", "write", PRESENCE_IN, True),
        ("gateway", "configure", node_queue("gw-1").name, True),
        ("gateway", "read", node_queue("gw-1").name, True),
        ("gateway", "read", PRESENCE_QUEUE, False),
        ("presence", "write", EVENTS, False),
        ("presence", "write", EPHEMERAL, True),
        ("presence", "read", PRESENCE_QUEUE, True),
        ("presence", "read", PRESENCE_IN, True),
        ("presence", "configure", node_queue("gw-1").name, False),
        # `livedesk.presence` must not reach `livedesk.presence.in` by prefix, nor the reverse.
        ("presence", "write", PRESENCE_IN, False),
        ("gateway", "write", PRESENCE_QUEUE, False),
    ],
)
def test_each_service_may_touch_only_its_names(
    service: str, kind: str, name: str, expected: bool
) -> None:
    assert allowed(getattr(SERVICE_PERMISSIONS[service], kind), name) is expected


def test_a_dot_is_a_dot() -> None:
    assert not allowed(names(EVENTS), "livedeskXevents")


def test_the_documented_rabbitmqctl_lines_grant_what_the_code_does() -> None:
    lines = [
        shlex.split(line)
        for line in SECURITY.read_text().splitlines()
        if line.startswith("rabbitmqctl set_permissions")
    ]
    documented = {words[4]: tuple(words[5:8]) for words in lines}
    expected = {
        f"{DEFAULT_PREFIX}{service}": (p.configure, p.write, p.read)
        for service, p in SERVICE_PERMISSIONS.items()
    }
    assert documented == expected


def test_passwords_come_from_pairs_over_the_environment() -> None:
    environ = {"LIVEDESK_BROKER_API_PASSWORD": "from-env", "LIVEDESK_BROKER_GATEWAY_PASSWORD": ""}
    assert given_passwords(["presence=p=q"], environ) == {"api": "from-env", "presence": "p=q"}
    assert given_passwords(["api=given"], environ) == {"api": "given"}


@pytest.mark.parametrize("pair", ["api", "api=", "=x", "nobody=x"])
def test_a_malformed_password_pair_is_refused(pair: str) -> None:
    with pytest.raises(LivedeskError, match="SERVICE=SECRET"):
        given_passwords([pair], {})


@pytest.mark.parametrize(
    ("given", "base"),
    [
        ("http://admin:pw@rabbit:15672", "http://admin:pw@rabbit:15672"),
        ("https://admin:pw@rabbit/mgmt", "https://admin:pw@rabbit/mgmt"),
        ("amqp://admin:pw@rabbit:5672/livedesk", "http://admin:pw@rabbit:15672/"),
        ("amqps://admin:pw@rabbit/livedesk", "https://admin:pw@rabbit:15671/"),
    ],
)
def test_an_amqp_url_names_its_brokers_management_api(given: str, base: str) -> None:
    assert str(management_base(given)) == base
