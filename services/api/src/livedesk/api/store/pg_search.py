"""Search on PostgreSQL: full-text search with the 'simple' configuration over the GIN
indexes of migration `0004_inbox_search`, whose expressions these must spell exactly.

The text goes through `websearch_to_tsquery` (quotes, "or" and "-" as a search engine
reads them), all of it but the word it ends in, which is matched as a prefix (`:*`).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Final

from sqlalchemy import ColumnElement, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from livedesk.api.models import Contact, Message
from livedesk.api.search_terms import SearchTerms
from livedesk.api.store.search import SNIPPET_WORDS, SearchIndex

# Literal, not bound: a bound configuration would not match the indexes' expressions.
_SIMPLE: Final[ColumnElement[Any]] = literal_column("'simple'::regconfig")
_MESSAGE_VECTOR: Final[ColumnElement[Any]] = literal_column(
    "to_tsvector('simple'::regconfig, messages.content)"
)
_CONTACT_VECTOR: Final[ColumnElement[Any]] = literal_column(
    "to_tsvector('simple'::regconfig, contacts.name || ' ' || coalesce(contacts.email, '') "
    "|| ' ' || translate(coalesce(contacts.email, ''), '@.', '  '))"
)
# Plain text: the page shows it as text, and finds the words itself.
_HEADLINE: Final = (
    f'MaxWords={SNIPPET_WORDS}, MinWords={SNIPPET_WORDS // 2}, ShortWord=0, StartSel="", StopSel=""'
)


def _tsquery(terms: SearchTerms) -> ColumnElement[Any]:
    query: ColumnElement[Any] = func.websearch_to_tsquery(_SIMPLE, terms.head)
    if terms.prefix is not None:
        # Letters and digits only, so quoting it cannot change the query's syntax.
        prefix = func.to_tsquery(_SIMPLE, f"'{terms.prefix}':*")
        query = query.op("&&")(prefix)
    return query


class PgSearchIndex(SearchIndex):
    def matching_messages(self, account_id: int, terms: SearchTerms) -> Any:
        return select(col(Message.conversation_id), col(Message.id)).where(
            col(Message.account_id) == account_id, self.message_match(terms)
        )

    def matching_contacts(self, account_id: int, terms: SearchTerms) -> Any:
        return select(col(Contact.id)).where(
            col(Contact.account_id) == account_id, self.contact_match(terms)
        )

    def message_match(self, terms: SearchTerms) -> ColumnElement[bool]:
        """The condition `ix_messages_search` serves."""
        return _MESSAGE_VECTOR.op("@@")(_tsquery(terms))

    def contact_match(self, terms: SearchTerms) -> ColumnElement[bool]:
        """The condition `ix_contacts_search` serves."""
        return _CONTACT_VECTOR.op("@@")(_tsquery(terms))

    async def snippets(
        self, connection: AsyncConnection, terms: SearchTerms, message_ids: Collection[int]
    ) -> dict[int, str]:
        found = await connection.execute(
            select(
                col(Message.id),
                func.ts_headline(_SIMPLE, col(Message.content), _tsquery(terms), _HEADLINE),
            ).where(col(Message.id).in_(sorted(message_ids)))
        )
        return {row[0]: row[1] for row in found}
