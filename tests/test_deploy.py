"""Deployment export: the ONNX file passes onnx.checker and ONNX Runtime computes what PyTorch computes."""

import numpy as np
import pytest
import torch

from pruningbench.config import PruneConfig
from pruningbench.deploy import export_onnx
from pruningbench.methods.importance import create_criterion
from pruningbench.models import create_model
from pruningbench.pipeline.prune import prune_to_speedup

onnxruntime = pytest.importorskip("onnxruntime")


def test_an_exported_pruned_model_computes_what_pytorch_computes_at_any_batch(tmp_path):
    model = create_model("resnet8_quick", num_classes=10, in_channels=1)
    prune_to_speedup(model, create_criterion("MagnitudeL2"), torch.randn(1, 1, 28, 28), PruneConfig(speedup=4))
    exported = export_onnx(model, (1, 28, 28), tmp_path / "model.onnx")
    assert exported.max_abs_diff <= 1e-4
    session = onnxruntime.InferenceSession(str(exported.path), providers=["CPUExecutionProvider"])
    images = torch.randn(7, 1, 28, 28)  # another batch size than the export's
    got = session.run(None, {session.get_inputs()[0].name: images.numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, model.eval()(images).numpy(), atol=1e-4)


def test_export_command_and_its_errors(tmp_path, monkeypatch, capsys, tiny_config):
    from pruningbench.pipeline import run_experiment
    from pruningbench.store import ResultStore
    from tests.test_cli import _cli

    config = tiny_config(**{"finetune.epochs": 0})
    record = run_experiment(config, ResultStore.in_dir(config.results_dir))
    results, out = str(config.results_dir), tmp_path / "deployed.onnx"
    code, printed, err = _cli(monkeypatch, capsys, "export", record.run_id[:8], "--results-dir", results, "--out", str(out))
    assert code == 0 and out.is_file() and "checked; max abs difference to PyTorch" in printed, err
    code, _, err = _cli(monkeypatch, capsys, "export", record.run_id[:8], "--results-dir", results, "--format", "tflite")
    assert code == 2 and "--format must be one of onnx (got 'tflite')" in err
    (config.results_dir / record.model_path).unlink()
    code, _, err = _cli(monkeypatch, capsys, "export", record.run_id[:8], "--results-dir", results)
    assert code == 2 and "is missing" in err and err.strip().count("\n") == 0
