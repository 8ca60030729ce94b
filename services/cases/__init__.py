"""Cases on the event store: load a case's state, append its next events, and keep the
writers' case index in the same transaction."""
