"""Publish throughput with publisher confirms, one publisher, on real RabbitMQ.

    python3 dev.py run python -m bench.publish_throughput   (or .venv/bin/python -m bench...)

Three ways one publisher can wait for confirms: one message at a time (each publish awaits
its confirm), and pipelined batches of 10 and 100 (`publish_many`: frames go out in order, the
confirms are awaited together). Messages are a realistic ~460-byte event, routed to one bound
queue capped at 10,000 messages (the broker drops the oldest), so the broker routes and stores
each message but no consumer shares this process's CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid

import aio_pika
import uvloop

from bench.fanout.publisher import bus_event
from livedesk.shared import events, routing
from livedesk.shared.bus.base import Message
from livedesk.shared.bus.rabbit import RabbitBus
from livedesk.shared.topology import EVENTS

ACCOUNT = 424242


async def measure(bus: RabbitBus, message: Message, total: int, batch: int) -> float:
    messages = [message] * batch
    started = time.perf_counter()
    for _ in range(total // batch):
        if batch == 1:
            await bus.publish(messages[0])
        else:
            await bus.publish_many(messages)
    return (total // batch) * batch / (time.perf_counter() - started)


async def capped_queue(url: str) -> str:
    name = f"livedesk.bench.{uuid.uuid4().hex[:8]}"
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(name, arguments={"x-max-length": 10_000})
        await queue.bind(EVENTS, routing.account_pattern(ACCOUNT))
    return name


async def delete_queue(url: str, name: str) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(name)


async def run(url: str, total: int, rounds: int) -> None:
    event = bus_event(ACCOUNT, 1, 1)
    message = Message(EVENTS, routing.event_key(event), events.encode(event))
    print(f"one publisher, confirms on, {len(message.body)}-byte events, {total} per run")
    async with RabbitBus.connect(url, name="bench-publisher") as publisher:
        queue = await capped_queue(url)
        try:
            await measure(publisher, message, 2_000, 100)  # warm-up
            for batch in (1, 10, 100):
                rates = sorted(
                    [await measure(publisher, message, total, batch) for _ in range(rounds)]
                )
                print(
                    f"  batch {batch:>3}: median {rates[len(rates) // 2]:>8,.0f} msg/s"
                    f"  (min {rates[0]:,.0f}, max {rates[-1]:,.0f})"
                )
        finally:
            await delete_queue(url, queue)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--url", default=os.environ.get("LIVEDESK_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    )
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop, as the services do")
    args = parser.parse_args()
    runner = uvloop.run if args.uvloop else asyncio.run
    print(f"event loop: {'uvloop' if args.uvloop else 'asyncio'}")
    runner(run(args.url, args.messages, args.rounds))


if __name__ == "__main__":
    main()
