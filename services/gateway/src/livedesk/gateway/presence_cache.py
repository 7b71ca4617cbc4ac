"""One presence_state fetch shared by the sockets of an account that arrive close together.

Every socket gets the account's presence_state after `ready`; fetched once per socket, a
reconnect storm made one presence HTTP request per socket. An account's answer is the same
for all its sockets, so a fetch is reused for `presence_state_ttl_s`, but only while no
agent_status of the account has been seen since it started and the account stayed bound
(`Bindings.status_epoch`): a socket that joined after a status change never gets a state from
before it. Unavailable answers (None) and failures are not reused once complete.

Deliberately not here: the HTTP request (the `PresenceLookup`), writing the frame (node.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final

from livedesk.gateway.presence_client import PresenceLookup
from livedesk.shared.events import AgentStatus

# Past this many accounts remembered, entries that can no longer be reused are dropped.
PRUNE_ABOVE: Final = 1024

State = dict[int, AgentStatus] | None


class _Fetch:
    __slots__ = ("epoch", "started", "task")

    def __init__(self, epoch: int, started: float, task: asyncio.Task[State | Exception]) -> None:
        self.epoch, self.started, self.task = epoch, started, task


class PresenceStates:
    def __init__(
        self,
        lookup: PresenceLookup,
        status_epoch: Callable[[int], int | None],
        ttl_s: float,
        tasks: asyncio.TaskGroup,
        clock: Callable[[], float],  # monotonic seconds
    ) -> None:
        self._lookup, self._status_epoch, self._ttl_s = lookup, status_epoch, ttl_s
        self._tasks, self._clock = tasks, clock
        self._fetches: dict[int, _Fetch] = {}
        self.requests = 0  # presence requests made (for metrics and tests)

    async def get(self, account_id: int, token: str) -> State:
        """The account's agents, from a fetch shared with its other sockets when still valid."""
        now = self._clock()
        epoch = self._status_epoch(account_id)
        fetch = self._fetches.get(account_id)
        if fetch is None or not self._reusable(fetch, epoch, now):
            if epoch is None:
                return await self._request(token)  # not bound: nothing to tell it is fresh
            if len(self._fetches) > PRUNE_ABOVE:
                self._prune(now)
            fetch = _Fetch(epoch, now, self._tasks.create_task(self._shared(token)))
            self._fetches[account_id] = fetch
        result = await asyncio.shield(fetch.task)
        if isinstance(result, Exception):
            raise result
        return result

    def _reusable(self, fetch: _Fetch, epoch: int | None, now: float) -> bool:
        if epoch is None or fetch.epoch != epoch or now - fetch.started >= self._ttl_s:
            return False
        return not fetch.task.done() or isinstance(fetch.task.result(), dict)

    def _prune(self, now: float) -> None:
        for account_id, fetch in list(self._fetches.items()):
            if fetch.task.done() and now - fetch.started >= self._ttl_s:
                del self._fetches[account_id]

    async def _shared(self, token: str) -> State | Exception:
        try:
            return await self._request(token)
        except Exception as error:  # a task boundary: handed to the waiters, not the group
            return error

    async def _request(self, token: str) -> State:
        self.requests += 1
        return await self._lookup.presence_state(token)
