"""The queue's rules, on SQLite and on a real PostgreSQL server: claims, priorities, cancel, retry, stale workers,
shared-stage claims, and many processes claiming or storing at once."""

import multiprocessing
import time

import pytest

from pruningbench.execution.queue import TaskQueue
from pruningbench.store import ResultStore
from tests.helpers import make_record


@pytest.fixture
def queue(store_url: str) -> TaskQueue:
    return TaskQueue(ResultStore(store_url).database)


def _configs(tiny_config, count: int):
    return [tiny_config(seed=seed) for seed in range(count)]


def test_tasks_are_claimed_by_priority_then_age_and_once(queue, tiny_config):
    low = queue.enqueue(_configs(tiny_config, 2))
    (high,) = queue.enqueue([tiny_config(seed=7)], priority=5)
    claimed = [queue.claim("w1"), queue.claim("w2"), queue.claim("w1")]
    assert [task.id for task in claimed] == [high, *low]
    assert all(task.state == "running" and task.attempts == 1 for task in claimed)
    assert [task.worker for task in claimed] == ["w1", "w2", "w1"]
    assert queue.claim("w3") is None


def test_a_config_already_queued_is_not_queued_twice(queue, tiny_config):
    first = queue.enqueue(_configs(tiny_config, 2))
    again = queue.enqueue(_configs(tiny_config, 3))
    assert again[:2] == first and again[2] not in first
    assert len(queue.tasks()) == 3


def test_cancel_retry_and_clear(queue, tiny_config):
    queued, running = queue.enqueue(_configs(tiny_config, 2))
    assert queue.claim("w").id == queued
    assert queue.cancel(running) == "cancelled"  # still queued: cancelled at once
    assert queue.cancel(queued) == "running"  # running: its run is told to stop
    assert queue.report(queued, 1, "finetune", 1, 3, 0.2, 10.0) is True
    assert queue.finish(queued, 1, "cancelled")
    queue.retry(queued)
    retried = queue.get(queued)
    assert (retried.state, retried.attempts, retried.cancel_requested) == ("queued", 0, False)
    assert queue.clear() == 1 and [task.id for task in queue.tasks()] == [queued]
    with pytest.raises(Exception, match="only failed or cancelled tasks can be retried"):
        queue.retry(queued)


def test_progress_is_written_only_for_the_current_attempt(queue, tiny_config):
    (task_id,) = queue.enqueue(_configs(tiny_config, 1))
    queue.claim("w")
    assert queue.report(task_id, 1, "finetune", 2, 3, 0.5, 4.0) is False
    task = queue.get(task_id)
    assert (task.stage, task.epoch, task.epochs, task.fraction, task.eta_s) == ("finetune", 2, 3, 0.5, 4.0)
    assert queue.report(task_id, 2, "prune", None, None, 0.0, None) is True  # not its attempt: stop
    assert queue.finish(task_id, 2, "done") is False and queue.get(task_id).state == "running"


def test_a_worker_that_stops_heartbeating_loses_its_task_until_the_attempts_run_out(queue, tiny_config):
    (task_id,) = queue.enqueue(_configs(tiny_config, 1), max_attempts=2)
    for attempt in (1, 2):
        claimed = queue.claim("gone")
        assert claimed.id == task_id and claimed.attempts == attempt
        assert queue.requeue_stale(stale_after_s=60) == []  # heartbeat is fresh
        time.sleep(1.1)
        assert queue.requeue_stale(stale_after_s=1) == [task_id]
    task = queue.get(task_id)
    assert task.state == "failed" and "stopped heartbeating (attempt 2 of 2)" in task.error


def test_a_shared_stage_is_claimed_by_one_attempt_until_it_ends(queue, tiny_config):
    first, second = queue.enqueue(_configs(tiny_config, 2))
    queue.claim("w1"), queue.claim("w2")
    assert queue.claim_stage("base model k", first, 1)
    assert queue.claim_stage("base model k", first, 1)  # already ours
    assert not queue.claim_stage("base model k", second, 1)
    queue.release_stage("base model k", first, 1)
    assert queue.claim_stage("base model k", second, 1)
    assert not queue.claim_stage("base model k", first, 1)
    queue.finish(second, 1, "failed", error="boom")  # its holder ended: the claim goes with it
    assert queue.claim_stage("base model k", first, 1)


def _claim_all(url: str, worker: str, results) -> None:
    queue = TaskQueue(ResultStore(url).database)
    claimed = []
    while (task := queue.claim(worker)) is not None:
        claimed.append(task.id)
    results.put(claimed)


def test_four_processes_claim_every_task_exactly_once(queue, store_url, tiny_config):
    configs = [tiny_config(seed=seed) for seed in range(120)]
    ids = queue.enqueue(configs)
    context = multiprocessing.get_context("fork")  # the children only talk to the store
    results = context.Queue()
    processes = [context.Process(target=_claim_all, args=(store_url, f"w{i}", results)) for i in range(4)]
    for process in processes:
        process.start()
    claimed = [task for _ in processes for task in results.get(timeout=120)]
    for process in processes:
        process.join(timeout=60)
    assert sorted(claimed) == sorted(ids)  # none lost, none twice


def _claim_stages(url: str, task_id: int, keys: list[str], results) -> None:
    queue = TaskQueue(ResultStore(url).database)
    results.put((task_id, [key for key in keys if queue.claim_stage(key, task_id, 1)]))


def test_four_processes_racing_for_the_same_new_stages_get_one_winner_each(queue, store_url, tiny_config):
    ids = queue.enqueue(_configs(tiny_config, 4))
    for worker in range(4):
        queue.claim(f"w{worker}")
    keys = [f"sparsified model {number}" for number in range(40)]
    context = multiprocessing.get_context("fork")  # the children only talk to the store
    results = context.Queue()
    processes = [context.Process(target=_claim_stages, args=(store_url, task, keys, results)) for task in ids]
    for process in processes:
        process.start()
    won = dict(results.get(timeout=120) for _ in processes)
    for process in processes:
        process.join(timeout=60)
    assert [process.exitcode for process in processes] == [0] * 4  # a lost race is "taken", never a crash
    assert sorted(key for keys_won in won.values() for key in keys_won) == sorted(keys)  # one winner per stage


def _store_records(url: str, index: int, count: int) -> None:
    store = ResultStore(url)
    for number in range(count):
        shared = number % 2 == 0  # every other run is stored by every process: one row in the end
        key = f"shared-{number}" if shared else f"own-{index}-{number}"
        store.add(make_record(run_id=f"{index}-{number}", run_key=key, pruned=float(number)))


def test_four_processes_storing_at_once_lose_and_duplicate_nothing(store_url):
    ResultStore(store_url)
    context = multiprocessing.get_context("fork")  # the children only talk to the store
    processes = [context.Process(target=_store_records, args=(store_url, i, 30)) for i in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [process.exitcode for process in processes] == [0] * 4  # no "database is locked", no duplicate key
    keys = sorted(record.run_key for record in ResultStore(store_url).records())
    shared = {f"shared-{n}" for n in range(0, 30, 2)}
    expected = sorted(shared | {f"own-{i}-{n}" for i in range(4) for n in range(1, 30, 2)})
    assert keys == expected


def test_a_free_slot_takes_other_work_while_a_base_model_is_being_built(queue, tiny_config):
    from pruningbench.pipeline.base_model import base_stage_key

    building, waiting = queue.enqueue([tiny_config(seed=0), tiny_config(seed=1)])  # one base model
    (other,) = queue.enqueue([tiny_config(base_seed=5)])  # another base model, queued last
    assert queue.claim("w1").id == building
    assert queue.claim_stage(base_stage_key(tiny_config()), building, 1)
    assert queue.claim("w2").id == other  # not the run that would only wait
    assert queue.claim("w3").id == waiting
