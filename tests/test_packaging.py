"""deskpulse as users install it: a wheel with one top-level name, working from a fresh venv.

The wheel is built from a copy of the checkout (a build in place would leave `build/` behind)
with this environment's setuptools and no network. It is installed with pip into a fresh
virtual environment that already holds two other distributions, one providing a package `sync`
and one a module `cli`, together with the example connector plugin (tests/plugin_example), a
distribution of its own. The venv sees this environment's dependencies through a `.pth` file
(a folder of links to them, without the editable deskpulse), so nothing is downloaded; the
deskpulse it imports is the installed wheel's. There the tests run the console script: `--help`,
the demo's sync against the sandbox, `db upgrade` of a fresh warehouse and `report` (migrations
and the report template are package data), and a sync of the plugin through the CLI.

Slow-ish (a build and a venv, some 20 s); kept in `make test`. Skipped with the reason where
venv, pip or a setuptools that builds wheels is missing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
import sysconfig
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest

from deskpulse.sandbox import SandboxServer
from deskpulse.sync.warehouse import head_revision

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "tests" / "plugin_example"
PACKAGE_PARTS = ("deskpulse", "connectors", "kpi_core", "sync", "sandbox", "cli.py")


def _missing_tool() -> str | None:
    for module in ("venv", "setuptools.command.bdist_wheel"):  # setuptools >= 70.1 builds wheels
        try:
            found = importlib.util.find_spec(module)
        except ImportError:
            found = None
        if found is None:
            return f"cannot build and install a wheel here (no {module}); pip install -e '.[dev]'"
    probe = subprocess.run(
        [sys.executable, "-m", "pip", "--version"], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        return "pip is not available in this environment"
    return None


_MISSING = _missing_tool()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(_MISSING is not None, reason=str(_MISSING))]


def _run(*args: str | Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=300, **kwargs
    )


def _check(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"{result.args}\n{result.stdout}\n{result.stderr}"
    return result


def _dummy(where: Path, name: str, files: dict[str, str]) -> Path:
    """A tiny distribution `name` holding `files` (its own top-level names)."""
    where.mkdir(parents=True)
    modules = sorted({f.split("/")[0].removesuffix(".py") for f in files})
    packages = [m for m in modules if any(f.startswith(f"{m}/") for f in files)]
    layout = (
        f"packages = {json.dumps(packages)}" if packages else f"py-modules = {json.dumps(modules)}"
    )
    (where / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=70.1"]\nbuild-backend = "setuptools.build_meta"\n'
        f'[project]\nname = "{name}"\nversion = "1.0"\n[tool.setuptools]\n{layout}\n'
    )
    for path, text in files.items():
        (where / path).parent.mkdir(parents=True, exist_ok=True)
        (where / path).write_text(text)
    return where


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """deskpulse's wheel, the plugin's, and the two dummies', by distribution name."""
    work = tmp_path_factory.mktemp("build")
    source = work / "deskpulse-src"
    source.mkdir()
    for name in (*PACKAGE_PARTS, "pyproject.toml", "README.md"):
        origin = ROOT / name
        if origin.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(origin, source / name, symlinks=True, ignore=ignore)
        else:
            shutil.copy2(origin, source / name)
    plugin = work / "plugin"
    shutil.copytree(
        PLUGIN, plugin, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info")
    )
    others = [
        _dummy(work / "other-sync", "other-sync", {"sync/__init__.py": 'WHO = "other-sync"\n'}),
        _dummy(work / "other-cli", "other-cli", {"cli.py": 'WHO = "other-cli"\n'}),
    ]
    out = work / "wheels"
    _check(
        _run(
            sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
            "--no-index", "--wheel-dir", out, source, plugin, *others,
        )
    )  # fmt: skip
    found = {p.name.split("-")[0].replace("_", "-"): p for p in out.glob("*.whl")}
    assert set(found) == {"deskpulse", "acme-deskpulse", "other-sync", "other-cli"}, found
    return found


def test_the_wheel_holds_only_deskpulse_as_real_files(wheels: dict[str, Path]) -> None:
    with zipfile.ZipFile(wheels["deskpulse"]) as wheel:
        entries = wheel.infolist()
    names = [e.filename for e in entries]
    assert {n.split("/")[0] for n in names} == {"deskpulse", "deskpulse-0.1.0.dist-info"}
    links = [e.filename for e in entries if stat.S_ISLNK(e.external_attr >> 16)]
    assert links == []
    for part in ("connectors/zendesk/__init__.py", "kpi_core/engine.py", "sync/engine.py"):
        assert f"deskpulse/{part}" in names
    assert "deskpulse/cli.py" in names and "deskpulse/sandbox/__main__.py" in names
    # Package data: the migrations and the report's template.
    assert "deskpulse/sync/migrations/env.py" in names
    assert "deskpulse/sync/migrations/versions/0001_initial_schema.py" in names
    assert "deskpulse/sync/report/report.html.j2" in names


class _Venv:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = root / ("Scripts" if os.name == "nt" else "bin")
        self.python = self.bin / "python"

    def env(self, **extra: str) -> dict[str, str]:
        """This machine's environment without anything that points at the checkout or
        configures deskpulse, plus `extra`."""
        keep = {
            k: v
            for k, v in os.environ.items()
            if k != "PYTHONPATH" and not k.startswith(("DESKPULSE_", "ZENDESK_", "ACME_"))
        }
        return {**keep, "COLUMNS": "120", **extra}

    def deskpulse(self, *args: str, cwd: Path, **extra: str) -> subprocess.CompletedProcess[str]:
        return _run(self.bin / "deskpulse", *args, cwd=cwd, env=self.env(**extra))


def _dependencies(into: Path) -> Path:
    """Links to this environment's installed distributions, except deskpulse itself (an
    editable install of the checkout), for the fresh venv to import its dependencies from."""
    into.mkdir()
    sites = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    for site in sorted(sites):
        for entry in Path(site).iterdir():
            name = entry.name.lower()
            if "deskpulse" in name or name.endswith(".pth") or (into / entry.name).exists():
                continue
            (into / entry.name).symlink_to(entry)
    return into


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory, wheels: dict[str, Path]) -> _Venv:
    """A fresh venv with `sync` and `cli` from other distributions, then deskpulse and the
    example plugin installed from their wheels."""
    work = tmp_path_factory.mktemp("venv")
    env = _Venv(work / "venv")
    _check(_run(sys.executable, "-m", "venv", "--without-pip", env.root))
    site = _check(
        _run(env.python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    ).stdout.strip()
    (Path(site) / "deskpulse_test_dependencies.pth").write_text(
        f"{_dependencies(work / 'dependencies')}\n"
    )
    install = (sys.executable, "-m", "pip", "--python", env.python, "install", "--quiet")
    offline = ("--no-deps", "--no-index", "--disable-pip-version-check")
    _check(_run(*install, *offline, wheels["other-sync"], wheels["other-cli"]))
    _check(_run(*install, *offline, wheels["deskpulse"], wheels["acme-deskpulse"]))
    return env


def test_installed_deskpulse_is_the_wheel_and_leaves_other_sync_and_cli_alone(
    venv: _Venv, tmp_path: Path
) -> None:
    probe = (
        "import cli, sync, deskpulse, deskpulse.sync.engine as engine; "
        "print(sync.WHO, cli.WHO, deskpulse.__file__, engine.__file__, sep='\\n')"
    )
    lines = _check(_run(venv.python, "-c", probe, cwd=tmp_path, env=venv.env())).stdout.splitlines()
    assert lines[:2] == ["other-sync", "other-cli"]
    for path in map(Path, lines[2:]):
        assert path.is_relative_to(venv.root), path
        assert path.is_file() and not path.is_symlink()

    shown = venv.deskpulse("--help", cwd=tmp_path)
    _check(shown)
    assert "sync" in shown.stdout and "kpi" in shown.stdout


def test_installed_deskpulse_migrates_a_fresh_warehouse(venv: _Venv, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    _check(venv.deskpulse("db", "upgrade", cwd=tmp_path, DESKPULSE_DATABASE_URL=url))
    current = _check(venv.deskpulse("db", "current", cwd=tmp_path, DESKPULSE_DATABASE_URL=url))
    assert head_revision() in current.stdout


def _count(db: Path, sql: str) -> int:
    with sqlite3.connect(db) as connection:
        value: int = connection.execute(sql).fetchone()[0]
        return value


def test_installed_deskpulse_syncs_the_sandbox_and_writes_the_report(
    venv: _Venv, tmp_path: Path
) -> None:
    db = tmp_path / "demo.db"
    with SandboxServer(seed=42, tickets=150, rate_limit=False) as sandbox:
        settings = {
            **sandbox.env(oauth=True),
            "ZENDESK_RATE_LIMITS": "off",
            "DESKPULSE_DATABASE_URL": f"sqlite:///{db}",
            "DESKPULSE_TIMEZONE": "UTC",
        }
        synced = venv.deskpulse("sync", cwd=tmp_path, **settings)
        served = sandbox.account.n_tickets
    _check(synced)
    assert _count(db, "SELECT count(*) FROM tickets WHERE source = 'zendesk'") == served > 0
    assert _count(db, "SELECT count(*) FROM sync_runs WHERE source = 'zendesk'") == 1
    assert _count(db, "SELECT count(*) FROM sync_runs WHERE status != 'ok'") == 0

    report = tmp_path / "report.html"
    anchor = sandbox.account.anchor.date()
    made = venv.deskpulse(
        "report", "--out", str(report), "--from", f"{anchor.year - 1}-01-01", "--to",
        anchor.isoformat(), cwd=tmp_path, **settings,
    )  # fmt: skip
    _check(made)
    assert report.read_text().lstrip().lower().startswith("<!doctype html")


ACME_TICKETS = [
    {"id": 1, "created": "2026-11-02T09:00:00Z", "state": "done", "channel": "email",
     "subject": "Refund", "done_at": "2026-11-02T11:30:00Z"},
    {"id": 2, "created": "2026-11-02T10:00:00Z", "state": "open", "channel": "chat"},
    {"id": 3, "created": "2026-11-03T08:00:00Z", "state": "lost", "channel": "email"},
    {"id": 4, "created": "2026-11-03T09:15:00Z", "state": "waiting", "channel": "phone"},
    {"id": 5, "created": "2026-11-04T16:45:00Z", "state": "open", "channel": "web"},
]  # fmt: skip
"""The Acme desk: ticket 3 has a state Acme's connector does not know (it is quarantined)."""


class _Acme(BaseHTTPRequestHandler):
    """Acme's ticket API (see acme_deskpulse), two tickets a page, behind a bearer key."""

    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        type(self).requests.append(self.path)
        if self.headers.get("Authorization") != "Bearer acme-key":
            self.send_error(401)
            return
        if url.path != "/api/tickets":
            self.send_error(404)
            return
        start = int(parse_qs(url.query).get("after", ["0"])[0])
        page = ACME_TICKETS[start : start + 2]
        after = start + len(page)
        body = json.dumps(
            {"tickets": page, "after": str(after), "end": after >= len(ACME_TICKETS)}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def acme() -> Iterator[str]:
    _Acme.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Acme)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_installed_plugin_is_configured_and_synced_through_the_cli(
    venv: _Venv, tmp_path: Path, acme: str
) -> None:
    db = tmp_path / "acme.db"
    settings = {
        "ACME_BASE_URL": acme,
        "ACME_API_KEY": "acme-key",
        "DESKPULSE_DATABASE_URL": f"sqlite:///{db}",
    }
    first = venv.deskpulse("sync", cwd=tmp_path, **settings)
    assert first.returncode == 3, first.stdout + first.stderr  # one record quarantined
    assert "acme" in first.stdout
    assert "acme-key" not in first.stdout + first.stderr
    tickets = "SELECT id, status, channel FROM tickets WHERE source = 'acme' ORDER BY id"
    with sqlite3.connect(db) as connection:
        assert connection.execute(tickets).fetchall() == [
            ("1", "solved", "email"),
            ("2", "open", "chat"),
            ("4", "pending", "phone"),
            ("5", "open", "web"),
        ]
        (reason,) = connection.execute(
            "SELECT reason FROM quarantine WHERE source = 'acme'"
        ).fetchone()
    assert reason == "unknown ticket state 'lost'"
    assert _Acme.requests == ["/api/tickets", "/api/tickets?after=2", "/api/tickets?after=4"]

    # The next sync resumes from the stored cursor: one request, nothing new.
    _Acme.requests = []
    again = venv.deskpulse("sync", cwd=tmp_path, **settings)
    _check(again)
    assert _Acme.requests == ["/api/tickets?after=5"]

    # A wrong key is one line naming the plugin's variable, and the key is not printed.
    denied = venv.deskpulse("sync", cwd=tmp_path, **{**settings, "ACME_API_KEY": "wrong-key"})
    assert denied.returncode == 1
    assert "check ACME_API_KEY" in denied.stdout + denied.stderr
    assert "wrong-key" not in denied.stdout + denied.stderr
    assert "Traceback" not in denied.stderr


def test_an_installed_plugin_brings_its_sandbox_dialect_and_conformance_profile(
    venv: _Venv, tmp_path: Path
) -> None:
    """Entry points, as for the connector: the installed sandbox serves Acme's API after the
    built-in vendors (its lines printed with theirs), and deskpulse's conformance suite, run
    where the plugin is installed, finds Acme's profile and syncs the plugin against it."""
    serve = (
        "import sys; from deskpulse.sandbox.command import start_subprocess\n"
        "with start_subprocess(seed=3, tickets=100, rate_limit=False, oauth=False) as sb:\n"
        "    print(*sb.env, sep='\\n')\n"
    )
    lines = _check(_run(venv.python, "-c", serve, cwd=tmp_path, env=venv.env())).stdout.split()
    assert lines[-2:] == ["ACME_BASE_URL", "ACME_API_KEY"]
    assert lines[0] == "ZENDESK_BASE_URL"  # the built-ins keep their ports and order

    suite = _run(
        venv.python, "-m", "pytest", "-p", "no:cacheprovider", "-rA", "-k", "acme",
        str(ROOT / "tests" / "conformance"), cwd=ROOT, env=venv.env(),
    )  # fmt: skip
    _check(suite)
    passed = re.findall(r"^PASSED (\S+)", suite.stdout, re.MULTILINE)
    assert len(passed) >= 3 and all("acme" in test for test in passed), suite.stdout
