"""Full-text search as each database does it: which of an account's messages and contacts
match, and a snippet of each matched message. The search's shape (which conversations, in
which order, paged how) is the route's, the same on both (`routes.search`).

Each match is scoped to the account; so is everything the route joins to it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncConnection

from livedesk.api.search_terms import SearchTerms

# About a line of text around the match.
SNIPPET_WORDS: Final = 16


class SearchIndex(ABC):
    @abstractmethod
    def matching_messages(self, account_id: int, terms: SearchTerms) -> Any:
        """A select of (conversation_id, id) of the account's messages that match."""

    @abstractmethod
    def matching_contacts(self, account_id: int, terms: SearchTerms) -> Any:
        """A select of the ids of the account's contacts that match."""

    @abstractmethod
    async def snippets(
        self, connection: AsyncConnection, terms: SearchTerms, message_ids: Collection[int]
    ) -> dict[int, str]:
        """The text around the match in each of these messages (that matched), by id."""
