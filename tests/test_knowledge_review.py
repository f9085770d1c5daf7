"""Knowledge that says how current it is (issue 20, point 2).

Every catalogue entry records when it was last reviewed and by which role; the catalogue's
knowledge version is MAJOR.MINOR.PATCH; start-up refuses, in one line naming the entries, a
catalogue with a review older than the site's limit unless the site accepted stale reviews for
exactly this version; and the version is in discovery, on every card and in the audit record,
so a hospital can say which knowledge a clinician saw.
"""

from __future__ import annotations

import datetime
import io
import logging
import re
import shutil
from pathlib import Path

import pytest

from service.app import create_app
from service.audit_report import audit_command
from service.config import ConfigError, Settings
from service.errors import StartupError
from service.hooks.models import KNOWLEDGE_EXTENSION, RECOMMENDATION_EXTENSION
from service.hooks.services import SERVICES
from service.paths import cards_dir
from service.render import load_catalogue
from service.render.catalogue import CatalogueError
from service.render.freshness import check_freshness, months_before, stale_entries
from service.synth.generator import generate
from service.synth.hooks import SERVICE_FOR_HOOK, draft_order, hook_request
from tests.conftest import hook_body

CATALOGUE = load_catalogue(cards_dir())
VERSION = CATALOGUE.knowledge_version
NEWEST = max(e.reviewed for e in CATALOGUE.entries.values() if e.reviewed)
OLDEST = min(e.reviewed for e in CATALOGUE.entries.values() if e.reviewed)
REVIEW_ROLE = "haematologist-oncologist (clinical review)"


def copy_cards(tmp_path: Path) -> Path:
    target = tmp_path / "cards"
    shutil.copytree(cards_dir(), target)
    return target


def edit(cards: Path, file: str, old: str, new: str) -> Path:
    path = cards / file
    text = path.read_text("utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), "utf-8")
    return cards


def settings(tmp_path: Path, **env: str) -> Settings:
    base = {"DATA_DIR": str(tmp_path / "data"), "AUTH": "off"}
    return Settings.from_env({f"LEUKEMIA_CDS_{k}": v for k, v in {**base, **env}.items()})


# ---- every entry records its review ------------------------------------------------------------


def test_every_entry_has_a_review_date_and_a_role():
    for entry in CATALOGUE.entries.values():
        assert isinstance(entry.reviewed, datetime.date), entry.id
        assert entry.reviewed_by and entry.reviewed_by.strip() == entry.reviewed_by, entry.id


def test_review_roles_are_roles_and_honest_about_sign_off():
    roles = {e.reviewed_by for e in CATALOGUE.entries.values()}
    # a role names a function, never a person: no "Dr", no capitalised two-word name
    for role in roles:
        assert role and not re.search(r"\bDr\.?\b|\b[A-Z][a-z]+ [A-Z][a-z]+\b", role), role
    # entries written after the clinical review to answer its findings were never read by the
    # clinician: they must not claim the clinical review
    for rid in ("TOX-BLIN-NEURO", "TOX-ICANS-CURRENT", "ORDER-TKI-T315I", "CAU-INO-VOD-NOTE"):
        assert CATALOGUE.entries[rid].reviewed_by != REVIEW_ROLE, rid
        assert "sign-off pending" in (CATALOGUE.entries[rid].reviewed_by or ""), rid
    assert CATALOGUE.entries["ALL-BLIN-RR"].reviewed_by == REVIEW_ROLE
    assert CATALOGUE.entries["ALL-BLIN-RR"].reviewed == datetime.date(2026, 12, 4)


def test_knowledge_version_is_semantic():
    assert re.fullmatch(r"\d+\.\d+\.\d+", VERSION)


@pytest.mark.parametrize(("old", "new", "message"), [
    ('reviewed = "2026-12-04"\n', "", "missing 'reviewed'"),
    ('reviewed = "2026-12-04"', 'reviewed = "04/12/2026"', "reviewed '04/12/2026' is not a date"),
    ('reviewed = "2026-12-04"', 'reviewed = "2026-13-04"', "reviewed '2026-13-04' is not a date"),
    ('reviewed = "2026-12-04"', "reviewed = 20261204", "reviewed 20261204 is not a date"),
    ('reviewed_by = "', 'reviewer = "', "missing 'reviewed_by'"),
    ('reviewed_by = "haematologist-oncologist (clinical review)"', 'reviewed_by = " "',
     "reviewed_by ' ' is not a role"),
])
def test_a_missing_or_malformed_review_stops_start_up_with_one_line(tmp_path, old, new, message):
    # the first entry of aml.toml: AML-GO-INDUCTION
    cards = edit(copy_cards(tmp_path), "aml.toml", old, new)
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(cards)
    text = str(caught.value)
    assert text.startswith("card catalogue: aml.toml: AML-GO-INDUCTION: "), text
    assert message in text and "\n" not in text


def test_a_bare_toml_date_is_read_as_the_review_date(tmp_path):
    cards = edit(copy_cards(tmp_path), "aml.toml", 'reviewed = "2026-12-04"',
                 "reviewed = 2026-11-30")
    assert load_catalogue(cards).entries["AML-GO-INDUCTION"].reviewed == \
        datetime.date(2026, 11, 30)


@pytest.mark.parametrize("version", ["1.2", "v1.2.0", "1.2.0-rc1", "01.2.0", ""])
def test_a_knowledge_version_that_is_not_semver_stops_start_up(tmp_path, version):
    cards = edit(copy_cards(tmp_path), "catalogue.toml", f'knowledge_version = "{VERSION}"',
                 f'knowledge_version = "{version}"')
    with pytest.raises(CatalogueError, match=r"is not MAJOR\.MINOR\.PATCH") as caught:
        load_catalogue(cards)
    assert "\n" not in str(caught.value)


# ---- the freshness gate ------------------------------------------------------------------------


def test_months_are_calendar_months():
    assert months_before(datetime.date(2028, 6, 4), 18) == datetime.date(2026, 12, 4)
    assert months_before(datetime.date(2027, 8, 31), 6) == datetime.date(2027, 2, 28)
    assert months_before(datetime.date(2028, 3, 31), 1) == datetime.date(2028, 2, 29)


def test_fresh_reviews_pass():
    found = check_freshness(CATALOGUE, today=NEWEST, max_months=18, accept=None)
    assert found.stale == () and not found.accepted


def test_exactly_the_limit_is_still_fresh_and_one_day_more_is_not():
    at_limit = months_before(OLDEST, -18)  # 18 calendar months after the oldest review
    assert stale_entries(CATALOGUE, at_limit, 18).stale == ()
    assert stale_entries(CATALOGUE, at_limit + datetime.timedelta(days=1), 18).stale


def test_reviews_19_months_old_refuse_start_up_with_one_line_naming_them():
    today = months_before(OLDEST, -19)
    with pytest.raises(CatalogueError) as caught:
        check_freshness(CATALOGUE, today=today, max_months=18, accept=None)
    text = str(caught.value)
    assert "\n" not in text and text.startswith("card catalogue: knowledge ")
    stale = stale_entries(CATALOGUE, today, 18).stale
    assert len(stale) == len(CATALOGUE.entries)
    assert all(rid in text for rid in stale[:8])
    assert f"(+{len(stale) - 8} more)" in text, "a long list is cut with a count"
    assert "more than 18 months ago" in text
    assert f"LEUKEMIA_CDS_ACCEPT_STALE_REVIEW={VERSION}" in text, "says how to accept"


def test_only_the_stale_entries_are_named(tmp_path):
    cards = edit(copy_cards(tmp_path), "aml.toml", 'reviewed = "2026-12-04"',
                 'reviewed = "2025-01-10"')
    cat = load_catalogue(cards)
    with pytest.raises(CatalogueError) as caught:
        check_freshness(cat, today=datetime.date(2026, 12, 4), max_months=18, accept=None)
    text = str(caught.value)
    assert "1 catalogue entry last reviewed before 2025-06-04" in text
    assert "AML-GO-INDUCTION" in text and "AML-GO-RELAPSE" not in text
    assert "more)" not in text
    # a site with a longer limit runs it
    assert check_freshness(cat, today=datetime.date(2026, 12, 4), max_months=24,
                           accept=None).stale == ()


def test_accepted_stale_reviews_start_and_warn(caplog):
    today = months_before(OLDEST, -19)
    with caplog.at_level(logging.WARNING, logger="service.render.freshness"):
        found = check_freshness(CATALOGUE, today=today, max_months=18, accept=VERSION)
    assert found.accepted and found.stale
    warning = next(r for r in caplog.records if getattr(r, "event", "") == "stale_review_accepted")
    assert warning.levelno == logging.WARNING
    assert VERSION in warning.getMessage() and found.stale[0] in warning.getMessage()


def test_an_acceptance_for_another_version_does_not_count(caplog):
    today = months_before(OLDEST, -19)
    with caplog.at_level(logging.WARNING), pytest.raises(CatalogueError) as caught:
        check_freshness(CATALOGUE, today=today, max_months=18, accept="0.9.0")
    assert f"accepts knowledge 0.9.0, not {VERSION}" in str(caught.value)
    assert not [r for r in caplog.records if getattr(r, "event", "") == "stale_review_accepted"]


def test_create_app_applies_the_gate(tmp_path, caplog):
    stale_day = months_before(OLDEST, -19)
    create_app(settings(tmp_path), today=NEWEST).extensions["leukemia_cds.store"].close()
    with pytest.raises(StartupError, match="more than 18 months ago"):
        create_app(settings(tmp_path), today=stale_day)
    with pytest.raises(StartupError, match=r"accepts knowledge 1\.0\.0"):
        create_app(settings(tmp_path, ACCEPT_STALE_REVIEW="1.0.0"), today=stale_day)
    with pytest.raises(StartupError, match="more than 24 months ago"):
        create_app(settings(tmp_path, REVIEW_MAX_MONTHS="24"), today=months_before(OLDEST, -25))
    with caplog.at_level(logging.WARNING):
        app = create_app(settings(tmp_path, ACCEPT_STALE_REVIEW=VERSION), today=stale_day)
    app.extensions["leukemia_cds.store"].close()
    assert any(getattr(r, "event", "") == "stale_review_accepted" for r in caplog.records)


@pytest.mark.parametrize(("name", "value", "message"), [
    ("REVIEW_MAX_MONTHS", "0", "must be between 1 and 120"),
    ("REVIEW_MAX_MONTHS", "121", "must be between 1 and 120"),
    ("REVIEW_MAX_MONTHS", "eighteen", "must be a whole number"),
    ("ACCEPT_STALE_REVIEW", "yes", "MAJOR.MINOR.PATCH"),
    ("ACCEPT_STALE_REVIEW", "1.2", "MAJOR.MINOR.PATCH"),
])
def test_bad_settings_are_refused_with_one_line(tmp_path, name, value, message):
    with pytest.raises(ConfigError) as caught:
        settings(tmp_path, **{name: value})
    text = str(caught.value)
    assert text.startswith(f"LEUKEMIA_CDS_{name}=") and message in text and "\n" not in text


def test_setting_defaults():
    assert Settings().review_max_months == 18 and Settings().accept_stale_review is None


# ---- the version everywhere ------------------------------------------------------------------


def test_discovery_names_the_knowledge_version_on_every_service(client):
    services = client.get("/cds-services").get_json()["services"]
    assert {s["id"] for s in services} == set(SERVICES)
    for service in services:
        assert service["extension"][KNOWLEDGE_EXTENSION] == {"knowledge_version": VERSION}


def test_every_card_carries_the_knowledge_version(client):
    patient = generate("b-all-first-relapse-low-burden", size=40)
    orders = [draft_order("blinatumomab", patient.patient_id)]
    for hook in ("patient-view", "order-select", "order-sign"):
        body = hook_request(patient.bundle(), hook, orders=orders if hook != "patient-view"
                            else ())
        response = client.post(f"/cds-services/{SERVICE_FOR_HOOK[hook]}", json=body)
        cards = response.get_json()["cards"]
        assert cards, hook
        for card in cards:
            assert card["extension"][RECOMMENDATION_EXTENSION]["knowledge_version"] == VERSION


def test_the_audit_record_and_report_carry_the_knowledge_version(app):
    client = app.test_client()
    response = client.post("/cds-services/leukemia-immunotherapy", json=hook_body())
    assert response.status_code == 200
    store = app.extensions["leukemia_cds.store"]
    assert [c["knowledge_version"] for c in store.recent_calls(5)] == [VERSION]
    out = io.StringIO()
    assert audit_command(app.config["LEUKEMIA_CDS_SETTINGS"], out=out) == 0
    report = out.getvalue().splitlines()
    header = next(line for line in report if line.startswith("time (UTC)"))
    assert "knowledge" in header
    row = report[report.index(header) + 1]
    assert f"  {VERSION}  " in row
