"""Two `livedesk gateway` nodes alone, as a bench `Target`: for profiling the node.

    .venv/bin/python -m bench.fanout --servers livedesk-node --workloads sparse \
        --idle-window 10 --print-pids

Real gateway processes on real RabbitMQ, but the API and presence are `StubApi`, in the
driver: every account's latest offset is 0 and nothing is replayed, presence is empty, every
conversation is owned. So the nodes' figures carry no API, database or relay, and events go
straight onto livedesk.events (the publisher's `bus` mode, fresh accounts every workload).
Tokens are signed here with a key pair of the run's own. With nothing to replay, a resume
would count as lost what the API would have replayed: the slow reader and the reconnect storm
run on `livedesk`, not here (`WORKLOADS`).
Deliberately not here: the workloads, and the nodes' tuning (they run with their defaults).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import tempfile
from pathlib import Path
from typing import Any, Final

from bench.fanout.livedesk_setup import start_gateways
from bench.fanout.livedesk_stack import gateway_counters, livedesk_publisher_init
from bench.fanout.procs import ProcessGroup, free_port
from bench.fanout.targets import Account, Counters, Node
from livedesk.shared.tokens import Role, TokenSigner, ensure_key_pair, load_private_key

# What runs against the stub: everything but what needs the API to replay.
WORKLOADS: Final = ("idle", "broadcast", "saturation", "sparse")
TOKEN_TTL_S: Final = 24 * 3600


class StubApi:
    """The API's replay contract and presence's lookups, answered at once from nothing."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """HTTP/1.1 keep-alive, GETs only: the gateways' httpx client asks nothing else."""
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                lines = head.decode("latin-1").split("\r\n")
                token = next(
                    (h.split(" ", 2)[2] for h in lines if h.lower().startswith("authorization")),
                    "",
                )
                body = _answer(lines[0].split(" ")[1], token)
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the gateway closed its connection
        finally:
            writer.close()


def _answer(target: str, token: str) -> bytes:
    path = target.partition("?")[0]
    if path == "/v1/events":
        return b'{"events":[],"latest_offset":0}'
    if path == "/v1/presence":
        return json.dumps({"account_id": _account_of(token), "agents": {}, "typing": {}}).encode()
    if path.startswith("/v1/presence/conversations/"):
        return b'{"typing":[]}'
    return b"{}"  # /v1/conversations/<id>: a 200 says the token's account owns it


def _account_of(token: str) -> int:
    """The account a token names (its signature is the gateway's to check, not the stub's)."""
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return int(claims["acct"])


class NodeAloneTarget:
    name = "livedesk-node"
    protocol = "livedesk"

    def __init__(self, group: ProcessGroup, amqp_url: str, node_count: int = 2) -> None:
        self._group, self._amqp_url, self._node_count = group, amqp_url, node_count
        self._resources = contextlib.AsyncExitStack()
        self._api = StubApi()
        self._signer: TokenSigner | None = None
        self._nodes: list[Node] = []
        self._accounts: list[Account] = []
        # Ids of the run's own on a broker other runs may share (nodes bind acct.<id>.#).
        self._next_id = 20_000_000 + secrets.randbelow(10**9)

    async def start(self) -> None:
        workdir = Path(
            self._resources.enter_context(tempfile.TemporaryDirectory(prefix="livedesk-node-"))
        )
        private, public = ensure_key_pair(workdir / "keys")
        self._signer = TokenSigner(load_private_key(private), issuer="livedesk", ttl_s=TOKEN_TTL_S)
        await self._api.start()
        self._resources.push_async_callback(self._api.stop)
        env = {
            "LIVEDESK_AMQP_URL": self._amqp_url,
            "LIVEDESK_API_URL": self._api.url,
            "LIVEDESK_PRESENCE_URL": self._api.url,
            "LIVEDESK_TOKENS__PUBLIC_KEY_PATH": str(public),
            "LIVEDESK_DATA_DIR": str(workdir),
            "LIVEDESK_LOG_LEVEL": "WARNING",
        }
        self._nodes = await start_gateways(self._group, self._node_count, env)

    async def stop(self) -> None:
        for node in self._nodes:
            await self._group.stop(node.process)
        self._nodes.clear()
        await self._resources.aclose()

    def nodes(self) -> list[Node]:
        return self._nodes

    def helper_pids(self) -> dict[str, int]:
        return {}

    async def accounts(self, count: int) -> list[Account]:
        if (missing := count - len(self._accounts)) > 0:
            self._accounts += await self.bus_accounts(missing)
        return self._accounts[:count]

    async def bus_accounts(self, count: int) -> list[Account]:
        signer = self._signer
        assert signer is not None, "not started"
        first, self._next_id = self._next_id, self._next_id + count
        return [
            Account(account, signer.issue(user_id=1, account_id=account, role=Role.AGENT))
            for account in range(first, first + count)
        ]

    def publisher_init(self, mode: str, accounts: list[Account]) -> dict[str, Any]:
        return livedesk_publisher_init(mode, self._amqp_url, self._api.url, accounts)

    def publish_mode(self, preferred: str) -> str:
        return "bus"  # the stub's log is empty: a write through the API has nowhere to go

    async def counters(self) -> Counters:
        return await gateway_counters(self._nodes)
