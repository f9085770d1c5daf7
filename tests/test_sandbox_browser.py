"""The sandbox in a real browser (Debian's chromium via Playwright) against the real server.

What a reviewer does: open the page, pick a patient, open the chart (patient-view), accept a
suggestion — and the feedback must land in the audit store — then order a drug and see its
monitoring card. Screenshots go to test-artifacts/ for people to look at.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from service.sandbox import ISSUER
from service.store import Store, database_url
from service.store.schema import feedback
from tests.live import live_server

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
EXT = "org.leukemia-cds.recommendation"

if not CHROMIUM.exists():
    pytest.skip("browser test needs Debian's chromium at /usr/bin/chromium "
                "(apt-get install chromium); .ci/run installs it", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="pip install playwright (the test extra); never "
                                      "`playwright install`: the test drives /usr/bin/chromium")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`leukemia-cds serve` as a developer runs it: no settings, so the sandbox is on."""
    data = tmp_path_factory.mktemp("sandbox-data")
    with live_server({"LEUKEMIA_CDS_DATA_DIR": str(data)}, data / "server.log") as live:
        yield live.base, data


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    base, _ = server
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: errors.append(f"dialog: {dialog.message}"))
    page.goto(base + "/")
    page.wait_for_selector("body[data-ready=true]", timeout=10_000)
    yield page
    context.close()
    assert not errors, errors


def open_chart(page, patient_id: str) -> None:
    page.click(f"[data-patient='{patient_id}']")
    page.wait_for_selector("#status:has-text('Chart loaded')", timeout=10_000)


def fire(page, button: str, hook: str) -> None:
    page.click(button)
    page.wait_for_selector(f"#result-title:has-text('{hook} (HTTP 200)')", timeout=10_000)


def cards(page) -> list[dict]:
    return json.loads(page.text_content("#raw-response pre") or "{}").get("cards", [])


def rule_ids(answer: list[dict]) -> set[str]:
    """Every rule behind the cards (a card may merge several recommendations)."""
    return {rule for c in answer for rule in c["extension"][EXT].get("ids") or
            [c["extension"][EXT]["id"]]}


def card_for(page, rule: str):
    return page.locator(f"article.card[data-recommendation~='{rule}']")


def stored_feedback(data_dir: Path) -> list[dict]:
    store = Store.open(database_url(data_dir, None))
    try:
        with store.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(select(feedback))]
    finally:
        store.close()


def test_a_reviewer_opens_a_chart_accepts_a_suggestion_and_orders(page, server):
    _base, data_dir = server
    ARTIFACTS.mkdir(exist_ok=True)
    open_chart(page, "ph-pos-newdx-70-0")
    assert "Ph+ (BCR::ABL1)" in page.inner_text("#key-facts")

    fire(page, "#fire-patient-view", "patient-view")
    answer = cards(page)
    assert page.locator("article.card").count() == len(answer) > 0
    assert {"ALL-PH-FRONT", "CAU-PH-CHEMOFREE-CNS", "DX-ALL-MARKERS"} <= rule_ids(answer)
    assert card_for(page, "CAU-PH-CHEMOFREE-CNS").get_attribute("class") == "card warning"
    front = card_for(page, "ALL-PH-FRONT")
    expected = next(c for c in answer if "ALL-PH-FRONT" in c["extension"][EXT]["ids"])
    assert front.locator(".summary").inner_text() == expected["summary"]
    assert front.locator(".detail strong").count() > 0, "markdown detail is rendered"

    # Issue 23: the trial pre-screen, from the sandbox's synthetic registry (none imported)
    assert "TRIAL-REGISTRY" in rule_ids(answer)
    prescreen = card_for(page, "TRIAL-REGISTRY").inner_text()
    assert "NCT90000002" in prescreen and "Pre-screen: met: disease (B-ALL)" in prescreen
    assert "Ph (positive; trial Ph-positive)" in prescreen
    card_for(page, "TRIAL-REGISTRY").screenshot(path=str(ARTIFACTS /
                                                        "sandbox-trial-prescreen.png"))

    # The why panel names the facts and resource ids the card used, and its seeds.
    front.locator("details.why summary").click()
    why = front.locator("details.why").inner_text()
    assert "Observation/ph-pos-newdx-70-0-obs-" in why and "Sources:" in why
    assert expected["extension"][EXT]["evidence"][0]["seed"] in why

    # Accept a work-up suggestion; the feedback must reach the audit store.
    workup = card_for(page, "DX-ALL-MARKERS")
    card_uuid = workup.get_attribute("data-card")
    suggestion = next(c for c in answer if c["uuid"] == card_uuid)["suggestions"][0]
    workup.locator("button.accept").first.click()
    page.wait_for_selector(f"article[data-card='{card_uuid}'][data-feedback='accepted']",
                           timeout=10_000)
    rows = [r for r in stored_feedback(data_dir) if r["card_uuid"] == card_uuid]
    assert len(rows) == 1 and rows[0]["outcome"] == "accepted" and rows[0]["iss"] == ISSUER
    assert suggestion["uuid"] in rows[0]["accepted_suggestions"]
    assert page.locator("#basket li").count() == 1, "the accepted order joins the draft orders"
    page.screenshot(path=str(ARTIFACTS / "sandbox-patient-view.png"), full_page=True)

    # Order blinatumomab: order-select shows its monitoring card, order-sign agrees.
    page.select_option("#drug-select", "blinatumomab")
    fire(page, "#fire-order-select", "order-select")
    assert "MON-BLIN-ADMISSION" in rule_ids(cards(page))
    assert card_for(page, "MON-BLIN-ADMISSION").count() == 1
    request = json.loads(page.text_content("#raw-request pre") or "{}")
    assert request["context"]["selections"] == ["MedicationRequest/draft-blinatumomab"]
    assert len(request["context"]["draftOrders"]["entry"]) == 2
    page.screenshot(path=str(ARTIFACTS / "sandbox-order-select.png"), full_page=True)
    fire(page, "#fire-order-sign", "order-sign")
    assert "MON-BLIN-ADMISSION" in rule_ids(cards(page))


def test_a_second_patient_gets_other_cards_and_a_critical_order_warning(page, server):
    open_chart(page, "t-all-relapsed-cd38-0")
    fire(page, "#fire-patient-view", "patient-view")
    ids = rule_ids(cards(page))
    assert {"TALL-DARA", "TALL-NO-B-AGENTS"} <= ids and "ALL-PH-FRONT" not in ids
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "sandbox-t-all-patient-view.png"), full_page=True)
    page.select_option("#drug-select", "blinatumomab")
    fire(page, "#fire-order-select", "order-select")
    critical = page.locator("article.card.critical").first
    assert critical.count() == 1, "a CD19 agent in T-ALL contradicts the record"
    # Override it with a reason: overridden feedback is stored too.
    critical.locator("input.override-comment").fill("lineage re-checked by the lab")
    critical.locator("button.override").click()
    uuid = critical.get_attribute("data-card")
    page.wait_for_selector(f"article[data-card='{uuid}'][data-feedback='overridden']",
                           timeout=10_000)
    _base, data_dir = server
    (row,) = [r for r in stored_feedback(data_dir) if r["card_uuid"] == uuid]
    assert row["outcome"] == "overridden" and row["reason_display"]
    assert row["user_comment"] == "lineage re-checked by the lab"


HOSTILE = {
    "uuid": "hostile-1",
    "summary": "<img src=x onerror=alert('summary')>",
    "indicator": "warning\" onmouseover=\"alert(1)",
    "detail": "Hello <script>alert('detail')</script> <img src=x onerror=alert('img')>\n\n"
              "[click](javascript:alert('link')) [ok](https://clinicaltrials.gov/study/NCT1)\n\n"
              "| a | b |\n|---|---|\n| <b>x</b> | **y** |\n\n- one\n- two",
    "source": {"label": "<svg onload=alert('src')>", "url": "javascript:alert('u')",
               "topic": {"code": "x", "display": "<i>t</i>"}},
    "links": [{"label": "bad", "url": "javascript:alert('l')", "type": "absolute"}],
    "suggestions": [{"label": "<b>s</b>", "uuid": "s1", "actions": [
        {"type": "create", "description": "<img src=x onerror=alert('a')>",
         "resource": {"resourceType": "ServiceRequest"}}]}],
    "selectionBehavior": "at-most-one",
    "overrideReasons": [{"code": "r", "display": "<img src=x onerror=alert('r')>"}],
    "extension": {EXT: {"id": "X", "facts": [{"name": "<b>n</b>", "value": "<i>v</i>",
                                               "resource": "Observation/<x>"}],
                        "evidence": [{"seed": "<s>", "section": "<t>"}],
                        "regulatory": [{"id": "<K>", "agency": "<a>", "date": "<d>",
                                        "url": "javascript:alert('reg')"},
                                       {"id": "K2", "agency": "FDA", "date": "2024-04-18",
                                        "url": "https://www.fda.gov/k2"}]}},
}


def test_markup_from_the_service_never_becomes_markup_in_the_page(page):
    page.evaluate("card => { document.getElementById('result').hidden = false; "
                  "window.SandboxPage.renderCards([card]); }", HOSTILE)
    card = page.locator("article.card")
    assert card.count() == 1
    assert card.get_attribute("class") == "card info", "unknown indicator falls back to info"
    for tag in ("img", "script", "svg", "b", "i", "iframe"):
        assert card.locator(tag).count() == 0, tag
    hrefs = [a.get_attribute("href") for a in card.locator("a").all()]
    # a regulatory source links only to an https address (K2), never to javascript:
    assert sorted(hrefs) == ["https://clinicaltrials.gov/study/NCT1", "https://www.fda.gov/k2"]
    assert "<img src=x onerror=alert('summary')>" in card.locator(".summary").inner_text()
    assert card.locator(".detail table td").count() == 2
    assert card.locator(".detail strong").inner_text() == "y"
    card.hover()  # an injected onmouseover would raise a dialog; the fixture fails on any
