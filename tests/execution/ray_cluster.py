"""A real Ray cluster on loopback for the executor tests: head + 2 worker nodes (``ray.cluster_utils.Cluster``), a
6-run suite driven by ``pruningbench bench --executor ray`` in its own process, one worker node removed (its
processes killed) once two runs are stored, then a driver whose results directory the workers cannot see (a tmpfs
in the driver's own mount namespace). Run inside a network namespace with only loopback (the test does
``unshare -n``), so no traffic leaves the machine; writes ``out.json`` into the work folder given.

    python -m tests.execution.ray_cluster WORK_DIR
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from ray.cluster_utils import Cluster

from pruningbench.store import ResultStore

SUITE = """\
preset: quickstart
overrides:
  task.dataset: fashion_mnist_tiny
  base_training.epochs: 3
  base_training.batch_size: 32
  finetune.epochs: 1
  finetune.batch_size: 32
  sparsify.epochs: 1
  sparsify.batch_size: 32
  resources.memory_gb: 1
methods:
  - {importance: MagnitudeL1}
  - {importance: MagnitudeL2}
  - {importance: MagnitudeL2, regularizer: GroupNorm}
speedups: [2, 4]
"""
NODE = {"num_cpus": 1, "memory": 2 * 2**30, "object_store_memory": 100 * 2**20}
KILL_AFTER = 2  # stored runs before a worker node is removed


def main(work: Path) -> None:
    suite, results = work / "suite.yaml", work / "results"
    suite.write_text(SUITE)
    started = time.monotonic()
    head = {"num_cpus": 0, "memory": 2**30, "object_store_memory": 100 * 2**20, "include_dashboard": False}
    cluster = Cluster(initialize_head=True, head_node_args=head)
    workers = [cluster.add_node(**NODE) for _ in range(2)]
    cluster.wait_for_nodes()
    startup_s = time.monotonic() - started
    out: dict = {"startup_s": startup_s, "killed_after": None}
    try:
        env = {**os.environ, "RAY_ADDRESS": cluster.address}
        command = [sys.executable, "-m", "pruningbench", "bench", str(suite), "--executor", "ray",
                   "--results-dir", str(results)]
        suite_started = time.monotonic()
        driver = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while driver.poll() is None and out["killed_after"] is None:
            stored = len(ResultStore.in_dir(results).records()) if (results / "pruningbench.db").is_file() else 0
            if stored >= KILL_AFTER:
                cluster.remove_node(workers[0])  # its raylet and workers are killed, mid-run
                out["killed_after"] = stored
            time.sleep(0.5)
        stdout, stderr = driver.communicate(timeout=480)
        out |= {"returncode": driver.returncode, "stdout": stdout, "stderr": stderr,
                "suite_s": time.monotonic() - suite_started}
        # A driver whose results directory the workers cannot see: a tmpfs mounted in its own mount namespace.
        private = work / "private"
        private.mkdir()
        hidden = subprocess.run(
            ["unshare", "-m", "sh", "-c", f'mount -t tmpfs tmpfs "{private}" && exec "$@"', "sh", *command[:-1],
             str(private / "results")],
            env=env, capture_output=True, text=True, timeout=300,
        )
        out["unshared"] = {"returncode": hidden.returncode, "stderr": hidden.stderr}
    finally:
        cluster.shutdown()
        (work / "out.json").write_text(json.dumps(out))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
