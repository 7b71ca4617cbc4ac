"""Livedesk's WebSocket client: live events of an account, resumed with no gap and no duplicate.

client = Client("ws://127.0.0.1:8200/ws", token=lambda: TOKEN)
client.on("new_message", lambda event: print(event["data"]["content"]))
async with client:
    await client.wait_closed()
"""

from livedesk_client.backoff import Backoff
from livedesk_client.client import ANY, Client, Handler, Refused
from livedesk_client.frames import Frame, TypingState
from livedesk_client.machine import State
from livedesk_client.offsets import OffsetCursor
from livedesk_client.tokens import LoginError, TokenProvider, expires_at, password_login

__all__ = [
    "ANY",
    "Backoff",
    "Client",
    "Frame",
    "Handler",
    "LoginError",
    "OffsetCursor",
    "Refused",
    "State",
    "TokenProvider",
    "TypingState",
    "expires_at",
    "password_login",
]
