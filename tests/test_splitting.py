"""split_text: the guarantees of issue 3, on arbitrary Unicode, the corpus and nasty cases."""
from __future__ import annotations

import re

import pytest
import regex
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.chunking import clean_text, split_text
from shared.text.sentences import WS, sentence_spans

STOPS = set(".!?…。！？")
CLOSERS = "\"'”’»)]」』"
ABBREVIATION_END = re.compile(r"\b(?:Mr|Mrs|Dr|St|vs|e\.g|i\.e|U\.S|[A-Z])\.$")

# Building blocks that hit every rule: abbreviations, numbers, URLs, stops and closers of
# several scripts, clause breaks, whitespace kinds, and multi-code-point grapheme clusters.
PIECES = [
    "word", "Word", "Dr.", "e.g.", "U.S.", "etc.", "No.", "J.", "3.5", "v1.2.3", "a.m.",
    "https://example.com/a.b?c=d", "john.doe@example.org", ".", "!", "?", "…", "...", "。",
    "！", "？", "؟", "”", "’", ")", "»", "」", "(", "“", ";", ",", ":", "—", " - ", "--", " ",
    "  ", "\n", "\n\n", "\t", "\r\n", "\u3000", "\xa0", "👨\u200d👩\u200d👧\u200d👦", "🇫🇷",
    "🇩🇪🇫🇷", "👍🏽", "e\u0301", "a\u0301\u0302\u0303", "ก้", "क्ष", "\u1100\u1161\u11a8",
    "שלום", "مرحبا", "你好", "\u200d", "\u0301", "\u0600",
]
texts = st.lists(
    st.one_of(st.sampled_from(PIECES), st.text(max_size=4), st.integers(0, 400).map("x".__mul__)),
    max_size=120,
).map("".join)


@st.composite
def limits(draw: st.DrawFn, smallest: int = 1) -> dict[str, int]:
    max_chars = draw(st.integers(smallest, 300))
    target_chars = draw(st.integers(1, max_chars))
    first_chars = draw(st.one_of(st.just(0), st.integers(1, 400)))
    return {"target_chars": target_chars, "max_chars": max_chars, "first_chars": first_chars}


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def locate(text: str, chunks: list[str]) -> list[tuple[int, int]]:
    """Each chunk's (start, end) in `text`; fails unless they are in-order verbatim slices."""
    spans, pos = [], 0
    for chunk in chunks:
        start = text.find(chunk, pos)
        assert start >= 0 and not text[pos:start].strip(), "a chunk is not the next slice"
        pos = start + len(chunk)
        spans.append((start, pos))
    assert not text[pos:].strip()
    return spans


def assert_guarantees(text: str, chunks: list[str], max_chars: int) -> None:
    for chunk in chunks:
        assert chunk and chunk == chunk.strip() and len(chunk) <= max_chars
    assert squash("".join(chunks)) == squash(text)
    locate(text, chunks)


def assert_clusters_whole(text: str, chunks: list[str]) -> None:
    """Cuts fall on grapheme-cluster boundaries (or inside whitespace, which is dropped)."""
    bounds = {0} | {m.end() for m in regex.finditer(r"\X", text)}
    for start, end in locate(text, chunks):
        assert start in bounds or text[start - 1].isspace(), (start, text[start - 2:start + 2])
        assert end in bounds or text[end].isspace(), (end, text[end - 2:end + 2])


def longest_cluster(text: str) -> int:
    return max((len(c) for c in regex.findall(r"\X", text)), default=0)


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e, _ in sentence_spans(text)]


# --- properties -------------------------------------------------------------------------

@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(), limits=limits())
def test_guarantees_on_arbitrary_unicode(text: str, limits: dict[str, int]) -> None:
    chunks = split_text(text, **limits)
    assert_guarantees(text, chunks, limits["max_chars"])
    assert split_text(text, **limits) == chunks


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=texts, limits=limits())
def test_guarantees_on_nasty_mixtures(text: str, limits: dict[str, int]) -> None:
    chunks = split_text(text, **limits)
    assert_guarantees(text, chunks, limits["max_chars"])
    assert split_text(text, **limits) == chunks
    if longest_cluster(text) <= limits["max_chars"]:
        assert_clusters_whole(text, chunks)


@settings(max_examples=200, deadline=None)
@given(text=st.text(min_size=1), limits=limits(smallest=8))
def test_clusters_whole_on_arbitrary_unicode(text: str, limits: dict[str, int]) -> None:
    if longest_cluster(text) <= limits["max_chars"]:
        assert_clusters_whole(text, split_text(text, **limits))


@settings(max_examples=100, deadline=None)
@given(text=texts, first_chars=st.integers(1, 300))
def test_short_first_chunk_is_leading_whole_sentences(text: str, first_chars: int) -> None:
    chunks = split_text(text, target_chars=500, max_chars=600, first_chars=first_chars)
    units = sentence_spans(text)
    if not units:
        assert chunks == []
        return
    start, end = locate(text, chunks)[0]
    assert start == units[0][0]
    first_sentence = units[0][1] - units[0][0]
    if first_sentence <= first_chars:
        assert len(chunks[0]) <= first_chars
        inside_long = any(s < end < e and e - s > 600 for s, e, _ in units)
        assert end in {e for _, e, _ in units} or inside_long
    else:
        assert end == units[0][1] or len(chunks[0]) <= 600 < first_sentence


def test_whitespace_class_is_exactly_str_isspace() -> None:
    assert set(regex.findall(rf"[{WS}]", "".join(map(chr, range(0x110000))))) == {
        chr(c) for c in range(0x110000) if chr(c).isspace()
    }


# --- arguments --------------------------------------------------------------------------

@pytest.mark.parametrize(
    "kwargs",
    [
        {"target_chars": 3001, "max_chars": 3000},
        {"target_chars": 0},
        {"target_chars": -5},
        {"max_chars": 0, "target_chars": 0},
        {"max_chars": -1},
        {"first_chars": -1},
    ],
)
def test_invalid_arguments_raise(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        split_text("Some text.", **kwargs)


@pytest.mark.parametrize("text", ["", " ", "\n\n\t \u3000 \n"])
def test_blank_text_gives_no_chunks(text: str) -> None:
    assert split_text(text) == []
    assert split_text(text, first_chars=400) == []


# --- the corpus --------------------------------------------------------------------------

def assert_no_mid_sentence_ends(text: str, chunks: list[str], max_chars: int) -> None:
    long_sentences = [(s, e) for s, e, _ in sentence_spans(text) if e - s > max_chars]
    for chunk, (_, end) in zip(chunks, locate(text, chunks), strict=True):
        at_paragraph_end = end == len(text) or text.startswith("\n\n", end)
        at_sentence_end = chunk.rstrip(CLOSERS)[-1] in STOPS and not ABBREVIATION_END.search(chunk)
        inside_long = any(s < end < e for s, e in long_sentences)
        assert at_paragraph_end or at_sentence_end or inside_long, chunk[-80:]


@pytest.mark.parametrize(
    "limits",
    [
        {"target_chars": 2500, "max_chars": 3000, "first_chars": 400},
        {"target_chars": 2500, "max_chars": 3000},
        {"target_chars": 300, "max_chars": 400, "first_chars": 120},
    ],
)
def test_corpus_chunks_end_at_sentence_ends(corpus: dict[str, str], limits: dict[str, int]) -> None:
    assert len(corpus) == 60
    for text in corpus.values():
        cleaned = clean_text(text, "text")
        chunks = split_text(cleaned, **limits)
        assert_guarantees(cleaned, chunks, limits["max_chars"])
        assert_no_mid_sentence_ends(cleaned, chunks, limits["max_chars"])


def test_corpus_chunks_are_near_target(corpus: dict[str, str]) -> None:
    for text in corpus.values():
        chunks = split_text(clean_text(text, "text"), first_chars=400)
        assert len(chunks[0]) <= 400
        assert all(len(c) >= 1000 for c in chunks[1:-1])


def test_corpus_sentences_never_end_at_abbreviations(corpus: dict[str, str]) -> None:
    for text in corpus.values():
        cleaned = clean_text(text, "text")
        for start, end, ends_paragraph in sentence_spans(cleaned):
            sentence = cleaned[start:end]
            assert ends_paragraph or not ABBREVIATION_END.search(sentence), sentence[-40:]
            assert ends_paragraph or sentence.rstrip(CLOSERS)[-1] in STOPS, sentence[-40:]


def test_corpus_first_essay_opens_with_its_headings(corpus: dict[str, str]) -> None:
    chunks = split_text(clean_text(corpus["federalist-01.txt"], "text"), first_chars=400)
    assert chunks[0].startswith("FEDERALIST. No. 1\n\nGeneral Introduction")
    assert chunks[0].endswith("for the United States of America.")


# --- sentence boundaries ----------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Dr. Smith met Mr. J. R. Jones at 5 p.m. on Jan. 5. They talked.",
            ["Dr. Smith met Mr. J. R. Jones at 5 p.m. on Jan. 5.", "They talked."],
        ),
        ("The U.S. Army grew. It won.", ["The U.S. Army grew.", "It won."]),
        ("Pi is 3.14 and v1.2.3 shipped. Next.", ["Pi is 3.14 and v1.2.3 shipped.", "Next."]),
        (
            "See https://example.com/a.b?c=d.e for more. Mail john.doe@example.org. Thanks!",
            ["See https://example.com/a.b?c=d.e for more.", "Mail john.doe@example.org.", "Thanks!"],
        ),
        (
            "Fruit, e.g. apples, etc. are good. Greens, i.e. kale, etc. Then more.",
            ["Fruit, e.g. apples, etc. are good.", "Greens, i.e. kale, etc.", "Then more."],
        ),
        ("See No. 5 and Fig. 2. I said no. Then left.", ["See No. 5 and Fig. 2.", "I said no.", "Then left."]),
        (
            "\u201cStop!\u201d he said. \u201cWhy?\u201d She asked.",
            ["\u201cStop!\u201d he said.", "\u201cWhy?\u201d", "She asked."],
        ),
        ("(This is it.) Next one.", ["(This is it.)", "Next one."]),
        ("Wait\u2026 what? Well... Fine.", ["Wait\u2026 what?", "Well...", "Fine."]),
        ("你好。我很好！你呢？", ["你好。", "我很好！", "你呢？"]),
        ("مرحبا بك. كيف حالك؟ أنا بخير.", ["مرحبا بك.", "كيف حالك؟", "أنا بخير."]),
        ("שלום לכם. מה שלומכם?", ["שלום לכם.", "מה שלומכם?"]),
        ("Title\n\nBody one. Body two.\n \nEnd", ["Title", "Body one.", "Body two.", "End"]),
        ("你好。\u0301我在。", ["你好。\u0301我在。"]),
    ],
)
def test_sentence_boundaries(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


def test_paragraph_ends_are_marked() -> None:
    text = "Title\n\nBody one. Body two.\n\nEnd"
    assert [p for _, _, p in sentence_spans(text)] == [True, False, True, True]


def test_paragraph_break_is_preferred_over_a_later_sentence_end() -> None:
    text = "A" * 60 + ".\n\n" + "B" * 30 + ". " + "C" * 30 + ". " + "D" * 30 + "."
    chunks = split_text(text, target_chars=100, max_chars=120)
    assert chunks[0] == "A" * 60 + "."


# --- over-long sentences and tokens -----------------------------------------------------

def test_long_sentence_is_cut_at_its_last_clause_break() -> None:
    clauses = [f"clause number {i} goes on" for i in range(300)]
    text = ", ".join(clauses) + "."
    chunks = split_text(text, target_chars=800, max_chars=1000)
    assert_guarantees(text, chunks, 1000)
    assert all(c.endswith(",") for c in chunks[:-1])
    assert all(len(c) > 500 for c in chunks[:-1])


def test_long_sentence_without_clauses_is_cut_between_words() -> None:
    text = " ".join(f"word{i}" for i in range(2000)) + "."
    chunks = split_text(text, target_chars=800, max_chars=1000)
    assert_guarantees(text, chunks, 1000)
    words = set(text.split())
    assert all(set(c.split()) <= words for c in chunks)


def test_fifty_thousand_char_token() -> None:
    text = "Start here. " + "x" * 50_000 + " end."
    chunks = split_text(text)
    assert_guarantees(text, chunks, 3000)
    assert sum(1 for c in chunks if len(c) == 3000) == 16


def test_giant_emoji_token_keeps_every_cluster_whole() -> None:
    family = "👨\u200d👩\u200d👧\u200d👦"
    text = family * 8000 + "🇫🇷" * 5000 + "e\u0301" * 5000
    chunks = split_text(text, target_chars=2500, max_chars=3000)
    assert_guarantees(text, chunks, 3000)
    assert_clusters_whole(text, chunks)
    assert all(len(c) > 2900 for c in chunks[:-1])


def test_cluster_longer_than_max_is_still_cut_to_fit() -> None:
    text = "a" + "\u0301" * 50
    chunks = split_text(text, target_chars=10, max_chars=10)
    assert_guarantees(text, chunks, 10)


def test_first_sentence_longer_than_first_chars_is_the_whole_first_chunk() -> None:
    first = "This opening sentence is rather long, " * 20 + "and ends here."
    text = first + " Short one. Another short one."
    chunks = split_text(text, first_chars=400)
    assert chunks[0] == first
    assert chunks[1] == "Short one. Another short one."


def test_first_sentence_longer_than_max_chars_falls_back_to_the_normal_cut() -> None:
    text = "word " * 1000 + "end. Next sentence."
    chunks = split_text(text, target_chars=500, max_chars=600, first_chars=100)
    assert_guarantees(text, chunks, 600)
    assert len(chunks[0]) > 500


def test_short_first_chunk_takes_the_first_sentences_that_fit() -> None:
    text = "One. Two two. Three three three. " + "Four " * 200 + "end."
    chunks = split_text(text, first_chars=30)
    assert chunks[0] == "One. Two two."


@pytest.mark.parametrize("mark", ["\u0301", "\u200d", "\U0001F3FD"])
def test_a_clause_break_never_splits_a_cluster(mark: str) -> None:
    text = "a" * 14 + "\u2014" + mark + "b" * 17 + "."
    chunks = split_text(text, target_chars=20, max_chars=20)
    assert_guarantees(text, chunks, 20)
    assert_clusters_whole(text, chunks)
