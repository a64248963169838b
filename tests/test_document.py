"""Structure from the cleaners, sentences with boundaries, and chunks of whole sentences."""
from __future__ import annotations

import dataclasses
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.text import Document, clean_document, clean_text, document_sentences, split_sentences
from shared.text.boundaries import headings, spoken_form
from tests.test_cleaning import FORMATS, raw_inputs


def blocks_of(doc: Document) -> list[tuple[str, int, str]]:
    return [(b.kind, b.level, doc.text[b.start:b.end]) for b in doc.blocks]


# --- cleaners ---------------------------------------------------------------------------

def test_markdown_headings_lists_and_paragraphs() -> None:
    doc = clean_document("# Big Title\n\nIntro text. More.\n\n## Part *two*\n\n- first\n- second\n\n1. one\n\nEnd", "markdown")
    assert blocks_of(doc) == [
        ("heading", 1, "Big Title."), ("paragraph", 0, "Intro text. More."), ("heading", 2, "Part two."),
        ("list_item", 0, "first."), ("list_item", 0, "second."), ("list_item", 0, "one."), ("paragraph", 0, "End."),
    ]
    assert doc.title == "Big Title"
    setext = clean_document("Title Here\n==========\n\nBody.", "markdown")
    assert blocks_of(setext)[0] == ("heading", 1, "Title Here.")


def test_html_headings_lists_and_paragraphs() -> None:
    raw = "<article><h2>The <b>News</b></h2><p>One. Two.</p><ul><li>A point</li><li>Another</li></ul><h3>More</h3>" \
          "<div>Text in a div</div></article>"
    doc = clean_document(raw, "html")
    assert blocks_of(doc) == [
        ("heading", 2, "The News."), ("paragraph", 0, "One. Two."), ("list_item", 0, "A point."),
        ("list_item", 0, "Another."), ("heading", 3, "More."), ("paragraph", 0, "Text in a div."),
    ]
    assert doc.title == "The News"


def test_no_heading_no_title() -> None:
    assert clean_document("<p>Only a paragraph.</p>", "html").title is None
    assert clean_document("Just a sentence.", "text").title is None


@pytest.mark.parametrize(("raw", "expected"), [
    # a short unpunctuated first line followed by a line break is a heading
    ("The Title\nThe body starts here. It goes on.", [("heading", "The Title"), ("paragraph", "The body starts here. It goes on.")]),
    ("Chapter 1\n\nIt was a dark night.", [("heading", "Chapter 1"), ("paragraph", "It was a dark night.")]),
    ("MADISON\n\nTo the People:", [("heading", "MADISON"), ("paragraph", "To the People:")]),
    # not headings: punctuated, the last line, too long, not first in its paragraph
    ("To the People of the State of New York:\nBody.", [("paragraph", "To the People of the State of New York:\nBody.")]),
    ("A sentence.\nAnother.", [("paragraph", "A sentence.\nAnother.")]),
    ("Intro paragraph.\n\nJust a last line", [("paragraph", "Intro paragraph."), ("paragraph", "Just a last line")]),
    ("This first line of a hard-wrapped paragraph runs well over sixty\ncharacters and goes on.",
     [("paragraph", "This first line of a hard-wrapped paragraph runs well over sixty\ncharacters and goes on.")]),
    ("one two three four five six seven eight nine ten eleven\nmore", [("paragraph", "one two three four five six seven eight nine ten eleven\nmore")]),
    ("Body first.\nSecond Line\nThird.", [("paragraph", "Body first.\nSecond Line\nThird.")]),
    ('He said "stop."\nThen left.', [("paragraph", 'He said "stop."\nThen left.')]),
])
def test_plain_text_heading_rule(raw: str, expected: list[tuple[str, str]]) -> None:
    doc = clean_document(raw, "text")
    assert [(kind, text) for kind, _, text in blocks_of(doc)] == expected
    assert doc.text == clean_text(raw, "text")  # the text itself is untouched


def test_document_json_roundtrip() -> None:
    doc = clean_document("# Tïtle\n\nBody — with “quotes”.", "markdown")
    assert Document.from_json(doc.to_json()) == doc


@settings(max_examples=150, deadline=None)
@given(raw=raw_inputs, fmt=st.sampled_from(FORMATS))
def test_blocks_are_ordered_trimmed_and_cover_the_text(raw: str, fmt: str) -> None:
    doc = clean_document(raw, fmt)
    assert doc.text == clean_text(raw, fmt)
    at = 0
    covered = []
    for block in doc.blocks:
        piece = doc.text[block.start:block.end]
        assert block.start >= at and piece and piece == piece.strip()
        assert doc.text[at:block.start].strip() == ""  # only whitespace between blocks
        covered.append(piece)
        at = block.end
    assert doc.text[at:].strip() == ""
    assert (doc.text == "") == (doc.blocks == ())


# --- sentences and boundaries -------------------------------------------------------------

ARTICLE = "# Title\n\nFirst one. What happens next?\n\n## Part\n\n- item one\n- item two\n\nLast words."


def test_each_sentence_carries_the_boundary_after_it_and_its_chapter() -> None:
    doc = clean_document(ARTICLE, "markdown")
    got = [(s.text, s.boundary, s.chapter) for s in document_sentences(doc)]
    assert got == [
        ("Title.", "heading", 0), ("First one.", "sentence", 0), ("What happens next?", "paragraph", 0),
        ("Part.", "heading", 1), ("item one.", "list_item", 1), ("item two.", "list_item", 1),
        ("Last words.", "end", 1),
    ]
    assert headings(doc) == ["Title", "Part"]
    for s in document_sentences(doc):
        assert doc.text[s.start:s.end] == s.text


def test_final_punctuation_reaches_the_engine() -> None:
    doc = clean_document("What happens next?\n\nTo the People:\n\nIt ends!", "text")
    assert [s.spoken for s in document_sentences(doc)] == ["What happens next?", "To the People:", "It ends!"]
    heading = document_sentences(clean_document("MADISON\n\nBody.", "text"))[0]
    assert (heading.spoken, heading.boundary) == ("MADISON.", "heading")


def test_sentences_before_the_first_heading_have_no_chapter() -> None:
    doc = clean_document("Preface here.\n\n# One\n\nText.", "markdown")
    assert [s.chapter for s in document_sentences(doc)] == [-1, 0, 0]


def test_abbreviations_keep_a_sentence_whole() -> None:
    doc = clean_document("Dr. Jones of St. Louis met Mrs. Smith on Jan. 5. Then they left.", "text")
    assert [s.text for s in document_sentences(doc)] == ["Dr. Jones of St. Louis met Mrs. Smith on Jan. 5.", "Then they left."]


@pytest.mark.parametrize(("written", "spoken"), [
    ("He came (briefly) and went.", "He came, briefly, and went."),
    ("A pause — then more.", "A pause, then more."),
    ("A pause – then more.", "A pause, then more."),
    ("Spaced - hyphen and -- double.", "Spaced, hyphen and, double."),
    ("Well-known words stay.", "Well-known words stay."),
    ("(All of it in brackets.)", "All of it in brackets."),
    ("End in brackets (like this).", "End in brackets, like this."),
    ("Ends in a word", "Ends in a word."),
    ("A list [with notes], fine.", "A list, with notes, fine."),
])
def test_clause_marks_in_the_spoken_form(written: str, spoken: str) -> None:
    assert spoken_form(written) == spoken


def test_the_normaliser_makes_the_spoken_form() -> None:
    doc = clean_document("Two sentences here. And here.", "text")
    sentences = document_sentences(doc, normalize=lambda text: text.upper())
    assert [s.spoken for s in sentences] == ["TWO SENTENCES HERE.", "AND HERE."]
    assert [s.text for s in sentences] == ["Two sentences here.", "And here."]


def test_unspeakable_pieces_hand_their_boundary_back() -> None:
    doc = clean_document("A real sentence.\n\n...\n\nAnother one.", "text")
    assert [(s.text, s.boundary) for s in document_sentences(doc)] == [
        ("A real sentence.", "paragraph"), ("Another one.", "end")]


# --- chunks of whole sentences ----------------------------------------------------------------

def sentences_of(text: str, fmt: str = "text") -> list:
    return document_sentences(clean_document(text, fmt))


def spoken_len(chunk: list) -> int:
    return sum(len(s.spoken) for s in chunk) + len(chunk) - 1


def test_chunks_are_whole_sentences_in_order_within_the_limits() -> None:
    sentences = sentences_of(" ".join(f"Sentence number {i} is here." for i in range(60)))
    chunks = split_sentences(sentences, target_chars=200, max_chars=250, first_chars=60)
    assert [s for c in chunks for s in c] == sentences
    assert all(spoken_len(c) <= 250 for c in chunks)
    assert all(spoken_len(c) >= 200 for c in chunks[2:-1])
    assert chunks[0] == sentences[:1] and 30 < spoken_len(chunks[1]) <= 60


def test_the_first_chunk_is_the_first_sentence_then_a_short_one() -> None:
    sentences = sentences_of("# Title\n\n" + "A sentence of the article body. Then more. " * 20, "markdown")
    chunks = split_sentences(sentences, target_chars=500, max_chars=600, first_chars=100)
    assert chunks[0] == sentences[:1] and chunks[0][0].text == "Title."
    assert spoken_len(chunks[1]) <= 100 < spoken_len(chunks[1] + [chunks[2][0]])
    off = split_sentences(sentences, target_chars=500, max_chars=600, first_chars=0)
    assert len(off[0]) > 1  # without a short start the first chunk is a full one


def test_chunks_prefer_to_end_at_a_paragraph() -> None:
    text = "One short sentence here. Two more.\n\nThree is in a new paragraph. Four follows it closely. Five ends."
    chunks = split_sentences(sentences_of(text), target_chars=60, max_chars=80)
    assert chunks[0][-1].boundary == "paragraph"


def test_over_long_sentences_become_clause_pieces() -> None:
    long = "This sentence, which goes on and on, keeps going; it never stops, it rambles, " * 4 + "and ends."
    sentences = sentences_of(long + "\n\nNext.")
    chunks = split_sentences(sentences, target_chars=80, max_chars=100)
    pieces = [s for c in chunks for s in c][:-1]
    assert len(pieces) > 3 and all(len(p.spoken) <= 100 for p in pieces)
    assert [p.boundary for p in pieces] == ["clause"] * (len(pieces) - 1) + ["paragraph"]
    assert " ".join(p.text for p in pieces).split() == long.split()  # nothing lost, nothing repeated
    assert pieces[-1].spoken.endswith(".") and not pieces[0].spoken.endswith(".")
    assert all(p.chapter == -1 for p in pieces)


def test_a_spoken_form_longer_than_the_limit_is_cut_again() -> None:
    sentences = sentences_of("Word " * 30 + "end.")
    longer = [dataclasses.replace(s, spoken=s.spoken * 3) for s in sentences]

    def triple(text: str) -> str:
        return text * 3

    chunks = split_sentences(longer, target_chars=100, max_chars=120, normalize=triple)
    pieces = [s for c in chunks for s in c]
    assert all(len(p.spoken) <= 120 for p in pieces)
    assert " ".join(p.text for p in pieces if p.text).split() == ("Word " * 30 + "end.").split()
    assert any(p.text == "" and p.start == p.end for p in pieces)  # extra spoken cuts carry no written text


@settings(max_examples=100, deadline=None)
@given(raw=raw_inputs, limits=st.tuples(st.integers(5, 200), st.integers(0, 200)))
def test_any_input_packs_into_chunks_within_the_limit(raw: str, limits: tuple[int, int]) -> None:
    max_chars, first = limits[0], limits[1]
    sentences = sentences_of(raw)
    chunks = split_sentences(sentences, target_chars=max(1, max_chars // 2), max_chars=max_chars, first_chars=first)
    assert all(c for c in chunks)
    assert all(len(s.spoken) <= max_chars for c in chunks for s in c)
    assert all(re.search(r"[^\W_]", s.spoken) for c in chunks for s in c)  # no engine call for nothing
    flat = [s for c in chunks for s in c]
    assert [s.start for s in flat] == sorted(s.start for s in flat)
