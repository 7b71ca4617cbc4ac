"""The publisher process: events at a fixed rate to chosen accounts, three ways, over JSON lines.

    python -m bench.fanout.publisher      (started by the driver; requests on stdin)

- `peer`: python-socketio's write-only AsyncAioPikaManager emits to room `acct.N`, one emit
  at a time (each waits for its broker confirm); the payload carries `seq` (per account, from
  1) and `ts` (time of the emit call) and is shaped like Livedesk's new_message event.
- `rest`: Livedesk's whole write path: POST /v1/conversations/{id}/messages on the API, up to
  `concurrency` requests in flight; the event's `ts` is its commit time, set by the API.
- `bus`: pre-encoded new_message events straight onto livedesk.events with
  livedesk.shared.bus (what the API's relay does, minus the database), offsets continuing
  from the account's latest, `ts` = the time of publishing; events due together go out as
  one pipelined `publish_many`.
Replies say how many were published, in how long, and each account's last seq/offset, which
the load generator's ledgers are checked against.
Deliberately not here: sockets, and the servers' processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any, Final

import httpx
import uvloop

from bench.fanout import rpc
from livedesk.shared import events, routing
from livedesk.shared.bus.base import Message
from livedesk.shared.bus.rabbit import RabbitBus
from livedesk.shared.topology import EVENTS

CONTENT: Final = "Hello, my order #12345 has not arrived yet. Could you check? " * 3


def peer_payload(account_id: int, seq: int) -> dict[str, Any]:
    now = time.time()
    return {
        "type": "new_message",
        "seq": seq,
        "ts": now,
        "account_id": account_id,
        "conversation_id": 1,
        "data": {
            "id": seq,
            "conversation_id": 1,
            "kind": "incoming",
            "content": CONTENT,
            "sender_type": "contact",
            "created_at": datetime.fromtimestamp(now, UTC).isoformat(),
        },
    }


def bus_event(account_id: int, conversation_id: int, offset: int) -> events.NewMessage:
    """The event the bus mode publishes, as the API's relay would, stamped now."""
    now = datetime.now(UTC)
    return events.NewMessage(
        offset=offset,
        account_id=account_id,
        conversation_id=conversation_id,
        ts=now,
        data=events.MessageData(
            id=offset,
            conversation_id=conversation_id,
            kind=events.MessageKind.INCOMING,
            content=CONTENT,
            sender_type=events.SenderType.CONTACT,
            created_at=now,
        ),
    )


class Publisher:
    def __init__(self) -> None:
        self.mode = ""
        self.stack = AsyncExitStack()
        self.last: dict[int, int] = {}  # account -> last seq/offset published
        self.conversations: dict[int, int] = {}
        self.tokens: dict[int, str] = {}
        self.emitter: Any = None
        self.bus: RabbitBus | None = None
        self.http: httpx.AsyncClient | None = None
        self.concurrency = 32

    async def init(self, request: dict[str, Any]) -> dict[str, Any]:
        self.mode = request["mode"]
        accounts: dict[str, dict[str, Any]] = request.get("accounts", {})
        for key, info in accounts.items():
            account = int(key)
            self.last[account] = int(info.get("offset", 0))
            self.conversations[account] = int(info.get("conversation_id", 1))
            if "token" in info:
                self.tokens[account] = info["token"]
        if self.mode == "peer":
            from bench.fanout.peer import Emitter

            self.emitter = Emitter(request["amqp_url"], request["channel"])
        elif self.mode == "bus":
            self.bus = await self.stack.enter_async_context(
                RabbitBus.connect(request["amqp_url"], name="bench-fanout-publisher")
            )
        elif self.mode == "rest":
            self.concurrency = int(request.get("concurrency", 32))
            limits = httpx.Limits(max_connections=self.concurrency)
            self.http = await self.stack.enter_async_context(
                httpx.AsyncClient(base_url=request["api_url"], limits=limits, timeout=60)
            )
        else:
            raise ValueError(f"unknown mode {self.mode!r}")
        return {}

    async def publish(self, request: dict[str, Any]) -> dict[str, Any]:
        rate: float = request["rate"]
        total = max(1, round(rate * request["duration_s"]))
        accounts: list[int] = request["accounts"]
        rng = random.Random(request.get("seed", 7))
        chosen = [accounts[i % len(accounts)] for i in range(total)]
        if request.get("random"):
            chosen = [rng.choice(accounts) for _ in range(total)]
        failures: list[str] = []
        started = time.monotonic()
        if self.mode == "rest":
            await self._paced_rest(chosen, rate, started, failures)
        else:
            fire = self._emit if self.mode == "peer" else self._publish_bus
            await _paced(chosen, rate, started, fire)
        seconds = time.monotonic() - started
        return {
            "mode": self.mode,
            "asked_rate": rate,
            "published": total - len(failures),
            "failures": len(failures),
            "failure_sample": failures[:5],
            "seconds": seconds,
            "achieved_rate": (total - len(failures)) / seconds if seconds else 0.0,
            "last": {str(a): self.last[a] for a in set(accounts)},
        }

    async def _emit(self, batch: list[int]) -> None:
        for account in batch:
            seq = self.last[account] = self.last[account] + 1
            await self.emitter.emit(account, peer_payload(account, seq))

    async def _publish_bus(self, batch: list[int]) -> None:
        assert self.bus is not None
        messages = []
        for account in batch:
            offset = self.last[account] = self.last[account] + 1
            event = bus_event(account, self.conversations[account], offset)
            messages.append(Message(EVENTS, routing.event_key(event), events.encode(event)))
        await self.bus.publish_many(messages)

    async def _paced_rest(
        self, chosen: list[int], rate: float, started: float, failures: list[str]
    ) -> None:
        http = self.http
        assert http is not None
        slots = asyncio.Semaphore(self.concurrency)

        async def post(account: int) -> None:
            try:
                response = await http.post(
                    f"/v1/conversations/{self.conversations[account]}/messages",
                    # An agent's reply: the measured message route takes no `incoming`.
                    json={"content": CONTENT, "kind": "outgoing"},
                    headers={"Authorization": f"Bearer {self.tokens[account]}"},
                )
                if response.status_code >= 300:
                    failures.append(f"{response.status_code} {response.text[:100]}")
            except httpx.HTTPError as error:
                failures.append(f"{type(error).__name__}: {error}")
            finally:
                slots.release()

        tasks = []
        for index, account in enumerate(chosen):
            delay = started + index / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await slots.acquire()  # at most `concurrency` in flight: the API sets the pace
            tasks.append(asyncio.create_task(post(account)))
        await asyncio.gather(*tasks)

    async def latest(self, request: dict[str, Any]) -> dict[str, Any]:
        """Each account's latest offset as the API's replay endpoint reports it (rest mode)."""
        http = self.http
        if http is None:
            return {"last": {str(a): n for a, n in self.last.items()}}
        slots = asyncio.Semaphore(16)

        async def one(account: int) -> tuple[int, int]:
            async with slots:
                response = await http.get(
                    "/v1/events",
                    params={"after": 0, "limit": 1},
                    headers={"Authorization": f"Bearer {self.tokens[account]}"},
                )
                response.raise_for_status()
                return account, int(response.json()["latest_offset"])

        accounts = request.get("accounts") or list(self.tokens)
        pairs = await asyncio.gather(*(one(int(a)) for a in accounts))
        return {"last": {str(a): n for a, n in pairs}}

    async def close(self, _request: dict[str, Any]) -> dict[str, Any]:
        await self.stack.aclose()
        return {}


async def _paced(
    chosen: list[int],
    rate: float,
    started: float,
    fire: Callable[[list[int]], Awaitable[None]],
) -> None:
    """Fire `chosen[i]` at started + i/rate; what fell due while firing goes out together."""
    index = 0
    while index < len(chosen):
        now = time.monotonic()
        due = min(len(chosen), int((now - started) * rate) + 1)
        if due <= index:
            await asyncio.sleep(started + index / rate - now)
            continue
        await fire(chosen[index:due])
        index = due


async def main() -> None:
    publisher = Publisher()
    try:
        await rpc.serve(
            {
                "init": publisher.init,
                "publish": publisher.publish,
                "latest": publisher.latest,
                "close": publisher.close,
            }
        )
    finally:
        with contextlib.suppress(Exception):
            await publisher.stack.aclose()


if __name__ == "__main__":
    sys.exit(uvloop.run(main()))
