"""Settings are parsed once; a bad one stops start-up with one line naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from service.config import ConfigError, Settings


def test_defaults_are_production_safe():
    settings = Settings.from_env({})
    assert settings.fhir_budget_ms < 500, "well under the spec's 500 ms"
    assert settings.cors_origins == ()
    assert settings.fhir_http_hosts == ()


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"LEUKEMIA_CDS_FHIR_BUDGET_MS": "fast"}, "LEUKEMIA_CDS_FHIR_BUDGET_MS"),
        ({"LEUKEMIA_CDS_FHIR_BUDGET_MS": "0"}, "LEUKEMIA_CDS_FHIR_BUDGET_MS"),
        ({"LEUKEMIA_CDS_MAX_BODY_BYTES": "-5"}, "LEUKEMIA_CDS_MAX_BODY_BYTES"),
        ({"LEUKEMIA_CDS_CORS_ORIGINS": "*"}, "LEUKEMIA_CDS_CORS_ORIGINS"),
        ({"LEUKEMIA_CDS_CORS_ORIGINS": "ehr.example.org"}, "LEUKEMIA_CDS_CORS_ORIGINS"),
        ({"LEUKEMIA_CDS_FHIR_HTTP_HOSTS": "http://x.org"}, "LEUKEMIA_CDS_FHIR_HTTP_HOSTS"),
        ({"LEUKEMIA_CDS_LOG_LEVEL": "LOUD"}, "LEUKEMIA_CDS_LOG_LEVEL"),
        ({"LEUKEMIA_CDS_FHIR_BUGDET_MS": "100"}, "LEUKEMIA_CDS_FHIR_BUGDET_MS"),
        ({"LEUKEMIA_CDS_FHIR_BUDGET_MS": "100", "LEUKEMIA_CDS_FHIR_CONNECT_TIMEOUT_MS": "200"},
         "LEUKEMIA_CDS_FHIR_CONNECT_TIMEOUT_MS"),
    ],
)
def test_invalid_settings_name_the_variable(env, named):
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env)
    message = str(info.value)
    assert named in message and "\n" not in message


def test_lists_are_parsed_and_trimmed():
    settings = Settings.from_env({
        "LEUKEMIA_CDS_CORS_ORIGINS": "https://a.org, https://b.org:8443",
        "LEUKEMIA_CDS_FHIR_ALLOWED_HOSTS": "EHR.Hospital.org,*.lab.org",
    })
    assert settings.cors_origins == ("https://a.org", "https://b.org:8443")
    assert settings.fhir_allowed_hosts == ("ehr.hospital.org", "*.lab.org")


def test_serve_refuses_to_start_with_one_line_on_a_bad_setting():
    env = {**os.environ, "LEUKEMIA_CDS_FHIR_BUDGET_MS": "soon"}
    result = subprocess.run([sys.executable, "-m", "service", "serve", "--port", "1"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == ["leukemia-cds: LEUKEMIA_CDS_FHIR_BUDGET_MS='soon': must be a whole number"]
