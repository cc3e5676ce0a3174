"""The inference engines latency is measured in: eager PyTorch, and ONNX Runtime (what a deployment runs).

An engine turns a model (or one conv/linear layer at given widths, for the latency table) into a *runner*: a
callable that runs one forward pass of a fixed batch and waits for it to finish. Runners are prepared the way a
deployment would run the model: eval mode, BatchNorm folded into the convolution before it (as TorchScript freezing
and ONNX Runtime do), weights cast once to the measured precision (not autocast, which casts
every weight on every pass), weights and inputs in the measured memory layout after pruning (a layout set before
pruning is lost: Torch-Pruning's new weight tensors are contiguous), and ``cudnn.benchmark`` on while timing on CUDA.
"""

from __future__ import annotations

import copy
import logging
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import torch
from torch import nn

from pruningbench.errors import UserError
from pruningbench.registry import Registry

__all__ = [
    "ENGINES",
    "Engine",
    "LayerSpec",
    "Runner",
    "TimingSetup",
    "fold_batchnorm",
    "layer_graph",
    "prepare_eager",
    "timing_context",
]

log = logging.getLogger(__name__)
Runner = Callable[[], None]
Precision = Literal["fp32", "bf16"]
DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class TimingSetup:
    """Where and how a model is timed; the device name recorded with a figure says all of it."""

    device: torch.device
    batch_size: int
    precision: Precision = "fp32"
    channels_last: bool = False
    threads: int = 1  # CPU threads (PyTorch's, or ONNX Runtime's intra-op pool)

    def with_batch(self, batch_size: int) -> TimingSetup:
        return TimingSetup(self.device, batch_size, self.precision, self.channels_last, self.threads)

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format


@dataclass(frozen=True)
class LayerSpec:
    """One conv or linear layer as the latency table keys it: its kind, its fixed hyper-parameters and the shape of
    one input (without batch and channels); the in/out widths vary."""

    kind: Literal["conv", "linear"]
    kernel: tuple[int, ...] = ()
    stride: tuple[int, ...] = ()
    padding: tuple[int, ...] = ()
    dilation: tuple[int, ...] = ()
    depthwise: bool = False
    bias: bool = False
    spatial: tuple[int, ...] = ()  # conv: (H, W) of the input; linear: the leading dims before the features (tokens)

    @classmethod
    def of(cls, module: nn.Module, input_shape: tuple[int, ...]) -> LayerSpec:
        """The spec of ``module`` given one input's shape without the batch dimension."""
        if isinstance(module, nn.Conv2d):
            depthwise = module.groups > 1 and module.groups == module.in_channels
            if module.groups > 1 and not depthwise:
                raise UserError(f"the latency table does not model grouped convolutions ({module})")
            return cls(
                "conv",
                tuple(module.kernel_size),
                tuple(module.stride),
                tuple(module.padding),  # type: ignore[arg-type]
                tuple(module.dilation),
                depthwise,
                module.bias is not None,
                tuple(input_shape[1:]),
            )
        return cls("linear", bias=module.bias is not None, spatial=tuple(input_shape[:-1]))

    @property
    def key(self) -> str:
        if self.kind == "linear":
            return f"linear bias={int(self.bias)} tokens={'x'.join(map(str, self.spatial)) or '-'}"
        dims = lambda values: "x".join(map(str, values))
        return (
            f"conv k={dims(self.kernel)} s={dims(self.stride)} p={dims(self.padding)} d={dims(self.dilation)} "
            f"dw={int(self.depthwise)} bias={int(self.bias)} in={dims(self.spatial)}"
        )

    def module(self, in_width: int, out_width: int) -> nn.Module:
        """A freshly initialised layer of these widths (a depthwise conv's widths are equal)."""
        if self.kind == "linear":
            return nn.Linear(in_width, out_width, bias=self.bias)
        groups = out_width if self.depthwise else 1
        return nn.Conv2d(
            out_width if self.depthwise else in_width,
            out_width,
            self.kernel,
            self.stride,
            self.padding,
            self.dilation,
            groups=groups,
            bias=self.bias,
        )

    def input_shape(self, in_width: int) -> tuple[int, ...]:
        return (in_width, *self.spatial) if self.kind == "conv" else (*self.spatial, in_width)


class Engine(Protocol):
    """How models and single layers are run for timing."""

    name: str

    def model_runners(self, model: nn.Module, input_shape: tuple[int, ...], setups: list[TimingSetup]) -> list[Runner]:
        """One runner per setup (an engine that compiles the model does so once)."""
        ...

    def layer_runner(self, spec: LayerSpec, in_width: int, out_width: int, setup: TimingSetup) -> Runner: ...

    def device_name(self, setup: TimingSetup) -> str: ...


ENGINES: Registry[type[Engine]] = Registry("latency engine")


def _device_name(setup: TimingSetup) -> str:
    if setup.device.type == "cuda":
        return torch.cuda.get_device_name(setup.device)
    return f"cpu ({setup.threads} threads)"


@contextmanager
def timing_context(setup: TimingSetup) -> Iterator[None]:
    """Fix the CPU threads and turn cuDNN's autotuner on while timing; both are given back afterwards."""
    threads, benchmark = torch.get_num_threads(), torch.backends.cudnn.benchmark
    torch.set_num_threads(setup.threads)
    torch.backends.cudnn.benchmark = setup.device.type == "cuda"
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.backends.cudnn.benchmark = benchmark


@ENGINES.register("eager")
class EagerEngine:
    """PyTorch eager mode on the run's device, at the configured precision and memory layout."""

    name = "eager"

    def model_runners(self, model: nn.Module, input_shape: tuple[int, ...], setups: list[TimingSetup]) -> list[Runner]:
        return [self._runner(copy.deepcopy(model), input_shape, setup) for setup in setups]

    def layer_runner(self, spec: LayerSpec, in_width: int, out_width: int, setup: TimingSetup) -> Runner:
        return self._runner(spec.module(in_width, out_width), spec.input_shape(in_width), setup)

    def device_name(self, setup: TimingSetup) -> str:
        return (
            _device_name(setup)
            + ("" if setup.precision == "fp32" else f" {setup.precision}")
            + (" channels_last" if setup.channels_last else "")
        )

    @staticmethod
    def _runner(model: nn.Module, input_shape: tuple[int, ...], setup: TimingSetup) -> Runner:
        model, batch = prepare_eager(model, input_shape, setup)
        sync = torch.cuda.synchronize if setup.device.type == "cuda" else (lambda: None)

        def run() -> None:
            with torch.inference_mode():
                model(batch)
            sync()

        return run


def prepare_eager(model: nn.Module, input_shape: tuple[int, ...], setup: TimingSetup) -> tuple[nn.Module, torch.Tensor]:
    """``model`` (changed in place) and a random batch as a deployment runs them: eval mode, BatchNorm folded, on the
    device, weights cast once to the precision, 4-d weights and inputs in the memory layout (set now, after pruning)."""
    model = fold_batchnorm(model.eval()).to(setup.device, DTYPES[setup.precision])
    batch = torch.randn(setup.batch_size, *input_shape, device=setup.device, dtype=DTYPES[setup.precision])
    if batch.dim() == 4:
        model = model.to(memory_format=setup.memory_format)
        batch = batch.contiguous(memory_format=setup.memory_format)
    return model, batch


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """``model`` with every eval-mode BatchNorm that follows a convolution folded into it (torch.fx's pass).

    Unfolded, each BatchNorm is one more pass over the activations: after pruning, activations shrink with the
    channels while MACs shrink with their square, so timing them would understate every pruned model's speed-up
    against what a deployment gets. A model torch.fx cannot trace is timed unfolded (and says so in the log)."""
    from torch.fx.experimental.optimization import fuse

    if not any(isinstance(module, nn.modules.batchnorm._BatchNorm) for module in model.modules()):
        return model
    try:
        return fuse(model)
    except (torch.fx.proxy.TraceError, TypeError, RuntimeError, AttributeError, NotImplementedError) as error:
        log.info("BatchNorm not folded for timing (%s cannot be traced: %s)", type(model).__name__, error)
        return model


@ENGINES.register("onnxruntime")
class OnnxRuntimeEngine:
    """ONNX Runtime with its CUDA provider on a CUDA run when installed, its CPU provider otherwise (fp32 only)."""

    name = "onnxruntime"

    def model_runners(self, model: nn.Module, input_shape: tuple[int, ...], setups: list[TimingSetup]) -> list[Runner]:
        from pruningbench.deploy import export_onnx

        with tempfile.TemporaryDirectory(prefix="pruningbench-onnx-") as folder:  # exported once, dynamic batch
            graph = export_onnx(copy.deepcopy(model), input_shape, Path(folder) / "model.onnx").path.read_bytes()
        return [self._runner(graph, (setup.batch_size, *input_shape), setup) for setup in setups]

    def layer_runner(self, spec: LayerSpec, in_width: int, out_width: int, setup: TimingSetup) -> Runner:
        graph = layer_graph(spec, spec.module(in_width, out_width))
        return self._runner(graph, (setup.batch_size, *spec.input_shape(in_width)), setup)

    def device_name(self, setup: TimingSetup) -> str:
        return f"{_device_name(setup)} onnxruntime {self._provider(setup).removesuffix('ExecutionProvider')}"

    @staticmethod
    def _provider(setup: TimingSetup) -> str:
        import onnxruntime

        if setup.device.type == "cuda" and "CUDAExecutionProvider" in onnxruntime.get_available_providers():
            return "CUDAExecutionProvider"
        return "CPUExecutionProvider"

    def _runner(self, graph: bytes, shape: tuple[int, ...], setup: TimingSetup) -> Runner:
        if setup.precision != "fp32":
            raise UserError(f"latency.precision {setup.precision!r} is not measured with onnxruntime (fp32 only)")
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = setup.threads, 1
        # Idle pool threads spin by default: the base and the pruned model's sessions, timed in turns, would then
        # fight over the cores, and every pair would time the other session's spinning as well.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        provider = self._provider(setup)
        session = onnxruntime.InferenceSession(graph, options, providers=[provider])
        batch = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
        binding = session.io_binding()
        if provider == "CUDAExecutionProvider":  # inputs and outputs stay on the GPU, as in a deployment
            binding.bind_ortvalue_input(
                session.get_inputs()[0].name,
                onnxruntime.OrtValue.ortvalue_from_numpy(batch, "cuda", setup.device.index or 0),
            )
            for output in session.get_outputs():
                binding.bind_output(output.name, "cuda", setup.device.index or 0)
        else:
            binding.bind_cpu_input(session.get_inputs()[0].name, batch)
            for output in session.get_outputs():
                binding.bind_output(output.name)

        def run() -> None:
            session.run_with_iobinding(binding)

        return run


def layer_graph(spec: LayerSpec, layer: nn.Module) -> bytes:
    """``layer`` as a one-node ONNX graph (Conv, or MatMul + Add), built directly: no exporter run per width."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = layer.weight.detach().cpu().numpy()
    initializers, inputs = [], ["input", "weight"]
    if spec.kind == "conv":
        attributes = {
            "kernel_shape": list(spec.kernel),
            "strides": list(spec.stride),
            "dilations": list(spec.dilation),
            "pads": list(spec.padding) * 2,
            "group": layer.groups,
        }
        initializers.append(numpy_helper.from_array(weight, "weight"))
        nodes = [helper.make_node("Conv", inputs + (["bias"] if spec.bias else []), ["output"], **attributes)]
    else:
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(weight.T), "weight"))
        nodes = [helper.make_node("MatMul", inputs, ["product" if spec.bias else "output"])]
        if spec.bias:
            nodes.append(helper.make_node("Add", ["product", "bias"], ["output"]))
    if spec.bias:
        initializers.append(numpy_helper.from_array(layer.bias.detach().cpu().numpy(), "bias"))
    input_shape = spec.input_shape(layer.in_channels if spec.kind == "conv" else layer.in_features)
    with torch.no_grad():
        output_shape = layer(torch.zeros(1, *input_shape)).shape[1:]
    graph = helper.make_graph(
        nodes,
        "layer",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", *input_shape])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", *output_shape])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model.SerializeToString()
