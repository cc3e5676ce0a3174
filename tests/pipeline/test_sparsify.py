"""The sparsifying stage: cached per what determines it, Reg Time reported on reuse, resumable after a kill."""

import math

import pytest
import torch

import pruningbench.pipeline as pipeline
import pruningbench.pipeline.workload as workload
from pruningbench.methods.regularizers.growing_reg import GrowingReg
from pruningbench.pipeline.base_model import obtain_base_model
from pruningbench.pipeline.sparsify import sparsify
from pruningbench.pipeline.workload import workload_for
from pruningbench.store import ResultStore

CPU = torch.device("cpu")
SPARSIFY = {"sparsify.epochs": 2, "sparsify.batch_size": 64, "sparsify.reg": 0.01, "sparsify.delta_reg": 0.01}


def _sparsified(config):
    work = workload_for(config, CPU)
    model = obtain_base_model(config, work, CPU).model
    reg_time = sparsify(model, config, work, CPU, None)
    return model, reg_time


@pytest.mark.parametrize("recipe", [{}, {"sparsify.optimizer": "adamw", "sparsify.mixup": 0.2, "sparsify.cutmix": 1.0}],
                         ids=["sgd", "adamw-mixup-cutmix"])
def test_interrupted_sparsifying_resumes_and_ends_with_the_uninterrupted_weights(
    tiny_config, tmp_path, monkeypatch, recipe
):
    overrides = {**SPARSIFY, **recipe, "method.regularizer": "GrowingReg"}
    uninterrupted, _ = _sparsified(tiny_config(**overrides, results_dir=str(tmp_path / "a")))

    config = tiny_config(**overrides, results_dir=str(tmp_path / "b"))
    steps_per_epoch = math.ceil(512 / 64)
    calls = []
    original_apply = GrowingReg.apply

    def killed_in_epoch_two(self):
        calls.append(1)
        if len(calls) > steps_per_epoch:
            raise KeyboardInterrupt
        original_apply(self)

    monkeypatch.setattr(GrowingReg, "apply", killed_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        _sparsified(config)
    assert list((config.results_dir / "cache" / "sparse").glob("*.partial.pt"))

    calls.clear()
    monkeypatch.setattr(GrowingReg, "apply", lambda self: (calls.append(1), original_apply(self))[1])
    resumed, reg_time = _sparsified(config)
    assert len(calls) == steps_per_epoch  # only epoch 2 was trained again
    assert reg_time > 0
    for (name, expected), actual in zip(uninterrupted.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(expected, actual), name
    assert not list((config.results_dir / "cache" / "sparse").glob("*.partial.pt"))


def test_sparsified_model_is_shared_by_runs_and_reg_time_reported_on_reuse(tiny_config, monkeypatch):
    first = tiny_config(**SPARSIFY, **{"method.regularizer": "GroupLASSO", "prune.speedup": 2})
    store = ResultStore.in_dir(first.results_dir)
    record = pipeline.run_experiment(first, store)
    assert record.regularizer == "GroupLASSO" and record.reg_time > 0

    trained = []
    original_train = workload.train
    monkeypatch.setattr(workload, "train", lambda *a, **k: (trained.append(k["desc"]), original_train(*a, **k))[1])
    other_target = tiny_config(**SPARSIFY, **{"method.regularizer": "GroupLASSO", "prune.speedup": 4})
    other_criterion = tiny_config(**SPARSIFY, **{"method.regularizer": "GroupLASSO", "method.importance": "BNScale"})
    for config in (other_target, other_criterion):
        again = pipeline.run_experiment(config, store)
        assert again.reg_time == record.reg_time
    assert not [desc for desc in trained if desc.startswith("sparsify")]  # both reused the cached sparsified model


def test_growing_reg_models_depend_on_the_target_others_do_not(tiny_config):
    def key(regularizer, **changes):
        config = tiny_config(**{**SPARSIFY, "method.regularizer": regularizer, **changes})
        return config.sparse_key(regularizer == "GrowingReg")

    assert key("GrowingReg", **{"prune.speedup": 2}) != key("GrowingReg", **{"prune.speedup": 4})
    assert key("GroupNorm", **{"prune.speedup": 2}) == key("GroupNorm", **{"prune.speedup": 4})
    assert key("GroupNorm", **{"sparsify.reg": 0.1}) != key("GroupNorm")
