"""Data-parallel training with torchrun: a training stage (base training, sparsifying, finetuning) run by a
recipe's ``nproc`` processes instead of one.

The run's own process prunes (pruning happens once, never inside the ranks), saves the model in the safe format and
starts ``torch.distributed.run`` with ``nproc`` processes on this machine (NCCL, one GPU each, on CUDA; gloo on
CPU). Each rank loads the model, builds the task's data sharded so that the ranks together see each global batch of
``batch_size`` exactly as one process would, and trains with gradients averaged across ranks (DDP; SyncBatchNorm on
GPUs). Rank 0 alone reports progress, writes the stage's epoch checkpoints (every rank resumes from them) and hands
the trained weights back; the run's process loads them and goes on.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from torch import nn

from pruningbench.checkpoint import atomic_save, load_pruned, save_pruned
from pruningbench.config import Recipe, RunConfig, SparsifyConfig, parse_config
from pruningbench.errors import UserError

__all__ = ["check_devices", "train_distributed"]

log = logging.getLogger(__name__)


def check_devices(nproc: int, device: torch.device) -> None:
    """Refuse more data-parallel processes than the machine has GPUs (CUDA) or CPU cores (gloo)."""
    if nproc == 1:
        return
    if device.type == "cuda" and nproc > torch.cuda.device_count():
        raise UserError(f"nproc {nproc} is more than the {torch.cuda.device_count()} visible GPU(s)")
    if device.type == "cpu" and nproc > (os.cpu_count() or 1):
        raise UserError(f"nproc {nproc} is more than the {os.cpu_count()} CPU core(s) (one gloo process per core)")


def train_distributed(
    model: nn.Module,
    config: RunConfig,
    recipe: Recipe,
    seed: int,
    desc: str,
    device: torch.device,
    input_shape: tuple[int, int, int],
    num_classes: int,
    regularized: bool = False,
    checkpoint: Path | None = None,
) -> float:
    """Train ``model`` in place with ``recipe.nproc`` torchrun processes; the training seconds (rank 0's)."""
    check_devices(recipe.nproc, device)
    with tempfile.TemporaryDirectory(prefix="pruningbench-ddp-") as folder:
        work = Path(folder)
        save_pruned(model, work / "model.pt", config.task.model, num_classes, input_shape[0], input_shape[-1])
        spec = {
            "config": config.model_dump(mode="json"),
            "recipe": recipe.model_dump(mode="json"),
            "seed": seed,
            "desc": desc,
            "device": device.type,
            "threads": max(1, torch.get_num_threads() // recipe.nproc),
            "regularized": regularized,
            "checkpoint": None if checkpoint is None else str(checkpoint),
            "model": str(work / "model.pt"),
            "out": str(work / "trained.pt"),
        }
        (work / "spec.json").write_text(json.dumps(spec))
        command = [
            sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={recipe.nproc}",
            "-m", "pruningbench.execution.distributed", str(work / "spec.json"),
        ]  # fmt: skip
        log.info("%s: %d data-parallel processes (torchrun)", desc, recipe.nproc)
        with open(work / "torchrun.log", "w+") as output:
            finished = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, check=False)
            if finished.returncode != 0:
                output.seek(0)
                tail = output.read()[-3000:]
                raise RuntimeError(f"{desc}: torchrun exited with {finished.returncode}; its output ends:\n{tail}")
        trained = torch.load(work / "trained.pt", map_location=device, weights_only=True)
    model.load_state_dict(trained["state_dict"])
    return float(trained["seconds"])


def _rank_main(spec_path: Path) -> None:
    """One torchrun process: load the model and the task, train this rank's share, and (rank 0) save the result."""
    import torch.distributed as dist

    from pruningbench.methods.importance import create_criterion
    from pruningbench.methods.regularizers import create_regularizer
    from pruningbench.pipeline.sparsify import regularizer_context
    from pruningbench.pipeline.workload import workload_for
    from pruningbench.registry import load_plugins

    spec = json.loads(spec_path.read_text())
    local_rank = int(os.environ["LOCAL_RANK"])
    if spec["device"] == "cuda":
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
        torch.set_num_threads(spec["threads"])
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        load_plugins()
        config = parse_config(spec["config"], "data-parallel stage")
        recipe = (SparsifyConfig if spec["regularized"] else Recipe).model_validate(spec["recipe"])
        model = load_pruned(Path(spec["model"])).to(device)
        workload = workload_for(config, device)
        regularizer = None
        if spec["regularized"]:  # rebuilt here exactly as the run's process built it (same groups, same marks)
            assert config.method.regularizer is not None and config.sparsify is not None
            regularizer = create_regularizer(config.method.regularizer, config.sparsify)
            needs_data = regularizer.marks_channels and create_criterion(config.method.importance).calibrated
            calibration = workload.calibration(config.calibration, config.seed) if needs_data else None
            example = torch.zeros(1, *workload.input_shape, device=device)
            regularizer.attach(regularizer_context(model, config, example, regularizer, calibration))
        checkpoint = None if spec["checkpoint"] is None else Path(spec["checkpoint"])
        seconds = workload.train(model, recipe, spec["seed"], spec["desc"], regularizer, checkpoint)
        if dist.get_rank() == 0:
            state = {key: value.detach().cpu() for key, value in model.state_dict().items()}
            atomic_save({"state_dict": state, "seconds": seconds}, Path(spec["out"]))
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    _rank_main(Path(sys.argv[1]))
