"""The leaders' dashboard (server-rendered) and the metrics exporter (``shouwen dashboard``)."""
