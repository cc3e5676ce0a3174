"""Name → factory registries, the single extension point for models, datasets and methods.

A component becomes available everywhere (configs, CLI, leaderboards) by decorating it with its registry's
``register``; nothing else has to import it by hand (see :func:`import_submodules`).
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from pruningbench.errors import UserError

__all__ = ["Registry", "import_submodules", "load_plugins", "plugin_modules"]

T = TypeVar("T")


class Registry(Generic[T]):
    """A named collection of factories (classes or functions) of one kind."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers ``entry`` under ``name``; duplicate names are a programming error."""

        def decorate(entry: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = entry
            return entry

        return decorate

    def get(self, name: str) -> T:
        """The entry called ``name``, or a :class:`UserError` listing the valid names."""
        try:
            return self._entries[name]
        except KeyError:
            raise UserError(f"unknown {self.kind} {name!r}; available: {', '.join(self.names())}") from None

    def names(self) -> list[str]:
        """Registered names in registration order."""
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)


def import_submodules(package_name: str) -> None:
    """Import every module of a package so that their ``register`` decorators run."""
    package = importlib.import_module(package_name)
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package_name}.{module.name}")


PLUGINS_ENV = "PRUNINGBENCH_PLUGINS"


def plugin_modules() -> list[str]:
    """The module names in ``$PRUNINGBENCH_PLUGINS``."""
    return [name.strip() for name in os.environ.get(PLUGINS_ENV, "").split(",") if name.strip()]


def load_plugins() -> list[str]:
    """Import the modules named in ``$PRUNINGBENCH_PLUGINS`` (comma-separated), so that the components they register
    exist in this process: the CLI and every worker and run process call this, so a run queued with a user's own
    criterion or dataset also runs on a worker."""
    names = plugin_modules()
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as error:
            raise UserError(f"${PLUGINS_ENV}: module {name!r} cannot be imported ({error})") from None
    return names
