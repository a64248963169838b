"""A document's sentences, each with the boundary that follows it and its spoken form.

Sentences are found inside each block (`sentence_spans`), so a block edge is always a
sentence edge: the last sentence of a paragraph, heading or list item is followed by that
block's boundary (`paragraph`, `heading`, `list_item`), the very last one by `end`, all
others by `sentence`. A sentence's chapter is the index of the last heading at or before it
(-1 before the first heading).

The spoken form is what the engine receives: `normalize(text)`, then clause marks (round
and square brackets and dashes become commas, which every engine pauses at; Piper and
espeak read brackets and a spaced hyphen without any pause), and a full stop when it ends
in a letter or digit (an unpunctuated plain-text heading gets a falling cadence). Its final
punctuation is always kept. Pieces with nothing to speak (a lone dash, an ellipsis) are
dropped and their boundary goes to the sentence before them.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

from shared.text.document import Block, Boundary, Document, Sentence
from shared.text.normalize import normalize as default_normalize
from shared.text.sentences import sentence_spans

Normalizer = Callable[[str], str]

_BLOCK_BOUNDARY: dict[str, Boundary] = {"paragraph": "paragraph", "heading": "heading", "list_item": "list_item"}
# A stronger boundary wins when two meet (a dropped piece hands its boundary back).
STRENGTH: dict[Boundary, int] = {"clause": 0, "sentence": 1, "list_item": 2, "paragraph": 3, "heading": 4, "end": 5}

_SPEAKABLE = re.compile(r"[^\W_]")
_OPEN = re.compile(r"\s*[(\[]\s*")
_CLOSE = re.compile(r"\s*[)\]]")
_DASH = re.compile(r"\s*[\u2013\u2014\u2015]\s*|\s+-{1,2}(?:\s+|$)|-{2,}")
_COMMA_RUN = re.compile(r"(?:\s*,)+\s*(?=[,.;:!?…]|$)|^\s*,\s*")
_COMMAS = re.compile(r"\s*,(?:\s*,)*\s*")
_ENDS_IN_WORD = re.compile(r"[^\W_]$")


def document_sentences(doc: Document, normalize: Normalizer = default_normalize) -> list[Sentence]:
    """Every sentence of `doc` in order, with boundary, chapter and spoken form."""
    sentences: list[Sentence] = []
    chapter = -1
    for block in doc.blocks:
        if block.kind == "heading":
            chapter += 1
        _block_sentences(doc.text, block, chapter, normalize, sentences)
    if sentences:
        sentences[-1] = dataclasses.replace(sentences[-1], boundary="end")
    return sentences


def headings(doc: Document) -> list[str]:
    """The chapter titles: the text of each heading, in order (a sentence's `chapter` indexes it)."""
    return [doc.text[b.start:b.end].rstrip(".") for b in doc.blocks if b.kind == "heading"]


def spoken_form(text: str, normalize: Normalizer = default_normalize, *, final: bool = True) -> str:
    """What the engine is given for one sentence of the article (`final=False`: a clause piece
    of an over-long one, which gets no full stop)."""
    spoken = normalize(text)
    spoken = _OPEN.sub(", ", spoken)
    spoken = _CLOSE.sub(", ", spoken)
    spoken = _DASH.sub(", ", spoken)
    spoken = _COMMA_RUN.sub("", spoken)
    spoken = _COMMAS.sub(", ", spoken).strip()
    if final and _ENDS_IN_WORD.search(spoken):
        spoken += "."
    return spoken


def _block_sentences(text: str, block: Block, chapter: int, normalize: Normalizer, out: list[Sentence]) -> None:
    body = text[block.start:block.end]
    spans = sentence_spans(body)
    for i, (start, end, _) in enumerate(spans):
        boundary: Boundary = _BLOCK_BOUNDARY[block.kind] if i == len(spans) - 1 else "sentence"
        written = body[start:end]
        spoken = spoken_form(written, normalize)
        if not _SPEAKABLE.search(spoken):
            if out and STRENGTH[boundary] > STRENGTH[out[-1].boundary]:
                out[-1] = dataclasses.replace(out[-1], boundary=boundary)
            continue
        out.append(Sentence(start=block.start + start, end=block.start + end, text=written, spoken=spoken,
                            boundary=boundary, chapter=chapter))
