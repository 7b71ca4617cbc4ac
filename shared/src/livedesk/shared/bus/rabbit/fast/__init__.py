"""The RabbitMQ bus's hand-written path: frames encoded and parsed here, past aiormq."""
