"""The image as the Dockerfile builds it, without Docker: its steps replayed on this machine.

No Docker engine is available where the suite runs, so the build was never exercised. These
tests read the Dockerfile itself and do what it says: build the wheel from only the files the
build stage copies, install it apart from the source tree, lay out the final stage's files
under a stand-in root, and start the service with the final stage's environment, working
directory and command. What a hospital's engineer would see break first — a file missing from
the build context or the wheel, data looked up in the source tree, a wrong path in `ENV`, a
`HEALTHCHECK` that cannot pass — fails here. The Kubernetes Deployment runs the image as an
unprivileged user on a read-only root filesystem, with writable volumes only where
`deploy/deployment.yaml` mounts them; that too is replayed, in a private mount namespace with
read-only bind mounts, then `setpriv` to the Deployment's user. Not covered: the base image.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from service.hooks.auth import LocalSigner
from service.store.schema import hook_call
from service.store.store import SQLITE_FILE
from service.synth.generator import generate
from service.synth.hooks import prefetch_for
from tests.conftest import write_clients
from tests.live import LiveServer, free_port, live_server

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DEPLOY = ROOT / "deploy"

pytestmark = pytest.mark.slow


@dataclass
class Stage:
    copies: list[tuple[list[str], str]] = field(default_factory=list)  # (sources, destination)
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    cmd: list[str] = field(default_factory=list)
    healthcheck: list[str] = field(default_factory=list)
    expose: list[str] = field(default_factory=list)


def parse_dockerfile(text: str) -> list[Stage]:
    """The instructions these tests replay, stage by stage (a subset of Dockerfile syntax)."""
    logical = re.sub(r"\\\n", " ", "\n".join(
        line for line in text.splitlines() if not line.lstrip().startswith("#")))
    stages: list[Stage] = []
    for line in logical.splitlines():
        if not line.strip():
            continue
        word, _, rest = line.strip().partition(" ")
        word, rest = word.upper(), rest.strip()
        if word == "ARG":  # build arguments (the base image) are not replayed
            continue
        if word == "FROM":
            stages.append(Stage())
            continue
        stage = stages[-1]
        if word == "COPY" and not rest.startswith("--from"):
            *sources, destination = shlex.split(rest)
            stage.copies.append((sources, destination))
        elif word == "ENV":
            stage.env.update(dict(pair.split("=", 1) for pair in shlex.split(rest)))
        elif word == "WORKDIR":
            stage.workdir = rest
        elif word == "CMD":
            stage.cmd = json.loads(rest)
        elif word == "EXPOSE":
            stage.expose = rest.split()
        elif word == "HEALTHCHECK":
            stage.healthcheck = json.loads(rest[rest.index("CMD") + 3:])
    return stages


def test_the_base_image_is_pinned_to_a_python_patch_and_debian_release():
    """`python:3.11-slim` moved under the image with every upstream release (issue 22)."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    [default] = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-(bookworm|trixie)(@sha256:[0-9a-f]{64})?",
                        default), default
    froms = re.findall(r"^FROM (\S+)", text, re.M)
    assert froms == ["${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]


def test_the_parser_reads_this_dockerfile_as_two_stages():
    build, final = parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))
    assert build.copies and final.cmd and final.healthcheck
    # the final stage copies only the built environment: the data travel inside the wheel
    assert not final.copies and {"cards", "fhir_profiles"} <= {
        src for sources, _ in build.copies for src in sources}
    assert final.expose == ["8080"] and "--port" in final.cmd


class Image:
    """The final stage laid out under `root` (image path P is `root`/P), the wheel installed
    into `site`, run with the stage's environment remapped the same way."""

    def __init__(self, tmp: Path) -> None:
        self.build, self.final = parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))
        self.root, self.site = tmp / "root", tmp / "site"
        context = tmp / "build-context"
        for sources, destination in self.build.copies:  # WORKDIR of the build stage: context
            for source in sources:
                target = context / destination / Path(source).name if destination.endswith(
                    "/") else context / destination
                _copy(ROOT / source, target)
        wheels = tmp / "dist"
        _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels),
              str(context)])
        _run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
              str(self.site), *map(str, wheels.glob("*.whl"))])
        for sources, destination in self.final.copies:
            for source in sources:
                _copy(ROOT / source, self.path(destination))
        self.workdir = self.path(self.final.workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)

    def path(self, image_path: str) -> Path:
        return self.root / image_path.lstrip("/")

    def environment(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("LEUKEMIA_CDS_") and k != "PYTHONPATH"}
        for key, value in self.final.env.items():
            if key == "PATH":
                continue  # the image's venv is `site` here
            env[key] = str(self.path(value)) if value.startswith("/") else value
        # made by the final stage's RUN (with its owner), which is not replayed
        Path(env["LEUKEMIA_CDS_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
        env["PYTHONPATH"] = str(self.site)  # ahead of the editable install of the sources
        env["PATH"] = f"{self.site / 'bin'}{os.pathsep}{Path(sys.executable).parent}" \
                      f"{os.pathsep}{env.get('PATH', '')}"
        env.update(extra)
        return env

    def command(self, port: int) -> list[str]:
        """The image's CMD, on a free loopback port instead of 0.0.0.0:8080."""
        cmd = list(self.final.cmd)
        cmd[cmd.index("--port") + 1] = str(port)
        if "--host" in cmd:
            cmd[cmd.index("--host") + 1] = "127.0.0.1"
        return cmd

    def healthcheck(self, port: int) -> list[str]:
        exposed = self.final.expose[0]
        return [part.replace(f":{exposed}/", f":{port}/") for part in self.final.healthcheck]


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    else:
        shutil.copy2(source, target)


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{command[:4]}: {done.stdout[-1500:]}{done.stderr[-1500:]}"


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    return Image(tmp_path_factory.mktemp("image"))


def test_the_installed_wheel_is_what_runs_not_the_sources(image: Image):
    done = subprocess.run(
        [sys.executable, "-c", "import service, service.render; print(service.__file__)"],
        env=image.environment(), cwd=image.workdir, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).is_relative_to(image.site)
    packaged = {p.name for p in (image.site / "service").rglob("*") if p.is_file()}
    assert "openapi.json" in packaged, "package data is in the wheel"


def serving(image: Image, port: int, log: Path,
            **extra: str) -> contextlib.AbstractContextManager[LiveServer]:
    """The image's CMD running in its WORKDIR with its ENV, until the block ends."""
    return live_server(image.environment(**extra), log, port=port,
                       command=image.command(port), cwd=image.workdir)


def test_as_run_without_clients_it_is_healthy_ready_and_refuses_every_call(image, tmp_path):
    port = free_port()
    with serving(image, port, tmp_path / "service.log") as live:
        base = live.base
        assert requests.get(f"{base}/healthz", timeout=5).json() == {"status": "ok"}
        assert subprocess.run(image.healthcheck(port), env=image.environment(),
                              timeout=30).returncode == 0
        refused = requests.post(f"{base}/cds-services/leukemia-immunotherapy", json={}, timeout=5)
        assert refused.status_code == 401
        assert refused.json()["resourceType"] == "OperationOutcome"
        assert requests.get(f"{base}/", timeout=5).status_code == 404, "the sandbox is off"
    assert subprocess.run(image.healthcheck(port), env=image.environment(), timeout=30,
                          capture_output=True).returncode != 0, "a dead service fails its check"


def patient_view(public: str, ehr: LocalSigner, hook_instance: str, seed: int
                 ) -> requests.Response:
    """A signed patient-view call for a synthetic relapsed B-ALL patient, prefetch included."""
    resources = [e["resource"] for e in generate(
        "b-all-first-relapse-high-burden", size=50, seed=seed).bundle()["entry"]]
    pid = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    path = "/cds-services/leukemia-immunotherapy"
    body = {"hook": "patient-view", "hookInstance": hook_instance,
            "context": {"userId": "Practitioner/1", "patientId": pid},
            "prefetch": prefetch_for(resources)}
    return requests.post(public + path, json=body, timeout=30,
                         headers={"Authorization": f"Bearer {ehr.token(public + path)}"})


def audited_statuses(image: Image, hook_instance: str) -> list[tuple[int]]:
    """The statuses recorded for `hook_instance` in the image's data directory."""
    database = image.path(image.final.env["LEUKEMIA_CDS_DATA_DIR"]) / SQLITE_FILE
    with contextlib.closing(sqlite3.connect(database)) as db:
        return db.execute(f"select status from {hook_call.name} where hook_instance = ?",
                          (hook_instance,)).fetchall()


def test_given_a_client_as_the_readme_shows_it_answers_a_hook_with_cards(image, tmp_path):
    ehr = LocalSigner.generate("https://ehr.example/cds-client")
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    instance = "c0ffee00-0000-4000-8000-000000000001"
    with serving(image, port, tmp_path / "service.log", LEUKEMIA_CDS_PUBLIC_URL=public,
                 LEUKEMIA_CDS_CLIENTS=str(write_clients(tmp_path / "clients.json", ehr))):
        answer = patient_view(public, ehr, instance, seed=3)
        assert answer.status_code == 200, answer.text
        assert answer.json()["cards"], "catalogue and terminology load from the image's paths"
    assert audited_statuses(image, instance) == [(200,)], \
        "the call is audited in the image's data directory"


# ---- the Deployment's read-only root filesystem ------------------------------------------------


def manifest(name: str) -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / name).read_text(encoding="utf-8"))


def writable_in_deployment() -> list[str]:
    """The container paths deploy/deployment.yaml mounts writable: with its read-only root
    filesystem, the only places the service may write."""
    container = manifest("deployment.yaml")["spec"]["template"]["spec"]["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    return [m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")]


def deployment_user() -> int:
    """The user the Deployment runs the image as (its pod securityContext)."""
    pod = manifest("deployment.yaml")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    return int(pod["securityContext"]["runAsUser"])


def _closed_ancestor(path: Path) -> Path | None:
    """The highest directory above `path` that other users cannot enter (such as /root)."""
    return next((p for p in reversed(path.parents) if not p.stat().st_mode & stat.S_IXOTH), None)


def contained(command: list[str], *, read_only: list[Path], writable: list[Path],
              stash: Path, uid: int | None = None, reach: Sequence[Path] = ()) -> list[str]:
    """`command` as the Deployment runs the image, in a private mount namespace: `read_only`
    are read-only bind mounts, except `writable` beneath them (the volumes); with `uid`, as that
    user without privileges. `reach` is what that user must be able to open (the interpreter,
    the virtual environment, the image): where a parent directory is closed to other users, a
    tmpfs over it shows only those paths. `stash` is an empty directory outside them all."""
    q = shlex.quote
    script = ["set -e"]
    by_closed: dict[Path, list[Path]] = {}
    for path in dict.fromkeys(reach):  # once each (outside a venv, prefix is base_prefix)
        closed = _closed_ancestor(path)
        if closed is not None:
            by_closed.setdefault(closed, []).append(path)
    n = 0
    for closed, paths in by_closed.items():
        points = []
        for path in paths:
            n += 1
            point = stash / str(n)
            script += [f"mkdir -p {q(str(point))}", f"mount --bind {q(str(path))} {q(str(point))}"]
            points.append((point, path))
        script.append(f"mount -t tmpfs -o mode=755 tmpfs {q(str(closed))}")
        for point, path in points:
            script += [f"mkdir -p {q(str(path))}", f"mount --move {q(str(point))} {q(str(path))}"]
    script += [f"mount --bind {q(str(p))} {q(str(p))}" for p in read_only + writable]
    script += [f"mount -o remount,ro,bind {q(str(p))} {q(str(p))}" for p in read_only]
    if uid is not None:  # as `runAsUser` with `allowPrivilegeEscalation: false`, no capabilities
        script.append(f"exec setpriv --reuid={uid} --regid={uid} --clear-groups --no-new-privs "
                      '--inh-caps=-all -- "$@"')
    else:
        script.append('exec "$@"')
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", "\n".join(script),
            "sh", *command]


def _reach(image: Image) -> list[Path]:
    return [Path(sys.base_prefix), Path(sys.prefix), image.root, image.site]


@pytest.fixture(scope="module")
def mounts_allowed(tmp_path_factory: pytest.TempPathFactory) -> None:
    probe = tmp_path_factory.mktemp("probe")
    if shutil.which("unshare") is None or shutil.which("setpriv") is None or subprocess.run(
            contained(["true"], read_only=[probe], writable=[], stash=probe),
            capture_output=True).returncode != 0:
        pytest.skip("no private mount namespaces here (needs root, or CAP_SYS_ADMIN)")


@pytest.fixture
def stash() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="lcds-mounts-") as name:
        yield Path(name)


def test_the_contained_replay_is_read_only_and_unprivileged(image, mounts_allowed, stash):
    # the harness itself: without this, a replay that mounted nothing would pass vacuously
    data = image.path("/var/lib/leukemia-cds")
    data.mkdir(parents=True, exist_ok=True)
    touch = ["sh", "-c", 'touch "$1"', "sh"]
    wrapped = contained(touch, read_only=[image.root, image.site], writable=[data], stash=stash)
    assert subprocess.run([*wrapped, str(data / "probe")], capture_output=True).returncode == 0
    for target in (image.workdir / "probe", image.site / "probe"):
        refused = subprocess.run([*wrapped, str(target)], capture_output=True, text=True)
        assert refused.returncode != 0 and "Read-only" in refused.stderr
    uid = deployment_user()
    whoami = contained([sys.executable, "-c", "import os, service; print(os.getuid())"],
                       read_only=[image.root, image.site], writable=[], stash=stash, uid=uid,
                       reach=_reach(image))
    done = subprocess.run(whoami, capture_output=True, text=True, cwd=image.workdir,
                          env=image.environment())
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(uid), "the interpreter and the image run as that user"
    refused = subprocess.run(contained([*touch, str(image.workdir / "not-mine")], read_only=[],
                                       writable=[], stash=stash, uid=uid, reach=_reach(image)),
                             capture_output=True, text=True)
    assert refused.returncode != 0 and "Permission denied" in refused.stderr, "root's /app"


def test_as_the_deployment_runs_it_unprivileged_on_a_read_only_root_it_answers_and_audits(
        image, mounts_allowed, stash, tmp_path):
    uid = deployment_user()
    writable = [image.path(p) for p in writable_in_deployment()]
    for path in writable:  # volumes: empty when the pod starts, and its user's (fsGroup)
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        os.chown(path, uid, uid)
    ehr = LocalSigner.generate("https://ehr.example/cds-client")
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    # the clients Secret, mounted read-only where the ConfigMap says
    clients = image.path(manifest("configmap.yaml")["data"]["LEUKEMIA_CDS_CLIENTS"])
    clients.parent.mkdir(parents=True, exist_ok=True)
    write_clients(clients, ehr)
    env = image.environment(LEUKEMIA_CDS_PUBLIC_URL=public, LEUKEMIA_CDS_CLIENTS=str(clients))
    # the image's /tmp and its user's home (/app, the WORKDIR) as the container sees them
    env.update(TMPDIR=str(image.path("/tmp")), HOME=str(image.workdir))
    command = contained(image.command(port), read_only=[image.root, image.site],
                        writable=writable, stash=stash, uid=uid, reach=_reach(image))
    instance = "c0ffee00-0000-4000-8000-000000000002"
    with live_server(env, tmp_path / "service.log", port=port, command=command,
                     cwd=image.workdir) as live:
        answer = patient_view(public, ehr, instance, seed=5)
        assert answer.status_code == 200, answer.text
        assert answer.json()["cards"]
        assert requests.get(f"{live.base}/metrics", timeout=5).status_code == 200
    log = (tmp_path / "service.log").read_text()
    assert "Read-only file system" not in log, log[-3000:]
    assert audited_statuses(image, instance) == [(200,)]
    database = image.path(image.final.env["LEUKEMIA_CDS_DATA_DIR"]) / SQLITE_FILE
    assert database.stat().st_uid == uid, "the service itself ran as the Deployment's user"


def test_the_installed_wheel_runs_anywhere_without_path_settings(image: Image, tmp_path):
    """Issue 22: the catalogue and the FHIR profiles travel inside the wheel. From a folder
    that has nothing to do with the sources, with no LEUKEMIA_CDS_* path setting at all,
    `facts` reads a Bundle and `serve` becomes ready."""
    env = {k: v for k, v in image.environment().items()
           if not k.startswith("LEUKEMIA_CDS_")}
    env["LEUKEMIA_CDS_DATA_DIR"] = str(tmp_path / "data")
    packaged = {p.relative_to(image.site / "service" / "_data").as_posix()
                for p in (image.site / "service" / "_data").rglob("*") if p.is_file()}
    assert "cards/catalogue.toml" in packaged and "fhir_profiles/ConceptMap-site-codes.json" \
        in packaged, sorted(packaged)[:5]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    bundle = Path(__file__).parent / "fixtures" / "fhir" / "bundle-relapsed-b-all.json"
    done = subprocess.run(["leukemia-cds", "facts", str(bundle)], env=env, cwd=elsewhere,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-1500:]
    port = free_port()
    with live_server(env, tmp_path / "serve.log", port=port, cwd=elsewhere,
                     command=["leukemia-cds", "serve", "--port", str(port)]) as live:
        assert requests.get(f"{live.base}/readyz", timeout=5).status_code == 200
