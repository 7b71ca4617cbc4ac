"""AMQP topic matching, for the in-memory bus: `*` is one word, `#` zero or more."""

from __future__ import annotations

from functools import lru_cache


def matches(pattern: str, routing_key: str) -> bool:
    return _match(_words(pattern), tuple(routing_key.split(".")))


@lru_cache(maxsize=4096)
def _words(pattern: str) -> tuple[str, ...]:
    return tuple(pattern.split("."))


@lru_cache(maxsize=65_536)
def _match(pattern: tuple[str, ...], key: tuple[str, ...]) -> bool:
    if not pattern:
        return not key
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        # `#` takes zero words, or one word and stays in place to take more.
        return _match(rest, key) or (bool(key) and _match(pattern, key[1:]))
    if not key:
        return False
    return (head == "*" or head == key[0]) and _match(rest, key[1:])
