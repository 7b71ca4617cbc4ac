"""Fan-out: the node queue's deliveries to the local sockets, in offset order, with no loss.

Each broker message is decoded once; the same bytes (`OutFrame`, its wire frame built once)
go to every socket that should get them: persistent events and agent_status to every socket
of the account, typing to that conversation's subscribers. Persistent events go through the
account's `Sequencer`: in order, duplicates dropped, early ones held behind a gap; a gap
whose hold outgrows its bounds is given up with resync_required to the live sockets. What is
delivered is kept in the account's resume buffer. Handled deliveries are acked together, one
frame per window (`Acks`), not one per wake-up. A socket whose write buffer passes its
`SendQueue` bounds is handed to `kick` (4409) and takes nothing more. A persistent event
published by any broker user but `events_publisher` (the API's) is dropped and counted: the
broker vouches for the user_id (docs/security.md, "Broker users").

Deliberately not here: which accounts are bound (bindings.py), fetching what the broker did
not bring (gap_fill.py, catch_up.py), closing sockets (node.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Final

from livedesk.gateway import protocol
from livedesk.gateway.account import Account, Client
from livedesk.gateway.acks import Acks
from livedesk.gateway.bindings import Bindings
from livedesk.gateway.clock import Clock
from livedesk.gateway.metrics import Metrics
from livedesk.gateway.ordering import Item
from livedesk.gateway.sockets import OutFrame
from livedesk.shared import routing
from livedesk.shared.bus.base import Delivery, Subscription
from livedesk.shared.errors import EventError, RoutingKeyError
from livedesk.shared.events import (
    AgentStatusChanged,
    Audience,
    decode,
    decode_persistent,
    is_routed,
)
from livedesk.shared.topology import CONTROL, EPHEMERAL, EVENTS

log = logging.getLogger(__name__)

# The node queue's prefetch when the caller gives none (main passes the bus settings').
PREFETCH: Final = 256
# Handled deliveries are acked together after this long (acks.py). Far below anything that
# waits on an ack; at 100 events/s it is one ack frame per ten events instead of ten.
ACK_DELAY_S: Final = 0.1

Kick = Callable[[Client, int, str], None]
# Takes an order on livedesk.control (node.py: sessions revoked); must not block or raise.
Control = Callable[[Delivery], None]


class Fanout:
    def __init__(
        self,
        subscription: Subscription,
        bindings: Bindings,
        metrics: Metrics,
        tasks: asyncio.TaskGroup,
        clock: Clock,
        kick: Kick,
        control: Control,
        *,
        prefetch: int = PREFETCH,
        events_publisher: str | None = None,
    ) -> None:
        self._subscription, self._bindings, self._kick = subscription, bindings, kick
        self._control = control
        # None on a bus without broker users, whose deliveries carry none either.
        self._events_publisher = events_publisher
        self._impostors: set[str | None] = set()  # publishers warned about, once each
        self._metrics, self._tasks, self._clock = metrics, tasks, clock
        # Past half the prefetch window an ack goes at once: the broker must not stall on it.
        self._ack_at_once = max(1, prefetch // 2)
        self._deliveries = metrics.deliveries
        self._latency = metrics.latency
        self._persistent = metrics.broker_messages.labels("persistent")
        self._ephemeral = metrics.broker_messages.labels("ephemeral")

    # -- writing ------------------------------------------------------------------------

    def send(self, client: Client, frame: OutFrame) -> bool:
        """Write one frame within the socket's bounds; kick it with 4409 past them."""
        socket = client.socket
        buffered = socket.buffered()
        if buffered < 0 or client.closing:
            return False
        if not client.queue.admit(buffered, len(frame.wire)):
            self._kick(client, protocol.CLOSE_TOO_SLOW, "too slow to read")
            return False
        socket.write(frame)
        return True

    def _write_all(self, clients: Iterable[Client], frame: OutFrame) -> int:
        wire_size = len(frame.wire)
        written = 0
        slow: list[Client] | None = None
        for client in clients:
            socket = client.socket
            buffered = socket.buffered()
            if buffered < 0:
                continue  # closing: its handler detaches it
            if client.queue.admit(buffered, wire_size):
                socket.write(frame)
                written += 1
            elif slow is None:
                slow = [client]
            else:
                slow.append(client)
        if slow:
            for client in slow:
                self._kick(client, protocol.CLOSE_TOO_SLOW, "too slow to read")
        return written

    # -- the node queue -----------------------------------------------------------------

    async def pump(self) -> None:
        """Handle the node queue's deliveries as they arrive, for as long as the node runs.

        They are handed over by the bus (`Subscription.hand_to`) rather than taken in batches
        by this task: dispatch never awaits, and it costs no wake-up of this task per event.
        The task stays, so that the handing over ends with it.
        """
        subscription = self._subscription
        acks = Acks(
            subscription, self._tasks, self._clock, delay_s=ACK_DELAY_S, at_once=self._ack_at_once
        )

        def handle(delivery: Delivery) -> None:
            try:
                self._dispatch(delivery)
            except Exception:  # one bad message must not make the node deaf
                log.exception("dispatch of %s failed", delivery.routing_key)
            acks.handled(delivery)

        subscription.hand_to(handle)
        try:
            await asyncio.get_running_loop().create_future()  # until cancelled
        finally:
            subscription.hand_to(None)
            acks.close()

    def _dispatch(self, delivery: Delivery) -> None:
        # Events and control messages come from the API's broker user only.
        if delivery.user_id != self._events_publisher and delivery.exchange in (EVENTS, CONTROL):
            self._refuse(delivery)
            return
        if delivery.exchange == CONTROL:  # not an account's traffic: every node takes it
            self._control(delivery)
            return
        try:
            key = routing.parse_account_key(delivery.routing_key)
        except RoutingKeyError:
            self._metrics.invalid_messages.inc()
            return
        account = self._bindings.get(key.account_id)
        if account is None:
            self._metrics.foreign_messages.inc()
            return
        try:
            if delivery.exchange == EVENTS:
                self._persistent.inc()
                event = decode_persistent(delivery.body)
                if event.account_id != key.account_id:
                    raise EventError("wrong_account", f"{event.account_id} on {key}")
                item = Item(event.offset, OutFrame(delivery.body), event.ts.timestamp())
                self.offer(account, item)
            elif delivery.exchange == EPHEMERAL:
                self._ephemeral.inc()
                ephemeral = decode(delivery.body)
                if ephemeral.account_id != key.account_id:
                    raise EventError("wrong_account", f"{ephemeral.account_id} on {key}")
                if is_routed(ephemeral) and ephemeral.subject() != (key.subject, key.subject_id):
                    raise EventError("wrong_subject", f"{ephemeral.subject()} on {key}")
                if isinstance(ephemeral, AgentStatusChanged):
                    self._bindings.renew_status_epoch(account)  # cached presence_state is old
                readers = audience(account, ephemeral.audience, key.subject_id)
                if readers:
                    self._deliveries.inc(self._write_all(readers, OutFrame(delivery.body)))
        except EventError as error:
            self._metrics.invalid_messages.inc()
            log.warning("dropped a message on %s: %s", delivery.routing_key, error)

    def _refuse(self, delivery: Delivery) -> None:
        self._metrics.impostor_events.inc()
        if delivery.user_id not in self._impostors:
            self._impostors.add(delivery.user_id)
            log.warning(
                "dropping events published by broker user %r (expected %r); first on %s",
                delivery.user_id,
                self._events_publisher,
                delivery.routing_key,
            )

    # -- in offset order ----------------------------------------------------------------

    def offer(self, account: Account, item: Item) -> bool:
        """Sequence one persistent event; False if it was a duplicate."""
        ready = account.seq.offer(item, self._clock.monotonic())
        if ready is None:
            self._metrics.duplicates.inc()
            return False
        if ready:
            self._deliver(account, ready)
        elif account.seq.held:
            while account.seq.overflowing:
                self.give_up_gap(account)
            if account.seq.held:
                self._bindings.holding.add(account)
        return True

    def start_at(self, account: Account, offset: int) -> None:
        """Deliver from `offset + 1` on: a new account's baseline, or past a gap given up."""
        account.resume_buffer.reset(offset)
        self._deliver(account, account.seq.set_baseline(offset, self._clock.monotonic()))

    def _deliver(self, account: Account, items: list[Item]) -> None:
        resume_buffer, wall = account.resume_buffer, self._clock.wall
        for item in items:
            resume_buffer.add(item.offset, item.frame)
            self._deliveries.inc(self._write_all(account.live, item.frame))
            self._latency.observe(max(0.0, wall() - item.ts))
            if account.waiting:
                for client, waiter in account.waiting.pop(item.offset, ()):
                    if not waiter.done() and not client.closing:
                        account.live[client] = None  # caught up exactly to this offset
                        waiter.set_result(True)
        if not account.seq.held:
            self._bindings.holding.discard(account)

    def give_up_gap(self, account: Account) -> None:
        """What is held behind the gap reached its bound: the API cannot fill it now."""
        self._metrics.holds_resynced.inc()
        self.resync(account, "events could not be fetched in time; reload over REST")

    def resync(
        self,
        account: Account,
        message: str = "events were lost past the replay retention; reload over REST",
    ) -> None:
        """Jump over the gap and tell the live sockets to reload."""
        seq = account.seq
        if seq.delivered is None or not seq.held:
            return
        baseline = seq.gap(self._clock.monotonic(), 0.0)
        assert baseline is not None
        frame = OutFrame(protocol.resync_required(baseline[1], message))
        self._metrics.resyncs.inc(len(account.live))
        self._write_all(account.live, frame)
        self.start_at(account, baseline[1])


def audience(account: Account, kind: Audience, subject_id: int) -> Iterable[Client]:
    """The sockets of `account` an ephemeral event of this audience reaches (its declaration in
    shared/events.py); `subject_id` is its routing key's conversation or agent."""
    if kind is Audience.ACCOUNT:
        return account.members
    if kind is Audience.SUBSCRIBERS:
        return account.subscribers.get(subject_id, {})
    return ()  # Audience.SOCKET: made by a node for one socket, never routed
