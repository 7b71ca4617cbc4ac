"""What a dropped connection or channel raises, through aio-pika or past it.

A settle (ack, reject) that meets one of these is moot: the broker has requeued whatever was
unacked on that channel. A publish that meets one is worth trying again once the robust
connection is back (`TRANSIENT`, which adds the publish timing out).
"""

from __future__ import annotations

import asyncio

from aio_pika import exceptions

CLOSED: tuple[type[Exception], ...] = (
    exceptions.AMQPConnectionError,
    exceptions.ChannelInvalidStateError,
    exceptions.ChannelClosed,
    ConnectionError,
)
TRANSIENT: tuple[type[Exception], ...] = (*CLOSED, asyncio.TimeoutError)
