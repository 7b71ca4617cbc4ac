"""How many sockets this node takes: in all, per account and per user, sans-I/O.

Without caps, one tenant, or one client that reconnects without closing, could take all of a
node's memory. The node's cap counts every connection, authenticated or
not; an account's and a user's count sockets past `auth` on this node only (a user's sockets
on other nodes are not seen here: the caps bound what one of them takes of one node).

Which close code (design: 44xx mirror HTTP statuses, 1013 is "try again later"):
- over the node's cap: 1013, "node at capacity". Nothing is wrong with the client; another
  node, or this one a little later, serves it. /readyz reports the node unready from
  `unready_at_socket_fraction` of this cap, so a load balancer sends new sockets elsewhere
  before any is refused.
- over an account's or a user's cap: an `error` frame `too_many_sockets`, then 4429, "too
  many sockets for this account" / "... user". Trying again elsewhere does not help: the
  client must open fewer (close tabs, stop a reconnect loop).

Deliberately not here: closing sockets (node.py).
"""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

from livedesk.shared.settings import GatewaySettings

K = TypeVar("K")


class Cap(Enum):
    NODE = "node"
    ACCOUNT = "account"
    USER = "user"


class SocketCaps:
    __slots__ = ("_accounts", "_settings", "_users", "connections")

    def __init__(self, settings: GatewaySettings) -> None:
        self._settings = settings
        self.connections = 0
        self._accounts: dict[int, int] = {}  # account -> sockets past auth
        self._users: dict[tuple[int, int], int] = {}  # (account, user) -> sockets past auth

    def connect(self) -> bool:
        """Count a new connection in; False (and not counted) if the node is full."""
        if self.connections >= self._settings.max_sockets_per_node:
            return False
        self.connections += 1
        return True

    def disconnect(self) -> None:
        self.connections -= 1

    def admit(self, account_id: int, user_id: int) -> Cap | None:
        """Count an authenticated socket in; the cap it would exceed (and not counted)."""
        if self._accounts.get(account_id, 0) >= self._settings.max_sockets_per_account:
            return Cap.ACCOUNT
        user = (account_id, user_id)
        if self._users.get(user, 0) >= self._settings.max_sockets_per_user:
            return Cap.USER
        self._accounts[account_id] = self._accounts.get(account_id, 0) + 1
        self._users[user] = self._users.get(user, 0) + 1
        return None

    def release(self, account_id: int, user_id: int) -> None:
        """An admitted socket is gone."""
        _decrement(self._accounts, account_id)
        _decrement(self._users, (account_id, user_id))

    @property
    def near_capacity(self) -> bool:
        """Whether the node should take no more sockets from its load balancer."""
        settings = self._settings
        threshold = settings.unready_at_socket_fraction * settings.max_sockets_per_node
        return self.connections >= threshold


def _decrement(counts: dict[K, int], key: K) -> None:
    left = counts[key] - 1
    if left:
        counts[key] = left
    else:
        del counts[key]  # no entry per account or user ever seen: only for those here now
