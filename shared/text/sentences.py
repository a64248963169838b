"""Paragraph and sentence boundaries, found in one linear pass.

A paragraph ends at a blank line. A sentence ends after `.` `!` `?` `…` (and a few other
scripts' stops) plus any closing quotes or brackets, when whitespace or the end of the text
follows; after the CJK stops `。！？` no whitespace is needed. It does not end:
- inside numbers, URLs and emails (`3.5`, `v1.2.3`, `example.com/a.b`): no whitespace follows;
- when the next word starts with a lowercase letter (`"Really?" she asked`, `etc. and`);
- after titles, Latin abbreviations, initials and dotted acronyms (`Dr.`, `e.g.`, `J.`, `U.S.`);
- after `etc.`, `No.`, `Jan.`, `a.m.` and the like unless the next word is capitalised
  (`No. 5` continues, `I said no. Then` ends).
It never ends inside a grapheme cluster (a stop followed by a combining mark stays whole).
"""
from __future__ import annotations

import regex

# Exactly the characters for which str.isspace() is true (what str.strip() and re's \s use),
# so boundaries, stripping and the "nothing lost modulo whitespace" check all agree.
WS = "\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_HSPACE = WS.replace("\n", "")
# A cut just before one of these would split a grapheme cluster.
NO_CUT_BEFORE = r"\p{GCB=Extend}\p{GCB=ZWJ}\p{GCB=SpacingMark}"

_STOPS = ".!?…‼⁇⁈⁉؟۔।"
_CJK_STOPS = "。！？"
_CLOSERS = "\"'”’»›)\\]}」』】〕〉》）］｝"
_OPENERS = "\"'“‘«‹(\\[{「『【〔〈《（［｛¿¡"

_BOUNDARY = regex.compile(
    rf"(?P<para>\n(?:[{_HSPACE}]*+\n)++)"
    rf"|[{_STOPS}{_CJK_STOPS}]++[{_CLOSERS}]*+(?![{NO_CUT_BEFORE}])"
)
_NEXT_CHAR = regex.compile(rf"[{WS}]*+[{_OPENERS}]*+(.)", regex.DOTALL)
_FIRST_SOLID = regex.compile(rf"[^{WS}]")
_LAST_SOLID = regex.compile(rf"[^{WS}]", regex.REVERSE)
_INITIALS = regex.compile(r"(?:\p{L}\.)*\p{L}")  # J, U.S, e.g, a.m (the final dot is the stop)

# Never end a sentence (they precede a name or an example).
_NEVER_END = frozenset({
    "mr", "mrs", "ms", "mx", "dr", "prof", "st", "mt", "rev", "hon", "gen", "col", "capt", "lt",
    "sgt", "gov", "sen", "rep", "pres", "messrs", "mme", "mlle", "vs", "e.g", "i.e", "cf", "viz",
    "u.s", "u.k",
})
# End a sentence only when a capitalised word follows.
_END_BEFORE_CAPITAL = frozenset({
    "etc", "jr", "sr", "inc", "ltd", "co", "corp", "bros", "al", "ibid", "a.m", "p.m", "no",
    "nos", "vol", "vols", "pp", "ch", "chap", "sec", "art", "fig", "figs", "ed", "eds", "est",
    "dept", "approx", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct",
    "nov", "dec",
})
_WORD_LOOKBACK = 12  # longer than any abbreviation above

Span = tuple[int, int, bool]  # (start, end, ends_paragraph), no whitespace at either end


def sentence_spans(text: str) -> list[Span]:
    """Sentences of `text` in order, as trimmed (start, end, ends_paragraph) spans."""
    spans: list[Span] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        if m.group("para") is not None:
            _add(spans, text, start, m.start(), True)
            start = m.end()
        elif _ends_sentence(text, m.start(), m.end()):
            _add(spans, text, start, m.end(), False)
            start = m.end()
    _add(spans, text, start, len(text), True)
    return spans


def trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink [start, end) past whitespace at both ends; (x, x) when nothing else is left."""
    first = _FIRST_SOLID.search(text, start, end)
    if first is None:
        return start, start
    last = _LAST_SOLID.search(text, first.start(), end)
    return first.start(), last.end()


def _add(spans: list[Span], text: str, start: int, end: int, ends_paragraph: bool) -> None:
    start, end = trim(text, start, end)
    if start < end:
        spans.append((start, end, ends_paragraph))
    elif ends_paragraph and spans:
        s, e, _ = spans[-1]
        spans[-1] = (s, e, True)


def _ends_sentence(text: str, start: int, end: int) -> bool:
    stops = text[start:end].rstrip(_CLOSERS)
    if stops[-1] in _CJK_STOPS:
        return True
    if end < len(text) and not text[end].isspace():
        return False
    following = _NEXT_CHAR.match(text, end)
    if following is None:
        return True
    nxt = following.group(1)
    if nxt.islower():
        return False
    if stops == "." and end - start == 1:
        return not _is_abbreviation(_word_before(text, start), nxt)
    return True


def _word_before(text: str, pos: int) -> str:
    tail = text[max(0, pos - _WORD_LOOKBACK):pos]
    words = tail.split()
    if not words or tail[-1].isspace():
        return ""
    if len(words) == 1 and len(tail) == _WORD_LOOKBACK and pos > _WORD_LOOKBACK:
        return ""  # a long word: no abbreviation
    return words[-1].lstrip(_OPENERS)


def _is_abbreviation(word: str, next_char: str) -> bool:
    key = word.lower()
    if key in _END_BEFORE_CAPITAL:
        return not next_char.isupper()
    return key in _NEVER_END or _INITIALS.fullmatch(word) is not None
