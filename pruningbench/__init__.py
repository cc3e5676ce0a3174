"""pruningbench: a benchmark and toolkit for structural pruning of vision models."""

__version__ = "0.1.0"
