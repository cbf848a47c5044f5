"""The manager: the asyncio runtime that keeps every position protected.

Design: design.md "manager"; how it works: docs/guide/manager.md.
"""
