"""MRD, percentage and count parsing: accepted forms agree; unreadable never becomes a number."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service import paths
from service.fhir.terminology import load_terminology
from service.fhir.values import (
    ParsedMrd,
    ParsedNumber,
    Unreadable,
    parse_count_per_ul,
    parse_integer,
    parse_mrd_quantity,
    parse_mrd_text,
    parse_percent_quantity,
    parse_percent_text,
)

UCUM = "http://unitsofmeasure.org"
PHRASES = load_terminology(paths.profiles_dir()).detection_phrases()

# every way the contract says 1e-4 can arrive
ONE_E_MINUS_4 = [
    parse_mrd_quantity({"value": 0.01, "unit": "%", "system": UCUM, "code": "%"}),
    parse_mrd_quantity({"value": 0.0001, "unit": "1", "system": UCUM, "code": "1"}),
    parse_mrd_quantity({"value": 1, "unit": "x10^-4", "system": UCUM, "code": "10*-4"}),
    parse_mrd_quantity({"value": 1, "unit": "10^-4"}),
    parse_mrd_text("0.01%", PHRASES),
    parse_mrd_text("0.01 %", PHRASES),
    parse_mrd_text("1e-4", PHRASES),
    parse_mrd_text("1E-04", PHRASES),
    parse_mrd_text("1 x 10^-4", PHRASES),
    parse_mrd_text("1x10-4", PHRASES),
    parse_mrd_text("1 × 10⁻⁴", PHRASES),
    parse_mrd_text("10^-4", PHRASES),
    parse_mrd_text("MRD: 0.01%", PHRASES),
]


@pytest.mark.parametrize("parsed", ONE_E_MINUS_4, ids=lambda p: p.raw)
def test_every_mrd_form_normalises_to_the_same_fraction(parsed: ParsedMrd) -> None:
    assert isinstance(parsed, ParsedMrd)
    assert parsed.fraction == pytest.approx(1e-4)
    assert parsed.comparator is None and not parsed.below_lod and parsed.detected is None


@pytest.mark.parametrize(
    "parsed",
    [
        parse_mrd_quantity({"value": 0.01, "comparator": "<", "unit": "%", "code": "%"}),
        parse_mrd_quantity({"value": 1, "comparator": "<", "code": "10*-4"}),
        parse_mrd_text("<0.01%", PHRASES),
        parse_mrd_text("< 1e-4", PHRASES),
        parse_mrd_text("less than 0.01%", PHRASES),
        parse_mrd_text("≤ 0.01%", PHRASES),
    ],
    ids=lambda p: p.raw,
)
def test_below_limit_of_detection_keeps_the_bound(parsed: ParsedMrd) -> None:
    assert isinstance(parsed, ParsedMrd)
    assert parsed.below_lod
    assert parsed.fraction == pytest.approx(1e-4)


@pytest.mark.parametrize(
    ("text", "detected"),
    [
        ("not detected", False),
        ("Not Detected", False),
        ("undetectable", False),
        ("negative", False),
        ("detected", True),
        ("POSITIVE", True),
    ],
)
def test_detected_phrases_set_detected_without_a_number(text: str, detected: bool) -> None:
    parsed = parse_mrd_text(text, PHRASES)
    assert isinstance(parsed, ParsedMrd)
    assert parsed.detected is detected and parsed.fraction is None


def test_phrase_with_bound_in_parentheses() -> None:
    parsed = parse_mrd_text("not detected (<0.01%)", PHRASES)
    assert isinstance(parsed, ParsedMrd)
    assert parsed.detected is False and parsed.below_lod
    assert parsed.fraction == pytest.approx(1e-4)


@pytest.mark.parametrize(
    "value",
    [
        "0.01",  # bare number: fraction or percent? never guessed
        "lots",
        "",
        "see report",
        "0.01 cells",
        "1e-4 %%",
        "150%",
        "-0.01%",
        "detected (<0.01%)",  # self-contradictory
        "1e999",
        "nan",
        "0,01%",  # decimal comma is ambiguous with a thousands separator
    ],
)
def test_unreadable_text_is_never_a_number(value: str) -> None:
    parsed = parse_mrd_text(value, PHRASES)
    assert isinstance(parsed, Unreadable), parsed
    assert parsed.reason


@pytest.mark.parametrize(
    "quantity",
    [
        {"value": 0.0001},  # no unit
        {"value": 0.01, "unit": "cells"},
        {"value": "0.01", "unit": "%"},  # JSON string, not a number
        {"value": True, "unit": "%"},
        {"value": 2, "code": "1"},  # a fraction above 1
        {"value": 0.01, "unit": "%", "comparator": "~"},
        {"unit": "%"},
        "0.01%",
        None,
    ],
)
def test_unreadable_quantities_are_never_a_number(quantity: object) -> None:
    assert isinstance(parse_mrd_quantity(quantity), Unreadable)


# --- properties ---------------------------------------------------------------------------

_text = st.one_of(
    st.text(max_size=30),
    st.text(alphabet="0123456789.,eEx×^*<>=≤≥%-+ ⁻⁴detcnoDT()", max_size=20),
)


@settings(max_examples=150, deadline=None)
@given(_text)
def test_mrd_text_never_raises_and_numbers_are_fractions(text: str) -> None:
    parsed = parse_mrd_text(text, PHRASES)
    assert isinstance(parsed, ParsedMrd | Unreadable)
    if isinstance(parsed, ParsedMrd) and parsed.fraction is not None:
        assert math.isfinite(parsed.fraction) and 0.0 <= parsed.fraction <= 1.0


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(categories=["L", "P", "Zs"]), max_size=25))
def test_text_without_digits_never_becomes_a_number(text: str) -> None:
    parsed = parse_mrd_text(text, PHRASES)
    if isinstance(parsed, ParsedMrd):
        assert parsed.fraction is None and parsed.detected is not None


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["value", "unit", "code", "system", "comparator"]),
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8)),
    )
)
def test_quantity_parsers_never_raise(q: dict[str, object]) -> None:
    for parse in (parse_mrd_quantity, parse_percent_quantity, parse_count_per_ul):
        result = parse(q)
        assert isinstance(result, ParsedMrd | ParsedNumber | Unreadable)
        number = getattr(result, "fraction", None) or getattr(result, "value", None)
        if number is not None:
            assert math.isfinite(number)
    if not isinstance(q.get("value"), int | float) or isinstance(q.get("value"), bool):
        assert isinstance(parse_mrd_quantity(q), Unreadable)


@settings(max_examples=100, deadline=None)
@given(st.floats(min_value=1e-7, max_value=1.0))
def test_percent_fraction_and_text_forms_agree(fraction: float) -> None:
    as_percent = parse_mrd_quantity({"value": fraction * 100, "unit": "%"})
    as_fraction = parse_mrd_quantity({"value": fraction, "code": "1", "system": UCUM})
    as_sci = parse_mrd_text(f"{fraction:e}", PHRASES)
    as_pct_text = parse_mrd_text(f"{fraction * 100:.12g}%", PHRASES)
    for parsed in (as_percent, as_fraction, as_sci, as_pct_text):
        assert isinstance(parsed, ParsedMrd)
        assert parsed.fraction == pytest.approx(fraction, rel=1e-6)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=20))
def test_percent_text_never_raises_and_stays_in_range(text: str) -> None:
    parsed = parse_percent_text(text)
    if isinstance(parsed, ParsedNumber):
        assert 0.0 <= parsed.value <= 100.0
        assert "%" in text


# --- percentages, counts, integers --------------------------------------------------------


def test_percent_quantity_forms() -> None:
    assert parse_percent_quantity({"value": 85, "unit": "%"}) == ParsedNumber(85, None, "85 %")
    fraction = parse_percent_quantity({"value": 0.85, "code": "1", "system": UCUM})
    assert isinstance(fraction, ParsedNumber) and fraction.value == pytest.approx(85)
    below = parse_percent_text("<5 %")
    assert isinstance(below, ParsedNumber) and (below.value, below.comparator) == (5, "<")
    assert isinstance(parse_percent_quantity({"value": 85}), Unreadable)
    assert isinstance(parse_percent_quantity({"value": 185, "unit": "%"}), Unreadable)
    assert isinstance(parse_percent_text("85"), Unreadable)


@pytest.mark.parametrize(
    ("quantity", "per_ul"),
    [
        ({"value": 420, "unit": "cells/uL", "code": "/uL"}, 420),
        ({"value": 420, "unit": "cells/mm3"}, 420),
        ({"value": 420, "unit": "cells/µL"}, 420),
        ({"value": 0.42, "code": "10*9/L"}, 420),
        ({"value": 420, "code": "10*6/L"}, 420),
    ],
)
def test_cd3_count_units(quantity: dict[str, object], per_ul: float) -> None:
    parsed = parse_count_per_ul(quantity)
    assert isinstance(parsed, ParsedNumber) and parsed.value == pytest.approx(per_ul)


def test_cd3_count_rejects_unknown_units() -> None:
    assert isinstance(parse_count_per_ul({"value": 420, "unit": "%"}), Unreadable)
    assert isinstance(parse_count_per_ul({"value": 420}), Unreadable)


def test_integer_grades() -> None:
    assert parse_integer(3, 0, 4) == 3
    assert parse_integer({"value": 2}, 0, 4) == 2
    assert isinstance(parse_integer(5, 0, 4), Unreadable)
    assert isinstance(parse_integer(2.5, 0, 4), Unreadable)
    assert isinstance(parse_integer(True, 0, 4), Unreadable)
    assert isinstance(parse_integer({"value": 2, "comparator": ">"}, 0, 4), Unreadable)
