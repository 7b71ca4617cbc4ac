"""The accounts a node serves: their sockets, and their bindings on the node queue.

The node has one queue. An account's pattern `acct.<a>.#` is bound on livedesk.events and
livedesk.ephemeral when its first socket arrives and unbound `unbind_grace_s` after the last
one leaves, so the node receives only its own tenants' traffic. Shared state is changed before
the first await (a socket is counted before the bind is awaited), and the binds and unbinds of
one account are serialized by its lock, so concurrent arrivals and departures cannot leave an
account bound with no socket or unbound with one. Nor can a broker that fails an unbind: the
account is then `Binding.IN_DOUBT`, which an arrival binds again and, with no arrival, the
unbind is tried again (binding twice or unbinding twice is harmless to RabbitMQ).

The sets of an account's sockets (attached, members, live, typing readers) are kept here too,
so that a socket is forgotten in one place.

Deliberately not here: bringing a newly bound account up to date (gap_fill.py, through
hub.py), what the sockets are sent (fanout.py).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Iterable
from typing import Final

from livedesk.gateway.account import Account, Binding, Client
from livedesk.gateway.clock import Clock
from livedesk.gateway.metrics import Metrics
from livedesk.gateway.resume_budget import ResumeBudget
from livedesk.shared.bus.base import Subscription
from livedesk.shared.settings import GatewaySettings
from livedesk.shared.topology import EPHEMERAL, EVENTS

log = logging.getLogger(__name__)

# An unbind that failed is tried again after the grace, and never sooner than this: with no
# grace (tests) a broker that keeps refusing would otherwise be asked in a tight loop.
UNBIND_RETRY_S: Final = 1.0


class Bindings:
    def __init__(
        self,
        subscription: Subscription,
        settings: GatewaySettings,
        metrics: Metrics,
        tasks: asyncio.TaskGroup,
        clock: Clock,
    ) -> None:
        self._subscription, self._settings = subscription, settings
        self._metrics, self._tasks, self._clock = metrics, tasks, clock
        self._accounts: dict[int, Account] = {}
        self._epochs = itertools.count(1)  # status epochs: never the same value twice
        self._budget = ResumeBudget(settings.resume_buffers_node_bytes, metrics)
        # Accounts holding events behind a gap: what the gap sweeper looks at.
        self.holding: set[Account] = set()
        metrics.watch_accounts(self.socket_counts)
        metrics.gap_held_bytes.set_function(
            lambda: sum(account.seq.held_bytes for account in self._accounts.values())
        )

    def get(self, account_id: int) -> Account | None:
        return self._accounts.get(account_id)

    def account_of(self, client: Client) -> Account:
        """The account of an attached socket."""
        return self._accounts[client.account_id]

    def accounts(self) -> list[Account]:
        return list(self._accounts.values())

    # -- sockets ------------------------------------------------------------------------

    def admit(self, client: Client) -> Account:
        """Count the socket in its account, made if new; before any await, so that an unbind
        under way sees it."""
        account = self._accounts.get(client.account_id)
        if account is None:
            account = Account(client.account_id, self._settings, self._budget)
            self._accounts[client.account_id] = account
        account.clients.add(client)
        return account

    def join(self, client: Client, *, live: bool) -> None:
        """After `ready` was written: agent_status from now on, and events if `live`."""
        account = self.account_of(client)
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
        if not account.clients and account.unbind is None:
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

    # -- what the node knows of an account ----------------------------------------------

    def latest(self, account_id: int) -> int | None:
        account = self._accounts.get(account_id)
        return None if account is None else account.seq.delivered

    def status_epoch(self, account_id: int) -> int | None:
        """Changes whenever the account's agent statuses may have changed; None if unbound."""
        account = self._accounts.get(account_id)
        return account.status_epoch if account is not None and account.bound else None

    def renew_status_epoch(self, account: Account) -> None:
        """An agent_status was seen, or may have been lost."""
        account.status_epoch = next(self._epochs)

    def is_bound(self, account_id: int) -> bool:
        account = self._accounts.get(account_id)
        return account is not None and account.bound

    def socket_counts(self) -> Iterable[int]:
        return [len(account.clients) for account in self._accounts.values() if account.bound]

    # -- binding ------------------------------------------------------------------------

    async def bind(self, account: Account) -> None:
        """Bind both exchanges unless bound; the caller holds the account's lock."""
        if account.bound:
            return
        for exchange in (EVENTS, EPHEMERAL):
            await self._subscription.bind(exchange, account.pattern)
        account.binding = Binding.BOUND_BEHIND
        self.renew_status_epoch(account)
        self._metrics.binds.labels("bind").inc(2)
        self._metrics.bound_accounts.inc()

    def close(self) -> None:
        """At shutdown: stop waiting out unbind graces (the node queue goes with the node)."""
        for account in self._accounts.values():
            if account.unbind is not None:
                account.unbind.cancel()

    def _schedule_unbind(self, account: Account, delay_s: float) -> None:
        account.unbind = self._tasks.create_task(self._unbind_later(account, delay_s))

    async def _unbind_later(self, account: Account, delay_s: float) -> None:
        await self._clock.sleep(delay_s)
        async with account.lock:
            account.unbind = None
            if account.clients:
                return
            if account.binding is not Binding.UNBOUND:
                try:
                    for exchange in (EVENTS, EPHEMERAL):
                        await self._subscription.unbind(exchange, account.pattern)
                except Exception:  # a task boundary: in doubt until the retry; kept till then
                    log.exception("unbind of account %s failed; retrying", account.account_id)
                    self._unbound(account, Binding.IN_DOUBT)
                    retry_s = max(self._settings.unbind_grace_s, UNBIND_RETRY_S)
                    self._schedule_unbind(account, retry_s)
                    return
                self._unbound(account, Binding.UNBOUND)
                self._metrics.binds.labels("unbind").inc(2)
            if not account.clients and self._accounts.get(account.account_id) is account:
                del self._accounts[account.account_id]
                self.holding.discard(account)
                self._budget.forget(account.resume_buffer)

    def _unbound(self, account: Account, binding: Binding) -> None:
        if account.bound:
            self._metrics.bound_accounts.dec()
        account.binding = binding
