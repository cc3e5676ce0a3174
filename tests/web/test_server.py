"""The server as a process: it serves many readers at once, and a restart loses nothing (runs live in the store and
the workers, never in the web process)."""

import shutil
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from pruningbench.store import ResultStore
from tests.plugin import TINY_DATASET


def test_fifty_concurrent_leaderboard_requests_all_succeed(live_server, stored_runs, tmp_path):
    shutil.copytree(stored_runs, tmp_path / "results")
    server = live_server()
    with httpx.Client(timeout=120) as client, ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(
            pool.map(lambda _: client.get(f"{server.url}/boards", headers={"accept": "text/html"}), range(50))
        )
    assert [response.status_code for response in responses] == [200] * 50
    assert all(response.text.count('class="board-title"') == 2 for response in responses)


def test_killing_the_server_mid_run_loses_nothing(live_server, start_worker, tmp_path):
    server = live_server()
    body = {
        "preset": "quickstart",
        "values": {"task.dataset": TINY_DATASET, "base_training.epochs": 1, "finetune.epochs": 12},
    }
    headers = {"authorization": f"Bearer {server.admin}"}
    (task_id,) = httpx.post(f"{server.url}/api/tasks", json=body, headers=headers, timeout=60).json()["tasks"]
    worker = start_worker(
        f"sqlite:///{tmp_path / 'results' / 'pruningbench.db'}", tmp_path / "worker.log", "--idle-exit"
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        task = httpx.get(f"{server.url}/api/tasks", timeout=30).json()[0]
        if task["state"] == "running" and (task["stage"] or "").startswith("finetune"):
            break
        time.sleep(0.3)
    server.kill()  # mid-finetune
    assert worker.wait(timeout=300) == 0
    restarted = live_server()
    assert restarted.admin is None  # the admin token exists already: not printed again
    (task,) = httpx.get(f"{restarted.url}/api/tasks", timeout=30).json()
    assert task["id"] == task_id and task["state"] == "done"
    (board,) = httpx.get(f"{restarted.url}/api/boards", timeout=60).json()
    assert board["rows"][0]["run_ids"] == [task["run_id"]]
    assert len(ResultStore.in_dir(tmp_path / "results").records()) == 1
