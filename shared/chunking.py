"""Compatibility re-exports: the text stages live in `shared.text`."""
from __future__ import annotations

from shared.text import clean_text, split_text

__all__ = ["clean_text", "split_text"]
