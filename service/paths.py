"""Where the reviewable data folders live.

`cards/` and `fhir_profiles/` sit at the repository root so that clinicians and integrators review
them as data, not as Python package internals. A source checkout (or editable install) finds them
beside the package; an installed copy (the container) points at them with environment variables.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _dir(env: str, default: Path) -> Path:
    value = os.environ.get(env)
    return Path(value).resolve() if value else default


def cards_dir() -> Path:
    return _dir("LEUKEMIA_CDS_CARDS_DIR", REPO_ROOT / "cards")


def profiles_dir() -> Path:
    return _dir("LEUKEMIA_CDS_PROFILES_DIR", REPO_ROOT / "fhir_profiles")


def seeds_dir() -> Path:
    """The clinical seeds live outside the repository (../shared/seeds); optional at run time."""
    return _dir("LEUKEMIA_CDS_SEEDS_DIR", REPO_ROOT.parent / "shared" / "seeds")
