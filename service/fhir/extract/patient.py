"""Patient → birth date, age and the patient id.

Unlike the other readers this one runs after the pass over the chart, once every Patient
resource is known: several may disagree on the birth date, and with the hook's patientId only
the matching one counts. A partial birth date yields an age only when every date it allows
gives the same age.
"""

from __future__ import annotations

from datetime import date, timedelta

from service.facts import Fact, Provenance
from service.fhir.extract.collector import Collector
from service.fhir.extract.dates import PARTIAL_DATE
from service.fhir.extract.evidence import typed_fact


def age_facts(col: Collector) -> tuple[Fact[date] | None, Fact[int] | None, str | None]:
    patients = col.patients
    if col.patient_id is not None:
        matching = [p for p in patients if p[0].get("id") == col.patient_id]
        for p, ref in patients:
            if p.get("id") != col.patient_id:
                col.finding("wrong-patient", ref, f"not Patient/{col.patient_id}; not used")
        patients = matching
    if not patients:
        return None, None, col.patient_id
    births = {p.get("birthDate") for p, _ in patients}
    res, ref = patients[0]
    pid = col.patient_id or (res.get("id") if isinstance(res.get("id"), str) else None)
    if len(births) > 1:
        col.finding(
            "conflict",
            ref,
            "Patient resources disagree on birthDate: "
            + ", ".join(sorted(str(b) for b in births))
            + "; age unknown",
            "age",
        )
        return None, None, pid
    birth = res.get("birthDate")
    if birth is None:
        col.finding("missing-value", ref, "Patient has no birthDate; age unknown", "age")
        return None, None, pid
    m = PARTIAL_DATE.match(birth) if isinstance(birth, str) else None
    src = Provenance(resource=ref, raw=str(birth), recognised_by="standard-code")
    if not m:
        col.finding("unreadable-value", ref, f"birthDate {birth!r} is not a FHIR date", "age")
        return None, None, pid
    now = col.now.date()
    try:
        if m.group(3):
            born = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            age = now.year - born.year - ((now.month, now.day) < (born.month, born.day))
            if age < 0:
                col.finding(
                    "unreadable-value", ref, f"birthDate {birth} is after the request time", "age"
                )
                return None, None, pid
            return (
                typed_fact("birth_date", value=born, source=src),
                typed_fact("age_years", value=age, source=src),
                pid,
            )
        # partial date: the age is known only if both ends of the range agree
        year = int(m.group(1))
        first = date(year, int(m.group(2) or 1), 1)
        last_month = int(m.group(2) or 12)
        last = date(year + (last_month == 12), last_month % 12 + 1, 1) - timedelta(days=1)
    except ValueError:
        col.finding("unreadable-value", ref, f"birthDate {birth!r} is not a valid date", "age")
        return None, None, pid
    ages = {now.year - d.year - ((now.month, now.day) < (d.month, d.day)) for d in (first, last)}
    if len(ages) == 1 and min(ages) >= 0:
        return None, typed_fact("age_years", value=ages.pop(), source=src), pid
    col.finding(
        "unreadable-value",
        ref,
        f"birthDate {birth} is partial: age is {min(ages)} or {max(ages)}",
        "age",
    )
    return None, None, pid
