"""Pruning methods: importance criteria (``methods.importance``) and sparsity regularizers (``methods.regularizers``)."""
