"""Text preparation, the first stage of the pipeline: clean an article, split it into chunks."""
from __future__ import annotations

from shared.cleaning import clean_text
from shared.splitting import split_text

__all__ = ["clean_text", "split_text"]
