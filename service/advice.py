"""The one seam between the protocol layer and the clinical layers.

`hooks/` resolves a request (context validated, every prefetch key turned into resources) and
hands it here; this module returns the cards. Nothing below this line knows about HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from service.hooks.models import Card


@dataclass(frozen=True)
class HookCall:
    """A fully resolved hook invocation: what the clinical layers may read."""

    service_id: str
    hook: str
    hook_instance: str
    context: Any  # PatientViewContext | OrderSelectContext | OrderSignContext
    resources: list[dict[str, Any]]
    now: datetime


def advise(call: HookCall) -> list[Card]:
    """Cards for this call. No decision module is wired in yet, so there is no guidance."""
    return []
