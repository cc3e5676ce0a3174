"""Engines run what a deployment runs: the one-layer ONNX graphs of the latency table compute the PyTorch layer, and
eager timing puts a pruned model's weights back in the measured layout and precision."""

import copy

import numpy as np
import pytest
import torch
import torch_pruning as tp
from torch import nn

from pruningbench.errors import UserError
from pruningbench.latency import LayerSpec, TimingSetup
from pruningbench.latency.engines import fold_batchnorm, layer_graph, prepare_eager

LAYERS = [
    (nn.Conv2d(6, 10, 3, stride=2, padding=1, bias=True), (6, 9, 9)),
    (nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), (8, 7, 7)),  # depthwise
    (nn.Linear(12, 5), (4, 12)),  # 4 tokens
]


@pytest.mark.parametrize(("layer", "shape"), LAYERS, ids=["conv-stride2-bias", "depthwise", "linear-tokens"])
def test_a_one_layer_onnx_graph_computes_the_pytorch_layer(layer, shape):
    onnxruntime = pytest.importorskip("onnxruntime")
    spec = LayerSpec.of(layer, shape)
    session = onnxruntime.InferenceSession(layer_graph(spec, layer), providers=["CPUExecutionProvider"])
    inputs = torch.randn(3, *shape)
    (got,) = session.run(None, {"input": inputs.numpy()})
    np.testing.assert_allclose(got, layer(inputs).detach().numpy(), atol=1e-5)


def test_layers_that_differ_only_in_width_share_a_table_key():
    wide, narrow = (
        LayerSpec.of(nn.Conv2d(64, 64, 3, padding=1), (64, 8, 8)),
        LayerSpec.of(nn.Conv2d(16, 32, 3, padding=1), (16, 8, 8)),
    )
    assert wide.key == narrow.key
    assert wide.key != LayerSpec.of(nn.Conv2d(64, 64, 3, padding=1, stride=2), (64, 8, 8)).key
    assert wide.module(16, 24).weight.shape == (24, 16, 3, 3)
    with pytest.raises(UserError, match="grouped convolutions"):
        LayerSpec.of(nn.Conv2d(8, 8, 3, groups=2), (8, 4, 4))


def test_pruned_weights_lose_channels_last_and_the_measured_path_restores_it():
    model = nn.Sequential(nn.Conv2d(3, 16, 3), nn.BatchNorm2d(16), nn.ReLU(), nn.Conv2d(16, 8, 3))
    model = model.to(memory_format=torch.channels_last)
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=torch.randn(1, 3, 8, 8))
    graph.get_pruning_group(model[0], tp.prune_conv_out_channels, idxs=[0, 1, 2]).prune()
    # Torch-Pruning builds new weight tensors: the layout set before pruning is gone (one cause of slow pruned models)
    assert not model[0].weight.is_contiguous(memory_format=torch.channels_last)
    setup = TimingSetup(torch.device("cpu"), batch_size=2, precision="bf16", channels_last=True)
    prepared, batch = prepare_eager(model, (3, 8, 8), setup)
    convs = [module for module in prepared.modules() if isinstance(module, nn.Conv2d)]
    assert len(convs) == 2 and not any(isinstance(module, nn.BatchNorm2d) for module in prepared.modules())
    for conv in convs:
        assert conv.weight.is_contiguous(memory_format=torch.channels_last) and conv.weight.dtype == torch.bfloat16
    assert batch.is_contiguous(memory_format=torch.channels_last) and batch.dtype == torch.bfloat16
    assert not prepared.training and prepared(batch).shape == (2, 8, 4, 4)


class _Branching(nn.Module):
    """Data-dependent control flow: torch.fx cannot trace it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.norm = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(x)) if x.sum() > 0 else x


def test_batchnorm_is_folded_into_its_convolution_with_the_same_outputs():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 1), nn.BatchNorm2d(4))
    for norm in (model[1], model[4]):  # statistics and affine parameters far from the identity
        norm.running_mean.uniform_(-1, 1), norm.running_var.uniform_(0.5, 2), norm.weight.data.uniform_(0.5, 2)
        norm.bias.data.uniform_(-1, 1)
    model.eval()
    inputs = torch.randn(2, 3, 8, 8)
    folded = fold_batchnorm(copy.deepcopy(model))
    assert not any(isinstance(module, nn.BatchNorm2d) for module in folded.modules())
    torch.testing.assert_close(folded(inputs), model(inputs), atol=1e-5, rtol=1e-5)
    untraceable = _Branching().eval()
    assert fold_batchnorm(untraceable) is untraceable
