"""Data-parallel training with torchrun, for real: two gloo processes on the CPU."""

import copy
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import pruningbench.pipeline as pipeline
from pruningbench.checkpoint import load_pruned
from pruningbench.errors import UserError
from pruningbench.models import create_model
from pruningbench.pipeline.hooks import RunHooks, using_hooks
from pruningbench.pipeline.workload import workload_for
from pruningbench.store import ResultStore

CPU = torch.device("cpu")


def test_two_processes_train_the_weights_one_process_trains_with_the_same_global_batch(tiny_config):
    config = tiny_config(**{"task.model": "tiny_convnet_nobn", "task.data_on_device": True})
    workload = workload_for(config, CPU)
    recipe = config.finetune.model_copy(update={"epochs": 1, "batch_size": 32})  # 512 images: 16 steps
    torch.manual_seed(0)
    alone = create_model("tiny_convnet_nobn", num_classes=10, in_channels=1)
    together = copy.deepcopy(alone)
    workload.train(alone, recipe, seed=3, desc="one process")
    seconds = workload.train(together, recipe.model_copy(update={"nproc": 2}), seed=3, desc="two processes")
    assert seconds > 0
    changed = False
    for (name, a), b in zip(alone.state_dict().items(), together.state_dict().values(), strict=True):
        torch.testing.assert_close(b, a, atol=1e-4, rtol=0, msg=name)
        changed |= not torch.equal(a, create_model("tiny_convnet_nobn", 10, 1).state_dict()[name])
    assert changed


class _StopAtEpochTwo(RunHooks):
    def progress(self, stage: str, epoch: int | None = None, epochs: int | None = None, fraction: float = 0.0) -> None:
        if epoch == 2:
            raise KeyboardInterrupt


def test_a_stage_interrupted_alone_resumes_under_torchrun_from_its_checkpoint(tiny_config, tmp_path):
    config = tiny_config(**{"task.model": "tiny_convnet_nobn", "task.data_on_device": True})
    workload = workload_for(config, CPU)
    recipe = config.finetune.model_copy(update={"epochs": 2, "batch_size": 64})
    torch.manual_seed(0)
    start = create_model("tiny_convnet_nobn", num_classes=10, in_channels=1)
    uninterrupted, interrupted = copy.deepcopy(start), copy.deepcopy(start)
    workload.train(uninterrupted, recipe, seed=1, desc="uninterrupted")
    checkpoint = tmp_path / "stage.partial.pt"
    with using_hooks(_StopAtEpochTwo()), pytest.raises(KeyboardInterrupt):
        workload.train(interrupted, recipe, seed=1, desc="interrupted", checkpoint=checkpoint)
    assert torch.load(checkpoint, weights_only=True)["epoch"] == 1
    resumed = copy.deepcopy(start)
    workload.train(resumed, recipe.model_copy(update={"nproc": 2}), seed=1, desc="resumed", checkpoint=checkpoint)
    assert torch.load(checkpoint, weights_only=True)["epoch"] == 2  # rank 0 wrote the last epoch
    for (name, expected), got in zip(uninterrupted.state_dict().items(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(got, expected, atol=1e-4, rtol=0, msg=name)


def test_a_run_with_nproc_2_is_stored_and_its_pruned_model_reloads(tiny_config):
    config = tiny_config(**{"base_training.nproc": 2, "finetune.nproc": 2, "prune.speedup": 2})
    store = ResultStore.in_dir(config.results_dir)
    record = pipeline.run_experiment(config, store)
    assert store.records() == [record] and record.config["finetune"]["nproc"] == 2
    assert record.base_metric > 40 and 2.0 <= record.achieved_speedup <= 2.02
    model = load_pruned(config.results_dir / record.model_path)
    assert sum(p.numel() for p in model.parameters()) == record.params_after


def test_more_processes_than_cores_is_one_line(tiny_config):
    config = tiny_config(**{"finetune.nproc": 64, "finetune.batch_size": 64})
    with pytest.raises(UserError, match=r"^nproc 64 is more than the \d+ CPU core\(s\)"):
        workload_for(config, CPU)


def test_the_nproc_option_sets_every_stage_and_too_many_processes_exit_2(tmp_path):
    from pruningbench.config import load_preset

    config = load_preset("quickstart", {"nproc": 2})
    assert config.base_training.nproc == config.finetune.nproc == config.sparsify.nproc == 2
    command = [sys.executable, "-m", "pruningbench", "run", "--preset", "quickstart", "--nproc", "64",
               "--results-dir", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[2])
    assert result.returncode == 2
    assert re.fullmatch(r"error: nproc 64 is more than the \d+ CPU core\(s\) \(one gloo process per core\)\n",
                        result.stderr)
