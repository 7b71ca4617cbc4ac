"""A queue's run-time bindings: bound and unbound with one RPC each, recorded, bound again
on a channel that reopens.

Why not aio-pika's `RobustQueue.bind`/`unbind`, which record and restore bindings too: its
unbind scans every recorded binding, with a singledispatch call per binding, to find the one
to forget. A gateway node holds two bindings per bound account; with 2,000 accounts bound
that scan cost 4.6 ms of CPU per unbind against 0.3 ms for the RPC itself, and two nodes
took ~8 s at a full core each to unbind 2,000 accounts (bench.bind_storm). Here the record
is a dict: forgetting a binding costs the same with 4 bindings or 40,000.

What the record promises: after the subscription's channel reopens (a broker reconnect, a
channel error, its queue deleted and declared again), the queue is bound to what it holds,
before the consumer consumes again and before the restore callbacks run (`consumer`).
A bind is recorded once the broker confirmed it (a bind that failed as the connection
dropped left nothing: the exclusive queue went with it). An unbind leaves the record before
its RPC is sent, so that a restore running meanwhile does not bind it again: the restore and
the unbind go over the same channel, whose methods the broker handles in order, and the
restore checks the record just before it sends each bind. An unbind that fails goes back in
the record: the caller still counts the binding as there, and a reopen makes it so.

Not here: which bindings a queue needs (the caller's), the queue's declared bindings
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
