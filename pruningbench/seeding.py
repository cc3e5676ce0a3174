"""One place that seeds every random number generator a run touches, and sets how deterministic its kernels are."""

import os
import random

import numpy as np
import torch

__all__ = ["configure_determinism", "seed_everything"]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (CPU and CUDA) generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def configure_determinism(deterministic: bool) -> None:
    """``True``: deterministic cuDNN and cuBLAS kernels and ``torch.use_deterministic_algorithms`` (warn-only where an
    op has no deterministic kernel), so a seed reproduces a run bit for bit on the same GPU and a resumed stage goes
    on exactly as the uninterrupted one; ``False``: cuDNN's autotuner picks the fastest kernels instead. CPU kernels
    are deterministic either way."""
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read by cuBLAS when CUDA starts
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
