"""Search on SQLite: the FTS5 tables of migration `0004_inbox_search` (`messages_fts`,
`contacts_fts`), which triggers keep in step with their tables.

The query is the words, each quoted (so nothing in them is FTS5 syntax) and all required;
the word the text ends in is matched as a prefix (`*`).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Final

from sqlalchemy import bindparam, column, func, literal_column, select, table, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from livedesk.api.models import Contact, Message
from livedesk.api.search_terms import SearchTerms
from livedesk.api.store.search import SNIPPET_WORDS, SearchIndex

_MESSAGES_FTS: Final = table("messages_fts", column("rowid"))
_CONTACTS_FTS: Final = table("contacts_fts", column("rowid"))
_ELLIPSIS: Final = "\u2026"


def _match(terms: SearchTerms) -> str:
    quoted = [f'"{word}"' for word in terms.words]
    if terms.prefix is not None:
        quoted[-1] += "*"
    return " ".join(quoted)


class SqliteSearchIndex(SearchIndex):
    # The rows come from the FTS table first (an IN on its rowids), then the account's are
    # kept: joined the other way, SQLite ran the match once per contact of the account.
    def matching_messages(self, account_id: int, terms: SearchTerms) -> Any:
        found = select(_MESSAGES_FTS.c.rowid).where(
            text("messages_fts MATCH :messages_match").bindparams(messages_match=_match(terms))
        )
        return select(col(Message.conversation_id), col(Message.id)).where(
            col(Message.id).in_(found), col(Message.account_id) == account_id
        )

    def matching_contacts(self, account_id: int, terms: SearchTerms) -> Any:
        found = select(_CONTACTS_FTS.c.rowid).where(
            text("contacts_fts MATCH :contacts_match").bindparams(contacts_match=_match(terms))
        )
        return select(col(Contact.id)).where(
            col(Contact.id).in_(found), col(Contact.account_id) == account_id
        )

    async def snippets(
        self, connection: AsyncConnection, terms: SearchTerms, message_ids: Collection[int]
    ) -> dict[int, str]:
        # FTS5's snippet: the column's best fragment, plain (no markers around the match).
        snippet = func.snippet(literal_column("messages_fts"), 0, "", "", _ELLIPSIS, SNIPPET_WORDS)
        found = await connection.execute(
            select(_MESSAGES_FTS.c.rowid, snippet)
            .select_from(_MESSAGES_FTS)
            .where(
                text("messages_fts MATCH :match").bindparams(match=_match(terms)),
                _MESSAGES_FTS.c.rowid.in_(bindparam("ids", expanding=True)),
            ),
            {"ids": sorted(message_ids)},
        )
        return {row[0]: row[1] for row in found}
