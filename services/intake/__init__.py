"""Intake: the FastAPI service people use — staff register inquiries and act on cases;
citizens follow their case, rate it and complain; Open311 clients submit and track."""
