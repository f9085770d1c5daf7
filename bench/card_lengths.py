"""How long the cards are that an EHR panel has to show (issue 24's targets), measured.

    python bench/card_lengths.py            # every vignette and scenario (seeds 0, 1, 2)
    python bench/card_lengths.py --quick    # seed 0 only

A clinician at order entry reads the first lines of a card. This counts, over every vignette
(as sent) and every synthetic scenario on patient-view and on order-sign for each drug its
reviewer would try: each card's detail in characters and lines (median, 90th percentile,
longest) and each whole answer (`{"cards": [...]}` as JSON). Issue 24 asks for a detail median
of at most 600 characters, a longest of at most 1,500, and an answer of at most 5,000. A
report, not a test: the figures go in a closing note beside the targets.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.advice import Advisor, build_advisor  # noqa: E402
from service.config import Settings  # noqa: E402
from service.decision import decide  # noqa: E402
from service.fhir.extract import extract_draft_orders, extract_facts  # noqa: E402
from service.hooks.models import CdsResponse  # noqa: E402
from service.synth.generator import generate  # noqa: E402
from service.synth.hooks import draft_order  # noqa: E402
from service.synth.scenarios import SCENARIOS  # noqa: E402

PUBLIC_URL = "https://leukemia-cds.hospital.example"  # a typical length for a site's own host
TARGETS = {"detail_median": 600, "detail_longest": 1500, "answer_longest": 5000}


def _answer(advisor: Advisor, resources: list[dict[str, Any]], pid: str, hook: str,
            drafts: list[dict[str, Any]]) -> dict[str, Any]:
    facts = extract_facts(resources, now=datetime.now(UTC), terminology=advisor.terminology,
                          policy=advisor.policy, patient_id=pid)
    orders = extract_draft_orders(
        {"resourceType": "Bundle", "entry": [{"resource": d} for d in drafts]},
        terminology=advisor.terminology) if drafts else []
    recs = decide(facts, hook=hook, orders_in_focus=orders, policy=advisor.policy)
    return CdsResponse(cards=advisor.renderer.render(recs, patient_id=pid)).to_json()


def answers(advisor: Advisor, seeds: tuple[int, ...]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(case, response body) for every vignette and every scenario on each hook."""
    from tests.vignettes.build import VIGNETTES, request

    for v in VIGNETTES:
        body = request(v)
        resources = [r for value in body["prefetch"].values() if value
                     for r in ([e["resource"] for e in value.get("entry", [])]
                               if value.get("resourceType") == "Bundle" else [value])]
        drafts = [e["resource"] for e in
                  body["context"].get("draftOrders", {}).get("entry", [])]
        yield v["id"], _answer(advisor, resources, body["context"]["patientId"], body["hook"],
                               drafts)
    for seed in seeds:
        for sid, scenario in SCENARIOS.items():
            p = generate(sid, seed=seed)
            yield f"{sid}/{seed}", _answer(advisor, list(p.resources), p.patient_id,
                                           "patient-view", [])
            for drug in scenario.orders:
                yield f"{sid}/{seed}+{drug}", _answer(
                    advisor, list(p.resources), p.patient_id, "order-sign",
                    [draft_order(drug, p.patient_id)])


_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


def displayed(markdown: str) -> str:
    """The text a Markdown renderer shows: link targets and emphasis marks are not read."""
    return _LINK.sub(r"\1", markdown).replace("**", "").replace("_", "")


def measure(bodies: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures for a set of response bodies."""
    details = [c.get("detail", "") for b in bodies for c in b["cards"]]
    chars = sorted(len(d) for d in details)
    lines = sorted(len(d.splitlines()) for d in details)
    sizes = sorted(len(json.dumps(b, ensure_ascii=False)) for b in bodies)
    texts = sorted(sum(len(c.get("summary", "")) + len(c.get("detail", "")) for c in b["cards"])
                   for b in bodies)
    shown = sorted(sum(len(c.get("summary", "")) + len(displayed(c.get("detail", "")))
                       for c in b["cards"]) for b in bodies)

    def p90(values: list[int]) -> int:
        return values[min(len(values) - 1, int(0.9 * len(values)))] if values else 0

    return {
        "answers": len(bodies), "cards": len(details),
        "detail_median": statistics.median(chars) if chars else 0, "detail_p90": p90(chars),
        "detail_longest": chars[-1] if chars else 0,
        "lines_median": statistics.median(lines) if lines else 0,
        "lines_longest": lines[-1] if lines else 0,
        "answer_median": statistics.median(sizes) if sizes else 0,
        "answer_longest": sizes[-1] if sizes else 0,
        "text_median": statistics.median(texts) if texts else 0,
        "text_longest": texts[-1] if texts else 0,
        "shown_median": statistics.median(shown) if shown else 0,
        "shown_longest": shown[-1] if shown else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="seed 0 only")
    parser.add_argument("--out", type=Path, help="JSON result file")
    args = parser.parse_args()
    # as deployed: a public URL, so cards carry their links to the rule pages
    advisor = build_advisor(Settings(public_url=PUBLIC_URL))
    cases = dict(answers(advisor, (0,) if args.quick else (0, 1, 2)))
    figures = measure(list(cases.values()))
    longest = max(cases, key=lambda k: len(json.dumps(cases[k], ensure_ascii=False)))
    print(f"{figures['answers']} answers, {figures['cards']} cards")
    print(f"detail characters: median {figures['detail_median']:g}, 90th percentile "
          f"{figures['detail_p90']}, longest {figures['detail_longest']} "
          f"(targets: median <= {TARGETS['detail_median']}, longest <= "
          f"{TARGETS['detail_longest']})")
    print(f"detail lines: median {figures['lines_median']:g}, longest {figures['lines_longest']}")
    print(f"whole answer characters: median {figures['answer_median']:g}, longest "
          f"{figures['answer_longest']} ({longest}; target <= {TARGETS['answer_longest']})")
    print(f"whole answer text (summaries + details): median {figures['text_median']:g}, "
          f"longest {figures['text_longest']}")
    print(f"whole answer as displayed (link targets and emphasis marks not counted): median "
          f"{figures['shown_median']:g}, longest {figures['shown_longest']}")
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
