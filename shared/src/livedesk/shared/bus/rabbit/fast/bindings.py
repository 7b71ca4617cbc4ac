"""A queue's run-time bindings: bound and unbound with one RPC each, recorded in a dict, bound
again on a channel that reopens (aio-pika's record scans every binding on each unbind:
docs/adr/0001-fast-publish-path.md).

After the channel reopens, the queue is bound to what the record holds before the consumer
consumes again and the restore callbacks run (`consumer`). A bind is recorded once the broker
confirmed it. An unbind leaves the record before its RPC is sent, so that a restore running
meanwhile does not bind it again (both go over one channel, handled in order); an unbind that
fails goes back in the record.

Not here: which bindings a queue needs (the caller's), its declared bindings
(`QueueSpec.bindings`, restored by aio-pika with the queue).
"""

from __future__ import annotations

import aiormq.abc


class RuntimeBindings:
    def __init__(self, queue_name: str) -> None:
        self._queue_name = queue_name
        self._bound: dict[tuple[str, str], None] = {}

    def __len__(self) -> int:
        return len(self._bound)

    def __contains__(self, binding: tuple[str, str]) -> bool:
        return binding in self._bound

    async def bind(self, channel: aiormq.abc.AbstractChannel, exchange: str, pattern: str) -> None:
        await channel.queue_bind(self._queue_name, exchange, routing_key=pattern)
        self._bound[(exchange, pattern)] = None

    async def unbind(
        self, channel: aiormq.abc.AbstractChannel, exchange: str, pattern: str
    ) -> None:
        key = (exchange, pattern)
        recorded = self._bound.pop(key, ()) is None
        try:
            await channel.queue_unbind(self._queue_name, exchange, routing_key=pattern)
        except BaseException:
            if recorded:
                self._bound[key] = None
            raise

    async def restore(self, channel: aiormq.abc.AbstractChannel) -> None:
        """Bind the queue again to everything recorded, one RPC after the other."""
        for key in list(self._bound):
            if key in self._bound:  # not unbound while the earlier ones were restored
                exchange, pattern = key
                await channel.queue_bind(self._queue_name, exchange, routing_key=pattern)
