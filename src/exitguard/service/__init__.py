"""The exitguard service: HTTP API, WebSocket event stream, live status page, metrics and alerts."""
