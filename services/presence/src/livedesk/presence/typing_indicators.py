"""Who is typing in which conversation, until when, and through which sockets.

The typing part of the presence state machine: a start is announced once and a repeated start
only moves the deadline (`typing_ttl_s`); a typer ends with exactly one stop, on stop, expiry,
or when the last socket that fed it closes. Pure like `state.py`: times come in as arguments.

Deliberately left to `PresenceState`: which node a signal comes from, whether it counts, the
warm-up amnesty for stops nobody saw start, and when sockets close.
"""

from __future__ import annotations

from collections.abc import Mapping

from livedesk.presence.records import Node, Outgoing, Stats, Typer
from livedesk.shared.deadlines import Deadlines
from livedesk.shared.events import Typing, TypingState
from livedesk.shared.presence_messages import SocketRef


class TypingIndicators:
    def __init__(self, ttl_s: float, nodes: Mapping[str, Node], stats: Stats) -> None:
        self._ttl_s = ttl_s
        # The state machine's live nodes (the same dict): a typer's sockets are found there.
        self._nodes = nodes
        self._stats = stats
        self._typers: dict[int, dict[int, dict[int, Typer]]] = {}
        self._due: Deadlines[Typer] = Deadlines()
        self._count = 0

    # -- views -------------------------------------------------------------------------------

    @property
    def count(self) -> int:
        return self._count

    def of_account(self, account_id: int) -> dict[int, list[int]]:
        conversations = self._typers.get(account_id, {})
        return {c: sorted(typers) for c, typers in conversations.items()}

    def in_conversation(self, account_id: int, conversation_id: int) -> list[int]:
        return sorted(self._typers.get(account_id, {}).get(conversation_id, {}))

    def next_due(self) -> float | None:
        return self._due.next_due()

    # -- changes -----------------------------------------------------------------------------

    def start(
        self,
        ref: SocketRef,
        conversation_id: int,
        node: Node | None,
        now: float,
        out: list[Outgoing],
    ) -> None:
        typers = self._typers.setdefault(ref.account_id, {}).setdefault(conversation_id, {})
        typer = typers.get(ref.user_id)
        expires_at = now + self._ttl_s
        if typer is None:
            typer = Typer(ref.account_id, conversation_id, ref.user_id, expires_at)
            typers[ref.user_id] = typer
            self._count += 1
            self._stats.typing_starts += 1
            self._due.schedule(typer, expires_at)
            out.append(_event(typer, TypingState.START))
        typer.expires_at = expires_at  # a refresh: no broadcast, the deadline moves
        if node is not None:
            typer.sockets.add((node.node_id, ref.socket_id))
            node.typing.setdefault(ref.socket_id, set()).add(typer)

    def stop(self, ref: SocketRef, conversation_id: int, out: list[Outgoing]) -> bool:
        """End the user's typing there; False if they were not typing (nothing announced)."""
        typer = self._typers.get(ref.account_id, {}).get(conversation_id, {}).get(ref.user_id)
        if typer is None:
            return False
        self._end(typer, out)
        return True

    def socket_closed(self, node: Node, socket_id: str, out: list[Outgoing]) -> None:
        """End the typing that only this socket fed."""
        typers = node.typing.pop(socket_id, None)
        if typers:
            for typer in list(typers):
                typer.sockets.discard((node.node_id, socket_id))
                if not typer.sockets:
                    self._end(typer, out)

    def expire(self, now: float, out: list[Outgoing]) -> None:
        for due, typer in self._due.pop_due(now):
            if typer.expires_at > now:  # refreshed since it was scheduled
                self._due.schedule(typer, typer.expires_at)
            else:
                self._stats.record_expiry_lag(now - due)
                self._end(typer, out)

    def detach_sockets(self) -> None:
        """Forget which sockets feed each typer; the deadlines stay."""
        for account in self._typers.values():
            for typers in account.values():
                for typer in typers.values():
                    typer.sockets.clear()

    def _end(self, typer: Typer, out: list[Outgoing]) -> None:
        typers = self._typers.get(typer.account_id, {}).get(typer.conversation_id, {})
        if typers.get(typer.user_id) is not typer:
            return
        del typers[typer.user_id]
        self._count -= 1
        self._prune(typer.account_id, typer.conversation_id)
        self._due.cancel(typer)
        for node_id, socket_id in typer.sockets:
            node = self._nodes.get(node_id)
            fed = node.typing.get(socket_id) if node else None
            if fed is not None and node is not None:
                fed.discard(typer)
                if not fed:
                    del node.typing[socket_id]
        typer.sockets.clear()
        out.append(_event(typer, TypingState.STOP))

    def _prune(self, account_id: int, conversation_id: int) -> None:
        conversations = self._typers.get(account_id)
        if conversations is None:
            return
        if conversations.get(conversation_id) == {}:
            del conversations[conversation_id]
        if not conversations:
            del self._typers[account_id]


def typing_event(account_id: int, conversation_id: int, user_id: int, state: TypingState) -> Typing:
    return Typing(
        account_id=account_id, conversation_id=conversation_id, user_id=user_id, state=state
    )


def _event(typer: Typer, state: TypingState) -> Typing:
    return typing_event(typer.account_id, typer.conversation_id, typer.user_id, state)
