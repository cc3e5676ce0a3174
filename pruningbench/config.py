"""Typed, validated run configuration: one YAML file (or built-in preset) fully determines one experiment.

Validation happens here, at the boundary: unknown keys, wrong types, out-of-range values and unknown registry names
become a :class:`UserError` with one line naming the field and what is allowed.
"""

from __future__ import annotations

import hashlib
import json
import re
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo

from pruningbench.data import DATASETS
from pruningbench.errors import UserError, first_line
from pruningbench.latency.engines import ENGINES
from pruningbench.methods.importance import CRITERIA
from pruningbench.methods.regularizers import REGULARIZERS
from pruningbench.models import MODELS
from pruningbench.models.structure import AttentionUnit
from pruningbench.registry import load_plugin

__all__ = [
    "ConfigError", "RunConfig", "Recipe", "config_fields", "SparsifyConfig", "explain_validation_error", "validation_problem", "load_config", "load_preset", "parse_config",
    "preset_names", "read_yaml",
]

PRESET_DIR = Path(__file__).with_name("presets")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TaskConfig(_Strict):
    """What is pruned: a registered model trained on a registered dataset."""

    model: str
    dataset: str
    data_root: Path | None = None
    download: bool = False
    image_size: int | None = Field(default=None, ge=8)  # crop size for datasets that resize (ImageNet); None: standard
    workers: int = Field(default=0, ge=0)  # data-loading worker processes
    data_on_device: bool | None = None  # uint8 images kept and augmented on the device (None: on CUDA, if possible)
    pretrained: bool | Path = False  # the library's weights: true fetches them (cached), a path reads that file
    base_checkpoint: Path | None = None  # a trained base model's state_dict; skips base training

    @field_validator("model")
    @classmethod
    def _known_model(cls, name: str) -> str:
        return _known(MODELS.names(), name)

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, name: str) -> str:
        return _known(DATASETS.names(), name)


class MethodConfig(_Strict):
    """The method under test: an importance criterion and, for the regularizer track, a sparsity regularizer."""

    importance: str
    regularizer: str | None = None

    @field_validator("importance")
    @classmethod
    def _known_importance(cls, name: str) -> str:
        return _known(CRITERIA.names(), name)

    @field_validator("regularizer")
    @classmethod
    def _known_regularizer(cls, name: str | None) -> str | None:
        return None if name is None else _known(REGULARIZERS.names(), name)


class PruneConfig(_Strict):
    """How much and where to prune: the target speed-up (in MACs, or in measured latency) and the ranking's scope."""

    speedup: float = Field(gt=1.0, le=1000.0)
    target: Literal["macs", "latency"] = "macs"  # latency: measured on the run's device in latency.engines[0]
    scope: Literal["local", "global", "protected_global"] = "protected_global"
    protected_share: float = Field(default=0.1, gt=0.0, lt=1.0)  # min share of channels each group keeps
    reconstruct: Literal["none", "least_squares"] = "none"  # refit layers that lost inputs (CP / ThiNet)
    attention: AttentionUnit = "head_dims"  # ViT attention units: dimensions of every head, or whole heads
    round_to: int = Field(default=1, ge=1)  # every pruned group keeps a multiple of this many units (or all of them)


class CalibrationConfig(_Strict):
    """Data that data-driven criteria see: the same seeded training-set sample for every criterion of a seed."""

    batches: int = Field(default=10, gt=0)
    batch_size: int = Field(default=64, gt=0)


class LatencyConfig(_Strict):
    """How the base and pruned models' forward latency is timed on the run's device (a measurement, not identity)."""

    batch_size: int = Field(default=64, gt=0)
    warmup: int = Field(default=5, ge=0)
    repeats: int = Field(default=20, gt=0)
    threads: int | None = Field(default=None, ge=1)  # CPU threads while timing (None: the run's); 1 resists neighbours
    engines: tuple[str, ...] = ("eager",)  # all are measured (and at batch 1); the first is on the boards
    precision: Literal["fp32", "bf16"] = "fp32"  # weights and inputs cast once, as deployed (eager only)
    channels_last: bool = False  # NHWC weights and inputs (eager; set after pruning, as deployed)

    @field_validator("engines")
    @classmethod
    def _known_engines(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        if not names:
            raise ValueError("name at least one engine")
        if len(set(names)) != len(names):
            raise ValueError(f"an engine is named twice in {list(names)}")
        for name in names:
            _known(ENGINES.names(), name)
        return names

    @model_validator(mode="after")
    def _precision_engines(self) -> LatencyConfig:
        if self.precision != "fp32" and "onnxruntime" in self.engines:
            raise ValueError(f"precision {self.precision!r} is measured in eager only; onnxruntime runs fp32")
        return self


class Recipe(_Strict):
    """A training recipe (base training, sparsifying or finetuning): SGD with momentum, or AdamW (ViTs)."""

    epochs: int = Field(ge=0)
    lr: float = Field(gt=0.0)
    batch_size: int = Field(default=128, gt=0)
    optimizer: Literal["sgd", "adamw"] = "sgd"
    momentum: float = Field(default=0.9, ge=0.0, lt=1.0)  # SGD momentum; AdamW's beta1
    weight_decay: float = Field(default=5e-4, ge=0.0)
    schedule: Literal["cosine", "step"] = "cosine"
    milestones: tuple[int, ...] = ()  # epochs where the step schedule multiplies lr by gamma
    gamma: float = Field(default=0.1, gt=0.0, le=1.0)
    warmup_epochs: int = Field(default=0, ge=0)  # linear warm-up from lr/100 before the schedule
    label_smoothing: float = Field(default=0.0, ge=0.0, lt=1.0)
    mixup: float = Field(default=0.0, ge=0.0)  # Beta(alpha, alpha) of mixup (timm's Mixup); 0: off
    cutmix: float = Field(default=0.0, ge=0.0)  # Beta(alpha, alpha) of CutMix; with mixup, one of them per batch
    precision: Literal["fp32", "bf16", "fp16", "auto"] = "fp32"  # autocast; fp16: CUDA; auto: bf16 if native, else fp32
    channels_last: bool = False  # NHWC weights (set after pruning, before finetuning) and inputs
    nproc: int = Field(default=1, ge=1)  # data-parallel processes (torchrun); batch_size stays the global batch

    @model_validator(mode="after")
    def _even_batches_for_mixing(self) -> Recipe:
        if (self.mixup or self.cutmix) and self.batch_size % 2:
            raise ValueError(f"mixup/cutmix pair the images of a batch: they need an even batch_size, not {self.batch_size}")
        if self.batch_size % self.nproc:
            raise ValueError(f"batch_size {self.batch_size} (the global batch) is not divisible by nproc {self.nproc}")
        return self


class SparsifyConfig(Recipe):
    """Stage 1: the base model trained further under ``method.regularizer`` (a recipe plus the penalty's settings)."""

    reg: float = Field(gt=0.0)  # regularization coefficient lambda
    alpha: float = Field(default=4.0, ge=0.0)  # GroupNorm: per-channel coefficients span lambda * 2^[0, alpha]
    delta_reg: float = Field(default=1e-5, ge=0.0)  # GrowingReg: growth of the marked channels' lambda per epoch
    reg_ceiling: float = Field(default=1.0, gt=0.0)  # GrowingReg: lambda stops growing here


class ResourcesConfig(_Strict):
    """What one run asks of a cluster node (``bench --executor ray``); not part of the run's identity."""

    cpus: float = Field(default=1.0, gt=0.0)
    gpus: float = Field(default=1.0, ge=0.0)  # a fraction shares a GPU between small runs; 0 (or no GPU): CPU only
    memory_gb: float | None = Field(default=None, gt=0.0)  # RAM reserved on the node (None: no reservation)


class RunConfig(_Strict):
    """One pruning experiment, end to end."""

    task: TaskConfig
    method: MethodConfig
    prune: PruneConfig
    base_training: Recipe
    finetune: Recipe
    sparsify: SparsifyConfig | None = None  # required when method.regularizer is set, ignored otherwise
    calibration: CalibrationConfig = CalibrationConfig()
    latency: LatencyConfig = LatencyConfig()
    resources: ResourcesConfig = ResourcesConfig()
    seed: int = Field(default=0, ge=0)
    base_seed: int = Field(default=0, ge=0)  # seeds base training, shared by all runs so they prune the same model
    eval_batch_size: int = Field(default=256, gt=0)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    deterministic: bool = True  # CUDA: deterministic kernels (a seed reproduces a run); false: cuDNN autotuner
    results_dir: Path = Path("results")
    plugins: tuple[str, ...] = ()  # modules or .py files loaded before the names are checked (their origins: identity)

    @model_validator(mode="before")
    @classmethod
    def _load_plugins(cls, data: Any) -> Any:
        """Load the config's plug-ins first, so the names they register are known to the fields below."""
        plugins = data.get("plugins") if isinstance(data, dict) else None
        for spec in [plugins] if isinstance(plugins, str) else plugins or ():
            if isinstance(spec, str):
                load_plugin(spec)
        return data

    @model_validator(mode="after")
    def _data_root_exists(self) -> RunConfig:
        root = self.task.data_root
        if root is not None and not self.task.download and not root.exists():
            raise ValueError(f"task.data_root {str(root)!r} does not exist")
        if isinstance(self.task.pretrained, Path) and not self.task.pretrained.is_file():
            raise ValueError(f"task.pretrained {str(self.task.pretrained)!r} is not a file (or true/false)")
        if self.task.base_checkpoint is not None and not self.task.base_checkpoint.is_file():
            raise ValueError(f"task.base_checkpoint {str(self.task.base_checkpoint)!r} is not a file")
        if self.method.regularizer is not None and self.sparsify is None:
            raise ValueError(f"method.regularizer {self.method.regularizer!r} needs a 'sparsify' section (its recipe)")
        if self.device == "cpu" and (name := self.fp16_recipe()):
            raise ValueError(f"{name}.precision fp16 needs a CUDA device (autocast on CPU runs bf16)")
        return self

    def plugin_origins(self) -> dict[str, str]:
        """Where this run's plug-in components come from, e.g. ``{"criterion MyL1": "my-plugin 0.2"}``; built-ins are
        left out. Part of the run's identity: a new version of a plug-in is a new run, never mixed with the old."""
        used = [
            ("criterion", CRITERIA.origin(self.method.importance), self.method.importance),
            ("regularizer", self.method.regularizer and REGULARIZERS.origin(self.method.regularizer), self.method.regularizer),
            ("model", MODELS.origin(self.task.model), self.task.model),
            ("dataset", DATASETS.origin(self.task.dataset), self.task.dataset),
        ]
        return {f"{kind} {name}": origin for kind, origin, name in used if origin}

    def recipes(self) -> dict[str, Recipe]:
        """The run's training recipes by section name (``sparsify`` only when the config has one)."""
        recipes = {"base_training": self.base_training, "sparsify": self.sparsify, "finetune": self.finetune}
        return {name: recipe for name, recipe in recipes.items() if recipe is not None}

    def fp16_recipe(self) -> str | None:
        """The first recipe that trains in fp16 (which only CUDA runs), or None."""
        return next((name for name, recipe in self.recipes().items() if recipe.precision == "fp16"), None)

    # Identities hash only the values that differ from the defaults, so a release that adds a setting (with a default
    # that keeps the old behaviour) keeps every stored run, base model and sparsified model valid.

    def run_key(self) -> str:
        """Identity of the experiment: a hash of everything that determines its result (not paths or device)."""
        excluded: dict[str, Any] = {
            "results_dir": True, "device": True, "deterministic": True, "latency": True, "plugins": True,
            "resources": True,
            "task": {"data_root", "workers", "data_on_device"},
        }
        if self.prune.target == "latency":  # how many channels go depends on where and how latency is measured
            del excluded["device"], excluded["latency"]
        if self.method.regularizer is None:
            excluded["sparsify"] = True
        payload = self.model_dump(mode="json", exclude=excluded, exclude_defaults=True)
        if origins := self.plugin_origins():
            payload["plugin_origins"] = origins
        return _digest(payload)

    def base_key(self) -> str:
        """Identity of the base model this run prunes, shared by all runs that differ only in method or target."""
        task = self.task.model_dump(
            mode="json", include={"model", "dataset", "image_size", "pretrained", "base_checkpoint"}, exclude_defaults=True
        )
        recipe = self.base_training.model_dump(mode="json", exclude_defaults=True)
        payload: dict[str, Any] = {"task": task, "recipe": recipe, "seed": self.base_seed}
        if origins := {key: origin for key, origin in self.plugin_origins().items() if key.startswith(("model", "dataset"))}:
            payload["plugin_origins"] = origins
        return _digest(payload)

    def sparse_key(self, marks_channels: bool) -> str:
        """Identity of the sparsified model: base, regularizer and recipe, and, for a regularizer that marks the
        channels to prune (``marks_channels``), the criterion, target and calibration that mark them."""
        if self.sparsify is None or self.method.regularizer is None:
            raise ValueError("this run has no sparsifying stage")
        payload: dict[str, Any] = {
            "base": self.base_key(),
            "regularizer": self.method.regularizer,
            "recipe": self.sparsify.model_dump(mode="json", exclude_defaults=True),
        }
        if marks_channels:
            marking = {"method", "prune", "calibration", "seed"}
            payload["marking"] = self.model_dump(mode="json", include=marking, exclude_defaults=True)
        return _digest(payload)


def config_fields(model: type[BaseModel] = RunConfig, prefix: str = "") -> list[tuple[str, Any, FieldInfo]]:
    """(dotted key, annotation, field info) of every leaf setting, sections flattened: what the platform's form and
    the documentation's config reference are generated from."""
    leaves = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        nested = [
            a for a in typing.get_args(annotation) or (annotation,) if isinstance(a, type) and issubclass(a, BaseModel)
        ]
        if nested:
            leaves += config_fields(nested[0], f"{prefix}{name}.")
        else:
            leaves.append((f"{prefix}{name}", annotation, info))
    return leaves


def _known(allowed: list[str], name: str) -> str:
    if name not in allowed:
        raise ValueError(f"unknown name {name!r}; allowed: {', '.join(allowed)}")
    return name


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise UserError(f"cannot override {dotted!r}: {key!r} is not a section")
    node[leaf] = value


def validation_problem(error: ValidationError) -> tuple[str, str]:
    """The first validation problem as (dotted field, what is wrong): the message the CLI and the web form show."""
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "config"
    if first["type"] == "extra_forbidden":
        return field, f"unknown key {field!r}"
    if first["type"] == "missing":
        return field, f"missing required key {field!r}"
    message = first["msg"].removeprefix("Value error, ")
    shown = first.get("input")
    got = "" if isinstance(shown, dict) or "got" in message or "unknown name" in message else f" (got {shown!r})"
    return field, message + got


def explain_validation_error(error: ValidationError, source: str) -> str:
    """The first validation problem as one line: ``<source>: <field>: <what is wrong>``."""
    field, message = validation_problem(error)
    return f"{source}: {message}" if message.endswith(f"key {field!r}") else f"{source}: {field}: {message}"


class ConfigError(UserError):
    """A config that does not validate; ``field`` names the key (dotted) so a form can show ``message`` beside it."""

    def __init__(self, source: str, error: ValidationError) -> None:
        self.field, self.message = validation_problem(error)
        super().__init__(explain_validation_error(error, source))


def parse_config(data: Any, source: str = "config", overrides: dict[str, Any] | None = None) -> RunConfig:
    """Validate a config mapping; ``overrides`` maps dotted keys (``prune.speedup``) to values set on top (``nproc``:
    every training stage's)."""
    if not isinstance(data, dict):
        raise UserError(f"{source}: expected a mapping of config keys, got {type(data).__name__}")
    for dotted, value in (overrides or {}).items():
        if dotted == "nproc":  # every training stage of the config at once (--nproc)
            for stage in ("base_training", "sparsify", "finetune"):
                if isinstance(data.get(stage), dict):
                    data[stage]["nproc"] = value
            continue
        _set_dotted(data, dotted, value)
    try:
        return RunConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(source, error) from None


def read_yaml(path: Path, what: str = "config file") -> Any:
    """The YAML document in ``path``, or a one-line error: missing, a directory, unreadable, binary, not YAML."""
    if path.is_dir():
        raise UserError(f"{what} {str(path)!r} is a directory, not a YAML file")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{what} {str(path)!r} not found") from None
    except UnicodeDecodeError:
        raise UserError(f"{what} {str(path)!r} is not a text file (YAML expected)") from None
    except OSError as error:
        raise UserError(f"{what} {str(path)!r} cannot be read: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise UserError(f"{path}: not valid YAML ({first_line(error)})") from None


def load_config(path: Path, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Load and validate a YAML run config."""
    return parse_config(read_yaml(Path(path)), str(path), overrides)


def preset_names() -> list[str]:
    """Names of the built-in presets (YAML files shipped in ``pruningbench/presets``)."""
    return sorted(path.stem for path in PRESET_DIR.glob("*.yaml"))


def load_preset(name: str, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Load the built-in preset ``name``; ``NAME-4x`` is preset ``NAME`` with ``prune.speedup: 4``."""
    if name not in preset_names() and (target := re.fullmatch(r"(.+)-(\d+(?:\.\d+)?)x", name)):
        name, overrides = target.group(1), {"prune.speedup": float(target.group(2)), **(overrides or {})}
    if name not in preset_names():
        raise UserError(f"unknown preset {name!r}; available: {', '.join(preset_names())} (each also as NAME-2x, ...)")
    return load_config(PRESET_DIR / f"{name}.yaml", overrides)
