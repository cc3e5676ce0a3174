"""Known-answer tests of the four sparsity regularizers."""

import pytest
import torch
from torch.utils.data import TensorDataset

from pruningbench.config import SparsifyConfig
from pruningbench.errors import UserError
from pruningbench.methods.importance.slices import channel_sum, layer_slices, parameters_of, rows
from pruningbench.data import make_loader
from pruningbench.methods.regularizers import REGULARIZERS, SparsifyContext, create_regularizer
from pruningbench.models import create_model
from pruningbench.pipeline.group import build_groups, output_layers
from pruningbench.pipeline.train import train

EXAMPLE = torch.zeros(1, 1, 28, 28)


def _settings(**changes) -> SparsifyConfig:
    values = {"epochs": 1, "lr": 0.05, "batch_size": 16, "weight_decay": 0.0, "reg": 0.05, "delta_reg": 0.01}
    return SparsifyConfig(**{**values, **changes})


def _context(model, marked=None) -> SparsifyContext:
    _, groups = build_groups(model, EXAMPLE)
    return SparsifyContext(model, EXAMPLE, [g.group for g in groups], output_layers(model, EXAMPLE), marked)


def _model():
    torch.manual_seed(0)
    return create_model("resnet8_quick", num_classes=10, in_channels=1)


def _first_half_marked(context: SparsifyContext) -> list[torch.Tensor]:
    return [torch.arange(len(g[0].idxs)) < len(g[0].idxs) // 2 for g in context.groups]


def _regularized_quantity(name: str, context: SparsifyContext, marked) -> float:
    """What each regularizer pushes down: BN scales' L1, the channels' group norms, the marked channels' norms."""
    if name == "BNScale":
        return sum(m.weight.abs().sum().item() for m in context.model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    norms = [channel_sum(g, lambda p: p.detach().pow(2)).sqrt() for g in context.groups]
    if name == "GrowingReg":
        return sum(n[mask].sum().item() for n, mask in zip(norms, marked))
    return sum(n.sum().item() for n in norms)


@pytest.mark.parametrize("name", REGULARIZERS.names())
def test_regularized_quantity_is_smaller_than_after_the_same_steps_without_it(name):
    generator = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(96, 1, 28, 28, generator=generator), torch.randint(0, 10, (96,), generator=generator))
    quantities = {}
    for regularized in (False, True):
        model = _model()
        context = _context(model)
        marked = _first_half_marked(context)
        context.marked = marked
        regularizer = None
        if regularized:
            regularizer = create_regularizer(name, _settings(reg=0.2))
            regularizer.attach(context)
        train(model, make_loader(data, 16, True, 0), _settings(), torch.device("cpu"), "t", regularizer=regularizer)
        quantities[regularized] = _regularized_quantity(name, context, marked)
    assert quantities[True] < 0.99 * quantities[False]


def _zero_grads(model) -> None:
    for param in model.parameters():
        param.grad = torch.zeros_like(param)


def test_growing_reg_penalizes_only_marked_channels_and_grows_by_schedule():
    model = _model()
    context = _context(model)
    context.marked = _first_half_marked(context)
    regularizer = create_regularizer("GrowingReg", _settings(reg=0.1, delta_reg=0.05, reg_ceiling=0.22))
    regularizer.attach(context)
    stem = model.conv1  # a root layer: its output rows are its group's channels
    group = next(i for i, g in enumerate(context.groups) if g[0].dep.target.module is stem)
    half = stem.out_channels // 2
    expected = []
    for _ in range(4):
        _zero_grads(model)
        regularizer.apply()
        ratio = (stem.weight.grad / stem.weight.detach()).flatten(1)
        assert torch.all(ratio[half:] == 0)  # unmarked channels: no penalty at all
        expected_now = torch.full_like(ratio[:half], regularizer.coefficients[group][0].item())
        assert torch.allclose(ratio[:half], expected_now, rtol=1e-5)
        expected.append(regularizer.coefficients[group][0].item())
        regularizer.epoch_end()
    assert expected == pytest.approx([0.1, 0.15, 0.2, 0.22])  # +delta per epoch, capped at the ceiling


def test_group_norm_shrinks_coupled_layers_together_and_weak_channels_hardest():
    model = _model()
    context = _context(model)
    stem_group = next(g for g in context.groups if g[0].dep.target.module is model.conv1)
    with torch.no_grad():
        for bn in (model.bn1, model.layers[0][0].bn2):
            bn.bias.uniform_(0.1, 0.5)
        for slice_ in layer_slices(stem_group):  # channel 3 of the stem's residual group: weak everywhere
            idxs = slice_.idxs[slice_.root_idxs == 3]
            for param in parameters_of(slice_):
                if slice_.side == "out" or param.dim() == 1:
                    param[idxs] *= 1e-3
                else:
                    param[:, idxs] *= 1e-3
    regularizer = create_regularizer("GroupNorm", _settings(reg=0.01, alpha=4))
    regularizer.attach(context)
    _zero_grads(model)
    regularizer.apply()
    # the stem conv, the stem BN and the residual branch's BN hold the same channels (the conv's inputs and the BNs
    # belong to no other group): each channel must be pushed by the same factor lambda * gamma_k in all of them
    stem_conv = (model.conv1.weight.grad / model.conv1.weight.detach()).flatten(1)
    assert torch.allclose(stem_conv, stem_conv[:, :1].expand_as(stem_conv), rtol=1e-4)
    ratio = stem_conv[:, 0]
    for bn in (model.bn1, model.layers[0][0].bn2):
        assert torch.allclose(bn.weight.grad / bn.weight.detach(), ratio, rtol=1e-4)
        assert torch.allclose(bn.bias.grad / bn.bias.detach(), ratio, rtol=1e-4)
    assert ratio[3] == pytest.approx(0.01 * 2**4, rel=1e-4)  # the weakest channel gets lambda * 2^alpha
    assert ratio.min() == pytest.approx(0.01, rel=1e-4)  # the strongest gets lambda
    assert ratio.argmax() == 3


def test_group_lasso_gradient_equals_autograd_of_the_penalty():
    model = _model()
    context = _context(model)
    regularizer = create_regularizer("GroupLASSO", _settings(reg=0.02))
    regularizer.attach(context)
    _zero_grads(model)
    regularizer.apply()
    expected = _autograd_of_group_lasso(model, context, 0.02)
    for name, param in model.named_parameters():
        assert torch.allclose(param.grad, expected[name], atol=1e-7), name


def _autograd_of_group_lasso(model, context, reg) -> dict[str, torch.Tensor]:
    """d/dtheta of lambda * sum over groups and channels of ||theta_k||_2, by autograd."""
    penalty = 0.0
    for group in context.groups:
        squares = torch.zeros(len(group[0].idxs))
        for slice_ in layer_slices(group):
            for param in parameters_of(slice_):
                squares = squares.index_add(0, slice_.root_idxs, rows(slice_, param).pow(2).sum(1))
        penalty = penalty + reg * squares.sqrt().sum()
    names = dict(model.named_parameters())
    grads = torch.autograd.grad(penalty, list(names.values()), allow_unused=True)
    return {n: torch.zeros_like(p) if g is None else g for (n, p), g in zip(names.items(), grads)}


def test_bn_scale_adds_lambda_sign_gamma_to_every_batchnorm():
    model = _model()
    with torch.no_grad():
        model.bn1.weight[0] = -0.5
    regularizer = create_regularizer("BNScale", _settings(reg=0.03))
    regularizer.attach(_context(model))
    _zero_grads(model)
    regularizer.apply()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            assert torch.equal(module.weight.grad, 0.03 * torch.sign(module.weight.detach()))


@pytest.mark.parametrize("model_name", ["resnet18", "vit_small_patch16_224", "yolov8m"])
@pytest.mark.parametrize("name", REGULARIZERS.names())
def test_every_regularizer_acts_on_every_task_model_or_says_why_not(model_name, name):
    model = create_model(model_name, num_classes=4, image_size=32 if model_name != "yolov8m" else 64)
    example = torch.zeros(1, 3, 32, 32) if model_name != "yolov8m" else torch.zeros(1, 3, 64, 64)
    _, groups = build_groups(model, example)
    context = SparsifyContext(model, example, [g.group for g in groups], output_layers(model, example),
                              [torch.arange(g.size) < g.size // 2 for g in groups])
    regularizer = create_regularizer(name, _settings())
    if name == "BNScale" and model_name == "vit_small_patch16_224":  # no BatchNorm: not applicable, as on the board
        with pytest.raises(UserError, match="needs BatchNorm layers"):
            regularizer.attach(context)
        return
    regularizer.attach(context)
    _zero_grads(model)
    regularizer.apply()
    pushed = sum(int(p.grad.abs().sum() > 0) for p in model.parameters())
    assert pushed > 0  # the penalty reached the model's parameters
