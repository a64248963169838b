"""Placeholder for the spoken-form normaliser (issue 11, item 1), written by another engineer.

It returns the text unchanged; the real module replaces this file at merge with the same
signature. `VERSION` names the rules in the chunk cache identity.
"""
from __future__ import annotations

VERSION = "placeholder-0"


def normalize(text: str, *, language: str = "en") -> str:
    """The text as a careful reader would say it (placeholder: unchanged)."""
    return text
