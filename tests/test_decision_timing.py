"""Rules that say "after X" compare dates: a relapse recorded before the CAR T infusion is not a
relapse after CAR T. Each rule is checked with the fact dated after the event, before it, and
with either date missing (then the card is shown with what to confirm, never asserting order).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from service.decision.timing import follows_any, timing
from service.facts import CarTEvent, PatientFacts, ProcedureEvent
from service.paths import cards_dir
from service.render import Renderer, load_catalogue
from tests.decision_helpers import by_id, exposure, ids, mrd, patient, run, src

RENDERER = Renderer(load_catalogue(cards_dir()))


def d(year: int, month: int, day: int = 1) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


def dated(facts: PatientFacts, *, status: datetime | str | None = "keep",
          car_t: tuple[datetime | None, ...] | None = None,
          hct: tuple[datetime | None, ...] | None = None,
          mrd_at: datetime | str | None = "keep",
          marker_at: dict[str, datetime | None] | None = None) -> PatientFacts:
    """The same patient with chosen dates (decision_helpers dates everything 'today')."""
    update: dict = {}
    if status != "keep" and facts.disease_status is not None:
        s = facts.disease_status
        update["disease_status"] = s.model_copy(
            update={"source": s.source.model_copy(update={"effective": status})})
    if car_t is not None:
        update["car_t"] = tuple(CarTEvent(product="tisagenlecleucel", date=w,
                                          source=src(f"Procedure/cart{i}", when=w))
                                for i, w in enumerate(car_t))
    if hct is not None:
        update["allo_hct"] = tuple(ProcedureEvent(date=w, source=src(f"Procedure/hct{i}",
                                                                     when=w))
                                   for i, w in enumerate(hct))
    if mrd_at != "keep" and facts.mrd is not None:
        m = facts.mrd.model_copy(update={"source": facts.mrd.source.model_copy(
            update={"effective": mrd_at})})
        update["mrd"] = m
        update["mrd_history"] = (m,)
    if marker_at:
        markers = dict(facts.markers)
        for name, w in marker_at.items():
            mk = markers[name]  # type: ignore[index]
            markers[name] = mk.model_copy(  # type: ignore[index]
                update={"source": mk.source.model_copy(update={"effective": w})})
        update["markers"] = markers
    return facts.model_copy(update=update)


def relapsed(**kw) -> PatientFacts:
    base = dict(age=20, status="second-or-later-relapse", markers={"cd19": 95, "cd22": 80},
                ph="negative", kmt2a="negative")
    base.update(kw)
    return patient(**base)


def summaries(facts: PatientFacts, *drugs: str) -> list[str]:
    return [c.summary for c in RENDERER.render(run(facts, *drugs), patient_id="pat-1")]


def details(facts: PatientFacts) -> str:
    return "\n".join(c.detail for c in RENDERER.render(run(facts), patient_id="pat-1"))


# --- the comparison itself ----------------------------------------------------------------------

@pytest.mark.parametrize(("when", "events", "expected"), [
    (d(2025, 3), (d(2024, 9),), "after"),
    (d(2024, 8), (d(2024, 9),), "before"),
    (d(2024, 9, 1).replace(hour=18), (d(2024, 9, 1),), "unknown"),  # same day: order unknown
    (None, (d(2024, 9),), "unknown"),
    (d(2025, 3), (None,), "unknown"),
    (d(2025, 3), (d(2024, 9), None), "unknown"),  # the undated one may be the latest
    (d(2024, 10), (d(2024, 9), d(2024, 12)), "before"),  # against the *latest* event
    (d(2024, 10), (), None),
])
def test_timing_is_against_the_latest_event_by_calendar_day(when, events, expected) -> None:
    assert timing(when, events) == expected


def test_follows_any_needs_both_dates() -> None:
    assert follows_any(d(2025, 1), (d(2024, 1), d(2025, 6)))
    assert not follows_any(d(2025, 1), (d(2025, 6),))
    assert not follows_any(None, (d(2024, 1),))
    assert not follows_any(d(2025, 1), (None,))


# --- relapse after CAR T ----------------------------------------------------------------------

def test_relapse_after_car_t_fires_when_the_status_postdates_the_infusion() -> None:
    recs = run(dated(relapsed(car_t="tisagenlecleucel"), status=d(2025, 2), car_t=(d(2024, 9),)))
    rec = by_id(recs, "POSTCART-RELAPSE")
    assert rec.variables["timing"] == "after" and rec.variables["confirm"] == ()
    assert by_id(recs, "TRIAL-POST-CART").variables["timing"] == "after"
    assert "DQ-STATUS-UNKNOWN" not in ids(recs)


def test_relapse_recorded_before_the_car_t_is_not_a_relapse_after_it() -> None:
    facts = dated(relapsed(car_t="tisagenlecleucel"), status=d(2024, 8, 20), car_t=(d(2024, 9),))
    recs = run(facts)
    got = ids(recs)
    assert "POSTCART-RELAPSE" not in got and "TRIAL-POST-CART" not in got
    assert "CART-TISA" not in got  # already had CAR T: the product options stay out
    stale = by_id(recs, "DQ-STATUS-UNKNOWN").variables["stale"]
    assert stale["event"] == "CAR T infusion" and stale["event_date"] == "2024-09-01"
    assert stale["status_date"] == "2024-08-20"
    # the options built on the pre-infusion status are withheld, and the card says so (M5)
    assert by_id(recs, "DQ-STATUS-UNKNOWN").variables["withheld"] is True
    assert any(s.startswith("Options withheld: latest status (second or later relapse, "
                            "2024-08-20) predates") for s in summaries(facts))
    assert not any("after CAR T" in s for s in summaries(facts))


def test_relapse_between_two_infusions_predates_the_latest() -> None:
    facts = dated(relapsed(car_t="tisagenlecleucel"), status=d(2024, 10),
                  car_t=(d(2024, 1), d(2024, 12)))
    assert "POSTCART-RELAPSE" not in ids(run(facts))


@pytest.mark.parametrize(("status", "car_t", "why"), [
    (None, (d(2024, 9),), "status date not recorded"),
    (d(2025, 2), (None,), "CAR T infusion date not recorded"),
    (d(2024, 9, 1), (d(2024, 9, 1),), "recorded the same day as the CAR T infusion"),
])
def test_unknown_order_shows_the_option_with_what_to_confirm(status, car_t, why) -> None:
    facts = dated(relapsed(car_t="tisagenlecleucel"), status=status, car_t=car_t)
    recs = run(facts)
    for rule in ("POSTCART-RELAPSE", "TRIAL-POST-CART"):
        rec = by_id(recs, rule)
        assert rec.variables["timing"] == "unknown"
        assert rec.variables["confirm"] == (
            f"that the relapse came after the CAR T infusion ({why})",)
    text = summaries(facts)
    assert not any(s.startswith("Relapse after CAR T") for s in text), text
    assert any("order unconfirmed" in s for s in text)
    assert f"came after the CAR T infusion ({why})" in details(facts)
    assert "DQ-STATUS-UNKNOWN" not in ids(recs)


# --- remission after CAR T (consolidative HCT) ----------------------------------------------------

def remission(**kw) -> PatientFacts:
    return relapsed(status="cr2", car_t="tisagenlecleucel", prior_hct=True,
                    mrd_result=mrd(1e-4, below=True, method="ngs"), **kw)


def test_remission_after_car_t_uses_only_the_mrd_drawn_after_the_infusion() -> None:
    after = run(dated(remission(), status=d(2024, 10, 5), car_t=(d(2024, 9),),
                      mrd_at=d(2024, 9, 29)))
    rec = by_id(after, "CART-CONSOLIDATIVE-HCT")
    assert rec.variables["timing"] == "after" and rec.variables["mrd"] == "negative"
    assert rec.variables["mrd_day"] == 28
    assert by_id(after, "CAU-SECOND-HCT-POST-CART").variables["timing"] == "after"

    facts = dated(remission(), status=d(2024, 10, 5), car_t=(d(2024, 9),), mrd_at=d(2024, 8))
    rec = by_id(run(facts), "CART-CONSOLIDATIVE-HCT")
    assert rec.variables["mrd"] is None and rec.variables["mrd_before"] is True
    assert "MRD after CAR T not in record (the latest MRD predates the infusion)" \
        in details(facts)


def test_remission_recorded_before_car_t_is_not_remission_after_it() -> None:
    recs = run(dated(remission(), status=d(2024, 8), car_t=(d(2024, 9),), hct=(d(2023, 1),)))
    got = ids(recs)
    assert "CART-CONSOLIDATIVE-HCT" not in got and "CAU-SECOND-HCT-POST-CART" not in got
    assert by_id(recs, "DQ-STATUS-UNKNOWN").variables["stale"]["event"] == "CAR T infusion"


def test_remission_with_an_undated_infusion_is_confirmed_not_assumed() -> None:
    recs = run(dated(remission(), car_t=(None,)))
    rec = by_id(recs, "CART-CONSOLIDATIVE-HCT")
    assert rec.variables["timing"] == "unknown" and rec.variables["mrd"] is None
    assert "CAR T infusion date not recorded" in rec.variables["confirm"][0]


# --- relapse after allo-HCT ---------------------------------------------------------------------

@pytest.mark.parametrize(("lineage", "rule", "markers"), [
    ("b-all", "ALL-RELAPSE-POST-HCT", {"cd19": 95, "cd22": 80}),
    ("aml", "AML-POSTHCT-RELAPSE", {"cd33": "positive"}),
])
def test_relapse_after_allo_hct_compares_dates(lineage, rule, markers) -> None:
    base = relapsed(lineage=lineage, status="first-relapse", markers=markers, prior_hct=True,
                    age=45)
    after = run(dated(base, status=d(2025, 2), hct=(d(2023, 1),)))
    assert by_id(after, rule).variables["timing"] == "after"
    assert by_id(after, rule).variables["confirm"] == ()

    before = run(dated(base, status=d(2022, 12), hct=(d(2023, 1),)))
    assert rule not in ids(before)
    assert by_id(before, "DQ-STATUS-UNKNOWN").variables["stale"]["event"] == "allo-HCT"

    unknown = by_id(run(dated(base, hct=(None,))), rule)
    assert unknown.variables["timing"] == "unknown"
    assert unknown.variables["confirm"] == (
        "that the relapse came after the allo-HCT (allo-HCT date not recorded)",)


def test_remission_recorded_before_allo_hct_is_not_flagged() -> None:
    # transplanted in CR: a CR status from before the HCT is the common record, no "after" rule
    facts = dated(relapsed(status="cr1", prior_hct=True), status=d(2022, 12), hct=(d(2023, 1),))
    assert "DQ-STATUS-UNKNOWN" not in ids(run(facts))


# --- MRD after blinatumomab / inotuzumab ------------------------------------------------------

def mrd_patient(drug: str, mrd_at: datetime | None, given: datetime | None,
                fraction: float = 2e-3, below: bool = False) -> PatientFacts:
    base = relapsed(status="cr2", mrd_result=mrd(fraction, below=below))
    base = base.model_copy(update={"exposures": (exposure(drug).model_copy(
        update={"date": given}),)})
    return dated(base, mrd_at=mrd_at)


@pytest.mark.parametrize(("drug", "after"), [("inotuzumab", "inotuzumab"),
                                              ("blinatumomab", "blinatumomab")])
def test_switch_target_only_for_mrd_drawn_after_the_drug(drug, after) -> None:
    rec = by_id(run(mrd_patient(drug, d(2025, 1), d(2024, 6))), "ALL-SEQ-INO-BLIN")
    assert rec.variables["after"] == after and rec.variables["timing"] == "after"
    assert "ALL-SEQ-INO-BLIN" not in ids(run(mrd_patient(drug, d(2024, 5), d(2024, 6))))
    unknown = by_id(run(mrd_patient(drug, d(2025, 1), None)), "ALL-SEQ-INO-BLIN")
    assert unknown.variables["timing"] == "unknown"
    assert unknown.variables["confirm"] == (
        f"that this MRD result came after the {drug} ({drug} date not recorded)",)


def test_transplant_role_after_mrd_negative_blinatumomab_compares_dates() -> None:
    def recs(mrd_at, given):
        return run(mrd_patient("blinatumomab", mrd_at, given, fraction=1e-4, below=True))

    assert by_id(recs(d(2025, 1), d(2024, 6)), "ALL-BLIN-MRD-HCT-ROLE").variables["timing"] \
        == "after"
    assert "ALL-BLIN-MRD-HCT-ROLE" not in ids(recs(d(2024, 1), d(2024, 6)))
    rec = by_id(recs(None, d(2024, 6)), "ALL-BLIN-MRD-HCT-ROLE")
    assert rec.variables["confirm"] == (
        "that this MRD result came after the blinatumomab (MRD date not recorded)",)
    text = " ".join(summaries(mrd_patient("blinatumomab", None, d(2024, 6), 1e-4, True)))
    assert "MRD-negative after blinatumomab" not in text
    assert "MRD-negative with prior blinatumomab (order unconfirmed)" in text


# --- antigen loss, T315I and re-testing after targeted therapy ------------------------------------

def test_cd19_loss_is_claimed_only_for_a_negative_result_after_the_therapy() -> None:
    base = relapsed(markers={"cd19": "negative", "cd22": "positive"},
                    exposures=("blinatumomab",))  # given 2024-06-01
    after = dated(base, marker_at={"cd19": d(2025, 1)})
    assert by_id(run(after), "CAU-CD19-NEG").variables["loss"] is True
    assert by_id(run(after, "blinatumomab"), "ORDER-CD19-NEG").variables["loss"] is True
    for when in (d(2024, 1), None):
        before = dated(base, marker_at={"cd19": when})
        assert by_id(run(before), "CAU-CD19-NEG").variables["loss"] is False
        assert by_id(run(before, "blinatumomab"), "ORDER-CD19-NEG").variables["loss"] is False
        assert not any("after CD19-directed therapy" in s for s in summaries(before))


def test_cd22_now_negative_only_after_inotuzumab() -> None:
    base = relapsed(markers={"cd19": 90, "cd22": "negative"}, exposures=("inotuzumab",))
    assert by_id(run(dated(base, marker_at={"cd22": d(2025, 1)})),
                 "CAU-CD22-LOSS").variables["cd22_negative"] is True
    assert by_id(run(dated(base, marker_at={"cd22": d(2024, 1)})),
                 "CAU-CD22-LOSS").variables["cd22_negative"] is False


def test_t315i_testing_after_dasatinib_and_blinatumomab_needs_the_relapse_after_them() -> None:
    base = relapsed(ph="positive", exposures=("dasatinib", "blinatumomab"))  # 2024-06-01
    rec = by_id(run(dated(base, status=d(2025, 1))), "ALL-PH-T315I")
    assert rec.variables["mode"] == "test" and rec.variables["timing"] == "after"
    assert "ALL-PH-T315I" not in ids(run(dated(base, status=d(2024, 5))))
    unknown = dated(base, status=None)
    assert by_id(run(unknown), "ALL-PH-T315I").variables["timing"] == "unknown"
    assert not any(s.startswith("Relapse after dasatinib") for s in summaries(unknown))


def test_marker_not_dated_against_targeted_therapy_is_retested() -> None:
    base = relapsed(exposures=("blinatumomab",))
    assert "DX-RETEST-TARGET-AT-RELAPSE" not in ids(run(dated(
        base, marker_at={"cd19": d(2025, 1), "cd22": d(2025, 1)})))
    rec = by_id(run(dated(base, marker_at={"cd19": None, "cd22": d(2025, 1)})),
                "DX-RETEST-TARGET-AT-RELAPSE")
    assert rec.variables["markers"] == ("CD19",)


# --- CRS / ICANS grades on a CAR T order --------------------------------------------------------

def test_toxicity_grades_are_placed_against_the_latest_infusion() -> None:
    base = relapsed(crs=2, car_t="tisagenlecleucel")  # grade dated 2025-03-01
    crs = by_id(run(dated(base, car_t=(d(2025, 2, 25),)), "tisagenlecleucel"), "MON-CART-CRS")
    assert crs.facts[0].value == "2, 2025-03-01 (day 4 after the CAR T infusion)"
    crs = by_id(run(dated(base, car_t=(d(2025, 3, 20),)), "tisagenlecleucel"), "MON-CART-CRS")
    assert crs.facts[0].value == "2, 2025-03-01 (before the latest CAR T infusion)"


def test_naive_and_aware_times_compare_by_day() -> None:
    naive = datetime(2024, 9, 1)
    assert timing(d(2025, 1), (naive, d(2024, 6))) == "after"
    assert timing(datetime(2024, 8, 1), (d(2024, 9),)) == "before"
