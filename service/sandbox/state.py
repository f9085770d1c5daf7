"""What the sandbox keeps per process tree: its signing key and its synthetic patients.

Under gunicorn every worker builds its own app, but all of them must accept tokens minted by any
of them: the signer and the patients are therefore created once per *process tree* — in the
master during `serve`'s dry run, before the workers are forked — and inherited by the workers.

A module of its own, below both the package (`install`) and the views, so that the views need
not import their own package's `__init__`, which imports them.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from service.hooks import auth
from service.synth import SyntheticPatient, generate_many

ISSUER = "urn:leukemia-cds:sandbox"
SEED = 20250115  # the sandbox always shows the same patients
CHART_SIZE = 60
EXTENSION = "leukemia_cds.sandbox"

_lock = threading.Lock()
_signer: auth.LocalSigner | None = None
_patients: dict[str, SyntheticPatient] | None = None


def signer() -> auth.LocalSigner:
    """The process tree's sandbox key (ES384), generated on first use."""
    global _signer
    with _lock:
        if _signer is None:
            _signer = auth.LocalSigner.generate(ISSUER, alg="ES384")
        return _signer


def patients() -> dict[str, SyntheticPatient]:
    """One patient per scenario, current as of the day the service started."""
    global _patients
    with _lock:
        if _patients is None:
            today = datetime.now(UTC).date()
            _patients = {p.patient_id: p
                         for p in generate_many(seed=SEED, size=CHART_SIZE, as_of=today)}
        return _patients
