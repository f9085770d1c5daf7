"""Where the reviewable data folders live by default: beside the package, in a source checkout.

`cards/` and `fhir_profiles/` sit at the repository root so that clinicians and integrators review
them as data, not as Python package internals. An installed copy (the container) points elsewhere
with `LEUKEMIA_CDS_CARDS_DIR` / `LEUKEMIA_CDS_PROFILES_DIR`; those are read, like every setting,
only by `service.config.Settings`, whose defaults come from here.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def cards_dir() -> Path:
    return REPO_ROOT / "cards"


def profiles_dir() -> Path:
    return REPO_ROOT / "fhir_profiles"


def seeds_dir() -> Path:
    """The clinical seeds live outside the repository (../shared/seeds); only tests read them."""
    return REPO_ROOT.parent / "shared" / "seeds"
