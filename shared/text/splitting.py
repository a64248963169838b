"""Split cleaned text into provider-safe chunks of whole sentences.

Two thresholds: sentences are collected into a buffer that is flushed once it reaches
`target_chars`, and flushed *before* a sentence that would push it past `max_chars`. A flush
cuts at the buffer's last paragraph break when that keeps at least half the goal, else after
the last sentence. A sentence longer than `max_chars` is cut at its last clause break
(`;` `:` `,` dash) in the second half of the window, else at its last whitespace, else at its
last grapheme-cluster boundary. Only a single grapheme cluster longer than `max_chars`
(pathological stacks of combining marks) is cut between code points, so that no chunk can
ever exceed the provider's limit.

Lengths are code points. Each chunk is a verbatim slice of the input with the whitespace at
its ends removed, so nothing is lost, duplicated or reordered. Everything is linear in the
length of the text and depends only on the arguments.
"""
from __future__ import annotations

from collections.abc import Iterator

import regex

from shared.text.sentences import NO_CUT_BEFORE, WS, Span, sentence_spans, trim

_CLAUSE_BREAK = regex.compile(
    rf"(?:[;:,](?=[{WS}])|[\u2013\u2014\u2015]++|(?<=[{WS}])-{{1,2}}(?=[{WS}])|-{{2,}}+)"
    rf"(?![{NO_CUT_BEFORE}])",
    regex.REVERSE,
)
_SPACE = regex.compile(rf"[{WS}]", regex.REVERSE)
_GRAPHEME = regex.compile(r"\X")


def split_text(
    text: str, *, target_chars: int = 2500, max_chars: int = 3000, first_chars: int = 0
) -> list[str]:
    """Chunks of whole sentences, each non-empty, trimmed and at most `max_chars` long.

    `first_chars > 0` makes the first chunk short (the first sentence or few, at most
    `first_chars` when a sentence boundary allows) so that audio can start sooner.
    """
    if target_chars <= 0 or max_chars <= 0:
        raise ValueError("target_chars and max_chars must be positive")
    if target_chars > max_chars:
        raise ValueError("target_chars must not exceed max_chars")
    if first_chars < 0:
        raise ValueError("first_chars must be 0 (off) or positive")
    units: list[Span] = []
    for start, end, ends_paragraph in sentence_spans(text):
        pieces = list(_pieces(text, start, end, max_chars))
        units.extend((s, e, False) for s, e in pieces[:-1])
        units.append((*pieces[-1], ends_paragraph))
    return _Packer(text, target_chars, max_chars, first_chars).pack(units)


def _pieces(text: str, start: int, end: int, max_chars: int) -> Iterator[tuple[int, int]]:
    """Cut the sentence [start, end) into trimmed spans of at most `max_chars`."""
    while end - start > max_chars:
        cut = _cut(text, start, max_chars)
        yield trim(text, start, cut)
        start, _ = trim(text, cut, end)
    yield start, end


def _cut(text: str, start: int, max_chars: int) -> int:
    limit = start + max_chars
    clause = _CLAUSE_BREAK.search(text, start + max_chars // 2, limit)
    if clause is not None:
        return clause.end()
    space = _SPACE.search(text, start + 1, limit + 1)
    if space is not None:
        return space.start()
    boundary = start
    for cluster in _GRAPHEME.finditer(text, start):
        if cluster.end() > limit:
            break
        boundary = cluster.end()
    return boundary if boundary > start else limit


class _Packer:
    """Greedy two-threshold packing of sentence spans into chunks."""

    def __init__(self, text: str, target_chars: int, max_chars: int, first_chars: int) -> None:
        self.text = text
        self.target_chars = target_chars
        self.max_chars = max_chars
        self.first_chars = first_chars
        self.chunks: list[str] = []
        self.buffer: list[Span] = []

    def pack(self, units: list[Span]) -> list[str]:
        for unit in units:
            while self.buffer and unit[1] - self.buffer[0][0] > self._cap():
                self._flush()
            self.buffer.append(unit)
            while self.buffer and self.buffer[-1][1] - self.buffer[0][0] >= self._goal():
                self._flush()
        while self.buffer:
            self._flush()
        return self.chunks

    def _short_first(self) -> bool:
        return self.first_chars > 0 and not self.chunks

    def _goal(self) -> int:
        return min(self.first_chars, self.target_chars) if self._short_first() else self.target_chars

    def _cap(self) -> int:
        return min(self.first_chars, self.max_chars) if self._short_first() else self.max_chars

    def _flush(self) -> None:
        """Emit a chunk from the buffer's head, ending at a paragraph break if one is good."""
        buffer = self.buffer
        take = len(buffer)
        for i in range(len(buffer) - 1, -1, -1):
            if buffer[i][2]:
                if buffer[i][1] - buffer[0][0] >= self._goal() // 2:
                    take = i + 1
                break
        self.chunks.append(self.text[buffer[0][0]:buffer[take - 1][1]])
        del buffer[:take]
