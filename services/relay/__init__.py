"""The relay: the event store, in commit order, onto Kafka — never skipping, never losing."""
