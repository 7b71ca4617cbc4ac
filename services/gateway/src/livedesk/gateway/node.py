"""One gateway node: each socket's life, from accept to close, in one place.

`Node.handle(socket)` serves one socket whatever server carries it (the `websockets` server,
or a Starlette route in standalone mode): it counts it against the caps (socket_caps.py),
feeds its frames to its `Session` and carries out the decisions (authenticate and attach,
subscribe, typing, ping, close), and the API's revocation orders (4401 now, and for tokens
of a revoked session on new sockets: revocations.py). Every close goes through `_stop`,
whether the handler closes its socket, the peer leaves, or the fan-out, the sweeper or a
failure `kick`s it. One sweeper checks every socket's deadlines (sweeper.py). A socket is a
boundary: what fails in its handling or its background work closes it alone, with 1011.

Deliberately not here: accounts, fan-out and fetching (hub.py), frame syntax (protocol.py),
the server (ws_server.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine

from pydantic import ValidationError

from livedesk.gateway import protocol
from livedesk.gateway.account import Client
from livedesk.gateway.api_client import ApiClient, UpstreamUnavailable
from livedesk.gateway.clock import Clock
from livedesk.gateway.fanout import PREFETCH
from livedesk.gateway.hub import Hub
from livedesk.gateway.metrics import Metrics
from livedesk.gateway.presence_cache import PresenceStates
from livedesk.gateway.presence_client import PresenceLookup, PresenceReporter
from livedesk.gateway.protocol import Ping, Subscribe, TypingFrame, Unsubscribe
from livedesk.gateway.session import (
    Authenticated,
    Close,
    Decision,
    KeyUnknown,
    Reply,
    SendQueue,
    Session,
)
from livedesk.gateway.socket_caps import SocketCaps
from livedesk.gateway.sockets import OutFrame, Socket, SocketClosed
from livedesk.gateway.sweeper import Sweeper
from livedesk.shared.bus.base import Delivery, Subscription
from livedesk.shared.errors import BusError
from livedesk.shared.events import PresenceState, encode
from livedesk.shared.presence_messages import SocketRef
from livedesk.shared.revocation import decode_revocation
from livedesk.shared.revocations import Revocations, ends
from livedesk.shared.settings import GatewaySettings
from livedesk.shared.tokens import TokenVerifier

log = logging.getLogger(__name__)


class Node:
    def __init__(
        self,
        node_id: str,
        settings: GatewaySettings,
        verifier: TokenVerifier,
        subscription: Subscription,
        api: ApiClient,
        presence: PresenceLookup,
        reporter: PresenceReporter,
        metrics: Metrics,
        tasks: asyncio.TaskGroup,
        clock: Clock,
        *,
        typing_interval_s: float,
        prefetch: int = PREFETCH,
        events_publisher: str | None = None,
    ) -> None:
        self.node_id = node_id
        self._typing_interval_s = typing_interval_s  # told to clients in `ready`
        self._settings, self._verifier, self._api = settings, verifier, api
        self.clock = clock
        # One bound method for every socket's send queue, rather than one made per socket.
        self._monotonic = clock.monotonic
        self.hub = Hub(
            subscription,
            api,
            settings,
            metrics,
            tasks,
            clock,
            self.kick,
            self._control,
            prefetch=prefetch,
            events_publisher=events_publisher,
        )
        self._revocations = Revocations()
        self._bindings, self._fanout = self.hub.bindings, self.hub.fanout
        self._presence, self._reporter = presence, reporter
        self._states = PresenceStates(
            presence,
            self._bindings.status_epoch,
            settings.presence_state_ttl_s,
            tasks,
            clock.monotonic,
        )
        self.metrics = self._metrics = metrics
        self._tasks = tasks
        self._clients: dict[Client, None] = {}
        self._sweeper = Sweeper(clock, self._clients.keys(), self._fanout.send, self.kick)
        self._caps = SocketCaps(settings)
        self.draining = False

    @property
    def accepting(self) -> bool:
        """Whether a load balancer should send this node new sockets (/readyz)."""
        return not self.draining and not self._caps.near_capacity

    async def handle(self, socket: Socket) -> None:
        """Serve one socket until it closes."""
        clock = self.clock
        session = Session(self._verifier, self._settings, clock.monotonic())
        client = Client(
            socket,
            session,
            SendQueue(
                self._settings.send_queue_frames,
                self._settings.send_queue_bytes,
                self._settings.send_queue_max_lag_s,
                self._monotonic,
            ),
        )
        self._clients[client] = None
        self._sweeper.watch(client)
        self._metrics.connections.inc()
        counted = self._caps.connect()
        try:
            if self.draining:
                await self._close(client, protocol.CLOSE_GOING_AWAY, "node draining")
                return
            if not counted:
                self._metrics.refusals.labels("node").inc()
                await self._close(client, protocol.CLOSE_TRY_AGAIN_LATER, "node at capacity")
                return
            while not client.closing:
                # No local holds the frame: an idle socket's last one (its `auth`, with the
                # token) would otherwise stay in this coroutine's frame for its whole life.
                await self._act(
                    client, session.receive(await socket.receive(), clock.monotonic(), clock.wall())
                )
                if (claims := session.claims) is not None:
                    if self._revocations.refuses(claims, clock.wall()):  # a renewal's token
                        await self._close(client, protocol.CLOSE_UNAUTHENTICATED, protocol.REVOKED)
                        break
                    # After the first auth and after every renewal; a no-op otherwise.
                    self._sweeper.expires(client, claims.expires_at)
        except SocketClosed:
            pass
        except Exception:  # a socket's boundary: its failure is its own, never the node's
            self._log_failure(client)
            # Closed here, not in the background: the server would close it with 1000 first.
            await self._close(client, protocol.CLOSE_INTERNAL_ERROR, "internal error")
        finally:
            del self._clients[client]
            self._sweeper.forget(client)
            self._metrics.connections.dec()
            if counted:
                self._caps.disconnect()
            if client.account_id:  # admitted past the account's and user's caps
                self._caps.release(client.account_id, client.user_id)
            self._stop(client, None)
            if client.ref is not None:
                self._metrics.sockets.dec()
                self._reporter.closed(client.ref)

    async def _act(self, client: Client, decision: Decision) -> None:
        match decision:
            case None:
                return
            case Reply(frame):
                self._fanout.send(client, OutFrame(frame))
            case Close(code, reason, frame):
                if frame is not None:
                    self._fanout.send(client, OutFrame(frame))
                await self._close(client, code, reason)
            case Authenticated():
                await self._authenticated(client, decision)
            case KeyUnknown(frame):
                await self._verifier.keys.refetch()  # at most once per floor, for all sockets
                await self._act(client, client.session.key_looked_up(frame, self.clock.wall()))
            case Subscribe(conversation_id, ref):
                await self._subscribe(client, conversation_id, ref)
            case Unsubscribe(conversation_id, ref):
                self._bindings.unsubscribe(client, conversation_id)
                self._fanout.send(client, OutFrame(protocol.unsubscribed(conversation_id, ref)))
            case TypingFrame(conversation_id, state, _):
                assert client.ref is not None
                self._reporter.typing(client.ref, conversation_id, state)
            case Ping(ref):
                latest = self._bindings.latest(client.account_id)
                self._fanout.send(client, OutFrame(protocol.pong(latest, ref)))

    async def _authenticated(self, client: Client, auth: Authenticated) -> None:
        claims = auth.claims
        if self._revocations.refuses(claims, self.clock.wall()):
            await self._close(client, protocol.CLOSE_UNAUTHENTICATED, protocol.REVOKED)
            return
        refused = self._caps.admit(claims.account_id, claims.user_id)
        if refused is not None:
            self._metrics.refusals.labels(refused.value).inc()
            message = f"too many connections for this {refused.value}; close some and try again"
            reply = protocol.error(protocol.ERR_TOO_MANY_SOCKETS, message, auth.ref)
            self._fanout.send(client, OutFrame(reply))
            reason = f"too many sockets for this {refused.value}"
            await self._close(client, protocol.CLOSE_RATE_LIMITED, reason)
            return
        client.account_id, client.user_id = claims.account_id, claims.user_id
        try:
            delivered = await self.hub.attach(client)
        except (UpstreamUnavailable, BusError) as error:
            log.warning("account %s cannot be served now: %s", claims.account_id, error)
            reply = protocol.error(protocol.ERR_UNAVAILABLE, "try again shortly", auth.ref)
            self._fanout.send(client, OutFrame(reply))
            await self._close(client, protocol.CLOSE_TRY_AGAIN_LATER, "upstream unavailable")
            return
        ready = protocol.ready(
            self.node_id,
            claims.account_id,
            claims.user_id,
            delivered,
            self._typing_interval_s,
            auth.ref,
        )
        if not self._fanout.send(client, OutFrame(ready)):
            return
        # From here to `join` nothing is awaited: a live socket starts exactly after `delivered`.
        resume = auth.resume_from is not None and auth.resume_from != delivered
        self._bindings.join(client, live=not resume)
        client.ref = SocketRef(
            socket_id=client.socket.socket_id,
            account_id=claims.account_id,
            user_id=claims.user_id,
        )
        self._metrics.sockets.inc()
        self._reporter.opened(client.ref)
        self._spawn(client, self._send_presence_state(client))
        if resume:
            assert auth.resume_from is not None
            self._spawn(client, self._catch_up(client, auth.resume_from))

    def _spawn(self, client: Client, work: Coroutine[None, None, None]) -> None:
        """Run one socket's background work beside the node's; what it raises closes only
        that socket (the task group would end the node with it)."""
        self._tasks.create_task(self._contained(client, work))

    async def _contained(self, client: Client, work: Coroutine[None, None, None]) -> None:
        try:
            await work
        except Exception:  # a socket's boundary, as in `handle`
            self._log_failure(client)
            self.kick(client, protocol.CLOSE_INTERNAL_ERROR, "internal error")

    def _log_failure(self, client: Client) -> None:
        log.exception(
            "socket %s of account %s on node %s failed; closing it with 1011",
            client.socket.socket_id,
            client.account_id or "(not authenticated)",
            self.node_id,
        )

    async def _catch_up(self, client: Client, after: int) -> None:
        try:
            await self.hub.catch_up.run(client, after)
        except UpstreamUnavailable as error:
            log.warning("resume of a socket failed: %s", error)
            await self._close(client, protocol.CLOSE_TRY_AGAIN_LATER, "replay unavailable")

    async def _send_presence_state(self, client: Client) -> None:
        agents = await self._states.get(client.account_id, client.session.token)
        if agents is not None and not client.closing:
            state = PresenceState(account_id=client.account_id, agents=agents)
            self._fanout.send(client, OutFrame(encode(state)))

    async def _subscribe(self, client: Client, conversation_id: int, ref: protocol.Ref) -> None:
        session = client.session
        if conversation_id in session.subscriptions:
            owned = True  # checked when first subscribed: answer as before
        else:
            try:
                owned = await self._api.owns_conversation(session.token, conversation_id)
            except UpstreamUnavailable as error:
                session.subscription_failed()
                log.warning("subscribe check failed: %s", error)
                message = "cannot check the conversation now; try again"
                self._fanout.send(client, OutFrame(protocol.error("unavailable", message, ref)))
                return
        if not owned:
            await self._act(client, session.forbidden(conversation_id, ref))
            return
        if client.closing:
            return
        if conversation_id not in session.subscriptions:
            session.subscription_granted(conversation_id)
            self._bindings.subscribe(client, conversation_id)
        typers = await self._presence.typers(session.token, conversation_id)
        self._fanout.send(client, OutFrame(protocol.subscribed(conversation_id, typers, ref)))

    def _control(self, delivery: Delivery) -> None:
        """Sessions revoked: refuse their tokens from now on, close their sockets (4401)."""
        try:
            order = decode_revocation(delivery.body)
        except ValidationError:
            self._metrics.invalid_messages.inc()
            log.warning("dropped a control message on %s", delivery.routing_key)
            return
        self._revocations.add(order, self.clock.wall())
        account = self._bindings.get(order.account_id)
        for client in list(account.clients) if account is not None else ():
            if ends(order, client.user_id, client.session.claims):
                self.kick(client, protocol.CLOSE_UNAUTHENTICATED, protocol.REVOKED)

    def kick(self, client: Client, code: int, reason: str) -> None:
        """Stop writing to the socket now, and close it with `code` in the background."""
        if self._stop(client, code):
            self._tasks.create_task(_close_socket(client.socket, code, reason))

    async def _close(self, client: Client, code: int, reason: str) -> None:
        """Close the socket from its own handler, which returns once it is closed."""
        self._stop(client, code)
        await client.socket.close(code, reason)

    def _stop(self, client: Client, code: int | None) -> bool:
        """Write nothing more to the socket and forget it in its account; count its close
        under `code` (None: the peer closed). False if it was stopped already."""
        if client.closing:
            return False
        client.closing = True
        self._bindings.detach(client)
        if code is not None:
            self._metrics.closes.labels(str(code)).inc()
        return True

    def snapshot(self) -> tuple[SocketRef, ...]:
        """The node's authenticated sockets, for the presence heartbeat."""
        return tuple(c.ref for c in self._clients if c.ref is not None and not c.closing)

    async def sweep(self) -> None:
        """Check every socket's deadlines until cancelled (sweeper.py)."""
        await self._sweeper.run()

    async def drain(self, window_s: float) -> None:
        """Hint every socket to reconnect elsewhere, spread over `window_s`, then close 1001."""
        self.draining = True
        clients = list(self._clients)
        steps = max(1, min(len(clients), int(window_s * 20)))  # at most 20 waves a second
        hint = OutFrame(protocol.reconnect("this node is shutting down; reconnect and resume"))
        for step in range(steps):
            for client in clients[step::steps]:
                if not client.closing:
                    self._fanout.send(client, hint)
                    self.kick(client, protocol.CLOSE_GOING_AWAY, "node draining")
            await self.clock.sleep(window_s / steps)
        for client in list(self._clients):
            self.kick(client, protocol.CLOSE_GOING_AWAY, "node draining")


async def _close_socket(socket: Socket, code: int, reason: str) -> None:
    try:
        await socket.close(code, reason)
    except Exception:  # a task boundary: a socket that fails to close is gone all the same
        log.exception("closing socket %s with %s failed", socket.socket_id, code)
