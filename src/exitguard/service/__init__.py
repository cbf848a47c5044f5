"""exitguard as a service: HTTP API, live status page, metrics and alerts."""
