"""The catalogue is validated at start-up; a broken one stops the service with one clear line."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import pytest

from service.config import ConfigError, Settings
from service.decision import RULES, referenced_trials
from service.errors import StartupError
from service.paths import cards_dir
from service.render import load_catalogue
from service.render.catalogue import SUMMARY_MAX, CatalogueError

CATALOGUE = load_catalogue(cards_dir())

# Values a selector variable takes in the decision module; summaries must fit for each.
CHOICES = {
    "setting": ["rr", "mrd", "unknown", "vhr"], "hct": ["planned", "prior", "possible", True,
                                                        False],
    "mode": ["detected", "test"], "reason": ["lineage", "cd22", "cd33", "cd20"],
    "drug": ["brexucabtagene autoleucel", "blinatumomab", "CAR T", "gemtuzumab ozogamicin"],
    "lineage": ["ALL, lineage not stated", "T-ALL", "AML"],
    "status": ["second or later relapse", "third or later complete remission"],
    "blasts": [None, 49.5, 100.0], "percent": [None, 19.5], "age": [0, 99],
    "timing": ["after", "unknown"], "after": ["inotuzumab", "blinatumomab"],
}


def variants(sample: dict) -> list[dict]:
    keys = [k for k, v in sample.items() if isinstance(v, bool) or k in CHOICES]
    axes = [CHOICES.get(k, [True, False]) for k in keys]
    out = []
    for combo in itertools.islice(itertools.product(*axes), 256):
        v = dict(sample)
        v.update(zip(keys, combo, strict=True))
        out.append(v)
    return out or [dict(sample)]


def test_one_entry_per_rule_and_every_trial_described() -> None:
    assert set(CATALOGUE.entries) == set(RULES)
    assert referenced_trials() <= set(CATALOGUE.trials)


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_every_summary_variant_fits(rule_id: str) -> None:
    entry = CATALOGUE.entries[rule_id]
    for v in variants(dict(entry.sample)):
        try:
            text = " ".join(entry.summary.render(v).split())
        except Exception:  # a variant the rule never produces (e.g. percent None in a % summary)
            continue
        assert len(text) <= SUMMARY_MAX, (rule_id, v, text)


def broken(tmp_path: Path, file: str, old: str, new: str) -> Path:
    target = tmp_path / "cards"
    shutil.copytree(cards_dir(), target)
    path = target / file
    text = path.read_text("utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), "utf-8")
    return target


@pytest.mark.parametrize(("file", "old", "new", "message"), [
    ("b-all.toml", "[rules.ALL-PH-LIKE]", "[rules.ALL-PH-LIKE-GONE]", "no entry for rule"),
    ("b-all.toml", 'section = "Panel recommendations: ALL", quote = "Options',
     'section = "Panel recommendations: nowhere", quote = "Options', "not listed for"),
    ("b-all.toml", "{% if blin %}, blinatumomab{% endif %}", "{% if blin %}, blin{% endfor %}",
     "template"),
    ("b-all.toml", "title = \"Ph-like\"", "title = \"{{ undefined_thing }}\"", "sample"),
    ("workup.toml", 'code = "cd3-count"', 'code = "no-such-code"', "not in [codes]"),
    ("cautions.toml", 'seed = "004_507832a75c96a14a.txt", section = "Daratumumab"',
     'seed = "003_67e40c8c8fab1d5a.txt", section = "Conclusion"', "rule rests on"),
    ("trials.toml", "[trials.NCT04307576]", "[trials.NCT00000000]", "NCT04307576"),
    ("catalogue.toml", "[groups.trials]", "[groups.trial-prompts]", "group 'trials'"),
    ("workup.toml", "rank = 150", "rank = 140",
     "DX-BASELINE: rank 140 is used twice in group workup"),
    ("workup.toml", '[rules.DX-BASELINE]\ngroup = "workup"\nrank = 150',
     '[rules.DX-BASELINE]\ngroup = "workup"', "DX-BASELINE: missing 'rank'"),
    ("catalogue.toml", 'head = "Work-up these decisions need"',
     'head = "Work-up these decisions need"\norder = ["DX-BASELINE"]',
     "group workup: unknown key 'order'"),
    ("workup.toml", 'clause = "baseline work-up"', 'clause = "{{ this.nothing.here }}"',
     "group workup: summary does not render"),
    ("b-all.toml", 'evidence = """\nCD19 × CD3', 'evidence = """\n{{ blasts }} CD19 × CD3',
     "ALL-BLIN-RR: evidence is shown without a patient and cannot be a template"),
    ("b-all.toml", "Consider blinatumomab (CD19 × CD3 bispecific",
     "Consider blinatumomab.\n\n- CD19 × CD3 bispecific", "ALL-BLIN-RR: detail is one paragraph"),
    ("b-all.toml", "Consider blinatumomab (CD19 × CD3 bispecific",
     "Consider blinatumomab " + "at length " * 30 + "(CD19 × CD3 bispecific",
     "ALL-BLIN-RR: detail is 520 characters with its sample (limit 320)"),
    ("catalogue.toml", 'display = "Patient declined"', 'display = "Patient said no"',
     "override reason 'patient-declined' has two displays"),
])
def test_broken_catalogue_stops_with_one_line(tmp_path, file, old, new, message) -> None:
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(broken(tmp_path, file, old, new))
    text = str(caught.value)
    assert message in text and "\n" not in text and text.startswith("card catalogue:")
    assert isinstance(caught.value, StartupError)


def test_summary_over_the_limit_is_refused(tmp_path) -> None:
    long = "x" * 150
    cards = broken(tmp_path, "b-all.toml",
                   'summary = "Ph-like B-ALL: no frontline inotuzumab data; the A041501 signal '
                   'is hypothesis-generating only"', f'summary = "{long}"')
    with pytest.raises(CatalogueError, match="limit 139"):
        load_catalogue(cards)


def test_missing_directory_and_index(tmp_path) -> None:
    with pytest.raises(CatalogueError, match="not a directory"):
        load_catalogue(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CatalogueError, match=r"seed-sections\.toml is missing"):
        load_catalogue(tmp_path / "empty")


def test_an_unreadable_catalogue_file_stops_with_one_line(tmp_path) -> None:
    # a file the service cannot open (a directory here: root reads any file) is a start-up
    # error naming it, as for a malformed one, not a traceback
    cards = tmp_path / "cards"
    shutil.copytree(cards_dir(), cards)
    (cards / "b-all.toml").unlink()
    (cards / "b-all.toml").mkdir()
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(cards)
    text = str(caught.value)
    assert text.startswith("card catalogue: cannot read") and "b-all.toml" in text
    assert "\n" not in text


def test_create_app_refuses_a_broken_catalogue(make_app, tmp_path) -> None:
    cards = broken(tmp_path, "b-all.toml", "[rules.ALL-PH-LIKE]", "[rules.X]")
    with pytest.raises(StartupError, match="card catalogue"):
        make_app(cards_dir=str(cards))


def test_readiness_reports_the_catalogue(client) -> None:
    body = client.get("/readyz").get_json()
    assert "catalogue" in body["checks"]


def test_marker_threshold_setting() -> None:
    env = {"LEUKEMIA_CDS_MARKER_POSITIVE_PERCENT": "30"}
    assert Settings.from_env(env).policy.marker_positive_percent == 30.0
    assert Settings.from_env({}).policy.marker_positive_percent == 20.0
    with pytest.raises(ConfigError, match="MARKER_POSITIVE_PERCENT"):
        Settings.from_env({"LEUKEMIA_CDS_MARKER_POSITIVE_PERCENT": "0"})


def test_trial_status_follows_the_newest_seed_that_speaks_of_it() -> None:
    """S4: a status says which source describes it and when; where 003 (the newest) reports
    a result, the status says so instead of calling the trial current."""
    trials = load_catalogue(cards_dir()).trials
    aall1731 = trials["NCT03914625"].status
    assert "current" not in aall1731 and "003" in aall1731 and "96.0" in aall1731
    assert trials["NCT03628053"].status.startswith("ongoing phase 3 as 001 describes it")
    for nct, info in trials.items():
        if not any(key in info.status for key in ("(003)", "003 (", "(003,", "000-003")):
            assert "describes it" in info.status or "per 004" in info.status, nct
