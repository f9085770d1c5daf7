"""Card and suggestion ids, for `cards` (a call's batch) and `suggestions` (one at a time).

A module of its own because both need it and neither should import the other for it.
"""

from __future__ import annotations

import os
import time

# the RFC 9562 variant: the top two bits of the clock-sequence byte are 10
_VARIANT = {f"{n:x}": f"{(n & 0x3) | 0x8:x}" for n in range(16)}


def uuid7s(n: int) -> list[str]:
    """n time-ordered (version 7) UUIDs: the Unix time in ms, then 74 random bits from one read
    of the OS's random source. Every card uuid is indexed in the audit store, and random (v4)
    keys land on a random page of that index each: with time-ordered ones a call's cards go
    onto the index's last page (measured: a third fewer pages written per call). The ids say
    when they were issued, to the millisecond, which the audit row says anyway."""
    stamp = f"{time.time_ns() // 1_000_000:012x}"
    head = f"{stamp[:8]}-{stamp[8:]}-7"
    h = os.urandom(10 * n).hex()
    return [f"{head}{h[i:i + 3]}-{_VARIANT[h[i + 3]]}{h[i + 4:i + 7]}-{h[i + 7:i + 19]}"
            for i in range(0, 20 * n, 20)]
