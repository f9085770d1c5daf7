"""The clinical review's findings (../shared/design/clinical-review.md), one vignette each.

Every finding (U1, W3, ...) has at least one vignette in tests/vignettes/review/*.toml with the
reviewer's patient, built like the other vignettes (tests/vignettes/build.py), and asserting
the substance the finding names: which card, which indicator, which words must or must not
appear. A vignette written before its fix carries `xfail = "why"` (strict: it must fail until
the fix lands, then the marker goes).

Assertions (all optional): `expect` / `absent` (catalogue ids on some card / on none),
`critical` (exact number of critical cards), `max_indicator` (no card above it),
`indicators` ({id: indicator of the card carrying it}), `lead` (the first card's lead id),
`says` / `never_says` (phrases in / nowhere in any card's summary or detail, case-insensitive),
`says_on` / `summary_says` ({id: phrases} in the text / summary of the card carrying it),
`delete` (whether some card offers to delete a draft), `order` (ids whose carrying cards
appear in this order, each on a card of its own: which option the clinician reads first).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.test_vignettes import EXTENSION, call
from tests.vignettes.build import request

REVIEW = Path(__file__).parent / "vignettes" / "review"
RANK = {"info": 0, "warning": 1, "critical": 2}
# the review's 36 ids: unsafe, wrong, misleading, omission, fatigue, style
FINDINGS = tuple(f"{kind}{n}" for kind, count in (("U", 4), ("W", 6), ("M", 9), ("O", 9),
                                                  ("F", 4), ("S", 4)) for n in range(1, count + 1))


def _load() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted(REVIEW.glob("*.toml")):
        out += tomllib.loads(path.read_text("utf-8")).get("vignette", [])
    return out


REVIEWED = _load()


def _params() -> list[Any]:
    return [pytest.param(v, id=v["id"], marks=[pytest.mark.xfail(reason=v["xfail"], strict=True)]
                         if v.get("xfail") else []) for v in REVIEWED]


def carrying(cards: list[dict[str, Any]], rule_id: str) -> dict[str, Any]:
    for c in cards:
        if rule_id in c["extension"][EXTENSION]["ids"]:
            return c
    raise AssertionError(f"no card carries {rule_id}; got {[summary(c) for c in cards]}")


def summary(c: dict[str, Any]) -> str:
    return f"[{c['indicator']}] {c['summary']}"


def text(c: dict[str, Any]) -> str:
    return f"{c['summary']}\n{c.get('detail', '')}".lower()


@pytest.mark.parametrize("v", _params())
def test_reviewed_patient(client, v: dict[str, Any]) -> None:
    cards = call(client, request(v))
    shown = [summary(c) for c in cards]
    ids = {i for c in cards for i in c["extension"][EXTENSION]["ids"]}
    missing = set(v.get("expect", ())) - ids
    assert not missing, f"missing {sorted(missing)}; cards {shown}"
    unwanted = set(v.get("absent", ())) & ids
    assert not unwanted, f"must not show {sorted(unwanted)}; cards {shown}"
    assert len(cards) <= 8
    if "critical" in v:
        assert sum(c["indicator"] == "critical" for c in cards) == v["critical"], shown
    if "max_indicator" in v:
        top = RANK[v["max_indicator"]]
        assert all(RANK[c["indicator"]] <= top for c in cards), shown
    for rule_id, indicator in v.get("indicators", {}).items():
        assert carrying(cards, rule_id)["indicator"] == indicator, shown
    if "lead" in v:
        assert cards and cards[0]["extension"][EXTENSION]["id"] == v["lead"], shown
    everything = "\n".join(text(c) for c in cards)
    for phrase in v.get("says", ()):
        assert phrase.lower() in everything, f"{phrase!r} not on any card: {shown}"
    for phrase in v.get("never_says", ()):
        assert phrase.lower() not in everything, f"{phrase!r} must not be said: {shown}"
    for rule_id, phrases in v.get("says_on", {}).items():
        card = text(carrying(cards, rule_id))
        for phrase in phrases:
            assert phrase.lower() in card, f"{rule_id}: {phrase!r} not in {card!r}"
    for rule_id, phrases in v.get("summary_says", {}).items():
        head = carrying(cards, rule_id)["summary"].lower()
        for phrase in phrases:
            assert phrase.lower() in head, f"{rule_id}: {phrase!r} not in summary {head!r}"
    if "order" in v:
        where = [next(i for i, c in enumerate(cards) if rule_id in c["extension"][EXTENSION]["ids"])
                 for rule_id in v["order"] if carrying(cards, rule_id)]
        assert where == sorted(set(where)) and len(set(where)) == len(where), \
            f"{v['order']} not in this order on separate cards: {shown}"
    if "delete" in v:
        deletes = any(a["type"] == "delete" for c in cards for s in c.get("suggestions", [])
                      for a in s["actions"])
        assert deletes is v["delete"], shown


def test_every_finding_has_a_vignette() -> None:
    covered = {f for v in REVIEWED for f in v.get("finding", ())}
    assert set(FINDINGS) <= covered, sorted(set(FINDINGS) - covered)
