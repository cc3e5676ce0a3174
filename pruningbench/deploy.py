"""Deployment formats: a pruned model exported to ONNX, checked by ``onnx.checker`` and against PyTorch's outputs
through ONNX Runtime (CPU provider), so that what is deployed computes what was measured."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from pruningbench.errors import UserError, first_line

__all__ = ["OnnxExport", "export_onnx", "FORMATS"]

FORMATS = ("onnx",)
TOLERANCE = 1e-4  # largest accepted absolute difference between ONNX Runtime's and PyTorch's outputs


@dataclass(frozen=True)
class OnnxExport:
    """Where the model was written and how far ONNX Runtime's outputs are from PyTorch's on the check inputs."""

    path: Path
    max_abs_diff: float


def _modules():
    try:
        import onnx
        import onnxruntime
    except ImportError as error:
        raise UserError(f"ONNX export needs onnx and onnxruntime ({error}): pip install 'pruningbench[onnx]'") from None
    return onnx, onnxruntime


@torch.no_grad()
def export_onnx(model: nn.Module, input_shape: tuple[int, ...], path: Path, seed: int = 0) -> OnnxExport:
    """Export ``model`` (eval mode, dynamic batch) to ``path``, check the graph, compare outputs on a seeded batch."""
    onnx, onnxruntime = _modules()
    model = model.eval().cpu()
    inputs = torch.randn(4, *input_shape, generator=torch.Generator().manual_seed(seed))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.onnx.export(
            model, (inputs,), str(path), dynamo=True, dynamic_shapes=({0: torch.export.Dim("batch")},), verbose=False,
            external_data=False,  # one self-contained file (models here are far below protobuf's 2 GB)
        )
        onnx.checker.check_model(onnx.load(str(path)))
    except Exception as error:  # the exporter's failures are many and deep: one line names the model and the cause
        raise UserError(f"ONNX export of {type(model).__name__} failed: {first_line(error)}") from None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: inputs.numpy()})[0]
    expected = model(inputs)
    expected = expected[0] if isinstance(expected, tuple | list) else expected
    difference = float((torch.from_numpy(got) - expected).abs().max())
    if difference > TOLERANCE:
        raise UserError(f"ONNX export of {type(model).__name__}: outputs differ from PyTorch's by {difference:.2e}")
    return OnnxExport(path, difference)
