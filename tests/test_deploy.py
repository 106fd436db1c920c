"""The deployment files work as written (README "Running it for real"): the Dockerfile, its
.dockerignore, .env.example (copied to .env and passed with `docker run --env-file`), the systemd
unit and the README agree. Docker itself does not run here: the HEALTHCHECK's own command runs
against a real /healthz server answering 200, then 503, then nothing."""

from __future__ import annotations

import json
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from deskpulse.sync.observability import Metrics, StatusServer

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
UNIT = (ROOT / "deploy" / "deskpulse.service").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    found = []
    for line in joined.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def _image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for word, rest in _instructions():
        if word == "ENV":
            env.update(dict(pair.split("=", 1) for pair in shlex.split(rest)))
    return env


def _active(path: Path) -> dict[str, str]:
    """NAME=value lines that are not comments (what `docker run --env-file` passes)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return dict(
        line.split("=", 1) for line in lines if "=" in line and not line.lstrip().startswith("#")
    )


def test_env_example_keeps_the_images_settings() -> None:
    """`docker run --env-file .env` sets every active line of .env: one that differs from the
    image's ENV (DESKPULSE_METRICS_HOST=127.0.0.1 did) silently replaces it."""
    image, example = _image_env(), _active(ROOT / ".env.example")
    assert image["DESKPULSE_METRICS_HOST"] == "0.0.0.0"
    assert "DESKPULSE_METRICS_HOST" not in example
    clashes = {k: (v, image[k]) for k, v in example.items() if k in image and v != image[k]}
    assert clashes == {}
    # Every variable is still documented there, commented out with its default.
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    for name in ("DESKPULSE_METRICS_HOST", "DESKPULSE_LOG_FORMAT", "DESKPULSE_DATABASE_URL"):
        assert f"# {name}=" in text


def test_the_image_keeps_its_warehouse_in_a_volume_and_checks_its_health() -> None:
    instructions = dict(_instructions())
    assert instructions["VOLUME"] == "/data"
    assert _image_env()["DESKPULSE_DATABASE_URL"] == "sqlite:////data/deskpulse.db"
    assert "HEALTHCHECK" in instructions and "--timeout=" in instructions["HEALTHCHECK"]


def test_dockerignore_keeps_secrets_and_warehouses_out_but_not_what_the_image_copies() -> None:
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for pattern in (".env", ".git", ".venv", "**/*.db", "**/__pycache__"):
        assert pattern in ignored
    copied = [
        source for word, rest in _instructions() if word == "COPY" for source in rest.split()[:-1]
    ]
    assert "deskpulse" in copied and "pyproject.toml" in copied
    assert not set(copied) & set(ignored)


def test_unit_and_readme_install_the_same_way() -> None:
    """Both say the install that works from a checkout (the README's said `.[postgres]`, the
    unit's `deskpulse[postgres]`, a name no index serves)."""
    pattern = r"/opt/deskpulse/bin/pip install '([^']+)'"
    section = README[README.index("### Running it for real") :]
    assert re.findall(pattern, UNIT) == re.findall(pattern, section) == [".[postgres]"]
    assert "pip install --no-cache-dir '.[postgres]'" in DOCKERFILE
    assert "--env-file /etc/deskpulse.env" in UNIT
    assert "install -m 600 -o deskpulse .env /etc/deskpulse.env" in section
    assert "status --env-file /etc/deskpulse.env" in section


def _healthcheck(port: int) -> subprocess.CompletedProcess[str]:
    rest = dict(_instructions())["HEALTHCHECK"]
    command = json.loads(rest[rest.index("CMD") + 3 :])
    assert command[:2] == ["python", "-c"] and "timeout=4" in command[2]
    script = command[2].replace("timeout=4", "timeout=0.5")  # no test waits 4 s
    return subprocess.run(
        [sys.executable, "-c", script], env={"DESKPULSE_METRICS_PORT": str(port)},
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_healthcheck_reads_the_status_code(status: int, healthy: bool) -> None:
    body: dict[str, Any] = {"status": "ok" if healthy else "degraded"}
    server = StatusServer(Metrics(), lambda: (status, body)).start()
    try:
        done = _healthcheck(server.port)
    finally:
        server.stop()
    assert (done.returncode == 0) is healthy, done.stderr
    if not healthy:
        assert done.stderr.startswith("unhealthy: HTTP Error 503")


def test_healthcheck_fails_when_nothing_answers() -> None:
    with socket.socket() as s:  # a port nobody listens on: refused
        s.bind(("127.0.0.1", 0))
        refused = s.getsockname()[1]
    done = _healthcheck(refused)
    assert done.returncode == 1 and "unhealthy:" in done.stderr and "refused" in done.stderr
    with socket.socket() as silent:  # accepts, never answers: the timeout ends it
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        started = time.monotonic()
        done = _healthcheck(silent.getsockname()[1])
    assert done.returncode == 1 and "timed out" in done.stderr
    assert time.monotonic() - started < 5
