"""The status port: the HTTP server, the metrics, the dashboard page."""
