"""Checks of the files a command is given, worded for the one-line usage error (exit 2)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["file_problem", "folder_problem"]


def file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as an input file, or None when it can."""
    if path.is_dir():
        return f"{path}: is a folder; give the files in it (e.g. {path}/*.zip)"
    if not path.exists():
        return f"{path}: no such file"
    if not os.access(path, os.R_OK):
        return f"{path}: not readable (permission denied)"
    return None


def folder_problem(path: Path) -> str | None:
    """Why ``path`` cannot be used (created if missing) as an output folder, or None."""
    if path.exists() and not path.is_dir():
        return f"{path}: exists and is not a folder"
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        return f"{path}: cannot be written ({probe} is not a writable folder)"
    return None
