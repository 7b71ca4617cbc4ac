"""Catch-up: a resuming socket is sent what it missed, then joins the live stream.

A socket that resumes from a cursor behind the account's delivered offset is served from the
account's `ResumeBuffer` when its cursor is inside it; otherwise it reads replay pages with
its own token (concurrent resumes of an account from the same cursor share one request) until
its cursor is inside the buffer or equals the delivered offset. A cursor ahead of the node
waits a while for the live stream, then is fetched for the account a page at a time; one
beyond the API's latest offset gets resync_required. The socket then joins the live set in
the same step as its last check, with no await in between: no gap and no duplicate at the seam.

Deliberately not here: the account's own gaps (gap_fill.py), writing (fanout.py).
"""

from __future__ import annotations

import asyncio

from livedesk.gateway import protocol
from livedesk.gateway.account import Account, Client
from livedesk.gateway.api_client import ReplayPage, ResyncRequired, UpstreamUnavailable
from livedesk.gateway.sockets import OutFrame
from livedesk.gateway.stream_parts import StreamParts


class CatchUp:
    def __init__(self, parts: StreamParts) -> None:
        self._parts = parts

    async def run(self, client: Client, after: int) -> None:
        """Send everything after `after` to a resuming socket, then make it live."""
        account = self._parts.bindings.account_of(client)
        send = self._parts.fanout.send
        cursor = after
        page_size = self._parts.settings.replay_page_size
        from_api = fetch_ahead = False
        while not client.closing:
            delivered = account.seq.delivered
            assert delivered is not None
            if cursor == delivered:
                account.live[client] = None  # the seam: nothing awaited since the check
                self._parts.metrics.resumes.labels("api" if from_api else "memory").inc()
                return
            if cursor < delivered and account.resume_buffer.top == delivered:
                frames = account.resume_buffer.since(cursor)
                if frames is not None:
                    # All of it is here: written and joined with no await, so no seam.
                    for frame in frames:
                        if not send(client, frame):
                            return
                    self._parts.metrics.replayed.inc(len(frames))
                    account.live[client] = None
                    self._parts.metrics.resumes.labels("api" if from_api else "memory").inc()
                    return
            if cursor < delivered:
                limit = min(page_size, delivered - cursor)
                from_api = True
                try:
                    page = await self._replay_shared(account, client.session.token, cursor, limit)
                except ResyncRequired:
                    self._resync(client, account)
                    return
                before = cursor
                for item in page.items:
                    if item.offset == cursor + 1:
                        if not send(client, item.frame):
                            return
                        cursor = item.offset
                self._parts.metrics.replayed.inc(cursor - before)
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
                page = await self._parts.api.replay(client.session.token, delivered, limit)
            except ResyncRequired:
                self._resync(client, account)
                return
            if page.latest_offset < cursor:
                self._resync(client, account)  # it claims offsets that never were
                return
            for item in page.items:
                self._parts.fanout.offer(account, item)
            if account.seq.delivered == delivered:
                raise UpstreamUnavailable(f"replay after {delivered} returned nothing new")

    async def _wait_for(self, account: Account, client: Client, cursor: int) -> bool:
        """Wait a while for the live stream to reach `cursor`; True if it made `client` live."""
        # Set once, by whichever comes first: the fan-out making the socket live at `cursor`
        # (True), or the timer (False). Once set, the other leaves it alone.
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        account.waiting.setdefault(cursor, []).append((client, waiter))
        timer = self._parts.clock.call_later(
            self._parts.settings.gap_wait_s * 3, lambda: _time_out(waiter)
        )
        try:
            if await waiter:
                return True
        finally:
            timer.cancel()
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
            self._parts.metrics.replay_calls.inc()
            task = self._parts.tasks.create_task(self._replay_task(token, after, limit))
            account.replays[key] = task
            task.add_done_callback(lambda _: account.replays.pop(key, None))
        result = await asyncio.shield(task)
        if isinstance(result, Exception):
            raise result
        return result

    async def _replay_task(self, token: str, after: int, limit: int) -> ReplayPage | Exception:
        try:
            return await self._parts.api.replay(token, after, limit)
        except Exception as error:  # a task boundary: handed to the waiters, not the group
            return error

    def _resync(self, client: Client, account: Account) -> None:
        delivered = account.seq.delivered or 0
        message = "resume_from is outside the replay retention; reload over REST"
        if self._parts.fanout.send(client, OutFrame(protocol.resync_required(delivered, message))):
            self._parts.metrics.resyncs.inc()
            account.live[client] = None


def _time_out(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)
