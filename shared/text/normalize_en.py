"""American English rules for `normalize()`: numbers, money, dates, units, names... as words.

`RULES` (at the end) is the whole of it: ordered groups of (name, pattern, replacement) rules,
one regex pass each; a group with a gate runs only on the lines the gate matches (most prose
has no digit, so the number rules skip it). The order matters: the specific readings (a phone
number, a date, a price) take their digits before the general ones (ranges, then plain
numbers) see them; abbreviations, roman numerals and symbols come last, when every digit is
already a word. Every rule writes words only, and never a space before a stop, so a second
pass finds nothing to change. Number words come from num2words, made American (no "and", no
commas).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache

from num2words import num2words

Repl = Callable[[re.Match[str]], str]


def alternation(words: Iterable[str]) -> str:
    """A regex matching any of `words`, longest first, as a trie: Mr|Mrs|Ms -> M(?:r(?:s)?|s).
    Python's re tries alternatives one by one; a trie tries one branch per character."""
    heads: dict[str, list[str]] = {}
    for word in sorted(set(words)):
        heads.setdefault(word[:1], []).append(word[1:])
    branches = [re.escape(head) + alternation(tails) for head, tails in heads.items() if head]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?:{body})?" if "" in heads else body

# ---------------------------------------------------------------- number words

_DIGIT = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_MAX_CARDINAL = 10**15  # longer integers (serials, IDs) are read digit by digit


def _american(words: str) -> str:
    return words.replace(" and ", " ").replace(",", "")


@lru_cache(maxsize=8192)
def cardinal(n: int) -> str:
    """42 -> forty-two; 1234 -> one thousand two hundred thirty-four."""
    if n < 0:
        return "minus " + cardinal(-n)
    if n >= _MAX_CARDINAL:
        return digits(str(n))
    return _american(num2words(n, lang="en"))


@lru_cache(maxsize=2048)
def ordinal(n: int) -> str:
    """22 -> twenty-second."""
    if n >= _MAX_CARDINAL:
        return digits(str(n)) + "th"
    return _american(num2words(n, lang="en", to="ordinal"))


def digits(s: str) -> str:
    """'5550' -> 'five five five zero' (non-digits are skipped)."""
    return " ".join(_DIGIT[int(c)] for c in s if c.isdecimal())


def number(s: str) -> str:
    """A written number as words: '1,234' '3.14' '0.5' '007' '1.2.3'."""
    s = s.replace(",", "")
    if s.count(".") > 1:  # a version or an address: each part read as a number
        return " point ".join(number(p) for p in s.split(".") if p)
    whole, _, frac = s.partition(".")
    head = (digits(whole) if len(whole) > 1 and whole[0] == "0" else cardinal(int(whole))) if whole else ""
    if frac:
        return f"{head} point {digits(frac)}".strip()
    return head


def year(n: int) -> str:
    """1984 -> nineteen eighty-four, 2007 -> two thousand seven, 1905 -> nineteen oh five."""
    if not 1000 <= n <= 9999:
        return cardinal(n)
    hi, lo = divmod(n, 100)
    if hi % 10 == 0 and lo < 10:
        return cardinal(n)
    if lo == 0:
        return cardinal(hi) + " hundred"
    return cardinal(hi) + (" oh " if lo < 10 else " ") + cardinal(lo)


def plural(words: str) -> str:
    """nineteen ninety -> nineteen nineties; twenty ten -> twenty tens."""
    return words[:-1] + "ies" if words.endswith("y") else words + "s"


# ---------------------------------------------------------------- shared pieces

_AMT = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_CLOSERS = "\"'”’»)]"
_OPENERS = "\"'“‘«(["
_STOPS = ",.;:!?…"
_TIME_ZONES = "ET|EST|EDT|CT|CST|CDT|MT|MST|MDT|PT|PST|PDT|GMT|UTC|BST|CET|CEST"
_FINAL = re.compile(rf"[{re.escape(_CLOSERS)}]*(?:[^\S\n]*(?:\n|$)|\s+[\"“‘]?(?!(?:{_TIME_ZONES})\b)[A-Z])")
_PREV_WORD = re.compile(r"([A-Za-z]+(?:['’]s)?)[^\w\n]*$")
_NEXT_WORD = re.compile(r"[^\S\n]+[\"“‘(]?([A-Za-z]+)")
# Words after an amount that show it is not used as an adjective ("$5 million in aid", not "a
# $5 million plan"); anything else lowercase after it is the noun it describes.
_NOT_A_NOUN = frozenset("""a an the this that these those each every per in on at of for to from by with
    without into onto over under about after before since until than then and or but nor so yet as if
    is are was were be been being will would can could may might must shall should has have had do
    does did not no more less too also only just even still already again ago apiece annually a year
    last next this each total overall worth more plus back up down off out away instead here there
    which who whom whose what when where while because though although per cent across along among
    around against between beyond through throughout toward towards via within despite during including
    like near above below behind beside inside outside upon past versus vs both all some any most many much
    such other another it its their his her our my your they we he she you me him them us today tomorrow
    yesterday now later earlier monthly weekly yearly altogether combined apiece went came rose fell grew got
    made took gave left became began spent paid sold bought brought built cost hit put set won lost saw met ran
    kept held told said says goes comes remains seems means helps pays buys covers worldwide nationwide
    statewide citywide countrywide overseas abroad alone together tonight overnight""".split())


def _stop(m: re.Match[str]) -> str:
    """The dot of an abbreviation that ends the sentence stays; inside a sentence it goes."""
    return "." if _FINAL.match(m.string, m.end()) else ""


def _prev_word(m: re.Match[str]) -> str:
    found = _PREV_WORD.search(m.string, max(0, m.start() - 30), m.start())
    return found.group(1) if found else ""


def _next_word(m: re.Match[str]) -> str:
    """The word right after the match on the same line ("" if punctuation or a line end comes first)."""
    found = _NEXT_WORD.match(m.string, m.end())
    return found.group(1) if found else ""


def _next_initial(m: re.Match[str]) -> str:
    return _next_word(m)[:1]


def _describes_next(m: re.Match[str]) -> bool:
    """'a $4.2 million plan', 'a 5 km run': the amount is an adjective, its unit stays singular."""
    word = _next_word(m)
    return bool(word) and word.islower() and word not in _NOT_A_NOUN and not word.endswith(("ing", "ed", "ly"))


# ---------------------------------------------------------------- web addresses

_TLDS = "com|org|net|gov|edu|io|ai|co|uk|us|ca|de|fr|info|biz|tv|me|app|dev|news"
_URL_PART = {".": " dot ", "/": " slash ", "-": " dash ", "_": " underscore ", "@": " at ", "+": " plus ",
             ":": " colon ", "~": " tilde ", "=": " equals ", "&": " and ", "?": " question mark "}
_URL_SPLIT = re.compile(r"(\d+|[./\-_@+:~=&?])")


def _spell_address(s: str) -> str:
    out = []
    for piece in _URL_SPLIT.split(s):
        if piece.isdecimal():
            out.append(" " + (digits(piece) if len(piece) > 4 else cardinal(int(piece))) + " ")
        else:
            out.append(_URL_PART.get(piece, piece))
    return "".join(out)


def _url(m: re.Match[str]) -> str:
    address = re.sub(r"^https?://", "", m.group(0))
    address = re.split(r"[?#]", address, maxsplit=1)[0].rstrip("/")
    return _pad(m, " ".join(_spell_address(address).split()))


# ---------------------------------------------------------------- phone numbers

def _phone(m: re.Match[str]) -> str:
    groups = re.findall(r"\+|\d+", m.group(0))
    spoken, plus = [], False
    for g in groups:
        if g == "+":
            plus = True
            continue
        spoken.append(("plus " if plus else "") + digits(g))
        plus = False
    return ", ".join(spoken)


# ---------------------------------------------------------------- dates

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")
_MONTH_OF = {name.lower(): i + 1 for i, name in enumerate(_MONTHS)}
_MONTH_OF.update({a.lower(): i + 1 for i, name in enumerate(_MONTHS) for a in (name[:3], name[:4]) if a != name})
_MONTH_RE = r"(?:January|February|March|April|May|June|July|August|September|October|November|December" \
            r"|(?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\.?)"


def _month(name: str) -> str:
    return _MONTHS[_MONTH_OF[name.rstrip(".").lower()] - 1]


def _short_year(yy: str) -> int:
    return (2000 if int(yy) < 50 else 1900) + int(yy)


def _iso_date(m: re.Match[str]) -> str:
    y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if not (1 <= mo <= 12 and 1 <= d <= 31):
        return m.group(0)
    return f"{_MONTHS[mo - 1]} {ordinal(d)}, {year(y)}"


def _numeric_date(m: re.Match[str]) -> str:
    a, b, y = int(m.group(1)), int(m.group(2)), m.group(3)
    yn = int(y) if len(y) == 4 else _short_year(y)
    if 1 <= a <= 12 and 1 <= b <= 31:
        return f"{_MONTHS[a - 1]} {ordinal(b)}, {year(yn)}"
    if 1 <= b <= 12 and 1 <= a <= 31:
        return f"the {ordinal(a)} of {_MONTHS[b - 1]}, {year(yn)}"
    return m.group(0)


def _month_day(m: re.Match[str]) -> str:
    d1, d2 = int(m.group("d1")), m.group("d2")
    if not 1 <= d1 <= 31 or (d2 and not 1 <= int(d2) <= 31):
        return m.group(0)
    out = f"{_month(m.group('mon'))} {ordinal(d1)}"
    if d2:
        out += f" to {ordinal(int(d2))}"
    if m.group("y"):
        out += (m.group("comma") or "") + " " + year(int(m.group("y")))
    return out


def _day_month(m: re.Match[str]) -> str:
    d = int(m.group("d"))
    if not 1 <= d <= 31:
        return m.group(0)
    mon = m.group("mon")
    out = f"the {ordinal(d)} of {_month(mon)}"
    if m.group("y"):
        return out + " " + year(int(m.group("y")))
    return out + (_stop(m) if mon.endswith(".") else "")


# ---------------------------------------------------------------- times

def _clock(h: int, mm: int, meridiem: str | None, leading_zero: bool, bare: bool = False) -> str | None:
    """10, 30, 'a' -> ten thirty AM; 14, 0 -> fourteen hundred; 9, 0 -> nine o'clock."""
    if mm > 59 or h > 24 or (meridiem and not 1 <= h <= 12):
        return None
    minutes = (" oh " if mm < 10 else " ") + cardinal(mm) if mm else ""
    if meridiem:
        return f"{cardinal(h)}{minutes} {meridiem.upper()}M"
    if bare or mm:
        return ("zero" if h == 0 and mm else cardinal(h)) + minutes
    return f"{cardinal(h)} hundred" if h > 12 or h == 0 or leading_zero else f"{cardinal(h)} o'clock"


def _time(m: re.Match[str]) -> str:
    h1, m1, ap1, h2, m2, ap2 = (m.group(g) for g in ("h1", "m1", "ap1", "h2", "m2", "ap2"))
    if not (m1 or ap1 or m2 or ap2):
        return m.group(0)  # no colon and no a.m./p.m.: not a time (a range, a score)
    # 10-11 a.m., 10:30-11:30 p.m.: the meridiem is said once, at the end
    first = _clock(int(h1), int(m1 or 0), ap1, h1.startswith("0"), bare=bool(h2 and ap2 and not ap1))
    if not h2:
        spoken = [first]
    else:
        spoken = [first, _clock(int(h2), int(m2 or 0), ap2, h2.startswith("0"))]
    if None in spoken:
        return m.group(0)
    dot = m.group("dot2") if h2 else m.group("dot1")
    return " to ".join(spoken) + (_stop(m) if dot else "")  # type: ignore[arg-type]


def _duration(m: re.Match[str]) -> str:
    parts = [(int(m.group(i)), unit) for i, unit in ((1, "hour"), (2, "minute"), (3, "second"))]
    spoken = [f"{cardinal(n)} {unit}{'' if n == 1 else 's'}" for n, unit in parts if n]
    if not spoken:
        return "zero seconds"
    return spoken[0] if len(spoken) == 1 else " ".join(spoken[:-1]) + " and " + spoken[-1]


# ---------------------------------------------------------------- money

# symbol or code -> (one, many, one hundredth, many hundredths); None: no minor unit spoken
_CURRENCIES: dict[str, tuple[str, str, str | None, str | None]] = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "US$": ("U.S. dollar", "U.S. dollars", "cent", "cents"),
    "C$": ("Canadian dollar", "Canadian dollars", "cent", "cents"),
    "A$": ("Australian dollar", "Australian dollars", "cent", "cents"),
    "NZ$": ("New Zealand dollar", "New Zealand dollars", "cent", "cents"),
    "HK$": ("Hong Kong dollar", "Hong Kong dollars", "cent", "cents"),
    "€": ("euro", "euros", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "¥": ("yen", "yen", None, None),
    "₹": ("rupee", "rupees", "paisa", "paise"),
    "₩": ("won", "won", None, None),
    "₽": ("ruble", "rubles", "kopek", "kopeks"),
    "USD": ("U.S. dollar", "U.S. dollars", "cent", "cents"),
    "EUR": ("euro", "euros", "cent", "cents"),
    "GBP": ("pound", "pounds", "penny", "pence"),
    "JPY": ("yen", "yen", None, None),
    "CAD": ("Canadian dollar", "Canadian dollars", "cent", "cents"),
    "AUD": ("Australian dollar", "Australian dollars", "cent", "cents"),
    "CHF": ("Swiss franc", "Swiss francs", "centime", "centimes"),
    "CNY": ("yuan", "yuan", None, None),
    "INR": ("rupee", "rupees", "paisa", "paise"),
}
_SCALES = {"crore": "crore", "lakh": "lakh",
           "thousand": "thousand", "million": "million", "billion": "billion", "trillion": "trillion",
           "k": "thousand", "K": "thousand", "m": "million", "M": "million", "mn": "million", "mln": "million",
           "b": "billion", "B": "billion", "bn": "billion", "tn": "trillion", "trn": "trillion"}
_SYMBOLS = sorted((c for c in _CURRENCIES if not c.isalpha()), key=len, reverse=True)
_CUR_SYM = "|".join(re.escape(c) for c in _SYMBOLS)
_CUR_CODE = "|".join(c for c in _CURRENCIES if c.isalpha())
_SCALE_RE = r"(?: ?(?P<scale>thousand|million|billion|trillion|crore|lakh)\b|(?P<abbr>mln|mn|bn|tn|trn|[kKmMbB])\b)?"


def _amount(amount: str, cur: tuple[str, str, str | None, str | None]) -> str:
    """'3.50' -> three dollars and fifty cents; '1' -> one dollar; '4.5' -> four point five dollars."""
    one, many, cent, cents = cur
    whole, _, frac = amount.replace(",", "").partition(".")
    if frac and (len(frac) != 2 or cent is None):
        return f"{number(amount)} {many}"
    major = int(whole or 0)
    minor = int(frac or 0)
    spoken_major = f"{cardinal(major)} {one if major == 1 else many}"
    if not minor:
        return spoken_major
    spoken_minor = f"{cardinal(minor)} {cent if minor == 1 else cents}"
    return spoken_minor if major == 0 else f"{spoken_major} and {spoken_minor}"


def _money(m: re.Match[str]) -> str:
    groups = m.groupdict()
    cur = _CURRENCIES[groups.get("cur") or groups["code"]]
    a, b = groups["a"], groups.get("b")
    sign = "minus " if groups.get("neg") or groups.get("neg2") else ""
    scale = groups["scale"] or _SCALES.get(groups["abbr"] or "", "")
    adjective = _describes_next(m)
    if scale:
        spoken = number(a) + (f" to {number(b)}" if b else "")
        return f"{sign}{spoken} {scale} {cur[0] if adjective else cur[1]}"
    if b:
        if "." in a or "." in b:
            return f"{sign}{_amount(a, cur)} to {_amount(b, cur)}"
        return f"{sign}{number(a)} to {number(b)} {cur[0] if adjective else cur[1]}"
    if adjective and "." not in a:
        return f"{sign}{number(a)} {cur[0]}"
    return sign + _amount(a, cur)


def _cents(m: re.Match[str]) -> str:
    n = m.group(1)
    return f"{number(n)} {'cent' if n == '1' else 'cents'}"


# ---------------------------------------------------------------- units

# abbreviation -> (singular, plural); case matters (mm is not Mm, MB is not mb)
_UNITS: dict[str, tuple[str, str]] = {
    "%": ("percent", "percent"), "‰": ("per mille", "per mille"),
    "°C": ("degree Celsius", "degrees Celsius"), "° C": ("degree Celsius", "degrees Celsius"),
    "ºC": ("degree Celsius", "degrees Celsius"), "℃": ("degree Celsius", "degrees Celsius"),
    "°F": ("degree Fahrenheit", "degrees Fahrenheit"), "° F": ("degree Fahrenheit", "degrees Fahrenheit"),
    "ºF": ("degree Fahrenheit", "degrees Fahrenheit"), "℉": ("degree Fahrenheit", "degrees Fahrenheit"),
    "°": ("degree", "degrees"), "º": ("degree", "degrees"),
    "km/h": ("kilometer per hour", "kilometers per hour"), "kph": ("kilometer per hour", "kilometers per hour"),
    "kmh": ("kilometer per hour", "kilometers per hour"), "mph": ("mile per hour", "miles per hour"),
    "m/s": ("meter per second", "meters per second"),
    "km²": ("square kilometer", "square kilometers"), "m²": ("square meter", "square meters"),
    "m³": ("cubic meter", "cubic meters"), "sq ft": ("square foot", "square feet"),
    "sq mi": ("square mile", "square miles"), "sq km": ("square kilometer", "square kilometers"),
    "km": ("kilometer", "kilometers"), "m": ("meter", "meters"), "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"), "µm": ("micrometer", "micrometers"), "μm": ("micrometer", "micrometers"),
    "mi": ("mile", "miles"), "ft": ("foot", "feet"), "yd": ("yard", "yards"),
    "kg": ("kilogram", "kilograms"), "g": ("gram", "grams"), "mg": ("milligram", "milligrams"),
    "lb": ("pound", "pounds"), "lbs": ("pound", "pounds"), "oz": ("ounce", "ounces"),
    "L": ("liter", "liters"), "ml": ("milliliter", "milliliters"), "mL": ("milliliter", "milliliters"),
    "gal": ("gallon", "gallons"),
    "KB": ("kilobyte", "kilobytes"), "kB": ("kilobyte", "kilobytes"), "MB": ("megabyte", "megabytes"),
    "GB": ("gigabyte", "gigabytes"), "TB": ("terabyte", "terabytes"), "PB": ("petabyte", "petabytes"),
    "Mbps": ("megabit per second", "megabits per second"), "Gbps": ("gigabit per second", "gigabits per second"),
    "Hz": ("hertz", "hertz"), "kHz": ("kilohertz", "kilohertz"), "MHz": ("megahertz", "megahertz"),
    "GHz": ("gigahertz", "gigahertz"),
    "W": ("watt", "watts"), "kW": ("kilowatt", "kilowatts"), "MW": ("megawatt", "megawatts"),
    "GW": ("gigawatt", "gigawatts"), "kWh": ("kilowatt-hour", "kilowatt-hours"),
    "MWh": ("megawatt-hour", "megawatt-hours"), "GWh": ("gigawatt-hour", "gigawatt-hours"),
    "V": ("volt", "volts"), "mAh": ("milliamp-hour", "milliamp-hours"), "hp": ("horsepower", "horsepower"),
    "kcal": ("kilocalorie", "kilocalories"), "cal": ("calorie", "calories"),
    "hr": ("hour", "hours"), "hrs": ("hour", "hours"), "min": ("minute", "minutes"), "mins": ("minute", "minutes"),
    "sec": ("second", "seconds"), "secs": ("second", "seconds"), "ms": ("millisecond", "milliseconds"),
    "yr": ("year", "years"), "yrs": ("year", "years"), "x": ("times", "times"),
}
_UNIT_RE = alternation(_UNITS)


_DETERMINERS = frozenset("a an the this that his her its their our my your each every".split())


def _unit(m: re.Match[str]) -> str:
    unit, sep, a, b = m.group("unit"), m.group("sep"), m.group("a"), m.group("b")
    if unit == "x" and (sep or b):
        return m.group(0)
    one, many = _UNITS[unit]
    spoken = ("minus " if m.group("sign") in ("-", "−") else "plus " if m.group("sign") == "+" else "") + number(a)
    if b:
        spoken += " to " + ("minus " if m.group("sign2") else "") + number(b)
    if m.start() and not m.string[m.start() - 1].isspace() and m.string[m.start() - 1] not in _OPENERS:
        spoken = " " + spoken
    dot = m.group("dot") or ""
    if dot and unit[-1].isalpha():
        dot = _stop(m)  # "6 ft. tall": the abbreviation's dot, not a full stop
    if sep == "-":
        return f"{spoken}-{one.replace(' ', '-')}{dot}"
    word = one if (not b and a == "1") or (_prev_word(m).lower() in _DETERMINERS and _describes_next(m)) else many
    return f"{spoken} {word}{dot}"


# ---------------------------------------------------------------- decades, ordinals, fractions

_POWERS = {"100": "hundreds", "1000": "thousands", "10000": "tens of thousands", "100000": "hundreds of thousands",
           "1000000": "millions"}


def _powers(m: re.Match[str]) -> str:
    """'100s of people', '1,000s of homes': hundreds, thousands."""
    return _POWERS[m.group(1).replace(",", "")]


def _decade(m: re.Match[str]) -> str:
    return plural(year(int(m.group(1))))


def _short_decade(m: re.Match[str]) -> str:
    n = int(m.group(1))
    return "two thousands" if n == 0 else plural(cardinal(n))


def _ordinal(m: re.Match[str]) -> str:
    return ordinal(int(m.group(1).replace(",", "")))


_VULGAR = {"½": (1, 2), "⅓": (1, 3), "⅔": (2, 3), "¼": (1, 4), "¾": (3, 4), "⅕": (1, 5), "⅖": (2, 5),
           "⅗": (3, 5), "⅘": (4, 5), "⅙": (1, 6), "⅚": (5, 6), "⅛": (1, 8), "⅜": (3, 8), "⅝": (5, 8), "⅞": (7, 8)}
_SPECIAL_SLASH = {"24/7": "twenty-four seven", "9/11": "nine eleven", "50/50": "fifty-fifty", "20/20": "twenty-twenty"}


def fraction(num: int, den: int) -> str:
    """3/4 -> three quarters; 1/2 -> one half; 5/8 -> five eighths."""
    if den == 2:
        name = "half" if num == 1 else "halves"
    elif den == 4:
        name = "quarter" if num == 1 else "quarters"
    else:
        name = ordinal(den) + ("" if num == 1 else "s")
    return f"{cardinal(num)} {name}"


def _with_whole(whole: str | None, num: int, den: int) -> str:
    if not whole:
        return fraction(num, den)
    part = ("a " + fraction(num, den).split(" ", 1)[1]) if num == 1 else fraction(num, den)
    return f"{number(whole)} and {part}"


def _vulgar(m: re.Match[str]) -> str:
    return _with_whole(m.group(1), *_VULGAR[m.group(2)])


def _mixed(m: re.Match[str]) -> str:
    num, den = int(m.group(2)), int(m.group(3))
    if not 0 < num < den:
        return m.group(0)
    return _with_whole(m.group(1), num, den)


def _slash(m: re.Match[str]) -> str:
    special = _SPECIAL_SLASH.get(m.group(0))
    if special:
        return special
    num, den = int(m.group(1)), int(m.group(2))
    if 2 <= den <= 100:
        return fraction(num, den)
    return f"{number(m.group(1))} over {number(m.group(2))}"


# ---------------------------------------------------------------- ranges and scores

def _short_year_words(yy: int) -> str:
    return ("oh " + cardinal(yy)) if yy < 10 else cardinal(yy)


def _year_range(m: re.Match[str]) -> str:
    a, b = int(m.group(1)), m.group(2)
    if a < 1200:
        return f"{number(m.group(1))} to {number(b)}"
    if len(b) == 2 and int(b) > a % 100:
        return f"{year(a)} to {_short_year_words(int(b))}"
    if len(b) == 4 and int(b) > a:
        return f"{year(a)} to {year(int(b))}"
    return f"{number(m.group(1))} to {number(b)}"


def _range(m: re.Match[str]) -> str:
    a, b = m.group("a"), m.group("b")
    if not (m.group("sa") or m.group("sb")) and (a == b or (a, b) == ("24", "7")):
        return f"{number(a)}-{number(b)}" if a == b else "twenty-four seven"  # a 50-50 chance; open 24-7
    first = ("minus " if m.group("sa") else "") + number(a)
    return f"{first} to {'minus ' if m.group('sb') else ''}{number(m.group('b'))}"


# ---------------------------------------------------------------- numbers, # and No.

_YEAR_BEFORE = frozenset("""in since until till by from during before after between around circa c the of early
    late mid year years summer spring fall autumn winter season class born""".split()) | {mo.lower() for mo in _MONTHS}


def _is_year(m: re.Match[str], n: int) -> bool:
    if not 1000 <= n <= 2099:
        return False
    prev = _prev_word(m).lower()
    if prev in _YEAR_BEFORE or prev.endswith(("'s", "’s")):
        return True
    return not _next_initial(m).islower()  # "2000 people" is a count, "in 2000." a year


def _after_code(m: re.Match[str]) -> bool:
    """A flight, bill or model code before the number: said in pairs, like a year."""
    prev = _prev_word(m)
    return len(prev) >= 2 and prev.isupper() and m.string[m.start() - 1:m.start()] == " "


# "1.5m people", "2bn years", "50k followers": a scale, not meters or kilometers
_COUNTED_NOUNS = r"people|residents|users|viewers|customers|voters|subscribers|children|adults|workers|jobs" \
                 r"|homes|households|visitors|tourists|passengers|fans|followers|copies|units|barrels|tonnes|tons" \
                 r"|years|dollars|euros|pounds|shares|downloads|views|votes|cases|deaths|doses|acres|miles|hectares"
_SCALE_OF = {"k": "thousand", "K": "thousand", "m": "million", "mn": "million", "bn": "billion", "b": "billion",
             "tn": "trillion"}


def _scaled_count(m: re.Match[str]) -> str:
    amount, letters = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
    return f"{number(amount)} {_SCALE_OF[letters]}"


_NAMED = {"49ers": "Forty-Niners", "76ers": "Seventy-Sixers", "911": "nine one one", "411": "four one one"}


def _number(m: re.Match[str]) -> str:
    s, sign, num = m.string, m.group("sign"), m.group("num")
    start, end = m.start(), m.end()
    before = s[start - 1] if start else " "
    after = s[end] if end < len(s) else " "
    if num.isdigit() and len(num) == 4 and not sign and (_is_year(m, int(num)) or _after_code(m)):
        spoken = year(int(num))  # 1984; and Flight UA 1175 -> eleven seventy-five
    elif num.isdigit() and len(num) > 15:
        spoken = digits(num)
    else:
        spoken = number(num)
    if sign:
        if before.isalnum():
            spoken = " " + spoken  # COVID-19, F-16: the hyphen is not a minus
        else:
            spoken = "minus " + spoken
    elif before.isalpha():
        spoken = " " + spoken
    if after.isalpha():
        spoken += " "
    return spoken


# ---------------------------------------------------------------- roman numerals

_ROMAN = r"M{0,3}(?:CM|CD|D?C{0,3})(?:XC|XL|L?X{0,3})(?:IX|IV|V?I{0,3})"
_ROMAN_VALUE = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
# "<word> <numeral>" read as a cardinal; the value says whether it keeps a capital.
_COUNTED = {"War": True, "Bowl": True, "Vatican": True, "Apollo": True, "Mark": True, "Saturn": True, "Chapter": False, "Part": False,
            "Act": False, "Scene": False, "Volume": False, "Vol.": False, "Book": False, "Phase": False,
            "Title": False, "Article": False, "Section": False, "Appendix": False, "Stage": False,
            "Level": False, "Class": False, "Type": False, "Category": False, "Round": False,
            "Episode": False, "Season": False, "Division": False, "Tier": False, "Grade": False}
# Names that are followed by "I" (the first) in history; any other name needs II and up.
_REGNAL = frozenset("""Elizabeth Charles James Mary George William Edward Henry Richard John Peter Alexander
    Nicholas Napoleon Francis Catherine Leopold Ferdinand Philip Frederick Louis Paul Victor Wilhelm Juan
    Carlos Felipe Gustav Otto Ludwig Constantine Leo Benedict Pius Gregory Clement Innocent Boniface Urban
    Selim Suleiman Mehmed Murad Rama Abdullah Hussein David Robert Anne Victoria Harald Olav Haakon
    Willem Albert Baudouin Umberto Ivan Basil Justinian Theodosius Darius Cyrus Xerxes Ramesses Ramses
    Thutmose Amenhotep Ptolemy Seleucus Antiochus Sancho Alfonso Pedro Manuel Joseph Karl Sigismund""".split())


def roman_value(s: str) -> int:
    total = 0
    for ch, nxt in zip(s, [*s[1:], ""], strict=True):
        v = _ROMAN_VALUE[ch]
        total += -v if nxt and _ROMAN_VALUE[nxt] > v else v
    return total


def _inside_word(m: re.Match[str], also: str = "") -> bool:
    """These patterns start with a letter, not a look-behind (much faster); check the edge here."""
    start = m.start()
    return start > 0 and (m.string[start - 1].isalnum() or m.string[start - 1] in also or m.string[start - 1] == "_")


def _world_war(m: re.Match[str]) -> str:
    if _inside_word(m):
        return m.group(0)
    return "World War " + ("Two" if m.group(1) else "One")


def _counted_roman(m: re.Match[str]) -> str:
    word, numeral = m.group(1), m.group(2)
    if not numeral or _inside_word(m):
        return m.group(0)
    spoken = cardinal(roman_value(numeral))
    return f"{word} {spoken.title() if _COUNTED[word] else spoken}"


def _regnal(m: re.Match[str]) -> str:
    name, numeral = m.group(1), m.group(2)
    if not numeral or (len(numeral) == 1 and name not in _REGNAL) or name in _COUNTED or _inside_word(m):
        return m.group(0)
    return f"{name} the {ordinal(roman_value(numeral)).title()}"


# ---------------------------------------------------------------- abbreviations

# abbreviation (no final dot) -> expansion; titles never end a sentence, so they lose the dot.
_TITLES = {"Mr": "Mister", "Mrs": "Missus", "Ms": "Miz", "Mx": "Mix", "Prof": "Professor", "Gen": "General",
           "Sen": "Senator", "Sens": "Senators", "Rep": "Representative", "Reps": "Representatives",
           "Gov": "Governor", "Lt": "Lieutenant", "Col": "Colonel", "Capt": "Captain", "Sgt": "Sergeant",
           "Cpl": "Corporal", "Adm": "Admiral", "Maj": "Major", "Cmdr": "Commander", "Rev": "Reverend",
           "Hon": "Honorable", "Pres": "President", "Supt": "Superintendent", "Insp": "Inspector",
           "Fr": "Father", "Mt": "Mount", "Ft": "Fort", "Messrs": "Messieurs"}
_DOTLESS_TITLES = frozenset({"Mr", "Mrs", "Ms", "Dr", "Prof"})  # "Mr Smith" as British papers write it
# these may end a sentence, and then keep their dot
_WORDS = {"Inc": "Incorporated", "Corp": "Corporation", "Ltd": "Limited", "Co": "Company", "Bros": "Brothers",
          "Jr": "Junior", "Sr": "Senior", "etc": "et cetera", "approx": "approximately", "Dept": "Department",
          "dept": "department", "Univ": "University", "Assn": "Association", "Intl": "International",
          "Govt": "Government", "govt": "government", "vs": "versus", "Ave": "Avenue", "Blvd": "Boulevard",
          "Rd": "Road", "Ln": "Lane", "Hwy": "Highway", "Pkwy": "Parkway", "Sq": "Square", "Ste": "Suite",
          "Apt": "Apartment", "Fig": "Figure", "fig": "figure", "Vol": "Volume", "vol": "volume",
          "e.g": "for example", "E.g": "For example", "i.e": "that is", "I.e": "That is", "cf": "compare",
          "viz": "namely", "a.k.a": "also known as", "a.m": "AM", "p.m": "PM", "A.M": "AM", "P.M": "PM",
          "Jan": "January", "Feb": "February", "Mar": "March", "Apr": "April", "Jun": "June", "Jul": "July",
          "Aug": "August", "Sep": "September", "Sept": "September", "Oct": "October", "Nov": "November",
          "Dec": "December", "aka": "also known as", "Ph.D": "PhD"}
_NEVER_FINAL = frozenset({"vs", "e.g", "E.g", "i.e", "I.e", "cf", "viz", "a.k.a"})  # an example or a name follows
_DOTLESS_WORDS = frozenset({"Inc", "Corp", "Ltd", "vs", "etc", "aka"})
_ABBREVIATIONS = {*_TITLES, *_WORDS, "Dr", "St"}
_ABBR_RE = alternation(_ABBREVIATIONS)
# AP state abbreviations, read as states after "City," ("Salem, Ore." "Buffalo, N.Y.")
_STATES = {"Ala": "Alabama", "Ariz": "Arizona", "Ark": "Arkansas", "Calif": "California", "Colo": "Colorado",
           "Conn": "Connecticut", "Del": "Delaware", "Fla": "Florida", "Ga": "Georgia", "Ill": "Illinois",
           "Ind": "Indiana", "Kan": "Kansas", "Ky": "Kentucky", "La": "Louisiana", "Md": "Maryland",
           "Mass": "Massachusetts", "Mich": "Michigan", "Minn": "Minnesota", "Miss": "Mississippi",
           "Mo": "Missouri", "Mont": "Montana", "Neb": "Nebraska", "Nev": "Nevada", "N.H": "New Hampshire",
           "N.J": "New Jersey", "N.M": "New Mexico", "N.Y": "New York", "N.C": "North Carolina",
           "N.D": "North Dakota", "Okla": "Oklahoma", "Ore": "Oregon", "Pa": "Pennsylvania", "R.I": "Rhode Island",
           "S.C": "South Carolina", "S.D": "South Dakota", "Tenn": "Tennessee", "Tex": "Texas", "Vt": "Vermont",
           "Va": "Virginia", "Wash": "Washington", "W.Va": "West Virginia", "Wis": "Wisconsin", "Wyo": "Wyoming"}


def _state(m: re.Match[str]) -> str:
    if not _prev_word(m)[:1].isupper():  # "Salem, Ore." but not "he said, Mass. was..."
        return m.group(0)
    return f", {_STATES[m.group(1)]}{_stop(m)}"


_ORDINAL_WORD = re.compile(r"(?:first|second|third|th)$")


def _by_context(m: re.Match[str], before_name: str, after_name: str) -> str:
    """St. Louis -> Saint, Elm St. -> Street; Dr. Jones -> Doctor, Mulholland Dr. -> Drive."""
    if _next_initial(m).isupper():
        return before_name
    prev = _prev_word(m)
    if prev[:1].isupper() or _ORDINAL_WORD.search(prev):
        return after_name + (_stop(m) if m.group("dot") else "")
    return before_name


def _abbreviation(m: re.Match[str]) -> str:
    abbr, dot = m.group("abbr"), m.group("dot")
    if _inside_word(m, also="."):
        return m.group(0)
    if not dot and not (abbr in _DOTLESS_WORDS or (abbr in _DOTLESS_TITLES and _next_initial(m).isupper())):
        return m.group(0)
    if abbr == "St":
        return _by_context(m, "Saint", "Street")
    if abbr == "Dr":
        return _by_context(m, "Doctor", "Drive")
    if abbr in _TITLES:
        return _TITLES[abbr]
    if abbr in _NEVER_FINAL:
        return _WORDS[abbr]
    return _WORDS[abbr] + (_stop(m) if dot else "")


# ---------------------------------------------------------------- symbols

_PER = r"hour|hr|day|week|month|year|yr|night|person|head|share|barrel|gallon|liter|pound|ounce|unit|mile" \
       r"|kilometer|meter|minute|second|game|ton|tonne|capita"
_PER_AFTER = r"dollars?|euros?|cents?|pounds?|pence|yen|miles?|kilometers?|meters?|feet|gallons?|liters?" \
             r"|calories|beats|words|points|tons?|tonnes?|barrels?|kilograms?|grams?|units?|times"
_SIMPLE_SYMBOLS = {"&": "and", "@": "at", "©": "copyright", "+": "plus", "=": "equals", "×": "times",
                   "±": "plus or minus", "÷": "divided by", "≈": "approximately", "≠": "not equal to",
                   "≤": "less than or equal to", "≥": "greater than or equal to", "§": "section", "¶": "paragraph",
                   "°": "degrees", "º": "degrees", "%": "percent", "‰": "per mille", "~": "approximately",
                   "#": "number", "¢": "cents"}


def _initialism(m: re.Match[str]) -> str:
    """AT&T -> A-T and T, S&P -> S and P: hyphenated letters are read as letters ("AT and T"
    is read "at and T")."""
    return " and ".join("-".join(part) for part in (m.group(1), m.group(2)))


def _pad(m: re.Match[str], words: str) -> str:
    """`words` in place of the match, with a space on a side only where a word would touch it."""
    s, start, end = m.string, m.start(), m.end()
    before = s[start - 1] if start else " "
    after = s[end] if end < len(s) else " "
    lead = "" if before.isspace() or before in _OPENERS else " "
    trail = "" if after.isspace() or after in _CLOSERS or after in _STOPS else " "
    return lead + words + trail


def _symbol(m: re.Match[str]) -> str:
    ch = m.group(0)
    if ch == "#" and m.start() and m.string[m.start() - 1].isalpha():
        return _pad(m, "sharp")  # C#, F#
    return _pad(m, _SIMPLE_SYMBOLS[ch])


def _word_slash(m: re.Match[str]) -> str:
    a, b = m.group(1), m.group(2)
    if a.lower() == "and" and b.lower() == "or":
        return f"{a} or"
    if a.islower() and b.islower():
        return f"{a} or {b}"
    return f"{a} slash {b}"


# ---------------------------------------------------------------- the table
# normalize() has made every horizontal space a plain " " before the rules run, so the
# patterns say " " where they allow a space: a line break never joins two lines into one reading.

_NUM_START = r"(?<![\w.,])"


def _lead(not_after: str, first: str = r"\d") -> str:
    """The first character of a match (`first`) when it must not follow any of `not_after`: the
    character, then a look-behind. A pattern that starts with a character lets re skip ahead to
    it; one that starts with a look-behind is tried at every position (a third slower here)."""
    return rf"{first}(?<![{not_after}]{first})"


# first characters, each with what it must not follow
_L_NUM = _lead(r"\w.,")  # a number: not inside a word or another number
_L_DATE = _lead(r"\w./-")
_L_CLOCK = _lead(r"\w:.,/")
_L_DURATION = _lead(r"\w:.")
_L_DECADE = _lead(r"\w.,'’‘")
_L_FRACTION = _lead(r"\w.,/")
_L_YEAR1, _L_YEAR2 = _lead(r"\w.,:/-", "1"), _lead(r"\w.,:/-", "2")
_AMT_LEAD = rf"{_L_NUM}(?:\d{{0,2}}(?:,\d{{3}})+(?:\.\d+)?|\d*(?:\.\d+)?)"  # _AMT after _NUM_START


def _rx(first: str, pattern: str) -> re.Pattern[str]:
    """`pattern`, told which characters it can start with: a look-ahead that fails fast at the
    other positions (for patterns that open with an optional part, where _lead does not fit)."""
    return re.compile(f"(?=[{first}])(?:{pattern})")
Rule = tuple[str, re.Pattern[str], str | Repl]

ADDRESSES: list[Rule] = [
    ("url", re.compile(r"\bhttps?://[^\s<>\"]*[^\s<>\".,;:!?)\]'’”]|\bwww\.[^\s<>\"]*[^\s<>\".,;:!?)\]'’”]"
                       rf"|\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b|\b[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.(?:{_TLDS})\b(?!\.\w)"
                       r"(?:/[^\s<>\"]*[^\s<>\".,;:!?)\]'’”])?"), _url),
]
NUMBERS: list[Rule] = [
    ("phone", _rx(r"\d(+", r"(?<![\w+])(?:\+?1[ .-]?)?(?:\(\d{3}\) ?|\d{3}[.-])\d{3}[.-]\d{4}(?![\w-])"
                         r"|(?<![\w+])\+\d{1,3}(?:[ .-]\(?\d{1,4}\)?){2,5}(?![\w-])"), _phone),
    ("date_iso", re.compile(rf"({_L_DATE}\d{{3}})-(\d{{2}})-(\d{{2}})(?![\w-]|[./]\d)"), _iso_date),
    ("date_numeric", re.compile(rf"({_L_DATE}\d?)/(\d{{1,2}})/(\d{{4}}|\d{{2}})(?![\w/]|[.,]\d)"), _numeric_date),
    ("date_month_day", _rx(r"JFMASOND", rf"\b(?P<mon>{_MONTH_RE}) +(?P<d1>\d{{1,2}})(?:st|nd|rd|th)?"
                                  r"(?: ?[-–] ?(?P<d2>\d{1,2})(?:st|nd|rd|th)?)?(?![\w:]|[.,]\d)"
                                  r"(?:(?P<comma>,)? +(?P<y>\d{4})(?![\w:]|[.,]\d))?"), _month_day),
    ("date_day_month", re.compile(rf"(?P<d>{_L_NUM}\d?)(?:st|nd|rd|th)? +(?P<mon>{_MONTH_RE})(?!\w)"
                                  r"(?:,? +(?P<y>\d{4})(?![\w:]|[.,]\d))?"), _day_month),
    ("duration", re.compile(rf"({_L_DURATION}\d?):([0-5]\d):([0-5]\d)(?![\w:]|[.,]\d)"), _duration),
    ("time", re.compile(rf"(?P<h1>{_L_CLOCK}\d?)(?::(?P<m1>[0-5]\d))?"
                        r"(?: ?(?P<ap1>[AaPp])\.? ?[Mm](?![A-Za-z])(?P<dot1>\.)?)?"
                        r"(?: ?[-–] ?(?P<h2>\d{1,2})(?::(?P<m2>[0-5]\d))?"
                        r"(?: ?(?P<ap2>[AaPp])\.? ?[Mm](?![A-Za-z])(?P<dot2>\.)?)?)?(?![\w:]|[.,]\d)"), _time),
    ("money", _rx(r"\-−$€£¥₹₩₽A-Z", rf"(?<![\w$])(?P<neg>[-−])?(?:(?P<cur>{_CUR_SYM})|(?P<code>{_CUR_CODE}) ?)"
                         rf" ?(?P<neg2>[-−])?(?P<a>{_AMT})(?: ?[-–] ?(?:{_CUR_SYM})? ?(?P<b>{_AMT}))?"
                         rf"{_SCALE_RE}(?![\w])"), _money),
    ("money_code_after", re.compile(rf"(?P<a>{_AMT_LEAD}){_SCALE_RE} (?P<code>{_CUR_CODE})\b"), _money),
    ("cents", re.compile(rf"({_L_NUM}\d*) ?¢"), _cents),
    ("scaled_count", _rx(r"\d", rf"{_NUM_START}({_AMT})(bn|mn|tn)\b|{_NUM_START}({_AMT})([kKmb])(?=\s(?:{_COUNTED_NOUNS})\b)"),
     _scaled_count),
    ("feet_inches", re.compile(rf"({_L_NUM})['′](\d{{1,2}})(?:[\"″]|'')"),
     lambda m: f"{cardinal(int(m.group(1)))} foot {cardinal(int(m.group(2)))}"),
    ("named_number", _rx("479", rf"(?<![\w.,])({'|'.join(_NAMED)})(?![\w.,]\d|[\w-])"), lambda m: _NAMED[m.group(1)]),
    ("by", _rx("x", r"(?<=\d)x(?=\d)"), " by "),
    ("unit_range", re.compile(rf"(?P<a>{_AMT_LEAD}) ?(?P<u>{_UNIT_RE}) ?[-–] ?"
                              rf"(?=[-−]?(?:{_AMT}) ?(?P=u)(?![\w/]))"), r"\g<a>-"),
    ("unit", _rx(r"\d+\-−", rf"{_NUM_START}(?P<sign>[-−+])?(?P<a>{_AMT})(?: ?[-–] ?(?P<sign2>[-−])?(?P<b>{_AMT}))?"
                        rf"(?P<sep> ?|-)(?P<unit>{_UNIT_RE})(?P<dot>\.)?(?![\w/²³])"), _unit),
    ("powers", _rx(r"1", r"(?<![\w.,'’‘])(100|1,?000|10,?000|100,?000|1,?000,?000)['’]?s(?![\w'’])"), _powers),
    ("decade", re.compile(rf"({_L_DECADE}\d{{2}}0)['’]?s(?![\w'’])"), _decade),
    ("decade_short", _rx(r"\d'’‘", r"(?<![\w.,])['’‘]?(\d0)['’]?s(?![\w'’])"), _short_decade),
    ("ordinal", re.compile(rf"({_L_NUM}(?:\d{{0,2}}(?:,\d{{3}})+|\d*))(?:st|nd|rd|th|ST|ND|RD|TH)(?![A-Za-z])"),
     _ordinal),
    ("fraction_vulgar", _rx(r"\d½⅓⅔¼¾⅕⅖⅗⅘⅙⅚⅛⅜⅝⅞", rf"(?:{_NUM_START}(\d+)[ -]?)?([{''.join(_VULGAR)}])"), _vulgar),
    ("fraction_mixed", re.compile(rf"({_L_FRACTION}\d*)[ -](\d{{1,2}})/(\d{{1,3}})(?![\w/]|[.,]\d)"), _mixed),
    ("fraction", re.compile(rf"({_L_FRACTION}\d*)/(\d+)(?![\w/]|[.,]\d)"), _slash),
    ("year_range", re.compile(rf"({_L_YEAR1}\d{{3}}|{_L_YEAR2}0\d{{2}}) ?[-–] ?(\d{{4}}|\d{{2}})"
                              r"(?![\w/]|[.,:]\d)"), _year_range),
    ("range", _rx(r"\d\-−", rf"(?<![\w.,:/-])(?P<sa>[-−])?(?P<a>{_AMT}) ?[-–] ?(?P<sb>[-−])?(?P<b>{_AMT})"
                         r"(?![\w/]|[.,:]\d)"), _range),
    ("number_sign", _rx(r"#Nn", r"(?<![\w&#])#(?=\d)|\b[Nn]o\. ?(?=#?\d)|\bNos\. ?(?=\d)"),
     lambda m: "numbers " if m.group(0).startswith("Nos") else "number "),
    ("number", _rx(r"\d\-−.", r"(?P<sign>[-−])?(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)*|(?<![\w.])\.\d+)"),
     _number),
]
WORDS: list[Rule] = [
    ("state", re.compile(rf", ({alternation(_STATES)})\.(?!\w)"), _state),
    ("abbreviation", re.compile(rf"\b(?P<abbr>{_ABBR_RE})(?P<dot>\.)?(?![\w])"), _abbreviation),
    ("world_war", re.compile(r"WW(?:(II|2)|(I|1))\b"), _world_war),
    ("roman_counted", re.compile(rf"({alternation(_COUNTED)}) +(?=[IVXLCDM])({_ROMAN})\b"),
     _counted_roman),
    ("roman_regnal", re.compile(r"([A-Z][a-z]+) +(?=[IVX])((?:X{0,3})(?:IX|IV|V?I{0,3}))\b"), _regnal),
]
SLASHES: list[Rule] = [
    ("slash_per", re.compile(rf"\b({_PER_AFTER}) ?/ ?(?=(?:{_PER})s?\b)"), r"\1 per "),
    ("slash_with", re.compile(r"\b[Ww]/o\b|\b[Ww]/(?=\s)"), lambda m: "without" if m.group(0).endswith("o") else "with"),
    ("slash_words", re.compile(r"\b([A-Za-z]+)/([A-Za-z]+)\b"), _word_slash),
    ("slash", re.compile(r" ?/ ?"), lambda m: _pad(m, "slash")),
]
SYMBOLS: list[Rule] = [
    ("initialism", re.compile(r"\b([A-Z]{1,4})&([A-Z]{1,4})\b"), _initialism),
    ("hashtag", re.compile(r"#(?<![\w&#]#)(?=[^\W\d])"), "hashtag "),
    ("symbol", re.compile(rf"[{re.escape(''.join(_SIMPLE_SYMBOLS))}]"), _symbol),
]



# (gate, rules): a group runs only on the lines where its gate matches (most prose has no digits)
RULES: list[tuple[re.Pattern[str] | None, list[Rule]]] = [
    (re.compile(rf"://|www\.|@|\.(?:{_TLDS})\b"), ADDRESSES),
    (re.compile(rf"[\d{''.join(_VULGAR)}]"), NUMBERS),
    (None, WORDS),
    (re.compile("/"), SLASHES),
    (None, SYMBOLS),
]
_SEP = "\n\x00\n"  # expand() has replaced every NUL by a space


def _apply(text: str, rules: list[Rule]) -> str:
    for _name, pattern, repl in rules:
        text = pattern.sub(repl, text)
    return text


def _apply_gated(text: str, gate: re.Pattern[str], rules: list[Rule]) -> str:
    """The rules on just the lines the gate matches, joined so that each rule is still one pass."""
    lines = text.split("\n")
    picked = [i for i, line in enumerate(lines) if gate.search(line)]
    if len(picked) == len(lines):
        return _apply(text, rules)
    if not picked:
        return text
    # No rule matches a NUL or a line break, so the separators come back as they went in.
    done = _apply(_SEP.join(lines[i] for i in picked), rules).split(_SEP)
    for i, line in zip(picked, done, strict=True):
        lines[i] = line
    return "\n".join(lines)


def expand(text: str) -> str:
    """Apply every rule of `RULES` in order, one pass each."""
    if "\x00" in text:
        text = text.replace("\x00", " ")
    for gate, rules in RULES:
        text = _apply(text, rules) if gate is None else _apply_gated(text, gate, rules)
    return text
