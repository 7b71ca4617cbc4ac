"""PostgreSQL's message write: one statement, one round trip, its own transaction.

Sent outside any transaction block, the statement commits by itself, all of it or none, and
the account's offset counter stays locked only inside the server, from the statement's
UPDATE to its commit: no client round trip happens while it is held. The event's payload is
the exact bytes `events.encode` makes (`PayloadTemplate`). Not here: the connection pool and
telling the relay (`postgres.PostgresStore`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from livedesk.api.schemas import MessageCreate, MessageOut
from livedesk.api.store.base import Posted, sender_type
from livedesk.api.store.errors import NotFound
from livedesk.shared.events import MessageData, MessageKind, NewMessage, encode

# Stand-ins for the numbers the statement assigns, far beyond any real id or offset so that
# they cannot be confused with a real value. Each is looked for with its JSON key and the
# key's quotes: a message's content can not contain that, because its quotes are escaped.
_OFFSET, _ID, _SENDER = (
    9_100_000_000_000_000_001,
    9_100_000_000_000_000_002,
    9_100_000_000_000_000_003,
)

# 1. `conv` finds the conversation in the account and locks it: the lock an UPDATE would
#    take, and taken first (every writer locks a conversation before the account's counter,
#    so two writers never wait on each other in a cycle); no row: "not found".
# 2. `msg` inserts the message, ON CONFLICT DO NOTHING on (conversation, client_id): a retry,
#    or a concurrent post of the same client_id, inserts nothing and emits nothing (a second,
#    rare round trip then reads the first message, `_FIRST`).
# 3. `touched` moves the conversation's last activity to the message's time, only if a
#    message was inserted, and unless an earlier message is later (an import of an older
#    message; the EXISTS sees the messages before this one, the statement's snapshot).
# 4. `counter` takes the account's next offset, only if a message was inserted; a failed
#    statement gives it back, so offsets stay gapless.
# 5. `event` appends `new_message`: Python encoded it once with stand-ins for the three
#    numbers only the statement knows (offset, message id, sender id), and the statement
#    splices their decimal digits in between the template's parts ($10 to $13).
# $9 is the write's time (the event's `ts`); $14 the message's `created_at` (the last
# activity): the same, but for an admin's import dated its original time.
_WRITE = """
WITH conv AS (
    SELECT id, contact_id FROM conversations
    WHERE id = $1 AND account_id = $2
    FOR NO KEY UPDATE
), msg AS (
    INSERT INTO messages
        (account_id, conversation_id, kind, content, sender_type, sender_id, client_id,
         created_at)
    SELECT $2, conv.id, $3, $4, $5, CASE WHEN $6 THEN conv.contact_id ELSE $7 END, $8, $14
    FROM conv
    ON CONFLICT (conversation_id, client_id) DO NOTHING
    RETURNING id, sender_id
), touched AS (
    UPDATE conversations SET last_activity_at = CASE
        WHEN conversations.last_activity_at > $14 AND EXISTS (
            SELECT 1 FROM messages WHERE messages.conversation_id = $1
        ) THEN conversations.last_activity_at
        ELSE $14 END
    FROM msg WHERE conversations.id = $1
    RETURNING conversations.id
), counter AS (
    UPDATE account_offsets SET last_offset = account_offsets.last_offset + 1
    FROM msg WHERE account_offsets.account_id = $2
    RETURNING account_offsets.last_offset
), event AS (
    INSERT INTO events (account_id, "offset", type, conversation_id, ts, payload)
    SELECT $2, counter.last_offset, 'new_message', $1, $9,
        $10::bytea || convert_to(counter.last_offset::text, 'UTF8')
        || $11::bytea || convert_to(msg.id::text, 'UTF8')
        || $12::bytea || convert_to(msg.sender_id::text, 'UTF8')
        || $13::bytea
    FROM counter, msg
    RETURNING "offset"
)
SELECT conv.contact_id, msg.id, msg.sender_id, (SELECT "offset" FROM event) AS "offset"
FROM conv LEFT JOIN msg ON true
"""

_FIRST = """
SELECT id, account_id, conversation_id, kind, content, sender_type, sender_id, client_id,
    created_at
FROM messages WHERE conversation_id = $1 AND client_id = $2
"""


class PayloadTemplate:
    """An encoded event cut around the numbers it still lacks: `parts` has one more item
    than the numbers, and joining parts and digits alternately gives `encode`'s bytes."""

    def __init__(self, event: NewMessage) -> None:
        encoded = encode(event)
        parts: list[bytes] = []
        rest = encoded
        for key, stand_in in ((b"offset", _OFFSET), (b"id", _ID), (b"sender_id", _SENDER)):
            marker = b'"' + key + b'":' + str(stand_in).encode()
            if encoded.count(marker) != 1 or marker not in rest:
                # The numbers must come once each and in this order (the envelope's offset,
                # then the message's id, then its sender): the statement splices them so.
                raise ValueError(f"cannot template {key!r} in {encoded[:200]!r}")
            head, rest = rest.split(marker)
            parts.append(head + marker[: -len(str(stand_in))])
        parts.append(rest)
        self.parts = tuple(parts)

    def fill(self, offset: int, message_id: int, sender_id: int) -> bytes:
        """What the statement computes; for tests."""
        first, second, third, last = self.parts
        numbers = (str(offset).encode(), str(message_id).encode(), str(sender_id).encode())
        return first + numbers[0] + second + numbers[1] + third + numbers[2] + last


def template_event(
    account_id: int,
    conversation_id: int,
    kind: MessageKind,
    content: str,
    client_id: str | None,
    now: datetime,
    created_at: datetime,
) -> NewMessage:
    """The event the write will emit, with stand-ins for what the statement assigns."""
    return NewMessage(
        offset=_OFFSET,
        account_id=account_id,
        conversation_id=conversation_id,
        ts=now,
        data=MessageData(
            id=_ID,
            conversation_id=conversation_id,
            kind=kind,
            content=content,
            sender_type=sender_type(kind),
            sender_id=_SENDER,
            client_id=client_id,
            created_at=created_at,
        ),
    )


async def write_message(
    driver: Any,
    account_id: int,
    user_id: int,
    conversation_id: int,
    body: MessageCreate,
    now: datetime,
    created_at: datetime,
) -> tuple[Posted, int | None]:
    """Write on `driver` (an asyncpg connection, no transaction open): what was posted, and
    the offset of its event (None: nothing was written, a client_id's retry)."""
    kind, content, client_id = body.kind, body.content, body.client_id
    template = PayloadTemplate(
        template_event(account_id, conversation_id, kind, content, client_id, now, created_at)
    )
    # asyncpg prepares the statement once per connection and caches it.
    row = await driver.fetchrow(
        _WRITE,
        conversation_id,
        account_id,
        kind.value,
        content,
        sender_type(kind).value,
        kind is MessageKind.INCOMING,
        user_id,
        client_id,
        now,
        *template.parts,
        created_at,
    )
    if row is None:
        raise NotFound("conversation", conversation_id)
    if row["id"] is None:
        # Only a client_id conflict inserts nothing in a conversation that exists.
        first = await driver.fetchrow(_FIRST, conversation_id, client_id)
        assert first is not None, "a conflict on client_id leaves the first message"
        return Posted(MessageOut.model_validate(dict(first)), created=False), None
    message = MessageOut(
        id=row["id"],
        account_id=account_id,
        conversation_id=conversation_id,
        kind=kind,
        content=content,
        sender_type=sender_type(kind),
        sender_id=row["sender_id"],
        client_id=client_id,
        created_at=created_at,
    )
    return Posted(message, created=True), row["offset"]
