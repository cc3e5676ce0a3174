"""Fixtures of the platform's tests: an app over a store with real runs, tokens, a live server on loopback."""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from pruningbench.pipeline import run_experiment
from pruningbench.store import ResultStore
from pruningbench.store.tokens import TokenStore
from pruningbench.web.app import ServerSettings, create_app

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def stored_runs(tmp_path_factory, tiny_config_factory):
    """A results directory holding real runs: two criteria at 2x, one at 4x (models on disk)."""
    results = tmp_path_factory.mktemp("platform") / "results"
    store = ResultStore.in_dir(results)
    for importance, speedup in (("MagnitudeL2", 2.0), ("Random", 2.0), ("MagnitudeL2", 4.0)):
        run_experiment(
            tiny_config_factory(results, **{"method.importance": importance, "prune.speedup": speedup}), store
        )
    return results


@pytest.fixture(scope="session")
def tiny_config_factory():
    from pruningbench.config import load_preset
    from tests.plugin import TINY_DATASET

    def make(results: Path, **overrides):
        base = {
            "task.dataset": TINY_DATASET,
            "base_training.epochs": 1,
            "base_training.batch_size": 64,
            "finetune.epochs": 1,
            "finetune.batch_size": 64,
            "results_dir": str(results),
        }
        return load_preset("quickstart", {**base, **overrides})

    return make


@pytest.fixture
def platform(stored_runs, tmp_path):
    """(a test client of the app over a copy of the stored runs, its results dir, an admin and a submit token)."""
    results = tmp_path / "results"
    shutil.copytree(stored_runs, results)
    store = ResultStore.in_dir(results)
    tokens = TokenStore(store.database)
    admin, submit = tokens.create("root", "admin"), tokens.create("alice", "submit")
    app = create_app(ServerSettings(store_url=store.url, results_dir=results, queue_limit=20))
    return TestClient(app), results, admin, submit


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """``pruningbench serve`` as a real process on loopback."""

    def __init__(self, results: Path, log: Path) -> None:
        self.results, self.log, self.port = results, log, free_port()
        self.process: subprocess.Popen | None = None
        self.admin: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Server":
        command = [
            sys.executable,
            "-m",
            "pruningbench",
            "serve",
            "--port",
            str(self.port),
            "--results-dir",
            str(self.results),
        ]
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT, env={**os.environ, "COLUMNS": "200"}
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"{self.url}/api/boards", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        found = re.search(r"admin token \(shown once; keep it\): (\S+)", self.log.read_text())
        if found:
            self.admin = found.group(1)
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def live_server(tmp_path):
    """Start servers over ``tmp_path/results``; all are killed at the end."""
    servers: list[Server] = []

    def start() -> Server:
        servers.append(Server(tmp_path / "results", tmp_path / f"server-{len(servers)}.log").start())
        return servers[-1]

    yield start
    for server in servers:
        server.kill()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's chromium (no browser download is possible here), headless, without background networking."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (make test installs it when run as root)")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": True,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }
