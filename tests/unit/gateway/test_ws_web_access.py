"""Who may open a socket and read /metrics on a gateway's real server, on both write paths.

An upgrade whose `Origin` is another site's is refused with 403 before the handshake; the
same origin, no origin (a non-browser client) and an allow-listed origin go on. /metrics
wants the metrics token when one is set. The rules themselves: tests/unit/test_web_access.py.
"""

from __future__ import annotations

import httpx

from tests.support.gateway import Keys
from tests.support.web import FOREIGN, LISTED, upgrade_status
from tests.unit.gateway.test_ws_server import PATHS, served


@PATHS
async def test_an_upgrade_from_another_origin_is_refused_with_403(
    keys: Keys, fast_writes: bool
) -> None:
    web = {"allowed_origins": LISTED}
    async with served(keys, fast_writes, web=web) as gw:
        url = f"ws://{gw.host}:{gw.port}/ws"
        assert await upgrade_status(url, FOREIGN) == 403
        assert await upgrade_status(url, "null") == 403
        # The same host on another port is another origin.
        assert await upgrade_status(url, f"http://{gw.host}:{gw.port + 1}") == 403
        assert await upgrade_status(url, f"http://{gw.host}:{gw.port}") == 101
        assert await upgrade_status(url, None) == 101
        assert await upgrade_status(url, LISTED) == 101
        assert gw.metric("livedesk_gateway_sockets") == 0  # the refused ones never counted


@PATHS
async def test_metrics_want_the_token_when_one_is_set(keys: Keys, fast_writes: bool) -> None:
    async with (
        served(keys, fast_writes, web={"metrics_token": "scrape-me"}) as gw,
        httpx.AsyncClient(base_url=f"http://{gw.host}:{gw.port}") as http,
    ):
        refused = await http.get("/metrics")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        assert "livedesk_gateway" not in refused.text
        wrong = await http.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        served_ = await http.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
        assert served_.status_code == 200
        assert "livedesk_gateway_connections" in served_.text
        assert (await http.get("/healthz")).status_code == 200  # probes need no token


async def test_metrics_without_a_token_are_served_to_loopback(keys: Keys) -> None:
    async with (
        served(keys, fast_writes=True) as gw,
        httpx.AsyncClient(base_url=f"http://{gw.host}:{gw.port}") as http,
    ):
        assert (await http.get("/metrics")).status_code == 200
