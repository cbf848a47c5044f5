"""Persistent state: app-owned exits, the event journal, holds and recovery state (SQLite)."""
