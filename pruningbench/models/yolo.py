"""YOLOv8m from ultralytics' model YAML (25.90 M parameters at COCO's 80 classes), made prunable by DepGraph.

Two changes make DepGraph's coupling exact, neither changes what the model computes:
- every ``C2f`` block's ``cv1`` output is split with ``chunk(2)``, which DepGraph cannot follow; it is rewritten as
  two convolutions (``cv0``, ``cv1``) holding the two halves of the original weights (Torch-Pruning's YOLOv8 recipe);
- the ``Detect`` head's last convolution of every box and class branch (and the DFL layer) produce the fixed output
  layout (4 x reg_max box bins, one logit per class): they are frozen, never pruned.
The model carries ultralytics' default loss settings (``model.args``), so its detection loss can be computed outside
ultralytics' trainer (calibration of the loss-based criteria). Training and mAP: ``pipeline/detection.py``.
"""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path

import torch
from torch import nn

from pruningbench.errors import UserError
from pruningbench.models import MODELS
from pruningbench.models.structure import STRUCTURE_RULES, AttentionUnit, CoupledUnits

# ultralytics is imported when a YOLO model is built, not with the registry: it is slow to import and writes a
# settings file; offline mode stops its update checks and font downloads.
os.environ.setdefault("YOLO_OFFLINE", "1")


class C2fSplit(nn.Module):
    """``C2f`` with its first convolution split in two, so that no tensor is chunked (same outputs)."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.c = block.c
        self.cv0 = copy.deepcopy(block.cv1)
        self.cv1 = copy.deepcopy(block.cv1)
        for half, conv in enumerate((self.cv0, self.cv1)):
            rows = slice(half * block.c, (half + 1) * block.c)
            conv.conv = _conv_rows(block.cv1.conv, rows)
            conv.bn = _bn_rows(block.cv1.bn, rows)
        self.cv2 = block.cv2
        self.m = block.m
        for name in ("f", "i", "type", "np"):  # ultralytics' bookkeeping of the layer's place in the graph
            if hasattr(block, name):
                setattr(self, name, getattr(block, name))
        self.train(block.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = [self.cv0(x), self.cv1(x)]
        y.extend(m(y[-1]) for m in self.m)
        return self.cv2(torch.cat(y, 1))


def _conv_rows(conv: nn.Conv2d, rows: slice) -> nn.Conv2d:
    out = nn.Conv2d(conv.in_channels, rows.stop - rows.start, conv.kernel_size, conv.stride, conv.padding,
                    conv.dilation, conv.groups, bias=conv.bias is not None)
    with torch.no_grad():
        out.weight.copy_(conv.weight[rows])
        if conv.bias is not None:
            out.bias.copy_(conv.bias[rows])
    return out


def _bn_rows(bn: nn.BatchNorm2d, rows: slice) -> nn.BatchNorm2d:
    out = nn.BatchNorm2d(rows.stop - rows.start, bn.eps, bn.momentum)
    with torch.no_grad():
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(out, name).copy_(getattr(bn, name)[rows])
    return out


def split_c2f_blocks(model: nn.Module) -> nn.Module:
    """Replace every ``C2f`` in ``model`` by an equivalent :class:`C2fSplit`, in place."""
    from ultralytics.nn.modules.block import C2f

    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if type(child) is C2f:
                setattr(parent, name, C2fSplit(child))
    return model


@MODELS.register("yolov8m")
def yolov8m(num_classes: int, in_channels: int = 3, pretrained: bool | Path = False) -> nn.Module:
    """ultralytics' ``yolov8m.yaml`` with ``num_classes`` classes, C2f blocks split for DepGraph.

    ``pretrained`` loads ``yolov8m.pt`` (COCO, 80 classes) the way ultralytics does: a file of that name in the
    working directory, else ultralytics downloads it; given a path, that ultralytics checkpoint.
    """
    from ultralytics.cfg import get_cfg
    from ultralytics.nn.tasks import DetectionModel, load_checkpoint

    if isinstance(pretrained, Path) and pretrained.suffix != ".pt":
        raise UserError(f"yolov8m weights {str(pretrained)!r}: ultralytics reads .pt checkpoints only")
    if pretrained:
        model, _ = load_checkpoint(str(pretrained) if isinstance(pretrained, Path) else "yolov8m.pt")
        classes = model.model[-1].nc  # the Detect head's
        if classes != num_classes:
            raise UserError(f"pretrained yolov8m predicts {classes} classes, the dataset has {num_classes}")
        model = model.float()
    else:
        model = DetectionModel("yolov8m.yaml", ch=in_channels, nc=num_classes, verbose=False)
    model.args = get_cfg()  # ultralytics' default loss gains, so the model can compute its loss outside a trainer
    return split_c2f_blocks(model)


class _DetectHead:
    """The Detect head's output convolutions keep their channels."""

    def units(self, model: nn.Module, root: nn.Module, root_size: int, attention: AttentionUnit) -> CoupledUnits | None:
        return None

    def frozen_layers(self, model: nn.Module) -> list[nn.Module]:
        heads = sys.modules.get("ultralytics.nn.modules.head")
        if heads is None:  # ultralytics never imported: no detection model exists
            return []
        frozen = []
        for head in (m for m in model.modules() if isinstance(m, heads.Detect)):
            frozen += [branch[-1] for branch in (*head.cv2, *head.cv3)]
            frozen += [m for m in head.dfl.modules() if isinstance(m, nn.Conv2d)]
        return frozen

    def unwrapped_parameters(self, model: nn.Module) -> list[tuple[nn.Parameter, int]]:
        return []

    def after_pruning(self, model: nn.Module) -> None:
        for module in model.modules():
            if isinstance(module, C2fSplit):
                module.c = module.cv0.conv.out_channels


STRUCTURE_RULES.append(_DetectHead())
