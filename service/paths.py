"""Where the reviewable data folders live by default.

`cards/` and `fhir_profiles/` sit at the repository root so that clinicians and integrators review
them as data, not as Python package internals. A source checkout (and an editable install) reads
them there; a wheel carries copies as `service/_data/` (setup.py), so `pip install` + `serve` works
anywhere with no path settings. A site may still point elsewhere with `LEUKEMIA_CDS_CARDS_DIR` /
`LEUKEMIA_CDS_PROFILES_DIR`; those are read, like every setting, only by
`service.config.Settings`, whose defaults come from here.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE.parent


def _data(name: str) -> Path:
    checkout = REPO_ROOT / name
    return checkout if checkout.is_dir() else PACKAGE / "_data" / name


def cards_dir() -> Path:
    return _data("cards")


def profiles_dir() -> Path:
    return _data("fhir_profiles")


def seeds_dir() -> Path:
    """The clinical seeds live outside the repository (../shared/seeds); only tests read them."""
    return REPO_ROOT.parent / "shared" / "seeds"
