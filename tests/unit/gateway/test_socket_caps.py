"""Caps on sockets per node, account and user: counted, refused with a clear code, released."""

from __future__ import annotations

from livedesk.gateway import protocol
from livedesk.gateway.socket_caps import Cap, SocketCaps
from livedesk.shared.settings import GatewaySettings
from tests.support.gateway import Keys
from tests.unit.gateway.harness import running

CAPS = GatewaySettings(
    max_sockets_per_node=10,
    max_sockets_per_account=3,
    max_sockets_per_user=2,
    unready_at_socket_fraction=0.8,
)


def test_the_node_cap_counts_connections_and_frees_them() -> None:
    caps = SocketCaps(CAPS)
    assert all(caps.connect() for _ in range(10))
    assert not caps.connect()
    assert caps.connections == 10  # a refused one is not counted
    caps.disconnect()
    assert caps.connect()


def test_near_its_cap_the_node_is_near_capacity() -> None:
    caps = SocketCaps(CAPS)
    for _ in range(7):
        caps.connect()
    assert not caps.near_capacity
    caps.connect()  # 8 of 10
    assert caps.near_capacity
    caps.disconnect()
    assert not caps.near_capacity


def test_account_and_user_caps_admit_until_full_and_release() -> None:
    caps = SocketCaps(CAPS)
    assert caps.admit(1, 1) is None
    assert caps.admit(1, 1) is None
    assert caps.admit(1, 1) is Cap.USER
    assert caps.admit(1, 2) is None  # the account's third
    assert caps.admit(1, 3) is Cap.ACCOUNT
    assert caps.admit(2, 1) is None  # another account, the same user id: counted apart
    caps.release(1, 1)
    assert caps.admit(1, 3) is None  # the place it left
    assert caps.admit(1, 1) is Cap.ACCOUNT
    for user in (1, 2, 3):
        caps.release(1, user)
    caps.release(2, 1)
    assert caps.admit(1, 1) is None  # nothing left over from before


async def test_a_users_socket_over_its_cap_is_refused_with_4429(keys: Keys) -> None:
    async with running(keys, max_sockets_per_user=2) as gw:
        first, second = await gw.ready(1, 7), await gw.ready(1, 7)
        colleague = await gw.ready(1, 8)
        refused = await gw.ready(1, 7)
        await gw.until(lambda: refused.closed)
        assert refused.closed == (protocol.CLOSE_RATE_LIMITED, "too many sockets for this user")
        error = refused.of_type("error")[0]
        assert error["code"] == protocol.ERR_TOO_MANY_SOCKETS
        assert error["message"] == "too many connections for this user; close some and try again"
        assert refused.of_type("ready") == []
        assert gw.metric("livedesk_gateway_socket_refusals_total", cap="user") == 1
        assert all(s.closed is None for s in (first, second, colleague))
        await first.close(1000, "bye")
        again = await gw.ready(1, 7)  # its place is free again
        assert again.of_type("ready")
        assert again.closed is None


async def test_an_accounts_socket_over_its_cap_is_refused_with_4429(keys: Keys) -> None:
    async with running(keys, max_sockets_per_account=2) as gw:
        admitted = [await gw.ready(1, 1), await gw.ready(1, 2)]
        refused = await gw.ready(1, 3)
        other_account = await gw.ready(2, 4)
        await gw.until(lambda: refused.closed)
        assert refused.closed == (protocol.CLOSE_RATE_LIMITED, "too many sockets for this account")
        assert refused.of_type("error")[0]["code"] == protocol.ERR_TOO_MANY_SOCKETS
        assert gw.metric("livedesk_gateway_socket_refusals_total", cap="account") == 1
        await gw.log.post(1, 10)
        await gw.until(lambda: all(s.offsets() == [1] for s in admitted))
        assert other_account.closed is None
        assert list(gw.node.hub.bindings.socket_counts()) in ([2, 1], [1, 2])  # none of it attached


async def test_a_connection_over_the_nodes_cap_is_refused_with_1013(keys: Keys) -> None:
    async with running(keys, max_sockets_per_node=3, unready_at_socket_fraction=0.6) as gw:
        first = await gw.ready(1, 1)
        assert gw.node.accepting
        pending = gw.connect()  # not authenticated yet: it counts all the same
        await gw.until(lambda: not gw.node.accepting)  # 2 of 3: past 60%
        third = await gw.ready(2, 2)
        refused = gw.connect()
        await gw.until(lambda: refused.closed)
        assert refused.closed == (protocol.CLOSE_TRY_AGAIN_LATER, "node at capacity")
        assert refused.sent == []
        assert gw.metric("livedesk_gateway_socket_refusals_total", cap="node") == 1
        assert all(s.closed is None for s in (first, pending, third))
        await pending.close(1000, "bye")
        await third.close(1000, "bye")
        await gw.until(lambda: gw.node.accepting)
        assert (await gw.ready(3, 3)).of_type("ready")
