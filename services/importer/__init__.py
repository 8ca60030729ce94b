"""``shouwen import FILE``: migrate a legacy 台账 (CSV or XLSX) into the event store."""
