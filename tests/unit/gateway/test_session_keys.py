"""A session meeting a token whose key the node does not hold yet (a rotation in progress)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from livedesk.gateway import protocol
from livedesk.gateway.session import Authenticated, Close, KeyUnknown, Phase, Reply, Session
from livedesk.shared.settings import GatewaySettings
from livedesk.shared.tokens import Role, TokenSigner, TokenVerifier

SETTINGS = GatewaySettings()


@dataclass
class Held:
    """The keys a node holds: by kid, changed by the test as a refetch would."""

    keys: dict[str, Ed25519PublicKey] = field(default_factory=dict)

    def get(self, kid: str | None) -> Ed25519PublicKey | None:
        return self.keys.get(kid or "")

    async def refetch(self) -> bool:
        return False


def signed(key: Ed25519PrivateKey, kid: str, account_id: int = 1) -> str:
    class Named:
        def current(self) -> tuple[str, Ed25519PrivateKey]:
            return kid, key

    signer = TokenSigner(Named(), issuer="livedesk", ttl_s=600)
    return signer.issue(user_id=2, account_id=account_id, role=Role.AGENT)


def auth(token: str) -> bytes:
    return json.dumps({"type": "auth", "token": token, "ref": "a"}).encode()


def test_an_unknown_kid_asks_for_the_keys_then_opens_once_they_hold_it() -> None:
    old, new, held = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate(), Held()
    held.keys["old"] = old.public_key()
    session = Session(TokenVerifier(held, issuer="livedesk"), SETTINGS, now=0.0)

    decision = session.receive(auth(signed(new, "new")), 0.0, time.time())
    assert isinstance(decision, KeyUnknown)
    assert session.phase is Phase.AUTHENTICATING

    held.keys["new"] = new.public_key()  # what the refetch brought
    assert isinstance(session.key_looked_up(decision.frame, time.time()), Authenticated)


def test_a_kid_still_unknown_after_the_look_up_closes_with_4401_token_invalid() -> None:
    session = Session(TokenVerifier(Held(), issuer="livedesk"), SETTINGS, now=0.0)
    decision = session.receive(auth(signed(Ed25519PrivateKey.generate(), "x")), 0.0, time.time())
    assert isinstance(decision, KeyUnknown)

    refused = session.key_looked_up(decision.frame, time.time())
    assert isinstance(refused, Close)
    assert refused.code == protocol.CLOSE_UNAUTHENTICATED
    assert refused.frame is not None
    assert json.loads(refused.frame)["code"] == "token_invalid"


def test_a_renewal_with_an_unknown_kid_is_refused_and_the_socket_stays() -> None:
    old, new, held = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate(), Held()
    held.keys["old"] = old.public_key()
    session = Session(TokenVerifier(held, issuer="livedesk"), SETTINGS, now=0.0)
    assert isinstance(session.receive(auth(signed(old, "old")), 0.0, time.time()), Authenticated)

    decision = session.receive(auth(signed(new, "new")), 1.0, time.time())
    assert isinstance(decision, KeyUnknown)
    refused = session.key_looked_up(decision.frame, time.time())
    assert isinstance(refused, Reply)
    assert json.loads(refused.frame)["code"] == "token_invalid"
    assert session.phase is Phase.OPEN
