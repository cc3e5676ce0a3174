"""Calibration batches side by side on a CPU: every result, in batch order, from workers running torch on one thread."""

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from pruningbench.methods.importance.calibration import batch_parallel, single_threaded_workers


@pytest.fixture
def two_torch_threads() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


def _calibration(count: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(torch.full((4, 3, 2, 2), float(index)), torch.zeros(4, dtype=torch.long)) for index in range(count)]


def _where_it_ran(position: int, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[float, int, int]:
    assert batch[0][0, 0, 0, 0].item() == position
    return position, threading.get_ident(), torch.get_num_threads()


def test_batches_run_on_single_threaded_workers_and_come_back_in_order(two_torch_threads):
    results = list(batch_parallel(_where_it_ran, _calibration(9), "test"))
    assert [value for value, _, _ in results] == list(range(9))
    assert threading.get_ident() not in {thread for _, thread, _ in results}
    assert {threads for _, _, threads in results} == {1}
    assert torch.get_num_threads() == 2  # the caller's count is unchanged
    with ThreadPoolExecutor(1) as later:  # and threads started afterwards take it again
        assert later.submit(torch.get_num_threads).result() == 2


def test_with_one_torch_thread_the_batches_run_in_the_callers_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        results = list(batch_parallel(_where_it_ran, _calibration(3), "test"))
    finally:
        torch.set_num_threads(threads)
    assert [(value, thread) for value, thread, _ in results] == [(i, threading.get_ident()) for i in range(3)]


def test_every_worker_is_single_threaded_before_the_pool_is_handed_over(two_torch_threads):
    with single_threaded_workers(3) as workers:
        barrier = threading.Barrier(3, timeout=10)  # three tasks at once: one on each worker

        def count(_: int) -> tuple[int, int]:
            barrier.wait()
            return threading.get_ident(), torch.get_num_threads()

        seen = list(workers.map(count, range(3)))
    assert len({thread for thread, _ in seen}) == 3 and {threads for _, threads in seen} == {1}
    assert torch.get_num_threads() == 2
