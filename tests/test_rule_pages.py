"""Each rule's page (`/rules/<id>`): what it rests on, public, generated, and patient-free."""

from __future__ import annotations

import re

from service.decision import RULES


def test_every_rule_has_a_page_without_authentication(app) -> None:
    client = app.test_client()
    index = client.get("/rules", headers={"Authorization": ""})
    assert index.status_code == 200 and index.mimetype == "text/html"
    linked = set(re.findall(r"href='rules/([A-Z0-9-]+)'", index.get_data(as_text=True)))
    assert linked == set(RULES)
    for rule_id in RULES:
        page = client.get(f"/rules/{rule_id}", headers={"Authorization": ""})
        assert page.status_code == 200, rule_id


def test_a_page_shows_the_criteria_trials_and_quotes(app) -> None:
    html = app.test_client().get("/rules/ALL-PH-RR-INO").get_data(as_text=True)
    assert "<dt>Applies when</dt><dd>B-ALL, relapsed or refractory, Ph-positive" in html
    assert ("<dt>Not when</dt><dd>CD22 negative (lab call) or a bare % under the site&#39;s "
            "cut-off, under inotuzumab") in html
    assert "(US label: 1 year and older, FDA 2024-03-06)</dd>" in html
    assert "https://clinicaltrials.gov/study/NCT02311998" in html
    assert "66% achieved complete remission, and 63% had MRD negativity." in html
    assert "Ph+ r/r B-ALL: inotuzumab after TKI failure" in html  # the rule's own why


def test_catalogue_text_is_escaped_not_markup(app) -> None:
    """The summary template reads "MRD < 0.01 %": on the page it is text, never a tag."""
    html = app.test_client().get("/rules/ALL-FRONT-BLIN-CONSOLIDATION").get_data(as_text=True)
    code = html.split("<code>")[1].split("</code>")[0]
    assert "MRD &lt; 0.01 %" in code and "<" not in code


def test_an_unknown_rule_is_a_404_operation_outcome(app) -> None:
    response = app.test_client().get("/rules/NO-SUCH-RULE")
    assert response.status_code == 404
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_a_page_shows_the_evidence_the_card_leaves_out(app) -> None:
    html = app.test_client().get("/rules/ALL-BLIN-RR").get_data(as_text=True)
    evidence = html.split("<h2>Evidence</h2>")[1].split("<h2>")[0]
    assert "<li>TOWER (adults, Ph− r/r, n=405): median OS 7.7 vs 4.0 months" in evidence
    # the rules that can share its card, each a link to its own page
    assert "Shares a card with:" in evidence and "<a href='ALL-INO-RR'>ALL-INO-RR</a>" in evidence


def test_evidence_markdown_is_escaped_then_formatted() -> None:
    from service.rule_pages import markdown_html

    html = str(markdown_html("**TOWER** <script>x</script>, CR _34 %_, snake_case\n"
                             "- one\n- two\n\nnext"))
    assert html == ("<p><b>TOWER</b> &lt;script&gt;x&lt;/script&gt;, CR <i>34 %</i>, "
                    "snake_case</p><ul><li>one</li><li>two</li></ul><p>next</p>")
