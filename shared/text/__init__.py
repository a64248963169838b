"""Text stages of the pipeline: cleaning, sentences and their boundaries, splitting into chunks."""
from __future__ import annotations

from shared.text.boundaries import document_sentences
from shared.text.cleaning import clean_document, clean_text
from shared.text.document import Block, Document, Sentence
from shared.text.normalize import normalize
from shared.text.splitting import split_sentences, split_text

__all__ = [
    "Block", "Document", "Sentence", "clean_document", "clean_text", "document_sentences", "normalize",
    "split_sentences", "split_text",
]
