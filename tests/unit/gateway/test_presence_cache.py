"""presence_state: one fetch shared by an account's sockets, never one older than a change."""

from __future__ import annotations

import asyncio

from livedesk.gateway.presence_cache import PresenceStates
from livedesk.shared.events import AgentStatus
from livedesk.shared.settings import GatewaySettings
from tests.support.gateway import FakePresence, FakeSocket, Keys, status_message
from tests.unit.gateway.harness import running


def agents_of(socket: FakeSocket) -> list[dict[str, str]]:
    return [frame["agents"] for frame in socket.of_type("presence_state")]


async def test_sockets_of_an_account_share_one_presence_fetch(keys: Keys) -> None:
    async with running(keys) as gw:
        gw.presence.agents = {7: AgentStatus.BUSY}
        sockets = [await gw.ready(1, user_id) for user_id in range(1, 6)]
        await gw.until(lambda: all(agents_of(s) for s in sockets))
        assert gw.presence.state_calls == 1
        assert all(agents_of(s) == [{"7": "busy"}] for s in sockets)
        other = await gw.ready(2, 1)  # another account: its own fetch
        await gw.until(lambda: agents_of(other))
        assert gw.presence.state_calls == 2


async def test_an_agent_status_makes_the_next_socket_fetch_afresh(keys: Keys) -> None:
    async with running(keys) as gw:
        gw.presence.agents = {7: AgentStatus.BUSY}
        first = await gw.ready(1, 1)
        await gw.until(lambda: agents_of(first))
        gw.presence.agents = {7: AgentStatus.AWAY}
        await gw.bus.publish(status_message(1, user_id=7))
        await gw.until(lambda: first.of_type("agent_status"))
        second = await gw.ready(1, 2)
        await gw.until(lambda: agents_of(second))
        assert agents_of(second) == [{"7": "away"}]
        assert gw.presence.state_calls == 2


async def test_with_no_reuse_every_socket_fetches(keys: Keys) -> None:
    async with running(keys, presence_state_ttl_s=0.0) as gw:
        sockets = [await gw.ready(1, user_id) for user_id in range(1, 4)]
        await gw.until(lambda: all(agents_of(s) for s in sockets))
        assert gw.presence.state_calls == 3


async def test_an_unavailable_answer_is_not_reused(keys: Keys) -> None:
    async with running(keys) as gw:
        answers: list[dict[int, AgentStatus] | None] = [None, {7: AgentStatus.BUSY}]

        async def flaky(token: str) -> dict[int, AgentStatus] | None:
            gw.presence.state_calls += 1
            return answers.pop(0)

        gw.presence.presence_state = flaky  # type: ignore[method-assign]
        first = await gw.ready(1, 1)
        await gw.until(lambda: gw.presence.state_calls == 1)
        second = await gw.ready(1, 2)
        await gw.until(lambda: agents_of(second))
        assert agents_of(second) == [{"7": "busy"}]
        assert agents_of(first) == []
        assert gw.presence.state_calls == 2


async def test_an_account_bound_again_fetches_afresh(keys: Keys) -> None:
    # Unbound, the node hears no agent_status of the account: a state fetched before the
    # unbind may have changed unseen, however young it is.
    async with running(keys, presence_state_ttl_s=3600.0) as gw:
        gw.presence.agents = {7: AgentStatus.BUSY}
        first = await gw.ready(1, 1)
        await gw.until(lambda: agents_of(first))
        first.inbox.put_nowait(None)  # the client leaves; grace 0: the account is unbound
        await gw.until(lambda: not gw.node.hub.bindings.is_bound(1))
        gw.presence.agents = {7: AgentStatus.AWAY}
        second = await gw.ready(1, 2)
        await gw.until(lambda: agents_of(second))
        assert agents_of(second) == [{"7": "away"}]
        assert gw.presence.state_calls == 2


async def test_by_default_one_fetch_serves_a_whole_reconnect_storm() -> None:
    # A storm's sockets of an account arrive over tens of seconds, on the same epoch.
    now = 0.0
    lookup = FakePresence()
    async with asyncio.TaskGroup() as tasks:
        ttl_s = GatewaySettings().presence_state_ttl_s
        states = PresenceStates(lookup, lambda _: 1, ttl_s, tasks, clock=lambda: now)
        await states.get(1, "token")
        now = 40.0
        await states.get(1, "token")
    assert lookup.state_calls == 1
