"""Workers as real processes on one store: parallel runs equal serial ones, a killed worker's task is requeued and
finishes, a cancelled run stops within seconds, a crashing run never takes its worker down."""

import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from pruningbench.execution.queue import TaskQueue
from pruningbench.store import ResultStore
from tests.helpers import assert_same_results, serial_records

SUITE = [
    ("MagnitudeL1", None, 2.0),
    ("MagnitudeL1", None, 4.0),
    ("MagnitudeL2", None, 2.0),
    ("MagnitudeL2", None, 4.0),
    ("MagnitudeL2", "GroupNorm", 2.0),
    ("MagnitudeL2", "GroupNorm", 4.0),
]


def _suite(tiny_config, results_dir: Path):
    return [
        tiny_config(
            **{
                "method.importance": importance,
                "method.regularizer": regularizer,
                "prune.speedup": speedup,
                "sparsify.epochs": 1,
                "sparsify.batch_size": 32,
                "results_dir": str(results_dir),
            }
        )
        for importance, regularizer, speedup in SUITE
    ]


def _processes() -> dict[int, tuple[int, bytes]]:
    """Every live process: pid -> (parent pid, command line), from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if fields[0] != "Z":
                    found[int(entry.name)] = (int(fields[1]), (entry / "cmdline").read_bytes())
            except OSError:
                continue
    return found


def _children(worker: int) -> list[int]:
    """The run processes of worker ``worker``: the children of its fork server."""
    processes = _processes()
    servers = {pid for pid, (parent, command) in processes.items() if parent == worker and b"forkserver" in command}
    return [pid for pid, (parent, _) in processes.items() if parent in servers]


def _alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _in_finetune(queue: TaskQueue, task_id: int, epoch: int = 2):
    task = queue.get(task_id)
    return task.state == "running" and (task.stage or "").startswith("finetune") and (task.epoch or 0) >= epoch


def test_three_workers_run_a_suite_as_a_serial_run_would_and_build_shared_stages_once(
    store_url, tiny_config, tmp_path, start_worker
):
    store = ResultStore(store_url)
    configs = _suite(tiny_config, tmp_path / "parallel")
    TaskQueue(store.database).enqueue(configs)
    logs = [tmp_path / f"worker-{index}.log" for index in range(3)]
    workers = [start_worker(store_url, log, "--idle-exit") for log in logs]
    for worker in workers:
        assert worker.wait(timeout=600) == 0
    tasks = TaskQueue(store.database).tasks()
    assert {task.state for task in tasks} == {"done"}, [(task.id, task.state, task.error) for task in tasks]
    parallel = store.records()
    serial = serial_records(_suite(tiny_config, tmp_path / "serial"), tmp_path / "serial")  # as each worker's runs
    assert_same_results(parallel, serial)
    text = "".join(log.read_text() for log in logs)
    assert text.count("base model: training") == 1  # trained by one run; the other five waited, then loaded it
    assert text.count("sparsify: GroupNorm for") == 1
    assert len({record.base_train_time for record in parallel}) == 1


def test_a_killed_worker_s_task_is_requeued_and_every_run_is_stored_once(tiny_config, tmp_path, start_worker):
    url = f"sqlite:///{tmp_path / 'pruningbench.db'}"
    store = ResultStore(url)
    queue = TaskQueue(store.database)
    long_id, short_id = queue.enqueue([tiny_config(**{"finetune.epochs": 30}), tiny_config(seed=1)])
    first = start_worker(url, tmp_path / "first.log", "--stale-after", "3")
    _wait_for(lambda: _in_finetune(queue, long_id), 300, "the first run to be finetuning")
    (child,) = _children(first.pid)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    _wait_for(lambda: not _alive(child), 10, "the run process to die with its worker")
    assert queue.get(long_id).state == "running"  # nobody knows yet
    time.sleep(3.5)  # its heartbeat is stale now
    second = start_worker(url, tmp_path / "second.log", "--stale-after", "3", "--idle-exit")
    assert second.wait(timeout=600) == 0
    tasks = {task.id: task for task in queue.tasks()}
    assert (tasks[long_id].state, tasks[long_id].attempts) == ("done", 2)
    assert tasks[short_id].state == "done"
    records = store.records()
    assert sorted(r.run_key for r in records) == sorted({tasks[long_id].run_key, tasks[short_id].run_key})
    with sqlite3.connect(tmp_path / "pruningbench.db") as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_cancelling_a_running_task_ends_it_within_ten_seconds_and_its_process(tiny_config, tmp_path, start_worker):
    url = f"sqlite:///{tmp_path / 'pruningbench.db'}"
    queue = TaskQueue(ResultStore(url).database)
    (task_id,) = queue.enqueue([tiny_config(**{"finetune.epochs": 500})])
    worker = start_worker(url, tmp_path / "worker.log")
    try:
        _wait_for(lambda: _in_finetune(queue, task_id, epoch=1), 300, "the run to be finetuning")
        (child,) = _children(worker.pid)
        started = time.monotonic()
        queue.cancel(task_id)
        _wait_for(lambda: queue.get(task_id).state == "cancelled" and not _alive(child), 10, "the cancel")
        assert time.monotonic() - started < 10
        assert worker.poll() is None  # the worker carries on
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    assert ResultStore(url).records() == []  # nothing half-written


def test_a_crashing_or_failing_run_never_takes_its_worker_down(tiny_config, tmp_path, start_worker):
    url = f"sqlite:///{tmp_path / 'pruningbench.db'}"
    queue = TaskQueue(ResultStore(url).database)
    empty = tmp_path / "no-cifar-here"
    empty.mkdir()
    killed, failing, fine = queue.enqueue(
        [
            tiny_config(**{"finetune.epochs": 500}),
            tiny_config(**{"task.dataset": "cifar100", "task.data_root": str(empty)}),
            tiny_config(seed=3),
        ]
    )
    worker = start_worker(url, tmp_path / "worker.log", "--idle-exit")
    _wait_for(lambda: _in_finetune(queue, killed, epoch=1), 300, "the first run to be finetuning")
    for child in _children(worker.pid):
        os.kill(child, signal.SIGKILL)  # what the out-of-memory killer does
    assert worker.wait(timeout=600) == 0
    tasks = {task.id: task for task in queue.tasks()}
    assert tasks[killed].state == "failed" and "killed by signal 9" in tasks[killed].error
    assert tasks[failing].state == "failed" and "cifar" in tasks[failing].error.lower()
    assert "\n" not in tasks[failing].error  # a user error is kept as its one line
    assert tasks[fine].state == "done" and tasks[fine].run_id is not None


@pytest.mark.parametrize("action", ["list", "cancel", "retry", "clear"])
def test_the_queue_command(action, tiny_config, tmp_path, monkeypatch, capsys):
    from tests.test_cli import _cli

    url = f"sqlite:///{tmp_path / 'pruningbench.db'}"
    queue = TaskQueue(ResultStore(url).database)
    first, second = queue.enqueue([tiny_config(), tiny_config(seed=1)])
    queue.cancel(second)
    argument = {"list": [], "cancel": [str(first)], "retry": [str(second)], "clear": []}[action]
    code, out, err = _cli(monkeypatch, capsys, "queue", action, *argument, "--db-url", url)
    assert code == 0, err
    states = {task.id: task.state for task in queue.tasks()}
    expected = {
        "list": {first: "queued", second: "cancelled"},
        "cancel": {first: "cancelled", second: "cancelled"},
        "retry": {first: "queued", second: "queued"},
        "clear": {first: "queued"},
    }[action]
    assert states == expected
    if action == "list":
        assert "1 queued" in out and "resnet8_quick · MagnitudeL2 · 2x · seed 1" in out
