"""Business rules of first-inquiry responsibility, in plain Python (no Kafka, FastAPI or
psycopg): the case's state folded from its events, which actions are allowed when, and the
language a responder may never use. Every service runs the same rules."""
