"""The service: HTTP API, live status page, Prometheus metrics and alerts around the manager."""
