"""The bus on RabbitMQ (`bus`); the hand-written frames path it normally runs on is `fast`."""

from livedesk.shared.bus.rabbit.bus import RabbitBus

__all__ = ["RabbitBus"]
