"""`leukemia-cds facts FILE`: integrators see every fact with its source and every finding."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from service import paths
from service.fhir.report import EXIT_OK, EXIT_UNREADABLE, facts_command
from service.policy import Policy

FIXTURES = Path(__file__).parent / "fixtures" / "fhir"
NOW = datetime(2025, 3, 1, tzinfo=UTC)


def run(path: Path) -> tuple[int, str]:
    out = io.StringIO()
    code = facts_command(str(path), out, now=NOW, profiles_dir=paths.profiles_dir(),
                         policy=Policy())
    return code, out.getvalue()


def test_bundle_report_lists_facts_with_sources_and_findings() -> None:
    code, text = run(FIXTURES / "bundle-relapsed-b-all.json")
    assert code == EXIT_OK
    lines = text.splitlines()
    assert "  age_years = 23  <- Patient/p1 (standard-code; raw '2001-04-20')" in lines
    assert any(
        line.startswith("  lineage = b-all  <- Observation/cd19 (inferred") for line in lines
    )
    assert any(
        line.startswith("  markers.cd22.call = positive  <- Observation/cd22 (standard-code")
        for line in lines
    )
    assert any("exposures[0] = blinatumomab (immunotherapy) 2023-05-01" in line for line in lines)
    assert any(line.startswith("  allo_hct[0] = 2023-09-14  <- Procedure/hct") for line in lines)
    # the newest MRD cannot be read: reported, and the older negative is not shown as current
    assert not any(line.startswith("  mrd =") for line in lines)
    assert "  [unreadable-mrd] Observation/mrd-bad:" in text
    assert "  [ignored-status] Observation/cns-prelim:" in text
    # not a contract concept: read no further, but accounted for, and on the worklist
    aside = text.split("\nSet aside (")[1]
    assert "  Observation/hb [" in aside and "out of scope" in aside
    assert "Observation/hb" not in text.split("\nEvery resource (")[0]


def test_hook_request_report_includes_selected_draft_orders() -> None:
    code, text = run(FIXTURES / "request-order-select.json")
    assert code == EXIT_OK
    assert "CDS Hooks request, hook order-select" in text
    assert "patient: p1" in text
    assert "Draft orders (1):" in text
    assert "  MedicationRequest/draft-ino: inotuzumab, standard-code" in text
    assert "draft-other" not in text  # not selected
    assert "  disease_status = first-relapse" in text


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        json.dumps({"resourceType": "Patient", "id": "p1"}),
        json.dumps([1, 2]),
        json.dumps({"resourceType": "Bundle", "entry": "nope"}),
    ],
)
def test_unreadable_input_exits_non_zero(tmp_path: Path, content: str) -> None:
    path = tmp_path / "input.json"
    path.write_text(content)
    code, text = run(path)
    assert code == EXIT_UNREADABLE
    assert text.startswith("leukemia-cds: ") and text.count("\n") == 1  # one line (issue 22)


def test_missing_file_exits_non_zero(tmp_path: Path) -> None:
    assert run(tmp_path / "absent.json")[0] == EXIT_UNREADABLE


def test_empty_bundle_is_readable_and_says_nothing_was_recognised(tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_text(json.dumps({"resourceType": "Bundle", "type": "collection"}))
    code, text = run(path)
    assert code == EXIT_OK
    assert "(none recognised)" in text and "Data-quality findings (0):" in text
