"""Pseudonymous patient keys: a keyed HMAC of the patient id.

The audit trail must let a clinical lead see that two calls concern the same patient without the
store holding the patient's identifier; a plain hash of an MRN is reversible by enumeration, a
keyed one is not without the key. The key comes from `LEUKEMIA_CDS_PSEUDONYM_KEY`, or is generated
once and kept in the data directory (readable by the service user only).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
from pathlib import Path

KEY_FILE = "pseudonym.key"


class Pseudonymizer:
    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("pseudonym key must be at least 32 bytes")
        self._key = key

    def __repr__(self) -> str:
        return "Pseudonymizer(<key hidden>)"

    def patient_key(self, patient_id: str) -> str:
        return hmac.new(self._key, patient_id.encode("utf-8"), hashlib.sha256).hexdigest()


def load_or_create_key(data_dir: Path) -> bytes:
    """The key kept in `data_dir`, created atomically on first use.

    Several workers start at once: the key is written to a private temporary file and linked into
    place, so every process reads the same complete key and none ever sees a half-written one.
    """
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = data_dir / f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
            with contextlib.suppress(FileExistsError):  # another worker won: use its key
                os.link(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    key = path.read_text().strip().encode("ascii")
    if len(key) < 32:
        raise ValueError(f"{path} does not hold a usable key; remove it to generate a new one")
    return key
