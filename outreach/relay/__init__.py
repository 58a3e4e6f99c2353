"""The outbox relay: stored outbound messages to Kafka, in order, at least once."""
