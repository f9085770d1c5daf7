"""Where every resource of a record went: the integrator's mapping worklist.

A record the service reads "a third of" must not look complete. So each resource in the input
is put in exactly one list, from what extraction itself did (nothing is re-judged here):

- **used**: a fact rests on it (named);
- **superseded**: read and in scope, but another result was used (an older MRD, a repeat);
- **reported**: a data-quality finding names it (unreadable, conflicting, unresolved drug...);
- **set aside**, with the reason: not this patient's, entered-in-error, a status that is not
  used, or out of scope (a code the service does not read: vitals, routine labs, or a leukemia
  code a site still has to map).

`leukemia-cds facts` prints the lists (and `--json` gives them as data); the codes set aside as
out of scope, counted, are the worklist a site reads to fill its ConceptMap.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from service.facts import PatientFacts
from service.fhir.extract.raw import codings, iter_resources, resource_ref

# findings that say why a resource was not used at all, rather than what is wrong with it
_SET_ASIDE = {
    "wrong-patient": "not this patient's",
    "unresolved-subject": "subject not provably this patient",
    "entered-in-error": "entered-in-error",
    "ignored-status": "status not used",
}


@dataclass(frozen=True, slots=True)
class Accounted:
    resource: str  # "Type/id" (or "Type/(no id, item n)")
    codes: str  # its first codings, as a reader would recognise them
    why: str  # the facts it gave, the finding, or the reason it was set aside


@dataclass(frozen=True, slots=True)
class Accounting:
    used: tuple[Accounted, ...]
    superseded: tuple[Accounted, ...]
    reported: tuple[Accounted, ...]
    set_aside: tuple[Accounted, ...]
    worklist: tuple[tuple[str, int], ...]  # out-of-scope codes, most frequent first

    @property
    def total(self) -> int:
        return len(self.used) + len(self.superseded) + len(self.reported) + len(self.set_aside)

    def to_json(self) -> dict[str, Any]:
        def rows(items: tuple[Accounted, ...]) -> list[dict[str, str]]:
            return [{"resource": a.resource, "codes": a.codes, "why": a.why} for a in items]
        return {"used": rows(self.used), "superseded": rows(self.superseded),
                "reported": rows(self.reported), "set_aside": rows(self.set_aside),
                "worklist": [{"codes": c, "count": n} for c, n in self.worklist]}


def _codes(res: Mapping[str, Any]) -> str:
    """The codes a reader looks at: code (Observation, Condition, Procedure) or medication."""
    cc = res.get("code") or res.get("medicationCodeableConcept") or res.get("medicationReference")
    if not isinstance(cc, dict):
        return "(no code)"
    out = [f"{c.get('system') or '(no system)'} {c.get('code')}"
           + (f" {c['display']!r}" if isinstance(c.get("display"), str) else "")
           for c in codings(cc)[:2]]
    if not out:
        text = cc.get("text") or cc.get("display") or cc.get("reference")
        out.append(f"text {text!r}" if isinstance(text, str) else "(no code)")
    return "; ".join(out)


def account(resources: Iterable[Any], facts: PatientFacts) -> Accounting:
    """Each resource of ``resources`` (as given to ``extract_facts``) in one list."""
    used: dict[str, list[str]] = {}
    for name, _value, src in facts.iter_facts():
        used.setdefault(src.resource, []).append(name)
    for name in type(facts).model_fields:  # resources an inferred fact also rests on
        fact = getattr(facts, name)
        for src in getattr(fact, "supporting", ()) or ():
            used.setdefault(src.resource, []).append(f"{name} (supporting)")
    findings: dict[str, list[str]] = {}
    for f in facts.findings:
        findings.setdefault(f.resource or "-", []).append(f.code)
    considered = set(facts.considered)
    lists: dict[str, list[Accounted]] = {"used": [], "superseded": [], "reported": [],
                                         "set_aside": []}
    worklist: Counter[str] = Counter()
    items = [res for res, _url in iter_resources(resources)]
    # Medication/<id> -> the resources that name their drug by it
    naming: dict[str, list[str]] = {}
    for index, res in enumerate(items):
        target = res.get("medicationReference") if isinstance(res, dict) else None
        if isinstance(target, dict) and isinstance(target.get("reference"), str):
            naming.setdefault(target["reference"], []).append(resource_ref(res, index))
    for index, res in enumerate(items):
        if not isinstance(res, dict) or not isinstance(res.get("resourceType"), str):
            continue  # reported by extraction as "(item n)": listed with the findings
        ref = resource_ref(res, index)
        codes = _codes(res)
        found = findings.get(ref, [])
        aside = [c for c in found if c in _SET_ASIDE]
        if ref in used:
            lists["used"].append(Accounted(ref, codes, ", ".join(dict.fromkeys(used[ref]))))
        elif aside:
            lists["set_aside"].append(Accounted(ref, codes, _SET_ASIDE[aside[0]]))
        elif found:
            lists["reported"].append(Accounted(ref, codes, ", ".join(dict.fromkeys(found))))
        elif ref in considered:
            lists["superseded"].append(Accounted(ref, codes, "read; another result was used"))
        elif res["resourceType"] == "Medication":
            by = [r for r in naming.get(ref, ()) if r in used]
            if by:
                lists["used"].append(Accounted(ref, codes, "the drug of " + ", ".join(by)))
            else:
                lists["set_aside"].append(Accounted(ref, codes, "names no drug a used resource "
                                                                "takes"))
        else:
            lists["set_aside"].append(Accounted(ref, codes, "out of scope: a code the service "
                                                            "does not read"))
            worklist[f"{res['resourceType']} {codes}"] += 1
    for ref, codes_found in findings.items():  # items that are not resources at all
        if ref.startswith("(item "):
            lists["reported"].append(Accounted(ref, "-", ", ".join(codes_found)))
    return Accounting(
        used=tuple(lists["used"]), superseded=tuple(lists["superseded"]),
        reported=tuple(lists["reported"]), set_aside=tuple(lists["set_aside"]),
        worklist=tuple(sorted(worklist.items(), key=lambda kv: (-kv[1], kv[0]))))
