"""Any patient the facts contract allows renders: no template error, contract kept, <= 8 cards.

Unit tests pin the rules; this sweeps their combinations so every variable a rule passes meets a
template that expects it (StrictUndefined would raise otherwise).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.paths import cards_dir
from service.render import Renderer, load_catalogue
from tests.decision_helpers import mrd, patient, run
from tests.test_render_summaries import record_fallbacks

RENDERER = Renderer(load_catalogue(cards_dir()))


@pytest.fixture
def no_fallback(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return record_fallbacks(monkeypatch)
STATUSES = [None, "newly-diagnosed", "post-induction", "cr1", "cr2", "cr3-or-later",
            "first-relapse", "second-or-later-relapse", "primary-refractory",
            "relapsed-refractory", "relapse", "remission"]
MARKER = st.one_of(st.none(), st.sampled_from(["positive", "dim", "negative"]),
                   st.sampled_from([0.0, 0.5, 5.0, 19.9, 20.0, 60.0, 100.0]))
MRD = st.one_of(
    st.none(),
    st.builds(lambda f, below, method: mrd(f, below=below, method=method),
              st.sampled_from([None, 5e-5, 1e-4, 9.99e-4, 1e-3, 0.05]), st.booleans(),
              st.sampled_from([None, "flow-cytometry", "ngs"])),
    st.builds(lambda d: mrd(None, detected=d), st.booleans()),
)
DRUGS = st.sampled_from([None, "blinatumomab", "inotuzumab", "tisagenlecleucel",
                         "brexucabtagene", "obecabtagene", "gemtuzumab", "rituximab",
                         "daratumumab", "tocilizumab"])


@st.composite
def patients(draw):
    markers = {m: v for m in ("cd19", "cd20", "cd22", "cd33", "cd123", "cd38")
               if (v := draw(MARKER)) is not None}
    tri = st.sampled_from([None, True, False])
    return patient(
        lineage=draw(st.sampled_from([None, "b-all", "t-all", "aml", "all-unspecified"])),
        age=draw(st.sampled_from([None, 1, 17, 18, 25, 26, 55, 56, 60, 71])),
        status=draw(st.sampled_from(STATUSES)), markers=markers,
        blasts=draw(st.sampled_from([None, 3.0, 30.0, 49.9, 50.0, 90.0])),
        mrd_result=draw(MRD), ph=draw(st.sampled_from([None, "positive", "negative"])),
        ph_like=draw(st.sampled_from([None, "positive"])),
        kmt2a=draw(st.sampled_from([None, "positive", "negative"])),
        t315i=draw(st.sampled_from([None, "detected"])),
        cns=draw(st.sampled_from([None, "cns1", "cns3"])),
        emd=draw(st.sampled_from([None, "present", "absent"])),
        hct_planned=draw(tri), hct_eligible=draw(tri), prior_hct=draw(st.booleans()),
        car_t=draw(st.sampled_from([None, "tisagenlecleucel", "unknown"])),
        exposures=tuple(draw(st.sets(st.sampled_from(["blinatumomab", "inotuzumab",
                                                      "dasatinib"])))),
        cd3=draw(st.sampled_from([None, 100.0, 400.0])),
        aml_risk=draw(st.sampled_from([None, "favorable", "intermediate", "adverse"])),
        fit=draw(tri), hepatic=draw(tri), neuro=draw(tri),
    )


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(patients(), DRUGS, st.booleans())
def test_any_patient_renders_within_the_contract(no_fallback, facts, drug, car_t_order) -> None:
    recs = run(facts, drug, car_t=car_t_order) if drug or car_t_order else run(facts)
    cards = RENDERER.render(recs, patient_id="pat-1")
    assert len(cards) <= 8
    for card in cards:
        assert len(card.summary) < 140 and "…" not in card.summary  # written to fit, never cut
        assert card.detail and "**Sources:**" in card.detail
    assert not no_fallback, no_fallback  # every merged card got its group's summary
