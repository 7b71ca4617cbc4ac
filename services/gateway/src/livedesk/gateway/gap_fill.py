"""Gap fills: what an account's live stream lacks, fetched from the API's replay endpoint.

Three things leave an account's stream short of the API's: a gap (an offset the broker did
not bring while later ones came), a bind (a new account has no baseline offset yet; one bound
again missed what was published while it was unbound), and a broker reconnect (what was
published meanwhile is lost to the node queue). A gap is filled once it has been open for
`gap_wait_s` (the broker rarely reorders, a retried publish may lag), or given up at its time
bound; the other two fetch up to the latest offset. Replayed events are offered to the fan-out
like the broker's, so duplicates are dropped there. One fill runs per account at a time; each
asks with the token of one of the account's sockets, the one valid the longest.

Deliberately not here: resuming sockets (catch_up.py), sequencing and writing (fanout.py).
"""

from __future__ import annotations

import logging

from livedesk.gateway.account import Account, Fill
from livedesk.gateway.api_client import ResyncRequired, UpstreamUnavailable
from livedesk.gateway.stream_parts import StreamParts

log = logging.getLogger(__name__)


class GapFill:
    def __init__(self, parts: StreamParts) -> None:
        self._parts = parts

    async def bring_up_to_date(self, account: Account, token: str) -> None:
        """After a bind: a new account starts at the API's latest offset; one bound again
        fetches what was published while it was unbound."""
        if account.seq.delivered is None:
            self._parts.fanout.start_at(account, await self._parts.api.latest_offset(token))
        else:
            await self.fill(account, up_to=None)

    async def sweep(self) -> None:
        """Fill gaps that stayed open for `gap_wait_s`; give up those open `gap_hold_max_s`."""
        wait_s, hold_max_s = self._parts.settings.gap_wait_s, self._parts.settings.gap_hold_max_s
        while True:
            await self._parts.clock.sleep(wait_s / 3)
            now = self._parts.clock.monotonic()
            for account in list(self._parts.bindings.holding):
                if account.seq.stuck(now, hold_max_s):
                    self._parts.fanout.give_up_gap(account)
                gap = account.seq.gap(now, wait_s)
                if gap is not None and account.fill is Fill.IDLE:
                    self._parts.tasks.create_task(self.fill(account, up_to=gap[1]))

    async def restore(self) -> None:
        """After a broker reconnect: what was published meanwhile is lost; fetch it."""
        for account in self._parts.bindings.accounts():
            self._parts.bindings.renew_status_epoch(account)  # agent_status may have been lost too
            if account.seq.delivered is not None:
                self._parts.tasks.create_task(self.fill(account, up_to=None))

    async def fill(self, account: Account, up_to: int | None) -> None:
        """Offer replayed events from `delivered` to `up_to` (None: the latest offset).

        One fill per account at a time; a fill to the latest asked for meanwhile (a broker
        reconnect during a gap fill) runs when the current one ends.
        """
        if account.fill is not Fill.IDLE:
            if up_to is None:
                account.fill = Fill.RUNNING_THEN_LATEST
            return
        account.fill = Fill.RUNNING
        try:
            while True:
                await self._fill_pages(account, up_to)
                if account.fill is not Fill.RUNNING_THEN_LATEST:
                    return
                account.fill, up_to = Fill.RUNNING, None
        finally:
            account.fill = Fill.IDLE

    async def _fill_pages(self, account: Account, up_to: int | None) -> None:
        while (after := account.seq.delivered) is not None:
            if up_to is not None and after >= up_to:
                return
            token = _token_of(account)
            if token is None:
                return
            limit = self._parts.settings.replay_page_size
            if up_to is not None:
                limit = min(limit, up_to - after)
            self._parts.metrics.gap_fills.inc()
            try:
                page = await self._parts.api.replay(token, after, limit)
            except ResyncRequired:
                self._parts.fanout.resync(account)
                return
            except UpstreamUnavailable as error:
                log.warning("gap fill of account %s failed: %s", account.account_id, error)
                if account.seq.held_since is not None:
                    # Try again after another wait.
                    account.seq.held_since = self._parts.clock.monotonic()
                return
            filled = sum(self._parts.fanout.offer(account, item) for item in page.items)
            self._parts.metrics.gap_filled_events.inc(filled)
            delivered = account.seq.delivered or 0
            if not page.items or delivered >= page.latest_offset:
                return


def _token_of(account: Account) -> str | None:
    """A token of a socket of the account: the one valid the longest."""
    best_token, best_expiry = None, 0.0
    for client in account.clients:
        claims = client.session.claims
        if claims is not None and (best_token is None or claims.expires_at > best_expiry):
            best_token, best_expiry = client.session.token, claims.expires_at
    return best_token
