"""The "new task" form, generated from the config schema and the registries: nothing about a run is defined here.

Every editable leaf of :class:`RunConfig` becomes a field with its type, default (from the chosen preset), allowed
range (from the schema's bounds) or choices (a registry, or the schema's literal values). Paths never appear: data
roots come from the server's own settings, results from its results directory. A submission is validated by the
same code as a config file, so errors carry the CLI's messages, and the field they concern.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from annotated_types import Ge, Gt, Le, Lt

from pruningbench.config import ConfigError, RunConfig, config_fields, load_preset
from pruningbench.data import DATASETS
from pruningbench.errors import UserError
from pruningbench.latency import ENGINES
from pruningbench.methods.importance import CRITERIA
from pruningbench.methods.regularizers import REGULARIZERS
from pruningbench.models import MODELS
from pruningbench.suite import load_suite

__all__ = ["FormField", "FormError", "GRID_FIELDS", "form_fields", "configs_from_form"]

REGISTRY_CHOICES = {
    "task.model": MODELS.names,
    "task.dataset": DATASETS.names,
    "method.importance": CRITERIA.names,
    "method.regularizer": REGULARIZERS.names,
}
# Comma-separated lists of registered names (the form suggests them; the schema checks them).
NAME_LIST_CHOICES = {"latency.engines": ENGINES.names}
# Not on the form: where things live (the server decides), and settings with no meaning for a queued run.
SERVER_ONLY = {
    "task.data_root",
    "task.pretrained",
    "task.base_checkpoint",
    "task.download",
    "task.workers",
    "results_dir",
    "device",
    "plugins",  # code the server would import: plug-ins are installed on the server, never sent in a form
    "resources.cpus",  # what a run asks of a Ray cluster node: workers of the platform's queue do not use them
    "resources.gpus",
    "resources.memory_gb",
}
# Fields that take a comma-separated list: the task is the grid over them (as a suite is).
GRID_FIELDS = ("method.importance", "prune.speedup", "seed")


@dataclass(frozen=True)
class FormField:
    """One input of the form."""

    name: str  # dotted config key
    kind: str  # choice | int | float | bool | text | list (of numbers) | names (comma-separated)
    default: Any
    choices: tuple[str, ...] = ()
    optional: bool = False  # may be left empty (None)
    low: float | None = None
    high: float | None = None
    low_inclusive: bool = True
    high_inclusive: bool = True
    help: str = ""

    @property
    def section(self) -> str:
        return self.name.split(".")[0] if "." in self.name else "run"

    @property
    def range_text(self) -> str:
        parts = []
        if self.low is not None:
            parts.append(f"{'≥' if self.low_inclusive else '>'} {self.low:g}")
        if self.high is not None:
            parts.append(f"{'≤' if self.high_inclusive else '<'} {self.high:g}")
        return ", ".join(parts)


class FormError(UserError):
    """A form value that cannot be used: ``field`` names the input."""

    def __init__(self, field: str, message: str) -> None:
        self.field, self.message = field, message
        super().__init__(f"{field}: {message}")


def _kind(annotation: Any) -> tuple[str, tuple[str, ...], bool]:
    args = typing.get_args(annotation)
    optional = type(None) in args
    core = (
        [a for a in args if a is not type(None)]
        if typing.get_origin(annotation) in (typing.Union, types.UnionType)
        else [annotation]
    )
    base = core[0] if len(core) == 1 else annotation
    if typing.get_origin(base) is Literal:
        return "choice", tuple(str(v) for v in typing.get_args(base)), optional
    if base is bool:
        return "bool", (), optional
    if base is int:
        return "int", (), optional
    if base is float:
        return "float", (), optional
    if typing.get_origin(base) is tuple:
        return ("names" if typing.get_args(base)[0] is str else "list"), (), optional
    return "text", (), optional


def form_fields(preset: str) -> list[FormField]:
    """The form's fields, with ``preset``'s values as defaults."""
    values = load_preset(preset).model_dump(mode="json")
    fields = []
    for name, annotation, info in config_fields(RunConfig):
        if name in SERVER_ONLY or any(part.startswith("_") for part in name.split(".")):
            continue
        kind, choices, optional = _kind(annotation)
        if name in REGISTRY_CHOICES:
            kind, choices = "choice", tuple(REGISTRY_CHOICES[name]())
        if name in NAME_LIST_CHOICES:
            choices = tuple(NAME_LIST_CHOICES[name]())
        if name in GRID_FIELDS:
            kind = "list"
        bounds: dict[str, Any] = {}
        for meta in info.metadata:
            if isinstance(meta, Ge | Gt):
                bounds.update(
                    low=float(getattr(meta, "ge", getattr(meta, "gt", 0))), low_inclusive=isinstance(meta, Ge)
                )
            if isinstance(meta, Le | Lt):
                bounds.update(
                    high=float(getattr(meta, "le", getattr(meta, "lt", 0))), high_inclusive=isinstance(meta, Le)
                )
        default = _lookup(values, name)
        fields.append(FormField(name, kind, default, choices, optional, help=info.description or "", **bounds))
    return fields


def _lookup(values: dict[str, Any], dotted: str) -> Any:
    node: Any = values
    for part in dotted.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _parse(field: FormField, text: str) -> Any:
    """A submitted string as the field's value (the schema validates it afterwards)."""
    text = text.strip()
    if field.kind == "bool":
        return text.lower() in ("1", "true", "on", "yes")
    if field.kind == "choice":
        if text not in field.choices:
            raise FormError(field.name, f"unknown name {text!r}; allowed: {', '.join(field.choices)}")
        return text
    if field.kind == "list" and field.name not in GRID_FIELDS:
        return [_number(field, part) for part in text.split(",") if part.strip()]
    if field.kind == "names":
        return [part.strip() for part in text.split(",") if part.strip()]
    if field.kind in ("int", "float"):
        return _number(field, text)
    return text


def _number(field: FormField, text: str) -> int | float:
    try:
        return int(text) if field.kind == "int" or field.name == "seed" else float(text)
    except ValueError:
        raise FormError(field.name, f"{text!r} is not a number") from None


def configs_from_form(
    preset: str, submitted: dict[str, str], server_data: dict[str, Path], results_dir: Path
) -> list[RunConfig]:
    """The run configs a form submission asks for: ``preset`` with the submitted values, one config per grid cell.
    Unknown keys and paths are refused; the dataset's data root and the results directory are the server's."""
    from pruningbench.config import preset_names

    if preset not in preset_names():
        raise FormError("preset", f"unknown preset {preset!r}; available: {', '.join(preset_names())}")
    fields = {field.name: field for field in form_fields(preset)}
    values: dict[str, Any] = {}
    grids: dict[str, list[Any]] = {}
    for name, text in submitted.items():
        if name not in fields:
            raise FormError(name, "not a field of this form (data locations are the server's to set)")
        field = fields[name]
        if not text.strip():  # left empty: None where the schema allows it, else the preset's value
            if field.optional:
                values[name] = None
            continue
        if name in GRID_FIELDS:
            choices = [part.strip() for part in text.split(",") if part.strip()]
            if not choices:
                raise FormError(name, "give at least one value")
            grids[name] = [
                _parse(FormField(name, "choice", None, field.choices), c) if field.choices else _number(field, c)
                for c in choices
            ]
        else:
            values[name] = _parse(field, text)
    values["results_dir"] = str(results_dir)
    dataset = values.get("task.dataset") or load_preset(preset).task.dataset
    if dataset in server_data:
        values["task.data_root"] = str(server_data[dataset])
    configs = []
    for importance in grids.get("method.importance", [None]):
        for speedup in grids.get("prune.speedup", [None]):
            for seed in grids.get("seed", [None]):
                cell = {
                    key: value
                    for key, value in (("method.importance", importance), ("prune.speedup", speedup), ("seed", seed))
                    if value is not None
                }
                try:
                    configs.append(load_preset(preset, {**values, **cell}))
                except ConfigError as error:
                    raise FormError(error.field, error.message) from None
    return configs


def suite_defaults(name: str) -> tuple[str, dict[str, str]]:
    """A suite as the form's starting point: its preset and its grid as field values."""
    suite = load_suite(name)
    importances = [m.importance for m in suite.methods if m.regularizer is None]
    return suite.preset, {
        "method.importance": ",".join(importances),
        "prune.speedup": ",".join(f"{s:g}" for s in suite.speedups),
        "seed": ",".join(str(s) for s in suite.seeds),
    }
