"""Shared fixtures: quiet progress bars, a tiny real-data dataset, and fast run configs."""

import os

os.environ.setdefault("TQDM_DISABLE", "1")  # must precede the first tqdm import
os.environ["PRUNINGBENCH_PLUGINS"] = "tests.plugin"  # the tiny dataset, in worker and run processes too

import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

from pruningbench.config import RunConfig, load_preset  # noqa: E402
from pruningbench.registry import load_plugins  # noqa: E402

load_plugins()  # as every worker and run process does: the tiny dataset's origin is part of the runs' identity
from tests.plugin import TINY_DATASET  # noqa: E402, F401


@pytest.fixture(autouse=True)
def _fixed_seed() -> None:
    torch.manual_seed(0)


@pytest.fixture
def tiny_config(tmp_path: Path):
    """Factory for a fast quick-start config on the tiny dataset, writing under ``tmp_path``."""

    def make(**overrides: Any) -> RunConfig:
        base = {
            "task.dataset": TINY_DATASET,
            "base_training.epochs": 3,
            "base_training.batch_size": 32,
            "finetune.epochs": 1,
            "finetune.batch_size": 32,
            "results_dir": str(tmp_path / "results"),
        }
        return load_preset("quickstart", {**base, **overrides})

    return make


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server on loopback for the whole session (skips with the reason where none can start)."""
    from tests.postgres import PostgresServer

    server = PostgresServer()
    reason = server.start()
    if reason:
        server.stop()
        pytest.skip(reason)
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path: Path) -> str:
    """An empty store: SQLite in ``tmp_path``, and the same test again on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        (tmp_path / "results").mkdir(exist_ok=True)
        return f"sqlite:///{tmp_path / 'results' / 'pruningbench.db'}"
    return request.getfixturevalue("postgres_server").new_database()


ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def start_worker():
    """Start ``pruningbench worker`` processes (one CPU thread per run); any still running at the end are killed."""
    started: list[subprocess.Popen] = []

    def start(url: str, log: Path, *options: str) -> subprocess.Popen:
        command = [sys.executable, "-m", "pruningbench", "worker", "--db-url", url, "--threads", "1", *options]
        with log.open("ab") as output:
            started.append(subprocess.Popen(command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT))
        return started[-1]

    yield start
    for worker in started:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


