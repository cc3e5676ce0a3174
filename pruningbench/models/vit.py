"""ViT-small from timm (``vit_small_patch16_224``: 22.05 M parameters at 1000 classes, 224 px, 16 px patches).

Pruning a ViT with DepGraph removes the embedding dimension (one group across the whole residual stream, class
token and position embedding included), MLP hidden units, and attention units, by ``prune.attention``:
- ``head_dims`` (default): unit ``j`` of an attention group is dimension ``j`` of every head in q, k and v, so every
  head keeps the same size and ``num_heads`` is unchanged;
- ``heads``: unit ``h`` is every dimension of head ``h`` in q, k and v, so whole heads go and ``head_dim`` is
  unchanged (a block keeps at least one head: the protected share of its units, rounded up).
The attention products' MACs shrink with the share of units kept either way. After pruning each ``Attention`` gets
``head_dim`` (or ``num_heads``), ``attn_dim`` and ``scale`` in line with its pruned ``qkv`` layer.
"""

from __future__ import annotations

from pathlib import Path

import timm
import torch
from timm.models.vision_transformer import Attention, VisionTransformer
from torch import nn

from pruningbench.errors import UserError
from pruningbench.models import MODELS
from pruningbench.models.structure import STRUCTURE_RULES, AttentionUnit, CoupledUnits

DEFAULT_IMAGE_SIZE = 224


@MODELS.register("vit_small_patch16_224")
def vit_small_patch16_224(
    num_classes: int, in_channels: int = 3, pretrained: bool | Path = False, image_size: int | None = None
) -> VisionTransformer:
    """timm's ViT-S/16 for ``image_size`` inputs (position embeddings sized to it); timm's weights when pretrained,
    from the Hugging Face hub or, given a path, from that file (``.safetensors``/``.bin``/``.pth``); timm resizes the
    position embedding and drops a classifier of another class count."""
    size = image_size or DEFAULT_IMAGE_SIZE
    if size % 16:
        raise UserError(f"vit_small_patch16_224 needs an image size divisible by its 16 px patches, not {size}")
    weights_file = {"file": str(pretrained)} if isinstance(pretrained, Path) else None
    return timm.create_model(
        "vit_small_patch16_224", pretrained=bool(pretrained), pretrained_cfg_overlay=weights_file,
        num_classes=num_classes, in_chans=in_channels, img_size=size,
    )


class _AttentionHeads:
    """Head-dimension or whole-head units and attention-product MACs for timm ``Attention`` modules."""

    def units(self, model: nn.Module, root: nn.Module, root_size: int, attention: AttentionUnit) -> CoupledUnits | None:
        module = next((m for m in model.modules() if isinstance(m, Attention) and m.qkv is root), None)
        if module is None:
            return None
        heads, head_dim = module.num_heads, root_size // (3 * module.num_heads)
        # qkv output index of (q/k/v part s, head h, dimension d): s * heads * head_dim + h * head_dim + d
        index = (torch.arange(3).view(3, 1, 1) * heads * head_dim + torch.arange(heads).view(1, heads, 1) * head_dim
                 + torch.arange(head_dim).view(1, 1, head_dim))
        tokens = _tokens(model)
        scaled_macs = float(2 * tokens * tokens * heads * head_dim)  # q·kᵀ and attn·v
        if attention == "heads":
            return CoupledUnits(index.permute(1, 0, 2).reshape(heads, -1), scaled_macs,
                                on_removed=lambda removed: setattr(module, "num_heads", module.num_heads - removed))
        return CoupledUnits(index.permute(2, 0, 1).reshape(head_dim, -1), scaled_macs)

    def frozen_layers(self, model: nn.Module) -> list[nn.Module]:
        return []

    def unwrapped_parameters(self, model: nn.Module) -> list[tuple[nn.Parameter, int]]:
        if not isinstance(model, VisionTransformer):
            return []
        tokens = (getattr(model, name, None) for name in ("cls_token", "reg_token", "pos_embed"))
        return [(param, param.dim() - 1) for param in tokens if isinstance(param, nn.Parameter)]  # embedding dim last

    def after_pruning(self, model: nn.Module) -> None:
        """``num_heads`` is right here (whole-head removal updates it through ``on_removed``); the rest follows."""
        for module in model.modules():
            if isinstance(module, Attention):
                module.head_dim = module.qkv.out_features // (3 * module.num_heads)
                module.attn_dim = module.num_heads * module.head_dim
                module.scale = module.head_dim**-0.5


def _tokens(model: nn.Module) -> int:
    if not isinstance(model, VisionTransformer):
        raise UserError(f"attention pruning supports timm VisionTransformer models, not {type(model).__name__}")
    return model.patch_embed.num_patches + model.num_prefix_tokens


STRUCTURE_RULES.append(_AttentionHeads())
