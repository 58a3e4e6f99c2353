"""Ingest: the Kafka consumer app, batch pipeline, storage, triggers, dead letters, case signals."""
