"""Text normalisation: the words a careful reader would say, before an engine sees the text.

`normalize(text, language="en")` drops emoji and other pictographs, applies the rules of the
language (numbers, money, dates, units, abbreviations... as words), and tidies the spaces.
Each language's rules live in their own module (`normalize_en.py`) that exposes
`expand(text) -> str`; `LANGUAGES` maps a primary language subtag to that module, and
`register()` adds one at run time. An unknown language gets the language-neutral steps only.
Sentence punctuation is never added or removed, except the dot of an expanded abbreviation
inside a sentence. The result is a fixed point: normalising it again changes nothing.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import inspect
import logging
import re
from collections.abc import Callable
from functools import lru_cache

import regex

log = logging.getLogger(__name__)

Expand = Callable[[str], str]

# Primary language subtag -> module exposing `expand(text: str) -> str`.
LANGUAGES: dict[str, str] = {"en": "shared.text.normalize_en"}
_loaded: dict[str, Expand | None] = {}

# Pictographs are read by their names ("thumbs up") or as noise: drop whole emoji sequences
# (ZWJ sequences, flags, keycaps, skin tones, tags) but keep the symbols a reader says aloud.
_SPOKEN_SYMBOLS = "©‼⁉"
_PICTO = rf"[[\p{{Extended_Pictographic}}\p{{Emoji_Modifier}}\p{{Regional_Indicator}}]--[{_SPOKEN_SYMBOLS}]]"
_EMOJI = regex.compile(
    rf"(?:{_PICTO}(?:[\uFE0E\uFE0F\u20E3\p{{Emoji_Modifier}}\U000E0020-\U000E007F]|\u200D{_PICTO}?)*"
    r"|[\uFE0E\uFE0F\u20E3*])++",
    regex.V1,
)
_CONTROLS = regex.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|~(?![^\W_])")  # and a tilde before no word
_OTHER_SPACE = re.compile(r"[^\S \n]")  # tabs, no-break spaces, CR...: plain re is faster here
_SPACES = re.compile(r"  +")
_LINE_END_SPACE = re.compile(r" +\n")
_SPACE_BEFORE_STOP = re.compile(r" +(?=[,;:!?…]|\.(?![0-9]))")  # but " .5" is a number


def normalize(text: str, *, language: str = "en") -> str:
    """What a careful reader of `language` would say for `text`, as words. Never raises."""
    if not isinstance(text, str):  # the type says str; anything else is read as its str()
        text = "" if text is None else str(text)
    try:
        out = _neutral(text)
        expand = _rules_for(language)
        if expand is not None:
            out = expand(out)
        return tidy(out)
    except Exception:  # a last resort: a bad rule must not fail a job
        log.exception("normalize failed; using the text with neutral steps only")
        try:
            return tidy(_neutral(text))
        except Exception:
            return text


def register(language: str, expand: Expand | None) -> None:
    """Use `expand` for `language` (a primary subtag such as "de") from now on; None: neutral steps only."""
    _loaded[_primary(language)] = expand
    version.cache_clear()


@lru_cache(maxsize=64)
def version(language: str = "en") -> str:
    """Names the exact normalisation `language` gets, for the chunk cache identity: a digest of
    this module's and the language's rule source and of num2words' version. Any rule change
    gives a new version, so audio made under the old rules is never served for the new ones."""
    expand = _rules_for(language)
    digest = hashlib.sha256(_source(version))
    if expand is not None:
        digest.update(_source(expand))
    digest.update(importlib.metadata.version("num2words").encode())
    return f"{_primary(language) if expand else 'neutral'}-{digest.hexdigest()[:12]}"


def _source(obj: object) -> bytes:
    """The source of the module that defines `obj` (its qualified name where there is none)."""
    try:
        return inspect.getsource(inspect.getmodule(obj) or obj).encode()  # type: ignore[arg-type]
    except (OSError, TypeError):
        return f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', repr(obj))}".encode()


def tidy(text: str) -> str:
    """One space between words, none at the ends of a line."""
    text = _SPACES.sub(" ", _OTHER_SPACE.sub(" ", text))
    return _LINE_END_SPACE.sub("\n", text).replace("\n ", "\n").strip(" ")


def _neutral(text: str) -> str:
    """The steps every language gets: emoji, ® ™, asterisks, stray tildes and control characters
    (a NUL is never read aloud) become spaces, every space a plain one, and a space before a stop
    goes ("Great job 👍!" -> "Great job!"). This runs before the rules, so they see the joined
    text; the rules never leave a space before a stop, so a second pass has nothing to join."""
    text = _EMOJI.sub(" ", _CONTROLS.sub(" ", text))
    return _SPACE_BEFORE_STOP.sub("", _SPACES.sub(" ", _OTHER_SPACE.sub(" ", text)))


def _primary(language: str) -> str:
    return str(language).strip().replace("_", "-").split("-", 1)[0].lower()


def _rules_for(language: str) -> Expand | None:
    key = _primary(language)
    if key not in _loaded:
        module = LANGUAGES.get(key)
        _loaded[key] = importlib.import_module(module).expand if module else None
    return _loaded[key]


# The default (English) normalisation's version, for the chunk cache identity.
VERSION: str = version("en")
