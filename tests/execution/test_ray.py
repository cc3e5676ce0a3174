"""The Ray executor on a real local Ray cluster (head + 2 worker nodes) in a network namespace with only loopback:
the same results as a serial run, a worker node killed mid-suite, a results directory the workers cannot see, and
an unreachable RAY_ADDRESS. Needs root (``unshare``), as CI runs; skipped with the reason elsewhere."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pruningbench.store import ResultStore
from pruningbench.suite import load_suite
from tests.helpers import assert_same_results, serial_records

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def cluster_suite(tmp_path_factory):
    """Run tests/execution/ray_cluster.py once inside ``unshare -n``; its out.json and work folder."""
    pytest.importorskip("ray", reason="pip install 'pruningbench[ray]' (make test does it)")
    if os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("ip")):
        pytest.skip("the Ray cluster test runs in its own network namespace: needs root, unshare and ip")
    work = tmp_path_factory.mktemp("ray")
    script = f'ip link set lo up && exec "{sys.executable}" -m tests.execution.ray_cluster "{work}"'
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    finished = subprocess.run(["unshare", "-n", "sh", "-c", script], cwd=ROOT, env=env, timeout=900,
                              capture_output=True, text=True)
    assert (work / "out.json").is_file(), finished.stderr[-3000:]
    return json.loads((work / "out.json").read_text()), work


def test_a_six_run_suite_on_the_cluster_stores_what_a_serial_run_stores(cluster_suite, tmp_path):
    out, work = cluster_suite
    assert out["returncode"] == 0, out["stderr"][-3000:]
    configs = load_suite(str(work / "suite.yaml")).expand({"results_dir": str(tmp_path / "serial")})
    # each node has 1 CPU, so its runs used one thread
    assert_same_results(ResultStore.in_dir(work / "results").records(), serial_records(configs, tmp_path / "serial"))


def test_killing_a_worker_node_mid_suite_still_stores_every_run_once_and_trains_the_base_once(cluster_suite):
    out, work = cluster_suite
    assert out["killed_after"] == 2 and out["returncode"] == 0, out["stderr"][-3000:]
    records = ResultStore.in_dir(work / "results").records()
    assert len(records) == 6 and len({record.run_key for record in records}) == 6
    assert len({record.base_train_time for record in records}) == 1  # one base model, trained by one task
    assert len({record.reg_time for record in records if record.regularizer}) == 1  # one sparsified model
    (summary,) = [line for line in out["stdout"].splitlines() if line.startswith("suite on Ray: done")]
    assert summary.endswith(", 6 runs stored")  # and none failed
    assert "will be retried" in out["stdout"]  # Ray's notice: a task on the killed node ran again elsewhere


def test_a_results_directory_the_workers_cannot_see_is_refused_in_one_line(cluster_suite):
    out, work = cluster_suite
    hidden = out["unshared"]
    assert hidden["returncode"] == 2
    lines = [line for line in hidden["stderr"].splitlines() if line.startswith("error:")]
    assert lines == [f"error: --results-dir '{work / 'private' / 'results'}' is not shared with the Ray workers (a "
                     "file a worker wrote there is not visible here): put it on a file system every node mounts at "
                     "the same path"]


def test_an_unreachable_ray_address_is_one_line_and_exit_2(tmp_path):
    pytest.importorskip("ray", reason="pip install 'pruningbench[ray]' (make test does it)")
    command = [sys.executable, "-m", "pruningbench", "bench", "quickstart", "--executor", "ray", "--results-dir",
               str(tmp_path)]
    result = subprocess.run(command, cwd=ROOT, env={**os.environ, "RAY_ADDRESS": "127.0.0.1:1"},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr == "error: cannot connect to RAY_ADDRESS '127.0.0.1:1': Connection refused\n"
