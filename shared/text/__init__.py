"""Text stages of the pipeline: cleaning, sentences and their boundaries, splitting into chunks, normalisation."""
from __future__ import annotations

from shared.text.cleaning import clean_text
from shared.text.normalize import normalize
from shared.text.splitting import split_text

__all__ = ["clean_text", "normalize", "split_text"]
