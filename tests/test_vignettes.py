"""Clinical vignettes: synthetic patients through the whole service (FHIR in, cards out).

Each vignette in tests/vignettes/vignettes.toml is sent as a complete CDS Hooks request through
the Flask test client (the conftest `client`, which signs requests as the test EHR); the test
asserts which options, cautions, monitoring orders and trials appear, and which must not.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import SERVICE_FOR_HOOK
from tests.vignettes.build import VIGNETTES, request

EXTENSION = "org.leukemia-cds.recommendation"


def call(client, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.post(f"/cds-services/{SERVICE_FOR_HOOK[body['hook']]}", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["cards"]


def shown(cards: list[dict[str, Any]]) -> set[str]:
    return {i for c in cards for i in c["extension"][EXTENSION]["ids"]}


@pytest.mark.parametrize("vignette", VIGNETTES, ids=[v["id"] for v in VIGNETTES])
def test_vignette(client, vignette: dict[str, Any]) -> None:
    cards = call(client, request(vignette))
    got = shown(cards)
    missing = set(vignette.get("expect", ())) - got
    assert not missing, f"{vignette['id']}: missing {sorted(missing)}; got {sorted(got)}"
    unwanted = set(vignette.get("absent", ())) & got
    assert not unwanted, f"{vignette['id']}: must not show {sorted(unwanted)}"
    assert len(cards) <= vignette.get("max_cards", 8)
    if "critical" in vignette:
        assert sum(c["indicator"] == "critical" for c in cards) == vignette["critical"]
    links = {link["url"] for c in cards for link in c.get("links", [])}
    assert set(vignette.get("links", ())) <= links
    codes = {coding["code"] for c in cards for s in c.get("suggestions", [])
             for a in s["actions"] if a["type"] == "create"
             for coding in a["resource"].get("code", {}).get("coding", [])}
    assert set(vignette.get("suggest", ())) <= codes, sorted(codes)
    for c in cards:
        assert len(c["summary"]) < 140 and c["source"]["label"].startswith("leukemia-cds")


ORDER_VIGNETTES = [v for v in VIGNETTES
                   if v.get("hook", "").startswith("order") and len(v.get("orders", ())) == 1]


def comparable(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cards without their per-call uuids."""
    out = []
    for c in cards:
        c = {k: v for k, v in c.items() if k != "uuid"}
        c["suggestions"] = [{k: v for k, v in s.items() if k != "uuid"}
                            for s in c.get("suggestions", [])]
        out.append(c)
    return out


@pytest.mark.parametrize("vignette", ORDER_VIGNETTES, ids=[v["id"] for v in ORDER_VIGNETTES])
def test_order_select_and_order_sign_agree(client, vignette: dict[str, Any]) -> None:
    select = call(client, request(vignette, "order-select"))
    sign = call(client, request(vignette, "order-sign"))
    assert comparable(select) == comparable(sign)


def test_there_are_enough_vignettes_across_every_family() -> None:
    assert len(VIGNETTES) >= 40
    expected = {i for v in VIGNETTES for i in v.get("expect", ())}
    prefixes = {i.split("-")[0] for i in expected}
    assert {"ALL", "CART", "CAU", "MON", "TRIAL", "AML", "TALL", "DX", "DQ", "ORDER",
            "POSTCART"} <= prefixes
