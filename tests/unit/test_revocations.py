"""The gateway's list of revoked sessions: refused while a token of them can live, then
forgotten; bounded; and which open sockets an order ends."""

from __future__ import annotations

from livedesk.shared.revocation import SessionsRevoked, decode_revocation, encode_revocation
from livedesk.shared.revocations import Revocations, ends
from livedesk.shared.tokens import Claims, Role


def order(*session_ids: int, until: float = 100.0, every: bool = False) -> SessionsRevoked:
    return SessionsRevoked(
        account_id=1, user_id=7, session_ids=session_ids, every_session=every, refuse_until=until
    )


def claims(session_id: int | None, user_id: int = 7) -> Claims:
    return Claims(
        user_id=user_id, account_id=1, role=Role.AGENT, expires_at=1e12, session_id=session_id
    )


def test_a_revoked_session_is_refused_until_its_tokens_have_expired() -> None:
    revocations = Revocations()
    revocations.add(order(5, until=100.0), now=10.0)
    assert revocations.refuses(claims(5), now=99.0)
    assert not revocations.refuses(claims(5), now=100.0)
    assert not revocations.refuses(claims(6), now=50.0)
    assert not revocations.refuses(claims(None), now=50.0)  # no session: nothing names it
    revocations.add(order(6, until=300.0), now=150.0)
    assert len(revocations) == 1  # 5 was over and is forgotten


def test_the_list_keeps_at_most_its_bound_dropping_the_oldest() -> None:
    revocations = Revocations(max_sessions=2)
    revocations.add(order(1, 2, 3, until=100.0), now=0.0)
    assert len(revocations) == 2
    assert not revocations.refuses(claims(1), now=1.0)
    assert revocations.refuses(claims(3), now=1.0)


def test_an_order_ends_the_named_sessions_or_every_socket_of_the_user() -> None:
    assert ends(order(5), 7, claims(5))
    assert not ends(order(5), 7, claims(6))
    assert not ends(order(5), 8, claims(5, user_id=8))  # another user's socket
    assert not ends(order(5), 7, None)  # not authenticated yet: its auth is checked then
    assert ends(order(every=True), 7, claims(None))  # every socket, sessions or not
    assert not ends(order(every=True), 8, claims(None, user_id=8))


def test_an_order_survives_its_encoding() -> None:
    sent = order(1, 2, every=True)
    assert decode_revocation(encode_revocation(sent)) == sent
    assert sent.routing_key() == "acct.1.agent.7.sessions_revoked"
