"""The parts of a node's account side that the jobs fetching from the API work with.

Gap fills (gap_fill.py) and catch-ups (catch_up.py) read the same bindings, offer to the same
fan-out and ask the same API; the hub builds this once and hands it to both.

Deliberately not here: any behaviour.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from livedesk.gateway.api_client import ApiClient
from livedesk.gateway.bindings import Bindings
from livedesk.gateway.clock import Clock
from livedesk.gateway.fanout import Fanout
from livedesk.gateway.metrics import Metrics
from livedesk.shared.settings import GatewaySettings


@dataclass(frozen=True, slots=True)
class StreamParts:
    bindings: Bindings
    fanout: Fanout
    api: ApiClient
    settings: GatewaySettings
    metrics: Metrics
    tasks: asyncio.TaskGroup
    clock: Clock
