"""``context.draftOrders`` → DraftOrders: the orders being signed, and the drugs they name.

Draft orders are not the patient's history: they are judged by what they would start, so none
of the rules of evidence apply (no status decides, nothing is validated). What they share with
the patient's history is how a drug is recognised, through ``resolve_medication``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from service.facts import DataQualityFinding, DraftOrder
from service.fhir.extract.identity import subject_problem
from service.fhir.extract.medications import DrugHit, resolve_medication
from service.fhir.extract.procedures import KINDS_PROCEDURE
from service.fhir.extract.raw import cc_raw, cc_text, codings, iter_resources, resource_ref
from service.fhir.terminology import Terminology


def extract_draft_orders(
    draft_orders: Any,
    *,
    terminology: Terminology,
    selections: Iterable[str] | None = None,
    patient_id: str | None = None,
    set_aside: list[DataQualityFinding] | None = None,
) -> list[DraftOrder]:
    """DraftOrders from ``context.draftOrders`` (a Bundle, possibly without ``type``).

    With ``selections`` ("MedicationRequest/id", as order-select sends them) only the selected
    orders are returned. Orders the contract does not recognise are returned with ``drug`` None
    so that a card can still say which order it could not judge. An order naming two contract
    drugs yields one DraftOrder per drug. With ``patient_id`` (the hook's context), an order
    whose subject is not provably that patient is not judged against this chart: it is left
    out and, when ``set_aside`` is given, reported there as a finding.
    """
    term = terminology
    if isinstance(draft_orders, dict):
        draft_orders = [draft_orders]
    elif not isinstance(draft_orders, list):
        return []
    items = list(iter_resources(draft_orders))
    medications: dict[str, Mapping[str, Any]] = {}
    for res, full_url in items:
        if isinstance(res, dict) and res.get("resourceType") == "Medication":
            if isinstance(res.get("id"), str):
                medications[f"Medication/{res['id']}"] = res
            if full_url:
                medications[full_url] = res
    wanted = (
        {s.strip() for s in selections if isinstance(s, str)} if selections is not None else None
    )
    orders: list[DraftOrder] = []
    patient_urls = {url: r["id"] for r, url in items
                    if url and isinstance(r, dict) and r.get("resourceType") == "Patient"
                    and isinstance(r.get("id"), str)}
    for index, (res, _full_url) in enumerate(items):
        if not isinstance(res, dict):
            continue
        rtype = res.get("resourceType")
        if rtype not in ("MedicationRequest", "ServiceRequest"):
            continue
        ref = resource_ref(res, index)
        if wanted is not None and ref not in wanted:
            continue
        why = subject_problem(res, patient_id, patient_urls) if patient_id is not None else None
        if why is not None:
            if set_aside is not None:
                set_aside.append(DataQualityFinding(
                    code=why[0], resource=ref, concept="draft-order",
                    message=f"draft order {why[1]}; set aside, not judged against this chart"))
            continue
        status = res.get("status") if isinstance(res.get("status"), str) else None
        if rtype == "MedicationRequest":
            hits, _problem = resolve_medication(term, res, medications)
            display = cc_text(res.get("medicationCodeableConcept")) or str(
                (res.get("medicationReference") or {}).get("display") or ""
            )
        else:
            code = res.get("code")
            display = cc_text(code)
            hits = [
                DrugHit(m.concept, m.recognised_by, cc_raw(code))
                for m in term.match_codings(codings(code), KINDS_PROCEDURE)
            ]
            if not hits:
                hits = [
                    DrugHit(c, "text-match", display)
                    for c in term.find_in_text(display, "procedure")
                    + term.find_in_text(display, "drug")
                ]
            extra = " ".join(cc_text(d) for d in res.get("orderDetail") or [])
            hits += [DrugHit(d, "text-match", extra) for d in term.find_in_text(extra, "drug")]
        drugs = {h.drug: h for h in hits if term.concept(h.drug).kind == "drug"}
        car_t_procedure = next((h for h in hits if h.drug == "car-t-infusion"), None)
        if drugs:
            for hit in drugs.values():
                orders.append(
                    DraftOrder(
                        drug=hit.drug,  # type: ignore[arg-type]
                        drug_class=term.concept(hit.drug).drug_class,  # type: ignore[arg-type]
                        resource=ref,
                        display=display or hit.raw,
                        recognised_by=hit.recognised_by,
                        status=status,
                    )
                )
        else:
            orders.append(
                DraftOrder(
                    drug=None,
                    drug_class="car-t" if car_t_procedure else None,
                    resource=ref,
                    display=display,
                    recognised_by=car_t_procedure.recognised_by if car_t_procedure else None,
                    status=status,
                )
            )
    return orders
