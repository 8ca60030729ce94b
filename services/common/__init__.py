"""Infrastructure shared by every Shouwen service: settings, database, event store, bus,
metrics. No business rules live here."""
