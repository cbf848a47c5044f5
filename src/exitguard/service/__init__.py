"""The service around the manager: HTTP API, WebSocket stream, status page, alerts, metrics."""
