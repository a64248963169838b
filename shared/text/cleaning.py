"""Turn a raw article (plain text, Markdown or HTML) into the plain text a listener should hear.

Every format ends in the same normalisation: control characters and lone surrogates dropped,
line endings unified, NFC, runs of spaces collapsed, at most one blank line (the paragraph
break) in a row. Markdown and HTML blocks (headings, list items, table rows, paragraphs)
become paragraphs of their own and get a full stop when they end in a letter or digit, so
that each is spoken as a sentence.

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
from urllib.parse import urlsplit

from bs4 import BeautifulSoup, NavigableString, PageElement, Tag
from markdown_it import MarkdownIt
from markdown_it.token import Token

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


def clean_text(raw: str, fmt: str) -> str:
    """The speakable text of `raw` in format `fmt` ("text", "markdown" or "html"); "" if none."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    raw = _unify_lines(raw)
    if fmt == "text":
        text = _normalise(raw)
    else:
        blocks = _markdown_blocks(raw) if fmt == "markdown" else [_html_text(raw)]
        text = _BLOCK_END_WORD.sub(".", _normalise("\n\n".join(blocks)))
    return text if _SPEAKABLE.search(text) else ""


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


def _markdown_blocks(raw: str) -> list[str]:
    """One string per heading, list item, paragraph and table row; code blocks left out."""
    blocks: list[str] = []
    row: list[str] | None = None
    for token in _MARKDOWN.parse(raw):
        if token.type == "tr_open":
            row = []
        elif token.type == "tr_close" and row is not None:
            blocks.append(", ".join(cell for cell in row if cell.strip()))
            row = None
        elif token.type == "inline":
            text = _markdown_inline(token.children or [])
            if row is not None:
                row.append(text)
            else:
                blocks.append(text)
        elif token.type == "html_block":
            blocks.append(_html_text(token.content))
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


def _html_text(raw: str) -> str:
    """Readable text of an HTML document or fragment, blocks separated by blank lines.

    An explicit stack instead of recursion or tree edits: linear even for absurd nesting.
    """
    soup = BeautifulSoup(raw, "lxml")
    parts: list[str] = []
    stack: list[tuple[Iterator[PageElement], str, bool]] = [(iter([_article_root(soup)]), "", False)]
    while stack:
        children, closing, in_article = stack[-1]
        node = next(children, None)
        if node is None:
            stack.pop()
            parts.append(closing)
        elif isinstance(node, Tag):
            if not _is_boilerplate(node, in_article):
                opening, closing = _BREAKS.get(node.name, ("", ""))
                parts.append(opening)
                stack.append((iter(node.contents), closing, in_article or node.name == "article"))
        elif type(node) is NavigableString:  # not comments, CDATA, <rt> ruby readings
            parts.append(_SPACE_RUN.sub(" ", node))
    return "".join(parts)


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
