"""Benchmark suites: a preset expanded over methods × speed-ups × seeds into one run config each.

A suite is YAML (see ``pruningbench/presets/suites/``) that users can copy and edit; built-in ones are found by
name. Filters from the command line narrow the grid without editing the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pruningbench.config import PRESET_DIR, RunConfig, explain_validation_error, load_preset, read_yaml
from pruningbench.errors import UserError

__all__ = ["Suite", "load_suite", "suite_names"]

SUITE_DIR = PRESET_DIR / "suites"


class SuiteMethod(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    importance: str
    regularizer: str | None = None

    @property
    def label(self) -> str:
        """``Importance`` for the criteria track, ``Importance+Regularizer`` for a regularizer pairing."""
        return self.importance if self.regularizer is None else f"{self.importance}+{self.regularizer}"


class Suite(BaseModel):
    """A grid of runs over one preset."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    preset: str
    overrides: dict[str, Any] = Field(default_factory=dict)  # dotted keys applied to every run
    methods: list[SuiteMethod] = Field(min_length=1)
    speedups: list[float] = Field(min_length=1)
    seeds: list[int] = Field(default=[0], min_length=1)
    note: str | None = None  # shown before and after the suite runs (e.g. that its schedules are shortened)
    plugins: list[str] = Field(default_factory=list)  # modules or .py files every run loads (see RunConfig.plugins)

    def expand(
        self,
        overrides: dict[str, Any] | None = None,
        methods: list[str] | None = None,
        speedups: list[float] | None = None,
        seeds: list[int] | None = None,
    ) -> list[RunConfig]:
        """Run configs of the grid, filtered to the given method labels (:attr:`SuiteMethod.label`) / speed-ups /
        seeds when given."""
        for name, wanted, available in (
            ("method", methods, [m.label for m in self.methods]),
            ("speed-up", speedups, self.speedups),
            ("seed", seeds, self.seeds),
        ):
            missing = [value for value in wanted or [] if value not in available]
            if missing:
                raise UserError(f"suite has no {name} {missing[0]!r}; it has: {', '.join(map(str, available))}")
        configs = []
        for method in self.methods:
            if methods and method.label not in methods:
                continue
            for speedup in speedups or self.speedups:
                for seed in seeds or self.seeds:
                    run_overrides = {
                        **self.overrides,
                        **(overrides or {}),
                        "method.importance": method.importance,
                        "method.regularizer": method.regularizer,
                        "prune.speedup": speedup,
                        "seed": seed,
                    }
                    if self.plugins:
                        run_overrides["plugins"] = list(self.plugins)
                    configs.append(load_preset(self.preset, run_overrides))
        return configs


def suite_names() -> list[str]:
    """Names of the built-in suites."""
    return sorted(path.stem for path in SUITE_DIR.glob("*.yaml"))


def load_suite(name_or_path: str) -> Suite:
    """A built-in suite by name, or a suite YAML file by path."""
    path = Path(name_or_path)
    if not path.suffix:
        if name_or_path not in suite_names():
            raise UserError(f"unknown suite {name_or_path!r}; built-in: {', '.join(suite_names())}, or a YAML path")
        path = SUITE_DIR / f"{name_or_path}.yaml"
    data = read_yaml(path, "suite file")
    try:
        return Suite.model_validate(data)
    except ValidationError as error:
        raise UserError(explain_validation_error(error, str(path))) from None
