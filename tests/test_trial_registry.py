"""Issue 23: trial prompts from a local registry (ClinicalTrials.gov API v2 studies, imported)
with a pre-screen per criterion; the seeds' named trials only while no registry is loaded.

The fixtures (`tests/fixtures/ctgov/`) are synthetic studies in the API's exact shape."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from service.decision import Policy, decide
from service.decision.context import Ctx
from service.decision.prescreen import lineages, prescreen
from service.render import Renderer, load_catalogue
from service.store import Store, database_url
from service.store.trial_registry import (
    RegistryReader,
    load_registry,
    registry_state,
    replace_registry,
)
from service.trials.ctgov import RegistryInputError, parse_age, parse_response
from service.trials.model import RegistrySnapshot, RegistryTrial, SiteStudy
from tests.decision_helpers import NOW, mrd, patient
from tests.live import server_command

FIXTURES = Path(__file__).parent / "fixtures" / "ctgov"
STUDIES = json.loads((FIXTURES / "studies-leukemia.json").read_text())
TRIALS, _ = parse_response(STUDIES, where="fixture")
BY_NCT = {t.nct: t for t in TRIALS}
AMSTERDAM = (52.37, 4.89)
CATALOGUE = load_catalogue(Path(__file__).resolve().parent.parent / "cards")


def snapshot(trials: tuple[RegistryTrial, ...] = tuple(TRIALS), *, site: tuple[SiteStudy, ...]
             = (), stale: bool = False, location: tuple[float, float] | None = None
             ) -> RegistrySnapshot:
    return RegistrySnapshot(trials=trials, site=site, refreshed_at=NOW - timedelta(days=2),
                            stale=stale, site_location=location)


def screen(facts, registry=None):  # type: ignore[no-untyped-def]
    return prescreen(Ctx(facts, Policy()), registry or snapshot())


def shown(facts, registry=None) -> list[str]:  # type: ignore[no-untyped-def]
    return [m.nct for m in screen(facts, registry).shown]


def verdicts(facts, nct: str, registry=None) -> dict[str, str]:  # type: ignore[no-untyped-def]
    [match] = [m for m in screen(facts, registry).shown if m.nct == nct]
    return {c.name: c.verdict for c in match.criteria}


# --- reading API v2 -------------------------------------------------------------------------


def test_an_api_v2_page_is_read_with_its_ages_phases_and_sites() -> None:
    assert len(TRIALS) == 7
    cd22 = BY_NCT["NCT90000001"]
    assert (cd22.status, cd22.phases, cd22.min_age_years, cd22.max_age_years) == (
        "RECRUITING", ("PHASE2",), 18.0, 75.0)
    assert cd22.acronym == "SYN-CD22" and cd22.sites[0].lat == pytest.approx(52.09083)
    assert BY_NCT["NCT90000002"].max_age_years is None  # no upper limit stated
    assert parse_age("6 Months", where="x") == 0.5 and parse_age("N/A", where="x") is None


@pytest.mark.parametrize(("doc", "says"), [
    ([], "not a ClinicalTrials.gov API v2 /studies response"),
    ({"studies": "none"}, "not a ClinicalTrials.gov API v2 /studies response"),
    ({"studies": [{"protocolSection": {"identificationModule": {}}}]}, "no NCT id"),
    ({"studies": [{"protocolSection": {"identificationModule": {"nctId": "NCT12345678"}}}]},
     "NCT12345678): no statusModule.overallStatus"),
    ({"studies": [{"protocolSection": {
        "identificationModule": {"nctId": "NCT12345678"},
        "statusModule": {"overallStatus": "RECRUITING"},
        "eligibilityModule": {"minimumAge": "eighteen"}}}]},
     "age 'eighteen' is not '<number> Years'"),
])
def test_what_is_not_a_registry_page_is_refused_in_one_line(doc, says) -> None:
    with pytest.raises(RegistryInputError) as caught:
        parse_response(doc, where="f.json")
    assert says in str(caught.value) and "\n" not in str(caught.value)


def test_lineages_are_read_from_title_conditions_and_keywords() -> None:
    assert lineages(BY_NCT["NCT90000001"]) == {"b-all"}
    assert lineages(BY_NCT["NCT90000005"]) == {"aml"}
    assert lineages(BY_NCT["NCT90000007"]) == {"t-all"}
    assert lineages(BY_NCT["NCT90000004"]) == {"b-all", "t-all", "all-unspecified"}
    # the English word "all" is not the disease
    assert lineages(replace(BY_NCT["NCT90000005"], title="Open to all", conditions=(
        "Solid tumours",))) == frozenset()


# --- the pre-screen -------------------------------------------------------------------------


def test_relapsed_adult_b_all_sees_the_open_trials_for_its_disease_and_age() -> None:
    facts = patient(age=40, status="first-relapse", markers={"cd19": 90})
    assert shown(facts) == ["NCT90000001"]
    assert verdicts(facts, "NCT90000001") == {
        "disease": "met", "age": "met", "setting": "met", "CD22": "unknown",
        "prior CAR T": "unknown"}
    # the newly-diagnosed Ph+ trial and the MRD trial fit disease and age but not the setting
    assert screen(facts).not_met == 2


def test_a_completed_trial_is_never_shown() -> None:
    completed = BY_NCT["NCT90000003"]  # relapsed B-ALL, adults: fits this patient otherwise
    facts = patient(age=40, status="first-relapse")
    assert "NCT90000003" not in shown(facts, snapshot((completed,)))
    assert shown(facts, snapshot((replace(completed, status="RECRUITING"),))) == ["NCT90000003"]


def test_an_age_range_that_excludes_the_patient_is_never_shown() -> None:
    child, adult = (patient(age=10, status="first-relapse"),
                    patient(age=40, status="first-relapse"))
    assert "NCT90000004" in shown(child) and "NCT90000001" not in shown(child)
    assert "NCT90000004" not in shown(adult)
    assert "NCT90000004" not in shown(patient(age=22, status="first-relapse"))
    assert "NCT90000004" in shown(patient(age=21, status="first-relapse"))  # up to 21 years
    unknown = patient(age=None, status="first-relapse")
    assert verdicts(unknown, "NCT90000004")["age"] == "unknown"


def test_ph_and_markers_are_met_not_met_or_unknown() -> None:
    newdx = patient(age=55, status="newly-diagnosed", ph="positive")
    assert verdicts(newdx, "NCT90000002")["Ph"] == "met"
    assert verdicts(patient(age=55, status="newly-diagnosed"), "NCT90000002")["Ph"] == \
        "unknown"
    assert "NCT90000002" not in shown(patient(age=55, status="newly-diagnosed", ph="negative"))
    assert verdicts(patient(age=40, status="first-relapse", markers={"cd22": 80}),
                    "NCT90000001")["CD22"] == "met"
    assert "NCT90000001" not in shown(patient(age=40, status="first-relapse",
                                              markers={"cd22": "negative"}))


def test_a_prior_therapy_the_exclusions_name_leaves_the_trial_out() -> None:
    assert "NCT90000001" not in shown(patient(age=40, status="first-relapse",
                                              car_t="tisagenlecleucel"))
    mrd_pos = patient(age=30, status="cr1", mrd_result=mrd(1e-3))
    assert verdicts(mrd_pos, "NCT90000006")["setting"] == "met"
    assert verdicts(mrd_pos, "NCT90000006")["prior blinatumomab"] == "unknown"
    assert "NCT90000006" not in shown(patient(age=30, status="cr1", mrd_result=mrd(1e-3),
                                              exposures=("blinatumomab",)))


def test_other_diseases_are_not_shown() -> None:
    assert shown(patient(lineage="aml", age=60, status="first-relapse")) == ["NCT90000005"]
    assert shown(patient(lineage="t-all", age=30, status="first-relapse")) == [
        "NCT90000007"]


def test_open_here_first_then_distance_then_phase() -> None:
    both = (BY_NCT["NCT90000001"], replace(BY_NCT["NCT90000004"], max_age_years=None),
            replace(BY_NCT["NCT90000007"], title="SYNTHETIC relapsed B-ALL, phase 3",
                    conditions=("Recurrent B Acute Lymphoblastic Leukemia",),
                    phases=("PHASE3",)))
    adult = patient(age=40, status="first-relapse")
    # no location: phase decides (3, then 2, then 1/2)
    assert shown(adult, snapshot(both)) == ["NCT90000007", "NCT90000001", "NCT90000004"]
    # from Amsterdam: Utrecht (NCT90000001, NCT90000004) before Boston (NCT90000007)
    near = shown(adult, snapshot(both, location=AMSTERDAM))
    assert near[-1] == "NCT90000007" and set(near[:2]) == {"NCT90000001", "NCT90000004"}
    # open here beats both
    here = SiteStudy(local_id="local-7", title="relapsed B-ALL", nct="NCT90000007",
                     contact="Research office, +31 20 000 0000")
    first = screen(adult, snapshot(both, site=(here,), location=AMSTERDAM)).shown[0]
    assert (first.nct, first.open_here, first.contact) == (
        "NCT90000007", True, "Research office, +31 20 000 0000")


# --- the cards ------------------------------------------------------------------------------


def _render(facts, registry):  # type: ignore[no-untyped-def]
    recs = decide(facts, hook="patient-view", policy=Policy(), registry=registry)
    return recs, Renderer(CATALOGUE).render(recs, patient_id="pat-1")


def test_with_a_registry_the_card_lists_its_trials_with_the_pre_screen() -> None:
    facts = patient(age=40, status="first-relapse", markers={"cd19": 90})
    recs, cards = _render(facts, snapshot())
    [card] = [c for c in cards if "NCT90000001" in c.detail]
    assert card.summary.startswith("1 open trial may fit")
    assert "Pre-screen: met: disease (B-ALL), age (40 y; trial 18 y–75 y)" in card.detail
    assert "unknown: CD22 (not in record; trial requires CD22+)" in card.detail
    assert "eligible" not in card.summary.lower()
    assert "https://clinicaltrials.gov/study/NCT90000001" in [link.url for link in card.links]
    # the seeds' named trials (2019-2025) are not listed beside a registry
    assert not any(r.variables.get("trials") for r in recs)
    assert not any("Trials named in the sources" in c.detail for c in cards)


def test_without_a_registry_the_seeds_trials_stay_labelled_as_such() -> None:
    facts = patient(age=40, status="first-relapse", markers={"cd19": 90})
    for registry in (None, RegistrySnapshot()):
        recs, cards = _render(facts, registry)
        assert "TRIAL-REGISTRY" not in [r.id for r in recs]
        [card] = [c for c in cards if "Trials named in the sources" in c.detail]
        assert "no trial registry is loaded here, so verify recruitment status" in card.detail


def test_a_stale_registry_says_when_it_was_refreshed() -> None:
    facts = patient(age=40, status="first-relapse")
    _, cards = _render(facts, snapshot(stale=True))
    [card] = [c for c in cards if "NCT90000001" in c.detail]
    refreshed = (NOW - timedelta(days=2)).date().isoformat()
    assert f"Registry refreshed {refreshed}: statuses may have changed since" in card.detail
    _, cards = _render(facts, snapshot(stale=False))
    [card] = [c for c in cards if "NCT90000001" in c.detail]
    assert f"Registry refreshed {refreshed}." in card.detail and "may have changed" not in \
        card.detail


# --- the store ------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store_url(request, tmp_path) -> str:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        return database_url(tmp_path, None)
    return str(request.getfixturevalue("pg_url"))


def test_an_import_replaces_the_registry_whole_and_readers_see_it(any_store_url) -> None:
    store = Store.open(any_store_url)
    try:
        assert registry_state(store) is None
        reader = RegistryReader(store, refresh_s=0, stale_days=14)
        assert reader.snapshot().empty
        first = replace_registry(store, TRIALS, source="a", refreshed_at=NOW)
        assert [t.nct for t in reader.snapshot().trials] == sorted(BY_NCT)
        assert load_registry(store)[1] == tuple(sorted(TRIALS, key=lambda t: t.nct))
        second = replace_registry(store, TRIALS[:1], source="b", refreshed_at=NOW)
        assert second.generation == first.generation + 1
        assert [t.nct for t in reader.snapshot().trials] == ["NCT90000001"]
        assert reader.stale(NOW + timedelta(days=15)) and not reader.stale(NOW)
    finally:
        store.close()


def _cli(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEUKEMIA_CDS_")}
    env["LEUKEMIA_CDS_DATA_DIR"] = str(data)
    return subprocess.run([*server_command(), *args], capture_output=True, text=True,
                          timeout=60, env=env, cwd=data.parent)


def test_import_from_the_command_line_and_a_bad_file_leaves_the_registry(tmp_path) -> None:
    data = tmp_path / "data"
    done = _cli("trials", "import", str(FIXTURES / "studies-leukemia.json"), data=data)
    assert done.returncode == 0, done.stderr
    assert ("7 studies from the import of studies-leukemia.json (6 recruiting or not yet "
            "recruiting)") in done.stdout
    bad = tmp_path / "bad.json"
    for content, says in (("{", "not JSON"), ("[]", "not a ClinicalTrials.gov API v2"),
                          (json.dumps({"studies": [{"protocolSection": {
                              "identificationModule": {"nctId": "NCT12345678"},
                              "statusModule": {"overallStatus": "RECRUITING"},
                              "eligibilityModule": {"maximumAge": "old"}}}]}),
                           "maximumAge: age 'old'")):
        bad.write_text(content)
        done = _cli("trials", "import", str(bad), data=data)
        assert done.returncode == 2 and says in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    partial = _cli("trials", "import", str(FIXTURES / "page-1-of-2.json"), data=data)
    assert partial.returncode == 2 and "continues on another page" in partial.stderr
    status = _cli("trials", "status", data=data)
    assert status.stdout.startswith("7 studies, refreshed ")  # as the first import left it
    pages = _cli("trials", "import", str(FIXTURES / "page-1-of-2.json"),
                 str(FIXTURES / "page-2-of-2.json"), data=data)
    assert pages.returncode == 0 and "7 studies from the import of page-1-of-2.json, " \
        "page-2-of-2.json" in pages.stdout


def test_the_running_service_sees_a_new_import_without_a_restart(make_app) -> None:
    app = make_app(trials_refresh_s="1")
    store = app.extensions["leukemia_cds.store"]
    from service.synth.generator import generate
    from service.synth.hooks import hook_request

    bundle = generate("b-all-first-relapse-low-burden", seed=1, as_of=NOW.date()).bundle()
    body = hook_request(bundle, "patient-view")
    client = app.test_client()

    def trial_cards() -> list[str]:
        answer = client.post("/cds-services/leukemia-immunotherapy", json=body)
        assert answer.status_code == 200, answer.get_data(as_text=True)
        return [c["summary"] for c in answer.get_json()["cards"] if "open trial" in c["summary"]]

    assert trial_cards() == []
    replace_registry(store, TRIALS, source="test", refreshed_at=datetime.now(UTC))
    time.sleep(1.1)  # LEUKEMIA_CDS_TRIALS_REFRESH_S=1
    assert trial_cards() != []


# --- the site's own open trials -------------------------------------------------------------

SITE_FILE = FIXTURES / "site-trials.json"


def _site() -> tuple[SiteStudy, ...]:
    from service.trials.site import load_site_trials

    return load_site_trials(SITE_FILE)


def test_the_site_file_marks_trials_open_here_with_whom_to_call() -> None:
    cd22, mrd_here, aml = _site()
    assert (cd22.nct, cd22.open, cd22.research_team) == (
        "NCT90000001", True, "PractitionerRole/leukemia-research-team")
    assert (mrd_here.nct, mrd_here.open) == ("NCT90000006", False)
    assert (aml.nct, aml.min_age_years, aml.max_age_years) == (None, 18.0, 80.0)


def test_open_here_leads_with_its_contact_and_a_referral_to_the_research_team() -> None:
    facts = patient(age=40, status="first-relapse", markers={"cd19": 90})
    registry = snapshot(site=_site())
    [first] = screen(facts, registry).shown
    assert (first.nct, first.open_here, first.contact) == (
        "NCT90000001", True, "Leukemia research office, +31 20 555 0100")
    _, cards = _render(facts, registry)
    [card] = [c for c in cards if "NCT90000001" in c.detail]
    assert "**open here**: Leukemia research office, +31 20 555 0100" in card.detail
    [referral] = [s for s in card.suggestions or [] if "research team" in s.label]
    resource = referral.actions[0].resource  # type: ignore[index]
    assert resource["resourceType"] == "ServiceRequest" and resource["status"] == "draft"
    assert resource["performer"] == [{"reference": "PractitionerRole/leukemia-research-team"}]
    assert resource["subject"] == {"reference": "Patient/pat-1"}
    assert "not eligibility" in resource["note"][0]["text"]


def test_a_trial_closed_here_is_not_open_here_and_gets_no_referral() -> None:
    facts = patient(age=30, status="cr1", mrd_result=mrd(1e-3))
    [match] = [m for m in screen(facts, snapshot(site=_site())).shown if m.nct == "NCT90000006"]
    assert not match.open_here and match.contact is None and match.research_team is None


def test_a_site_only_study_is_screened_on_its_own_condition_and_ages() -> None:
    aml_60 = patient(lineage="aml", age=60, status="cr1")
    found = screen(aml_60, snapshot((), site=_site())).shown
    assert [(m.nct, m.local_id, m.open_here) for m in found] == [("", "site-only-aml", True)]
    assert screen(patient(lineage="aml", age=85, status="cr1"),
                  snapshot((), site=_site())).shown == ()
    assert screen(patient(age=40, status="cr1"), snapshot((), site=_site())).shown == ()
    _, cards = _render(aml_60, RegistrySnapshot(site=_site()))
    [card] = [c for c in cards if "site-only-aml" in c.detail]
    assert "**Site study site-only-aml** SYNTHETIC site-only maintenance study in AML" in \
        card.detail
    assert not any("clinicaltrials.gov/study/" in (link.url or "") and "site-only" in link.label
                   for link in card.links or [])


def test_a_site_file_alone_keeps_the_seeds_trials_labelled() -> None:
    facts = patient(age=40, status="first-relapse")
    recs, cards = _render(facts, RegistrySnapshot(site=_site()))
    # NCT90000001 is open here, but with no registry record and no condition in the site
    # file nothing says which disease it is for: it is not offered on a guess
    assert "TRIAL-REGISTRY" not in [r.id for r in recs]
    assert any("Trials named in the sources" in c.detail for c in cards)
    cd22 = replace(_site()[0], conditions=("Relapsed B-cell acute lymphoblastic leukemia",))
    recs, cards = _render(facts, RegistrySnapshot(site=(cd22,)))
    [card] = [c for c in cards if "NCT90000001" in c.detail]
    assert "site study, open here" in card.detail
    assert any("Trials named in the sources" in c.detail for c in cards)  # not imported


@pytest.mark.parametrize(("edit", "says"), [
    (lambda b: "{", "not JSON"),
    (lambda b: {"resourceType": "Patient"}, "not a FHIR Bundle of ResearchStudy"),
    (lambda b: {**b, "entry": [{"resource": {"resourceType": "Patient", "id": "p"}}]},
     "entry 1: a Patient resource, not a ResearchStudy"),
    (lambda b: {**b, "entry": [{"resource": {**b["entry"][0]["resource"], "status": "open"}}]},
     "status 'open' is not a ResearchStudy status"),
    (lambda b: {**b, "entry": [{"resource": {**b["entry"][0]["resource"], "identifier": [
        {"system": "https://clinicaltrials.gov", "value": "NCT123"}]}}]},
     "identifier 'NCT123' is not NCT followed by 8 digits"),
    (lambda b: {**b, "entry": [{"resource": {**b["entry"][0]["resource"],
                                             "contact": "call us"}}]},
     "not valid FHIR R4 ResearchStudy (contact"),
    (lambda b: {**b, "entry": [b["entry"][0], b["entry"][0]]}, "NCT90000001 is listed twice"),
    (lambda b: {**b, "entry": [{"resource": {"resourceType": "ResearchStudy", "id": "x",
                                             "status": "active"}}]},
     "a site-only study (no NCT number) needs a condition"),
])
def test_a_site_file_that_is_not_valid_stops_start_up_with_one_line(tmp_path, edit,
                                                                     says) -> None:
    from service.trials.site import SiteTrialsError, load_site_trials

    bad = tmp_path / "site.json"
    content = edit(json.loads(SITE_FILE.read_text()))
    bad.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(SiteTrialsError) as caught:
        load_site_trials(bad)
    assert says in str(caught.value) and "\n" not in str(caught.value)


def test_serve_refuses_a_broken_site_file_in_one_line(tmp_path) -> None:
    from tests.live import free_port

    bad = tmp_path / "site.json"
    bad.write_text('{"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Group"}}]}')
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEUKEMIA_CDS_")}
    env.update(LEUKEMIA_CDS_DATA_DIR=str(tmp_path / "data"), LEUKEMIA_CDS_SITE_TRIALS=str(bad))
    done = subprocess.run([*server_command(), "serve", "--port", str(free_port())],
                          capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == (f"leukemia-cds: LEUKEMIA_CDS_SITE_TRIALS {bad}: entry 1: a "
                                   "Group resource, not a ResearchStudy")


def test_readyz_reports_a_stale_registry_and_stays_ready(make_app) -> None:
    app = make_app(trials_refresh_s="1", trials_stale_days="14")
    client = app.test_client()
    assert "notices" not in client.get("/readyz").get_json()  # none imported: nothing to say
    store = app.extensions["leukemia_cds.store"]
    replace_registry(store, TRIALS, source="test",
                     refreshed_at=datetime.now(UTC) - timedelta(days=20))
    time.sleep(1.1)
    answer = client.get("/readyz")
    assert answer.status_code == 200
    notice = answer.get_json()["notices"]["trials"]
    assert "trial registry last refreshed" in notice and "20 days ago" in notice
    assert "LEUKEMIA_CDS_TRIALS_STALE_DAYS=14" in notice
    replace_registry(store, TRIALS, source="test", refreshed_at=datetime.now(UTC))
    time.sleep(1.1)
    assert "notices" not in client.get("/readyz").get_json()


def test_ordering_a_line_of_therapy_is_a_juncture_too() -> None:
    """order-select and order-sign agree; a supportive drug (tocilizumab) gets no prompt."""
    from tests.decision_helpers import order

    facts = patient(age=40, status="first-relapse", markers={"cd19": 90})
    for hook in ("order-select", "order-sign"):
        recs = decide(facts, hook=hook, policy=Policy(), registry=snapshot(),
                      orders_in_focus=[order("blinatumomab")])
        [found] = [r for r in recs if r.id == "TRIAL-REGISTRY"]
        assert [m.nct for m in found.variables["registry"]] == ["NCT90000001"]
        recs = decide(facts, hook=hook, policy=Policy(), registry=snapshot(),
                      orders_in_focus=[order("tocilizumab")])
        assert "TRIAL-REGISTRY" not in [r.id for r in recs]
    # two therapy drafts: one prompt
    recs = decide(facts, hook="order-sign", policy=Policy(), registry=snapshot(),
                  orders_in_focus=[order("blinatumomab"), order("inotuzumab", resource="M/2")])
    assert [r.id for r in recs].count("TRIAL-REGISTRY") == 1


def test_no_prompt_while_the_status_predates_the_therapy_in_progress() -> None:
    from tests.decision_helpers import fact, src

    before = patient(age=40, status="first-relapse", car_t="tisagenlecleucel")
    relapse = fact("first-relapse", "Observation/status").model_copy(update={
        "source": src("Observation/status", "first-relapse",
                      datetime(2024, 8, 1, tzinfo=UTC))})  # before the 2024-09-01 infusion
    stale = before.model_copy(update={"disease_status": relapse})
    assert Ctx(stale, Policy()).status_vs_car_t == "before"
    open_to_adults = snapshot((replace(BY_NCT["NCT90000004"], max_age_years=None),))
    recs = decide(stale, hook="patient-view", policy=Policy(), registry=open_to_adults)
    assert "TRIAL-REGISTRY" not in [r.id for r in recs]
    assert "TRIAL-REGISTRY" in [r.id for r in decide(before, hook="patient-view",
                                                      policy=Policy(), registry=open_to_adults)]


# --- the pre-screen on every synthetic scenario ---------------------------------------------


def test_the_pre_screen_on_every_synthetic_scenario_concerns_that_patient(make_app) -> None:
    """Every scenario's chart through the real service with the fixture registry and the site
    file: a shown trial is open, names the patient's disease, includes the patient's age, has
    no criterion not met, never says "eligible", and at most three are shown."""
    from service.synth.generator import generate
    from service.synth.hooks import hook_request
    from service.synth.scenarios import SCENARIOS

    app = make_app(site_trials=str(SITE_FILE))
    replace_registry(app.extensions["leukemia_cds.store"], TRIALS, source="fixture",
                     refreshed_at=datetime.now(UTC))
    client = app.test_client()
    lineage_words = {"b-all": "B-ALL", "t-all": "T-ALL", "aml": "AML", "all-unspecified": "ALL"}
    shown_for: dict[str, list[str]] = {}
    for scenario in SCENARIOS:
        patient_ = generate(scenario, seed=2)
        answer = client.post("/cds-services/leukemia-immunotherapy",
                             json=hook_request(patient_.bundle(), "patient-view"))
        assert answer.status_code == 200, scenario
        cards = [c for c in answer.get_json()["cards"] if "TRIAL-REGISTRY" in
                 c["extension"]["org.leukemia-cds.recommendation"]["ids"]]
        assert len(cards) <= 1, scenario
        if not cards:
            continue
        detail = cards[0]["detail"]
        ncts = re.findall(r"^- \*\*(NCT\d{8}|Site study [\w-]+)\*\*", detail, re.M)
        assert 1 <= len(ncts) <= 3, (scenario, detail)
        assert "NCT90000003" not in ncts, "a completed trial is never shown"
        assert "eligible" not in cards[0]["summary"].lower().replace("not eligibility", "")
        for line in re.findall(r"^- \*\*.*$", detail, re.M):
            assert "not met:" not in line, (scenario, line)
            assert re.search(r"met: disease \((B-ALL|T-ALL|AML|ALL)\)|unknown: .*disease",
                             line), (scenario, line)
        facts_text = " ".join(re.findall(r"Diagnosis: ([\w-]+)", detail))
        assert any(word in facts_text for word in lineage_words.values()), (scenario, detail)
        shown_for[scenario] = ncts
    # the registry speaks to the scenarios it was written for, and not beyond
    assert "NCT90000005" in shown_for["icd10-aml-subtype"]  # relapsed AML
    assert "NCT90000005" not in shown_for.get("aml-cd33-negative-relapse", [])  # CD33+ only
    assert "Site study site-only-aml" in shown_for["aml-cr1-persistent-mrd"]  # first remission
    assert "Site study site-only-aml" not in shown_for.get("aml-relapse-after-allo-hct", [])
    assert "NCT90000007" in shown_for["t-all-relapsed-cd38"]
    assert any("NCT90000001" in v for k, v in shown_for.items() if "relapse" in k)
    assert all("NCT90000004" not in v for k, v in shown_for.items()
               if k in {"ph-pos-newdx-70", "aml-cd33-unfit"})


def test_once_a_registry_is_imported_the_seed_trial_prompts_go() -> None:
    """OBERON (withdrawn, 0 enrolled) and ZUMA-4 (ALL cohort closed) were still named in a
    summary beside the registry's card; the prompts that only name seed trials now go, and
    the others keep their advice without the list."""
    from service.decision.rules.trials import SEED_TRIAL_PROMPTS

    facts = patient(age=40, status="first-relapse", markers={"cd19": 90})
    without = [r.id for r in decide(facts, hook="patient-view", policy=Policy())]
    assert "TRIAL-SPECIFIC-RR" in without
    recs, cards = _render(facts, snapshot())
    assert not SEED_TRIAL_PROMPTS & {r.id for r in recs}
    text = " ".join(c.summary + (c.detail or "") for c in cards)
    assert "OBERON" not in text and "ZUMA-4" not in text
