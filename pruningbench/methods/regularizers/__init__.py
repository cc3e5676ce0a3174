"""Sparsity regularizers for the optional sparsifying stage, registered by name like the criteria.

None is registered yet: the sparsifying stage is not implemented, so configs that name a regularizer are rejected
with the list of registered ones (empty).
"""

from __future__ import annotations

from pruningbench.registry import Registry, import_submodules

__all__ = ["REGULARIZERS"]

REGULARIZERS: Registry[type] = Registry("regularizer")

import_submodules(__name__)
