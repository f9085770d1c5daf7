"""Issue 22 (a hospital engineer's first hour): the command line's own errors, one line each.

Each case runs the installed command as an integrator would, and checks the exit status, that
the message is one `leukemia-cds …` line (argparse's usage line aside), and that no traceback
or false "listening on" is printed.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live import free_port, server_command

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str, tmp_path: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEUKEMIA_CDS_")}
    env["LEUKEMIA_CDS_DATA_DIR"] = str(tmp_path / "data")
    return subprocess.run([*server_command(), *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=tmp_path)


def test_the_license_is_an_spdx_expression_setuptools_still_builds() -> None:
    """The table form `{ text = ... }` is refused by setuptools from 2027-02-18."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    assert project["project"]["license"] == "Apache-2.0"
    assert "setuptools>=77" in project["build-system"]["requires"]


@pytest.mark.parametrize(("args", "says"), [
    (("audit", "--days", "0"), "--days: 0 is not 1 or more"),
    (("audit", "--days", "-1"), "--days: -1 is not 1 or more"),
    (("audit", "--limit", "-3"), "--limit: -3 is not 1 or more"),
    (("serve", "--port", "99999"), "--port: 99999 is not a TCP port (1-65535)"),
    (("serve", "--workers", "0"), "--workers: 0 is not 1 or more"),
    (("serve", "--workers", "-1"), "--workers: -1 is not 1 or more"),
])
def test_out_of_range_arguments_are_refused(tmp_path, args, says) -> None:
    done = _run(*args, tmp_path=tmp_path)
    assert done.returncode == 2
    assert says in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "data").exists()


@pytest.mark.slow
def test_a_port_in_use_or_a_foreign_host_is_one_line_and_nothing_is_created(tmp_path) -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        done = _run("serve", "--port", str(port), tmp_path=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (f"leukemia-cds: cannot listen on 127.0.0.1:{port} "
                                   "(Address already in use)")
    assert "listening on" not in done.stdout + done.stderr
    assert not (tmp_path / "data").exists()  # a failed serve leaves no empty database behind
    done = _run("serve", "--host", "256.1.1.1", "--port", str(free_port()), tmp_path=tmp_path)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("leukemia-cds: --host '256.1.1.1'")


def test_output_cut_short_by_the_reader_is_not_a_traceback(tmp_path) -> None:
    """`leukemia-cds rules | head -1`: the reader leaves early; the command ends quietly."""
    command = " ".join([*server_command(), "rules"]) + " | head -1"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEUKEMIA_CDS_")}
    done = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True,
                          text=True, timeout=60, env=env, cwd=tmp_path)
    assert done.stdout.startswith("# leukemia-cds rule book")
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert done.returncode == 0


def test_facts_errors_use_the_command_prefix(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEUKEMIA_CDS_")}
    env["LEUKEMIA_CDS_WORKERS"] = "zero"
    done = subprocess.run([*server_command(), "facts", "x.json"], capture_output=True,
                          text=True, timeout=60, env=env, cwd=tmp_path)
    assert done.stderr.startswith("leukemia-cds: LEUKEMIA_CDS_WORKERS")


def test_facts_on_an_empty_file_says_it_is_empty(tmp_path) -> None:
    (tmp_path / "empty.json").write_text("\n")
    done = _run("facts", "empty.json", tmp_path=tmp_path)
    assert done.returncode != 0
    assert done.stderr.strip() == "leukemia-cds: empty.json is empty"


# --- item 5: a site deploys its code map alone ------------------------------------------------


def _site_map(path: Path, code: str, target: str) -> Path:
    shipped = json.loads((ROOT / "fhir_profiles" / "ConceptMap-site-codes.json").read_text())
    shipped["group"] = [{
        "source": "http://hospital.example.org/lab-codes",
        "target": "http://leukemia-cds.org/fhir/CodeSystem/leukemia-cds",
        "element": [{"code": code, "target": [{"code": target, "equivalence": "equivalent"}]}],
    }]
    path.write_text(json.dumps(shipped))
    return path


def test_a_site_conceptmap_is_read_instead_of_the_shipped_one(tmp_path) -> None:
    from service.fhir.terminology import clear_cache, load_terminology

    site = _site_map(tmp_path / "our-codes.json", "BMBLAST", "bm-blasts")
    clear_cache()
    terminology = load_terminology(ROOT / "fhir_profiles", site)
    [match] = terminology.lookup("http://hospital.example.org/lab-codes", "BMBLAST")
    assert match.concept == "bm-blasts" and match.recognised_by == "site-conceptmap"
    # the folder's own map is not read beside it
    assert load_terminology(ROOT / "fhir_profiles").lookup(
        "http://hospital.example.org/lab-codes", "BMBLAST") == ()


@pytest.mark.parametrize(("content", "says"), [
    (None, "site ConceptMap not found"),
    ("{not json", "cannot read JSON"),
    ({"resourceType": "ValueSet"}, "not a ConceptMap"),
    ("unknown-concept", "maps to unknown concept 'no-such-concept'"),
])
def test_a_broken_site_conceptmap_stops_start_up_with_one_line(tmp_path, content, says) -> None:
    site = tmp_path / "our-codes.json"
    if content == "unknown-concept":
        _site_map(site, "X1", "no-such-concept")
    elif isinstance(content, dict):
        site.write_text(json.dumps(content))
    elif content is not None:
        site.write_text(content)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEUKEMIA_CDS_")}
    env.update(LEUKEMIA_CDS_DATA_DIR=str(tmp_path / "data"),
               LEUKEMIA_CDS_SITE_CONCEPTMAP=str(site))
    done = subprocess.run([*server_command(), "serve", "--port", str(free_port())],
                          capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    assert done.returncode == 2, done.stderr[-500:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("leukemia-cds: ") and says in lines[0], lines
    # item 9: nothing left behind, so `audit` tells the truth: the service never ran here
    assert not (tmp_path / "data").exists()
    audit = _run("audit", tmp_path=tmp_path)
    assert audit.returncode == 1 and "the service has not run here yet" in audit.stdout


# --- item 3: data the service's user may not read ---------------------------------------------


@pytest.fixture
def stash() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="lcds-mounts-") as name:  # outside tmp_path's
        yield Path(name)  # closed parents, which the harness hides under a tmpfs


def _as_unprivileged_user(command: list[str], tmp_path: Path, stash: Path) -> list[str] | None:
    """`command` run as the Deployment's user with no capabilities (root reads anything), or
    None where this machine cannot drop privileges in a private mount namespace."""
    from tests.test_container import contained, deployment_user

    reach = [Path(sys.base_prefix), Path(sys.prefix), ROOT, tmp_path]
    probe = contained(["true"], read_only=[], writable=[], stash=stash,
                      uid=deployment_user(), reach=reach)
    if shutil.which("setpriv") is None or subprocess.run(probe, capture_output=True).returncode:
        return None
    return contained(command, read_only=[], writable=[], stash=stash, uid=deployment_user(),
                     reach=reach)


@pytest.mark.slow
@pytest.mark.parametrize(("folder", "closed", "says"), [
    ("cards", ".", "card catalogue: cannot read the folder {dir} (Permission denied)"),
    ("cards", "b-all.toml", "card catalogue: cannot read {dir}/b-all.toml (Permission denied)"),
    ("fhir_profiles", ".", "cannot read the folder {dir} (Permission denied)"),
    ("fhir_profiles", "ValueSet-ph.json",
     "cannot read {dir}/ValueSet-ph.json (Permission denied)"),
])
def test_unreadable_cards_or_profiles_stop_start_up_with_one_line(tmp_path, stash, folder,
                                                                   closed, says) -> None:
    """A hardened host (umask 077) copies the data without read access for the service's
    user: `serve` says which path in one line, never a traceback, and leaves no data behind."""
    tmp_path.chmod(0o755)
    data = tmp_path / folder
    shutil.copytree(ROOT / folder, data)
    (data / closed).chmod(0o700 if closed == "." else 0o600)
    command = _as_unprivileged_user([sys.executable, "-m", "service", "serve", "--port",
                                     str(free_port())], tmp_path, stash)
    if command is None:
        pytest.skip("cannot drop privileges here (needs root and private mount namespaces)")
    setting = "LEUKEMIA_CDS_CARDS_DIR" if folder == "cards" else "LEUKEMIA_CDS_PROFILES_DIR"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEUKEMIA_CDS_")}
    writable = tmp_path / "writable"
    writable.mkdir(mode=0o777)
    writable.chmod(0o777)
    env.update({setting: str(data), "LEUKEMIA_CDS_DATA_DIR": str(writable / "data")})
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env,
                          cwd=writable)
    assert done.returncode == 2, done.stderr[-800:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("leukemia-cds: "), lines
    assert says.format(dir=data) in lines[0]
    assert "listening on" not in done.stdout + done.stderr
    assert not (writable / "data").exists()


def test_facts_on_a_folder_says_so(tmp_path) -> None:
    (tmp_path / "charts").mkdir()
    done = _run("facts", "charts", tmp_path=tmp_path)
    assert done.returncode != 0
    assert done.stderr.strip() == ("leukemia-cds: charts is a folder; give one Bundle or "
                                   "resource file")


def test_a_failed_serve_keeps_a_data_folder_that_was_already_there(tmp_path) -> None:
    """Only what this start created is removed: an earlier run's audit trail stays."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "audit.sqlite3").write_bytes(b"earlier")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEUKEMIA_CDS_")}
    env.update(LEUKEMIA_CDS_DATA_DIR=str(data),
               LEUKEMIA_CDS_SITE_CONCEPTMAP=str(tmp_path / "missing.json"))
    done = subprocess.run([*server_command(), "serve", "--port", str(free_port())],
                          capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    assert done.returncode == 2
    assert (data / "audit.sqlite3").read_bytes() == b"earlier"


def test_one_file_is_one_file(tmp_path) -> None:
    scenario = _run("synth", "--list", tmp_path=tmp_path).stdout.split()[0]
    done = _run("synth", "--scenario", scenario, "--as-of", "2026-12-01", "--out", "out",
                tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().endswith("1 patient, 1 file in out"), done.stderr


# --- item 10: the command line explains itself ------------------------------------------------


def test_help_speaks_to_the_user_not_the_code(tmp_path) -> None:
    top = _run("--help", tmp_path=tmp_path).stdout
    assert "clinical decision support" in top and "LEUKEMIA_CDS_" in top
    assert "`leukemia-cds` command line" not in top  # the module docstring is not the help
    serve = " ".join(_run("serve", "--help", tmp_path=tmp_path).stdout.split())
    for words in ("development profile", "sandbox", "LEUKEMIA_CDS_SANDBOX=off",
                  "LEUKEMIA_CDS_PUBLIC_URL", "LEUKEMIA_CDS_CLIENTS", "LEUKEMIA_CDS_DATA_DIR"):
        assert words in serve, words


def test_facts_help_lists_the_exit_codes_it_returns(tmp_path) -> None:
    from service.fhir.report import EXIT_CONFIG, EXIT_OK, EXIT_UNREADABLE

    text = _run("facts", "--help", tmp_path=tmp_path).stdout
    codes = dict(line.strip().split("  ", 1) for line in text.split("exit status:")[1]
                 .splitlines() if line.startswith("  ") and line.strip()[0].isdigit())
    assert set(codes) == {str(EXIT_OK), str(EXIT_UNREADABLE), str(EXIT_CONFIG)}
    assert _run("facts", "missing.json", tmp_path=tmp_path).returncode == EXIT_UNREADABLE
    bundle = tmp_path / "b.json"
    bundle.write_text('{"resourceType": "Bundle", "type": "collection", "entry": []}')
    assert _run("facts", "b.json", tmp_path=tmp_path).returncode == EXIT_OK
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEUKEMIA_CDS_")}
    env["LEUKEMIA_CDS_SITE_CONCEPTMAP"] = str(tmp_path / "nowhere.json")
    done = subprocess.run([*server_command(), "facts", "b.json"], capture_output=True,
                          text=True, timeout=60, env=env, cwd=tmp_path)
    assert done.returncode == EXIT_CONFIG, done.stderr


# --- item 1: the wheel in a fresh virtual environment -----------------------------------------


@pytest.mark.slow
def test_a_built_wheel_in_a_fresh_environment_serves_and_reads_from_anywhere(tmp_path) -> None:
    """`pip install dist/*.whl && leukemia-cds serve`, as an integrator would on a new
    machine: a new virtual environment (its dependencies from the package index, as pip
    resolves them), run from a folder unrelated to the sources with no LEUKEMIA_CDS_* setting
    but the data folder. It failed with `card catalogue: …/site-packages/cards is not a
    directory` before the data travelled inside the wheel."""
    import requests

    from tests.live import live_server

    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist),
                    str(ROOT)], check=True, capture_output=True, timeout=300)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    [wheel] = dist.glob("*.whl")
    done = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("LEUKEMIA_CDS_") and k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}/usr/bin:/bin"
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import service; print(service.__file__)"], cwd=elsewhere, env=env,
                           capture_output=True, text=True, timeout=60)
    assert where.stdout.startswith(str(venv)), where.stdout + where.stderr  # not the sources
    bundle = ROOT / "tests" / "fixtures" / "fhir" / "bundle-relapsed-b-all.json"
    facts = subprocess.run(["leukemia-cds", "facts", str(bundle)], cwd=elsewhere, env=env,
                           capture_output=True, text=True, timeout=120)
    assert facts.returncode == 0, facts.stderr[-1500:]
    assert "lineage = b-all" in facts.stdout
    port = free_port()
    env_for_server = {"LEUKEMIA_CDS_DATA_DIR": str(tmp_path / "data"), "PATH": env["PATH"]}
    with live_server(env_for_server, tmp_path / "serve.log", port=port, cwd=elsewhere,
                     command=["leukemia-cds", "serve", "--port", str(port)]) as live:
        assert requests.get(f"{live.base}/readyz", timeout=5).status_code == 200
        page = requests.get(f"{live.base}/rules/ALL-INO-RR", timeout=5)
        assert page.status_code == 200 and "inotuzumab" in page.text.lower()
    assert not (elsewhere / "data").exists()  # the setting was honoured, nothing strayed
