"""Turn a raw article (plain text, Markdown or HTML) into the `Document` a listener should hear.

Every format ends in the same normalisation: control characters and lone surrogates dropped,
line endings unified, NFC, runs of spaces collapsed, at most one blank line (the paragraph
break) in a row. Markdown and HTML blocks (headings, list items, table rows, paragraphs)
become paragraphs of their own and get a full stop when they end in a letter or digit, so
that each is spoken as a sentence.

Structure (`clean_document`): Markdown headings (`#`, setext) and HTML `<h1>`-`<h6>` are
headings with their level, Markdown list items and HTML `<li>` are list items, every other
block is a paragraph. In plain text a block is a paragraph (text between blank lines), except
that a heading is a line that
- is the first line of its paragraph and not the last line of the text,
- is at most 60 characters and 10 words long, with a letter in it,
- does not end in sentence or clause punctuation (`.` `!` `?` `…` `,` `;` `:`, also before a
  closing quote or bracket).
Such a line is a heading (level 1) whether a blank line or a single line break follows it;
the rest of its paragraph is a paragraph of its own. The title is the first heading's text.

Bare URLs, in every format, are read as their host only: `https://www.example.com/a/b?c=1`
becomes `example.com` (a leading `www.` is dropped, the path, query and fragment never read).
A URL is recognised by its scheme (`http`, `https`, `ftp`), a leading `www.`, or a
`domain.tld/` shape; trailing sentence punctuation stays in the text. Emails are kept.

Bad input never raises: anything with no letter or digit left to speak returns "".
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from bs4 import BeautifulSoup, NavigableString, PageElement, Tag
from markdown_it import MarkdownIt
from markdown_it.token import Token

from shared.text.document import Block, BlockKind, Document

FORMATS = ("text", "markdown", "html")

_NEWLINES = re.compile(r"\r\n?|[\x0b\x0c\x85\u2028]")
_UNSPEAKABLE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\u00ad\ud800-\udfff\ufeff\ufffe\uffff]")
_SPACE_RUN = re.compile(r"\s+")
_HSPACE_RUN = re.compile(r"[^\S\n]+")
_LINE_EDGES = re.compile(r" ?\n ?")
_BLANK_LINES = re.compile(r"\n{3,}")
_SPEAKABLE = re.compile(r"[^\W_]")
_BLOCK_END_WORD = re.compile(r"(?<=[^\W_])(?=\n\n|\Z)")
_URL = re.compile(
    r"<?(?<![\w.@/-])(?:(?:https?|ftp)://|www\.)[^\s<>\"']+>?"
    r"|(?<![\w.@/-])(?:[a-z0-9-]++\.)++[a-z]{2,}/[^\s<>\"']*",
    re.IGNORECASE,
)
_URL_TAIL = ".,;:!?'\")]}>"

_SCRIPT_OPEN = re.compile(r"<(?:script|style)\b", re.IGNORECASE)
_SCRIPT_CLOSE = re.compile(r"</(?:script|style)\b", re.IGNORECASE)
_MARKDOWN = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])

_DROP_TAGS = {
    "script", "style", "noscript", "template", "head", "nav", "aside", "footer", "form",
    "button", "select", "textarea", "input", "iframe", "object", "embed", "svg", "canvas",
    "math", "pre", "dialog",
}
_BOILERPLATE_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search"}
_BLOCK_TAGS = {
    "address", "article", "blockquote", "body", "caption", "center", "dd", "details", "div",
    "dl", "dt", "fieldset", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6",
    "header", "hgroup", "hr", "legend", "li", "main", "menu", "ol", "p", "section", "summary",
    "table", "tbody", "tfoot", "thead", "tr", "ul",
}
_BREAKS = {name: ("\n\n", "\n\n") for name in _BLOCK_TAGS} | {
    "br": ("\n", ""), "td": ("", "\n"), "th": ("", "\n"),
}


_HEADING_MAX_CHARS = 60
_HEADING_MAX_WORDS = 10
_UNHEADING_END = re.compile(r"[.!?…,;:][\"'”’»)\]]*$")
_HEADING_TAGS = {f"h{n}": n for n in range(1, 7)}
_EMPTY = Document(text="", blocks=())


@dataclass(frozen=True)
class _Raw:
    """A block as the parser found it, before normalisation."""

    text: str
    kind: BlockKind = "paragraph"
    level: int = 0


def clean_text(raw: str, fmt: str) -> str:
    """The speakable text of `raw` in format `fmt` ("text", "markdown" or "html"); "" if none."""
    return clean_document(raw, fmt).text


def clean_document(raw: str, fmt: str) -> Document:
    """The speakable text of `raw` with its blocks (see the module docstring); empty if none."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    raw = _unify_lines(raw)
    if fmt == "text":
        text = _normalise(raw)
        if not _SPEAKABLE.search(text):
            return _EMPTY
        blocks = tuple(_plain_blocks(text))
        title = next((text[b.start:b.end] for b in blocks if b.kind == "heading"), None)
        return Document(text=text, blocks=blocks, title=title)
    found = _markdown_blocks(raw) if fmt == "markdown" else _html_blocks(raw)
    return _assemble(found)


def _assemble(found: list[_Raw]) -> Document:
    """Normalise each block, give it its full stop, and lay them out one blank line apart."""
    parts: list[str] = []
    blocks: list[Block] = []
    title: str | None = None
    at = 0
    for raw in found:
        for piece in _normalise(raw.text).split("\n\n"):
            if not piece:
                continue
            if raw.kind == "heading" and title is None and _SPEAKABLE.search(piece):
                title = piece
            piece = _BLOCK_END_WORD.sub(".", piece)
            if parts:
                at += 2
            blocks.append(Block(at, at + len(piece), raw.kind, raw.level))
            parts.append(piece)
            at += len(piece)
    text = "\n\n".join(parts)
    if not _SPEAKABLE.search(text):
        return _EMPTY
    return Document(text=text, blocks=tuple(blocks), title=title)


def _plain_blocks(text: str) -> list[Block]:
    """Paragraphs between blank lines; a short unpunctuated first line is a heading."""
    blocks: list[Block] = []
    start = 0
    while start < len(text):
        end = text.find("\n\n", start)
        end = len(text) if end < 0 else end
        line_end = text.find("\n", start, end)
        line_end = end if line_end < 0 else line_end
        if end < len(text) or line_end < end:  # something follows the first line
            if _is_plain_heading(text[start:line_end]):
                blocks.append(Block(start, line_end, "heading", 1))
                start = line_end + 1
                if line_end == end:
                    start = end + 2
                continue
        blocks.append(Block(start, end, "paragraph"))
        start = end + 2
    return blocks


def _is_plain_heading(line: str) -> bool:
    return (len(line) <= _HEADING_MAX_CHARS and len(line.split()) <= _HEADING_MAX_WORDS
            and _SPEAKABLE.search(line) is not None and _UNHEADING_END.search(line) is None)


def _unify_lines(text: str) -> str:
    """Line endings as "\n", control characters and lone surrogates gone (parsers reject them)."""
    return _UNSPEAKABLE.sub("", _NEWLINES.sub("\n", text).replace("\u2029", "\n\n"))


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFC", _unify_lines(text))
    text = _URL.sub(_read_url, text)
    text = _LINE_EDGES.sub("\n", _HSPACE_RUN.sub(" ", text))
    return _BLANK_LINES.sub("\n\n", text).strip()


def _read_url(match: re.Match[str]) -> str:
    url = match.group().lstrip("<")
    opens, closes = url.count("("), url.count(")")  # kept up to date: one pass, however long the tail
    end = len(url)
    while end and url[end - 1] in _URL_TAIL:
        if url[end - 1] == ")":
            if opens >= closes:
                break  # a bracket that belongs to the URL
            closes -= 1
        end -= 1
    url, tail = url[:end], url[end:]
    if not url.lower().startswith(("http://", "https://", "ftp://")):
        url = "http://" + url
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        host = ""
    return host.removeprefix("www.") + tail.replace(">", "")


def _markdown_blocks(raw: str) -> list[_Raw]:
    """One block per heading, list item, paragraph and table row; code blocks left out."""
    blocks: list[_Raw] = []
    row: list[str] | None = None
    heading = 0  # level of the heading being read, 0 outside headings
    list_depth = 0
    for token in _MARKDOWN.parse(raw):
        if token.type == "tr_open":
            row = []
        elif token.type == "tr_close" and row is not None:
            blocks.append(_Raw(", ".join(cell for cell in row if cell.strip())))
            row = None
        elif token.type == "heading_open":
            heading = _HEADING_TAGS.get(token.tag, 1)
        elif token.type == "heading_close":
            heading = 0
        elif token.type == "list_item_open":
            list_depth += 1
        elif token.type == "list_item_close":
            list_depth -= 1
        elif token.type == "inline":
            text = _markdown_inline(token.children or [])
            if row is not None:
                row.append(text)
            elif heading:
                blocks.append(_Raw(text, "heading", heading))
            else:
                blocks.append(_Raw(text, "list_item" if list_depth else "paragraph"))
        elif token.type == "html_block":
            blocks.extend(_html_blocks(token.content))
    return blocks


def _markdown_inline(children: list[Token]) -> str:
    """Link text without its URL, code spans as text; images, raw tags and inline scripts dropped."""
    parts: list[str] = []
    in_script = False
    for token in children:
        if token.type == "html_inline":
            if _SCRIPT_OPEN.match(token.content):
                in_script = True
            elif _SCRIPT_CLOSE.match(token.content):
                in_script = False
        elif in_script:
            continue
        elif token.type in ("text", "code_inline", "text_special"):
            parts.append(token.content)
        elif token.type == "softbreak":
            parts.append(" ")
        elif token.type == "hardbreak":
            parts.append("\n")
    return "".join(parts)


def _html_blocks(raw: str) -> list[_Raw]:
    """Readable blocks of an HTML document or fragment: headings, list items, paragraphs.

    An explicit stack instead of recursion or tree edits: linear even for absurd nesting.
    The text between two block breaks is one block, of the kind of the innermost heading
    or list item it is in.
    """
    soup = BeautifulSoup(raw, "lxml")
    blocks: list[_Raw] = []
    parts: list[str] = []
    # Per open element: its children, its closing break, inside <article>, its block kind.
    root = _Raw("")
    stack: list[tuple[Iterator[PageElement], str, bool, _Raw]] = [(iter([_article_root(soup)]), "", False, root)]

    def add(piece: str, kind: _Raw) -> None:
        if piece.startswith("\n\n"):
            blocks.append(_Raw("".join(parts), kind.kind, kind.level))
            parts.clear()
            piece = piece[2:]
        parts.append(piece)

    while stack:
        children, closing, in_article, kind = stack[-1]
        node = next(children, None)
        if node is None:
            stack.pop()
            add(closing, kind)
        elif isinstance(node, Tag):
            if not _is_boilerplate(node, in_article):
                opening, closing = _BREAKS.get(node.name, ("", ""))
                inner = kind
                if node.name in _HEADING_TAGS:
                    inner = _Raw("", "heading", _HEADING_TAGS[node.name])
                elif node.name == "li":
                    inner = _Raw("", "list_item")
                add(opening, kind)
                stack.append((iter(node.contents), closing, in_article or node.name == "article", inner))
        elif type(node) is NavigableString:  # not comments, CDATA, <rt> ruby readings
            parts.append(_SPACE_RUN.sub(" ", node))
    blocks.append(_Raw("".join(parts)))
    return blocks


def _article_root(soup: BeautifulSoup) -> Tag:
    articles = soup.find_all("article")
    if len(articles) == 1:
        return articles[0]
    return soup.find("main") or soup.body or soup


def _is_boilerplate(tag: Tag, in_article: bool) -> bool:
    if tag.name in _DROP_TAGS or tag.has_attr("hidden"):
        return True
    if tag.get("aria-hidden") == "true" or tag.get("role") in _BOILERPLATE_ROLES:
        return True
    return tag.name == "header" and not in_article
