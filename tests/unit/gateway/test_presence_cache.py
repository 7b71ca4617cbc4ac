"""presence_state: one fetch shared by an account's sockets, never one older than a change."""

from __future__ import annotations

from livedesk.shared.events import AgentStatus
from tests.support.gateway import FakeSocket, Keys, status_message, until
from tests.unit.gateway.harness import running


def agents_of(socket: FakeSocket) -> list[dict[str, str]]:
    return [frame["agents"] for frame in socket.of_type("presence_state")]


async def test_sockets_of_an_account_share_one_presence_fetch(keys: Keys) -> None:
    async with running(keys) as gw:
        gw.presence.agents = {7: AgentStatus.BUSY}
        sockets = [await gw.ready(1, user_id) for user_id in range(1, 6)]
        await until(lambda: all(agents_of(s) for s in sockets))
        assert gw.presence.state_calls == 1
        assert all(agents_of(s) == [{"7": "busy"}] for s in sockets)
        other = await gw.ready(2, 1)  # another account: its own fetch
        await until(lambda: agents_of(other))
        assert gw.presence.state_calls == 2


async def test_an_agent_status_makes_the_next_socket_fetch_afresh(keys: Keys) -> None:
    async with running(keys) as gw:
        gw.presence.agents = {7: AgentStatus.BUSY}
        first = await gw.ready(1, 1)
        await until(lambda: agents_of(first))
        gw.presence.agents = {7: AgentStatus.AWAY}
        await gw.bus.publish(status_message(1, user_id=7))
        await until(lambda: first.of_type("agent_status"))
        second = await gw.ready(1, 2)
        await until(lambda: agents_of(second))
        assert agents_of(second) == [{"7": "away"}]
        assert gw.presence.state_calls == 2


async def test_with_no_reuse_every_socket_fetches(keys: Keys) -> None:
    async with running(keys, presence_state_ttl_s=0.0) as gw:
        sockets = [await gw.ready(1, user_id) for user_id in range(1, 4)]
        await until(lambda: all(agents_of(s) for s in sockets))
        assert gw.presence.state_calls == 3


async def test_an_unavailable_answer_is_not_reused(keys: Keys) -> None:
    async with running(keys) as gw:
        answers: list[dict[int, AgentStatus] | None] = [None, {7: AgentStatus.BUSY}]

        async def flaky(token: str) -> dict[int, AgentStatus] | None:
            gw.presence.state_calls += 1
            return answers.pop(0)

        gw.presence.presence_state = flaky  # type: ignore[method-assign]
        first = await gw.ready(1, 1)
        await until(lambda: gw.presence.state_calls == 1)
        second = await gw.ready(1, 2)
        await until(lambda: agents_of(second))
        assert agents_of(second) == [{"7": "busy"}]
        assert agents_of(first) == []
        assert gw.presence.state_calls == 2
