"""Scale-out: two service processes sharing one PostgreSQL behave as one service.

They answer alternately with identical cards, a JWT used against one is refused by the other
(the replay cache lives in the database), both write audit rows, and feedback on a card issued by
one replica is accepted by the other.
"""

from __future__ import annotations

import copy

import pytest
import requests
from sqlalchemy import create_engine, text

from service.synth.generator import generate
from service.synth.hooks import prefetch_for
from tests.conftest import TEST_EHR, hook_body, write_clients
from tests.live import live_server

pytestmark = pytest.mark.slow

PUBLIC = "https://cds.hospital.test"  # the load balancer's URL: what tokens are issued for
PATH = "/cds-services/leukemia-immunotherapy"


def without_uuids(cards: list[dict]) -> list[dict]:
    """Cards as a clinician sees them: uuids are per response by design."""
    cleaned = copy.deepcopy(cards)
    for card in cleaned:
        card.pop("uuid", None)
        for suggestion in card.get("suggestions", []):
            suggestion.pop("uuid", None)
    return cleaned


def chart(scenario: str) -> dict:
    resources = [e["resource"] for e in generate(scenario, seed=11).bundle()["entry"]]
    pid = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    return hook_body(context={"userId": "Practitioner/1", "patientId": pid},
                     prefetch=prefetch_for(resources))


@pytest.fixture
def two_replicas(pg_url, tmp_path):
    clients = write_clients(tmp_path / "clients.json", TEST_EHR)
    env = {
        "LEUKEMIA_CDS_DATABASE_URL": pg_url,
        "LEUKEMIA_CDS_PSEUDONYM_KEY": "ab" * 32,
        "LEUKEMIA_CDS_CLIENTS": str(clients),
        "LEUKEMIA_CDS_PUBLIC_URL": PUBLIC,
        "LEUKEMIA_CDS_SANDBOX": "off",
    }
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with live_server({**env, "LEUKEMIA_CDS_DATA_DIR": str(tmp_path / "a")},
                     tmp_path / "a.log", workers=1) as a, \
            live_server({**env, "LEUKEMIA_CDS_DATA_DIR": str(tmp_path / "b")},
                        tmp_path / "b.log", workers=1) as b:
        yield a.base, b.base, pg_url


def call(base: str, body: dict, token: str | None = None) -> requests.Response:
    token = token or TEST_EHR.token(PUBLIC + PATH)
    return requests.post(base + PATH, json=body, headers={"Authorization": f"Bearer {token}"},
                         timeout=15)


def test_two_replicas_share_one_database(two_replicas):
    a, b, database = two_replicas
    request_ids = {a: [], b: []}
    for scenario in ("b-all-first-relapse-high-burden", "aml-cd33-unfit", "t-all-relapsed-cd38"):
        body = chart(scenario)
        answers = []
        for base in (a, b, a, b):
            response = call(base, body)
            assert response.status_code == 200, response.text
            request_ids[base].append(response.headers["X-Request-ID"])
            answers.append(without_uuids(response.json()["cards"]))
        assert answers[0], f"{scenario}: expected cards"
        assert all(answer == answers[0] for answer in answers), f"{scenario}: replicas differ"

    # A token is good once, whichever replica sees it first.
    token = TEST_EHR.token(PUBLIC + PATH)
    assert call(a, hook_body(), token).status_code == 200
    replay = call(b, hook_body(), token)
    assert replay.status_code == 401
    assert replay.json()["resourceType"] == "OperationOutcome"

    # Feedback on a card issued by A is accepted by B: the card registry is shared.
    cards = call(a, chart("b-all-first-relapse-high-burden")).json()["cards"]
    feedback_url = f"{b}{PATH}/feedback"
    feedback = {"feedback": [{"card": cards[0]["uuid"], "outcome": "overridden",
                              "outcomeTimestamp": "2026-11-23T10:00:00Z"}]}
    accepted = requests.post(feedback_url, json=feedback, timeout=15, headers={
        "Authorization": f"Bearer {TEST_EHR.token(PUBLIC + PATH + '/feedback')}"})
    assert accepted.status_code == 200, accepted.text

    engine = create_engine(database)
    with engine.connect() as connection:
        stored = {row[0] for row in connection.execute(
            text("select request_id from lcds_hook_call"))}
    engine.dispose()
    assert set(request_ids[a]) <= stored, "replica A's calls are audited"
    assert set(request_ids[b]) <= stored, "replica B's calls are audited"
