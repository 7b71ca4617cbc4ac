"""The errors Livedesk raises on purpose, in one tree.

LivedeskError
├── EventError        bytes that are not a valid event or internal message (unknown type,
│                     oversize content, bad field); carries a stable `code` for error frames
├── RoutingKeyError   a routing key that does not parse
└── BusError          the broker would not take a message within the publish timeout
"""

from __future__ import annotations


class LivedeskError(Exception):
    """Base of every error raised on purpose."""


class EventError(LivedeskError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


class RoutingKeyError(LivedeskError, ValueError):
    pass


class BusError(LivedeskError):
    pass
