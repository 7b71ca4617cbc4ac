"""The account side of a node: bindings, fan-out, gap fills and catch-up, built together.

Each job has its module: which accounts are served and bound (bindings.py), the node queue's
deliveries to the sockets in offset order (fanout.py), what the stream lacks fetched from the
API (gap_fill.py), a resuming socket brought up to the stream (catch_up.py). `attach` is the
one step that needs two of them: a socket's account is bound if it is not, and then brought up
to date before the socket is told its offset.

Deliberately not here: sockets' lives and frames from clients (node.py), HTTP (api_client.py).
"""

from __future__ import annotations

import asyncio

from livedesk.gateway.account import Binding, Client
from livedesk.gateway.api_client import ApiClient
from livedesk.gateway.bindings import Bindings
from livedesk.gateway.catch_up import CatchUp
from livedesk.gateway.clock import Clock
from livedesk.gateway.fanout import PREFETCH, Control, Fanout, Kick
from livedesk.gateway.gap_fill import GapFill
from livedesk.gateway.metrics import Metrics
from livedesk.gateway.stream_parts import StreamParts
from livedesk.shared.bus.base import Subscription
from livedesk.shared.settings import GatewaySettings


class Hub:
    def __init__(
        self,
        subscription: Subscription,
        api: ApiClient,
        settings: GatewaySettings,
        metrics: Metrics,
        tasks: asyncio.TaskGroup,
        clock: Clock,
        kick: Kick,
        control: Control,
        *,
        prefetch: int = PREFETCH,
        events_publisher: str | None = None,
    ) -> None:
        self.bindings = bindings = Bindings(subscription, settings, metrics, tasks, clock)
        self.fanout = fanout = Fanout(
            subscription,
            bindings,
            metrics,
            tasks,
            clock,
            kick,
            control,
            prefetch=prefetch,
            events_publisher=events_publisher,
        )
        parts = StreamParts(bindings, fanout, api, settings, metrics, tasks, clock)
        self.gap_fill = GapFill(parts)
        self.catch_up = CatchUp(parts)

    async def attach(self, client: Client) -> int:
        """Count the socket in, bind its account if needed; return the delivered offset."""
        bindings = self.bindings
        account = bindings.admit(client)
        try:
            async with account.lock:
                await bindings.bind(account)
                if account.binding is Binding.BOUND_BEHIND:
                    await self.gap_fill.bring_up_to_date(account, client.session.token)
                    account.binding = Binding.BOUND
        except BaseException:
            bindings.detach(client)
            raise
        delivered = account.seq.delivered
        assert delivered is not None
        return delivered
