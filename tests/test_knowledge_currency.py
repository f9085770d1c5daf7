"""Knowledge after the seeds (issue 20, part 1): regulatory citations and the label changes
K1-K3 of ../shared/design/knowledge-updates.md.

The K1-K3 patients themselves are vignettes (tests/vignettes/review/options.toml and
warnings.toml, findings "K1", "K2", "K3"); here: the catalogue's new citation kind (what it
accepts and refuses), what a card shows of it, and that no card anywhere still says what the
labels no longer say.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from service.config import Settings
from service.decision import RULES
from service.errors import CatalogueError
from service.paths import cards_dir
from service.render import load_catalogue
from service.render.catalogue import Citation
from tests.test_review_findings import REVIEWED
from tests.test_vignettes import EXTENSION, call
from tests.vignettes.build import VIGNETTES, request

CATALOGUE = load_catalogue(cards_dir())
UPDATES = Settings.from_env().seeds_dir.parent / "design" / "knowledge-updates.md"

# What the labels no longer say (K1, K3), matched case-insensitively as words.
OUT_OF_DATE = {
    "first month": "K3: 2 weeks near the centre, not the first month",
    "4 weeks near": "K3: 2 weeks near the centre",
    "8 weeks": "K3: 2 weeks without driving",
    "REMS": "K3: the CAR T REMS was eliminated",
    "REMS-certified": "K3",
    "adult label": "K1: inotuzumab is labelled from 1 year",
    "outside the adult approval": "K1",
    "adults only": "K1",
    "under 18 (adult": "K1",
}


def _banned(text: str) -> list[str]:
    return [p for p in OUT_OF_DATE if re.search(rf"(?<![\w-]){re.escape(p)}(?![\w-])", text,
                                                re.IGNORECASE)]


def _card_text(card: dict[str, Any]) -> str:
    return "\n".join((card["summary"], card.get("detail", ""), card["source"]["label"],
                      *(s["label"] for s in card.get("suggestions", ()))))


# --- the catalogue's regulatory citation kind ------------------------------------------------


def test_the_three_changes_are_cited_with_title_url_and_date() -> None:
    regs = CATALOGUE.regulatory
    assert {"K1", "K2", "K3"} <= set(regs)
    assert str(regs["K1"].date) == "2024-03-06" and str(regs["K2"].date) == "2024-04-18"
    assert str(regs["K3"].date) == "2025-06-26"
    assert regs["K1"].url.startswith("https://www.fda.gov/") and regs["K2"].url
    cited = {c.key: rid for rid, e in CATALOGUE.entries.items() for c in e.citations
             if c.kind == "regulatory"}
    assert {"K1", "K2", "K3"} <= set(cited)


@pytest.mark.skipif(not UPDATES.is_file(), reason=f"{UPDATES} not present")
def test_every_regulatory_source_is_the_one_knowledge_updates_verified() -> None:
    """The catalogue copies knowledge-updates.md: same date, same title, same URL (a URL is
    never written from memory; where the file gives none, the catalogue gives none)."""
    text = UPDATES.read_text("utf-8")
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| (K\d+) \|.*$", text, re.M)}
    for key, reg in CATALOGUE.regulatory.items():
        row = rows[key]
        assert f"| {reg.date.isoformat()} |" in row, key
        assert reg.title in row, key
        urls = re.findall(r"https://\S+", row)
        assert (reg.url in urls) if reg.url else not urls, key


def test_a_superseded_seed_passage_is_cited_beside_the_regulation_that_replaces_it() -> None:
    entry = CATALOGUE.entries["MON-CART-PROXIMITY"]
    k3 = next(c for c in entry.citations if c.key == "K3")
    assert k3.supersedes == "000_a06f977e438a063b.txt: Patient support and quality of life"
    assert any(c.kind == "seed" and "first month" in c.quote for c in entry.citations)
    assert "2025 US labels stand" in k3.note


def _catalogue_with(tmp_path: Path, file: str, old: str, new: str) -> Path:
    """A copy of the catalogue with one edit: `old` is a regular expression matched once."""
    copy = tmp_path / "cards"
    shutil.copytree(cards_dir(), copy)
    text = (copy / file).read_text("utf-8")
    assert len(re.findall(old, text)) == 1, old
    (copy / file).write_text(re.sub(old, lambda _: new, text), "utf-8")
    return copy


SUPERSEDES = 'supersedes = "000_a06f977e438a063b.txt: Patient support and quality of life"'


@pytest.mark.parametrize(("file", "old", "new", "says"), [
    ("monitoring.toml", r'\{ regulatory = "K2" \}', '{ regulatory = "K9" }',
     "cites regulatory source 'K9', which is not in catalogue.toml"),
    ("monitoring.toml", r'\{ regulatory = "K2" \}', '{ regulatory = "K2", url = "https://x.org" }',
     "regulatory citation K2: unknown key 'url'"),
    ("monitoring.toml", re.escape(SUPERSEDES) + r', note = "[^"]*"', SUPERSEDES,
     "has no 'note' saying which stands"),
    ("monitoring.toml", re.escape(SUPERSEDES),
     'supersedes = "000_a06f977e438a063b.txt: Table 3 (FDA-approved agents for ALL)"',
     "which the entry does not cite (it cites both"),
    ("catalogue.toml", 'date = "2024-04-18"', 'date = "2024-04-31"', "is not a date"),
    ("catalogue.toml", r'url = "https://www\.fda\.gov/vaccines', 'url = "http://www.fda.gov/vaccines',
     "is not an https:// address"),
    ("catalogue.toml", r'no_url = "[^"]*"\n', "", "no 'url'"),
])
def test_start_up_refuses_a_malformed_regulatory_citation(tmp_path: Path, file: str, old: str,
                                                          new: str, says: str) -> None:
    with pytest.raises(CatalogueError) as err:
        load_catalogue(_catalogue_with(tmp_path, file, old, new))
    assert says in str(err.value)
    assert "\n" not in str(err.value)


def test_a_regulatory_citation_needs_no_seed_and_counts_as_none() -> None:
    """The rule's declared seeds are compared with seed citations only: a regulatory source is
    evidence beside them, not a seed."""
    for rid, entry in CATALOGUE.entries.items():
        seeds = {CATALOGUE.seeds[c.seed].key for c in entry.citations if c.kind == "seed"}
        assert seeds == set(RULES[rid].seeds), rid
    c = Citation(kind="regulatory", key="K1", agency="FDA", title="t" * 20)
    assert c.seed == "" and c.label == "FDA"


def test_the_service_starts_and_cites_regulation_without_the_seeds(make_app, tmp_path) -> None:
    """The container holds no seeds: the catalogue, regulatory sources included, loads from
    cards/ alone."""
    app = make_app(seeds_dir=str(tmp_path / "no-seeds"))
    cards = call(app.test_client(), request(_order("tisagenlecleucel", age=20)))
    ext = next(c for c in cards if "MON-CART-PROXIMITY" in c["extension"][EXTENSION]["ids"])
    assert ext["extension"][EXTENSION]["regulatory"][0]["id"] in {"K2", "K3"}


# --- what a card shows of it -------------------------------------------------------------------


def _order(drug: str, age: int = 45, hook: str = "order-sign") -> dict[str, Any]:
    return {"id": f"{drug}-{age}", "age": age, "dx": "b-all",
            "status": "second-or-later-relapse", "markers": {"cd19": "positive",
                                                             "cd22": "positive"},
            "blasts": 20, "hook": hook, "orders": [drug]}


def test_a_car_t_order_card_carries_its_regulatory_sources(client) -> None:
    cards = call(client, request(_order("brexucabtagene")))
    card = next(c for c in cards if "MON-CART-PROXIMITY" in c["extension"][EXTENSION]["ids"])
    regs = card["extension"][EXTENSION]["regulatory"]
    assert [r["id"] for r in regs] == ["K3", "K2"]  # newest first
    k2 = regs[1]
    assert k2 == {"id": "K2", "agency": "FDA", "date": "2024-04-18",
                  "url": CATALOGUE.regulatory["K2"].url}
    assert "url" not in regs[0]  # K3: the verified record gives no URL
    assert card["source"]["label"].split(" · ")[1].startswith("FDA (2025-06-26); FDA (2024-04-18)")
    assert f"[FDA 2024-04-18]({k2['url']})" in card["detail"]
    # the seed evidence is still listed beside it
    assert {"seed": "000_a06f977e438a063b.txt", "section": "Patient support and quality of "
            "life"} in card["extension"][EXTENSION]["evidence"]


def test_a_card_without_a_regulatory_source_has_no_regulatory_key(client) -> None:
    """CDS Hooks forbids empty arrays: no regulatory source, no key."""
    cards = call(client, request(_order("blinatumomab", age=40)))
    assert cards and all("regulatory" not in c["extension"][EXTENSION] for c in cards)


# --- nothing out of date, anywhere ----------------------------------------------------------


def test_no_catalogue_entry_says_what_the_labels_no_longer_say() -> None:
    for rid, e in CATALOGUE.entries.items():
        sample = dict(e.sample)
        text = "\n".join((e.title.render(sample), e.summary.render(sample),
                          e.detail.render(sample), e.clause))
        assert not _banned(text), (rid, _banned(text))


ORDERED = ("tisagenlecleucel", "brexucabtagene", "obecabtagene", "car-t", "inotuzumab")


def test_no_card_for_any_vignette_says_what_the_labels_no_longer_say(client) -> None:
    """Every vignette as written, and every B-ALL vignette with each CAR T product (and an
    unnamed CAR T) and inotuzumab ordered: no card text names an out-of-date label."""
    seen = 0
    for v in [*VIGNETTES, *REVIEWED]:
        bodies = [request(v)]
        if v.get("dx") == "b-all":
            bodies += [request({**v, "hook": "order-sign", "orders": [drug]})
                       for drug in ORDERED]
        for body in bodies:
            for card in call(client, body):
                seen += 1
                found = _banned(_card_text(card))
                assert not found, (v["id"], body["hook"], [OUT_OF_DATE[f] for f in found],
                                   card["summary"])
    assert seen > 1000


def test_the_rule_page_and_book_show_the_regulator_beside_the_superseded_passage(app) -> None:
    from service.rule_book import rule_book

    page = app.test_client().get("/rules/MON-CART-PROXIMITY", headers={"Authorization": ""})
    html = page.get_data(as_text=True)
    k2 = CATALOGUE.regulatory["K2"]
    assert f"<a href='{k2.url}'>" in html and "regulatory K3; 2025-06-26" in html
    assert "Supersedes 000_a06f977e438a063b.txt: Patient support and quality of life" in html
    assert "for the first month" in html  # the superseded passage is still quoted
    section = rule_book(RULES, CATALOGUE).split("### MON-CART-PROXIMITY: ")[1].split("\n### ")[0]
    assert f"FDA (regulatory K2, 2024-04-18), \u201c{k2.title}\u201d, {k2.url}: " in section
    assert "no URL in the verified record" in section
