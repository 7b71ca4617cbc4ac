"""What a search box's text asks for, read once for both databases' full-text search.

The words are the runs of letters and digits (so "ann@example.com" is ann, example and
com, as both databases index an address). When the text ends in a word, that word is taken
as the start of one (a prefix), so a search finds as the agent types: "refu" finds
"refund". Not here: the queries (the store's `search` indexes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

_WORD: Final = re.compile(r"[^\W_]+")
_LAST_WORD: Final = re.compile(r"[^\W_]+$")


@dataclass(frozen=True, slots=True)
class SearchTerms:
    text: str  # as typed, stripped
    words: tuple[str, ...]  # lower-cased, in order; the last is `prefix` if there is one
    head: str  # `text` before `prefix` (all of it without one)
    prefix: str | None  # the word the text ends in, lower-cased


def search_terms(text: str) -> SearchTerms:
    text = text.strip()
    words = tuple(word.lower() for word in _WORD.findall(text))
    last = _LAST_WORD.search(text)
    if last is None:
        return SearchTerms(text, words, text, None)
    return SearchTerms(text, words, text[: last.start()], last.group().lower())
