"""Parsing of MRD, percentages and cell counts from FHIR Quantities and free text.

The same MRD can arrive as ``0.01 %``, ``0.0001`` (UCUM ``1``), ``1 10*-4``, ``"<0.01%"``,
``"1e-4"`` or ``"1 x 10^-4"``; all must normalise to the same fraction. The one thing these
functions must never do is turn something they do not understand into a number: a bare ``0.01``
without a unit could be a fraction or a percentage, so it is unreadable, not guessed. Every
function returns either a parsed value or ``Unreadable`` with a reason a person can act on, and
none of them raises on any input.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from service.fhir.terminology import normalise_text

Comparator = Literal["<", "<=", ">", ">="]
_COMPARATORS: frozenset[str] = frozenset({"<", "<=", ">", ">="})


@dataclass(frozen=True, slots=True)
class Unreadable:
    reason: str
    raw: str


@dataclass(frozen=True, slots=True)
class ParsedMrd:
    """``fraction`` is in [0, 1]; ``detected`` only from a detected / not-detected phrase."""

    fraction: float | None
    comparator: Comparator | None
    detected: bool | None
    raw: str

    @property
    def below_lod(self) -> bool:
        return self.comparator in ("<", "<=")


@dataclass(frozen=True, slots=True)
class ParsedNumber:
    value: float
    comparator: Comparator | None
    raw: str


# --- helpers ------------------------------------------------------------------------------

_SUPERSCRIPTS = str.maketrans("⁻⁺⁰¹²³⁴⁵⁶⁷⁸⁹", "-+0123456789")
_UNICODE = {"×": "x", "−": "-", "–": "-", "≤": "<=", "≥": ">=", "µ": "u", "μ": "u", "\u00a0": " "}


_SUPERSCRIPT_RUN = re.compile(r"([⁻⁺]?[⁰¹²³⁴⁵⁶⁷⁸⁹]+)")


def _clean(text: str) -> str:
    if text.isascii():  # nearly every unit and value: nothing below can apply to ASCII
        return text.strip().lower()
    out = text
    for k, v in _UNICODE.items():
        out = out.replace(k, v)
    # "10⁻⁴" → "10^-4": a superscript run is an exponent
    out = _SUPERSCRIPT_RUN.sub(lambda m: "^" + m.group(1).translate(_SUPERSCRIPTS), out)
    return out.strip().lower()


def _finite_number(value: Any) -> float | None:
    # bool is an int subclass; a JSON true is not a measurement
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        f = float(value)
    except (OverflowError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _raw_quantity(q: Mapping[str, Any]) -> str:
    parts = [
        str(q.get("comparator") or ""),
        str(q.get("value", "")),
        str(q.get("unit") or q.get("code") or ""),
    ]
    return (parts[0] + parts[1] + (" " + parts[2] if parts[2] else "")).strip()


def _unit_of(q: Mapping[str, Any]) -> str:
    """The unit to interpret: the UCUM code when given, else the human-readable unit."""
    code = q.get("code")
    unit = q.get("unit")
    chosen = code if isinstance(code, str) and code.strip() else unit
    return _clean(chosen) if isinstance(chosen, str) else ""


_POWER_UNIT = re.compile(r"^x?\s*10\s*[*^]\s*([-+]?\d{1,3})$")
_FRACTION_UNITS = frozenset({"1", "{fraction}", "fraction", "{ratio}", "ratio"})
_PERCENT_UNITS = frozenset({"%", "percent", "pct", "%{blasts}", "% of blasts", "{%}"})


def _scale_for_fraction(unit: str) -> float | Unreadable:
    """Multiplier turning a value in ``unit`` into a fraction (cells / cells)."""
    if unit in _PERCENT_UNITS:
        return 0.01
    if unit in _FRACTION_UNITS:
        return 1.0
    m = _POWER_UNIT.match(unit)
    if m:
        return 10.0 ** int(m.group(1))
    if not unit:
        return Unreadable("no unit: a bare number could be a fraction or a percentage", unit)
    return Unreadable(f"unit {unit!r} is not a percentage or fraction unit", unit)


def _read_quantity(q: Any) -> tuple[str, float, str | None] | Unreadable:
    """(raw text, value, comparator) of a Quantity, or why it cannot be read: the checks every
    quantity-valued concept shares before its own unit rules."""
    if not isinstance(q, Mapping):
        return Unreadable("valueQuantity is not an object", repr(q)[:80])
    raw = _raw_quantity(q)
    value = _finite_number(q.get("value"))
    if value is None:
        return Unreadable("quantity has no numeric value", raw)
    comparator = q.get("comparator")
    if comparator is not None and comparator not in _COMPARATORS:
        return Unreadable(f"comparator {comparator!r} not understood", raw)
    return raw, value, comparator


# --- MRD ----------------------------------------------------------------------------------


def parse_mrd_quantity(q: Any) -> ParsedMrd | Unreadable:
    """MRD from a FHIR Quantity (value, comparator, unit / UCUM code)."""
    read = _read_quantity(q)
    if isinstance(read, Unreadable):
        return read
    raw, value, comparator = read
    scale = _scale_for_fraction(_unit_of(q))
    if isinstance(scale, Unreadable):
        return Unreadable(scale.reason, raw)
    return _checked_fraction(value * scale, comparator, None, raw)


def _checked_fraction(
    fraction: float, comparator: str | None, detected: bool | None, raw: str
) -> ParsedMrd | Unreadable:
    if not math.isfinite(fraction) or fraction < 0 or fraction > 1:
        return Unreadable("MRD outside 0-100 %", raw)
    if comparator in ("<", "<=") and detected is True:
        return Unreadable("says detected and below the limit of detection", raw)
    return ParsedMrd(fraction, comparator, detected, raw)  # type: ignore[arg-type]


_NUM = r"(?:\d+(?:\.\d*)?|\.\d+)"
_MRD_NUMBER = re.compile(
    rf"""^(?P<cmp><=|>=|<|>)?\s*
    (?:
      (?P<mant>{_NUM})\s*
      (?:e(?P<e>[-+]?\d{{1,3}})|\s*[x*]\s*10\s*\^?\s*(?P<x>[-+]?\d{{1,3}}))?
    |
      10\s*[\^*]\s*(?P<pow>[-+]?\d{{1,3}})
    )
    \s*(?P<unit>%)?$""",
    re.VERBOSE,
)
_WORD_COMPARATORS = (
    ("less than or equal to", "<="),
    ("less than", "<"),
    ("below", "<"),
    ("greater than or equal to", ">="),
    ("greater than", ">"),
    ("above", ">"),
)


def _parse_mrd_number(text: str) -> ParsedMrd | Unreadable:
    t = text
    for words, sym in _WORD_COMPARATORS:
        if t.startswith(words):
            t = sym + t[len(words) :]
            break
    m = _MRD_NUMBER.match(t.strip())
    if not m:
        return Unreadable("not a number, percentage or detected / not detected", text)
    try:
        if m.group("pow") is not None:
            value = 10.0 ** int(m.group("pow"))
            exponent_given = True
        else:
            value = float(m.group("mant"))
            exp = m.group("e") if m.group("e") is not None else m.group("x")
            exponent_given = exp is not None
            if exponent_given:
                value *= 10.0 ** int(exp)
    except (OverflowError, ValueError):
        return Unreadable("number out of range", text)
    if m.group("unit"):
        value /= 100.0
    elif not exponent_given and value != 0:
        return Unreadable("no unit: a bare number could be a fraction or a percentage", text)
    return _checked_fraction(value, m.group("cmp"), None, text)


def parse_mrd_text(text: Any, phrases: Mapping[str, bool]) -> ParsedMrd | Unreadable:
    """MRD from a string: '<0.01%', '1e-4', '1 x 10^-4', 'not detected', 'negative (<0.01%)'.

    ``phrases`` maps detected / not-detected wordings (normalised with ``normalise_text``) to
    True / False; the extractor takes them from the CodeSystem's synonyms
    (``Terminology.detection_phrases``) so that wording lives in one place.
    """
    if not isinstance(text, str):
        return Unreadable("value is not text", repr(text)[:80])
    raw = text.strip()
    t = _clean(text)
    t = re.sub(r"^mrd\b\s*[:=-]?\s*", "", t)
    if not t:
        return Unreadable("empty value", raw)
    # "not detected (<0.01%)" / "<0.01% (negative)": a phrase plus a number in parentheses
    m = re.fullmatch(r"(?P<a>[^()]+?)\s*\((?P<b>[^()]+)\)", t)
    if m:
        a, b = m.group("a").strip(), m.group("b").strip()
        phrase, number = (a, b) if normalise_text(a) in phrases else (b, a)
        if normalise_text(phrase) not in phrases:
            return Unreadable("not a number, percentage or detected / not detected", raw)
        parsed = _parse_mrd_number(number)
        if isinstance(parsed, Unreadable):
            return Unreadable(parsed.reason, raw)
        return _checked_fraction(
            parsed.fraction or 0.0, parsed.comparator, phrases[normalise_text(phrase)], raw
        )
    if normalise_text(t) in phrases:
        return ParsedMrd(None, None, phrases[normalise_text(t)], raw)
    parsed = _parse_mrd_number(t)
    if isinstance(parsed, Unreadable):
        return Unreadable(parsed.reason, raw)
    return ParsedMrd(parsed.fraction, parsed.comparator, None, raw)


# --- percentages (marker expression, marrow blasts) ---------------------------------------


def parse_percent_quantity(q: Any) -> ParsedNumber | Unreadable:
    """A percentage 0-100 from a Quantity in % (or a fraction in UCUM 1)."""
    read = _read_quantity(q)
    if isinstance(read, Unreadable):
        return read
    raw, value, comparator = read
    unit = _unit_of(q)
    if unit in _PERCENT_UNITS:
        percent = value
    elif unit in _FRACTION_UNITS:
        percent = value * 100.0
    elif not unit:
        return Unreadable("no unit: expected %", raw)
    else:
        return Unreadable(f"unit {unit!r} is not a percentage", raw)
    return _checked_percent(percent, comparator, raw)


def _checked_percent(percent: float, comparator: str | None, raw: str) -> ParsedNumber | Unreadable:
    if not math.isfinite(percent) or percent < 0 or percent > 100:
        return Unreadable("percentage outside 0-100", raw)
    return ParsedNumber(percent, comparator, raw)  # type: ignore[arg-type]


_PERCENT_TEXT = re.compile(rf"^(?P<cmp><=|>=|<|>)?\s*(?P<num>{_NUM})\s*%$")


def parse_percent_text(text: Any) -> ParsedNumber | Unreadable:
    """'85%', '< 5 %'. A number without % is unreadable (could be a fraction)."""
    if not isinstance(text, str):
        return Unreadable("value is not text", repr(text)[:80])
    raw = text.strip()
    m = _PERCENT_TEXT.match(_clean(text))
    if not m:
        return Unreadable("not a percentage such as '85%'", raw)
    try:
        value = float(m.group("num"))
    except (OverflowError, ValueError):
        return Unreadable("number out of range", raw)
    return _checked_percent(value, m.group("cmp"), raw)


# --- counts (CD3 /uL) ---------------------------------------------------------------------

_PER_UL = frozenset(
    {
        "/ul",
        "cells/ul",
        "{cells}/ul",
        "/mm3",
        "cells/mm3",
        "{cells}/mm3",
        "/mm^3",
        "cells/mm^3",
        "/cumm",
        "cells/cumm",
        "10*6/l",
        "10^6/l",
        "x10^6/l",
    }
)
_PER_L_E9 = frozenset({"10*9/l", "10^9/l", "x10^9/l", "x10e9/l", "10e9/l"})


def parse_count_per_ul(q: Any) -> ParsedNumber | Unreadable:
    """Cells per microlitre (= per mm³; 10^6/L is the same unit, 10^9/L is ×1000)."""
    read = _read_quantity(q)
    if isinstance(read, Unreadable):
        return read
    raw, value, comparator = read
    unit = _unit_of(q).replace(" ", "")
    if unit in _PER_UL:
        count = value
    elif unit in _PER_L_E9:
        count = value * 1000.0
    else:
        return Unreadable(f"unit {unit!r} is not a count per uL" if unit else "no unit", raw)
    if count < 0 or not math.isfinite(count):
        return Unreadable("negative count", raw)
    return ParsedNumber(count, comparator, raw)  # type: ignore[arg-type]


def parse_integer(value: Any, lo: int | None, hi: int | None) -> int | Unreadable:
    """An integer grade or score: valueInteger, or a unitless whole-number Quantity."""
    raw = repr(value)[:80]
    if isinstance(value, Mapping):
        raw = _raw_quantity(value)
        if value.get("comparator"):
            return Unreadable("a grade or count cannot carry a comparator", raw)
        value = value.get("value")
    number = _finite_number(value)
    if number is None or number != int(number):
        return Unreadable("not a whole number", raw)
    n = int(number)
    if (lo is not None and n < lo) or (hi is not None and n > hi):
        return Unreadable(f"outside the valid range {lo}-{hi}", raw)
    return n
