"""clean_text: plain text, Markdown and HTML become what a listener should hear."""
from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.chunking import clean_text

FORMATS = ["text", "markdown", "html"]
MARKUP_BITS = [
    "<", ">", "</", "<p>", "</p>", "<div>", "<script>", "</script>", "<!--", "-->", "&amp;",
    "&#0;", "&#xD800;", "<![CDATA[", "]]>", "#", "*", "_", "`", "```", "[", "](", ")", "|",
    "---", "\n", "\r", "\x00", "\ud800", "https://example.com/a?b=c", "e\u0301", "👨\u200d👩\u200d👧",
]
raw_inputs = st.one_of(
    st.text(),
    st.lists(st.one_of(st.sampled_from(MARKUP_BITS), st.text(max_size=5)), max_size=60).map("".join),
)


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


# --- properties -------------------------------------------------------------------------

@settings(max_examples=150, deadline=None)
@given(raw=raw_inputs, fmt=st.sampled_from(FORMATS))
def test_any_input_gives_clean_text_and_never_raises(raw: str, fmt: str) -> None:
    text = clean_text(raw, fmt)
    assert text == text.strip()
    assert unicodedata.is_normalized("NFC", text)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufeff]", text)
    assert "\n\n\n" not in text and "  " not in text
    assert not re.search(r" \n|\n ", text)
    assert text == "" or re.search(r"[^\W_]", text)


@settings(max_examples=150, deadline=None)
@given(raw=raw_inputs)
def test_plain_text_cleaning_is_idempotent(raw: str) -> None:
    once = clean_text(raw, "text")
    assert clean_text(once, "text") == once


def test_unknown_format_raises() -> None:
    with pytest.raises(ValueError):
        clean_text("hello", "rtf")
    with pytest.raises(ValueError):
        clean_text("", "TEXT")


BLANK = ["", "   ", "\n\t\r\n \u3000", "\x00\x01\x02", "...!?", "<<<>>>"]
MARKUP_ONLY = {
    "markdown": ["```\ncode only\n```", "    indented code", "---\n***", "![](pic.png)", "<!-- x -->"],
    "html": [
        "<div><span></span></div>", "<script>alert(1)</script>", "<style>p{}</style><!-- x -->",
        "<html><body><nav>Menu</nav></body></html>", "</p></div>", "<pre>code only</pre>",
    ],
}


@pytest.mark.parametrize(
    ("fmt", "raw"),
    [(fmt, raw) for fmt in FORMATS for raw in BLANK]
    + [(fmt, raw) for fmt, raws in MARKUP_ONLY.items() for raw in raws],
)
def test_bad_input_gives_empty_string(fmt: str, raw: str) -> None:
    assert clean_text(raw, fmt) == ""


def test_corpus_text_loses_nothing_but_whitespace(corpus: dict[str, str]) -> None:
    for raw in corpus.values():
        assert squash(clean_text(raw, "text")) == squash(raw)


# --- plain text -------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Cafe\u0301 ole\u0301", "Café olé"),
        ("one\r\ntwo\rthree", "one\ntwo\nthree"),
        ("a\x00b\x07c\ufeffd\u00ade", "abcde"),
        ("  lots \t of\u00a0\u2003 space  ", "lots of space"),
        ("para one\n\n\n\n\npara two", "para one\n\npara two"),
        ("line one  \n  line two", "line one\nline two"),
        ("one\u2029two\u2028three", "one\n\ntwo\nthree"),
        ("family 👨\u200d👩\u200d👧\u200d👦 and 🇫🇷", "family 👨\u200d👩\u200d👧\u200d👦 and 🇫🇷"),
        ("שלום עולם. مرحبا بالعالم.", "שלום עולם. مرحبا بالعالم."),
    ],
)
def test_plain_text_normalisation(raw: str, expected: str) -> None:
    assert clean_text(raw, "text") == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Visit https://www.example.com/a/b?c=1#top.", "Visit example.com."),
        ("See http://en.wikipedia.org/wiki/Foo_(bar)) now", "See en.wikipedia.org) now"),
        ("(see http://en.wikipedia.org/wiki/Foo_(bar))", "(see en.wikipedia.org)"),
        ("Mail <https://lists.example.org/path/x> today", "Mail lists.example.org today"),
        ("Go to www.python.org/downloads, then", "Go to python.org, then"),
        ("Go to example.com/path/to/page?x=1!", "Go to example.com!"),
        ("ftp://files.example.net:21/pub/file.tar.gz", "files.example.net"),
        ("Write to john.doe@example.org.", "Write to john.doe@example.org."),
        ("Use 3.5/4 and/or e.g./i.e. wisely.", "Use 3.5/4 and/or e.g./i.e. wisely."),
        ("Plain example.com stays.", "Plain example.com stays."),
    ],
)
def test_bare_urls_are_read_as_their_host(raw: str, expected: str) -> None:
    assert clean_text(raw, "text") == expected


# --- markdown ---------------------------------------------------------------------------

def test_markdown_keeps_what_a_listener_should_hear() -> None:
    raw = """# A *Great* Title

Some **bold**, _emphasis_ and ~~struck~~ words with `inline code`.
A [link text](https://example.com/secret/path) and a bare https://www.example.org/x?y=z.

- first item
- second item!
  1. nested item

```python
print("never read")
```

    indented code, never read

> A quoted thought

![alt text](https://example.com/image.png)

| Name | Age |
|------|-----|
| Ann  | 30  |

Line one\\
line two &amp; more
"""
    assert clean_text(raw, "markdown") == (
        "A Great Title.\n\n"
        "Some bold, emphasis and struck words with inline code. "
        "A link text and a bare example.org.\n\n"
        "first item.\n\nsecond item!\n\nnested item.\n\n"
        "A quoted thought.\n\n"
        "Name, Age.\n\nAnn, 30.\n\n"
        "Line one\nline two & more."
    )


def test_markdown_never_reads_a_link_url() -> None:
    text = clean_text("[click here](https://evil.example.com/track?id=1) or <https://a.io/b>", "markdown")
    assert text == "click here or a.io."


def test_markdown_raw_html_is_read_as_html() -> None:
    raw = "Intro.\n\n<div>\n<script>var x = 1;</script>\n<p>Inside <b>html</b></p>\n</div>\n"
    assert clean_text(raw, "markdown") == "Intro.\n\nInside html."
    inline = "Text <script>alert(1)</script> and <style>p {}</style><b>bold</b> more"
    assert clean_text(inline, "markdown") == "Text and bold more."


# --- html -------------------------------------------------------------------------------

PAGE = """<!doctype html>
<html><head><title>Site title</title><style>body { color: red }</style>
<script>track()</script></head>
<body>
<header><a href="/">Home</a> | <a href="/about">About</a></header>
<nav><ul><li>Menu one</li><li>Menu two</li></ul></nav>
<article>
  <header><h1>The   Headline</h1></header>
  <p>First <em>para</em>graph with a <a href="https://x.com/secret">link</a>.</p>
  <!-- a comment -->
  <p>Second&nbsp;paragraph &amp; more<br>on a new line</p>
  <ul><li>Point one</li><li>Point two</li></ul>
  <pre><code>code();</code></pre>
  <div hidden>Hidden text</div>
  <div aria-hidden="true">Decoration</div>
  <p>Read https://www.example.com/x/y too.</p>
  <footer>Share this</footer>
</article>
<aside>Related links</aside>
<footer>Copyright</footer>
</body></html>"""


def test_html_extracts_the_article() -> None:
    assert clean_text(PAGE, "html") == (
        "The Headline.\n\n"
        "First paragraph with a link.\n\n"
        "Second paragraph & more\non a new line.\n\n"
        "Point one.\n\nPoint two.\n\n"
        "Read example.com too."
    )


def test_html_without_article_uses_the_body_minus_boilerplate() -> None:
    raw = "<body><header>Logo</header><div>One</div><div>Two <span>three</span></div><footer>F</footer></body>"
    assert clean_text(raw, "html") == "One.\n\nTwo three."


def test_html_fragment_and_invalid_html() -> None:
    assert clean_text("<p>Unclosed <b>bold <i>text", "html") == "Unclosed bold text."
    assert clean_text("Just text & <b>a tag</b>", "html") == "Just text & a tag."
    assert clean_text("</div></div><p>Stray</span> closers", "html") == "Stray closers."


def test_html_tables_read_row_by_row() -> None:
    raw = "<table><tr><th>Name</th><th>Age</th></tr><tr><td>Ann</td><td>30</td></tr></table>"
    assert clean_text(raw, "html") == "Name\nAge.\n\nAnn\n30."


def test_deeply_nested_html_does_not_raise() -> None:
    raw = "<div>" * 20_000 + "deep" + "</div>" * 20_000
    assert clean_text(raw, "html") in {"", "deep."}
    assert clean_text("<" * 50_000, "html") == ""
