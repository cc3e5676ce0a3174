"""Plug-ins from outside the package: an installed package's entry points, a ``.py`` file given with ``--plugin``
or in a config, their origins in the runs' identity and on the boards, and broken plug-ins in one line."""

import importlib.metadata
import logging
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import pruningbench.pipeline as pipeline
from pruningbench.checkpoint import load_pruned
from pruningbench.errors import UserError
from pruningbench.leaderboard import build_boards
from pruningbench.methods.importance import CRITERIA
from pruningbench.models import MODELS
from pruningbench.registry import Registry, load_plugin
from pruningbench.store import ResultStore
from pruningbench.web.forms import form_fields

EXAMPLE = "pruningbench-example-plugin"
try:
    EXAMPLE_ORIGIN = f"{EXAMPLE} {importlib.metadata.version(EXAMPLE)}"
except importlib.metadata.PackageNotFoundError:
    EXAMPLE_ORIGIN = None
needs_example = pytest.mark.skipif(
    EXAMPLE_ORIGIN is None, reason="pip install -e tests/plugin_package (make test does it) to test entry points"
)

FILE_PLUGIN = '''
import torch
import pruningbench as pb


@pb.register_criterion("{name}")
class FileCriterion(pb.Criterion):
    """Scores the root layer's channels by index: the last channel is the most important."""

    def score(self, group):
        return torch.arange(1, len(group[0].idxs) + 1, dtype=torch.float32) * {factor}
'''


ROOT = Path(__file__).parents[1]  # where $PRUNINGBENCH_PLUGINS's ``tests.plugin`` imports from


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pruningbench", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


@needs_example
def test_an_installed_plugin_runs_end_to_end_and_its_board_row_names_its_version(tiny_config):
    assert CRITERIA.origin("FilterMean") == EXAMPLE_ORIGIN and MODELS.origin("tiny_cnn_plugin") == EXAMPLE_ORIGIN
    assert CRITERIA.origin("Taylor") is None
    config = tiny_config(**{"task.model": "tiny_cnn_plugin", "method.importance": "FilterMean", "prune.speedup": 2})
    store = ResultStore.in_dir(config.results_dir)
    record = pipeline.run_experiment(config, store)
    assert 2.0 <= record.achieved_speedup <= 2.02
    assert record.versions["plugin criterion FilterMean"] == EXAMPLE_ORIGIN
    assert record.versions["plugin model tiny_cnn_plugin"] == EXAMPLE_ORIGIN
    model = load_pruned(config.results_dir / record.model_path)
    assert model(torch.zeros(1, 1, 28, 28)).shape == (1, 10)
    (board,) = build_boards(store.records())
    assert [row.label for row in board.rows] == [f"FilterMean ({EXAMPLE_ORIGIN})"]
    fields = {field.name: field for field in form_fields("quickstart")}  # the platform's form offers them
    assert "FilterMean" in fields["method.importance"].choices and "tiny_cnn_plugin" in fields["task.model"].choices
    assert "plugins" not in fields  # a form never makes the server import code


def test_a_plugin_file_registers_a_criterion_whose_file_hash_is_part_of_the_run_identity(tmp_path, tiny_config):
    first, second = tmp_path / "first" / "my_criterion.py", tmp_path / "second" / "my_criterion.py"
    for path, factor in ((first, 1), (second, 2)):
        path.parent.mkdir()
        path.write_text(FILE_PLUGIN.format(name=f"ByIndex{factor}", factor=factor))
    load_plugin(str(first))
    load_plugin(str(first))  # once per process
    origin = CRITERIA.origin("ByIndex1")
    assert origin is not None and origin.startswith("my_criterion.py sha256:")
    config = tiny_config(**{"method.importance": "ByIndex1", "plugins": [str(first)]})
    assert config.plugin_origins()["criterion ByIndex1"] == origin
    assert config.run_key() != tiny_config(**{"method.importance": "MagnitudeL1"}).run_key()

    load_plugin(str(second))  # another file (another hash) gets its own origin
    assert CRITERIA.origin("ByIndex2") not in (None, origin)


def test_the_cli_plugin_option_and_a_config_plugins_key_load_a_file(tmp_path):
    plugin = tmp_path / "mine.py"
    plugin.write_text(FILE_PLUGIN.format(name="ByIndexCli", factor=1))
    listed = _cli("--plugin", str(plugin), "list")
    assert listed.returncode == 0, listed.stderr
    assert "ByIndexCli (mine.py sha256:" in listed.stdout

    results = str(tmp_path / "results")
    tiny = [f"--set={setting}" for setting in ("task.dataset=fashion_mnist_tiny", "base_training.epochs=1",
                                                "finetune.epochs=1", "latency.repeats=3", "latency.warmup=0")]
    ran = _cli("--plugin", str(plugin), "run", "--preset", "quickstart", "--importance", "ByIndexCli", *tiny,
               "--results-dir", results)
    assert ran.returncode == 0, ran.stderr
    board = _cli("leaderboard", "--results-dir", results, "--format", "csv")
    assert board.returncode == 0 and "ByIndexCli (mine.py sha256:" in board.stdout

    config = tmp_path / "run.yaml"
    config.write_text(
        f"plugins: [{plugin}]\ntask: {{model: resnet8_quick, dataset: nope}}\nmethod: {{importance: ByIndexCli}}\n"
    )
    refused = _cli("run", str(config), "--results-dir", str(tmp_path / "results"))
    # the plug-in's criterion is known (the config fails on the next problem, the unknown dataset)
    assert refused.returncode == 2 and "ByIndexCli" not in refused.stderr and "nope" in refused.stderr


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("raise ImportError('no module named torchfoo')", "plug-in '{path}' cannot be loaded: no module named torchfoo"),
        (
            "import pruningbench as pb\n\n@pb.register_criterion('Taylor')\nclass Mine(pb.Criterion):\n    pass\n",
            "plug-in '{path}' cannot be loaded: importance criterion 'Taylor' is registered twice",
        ),
    ],
)
def test_a_broken_plugin_file_is_one_line_naming_it_and_exit_2(tmp_path, source, message):
    plugin = tmp_path / "broken.py"
    plugin.write_text(source)
    with pytest.raises(UserError) as error:
        load_plugin(str(plugin))
    assert str(error.value) == message.format(path=plugin)
    result = _cli("--plugin", str(plugin), "list")
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [f"error: {message.format(path=plugin)}"]
    with pytest.raises(UserError, match="plug-in file 'missing.py' does not exist"):
        load_plugin("missing.py")


def test_a_broken_entry_point_is_skipped_in_one_line_and_the_rest_still_loads(monkeypatch, caplog):
    registry: Registry[object] = Registry("thing", entry_points="pruningbench.things")
    registry.register("builtin")(object)
    points = [
        importlib.metadata.EntryPoint("broken", "no_such_module_here:Thing", "pruningbench.things"),
        importlib.metadata.EntryPoint("good", "collections:OrderedDict", "pruningbench.things"),
        importlib.metadata.EntryPoint("builtin", "collections:Counter", "pruningbench.things"),
    ]
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [p for p in points if p.group == group])
    with caplog.at_level(logging.WARNING, logger="pruningbench.registry"):
        assert registry.names() == ["builtin", "good"]
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 2
    assert "broken" in warnings[0] and "No module named 'no_such_module_here'" in warnings[0]
    assert "thing 'builtin' is registered twice" in warnings[1]
    assert registry.origin("good") == "collections:OrderedDict" and registry.origin("builtin") is None
