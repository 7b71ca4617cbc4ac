"""The bus: one interface (`base`), on RabbitMQ (`rabbit`) and in memory (`memory`)."""

from livedesk.shared.bus.base import Bus, Delivery, Message, RestoreCallback, Subscription

__all__ = ["Bus", "Delivery", "Message", "RestoreCallback", "Subscription"]
