"""What the queue costs per run, beside the run itself: claim + child process start + store round trips.

Every task's run is already stored, so its child process does nothing but start (a fresh interpreter importing
torch and pruningbench), open the store, find the stored record and end the task: the time from claim to finish
is the queue's overhead per run. Also timed in-process: one claim transaction and one heartbeat write.

    python benchmarks/queue_overhead.py [--tasks 10] [--db-url URL]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pruningbench.config import load_preset  # noqa: E402
from pruningbench.execution.queue import TaskQueue  # noqa: E402
from pruningbench.store import ResultStore  # noqa: E402
from tests.helpers import make_record  # noqa: E402


def _median_ms(action, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--db-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.db_url or f"sqlite:///{Path(folder) / 'pruningbench.db'}"
        store = ResultStore(url)
        queue = TaskQueue(store.database)
        configs = [load_preset("quickstart", {"seed": 1000 + i, "results_dir": folder}) for i in range(args.tasks)]
        for config in configs:
            store.add(make_record(run_id=f"bench-{config.seed}", run_key=config.run_key()))
        ids = queue.enqueue(configs)
        worker = [sys.executable, "-m", "pruningbench", "worker", "--db-url", url, "--idle-exit", "--threads", "1"]
        started = time.perf_counter()
        subprocess.run(worker, cwd=ROOT, check=True, capture_output=True)
        wall = time.perf_counter() - started
        tasks = queue.tasks(ids)
        assert all(task.state == "done" for task in tasks), [t.error for t in tasks]
        per_run = [(task.finished_at - task.started_at).total_seconds() for task in tasks]

        probes = queue.enqueue([load_preset("quickstart", {"seed": 5000 + i}) for i in range(50)])
        claim_ms = _median_ms(lambda: queue.claim("probe"), len(probes))
        beat_ms = _median_ms(lambda: queue.heartbeat("probe"), 50)
    print(f"store: {url.split(':')[0]}, {args.tasks} tasks through one worker (1 slot), {wall:.1f} s wall")
    print(
        f"per run, claim -> finished: median {statistics.median(per_run):.2f} s "
        f"(min {min(per_run):.2f}, max {max(per_run):.2f})"
    )
    print(f"claim transaction: median {claim_ms:.1f} ms; heartbeat write: median {beat_ms:.1f} ms")


if __name__ == "__main__":
    main()
