"""The manager: the asyncio runtime that keeps every position protected (issue 5)."""
