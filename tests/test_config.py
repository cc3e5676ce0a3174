from pathlib import Path

import pytest
import yaml

from pruningbench.config import load_config, load_preset, parse_config, preset_names
from pruningbench.errors import UserError


def _quickstart_dict() -> dict:
    return load_preset("quickstart").model_dump(mode="json")


def test_presets_all_validate(tmp_path: Path):
    for name in preset_names():
        overrides = {"task.data_root": str(tmp_path)} if name.startswith(("cifar", "imagenet", "coco")) else {}
        config = load_preset(name, overrides)
        assert config.prune.scope == "protected_global" and config.prune.protected_share == 0.1


@pytest.mark.parametrize(
    ("dotted", "value", "message"),
    [
        ("prune.speedup", -2, "prune.speedup: Input should be greater than 1 (got -2)"),
        ("method.importance", "Magic", "method.importance: unknown name 'Magic'; allowed: "),
        ("prune.scope", "everywhere", "prune.scope: Input should be 'local', 'global' or 'protected_global'"),
        ("finetune.lr", "fast", "finetune.lr: Input should be a valid number"),
        ("method.regularizer", "L0", "method.regularizer: unknown name 'L0'; allowed: BNScale, GroupLASSO"),
        ("sparsify.reg", 0, "sparsify.reg: Input should be greater than 0"),
        ("task.data_root", "/no/such/dir", "task.data_root '/no/such/dir' does not exist"),
    ],
)
def test_bad_values_give_one_line_naming_the_field(dotted, value, message):
    with pytest.raises(UserError) as error:
        parse_config(_quickstart_dict(), "cfg.yaml", {dotted: value})
    text = str(error.value)
    assert message in text and "\n" not in text and text.startswith("cfg.yaml")


def test_unknown_key_is_named():
    data = _quickstart_dict()
    data["prune"]["sped_up"] = 2
    with pytest.raises(UserError, match=r"unknown key 'prune\.sped_up'"):
        parse_config(data, "cfg.yaml")


def test_missing_key_is_named():
    data = _quickstart_dict()
    del data["method"]
    with pytest.raises(UserError, match="missing required key 'method'"):
        parse_config(data)


def test_missing_file_and_bad_yaml(tmp_path: Path):
    with pytest.raises(UserError, match="not found"):
        load_config(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: [unclosed")
    with pytest.raises(UserError, match="not valid YAML"):
        load_config(bad)


def test_run_key_ignores_paths_but_not_method(tmp_path: Path):
    config_file = tmp_path / "run.yaml"
    config_file.write_text(yaml.safe_dump(_quickstart_dict()))
    first = load_config(config_file)
    moved = load_config(config_file, {"results_dir": str(tmp_path / "elsewhere")})
    other = load_config(config_file, {"method.importance": "MagnitudeL1"})
    assert first.run_key() == moved.run_key() != other.run_key()
    assert first.base_key() == other.base_key()  # a different method prunes the same base model
    assert first.base_key() != load_config(config_file, {"base_training.epochs": 1}).base_key()


def test_regularizer_needs_a_sparsify_section_which_criteria_runs_ignore():
    data = _quickstart_dict()
    del data["sparsify"]
    with pytest.raises(UserError, match="method.regularizer 'GroupNorm' needs a 'sparsify' section") as error:
        parse_config(data, "cfg.yaml", {"method.regularizer": "GroupNorm"})
    assert "\n" not in str(error.value)
    criteria_run = load_preset("quickstart")
    assert criteria_run.run_key() == load_preset("quickstart", {"sparsify.reg": 0.5}).run_key()
    paired = load_preset("quickstart", {"method.regularizer": "GroupNorm"})
    assert paired.run_key() != load_preset("quickstart", {"method.regularizer": "GroupNorm", "sparsify.reg": 0.5}).run_key()


def test_a_speedup_suffix_selects_the_target_of_a_preset(tmp_path: Path):
    config = load_preset("imagenet-resnet50-3x", {"task.data_root": str(tmp_path)})
    assert config.prune.speedup == 3.0 and config.task.model == "resnet50" and config.task.pretrained
    assert load_preset("quickstart-2.5x").prune.speedup == 2.5
    with pytest.raises(UserError, match="unknown preset 'nope'"):
        load_preset("nope-2x")


def test_identities_ignore_settings_left_at_their_defaults():
    # a later release adding a setting with a backward-compatible default must not orphan stored runs and caches
    plain = load_preset("quickstart")
    spelled_out = load_preset("quickstart", {"calibration.batches": 10, "finetune.warmup_epochs": 0, "task.workers": 0})
    assert plain.run_key() == spelled_out.run_key() and plain.base_key() == spelled_out.base_key()
    assert plain.run_key() != load_preset("quickstart", {"calibration.batches": 11}).run_key()


def test_pretrained_is_true_false_or_an_existing_weights_file(tmp_path: Path):
    weights = tmp_path / "resnet18.pth"
    weights.write_bytes(b"")
    assert load_preset("imagenet-resnet18", {"task.pretrained": str(weights), "task.data_root": str(tmp_path)}
                       ).task.pretrained == weights
    assert load_preset("imagenet-resnet18", {"task.pretrained": True, "task.data_root": str(tmp_path)}).task.pretrained is True
    with pytest.raises(UserError, match="task.pretrained '/no/such.pth' is not a file"):
        load_preset("imagenet-resnet18", {"task.pretrained": "/no/such.pth", "task.data_root": str(tmp_path)})
