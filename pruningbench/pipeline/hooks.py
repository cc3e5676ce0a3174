"""What a running pipeline tells whoever runs it, and what it asks of them.

An inline run (``pruningbench run``) needs nothing: the default hooks do nothing. A run executed by a queue worker
installs hooks that write its progress to its task row (so other processes can follow it), stop it when it is
cancelled (at stage and epoch boundaries), and make sure a stage that several runs share (the base model, a
sparsified model) is built by exactly one of them while the others wait.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar

__all__ = ["RunHooks", "RunCancelled", "current_hooks", "using_hooks"]


class RunCancelled(BaseException):
    """Raised inside a run whose task was cancelled; a BaseException so that no ``except Exception`` swallows it."""


class RunHooks:
    """The default hooks of an inline run: progress goes nowhere, nothing is shared with other processes."""

    def progress(self, stage: str, epoch: int | None = None, epochs: int | None = None, fraction: float = 0.0) -> None:
        """``stage`` is under way: at ``epoch`` of ``epochs`` (1-based), ``fraction`` (0-1) of the stage done."""

    def exclusive(self, key: str) -> AbstractContextManager[None]:
        """A section that at most one run at a time executes for ``key`` (building a shared stage's artefact)."""
        return nullcontext()


_current: ContextVar[RunHooks] = ContextVar("pruningbench_run_hooks", default=RunHooks())


def current_hooks() -> RunHooks:
    """The hooks of the run in progress."""
    return _current.get()


@contextmanager
def using_hooks(hooks: RunHooks) -> Iterator[RunHooks]:
    """Install ``hooks`` for the runs started inside this block."""
    token = _current.set(hooks)
    try:
        yield hooks
    finally:
        _current.reset(token)
