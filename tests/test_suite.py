from pathlib import Path

import pytest
import yaml

from pruningbench.errors import UserError
from pruningbench.methods.importance import CRITERIA
from pruningbench.methods.regularizers import REGULARIZERS
from pruningbench.suite import load_suite, suite_names


def test_builtin_suites_expand_to_valid_configs(tmp_path: Path):
    assert "quickstart" in suite_names()
    configs = load_suite("quickstart").expand({"results_dir": str(tmp_path)})
    builtin = [name for name in CRITERIA.names() if CRITERIA.origin(name) is None]  # plug-ins are not in the suite
    assert {c.method.importance for c in configs} == set(builtin)
    assert sorted({c.prune.speedup for c in configs}) == [2.0, 4.0, 8.0]
    pairings = {(c.method.importance, c.method.regularizer) for c in configs if c.method.regularizer}
    assert pairings == {("MagnitudeL2", "GroupLASSO"), ("BNScale", "BNScale"), ("MagnitudeL2", "GroupNorm"),
                        ("BNScale", "GroupLASSO"), ("MagnitudeL2", "GrowingReg")}  # the reference's five
    assert {c.method.regularizer for c in configs} - {None} == set(REGULARIZERS.names())
    assert len({c.run_key() for c in configs}) == len(configs) == 3 * (len(builtin) + 5)
    assert len({c.base_key() for c in configs}) == 1  # every run prunes the same base model
    paired = load_suite("quickstart").expand(methods=["MagnitudeL2+GroupNorm"], speedups=[2.0])
    assert [(c.method.importance, c.method.regularizer) for c in paired] == [("MagnitudeL2", "GroupNorm")]


def test_user_suite_file_with_filters(tmp_path: Path):
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({
        "preset": "quickstart",
        "methods": [{"importance": "MagnitudeL1"}, {"importance": "MagnitudeL2"}],
        "speedups": [2, 4],
        "seeds": [0, 1],
        "overrides": {"finetune.epochs": 1},
    }))
    suite = load_suite(str(path))
    assert len(suite.expand()) == 8
    filtered = suite.expand(methods=["MagnitudeL1"], speedups=[4.0], seeds=[1])
    assert [(c.method.importance, c.prune.speedup, c.seed, c.finetune.epochs) for c in filtered] == [("MagnitudeL1", 4.0, 1, 1)]
    with pytest.raises(UserError, match="suite has no speed-up 3.0"):
        suite.expand(speedups=[3.0])


def test_bad_suites_are_named(tmp_path: Path):
    with pytest.raises(UserError, match="unknown suite 'nope'"):
        load_suite("nope")
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"preset": "quickstart", "methods": [], "speedups": [2]}))
    with pytest.raises(UserError, match="methods"):
        load_suite(str(path))
