"""Site policy is one object: every knob documented, read from its variable, passed down."""

from __future__ import annotations

import dataclasses

import pytest

from service.config import ConfigError, Settings
from service.policy import Policy


def test_every_field_of_policy_is_a_documented_knob() -> None:
    """tests/test_docs.py checks each knob's README row and default from the same table."""
    for field in dataclasses.fields(Policy):
        assert "knob" in field.metadata, f"{field.name} is not declared with knob(...)"
        assert field.metadata["knob"].doc


def test_settings_build_the_policy_from_its_variables() -> None:
    settings = Settings.from_env({"LEUKEMIA_CDS_MARKER_POSITIVE_PERCENT": "35"})
    assert settings.policy == Policy(marker_positive_percent=35.0)
    assert Settings.from_env({}).policy == Policy()


@pytest.mark.parametrize(("raw", "why"), [("0", "between 1 and 100"), ("lots", "a number"),
                                          ("101", "between 1 and 100")])
def test_a_bad_knob_is_one_line_naming_the_variable(raw: str, why: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"LEUKEMIA_CDS_MARKER_POSITIVE_PERCENT": raw})
    message = str(caught.value)
    assert message.startswith("LEUKEMIA_CDS_MARKER_POSITIVE_PERCENT=") and why in message
    assert "\n" not in message


def test_a_typo_in_a_knob_name_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown setting"):
        Settings.from_env({"LEUKEMIA_CDS_MARKER_POSITIVE_PERCNT": "30"})
