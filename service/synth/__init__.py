"""Synthetic acute-leukemia patients as FHIR R4, for tests, benchmarks and the sandbox page.

Pure code, no I/O except in ``command`` (the ``leukemia-cds synth`` CLI):

- ``scenarios.SCENARIOS``: the named vignettes and the rule families each is meant to reach;
- ``generator.generate`` / ``generate_many``: scenario + index + seed → ``SyntheticPatient``
  (``.bundle("collection" | "transaction")``), byte-for-byte repeatable;
- ``hooks.hook_request`` / ``draft_order``: a chart → the CDS Hooks request an EHR would send.
"""

from service.synth.generator import SyntheticPatient, generate, generate_many
from service.synth.hooks import draft_order, hook_request, prefetch_for
from service.synth.scenarios import FAMILIES, SCENARIOS, Scenario

__all__ = ["FAMILIES", "SCENARIOS", "Scenario", "SyntheticPatient", "draft_order", "generate",
           "generate_many", "hook_request", "prefetch_for"]
