"""The catalogue's citations against the real seed text (../shared/seeds).

The service checks citations against cards/seed-sections.toml only (the seeds are not in the
image); these tests prove that index, and every verbatim quote, is really in the seeds, inside
the section it is cited for. Skipped when the seeds are not present (e.g. inside the container).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from service.config import Settings
from service.paths import cards_dir
from service.render import load_catalogue
from service.render.seeds import normalise, parse_index, read_seed, section_spans

SEEDS = Settings.from_env().seeds_dir  # LEUKEMIA_CDS_SEEDS_DIR, or ../shared/seeds
pytestmark = pytest.mark.skipif(not SEEDS.is_dir(), reason=f"seeds not found at {SEEDS}")

CATALOGUE = load_catalogue(cards_dir())
INDEX = parse_index(tomllib.loads((cards_dir() / "seed-sections.toml").read_text("utf-8")))
TEXT = {f: read_seed(SEEDS, f) for f in INDEX} if SEEDS.is_dir() else {}


def test_every_seed_file_in_the_index_exists() -> None:
    on_disk = {p.name for p in SEEDS.glob("*.txt")}
    assert set(INDEX) <= on_disk
    assert {p.split("_")[0] for p in on_disk} == {i.key for i in INDEX.values()}


@pytest.mark.parametrize("file", sorted(INDEX))
def test_every_indexed_section_is_found_in_order(file: str) -> None:
    spans = section_spans(TEXT[file], INDEX[file])
    assert set(spans) == {s.name for s in INDEX[file].sections}
    for name, (start, end) in spans.items():
        assert start < end, name


CITATIONS = [
    (entry.id, c.seed, c.section, c.quote)
    for entry in CATALOGUE.entries.values() for c in entry.citations
    if c.kind == "seed"  # a regulatory source has no seed text (test_knowledge_currency.py)
]


@pytest.mark.parametrize(("rule", "seed", "section", "quote"), CITATIONS,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CITATIONS)])
def test_every_quote_is_verbatim_in_its_cited_section(rule: str, seed: str, section: str,
                                                      quote: str) -> None:
    text = TEXT[seed]
    spans = section_spans(text, INDEX[seed])
    start, end = spans[section]
    q = normalise(quote)
    found = [m.start() for m in re.finditer(re.escape(q), text)]
    assert found, f"{rule}: quote not in {seed}: {q!r}"
    assert any(start <= pos and pos + len(q) <= end for pos in found), (
        f"{rule}: quote found in {seed} but outside section {section!r}"
    )


@pytest.mark.parametrize("nct", sorted(CATALOGUE.trials))
def test_every_trial_number_is_named_by_the_seed_its_status_cites(nct: str) -> None:
    info = CATALOGUE.trials[nct]
    keys = set(re.findall(r"\b00[0-4]\b", info.status))
    assert keys, f"{nct}: status should name its seed key(s)"
    carriers = {INDEX[f].key for f, text in TEXT.items()
                if nct in text or nct.replace("NCT", "NCT ") in text}
    assert carriers, f"{nct} is in no seed"
    assert keys & carriers, f"{nct}: status cites {keys}, but it is in {carriers}"


def test_every_catalogue_file_is_utf8_toml() -> None:
    for path in Path(cards_dir()).glob("*.toml"):
        tomllib.loads(path.read_text("utf-8"))
