"""Name → factory registries, the single extension point for models, datasets and methods.

A component becomes available everywhere (configs, CLI, platform forms, leaderboards) by decorating it with its
registry's ``register``; nothing else has to import it by hand (see :func:`import_submodules`). Components from
outside the package come as plug-ins: installed packages declare entry points in a registry's group
(``pruningbench.criteria``, ``pruningbench.regularizers``, ``pruningbench.models``, ``pruningbench.datasets``),
loaded the first time the registry is asked for a name; a module or a ``.py`` file is loaded with
:func:`load_plugin` (``--plugin``, ``plugins:`` in a config, ``$PRUNINGBENCH_PLUGINS`` for worker processes). Each
plug-in component remembers where it came from (a distribution and its version, or a file and its hash), so a run's
identity and the boards tell two versions of a method apart.
"""

from __future__ import annotations

import contextvars
import hashlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import logging
import os
import pkgutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Generic, TypeVar

from pruningbench.errors import UserError, first_line

__all__ = ["Registry", "import_submodules", "load_plugin", "load_plugins", "plugin_modules", "share_plugin"]

log = logging.getLogger(__name__)
T = TypeVar("T")
_origin: contextvars.ContextVar[str | None] = contextvars.ContextVar("plugin_origin", default=None)


@contextmanager
def _loading(origin: str) -> Iterator[None]:
    """Everything registered for the duration comes from the plug-in ``origin``."""
    token = _origin.set(origin)
    try:
        yield
    finally:
        _origin.reset(token)


class Registry(Generic[T]):
    """A named collection of factories (classes or functions) of one kind."""

    def __init__(self, kind: str, entry_points: str | None = None) -> None:
        self.kind = kind
        self.entry_points = entry_points  # the entry-point group installed plug-ins register into
        self._entries: dict[str, T] = {}
        self._origins: dict[str, str] = {}
        self._plugins_loaded = entry_points is None

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers ``entry`` under ``name``; duplicate names are a programming error."""

        def decorate(entry: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = entry
            if (origin := _origin.get()) is not None:
                self._origins[name] = origin
            return entry

        return decorate

    def get(self, name: str) -> T:
        """The entry called ``name``, or a :class:`UserError` listing the valid names."""
        self._load_entry_points()
        try:
            return self._entries[name]
        except KeyError:
            raise UserError(f"unknown {self.kind} {name!r}; available: {', '.join(self.names())}") from None

    def names(self) -> list[str]:
        """Registered names in registration order (built-ins first, then plug-ins)."""
        self._load_entry_points()
        return list(self._entries)

    def origin(self, name: str) -> str | None:
        """Where the plug-in entry ``name`` comes from (``"dist 1.2"`` or ``"file.py sha256:..."``); None: built in."""
        self._load_entry_points()
        return self._origins.get(name)

    def __contains__(self, name: object) -> bool:
        self._load_entry_points()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def _load_entry_points(self) -> None:
        """Register the entry points of installed plug-ins, once. A broken plug-in is reported in one line and
        skipped: the built-ins and the other plug-ins keep working."""
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for point in importlib.metadata.entry_points(group=self.entry_points):
            origin = f"{point.dist.name} {point.dist.version}" if point.dist is not None else point.value
            with _loading(origin):
                try:
                    loaded = point.load()
                    if not inspect.ismodule(loaded) and self._entries.get(point.name) is not loaded:
                        self.register(point.name)(loaded)
                except Exception as error:  # noqa: BLE001 (whatever a plug-in raises, the others must still load)
                    log.warning(
                        "plug-in %s (%s %s = %s) skipped: %s",
                        origin, self.entry_points, point.name, point.value, first_line(error),
                    )


def import_submodules(package_name: str) -> None:
    """Import every module of a package so that their ``register`` decorators run."""
    package = importlib.import_module(package_name)
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package_name}.{module.name}")


PLUGINS_ENV = "PRUNINGBENCH_PLUGINS"


def plugin_modules() -> list[str]:
    """The plug-ins in ``$PRUNINGBENCH_PLUGINS`` (comma-separated module names or ``.py`` files)."""
    return [name.strip() for name in os.environ.get(PLUGINS_ENV, "").split(",") if name.strip()]


def load_plugins() -> list[str]:
    """Load the plug-ins named in ``$PRUNINGBENCH_PLUGINS``, so that the components they register exist in this
    process: the CLI and every worker and run process call this, so a run queued with a user's own criterion or
    dataset also runs on a worker."""
    names = plugin_modules()
    for name in names:
        load_plugin(name)
    return names


def share_plugin(spec: str) -> None:
    """Load the plug-in ``spec`` here and add it to ``$PRUNINGBENCH_PLUGINS`` for the processes started from here."""
    spec = str(Path(spec).expanduser().resolve()) if spec.endswith(".py") else spec
    load_plugin(spec)
    if spec not in plugin_modules():
        os.environ[PLUGINS_ENV] = ",".join([*plugin_modules(), spec])


def load_plugin(spec: str) -> None:
    """Import the plug-in ``spec``, a module name or a ``.py`` file, once per process; what it registers remembers
    its origin (an installed distribution's name and version, else the file's hash). A plug-in that is missing,
    fails to import or registers a name that exists is a :class:`UserError` naming it."""
    path = Path(spec).expanduser().resolve() if spec.endswith(".py") else None
    if path is not None:
        if not path.is_file():
            raise UserError(f"plug-in file {spec!r} does not exist")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        module_name, origin = f"pruningbench_plugin_{path.stem}_{digest}", f"{path.name} sha256:{digest}"
    else:
        module_name, origin = spec, _module_origin(spec)
    if module_name in sys.modules:
        return
    try:
        with _loading(origin):
            if path is None:
                importlib.import_module(spec)
            else:
                found = importlib.util.spec_from_file_location(module_name, path)
                assert found is not None and found.loader is not None
                module = importlib.util.module_from_spec(found)
                sys.modules[module_name] = module
                found.loader.exec_module(module)
    except Exception as error:  # noqa: BLE001 (a plug-in's import can raise anything: it becomes one line)
        sys.modules.pop(module_name, None)
        raise UserError(f"plug-in {spec!r} cannot be loaded: {first_line(error)}") from None


def _module_origin(name: str) -> str:
    """``"dist version"`` for a module installed in site-packages, else ``"module sha256:..."`` of its file (a
    module in a working tree or an editable install changes without a new version)."""
    try:
        found = importlib.util.find_spec(name)
    except (ImportError, ValueError):  # a parent package is missing
        found = None
    if found is None or found.origin is None or not Path(found.origin).is_file():
        raise UserError(f"plug-in module {name!r} cannot be found")
    file = Path(found.origin)
    if {"site-packages", "dist-packages"} & set(file.parts):
        for dist in importlib.metadata.packages_distributions().get(name.partition(".")[0], []):
            return f"{dist} {importlib.metadata.version(dist)}"
    return f"{name} sha256:{hashlib.sha256(file.read_bytes()).hexdigest()[:12]}"
