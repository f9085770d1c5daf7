"""The README documents the settings that exist, with their real defaults, and its curl session
works as written against `leukemia-cds serve`.

A hospital engineer configures the service from the README's table; a setting missing there is
one nobody can find, and a name there that the code does not know stops start-up ("unknown
setting"). Both directions are checked, in the README, `deploy/` and the Dockerfile.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from service.config import _TABLE, PREFIX, Settings
from service.policy import Policy
from tests.live import live_server

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
NAME = re.compile(r"\bLEUKEMIA_CDS_[A-Z0-9_]*[A-Z0-9]\b")
SETTINGS = {PREFIX + name for name in (*_TABLE, *Policy.knobs())}  # site policy: its knobs
TRY_IT = "<!-- tests/test_docs.py runs the next block against a live `leukemia-cds serve` -->"


def section(markdown: str, heading: str) -> str:
    """The text under `## heading` up to the next heading of the same level."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", markdown, re.S | re.M)
    assert match, f"README has no '## {heading}' section"
    return match.group(1)


def configuration_rows() -> dict[str, str]:
    """README configuration table: setting name -> its default cell."""
    rows: dict[str, str] = {}
    for line in section(README.read_text("utf-8"), "Configuration").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 3:
            for name in NAME.findall(cells[0]):
                assert name not in rows, f"{name} has two rows"
                rows[name] = cells[1]
    return rows


def documented_files() -> list[Path]:
    deploy = [*sorted((ROOT / "deploy").glob("*.yaml")), ROOT / "deploy" / "README.md"]
    return [README, ROOT / "Dockerfile", *deploy]


def test_every_setting_has_a_row_in_the_configuration_table() -> None:
    missing = SETTINGS - set(configuration_rows())
    assert not missing, f"settings without a README Configuration row: {sorted(missing)}"


@pytest.mark.parametrize("path", documented_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_setting_named_in_the_docs_exists(path: Path) -> None:
    unknown = set(NAME.findall(path.read_text("utf-8"))) - SETTINGS
    assert not unknown, f"{path.name} names settings the service does not have: {sorted(unknown)}"


def _shown(value: object) -> str | None:
    """How a default should appear in the README, or None when it has no literal form."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return value
    if isinstance(value, Path):
        return value.name
    return None


def test_documented_defaults_are_the_real_ones() -> None:
    rows = configuration_rows()
    defaults = Settings()
    knobs = {name: getattr(defaults.policy, attr) for name, (attr, _, _) in
             Policy.knobs().items()}
    values = {name: getattr(defaults, attr) for name, (attr, _parse) in _TABLE.items()}
    for name, value in {**values, **knobs}.items():
        expected = _shown(value)
        if expected is not None:
            cell = rows[PREFIX + name]
            assert re.search(rf"(?<![\w.]){re.escape(expected)}(?![\w])", cell), (
                f"{PREFIX}{name}: README default {cell!r}, code default {expected!r}")


def test_the_readme_is_for_users_and_links_every_page_it_moved_out() -> None:
    """Issue 22: the README had no contents and 110 lines of benchmark internals before the
    container section. Its outline is fixed here; the internals live beside what they describe,
    and every relative link in the three pages points at a file and heading that exist."""
    text = README.read_text("utf-8")
    outline = re.findall(r"^## (.+)$", text, re.M)
    assert outline == ["Two commands", "Trying it", "Connecting an EHR", "Configuration",
                       "Commands", "Operations", "For developers"]
    for heading in outline:
        anchor = "#" + re.sub(r"[^a-z0-9 -]", "", heading.lower()).replace(" ", "-")
        assert f"]({anchor})" in text.split("## Two commands")[0], f"contents lack {heading}"
    assert "## Measured performance" in (ROOT / "bench" / "README.md").read_text("utf-8")
    assert "## Container" in (ROOT / "deploy" / "README.md").read_text("utf-8")
    for page in (README, ROOT / "bench" / "README.md", ROOT / "deploy" / "README.md"):
        for target in re.findall(r"\]\(([^)#]+\.md|[^):#]+/)?(#[^)]+)?\)", page.read_text("utf-8")):
            path, anchor = target
            if path.startswith("http"):
                continue
            file = (page.parent / path).resolve() if path else page
            assert file.exists(), f"{page.name}: link to missing {path}"
            if anchor and file.suffix == ".md":
                headings = {"#" + re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
                            for h in re.findall(r"^#+ (.+)$", file.read_text("utf-8"), re.M)}
                assert anchor in headings, f"{page.name}: {path}{anchor} names no heading"


# ---- the curl session, run as written ---------------------------------------------------------


def try_it_block() -> str:
    text = README.read_text("utf-8")
    assert TRY_IT in text, "the README's curl session lost its marker"
    match = re.search(r"```sh\n(.*?)```", text[text.index(TRY_IT):], re.S)
    assert match
    return match.group(1)


def test_the_curl_session_targets_the_default_address() -> None:
    assert try_it_block().startswith("BASE=http://127.0.0.1:8080\n")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("curl") is None or shutil.which("bash") is None,
                    reason="needs curl and bash")
def test_the_readme_curl_session_works_against_leukemia_cds_serve(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    with live_server({"LEUKEMIA_CDS_DATA_DIR": str(tmp_path / "data")},
                     tmp_path / "server.log", workers=1) as server:
        script = try_it_block().replace("http://127.0.0.1:8080", server.base, 1)
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
                                     f"{os.environ.get('PATH', '')}"}
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=work, env=env,
                              capture_output=True, text=True, timeout=120)
    out = done.stdout
    assert done.returncode == 0, done.stderr + out
    assert '"services":[' in out, out
    assert '{"cards":[]}' in out, out
    assert re.search(r"^(critical|warning|info) \| \S", out, re.M), out
    assert '{"stored":1,"duplicates":0}' in out, out
    assert "\"resourceType\":\"OperationOutcome\"" not in out, out
