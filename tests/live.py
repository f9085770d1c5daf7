"""Start the real service (`leukemia-cds serve`, gunicorn) on a free loopback port for a test."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_command() -> list[str]:
    """The installed console script when there is one, as the README runs it."""
    script = shutil.which("leukemia-cds", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "service"]


@dataclass
class LiveServer:
    base: str
    process: subprocess.Popen[bytes]
    log_path: Path


@contextlib.contextmanager
def live_server(env: dict[str, str], log_path: Path, port: int | None = None,
                workers: int = 2, command: list[str] | None = None,
                cwd: Path | None = None) -> Iterator[LiveServer]:
    """Run the service with `env` (LEUKEMIA_CDS_* only; the caller's own are dropped).
    `command`, when given, replaces `leukemia-cds serve` and must listen on `port`."""
    port = port or free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("LEUKEMIA_CDS_")}
    full_env.update(env)
    full_env.setdefault("LEUKEMIA_CDS_WORKERS", str(workers))
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command or [*server_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=cwd,
        )
        try:  # whatever happens below, the server's process group does not outlive the test
            base = f"http://127.0.0.1:{port}"
            _wait_ready(base, process, log_path)
            yield LiveServer(base, process, log_path)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)


def _wait_ready(base: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            pytest.fail("server exited early:\n" + log_path.read_text())
        try:
            if requests.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except requests.RequestException:  # refused, or accepted while workers still boot
            pass
        if time.monotonic() > deadline:
            pytest.fail("server never became ready:\n" + log_path.read_text())
        time.sleep(0.1)
