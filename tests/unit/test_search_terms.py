"""How a search box's text becomes words and a prefix (`search_terms`), the same for both
databases' full-text search."""

from __future__ import annotations

import pytest

from livedesk.api.search_terms import SearchTerms, search_terms


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("refu", SearchTerms("refu", ("refu",), "", "refu")),
        ("  Late Refu ", SearchTerms("Late Refu", ("late", "refu"), "Late ", "refu")),
        # Ending in anything but a letter or digit: every word is whole.
        ("refund.", SearchTerms("refund.", ("refund",), "refund.", None)),
        (
            '"late delivery"',
            SearchTerms('"late delivery"', ("late", "delivery"), '"late delivery"', None),
        ),
        # An address is its parts, as both databases index one; the last part is a prefix.
        (
            "ann@example.com",
            SearchTerms("ann@example.com", ("ann", "example", "com"), "ann@example.", "com"),
        ),
        # Underscores split words (neither database keeps them in one).
        ("order_12", SearchTerms("order_12", ("order", "12"), "order_", "12")),
        ("Ärger über", SearchTerms("Ärger über", ("ärger", "über"), "Ärger ", "über")),
        ("?!", SearchTerms("?!", (), "?!", None)),
    ],
)
def test_words_and_the_prefix(text: str, expected: SearchTerms) -> None:
    assert search_terms(text) == expected
