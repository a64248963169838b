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

`split_sentences` packs a document's `Sentence`s the same way, measuring what the engine is
sent: the spoken forms, one space between them. With `first_chars > 0` its first chunk is
the first sentence alone (first audio as soon as one sentence is rendered) and the second is
the short one (up to `first_chars`), so a short first sentence such as a title is followed
quickly by more audio. A break after a paragraph, heading, list
item (or the end) is a "paragraph break" for the flush rule. A sentence whose spoken form
is over `max_chars` is cut as above into pieces with boundary `clause` (the last piece keeps
the sentence's boundary); each piece's written text is the matching slice of the sentence.
Should normalisation make a piece's spoken form longer than `max_chars` again, that spoken
form is cut once more and the extra pieces carry no written text (an empty span at the
piece's end), so that no engine request is ever over the limit.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

import regex

from shared.text.boundaries import Normalizer, spoken_form
from shared.text.document import Sentence
from shared.text.normalize import normalize as default_normalize
from shared.text.sentences import NO_CUT_BEFORE, WS, Span, sentence_spans, trim

_CLAUSE_BREAK = regex.compile(
    rf"(?:[;:,](?=[{WS}])|[\u2013\u2014\u2015]++|(?<=[{WS}])-{{1,2}}(?=[{WS}])|-{{2,}}+)"
    rf"(?![{NO_CUT_BEFORE}])",
    regex.REVERSE,
)
_SPACE = regex.compile(rf"[{WS}]", regex.REVERSE)
_GRAPHEME = regex.compile(r"\X")
_SPEAKABLE = regex.compile(r"[^\W_]")


def split_text(
    text: str, *, target_chars: int = 2500, max_chars: int = 3000, first_chars: int = 0
) -> list[str]:
    """Chunks of whole sentences, each non-empty, trimmed and at most `max_chars` long.

    `first_chars > 0` makes the first chunk short (the first sentence or few, at most
    `first_chars` when a sentence boundary allows) so that audio can start sooner.
    """
    _check_limits(target_chars, max_chars, first_chars)
    units: list[Span] = []
    for start, end, ends_paragraph in sentence_spans(text):
        pieces = list(_pieces(text, start, end, max_chars))
        units.extend((s, e, False) for s, e in pieces[:-1])
        units.append((*pieces[-1], ends_paragraph))
    groups = _Packer(target_chars, max_chars, first_chars).pack(units)
    return [text[units[i][0]:units[j - 1][1]] for i, j in groups]


def split_sentences(
    sentences: Sequence[Sentence], *, target_chars: int = 2500, max_chars: int = 3000, first_chars: int = 0,
    normalize: Normalizer = default_normalize,
) -> list[list[Sentence]]:
    """Chunks of whole sentences (see the module docstring); no chunk's spoken text over `max_chars`."""
    _check_limits(target_chars, max_chars, first_chars)
    pieces = [p for sentence in sentences for p in _sentence_pieces(sentence, max_chars, normalize)]
    units: list[Span] = []
    at = 0
    for piece in pieces:
        units.append((at, at + len(piece.spoken), piece.boundary not in ("clause", "sentence")))
        at += len(piece.spoken) + 1
    groups = _Packer(target_chars, max_chars, first_chars, one_unit_first=first_chars > 0).pack(units)
    return [list(pieces[i:j]) for i, j in groups]


def _check_limits(target_chars: int, max_chars: int, first_chars: int) -> None:
    if target_chars <= 0 or max_chars <= 0:
        raise ValueError("target_chars and max_chars must be positive")
    if target_chars > max_chars:
        raise ValueError("target_chars must not exceed max_chars")
    if first_chars < 0:
        raise ValueError("first_chars must be 0 (off) or positive")


def _sentence_pieces(sentence: Sentence, max_chars: int, normalize: Normalizer) -> Iterator[Sentence]:
    """The sentence itself, or its clause pieces when its spoken form is over `max_chars`."""
    if len(sentence.spoken) <= max_chars:
        yield sentence
        return
    written = list(_pieces(sentence.text, *trim(sentence.text, 0, len(sentence.text)), max_chars))
    out: list[Sentence] = []
    for n, (start, end) in enumerate(written):
        spoken = spoken_form(sentence.text[start:end], normalize, final=n == len(written) - 1)
        at = sentence.start + start
        cuts = list(_pieces(spoken, *trim(spoken, 0, len(spoken)), max_chars))
        for k, (s, e) in enumerate(cuts):
            span = (at, sentence.start + end) if k == 0 else (sentence.start + end, sentence.start + end)
            text = sentence.text[start:end] if k == 0 else ""
            out.append(dataclasses.replace(sentence, start=span[0], end=span[1], text=text, spoken=spoken[s:e],
                                           boundary="clause"))
    out = [p for p in out if _SPEAKABLE.search(p.spoken)] or out[-1:]  # no engine call for a lone dash
    out[-1] = dataclasses.replace(out[-1], boundary=sentence.boundary)
    yield from out


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
    """Greedy two-threshold packing of sentence spans into chunks: [start, end) unit indexes."""

    def __init__(self, target_chars: int, max_chars: int, first_chars: int, one_unit_first: bool = False) -> None:
        self.target_chars = target_chars
        self.max_chars = max_chars
        self.first_chars = first_chars
        self.one_unit_first = one_unit_first  # chunk 0 is one unit, chunk 1 the short one
        self.chunks: list[tuple[int, int]] = []
        self.buffer: list[Span] = []
        self.taken = 0  # units already in chunks

    def pack(self, units: list[Span]) -> list[tuple[int, int]]:
        for unit in units:
            while self.buffer and unit[1] - self.buffer[0][0] > self._cap():
                self._flush()
            self.buffer.append(unit)
            if self.one_unit_first and not self.chunks:
                self._flush()
            while self.buffer and self.buffer[-1][1] - self.buffer[0][0] >= self._goal():
                self._flush()
        while self.buffer:
            self._flush()
        return self.chunks

    def _short_first(self) -> bool:
        return self.first_chars > 0 and len(self.chunks) == int(self.one_unit_first)

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
        self.chunks.append((self.taken, self.taken + take))
        self.taken += take
        del buffer[:take]
