"""The event store: streams, personal data and sealed text, the pool, migrations, subscriptions."""
