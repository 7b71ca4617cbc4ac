"""Per-account fan-out from the node queue to local sockets, in offset order, with no loss.

The node has one queue. The hub binds `acct.<a>.#` on livedesk.events and livedesk.ephemeral
when the first socket of account `a` arrives and unbinds `unbind_grace_s` after the last one
leaves, so the node receives only its own tenants' traffic. Shared state is changed before the
first await (a socket is counted before the bind is awaited), and bind/unbind of one account
are serialized by the account's lock, so concurrent arrivals and departures cannot leave an
account bound with no socket or unbound with one. Nor can a broker that fails an unbind: the
account's bindings are then in doubt, so an arrival binds both again and, with no arrival,
the unbind is tried again (binding twice or unbinding twice is harmless to RabbitMQ).

Each broker message is decoded once; the same bytes (`OutFrame`, its wire frame built once)
go to every socket that should get them: persistent events and agent_status to every socket
of the account, typing to that conversation's subscribers. Persistent events go through the
account's `Sequencer`: in order, duplicates dropped, gaps filled from the replay endpoint; a
gap that outgrows its bounds unfilled is given up with resync_required to the live sockets.
Handled deliveries are acked together, one frame per window (`Acks`), not one per wake-up.

A socket that resumes (`catch_up`) is served from the account's `ResumeBuffer` (the last
frames delivered here, within the node's `ResumeBudget`) when its cursor is inside them;
otherwise it reads replay pages with its own token (concurrent resumes of an account from the
same cursor share one request) until its cursor is inside them or equals the account's
delivered offset. A cursor ahead of the node waits a while for the live stream, then is
fetched for the account a page at a time; one beyond the API's latest offset gets
resync_required. It then joins the live set in the same step, with no await in between: no
gap and no duplicate at the seam. A socket whose write buffer passes its `SendQueue` bounds
is closed with 4409 and takes nothing more from the node.

Deliberately not here: frames from clients (node.py), socket I/O (sockets.py), HTTP (the
`ApiClient`).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Iterable
from typing import Final

from livedesk.gateway import protocol
from livedesk.gateway.acks import Acks
from livedesk.gateway.api_client import (
    ApiClient,
    ReplayPage,
    ResyncRequired,
    UpstreamUnavailable,
)
from livedesk.gateway.metrics import Metrics
from livedesk.gateway.ordering import Item, Sequencer
from livedesk.gateway.resume_budget import ResumeBudget
from livedesk.gateway.resume_buffer import ResumeBuffer
from livedesk.gateway.session import SendQueue, Session
from livedesk.gateway.sockets import OutFrame, Socket
from livedesk.shared import routing
from livedesk.shared.bus.base import Delivery, Subscription
from livedesk.shared.errors import EventError, RoutingKeyError
from livedesk.shared.events import AgentStatusChanged, Typing, decode, decode_persistent
from livedesk.shared.presence_messages import SocketRef
from livedesk.shared.settings import GatewaySettings
from livedesk.shared.topology import EPHEMERAL, EVENTS

log = logging.getLogger(__name__)

# The node queue's prefetch when the caller gives none (main passes the bus settings').
PREFETCH: Final = 256
# Handled deliveries are acked together after this long (acks.py). Far below anything that
# waits on an ack; at 100 events/s it is one ack frame per ten events instead of ten.
ACK_DELAY_S: Final = 0.1
# An unbind that failed is tried again after the grace, and never sooner than this: with no
# grace (tests) a broker that keeps refusing would otherwise be asked in a tight loop.
UNBIND_RETRY_S: Final = 1.0


class Client:
    """One socket as the hub knows it: where to write, how much is queued, whose it is."""

    __slots__ = ("account_id", "closing", "queue", "ref", "session", "socket", "user_id")

    def __init__(self, socket: Socket, session: Session, queue: SendQueue) -> None:
        self.socket, self.session, self.queue = socket, session, queue
        self.account_id = 0
        self.user_id = 0
        self.ref: SocketRef | None = None
        self.closing = False


class Account:
    """What the node holds for one bound account."""

    def __init__(self, account_id: int, settings: GatewaySettings, budget: ResumeBudget) -> None:
        self.account_id = account_id
        self.pattern = routing.account_pattern(account_id)
        self.seq = Sequencer(settings.gap_hold_events, settings.gap_hold_bytes)
        # The last events delivered, for resumes.
        self.resume_buffer = ResumeBuffer(
            settings.resume_buffer_events, settings.resume_buffer_bytes, budget=budget
        )
        # Replay requests in flight for resuming sockets, by (after, limit): shared.
        self.replays: dict[tuple[int, int], asyncio.Task[ReplayPage | Exception]] = {}
        # Renewed by every agent_status seen, by each bind (unbound, the node heard none) and
        # by a broker reconnect (which may lose some): a presence_state fetched under another
        # value may be stale. Drawn from the hub's counter, so an account bound again never
        # finds the value of its previous binding.
        self.status_epoch = 0
        self.clients: set[Client] = set()  # attached: keeps the binding
        self.members: dict[Client, None] = {}  # past `ready`: gets agent_status
        self.live: dict[Client, None] = {}  # caught up: gets persistent events as they come
        self.subscribers: dict[int, dict[Client, None]] = {}  # conversation -> typing readers
        self.waiting: dict[int, list[tuple[Client, asyncio.Future[None]]]] = {}
        self.lock = asyncio.Lock()
        self.bound = False
        self.stale = False  # was unbound while known: what came meanwhile must be fetched
        self.unbind_pending = False
        # An unbind failed part-way: the bindings are in doubt. Not `bound`, so an arrival
        # binds both again; the retry unbinds both again (either is harmless if done already).
        self.unbinding = False
        self.filling = False
        self.catch_up = False  # a fill to the latest offset is owed after the current one


class Hub:
    def __init__(
        self,
        subscription: Subscription,
        api: ApiClient,
        settings: GatewaySettings,
        metrics: Metrics,
        tasks: asyncio.TaskGroup,
        *,
        prefetch: int = PREFETCH,
    ) -> None:
        self._subscription, self._api, self._settings = subscription, api, settings
        # Past half the prefetch window an ack goes at once: the broker must not stall on it.
        self._ack_at_once = max(1, prefetch // 2)
        self._metrics, self._tasks = metrics, tasks
        self._accounts: dict[int, Account] = {}
        self._epochs = itertools.count(1)  # status epochs: never the same value twice
        self._budget = ResumeBudget(settings.resume_buffers_node_bytes, metrics)
        self._gappy: set[Account] = set()
        self._unbinds: set[asyncio.Task[None]] = set()  # waiting out the grace
        self._deliveries = metrics.deliveries
        self._latency = metrics.latency
        self._persistent = metrics.broker_messages.labels("persistent")
        self._ephemeral = metrics.broker_messages.labels("ephemeral")
        metrics.watch_accounts(self.socket_counts)
        metrics.gap_held_bytes.set_function(
            lambda: sum(account.seq.held_bytes for account in self._accounts.values())
        )

    # -- membership ---------------------------------------------------------------------

    async def attach(self, client: Client) -> int:
        """Count the socket in, bind its account if needed; return the delivered offset."""
        account = self._accounts.get(client.account_id)
        if account is None:
            account = Account(client.account_id, self._settings, self._budget)
            self._accounts[client.account_id] = account
        account.clients.add(client)  # before the first await: an unbind now sees it
        try:
            async with account.lock:
                if not account.bound:
                    await self._bind(account)
                if account.seq.delivered is None:
                    latest = await self._api.latest_offset(client.session.token)
                    account.resume_buffer.reset(latest)
                    self._deliver(account, account.seq.set_baseline(latest, _mono()))
                elif account.stale:
                    # Unbound for a while: what was published meanwhile never reached us.
                    await self._fill(account, up_to=None)
                account.stale = False
        except BaseException:
            self.detach(client)
            raise
        delivered = account.seq.delivered
        assert delivered is not None
        return delivered

    def join(self, client: Client, *, live: bool) -> None:
        """After `ready` was written: agent_status from now on, and events if `live`."""
        account = self._accounts[client.account_id]
        account.members[client] = None
        if live:
            account.live[client] = None

    def detach(self, client: Client) -> None:
        """Forget the socket (idempotent); unbind its account later if it was the last."""
        account = self._accounts.get(client.account_id)
        if account is None or client not in account.clients:
            return
        account.clients.discard(client)
        account.members.pop(client, None)
        account.live.pop(client, None)
        for conversation_id in client.session.subscriptions:
            self._unsubscribe(account, client, conversation_id)
        for cursor, waiters in list(account.waiting.items()):
            waiters[:] = [(c, w) for c, w in waiters if c is not client]
            if not waiters:
                del account.waiting[cursor]
        if not account.clients and not account.unbind_pending:
            self._schedule_unbind(account, self._settings.unbind_grace_s)

    def subscribe(self, client: Client, conversation_id: int) -> None:
        account = self._accounts.get(client.account_id)
        if account is not None and client in account.clients:
            account.subscribers.setdefault(conversation_id, {})[client] = None

    def unsubscribe(self, client: Client, conversation_id: int) -> None:
        account = self._accounts.get(client.account_id)
        if account is not None:
            self._unsubscribe(account, client, conversation_id)

    def _unsubscribe(self, account: Account, client: Client, conversation_id: int) -> None:
        readers = account.subscribers.get(conversation_id)
        if readers is not None:
            readers.pop(client, None)
            if not readers:
                del account.subscribers[conversation_id]

    def latest(self, account_id: int) -> int | None:
        account = self._accounts.get(account_id)
        return None if account is None else account.seq.delivered

    def status_epoch(self, account_id: int) -> int | None:
        """Changes whenever the account's agent statuses may have changed; None if unbound."""
        account = self._accounts.get(account_id)
        return account.status_epoch if account is not None and account.bound else None

    def is_bound(self, account_id: int) -> bool:
        account = self._accounts.get(account_id)
        return account is not None and account.bound

    def socket_counts(self) -> Iterable[int]:
        return [len(account.clients) for account in self._accounts.values() if account.bound]

    def close(self) -> None:
        """At shutdown: stop waiting out unbind graces (the node queue goes with the node)."""
        for task in list(self._unbinds):
            task.cancel()

    async def _bind(self, account: Account) -> None:
        for exchange in (EVENTS, EPHEMERAL):
            await self._subscription.bind(exchange, account.pattern)
        account.bound = True
        account.unbinding = False
        account.status_epoch = next(self._epochs)
        self._metrics.binds.labels("bind").inc(2)
        self._metrics.bound_accounts.inc()

    def _schedule_unbind(self, account: Account, delay_s: float) -> None:
        account.unbind_pending = True
        task = self._tasks.create_task(self._unbind_later(account, delay_s))
        self._unbinds.add(task)
        task.add_done_callback(self._unbinds.discard)

    async def _unbind_later(self, account: Account, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        async with account.lock:
            account.unbind_pending = False
            if account.clients:
                return
            if account.bound or account.unbinding:
                try:
                    for exchange in (EVENTS, EPHEMERAL):
                        await self._subscription.unbind(exchange, account.pattern)
                except Exception:  # a task boundary: in doubt until the retry; kept till then
                    log.exception("unbind of account %s failed; retrying", account.account_id)
                    self._forget_binding(account)
                    account.unbinding = True
                    retry_s = max(self._settings.unbind_grace_s, UNBIND_RETRY_S)
                    self._schedule_unbind(account, retry_s)
                    return
                self._forget_binding(account)
                account.unbinding = False
                self._metrics.binds.labels("unbind").inc(2)
            if not account.clients and self._accounts.get(account.account_id) is account:
                del self._accounts[account.account_id]
                self._gappy.discard(account)
                self._budget.forget(account.resume_buffer)

    def _forget_binding(self, account: Account) -> None:
        if account.bound:
            account.bound = False
            self._metrics.bound_accounts.dec()
        account.stale = True  # what was published meanwhile may not have come here

    # -- writing ------------------------------------------------------------------------

    def send(self, client: Client, frame: OutFrame) -> bool:
        """Write one frame within the socket's bounds; close it with 4409 past them."""
        socket = client.socket
        buffered = socket.buffered()
        if buffered < 0 or client.closing:
            return False
        if not client.queue.admit(buffered, len(frame.wire)):
            self.kick(client, protocol.CLOSE_TOO_SLOW, "too slow to read")
            return False
        socket.write(frame)
        return True

    def kick(self, client: Client, code: int, reason: str) -> None:
        """Stop writing to the socket now, and close it with `code` in the background."""
        if client.closing:
            return
        client.closing = True
        self.detach(client)
        self._metrics.closes.labels(str(code)).inc()
        self._tasks.create_task(_close(client.socket, code, reason))

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
                self.kick(client, protocol.CLOSE_TOO_SLOW, "too slow to read")
        return written

    # -- the node queue -----------------------------------------------------------------

    async def pump(self) -> None:
        """Handle the node queue's deliveries as they arrive, for as long as the node runs.

        They are handed over by the bus (`Subscription.hand_to`) rather than taken in batches
        by this task: dispatch never awaits, and under sparse traffic (one event per wake-up)
        this task's wake-up per event was a cost of its own. The task stays, so that the
        handing over ends with it.
        """
        subscription = self._subscription
        acks = Acks(subscription, self._tasks, delay_s=ACK_DELAY_S, at_once=self._ack_at_once)

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
        try:
            key = routing.parse_account_key(delivery.routing_key)
        except RoutingKeyError:
            self._metrics.invalid_messages.inc()
            return
        account = self._accounts.get(key.account_id)
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
                self._offer(account, item)
            elif delivery.exchange == EPHEMERAL:
                self._ephemeral.inc()
                ephemeral = decode(delivery.body)
                if ephemeral.account_id != key.account_id:
                    raise EventError("wrong_account", f"{ephemeral.account_id} on {key}")
                if isinstance(ephemeral, Typing):
                    readers = account.subscribers.get(ephemeral.conversation_id)
                    if readers:
                        self._deliveries.inc(self._write_all(readers, OutFrame(delivery.body)))
                elif isinstance(ephemeral, AgentStatusChanged):
                    account.status_epoch = next(self._epochs)
                    written = self._write_all(account.members, OutFrame(delivery.body))
                    self._deliveries.inc(written)
        except EventError as error:
            self._metrics.invalid_messages.inc()
            log.warning("dropped a message on %s: %s", delivery.routing_key, error)

    def _offer(self, account: Account, item: Item) -> bool:
        """Sequence one persistent event; False if it was a duplicate."""
        ready = account.seq.offer(item, _mono())
        if ready is None:
            self._metrics.duplicates.inc()
            return False
        if ready:
            self._deliver(account, ready)
        elif account.seq.held:
            while account.seq.overflowing:
                self._give_up_gap(account)
            if account.seq.held:
                self._gappy.add(account)
        return True

    def _deliver(self, account: Account, items: list[Item]) -> None:
        resume_buffer = account.resume_buffer
        for item in items:
            resume_buffer.add(item.offset, item.frame)
            self._deliveries.inc(self._write_all(account.live, item.frame))
            self._latency.observe(max(0.0, time.time() - item.ts))
            if account.waiting:
                for client, waiter in account.waiting.pop(item.offset, ()):
                    if not waiter.done() and not client.closing:
                        account.live[client] = None  # caught up exactly to this offset
                        waiter.set_result(None)
        if not account.seq.held:
            self._gappy.discard(account)

    # -- gaps, catch-up, resume ---------------------------------------------------------

    async def sweep(self) -> None:
        """Fill gaps that stayed open for `gap_wait_s`."""
        wait_s, hold_max_s = self._settings.gap_wait_s, self._settings.gap_hold_max_s
        while True:
            await asyncio.sleep(wait_s / 3)
            now = _mono()
            for account in list(self._gappy):
                if account.seq.stuck(now, hold_max_s):
                    self._give_up_gap(account)
                gap = account.seq.gap(now, wait_s)
                if gap is not None and not account.filling:
                    self._tasks.create_task(self._fill(account, up_to=gap[1]))

    async def restore(self) -> None:
        """After a broker reconnect: what was published meanwhile is lost; fetch it."""
        for account in list(self._accounts.values()):
            account.status_epoch = next(self._epochs)  # agent_status may have been lost too
            if account.seq.delivered is not None:
                self._tasks.create_task(self._fill(account, up_to=None))

    async def _fill(self, account: Account, up_to: int | None) -> None:
        """Offer replayed events from `delivered` to `up_to` (None: the latest offset).

        One fill per account at a time; a catch-up to the latest asked for meanwhile (a
        broker reconnect during a gap fill) runs when the current one ends.
        """
        if account.filling:
            if up_to is None:
                account.catch_up = True
            return
        account.filling = True
        try:
            while True:
                await self._fill_pages(account, up_to)
                if not account.catch_up:
                    return
                account.catch_up, up_to = False, None
        finally:
            account.filling = False

    async def _fill_pages(self, account: Account, up_to: int | None) -> None:
        while (after := account.seq.delivered) is not None:
            if up_to is not None and after >= up_to:
                return
            token = self._token_of(account)
            if token is None:
                return
            limit = self._settings.replay_page_size
            if up_to is not None:
                limit = min(limit, up_to - after)
            self._metrics.gap_fills.inc()
            try:
                page = await self._api.replay(token, after, limit)
            except ResyncRequired:
                self._resync_account(account)
                return
            except UpstreamUnavailable as error:
                log.warning("gap fill of account %s failed: %s", account.account_id, error)
                if account.seq.held_since is not None:
                    account.seq.held_since = _mono()  # try again after another wait
                return
            filled = sum(self._offer(account, item) for item in page.items)
            self._metrics.gap_filled_events.inc(filled)
            delivered = account.seq.delivered or 0
            if not page.items or delivered >= page.latest_offset:
                return

    def _give_up_gap(self, account: Account) -> None:
        """What is held behind the gap reached its bound: the API cannot fill it now."""
        self._metrics.holds_resynced.inc()
        self._resync_account(account, "events could not be fetched in time; reload over REST")

    def _resync_account(
        self,
        account: Account,
        message: str = "events were lost past the replay retention; reload over REST",
    ) -> None:
        """Jump over the gap and tell the live sockets to reload."""
        seq = account.seq
        if seq.delivered is None or not seq.held:
            return
        baseline = seq.gap(_mono(), 0.0)
        assert baseline is not None
        frame = OutFrame(protocol.resync_required(baseline[1], message))
        self._metrics.resyncs.inc(len(account.live))
        self._write_all(account.live, frame)
        account.resume_buffer.reset(baseline[1])
        self._deliver(account, seq.set_baseline(baseline[1], _mono()))

    async def catch_up(self, client: Client, after: int) -> None:
        """Replay everything after `after` to a resuming socket, then make it live."""
        account = self._accounts[client.account_id]
        cursor = after
        page_size = self._settings.replay_page_size
        from_api = fetch_ahead = False
        while not client.closing:
            delivered = account.seq.delivered
            assert delivered is not None
            if cursor == delivered:
                account.live[client] = None  # the seam: nothing awaited since the check
                self._metrics.resumes.labels("api" if from_api else "memory").inc()
                return
            if cursor < delivered and account.resume_buffer.top == delivered:
                frames = account.resume_buffer.since(cursor)
                if frames is not None:
                    # All of it is here: written and joined with no await, so no seam.
                    for frame in frames:
                        if not self.send(client, frame):
                            return
                    self._metrics.replayed.inc(len(frames))
                    account.live[client] = None
                    self._metrics.resumes.labels("api" if from_api else "memory").inc()
                    return
            if cursor < delivered:
                limit = min(page_size, delivered - cursor)
                from_api = True
                try:
                    page = await self._replay_shared(account, client.session.token, cursor, limit)
                except ResyncRequired:
                    self._resync_client(client, account)
                    return
                before = cursor
                for item in page.items:
                    if item.offset == cursor + 1:
                        if not self.send(client, item.frame):
                            return
                        cursor = item.offset
                self._metrics.replayed.inc(cursor - before)
                if cursor == before:
                    raise UpstreamUnavailable(f"replay after {cursor} returned nothing new")
                continue
            if not fetch_ahead:
                # The client has seen more than this node has delivered: wait for the live
                # stream to reach its cursor; it joins exactly there.
                if await self._wait_for(account, client, cursor):
                    return
                fetch_ahead = True
                continue  # the stream may have moved meanwhile
            # Not (yet) from the broker: fetch up to the cursor, a page at a time, for the
            # account's stream; unless the API never had it (a client bug, or an offset of
            # another account or database), or no longer keeps what follows this node's.
            limit = min(page_size, cursor - delivered)
            try:
                page = await self._api.replay(client.session.token, delivered, limit)
            except ResyncRequired:
                self._resync_client(client, account)
                return
            if page.latest_offset < cursor:
                self._resync_client(client, account)  # it claims offsets that never were
                return
            for item in page.items:
                self._offer(account, item)
            if account.seq.delivered == delivered:
                raise UpstreamUnavailable(f"replay after {delivered} returned nothing new")

    async def _wait_for(self, account: Account, client: Client, cursor: int) -> bool:
        """Wait a while for the live stream to reach `cursor`; True if it made `client` live."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        account.waiting.setdefault(cursor, []).append((client, waiter))
        try:
            async with asyncio.timeout(self._settings.gap_wait_s * 3):
                await waiter
            return True
        except TimeoutError:
            if waiter.done() and not waiter.cancelled():
                # Its offset came in the iteration the timeout expired: `_deliver` made
                # it live there, and it may have been sent live events since.
                return True
            waiters = account.waiting.get(cursor, [])
            waiters[:] = [(c, w) for c, w in waiters if w is not waiter]
            if not waiters:
                account.waiting.pop(cursor, None)
            return False

    async def _replay_shared(
        self, account: Account, token: str, after: int, limit: int
    ) -> ReplayPage:
        """One replay request for all the account's sockets resuming from `after` at once.

        The request runs in its own task, so a socket that closes meanwhile does not cancel
        it for the others; its failure is handed to every waiter as it would be to one.
        """
        key = (after, limit)
        task = account.replays.get(key)
        if task is None:
            self._metrics.replay_calls.inc()
            task = self._tasks.create_task(self._replay_task(token, after, limit))
            account.replays[key] = task
            task.add_done_callback(lambda _: account.replays.pop(key, None))
        result = await asyncio.shield(task)
        if isinstance(result, Exception):
            raise result
        return result

    async def _replay_task(self, token: str, after: int, limit: int) -> ReplayPage | Exception:
        try:
            return await self._api.replay(token, after, limit)
        except Exception as error:  # a task boundary: handed to the waiters, not the group
            return error

    def _resync_client(self, client: Client, account: Account) -> None:
        delivered = account.seq.delivered or 0
        message = "resume_from is outside the replay retention; reload over REST"
        if self.send(client, OutFrame(protocol.resync_required(delivered, message))):
            self._metrics.resyncs.inc()
            account.live[client] = None

    def _token_of(self, account: Account) -> str | None:
        """A token of a socket of the account: the one valid the longest."""
        best: Client | None = None
        for client in account.clients:
            claims = client.session.claims
            if claims is not None and (
                best is None
                or best.session.claims is None
                or claims.expires_at > best.session.claims.expires_at
            ):
                best = client
        return None if best is None else best.session.token


def _mono() -> float:
    return time.monotonic()


async def _close(socket: Socket, code: int, reason: str) -> None:
    try:
        await socket.close(code, reason)
    except Exception:  # a task boundary: a socket that fails to close is gone all the same
        log.exception("closing socket %s with %s failed", socket.socket_id, code)
