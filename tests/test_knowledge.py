"""`leukemia-cds knowledge export` and `diff`: the rules as FHIR R4 artefacts a governance
committee reads, and what changed between two exports.

Every written resource must parse with fhir.resources' R4B model of its type; the export must be
byte-identical for one catalogue (so a diff shows only real changes); and a diff of an edited
catalogue must name exactly the rule and field that were edited, nothing else."""

from __future__ import annotations

import dataclasses
import datetime
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.activitydefinition import ActivityDefinition
from fhir.resources.R4B.library import Library
from fhir.resources.R4B.plandefinition import PlanDefinition

from service import knowledge
from service.cli import main
from service.decision import RULES
from service.paths import cards_dir
from service.render import load_catalogue

CATALOGUE = load_catalogue(cards_dir())
BASE = "http://leukemia-cds.org/fhir"


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export")
    knowledge.export(CATALOGUE, out)
    return out


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def test_one_plan_definition_per_rule_and_a_library_every_file_valid_r4b(exported: Path) -> None:
    names = sorted(p.name for p in exported.iterdir())
    assert names == sorted([*(f"PlanDefinition-{rid}.json" for rid in RULES),
                            "Library-leukemia-cds-knowledge.json"])
    for path in exported.glob("PlanDefinition-*.json"):
        raw = _load(path)
        pd = PlanDefinition.model_validate(raw)  # the R4B model: a real validation
        assert pd.id == path.stem.removeprefix("PlanDefinition-")
        assert pd.url == f"{BASE}/PlanDefinition/{pd.id}"
        assert pd.version == CATALOGUE.knowledge_version and pd.status == "active"
        assert pd.type.coding[0].code == "eca-rule"
        assert pd.type.coding[0].system == knowledge.PLAN_TYPE
        assert len(pd.action) == 1  # one action: the card
        for ad in raw.get("contained", []):
            ActivityDefinition.model_validate(ad)
    lib = Library.model_validate(_load(exported / "Library-leukemia-cds-knowledge.json"))
    assert lib.type.coding[0].code == "asset-collection"
    assert lib.version == CATALOGUE.knowledge_version
    assert [a.type for a in lib.relatedArtifact] == ["composed-of"] * len(RULES)
    assert sorted(a.resource for a in lib.relatedArtifact) == sorted(
        f"{BASE}/PlanDefinition/{rid}|{CATALOGUE.knowledge_version}" for rid in RULES)


def test_the_action_is_the_card_as_written(exported: Path) -> None:
    entry = CATALOGUE.entries["CART-TISA"]
    pd = _load(exported / "PlanDefinition-CART-TISA.json")
    [action] = pd["action"]
    assert action["title"] == entry.title_source
    assert action["description"] == entry.summary_source  # the template, not one rendering
    assert action["textEquivalent"] == entry.detail_source
    assert action["priority"] == "routine"  # info
    assert action["code"][0]["coding"][0]["code"] == "immunotherapy-option"
    assert action["trigger"] == [{"type": "named-event", "name": "patient-view"}]
    seed = next(c for c in entry.citations if getattr(c, "kind", "seed") == "seed")
    assert pd["relatedArtifact"][entry.citations.index(seed)] == {
        "type": "citation", "display": f"{seed.seed}: {seed.section}", "citation": seed.quote}
    assert seed.seed == "000_a06f977e438a063b.txt" and seed.section.startswith("Table 3")
    assert len(pd["relatedArtifact"]) == len(entry.citations)
    # no clock: without a review date or a dated source there is no date at all
    if getattr(entry, "reviewed", None) is None:
        assert "date" not in pd and "lastReviewDate" not in pd


@pytest.mark.parametrize("indicator,priority", [("info", "routine"), ("warning", "urgent"),
                                                ("critical", "stat")])
def test_indicator_maps_to_priority(exported: Path, indicator: str, priority: str) -> None:
    ids = [e.id for e in CATALOGUE.entries.values() if e.indicator == indicator]
    assert ids
    for rid in ids:
        assert _load(exported / f"PlanDefinition-{rid}.json")["action"][0]["priority"] == priority


def test_order_hooks_and_suggestions(exported: Path) -> None:
    for rid, rule in RULES.items():
        triggers = _load(exported / f"PlanDefinition-{rid}.json")["action"][0]["trigger"]
        assert [t["name"] for t in triggers] == sorted(rule.hooks)
    # a create suggestion: a contained ActivityDefinition the sub-action points at
    pd = _load(exported / "PlanDefinition-MON-BLIN-ADMISSION.json")
    [sub] = pd["action"][0]["action"]
    [ad] = pd["contained"]
    assert sub["definitionCanonical"] == f"#{ad['id']}"
    assert sub["type"]["coding"][0]["code"] == "create"
    assert ad["kind"] == "ServiceRequest" and ad["code"]["coding"][0]["code"] == "32485007"
    assert sub["condition"][0]["expression"]["expression"] == "setting != 'other'"
    # a delete suggestion (critical order check): a remove action that creates nothing
    critical = [e for e in CATALOGUE.entries.values()
                if e.indicator == "critical" and any(s.action == "delete" for s in e.suggestions)]
    assert critical
    for e in critical:
        pd = _load(exported / f"PlanDefinition-{e.id}.json")
        removes = [a for a in pd["action"][0]["action"]
                   if a["type"]["coding"][0]["code"] == "remove"]
        assert removes and all("definitionCanonical" not in a for a in removes)


def test_export_is_byte_identical_and_replaces_only_its_own_files(tmp_path: Path,
                                                                   exported: Path) -> None:
    out = tmp_path / "again"
    out.mkdir()
    (out / "PlanDefinition-GONE.json").write_text("{}")  # a rule of an older export
    (out / "notes.txt").write_text("committee notes")
    knowledge.export(CATALOGUE, out)
    assert not (out / "PlanDefinition-GONE.json").exists()
    assert (out / "notes.txt").read_text() == "committee notes"
    for path in exported.iterdir():
        assert (out / path.name).read_bytes() == path.read_bytes(), path.name


class _Reviewed:
    """An entry as part B records it (`reviewed`), until Entry has the field."""

    def __init__(self, entry: Any, reviewed: datetime.date) -> None:
        self._entry, self.reviewed = entry, reviewed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._entry, name)


@dataclasses.dataclass(frozen=True)
class _Regulatory:
    """A regulatory citation as part A defines it (kind, title, url, date, supersedes, note)."""

    title: str
    url: str
    date: datetime.date
    supersedes: str = ""
    note: str = ""
    kind: str = "regulatory"


def test_a_regulatory_citation_and_a_review_date() -> None:
    entry = CATALOGUE.entries["CART-TISA"]
    reg = _Regulatory(title="Regulator's communication (constructed for this test)",
                      url="https://regulator.example/communication", date=datetime.date(2025, 6, 1),
                      supersedes="000_a06f977e438a063b.txt: Table 3", note="The label stands.")
    edited = _Reviewed(dataclasses.replace(entry, citations=(*entry.citations, reg)),
                       datetime.date(2026, 1, 15))
    raw = knowledge.plan_definition(CATALOGUE, edited, RULES["CART-TISA"])  # type: ignore[arg-type]
    pd = PlanDefinition.model_validate(raw)
    assert raw["lastReviewDate"] == "2026-01-15" and raw["date"] == "2026-01-15"
    assert str(pd.lastReviewDate) == "2026-01-15"
    last = raw["relatedArtifact"][-1]
    assert last["type"] == "citation" and last["display"] == reg.title
    assert last["url"] == reg.url
    assert "2025-06-01" in last["citation"] and "Supersedes 000_a06f977e438a063b.txt: Table 3" \
        in last["citation"] and "The label stands." in last["citation"]
    # without a review date, the newest regulatory date is the rule's date; no lastReviewDate
    unreviewed = knowledge.plan_definition(
        CATALOGUE, dataclasses.replace(entry, citations=(*entry.citations, reg), reviewed=None),
        RULES["CART-TISA"])
    assert unreviewed["date"] == "2025-06-01" and "lastReviewDate" not in unreviewed


# --- diff ----------------------------------------------------------------------------------------


def _edited_cards(tmp_path: Path, old: str, new: str, file: str = "car-t.toml") -> Path:
    copy = tmp_path / "cards"
    shutil.copytree(cards_dir(), copy)
    text = (copy / file).read_text(encoding="utf-8")
    assert text.count(old) == 1
    (copy / file).write_text(text.replace(old, new), encoding="utf-8")
    return copy


def test_diff_names_exactly_the_edited_rule_and_field(tmp_path: Path, exported: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    # whatever the summary says today: the edit is to the words of one entry only
    old_text = CATALOGUE.entries["CART-TISA"].summary_source
    new_text = f"{old_text} (edited)"
    monkeypatch.setenv("LEUKEMIA_CDS_CARDS_DIR", str(_edited_cards(tmp_path, old_text, new_text)))
    assert main(["knowledge", "export", "--out", str(tmp_path / "new")]) == 0
    assert f"1 Library, {len(RULES)} PlanDefinition" in capsys.readouterr().out
    assert main(["knowledge", "diff", str(exported), str(tmp_path / "new")]) == 0
    out = capsys.readouterr().out
    assert "Added rules: 0" in out and "Removed rules: 0" in out
    assert "Changed rules: 1\n  * CART-TISA: summary\n" in out
    assert f"      old:\n        {old_text}" in out
    assert f"      new:\n        {new_text}" in out
    assert f"Unchanged rules: {len(RULES) - 1}" in out
    assert "rules changed but the knowledge version is still" in out  # the edit did not bump it
    # only that file differs
    differ = [p.name for p in exported.iterdir()
              if p.read_bytes() != (tmp_path / "new" / p.name).read_bytes()]
    assert differ == ["PlanDefinition-CART-TISA.json"]


def test_diff_of_identical_exports_changes_nothing(exported: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["knowledge", "diff", str(exported), str(exported)]) == 0
    out = capsys.readouterr().out
    assert "Added rules: 0" in out and "Removed rules: 0" in out and "Changed rules: 0" in out
    assert "(same knowledge version)" in out and "Note:" not in out


def test_diff_lists_added_removed_and_list_fields(tmp_path: Path, exported: Path) -> None:
    new = tmp_path / "new"
    shutil.copytree(exported, new)
    (new / "PlanDefinition-CART-OBE.json").unlink()
    pd = _load(new / "PlanDefinition-CART-BREXU.json")
    pd["action"][0]["trigger"].append({"type": "named-event", "name": "order-sign"})
    dropped = knowledge.rule_view(pd)["citations"][-1]
    pd["relatedArtifact"].pop()
    pd["version"] = "9.9.9"
    (new / "PlanDefinition-CART-BREXU.json").write_text(knowledge.dumps(pd))
    renamed = _load(exported / "PlanDefinition-CART-TISA.json")
    renamed["id"] = "CART-NEW"
    (new / "PlanDefinition-CART-NEW.json").write_text(knowledge.dumps(renamed))
    out = knowledge.diff_text(exported, new)
    assert f"Added rules: 1\n  + CART-NEW: {CATALOGUE.entries['CART-TISA'].title_source}\n" in out
    title = CATALOGUE.entries["CART-OBE"].title_source
    assert f"Removed rules: 1\n  - CART-OBE: {title}\n" in out
    assert "  * CART-BREXU: hooks, citations, version\n" in out
    assert "      + order-sign" in out
    assert f"      - {dropped}\n" in out


def test_a_version_bump_alone_changes_no_rule(tmp_path: Path, exported: Path) -> None:
    new = tmp_path / "new"
    shutil.copytree(exported, new)
    for path in new.glob("*.json"):
        res = _load(path)
        res["version"] = "2.0.0"
        path.write_text(knowledge.dumps(res))
    out = knowledge.diff_text(exported, new)
    assert out.startswith(f"Knowledge diff: {CATALOGUE.knowledge_version} -> 2.0.0\n")
    assert "Changed rules: 0" in out


def test_diff_refuses_a_folder_that_is_not_an_export(tmp_path: Path, exported: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["knowledge", "diff", str(tmp_path), str(exported)]) == 2
    assert "not a knowledge export" in capsys.readouterr().err


def test_export_of_a_broken_catalogue_writes_nothing(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    cards = _edited_cards(tmp_path, "[rules.CART-TISA]\n", "[rules.CART-TISA-RENAMED]\n")
    monkeypatch.setenv("LEUKEMIA_CDS_CARDS_DIR", str(cards))
    assert main(["knowledge", "export", "--out", str(tmp_path / "out")]) == 2
    assert "no entry for rule CART-TISA" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
