"""A PATH on which some programs do not exist: a fresh machine's view of this one.

`bare_path(dir, hide)` fills `dir` with symlinks to every program on the current PATH
(first one of each name wins, as the shell would pick it) except those named in `hide`,
and returns `dir` to be used as the whole PATH of a child process.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

# What a machine with only Python 3.11+ lacks: the Debian programs the full setup installs.
OPTIONAL_PROGRAMS = frozenset({
    "redis-server", "redis-cli", "redis-sentinel", "redis-check-aof", "redis-check-rdb", "redis-benchmark",
    "espeak-ng", "espeak", "speak-ng", "ffmpeg", "ffprobe", "ffplay",
    "chromium", "chromium-browser", "google-chrome",
})


def bare_path(directory: Path, hide: Iterable[str] = OPTIONAL_PROGRAMS, path: str | None = None) -> str:
    hidden = set(hide)
    directory.mkdir(parents=True, exist_ok=True)
    for folder in (path if path is not None else os.environ.get("PATH", "")).split(os.pathsep):
        if not folder or not os.path.isdir(folder):
            continue
        for entry in os.scandir(folder):
            name = entry.name
            link = directory / name
            if name in hidden or link.is_symlink() or not os.access(entry.path, os.X_OK) or entry.is_dir():
                continue
            link.symlink_to(entry.path)
    return str(directory)
