"""The article as the pipeline sees it after cleaning: text, its blocks, and its sentences.

A `Document` is the cleaned text plus the blocks the cleaner recognised (paragraphs,
headings, list items) as character offsets into that text. Sentences are found inside
blocks; each carries the boundary that follows it, which decides the pause the listener
hears after it, and the index of the chapter (heading) it belongs to.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Literal

BlockKind = Literal["paragraph", "heading", "list_item"]
# What follows a sentence: a clause break inside an over-long sentence, the next sentence of
# the same block, the end of a paragraph / heading / list item, or the end of the article.
Boundary = Literal["clause", "sentence", "paragraph", "heading", "list_item", "end"]


@dataclass(frozen=True)
class Block:
    start: int  # offsets into Document.text, no whitespace at either end
    end: int
    kind: BlockKind
    level: int = 0  # heading level (1-6); 0 for other kinds


@dataclass(frozen=True)
class Document:
    text: str
    blocks: tuple[Block, ...]
    title: str | None = None

    def to_json(self) -> str:
        return json.dumps({"text": self.text, "title": self.title, "blocks": [asdict(b) for b in self.blocks]},
                          ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Document:
        obj = json.loads(raw)
        return cls(text=obj["text"], title=obj.get("title"), blocks=tuple(Block(**b) for b in obj["blocks"]))


@dataclass(frozen=True)
class Sentence:
    """One unit the engine speaks: a sentence, or a clause of an over-long one."""

    start: int  # offsets into Document.text
    end: int
    text: str  # as written in the article
    spoken: str  # normalised spoken form, final punctuation kept
    boundary: Boundary  # what follows it
    chapter: int  # index of the heading it falls under; -1 before the first heading
