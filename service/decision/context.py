"""Derived, rule-ready readings of PatientFacts, computed once per call: the `Ctx` facade.

Rules read a patient only through Ctx, so each reading is computed once per call and every rule
sees the same one. What the readings mean lives beside it: the shared words in
`vocabulary`, order in time in `timing`, how a marker or MRD result reads in `readings`.

Rules import those names from the modules that define them; this module is only the facade.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Generic, TypeVar, overload

from service.decision.model import FactUsed
from service.decision.readings import (
    MarkerReading,
    MrdReading,
    percent_text,
    read_marker,
    read_mrd,
)
from service.decision.timing import Timing, day_text, follows_any, order_gap, timing
from service.decision.vocabulary import (
    DRUG_TEXT,
    FACT_LABEL,
    FRONTLINE,
    LINEAGE_TEXT,
    MARKER_LABEL,
    RR,
    STATUS_TEXT,
)
from service.facts import DraftOrder, Exposure, Fact, Marker, PatientFacts, ProcedureEvent
from service.policy import Policy
from service.trials.model import RegistrySnapshot

__all__ = ["Ctx", "focus_drug", "per_call"]

V = TypeVar("V")


class per_call(Generic[V]):
    """`functools.cached_property` without its lock: a reading computed once per call.

    On Python 3.11 the first read of a cached_property takes a lock, one per property shared
    by all instances (3.12 dropped it). A Ctx lives for one call on one thread, and first
    reads are much of what it does. The value goes into the instance's ``__dict__`` under the same
    name, so later reads never reach this descriptor.
    """

    def __init__(self, func: Callable[[Any], V]) -> None:
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> per_call[V]: ...

    @overload
    def __get__(self, instance: object, owner: type | None = None) -> V: ...

    def __get__(self, instance: object | None, owner: type | None = None) -> V | per_call[V]:
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.func(instance)
        return value


class Ctx:
    """Facts plus policy, with every derived reading cached for the duration of one call."""

    def __init__(self, facts: PatientFacts, policy: Policy,
                 registry: RegistrySnapshot | None = None) -> None:
        self.facts = facts
        self.policy = policy
        self.registry = registry  # the trial registry this call sees (None: none loaded)
        # tags of the rules that fired so far in this call (the engine's; see registry.fired)
        self.fired: set[str] = set()
        # each criterion's answer for this patient, asked once per call (the engine's)
        self.criteria: dict[Callable[[Ctx], bool], bool] = {}

    # --- simple facts --------------------------------------------------------------------

    @staticmethod
    def _fact(name: str, label: str, fact: Fact | None, text: str | None = None) -> FactUsed:
        if fact is None:
            return FactUsed(name, label, "not in record")
        value = fact.value
        shown = text or (("yes" if value else "no") if isinstance(value, bool) else str(value))
        return FactUsed(name, label, shown, fact.source.resource)

    @per_call
    def lineage(self) -> str | None:
        return self.facts.lineage.value if self.facts.lineage else None

    @per_call
    def f_lineage(self) -> FactUsed:
        lin = self.facts.lineage
        text = None
        if lin is not None:
            text = LINEAGE_TEXT[lin.value]
            if self.facts.lineage_inferred:
                text += " (inferred from B-cell markers)"
        return self._fact("lineage", FACT_LABEL["lineage"], lin, text)

    @property
    def is_b(self) -> bool:
        return self.lineage == "b-all"

    @property
    def is_t(self) -> bool:
        return self.lineage == "t-all"

    @property
    def is_aml(self) -> bool:
        return self.lineage == "aml"

    @property
    def is_all(self) -> bool:
        return self.lineage in {"b-all", "t-all", "all-unspecified"}

    @per_call
    def age(self) -> int | None:
        return self.facts.age_years.value if self.facts.age_years else None

    @per_call
    def f_age(self) -> FactUsed:
        a = self.facts.age_years
        return self._fact("age_years", FACT_LABEL["age_years"], a,
                          f"{a.value} years" if a else None)

    @per_call
    def status(self) -> str | None:
        return self.facts.disease_status.value if self.facts.disease_status else None

    @per_call
    def f_status(self) -> FactUsed:
        s = self.facts.disease_status
        text = None
        if s is not None:
            text = STATUS_TEXT[s.value] + (f", {day_text(s.effective)}" if s.effective else
                                           ", date not recorded")
            if s.resource.startswith("Condition/"):
                text += " (coded on the diagnosis)"  # ICD-10-CM 5th character, clinicalStatus
        return self._fact("disease_status", FACT_LABEL["disease_status"], s, text)

    @property
    def status_date(self) -> datetime | None:
        return self.facts.disease_status.effective if self.facts.disease_status else None

    @property
    def status_text(self) -> str:
        return STATUS_TEXT.get(self.status or "", "disease status not recorded")

    @property
    def rr(self) -> bool:
        return self.status in RR

    @property
    def frontline(self) -> bool:
        """Newly diagnosed, after induction or in CR1 and never relapsed as far as we know; or
        in a remission whose number is not recorded (a rule confirms it: gaps.status_number)."""
        return self.status in FRONTLINE or self.status == "remission"

    @property
    def cr1_or_early(self) -> bool:
        """After induction or in CR1, or in a remission whose number is not recorded."""
        return self.status in ("post-induction", "cr1", "remission")

    @per_call
    def blasts(self) -> float | None:
        return self.facts.bm_blasts_percent.value if self.facts.bm_blasts_percent else None

    @per_call
    def f_blasts(self) -> FactUsed:
        b = self.facts.bm_blasts_percent
        return self._fact("bm_blasts_percent", FACT_LABEL["bm_blasts_percent"], b,
                          percent_text(b.value) if b else None)

    def _value(self, name: str) -> object | None:
        fact = getattr(self.facts, name)
        return fact.value if fact is not None else None

    def f(self, name: str, label: str | None = None, text: str | None = None) -> FactUsed:
        """FactUsed for a simple Fact field of PatientFacts; the label defaults to FACT_LABEL's.

        An explicit label is still honoured as given; a name the table lacks, with no label,
        raises KeyError rather than show a card an unlabelled fact.
        """
        if label is None:
            label = FACT_LABEL[name]
        return self._fact(name, label, getattr(self.facts, name), text)

    @property
    def ph(self) -> str | None:
        return self._value("ph")  # type: ignore[return-value]

    @per_call
    def f_ph(self) -> FactUsed:
        return self.f("ph")

    @property
    def kmt2a(self) -> str | None:
        return self._value("kmt2a")  # type: ignore[return-value]

    @property
    def cns_disease(self) -> bool | None:
        """CNS2 or CNS3 recorded: True; CNS1: False; None when the CNS status is unknown."""
        cns = self._value("cns_status")
        return None if cns is None else cns in {"cns2", "cns3"}

    @property
    def extramedullary(self) -> bool | None:
        """Extramedullary disease outside the CNS (the contract's `extramedullary`, which it
        keeps apart from `cns-status`): None when not recorded."""
        em = self._value("extramedullary")
        return None if em is None else em == "present"

    @property
    def emd(self) -> bool | None:
        """Extramedullary or CNS disease: True if either is documented, None if neither is known.

        For the cards that speak to both (CNS or extramedullary relapse); the burden split
        (`high_burden`) reads `extramedullary` alone."""
        if self.extramedullary or self.cns_disease:
            return True
        if self.extramedullary is False and self.cns_disease is False:
            return False
        return None

    @per_call
    def f_emd(self) -> tuple[FactUsed, FactUsed]:
        return self.f("extramedullary"), self.f("cns_status")

    @property
    def high_burden(self) -> bool | None:
        """001 Table 3: >= 50 % marrow blasts and/or extramedullary disease (D14).

        Extramedullary means outside the CNS: the contract records CNS status apart, and
        SITC's inotuzumab-first advice is for a high disease burden, not CNS disease (review W4).
        True: >= 50 % blasts or extramedullary disease recorded. False: blasts under 50 % with
        no extramedullary disease documented and no CNS disease. None: the blast count is
        unknown, or blasts are under 50 % with CNS disease (isolated CNS relapse is neither
        high nor low marrow burden: the CNS card speaks to it).
        """
        if (self.blasts is not None and self.blasts >= 50) or self.extramedullary:
            return True
        if self.blasts is not None and not self.cns_disease:
            return False
        return None

    @property
    def hct_planned(self) -> bool | None:
        return self._value("hct_planned")  # type: ignore[return-value]

    @property
    def hct_eligible(self) -> bool | None:
        return self._value("hct_eligible")  # type: ignore[return-value]

    @property
    def prior_hct(self) -> bool:
        """A prior allo-HCT, or an HCT whose donor type the record does not state.

        The second is neither allo nor "no transplant": a rule that fires on it shows it with
        ``hct_type_gap`` (what to confirm), and its fact line says the type is not recorded."""
        return bool(self.facts.allo_hct) or bool(self.facts.hct_type_unknown)

    @property
    def hct_type_unknown(self) -> bool:
        """The only transplant on record is one of unstated donor type (allo or autologous)."""
        return not self.facts.allo_hct and bool(self.facts.hct_type_unknown)

    @per_call
    def hct_type_gap(self) -> tuple[str, ...]:
        """The "confirm first" line a rule built on a prior allo-HCT adds when the only HCT on
        record does not say allogeneic or autologous."""
        if not self.hct_type_unknown:
            return ()
        return ("whether the prior HCT was allogeneic or autologous (the record does not say)",)

    @per_call
    def _hct_events(self) -> tuple[ProcedureEvent, ...]:
        return self.facts.allo_hct or self.facts.hct_type_unknown

    @per_call
    def f_prior_hct(self) -> FactUsed:
        events = self._hct_events
        if not events:
            return FactUsed("allo_hct", FACT_LABEL["allo_hct"], "none recorded")
        last = events[-1]
        when = last.date.date().isoformat() if last.date else "date not recorded"
        if self.hct_type_unknown:
            when = f"HCT {when}, allogeneic or autologous not recorded"
        return FactUsed("allo_hct", FACT_LABEL["allo_hct"], when, last.source.resource)

    @property
    def prior_car_t(self) -> bool:
        return bool(self.facts.car_t)

    @per_call
    def f_car_t(self) -> FactUsed:
        events = self.facts.car_t
        if not events:
            return FactUsed("car_t", FACT_LABEL["car_t"], "none recorded")
        last = events[-1]
        when = last.date.date().isoformat() if last.date else "date not recorded"
        product = DRUG_TEXT.get(last.product or "", "product not stated")
        return FactUsed("car_t", FACT_LABEL["car_t"], f"{product}, {when}",
                        last.source.resource)

    @property
    def car_t_dates(self) -> tuple[datetime | None, ...]:
        return tuple(e.date for e in self.facts.car_t)

    @property
    def hct_dates(self) -> tuple[datetime | None, ...]:
        """Dates of the allo-HCTs (or, with none, of the HCTs of unstated donor type)."""
        return tuple(e.date for e in self._hct_events)

    def exposure_dates(self, *drugs: str) -> tuple[datetime | None, ...]:
        return tuple(e.date for e in self.facts.exposed_to(*drugs))  # type: ignore[arg-type]

    @per_call
    def status_vs_car_t(self) -> Timing | None:
        """Recorded status against the latest CAR T infusion (None: no CAR T on record)."""
        return timing(self.status_date, self.car_t_dates)

    @per_call
    def status_vs_hct(self) -> Timing | None:
        """Recorded status against the latest allo-HCT (None: no allo-HCT on record)."""
        return timing(self.status_date, self.hct_dates)

    # The "confirm first" line for an unknown order in time; rules call it as ctx.order_gap.
    order_gap = staticmethod(order_gap)

    def day_after_car_t(self, when: datetime | None) -> int | None:
        """Days from the latest CAR T infusion to ``when``, when both dates are known."""
        if timing(when, self.car_t_dates) != "after":
            return None
        latest = max(d.date() for d in self.car_t_dates if d is not None)
        return (when.date() - latest).days  # type: ignore[union-attr]

    def f_since_car_t(self, name: str, label: str | None = None) -> FactUsed:
        """A dated result (CRS / ICANS grade, ICE score) with where it falls against CAR T.

        The latest grade in the record may belong to an earlier course; its date and its day
        after the infusion say which, instead of letting it pass for the current course. The
        label defaults to FACT_LABEL's, as in `f`.
        """
        if label is None:
            label = FACT_LABEL[name]
        fact = getattr(self.facts, name)
        if fact is None:
            return self._fact(name, label, None)
        eff = fact.effective
        text = f"{fact.value}, " + (day_text(eff) if eff else "date not recorded")
        day = self.day_after_car_t(eff)
        if day is not None:
            text += f" (day {day} after the CAR T infusion)"
        elif self.facts.car_t and timing(eff, self.car_t_dates) == "before":
            text += " (before the latest CAR T infusion)"
        return FactUsed(name, label, text, fact.resource)

    def exposure(self, *drugs: str) -> Exposure | None:
        found = self.facts.exposed_to(*drugs)  # type: ignore[arg-type]
        return found[-1] if found else None

    def f_exposure(self, drug: str) -> FactUsed | None:
        e = self.exposure(drug)
        if e is None:
            return None
        when = e.date.date().isoformat() if e.date else "date not recorded"
        # a course still running (resource status active) is current therapy, not "prior"
        label = (f"{DRUG_TEXT[drug][:1].upper()}{DRUG_TEXT[drug][1:]} running, started"
                 if e.status == "active" else f"Prior {DRUG_TEXT[drug]}")
        return FactUsed(f"exposures.{drug}", label, when, e.source.resource)

    # --- markers ---------------------------------------------------------------------------

    def marker(self, name: Marker) -> MarkerReading:
        cache = self.__dict__.setdefault("_markers", {})
        if name not in cache:
            cache[name] = read_marker(name, self.facts.marker(name),
                                      self.policy.marker_positive_percent)
        return cache[name]

    @property
    def cd19(self) -> MarkerReading:
        return self.marker("cd19")

    @property
    def cd22(self) -> MarkerReading:
        return self.marker("cd22")

    @property
    def cd20(self) -> MarkerReading:
        return self.marker("cd20")

    @property
    def cd33(self) -> MarkerReading:
        return self.marker("cd33")

    def marker_date(self, name: Marker) -> datetime | None:
        m = self.facts.marker(name)
        return m.source.effective if m is not None else None

    def lost_after(self, name: Marker, *drugs: str, car_t: bool = False) -> bool:
        """The marker is negative on a result drawn after a course of ``drugs`` (or CAR T).

        "Loss after targeted therapy" needs the negative result to follow the therapy; with
        either date missing it is not asserted (the card then just says "negative").
        """
        if self.marker(name).expressed is not False:
            return False
        events = list(self.exposure_dates(*drugs)) + (list(self.car_t_dates) if car_t else [])
        return follows_any(self.marker_date(name), events)

    def missing_markers(self, *names: Marker) -> list[str]:
        return [MARKER_LABEL[n] for n in names if self.marker(n).status is None]

    # --- MRD -------------------------------------------------------------------------------

    @per_call
    def mrd(self) -> MrdReading:
        return read_mrd(self.facts.mrd)

    @per_call
    def mrd_persistent(self) -> bool:
        """Two or more consecutive positive results ending with the latest (002 'persistent')."""
        history = self.facts.mrd_history
        if len(history) < 2:
            return False
        last_two = [read_mrd(m).state for m in history[-2:]]
        return last_two == ["positive", "positive"]

    # --- exposure counts ---------------------------------------------------------------------

    def exposure_count(self, drug: str) -> tuple[int, datetime | None]:
        """How many entries of ``drug`` the record holds (orders, administrations, statements)
        and the latest date among them. A card says these ("inotuzumab 3 times on record")
        so the clinician need not count them (O4); entries are not cycles, and the card
        does not call them so."""
        found = self.facts.exposed_to(drug)  # type: ignore[arg-type]
        dates = [e.date for e in found if e.date is not None]
        return len(found), max(dates) if dates else None

    # --- toxicity in progress ------------------------------------------------------------------

    @per_call
    def blin_course(self) -> Exposure | None:
        """The blinatumomab course still running: the latest blinatumomab exposure whose
        resource status is ``active`` (an infusion in progress, not a prior course)."""
        e = self.exposure("blinatumomab")
        return e if e is not None and e.status == "active" else None

    @per_call
    def f_blin_course(self) -> FactUsed | None:
        """The running blinatumomab course as a fact ("running, started ...", not "prior")."""
        return self.f_exposure("blinatumomab") if self.blin_course is not None else None

    @per_call
    def status_vs_blin_course(self) -> Timing | None:
        """Recorded status against the start of a blinatumomab course still running (None: no
        course running)."""
        course = self.blin_course
        return None if course is None else timing(self.status_date, (course.date,))

    @per_call
    def _effector_starts(self) -> tuple[tuple[date, str], ...]:
        """Dated starts of immune-effector therapy (CAR T infusions, blinatumomab courses),
        oldest first, each with what it was ("car-t" / "blinatumomab")."""
        starts = [(d.date(), "car-t") for d in self.car_t_dates if d is not None]
        starts += [(d.date(), "blinatumomab") for d in self.exposure_dates("blinatumomab")
                   if d is not None]
        return tuple(sorted(starts))

    def current_grade(self, name: str) -> int | None:
        """A CRS / ICANS grade (``crs_grade`` / ``icans_grade``) that still describes the
        patient, else None.

        Current means dated within the site's window before the request
        (``policy.toxicity_current_days``) and not before the latest dated CAR T infusion or
        blinatumomab course start: a grade from before it belongs to an earlier course and must
        not pass for this one. A grade recorded on the infusion day counts (grading follows the
        infusion). An undated grade, or a request without a time, is not read as current."""
        fact = getattr(self.facts, name)
        as_of = self.facts.as_of
        if fact is None or fact.effective is None or as_of is None:
            return None
        day = fact.effective.date()
        age = (as_of.date() - day).days
        if age > self.policy.toxicity_current_days or age < -1:
            return None
        starts = self._effector_starts
        if starts and starts[-1][0] > day:
            return None
        return int(fact.value)

    def toxicity_after(self, name: str) -> str | None:
        """What the current grade follows: "car-t", "blinatumomab" (the latest dated therapy
        on or before it) or None (no dated immune-effector therapy on record before it)."""
        fact = getattr(self.facts, name)
        if self.current_grade(name) is None or fact is None or fact.effective is None:
            return None
        day = fact.effective.date()
        before = [kind for start, kind in self._effector_starts if start <= day]
        return before[-1] if before else None

    def f_toxicity(self, name: str) -> FactUsed:
        """A CRS / ICANS grade or ICE score with its date and its day after the latest CAR T
        infusion or blinatumomab course start (day 0 = the start), as the card shows it."""
        fact = getattr(self.facts, name)
        if fact is None:
            return self._fact(name, FACT_LABEL[name], None)
        eff = fact.effective
        text = f"{fact.value}, " + (day_text(eff) if eff else "date not recorded")
        if eff is not None:
            before = [(start, kind) for start, kind in self._effector_starts
                      if start <= eff.date()]
            if before:
                start, kind = before[-1]
                what = "the CAR T infusion" if kind == "car-t" else "blinatumomab start"
                text += f" (day {(eff.date() - start).days} after {what})"
            elif self._effector_starts:
                text += " (before the latest CAR T infusion or blinatumomab course)"
        return FactUsed(name, FACT_LABEL[name], text, fact.resource)


def focus_drug(order: DraftOrder) -> str | None:
    """The drug an order hook speaks to: a known drug id, or "car-t" for an unnamed CAR T."""
    if order.drug is not None:
        return order.drug
    return "car-t" if order.is_car_t else None
