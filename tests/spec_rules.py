"""Checks of CDS Hooks 2.0's JSON rules, shared by protocol tests."""

from __future__ import annotations

from typing import Any


def spec_violations(value: Any, path: str = "$", *, top: bool = True) -> list[str]:
    """Where `value` breaks 2.0's rule that JSON elements are never null or empty.

    The one exception is the top-level `cards` array, which is empty when there is no guidance.
    """
    problems: list[str] = []
    if value is None:
        problems.append(f"{path} is null")
    elif isinstance(value, str) and value == "":
        problems.append(f"{path} is an empty string")
    elif isinstance(value, list):
        if not value and path != "$.cards":
            problems.append(f"{path} is an empty array")
        for i, item in enumerate(value):
            problems += spec_violations(item, f"{path}[{i}]", top=False)
    elif isinstance(value, dict):
        if not value:
            problems.append(f"{path} is an empty object")
        for key, item in value.items():
            problems += spec_violations(item, f"{path}.{key}", top=False)
    return problems


def assert_operation_outcome(body: dict[str, Any], status: int) -> str:
    """A non-2xx body must be an OperationOutcome with a readable diagnostic; returns it."""
    from fhir.resources.R4B.operationoutcome import OperationOutcome

    assert body["resourceType"] == "OperationOutcome", body
    OperationOutcome.model_validate(body)
    diagnostics = body["issue"][0]["diagnostics"]
    assert isinstance(diagnostics, str) and len(diagnostics) > 10
    assert "Traceback" not in str(body) and "<html" not in str(body).lower()
    assert not spec_violations(body)
    return diagnostics
