"""The CLI as a user meets it: exit codes, one-line errors, leaderboards in every format."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pruningbench.cli import app
from pruningbench.config import load_preset
from tests.conftest import TINY_DATASET


def _cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["pruningbench", *args])
    try:
        app()
        code = 0
    except SystemExit as stop:
        code = stop.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _write_config(tmp_path: Path, **changes) -> Path:
    data = load_preset("quickstart").model_dump(mode="json")
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        node = data
        for key in parents:
            node = node[key]
        node[leaf] = value
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"prune.sped_up": 2}, "unknown key 'prune.sped_up'"),
        ({"prune.speedup": -2}, "prune.speedup: Input should be greater than 1"),
        ({"method.importance": "Magic"}, "method.importance: unknown name 'Magic'"),
        ({"task.dataset": "cifar100", "task.data_root": "/no/such/data"}, "task.data_root '/no/such/data' does not exist"),
    ],
)
def test_malformed_configs_exit_2_with_one_line(tmp_path, monkeypatch, capsys, changes, expected):
    code, out, err = _cli(monkeypatch, capsys, "run", str(_write_config(tmp_path, **changes)))
    assert code == 2 and expected in err
    assert err.strip().count("\n") == 0 and "Traceback" not in err


def test_preset_without_its_data_names_the_data_root(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, _, err = _cli(monkeypatch, capsys, "run", "--preset", "cifar100-resnet18")
    assert code == 2 and "task.data_root 'data' does not exist" in err


def test_real_entry_point_prints_no_traceback(tmp_path):
    config = _write_config(tmp_path, **{"prune.speedup": 0.5})
    done = subprocess.run(
        [sys.executable, "-c", "from pruningbench.cli import app; app()", "run", str(config)],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().startswith("error:") and "prune.speedup" in done.stderr


@pytest.mark.parametrize(
    ("setting", "expected"),
    [("prune.bogus=1", "unknown key 'prune.bogus'"), ("no-equals", "expected KEY=VALUE"),
     ("prune.attention=whole", "prune.attention: Input should be 'head_dims' or 'heads'"),
     ("prune.round_to=0", "prune.round_to: Input should be greater than or equal to 1"),
     ("prune.target=flops", "prune.target: Input should be 'macs' or 'latency'"),
     ("latency.engines=[eager,tensorrt]", "latency.engines: unknown name 'tensorrt'; allowed: eager, onnxruntime"),
     ("latency.engines=[]", "latency.engines: name at least one engine"),
     ("latency.precision=bf16 with latency.engines=[eager,onnxruntime]", None)],
)
def test_bad_set_options_exit_2_with_one_line(monkeypatch, capsys, setting, expected):
    if expected is None:  # each of these is fine alone; together they are not
        setting, expected = "latency.precision=bf16", "latency: precision 'bf16' is measured in eager only"
        code, _, err = _cli(monkeypatch, capsys, "run", "--preset", "quickstart", "--set", setting, "--set",
                            "latency.engines=[eager,onnxruntime]")
    else:
        code, _, err = _cli(monkeypatch, capsys, "run", "--preset", "quickstart", "--set", setting)
    assert code == 2 and expected in err and err.strip().count("\n") == 0


def test_set_overrides_any_key_with_a_yaml_value(tmp_path, monkeypatch, capsys):
    results = tmp_path / "results"
    sets = [f"task.dataset={TINY_DATASET}", "base_training.epochs=1", "finetune.epochs=0", "prune.protected_share=0.25"]
    code, out, err = _cli(monkeypatch, capsys, "run", "--preset", "quickstart", "--results-dir", str(results),
                          *[arg for setting in sets for arg in ("--set", setting)])
    assert code == 0, err
    from pruningbench.store import ResultStore

    (record,) = ResultStore.in_dir(results).records()
    assert record.config["finetune"]["epochs"] == 0 and record.config["prune"]["protected_share"] == 0.25
    assert "protected_share=0.25" in out  # its own board: a non-default protocol setting


def test_list_shows_every_registry(monkeypatch, capsys):
    code, out, _ = _cli(monkeypatch, capsys, "list")
    assert code == 0
    for expected in ("resnet18_cifar", "fashion_mnist_embedded", "MagnitudeL2", "regularizers", "quickstart"):
        assert expected in out


def test_run_then_leaderboard_and_evaluate(tmp_path, monkeypatch, capsys):
    results = tmp_path / "results"
    overrides = {
        "task.dataset": TINY_DATASET, "base_training.epochs": 1, "base_training.batch_size": 64,
        "finetune.epochs": 1, "finetune.batch_size": 64,
    }
    config = _write_config(tmp_path, **overrides)
    code, out, err = _cli(monkeypatch, capsys, "run", str(config), "--speedup", "2", "--results-dir", str(results))
    assert code == 0, err
    assert "MagnitudeL2" in out and "criteria track" in out

    code, out, _ = _cli(monkeypatch, capsys, "leaderboard", "--results-dir", str(results), "--format", "json")
    (board,) = json.loads(out)
    assert board["speedup"] == 2.0 and board["rows"][0]["importance"] == "MagnitudeL2"

    code, out, _ = _cli(monkeypatch, capsys, "leaderboard", "--results-dir", str(results), "--format", "markdown")
    assert code == 0 and "| Importance | Regularizer | Rank |" in out

    code, _, err = _cli(monkeypatch, capsys, "leaderboard", "--results-dir", str(results), "--format", "xml")
    assert code == 2 and "--format must be one of" in err

    from pruningbench.store import ResultStore

    run_id = ResultStore.in_dir(results).records()[0].run_id
    code, out, _ = _cli(monkeypatch, capsys, "evaluate", run_id[:8], "--results-dir", str(results))
    assert code == 0 and f"run {run_id[:8]}: top1 " in out and "top5 " in out and "(stored top1 " in out


def test_leaderboard_of_an_empty_store_says_so(tmp_path, monkeypatch, capsys):
    code, _, err = _cli(monkeypatch, capsys, "leaderboard", "--results-dir", str(tmp_path))
    assert code == 2 and "no stored results" in err


def _tiny_suite(tmp_path: Path) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump({
        "preset": "quickstart",
        "overrides": {
            "task.dataset": TINY_DATASET, "base_training.epochs": 1, "base_training.batch_size": 64,
            "finetune.epochs": 1, "finetune.batch_size": 64, "sparsify.epochs": 1, "sparsify.batch_size": 64,
        },
        "methods": [{"importance": "MagnitudeL2"}, {"importance": "Random"},
                    {"importance": "MagnitudeL2", "regularizer": "GroupNorm"}],
        "speedups": [2, 4],
        "note": "tiny schedules",
    }))
    return path


def test_killed_suite_resumes_without_redoing_runs_and_ends_with_the_report(tmp_path, monkeypatch, capsys):
    import os
    import signal
    import time

    from pruningbench.store import ResultStore

    suite, results = _tiny_suite(tmp_path), tmp_path / "results"
    command = [sys.executable, "-c", "import tests.conftest; from pruningbench.cli import app; app()",
               "bench", str(suite), "--results-dir", str(results)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    store = ResultStore.in_dir(results)
    deadline = time.monotonic() + 240
    while process.poll() is None and time.monotonic() < deadline:
        if (results / "pruningbench.db").exists() and len(store.records()) >= 2:
            break
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)  # mid-suite, wherever it is
    process.wait()
    before = {r.run_key: r.run_id for r in store.records()}
    assert 2 <= len(before) < 6

    code, out, err = _cli(monkeypatch, capsys, "bench", str(suite), "--results-dir", str(results))
    assert code == 0, err
    assert f"6 runs, {len(before)} already stored, {6 - len(before)} to run" in out
    assert "ETA" in out and out.count("note: tiny schedules") == 2
    records = store.records()
    assert len(records) == len({r.run_key for r in records}) == 6  # each run exactly once
    assert {r.run_key: r.run_id for r in records if r.run_key in before} == before  # finished runs were not redone
    assert "regularizer track" in out and "criteria track" in out
    report = Path(out.split("report: ")[-1].split()[0])
    assert report.is_file() and "<table" in report.read_text()


def test_report_command_and_its_errors(tmp_path, monkeypatch, capsys):
    code, _, err = _cli(monkeypatch, capsys, "report", "--results-dir", str(tmp_path))
    assert code == 2 and "no stored results" in err


def test_bench_with_local_workers_shows_the_queue_and_ends_with_the_boards(tmp_path, monkeypatch, capsys):
    from pruningbench.store import ResultStore

    suite, results = _tiny_suite(tmp_path), tmp_path / "results"
    code, out, err = _cli(monkeypatch, capsys, "bench", str(suite), "--results-dir", str(results), "--jobs", "2",
                          "--methods", "MagnitudeL2,Random", "--speedups", "2")
    assert code == 0, err
    assert "2 runs queued on 2 local workers" in out and "suite: 2 done · 0 running · 0 failed · 0 queued" in out
    assert "criteria track" in out and "report: " in out
    assert len(ResultStore.in_dir(results).records()) == 2
    assert len(list((results / "logs").glob("worker-*.log"))) == 2


def test_bench_enqueue_only_queues_and_never_twice(tmp_path, monkeypatch, capsys):
    from pruningbench.execution.queue import TaskQueue
    from pruningbench.store import ResultStore

    suite, results = _tiny_suite(tmp_path), tmp_path / "results"
    for _ in range(2):
        code, out, err = _cli(monkeypatch, capsys, "bench", str(suite), "--results-dir", str(results), "--enqueue")
        assert code == 0 and "queued 6 runs" in out, err
    tasks = TaskQueue(ResultStore.in_dir(results).database).tasks()
    assert len(tasks) == 6 and {task.state for task in tasks} == {"queued"}
    assert ResultStore.in_dir(results).records() == []


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["run", "{dir}"], "is a directory, not a YAML file"),
        (["run", "{binary}"], "is not a text file (YAML expected)"),
        (["bench", "{binary}"], "suite file '{binary}' is not a text file"),
        (["leaderboard", "--db-url", "results.db"], "is not a database URL"),
        (["leaderboard", "--db-url", "postgresql+psycopg://nobody@127.0.0.1:9/x?connect_timeout=2"], "cannot be reached"),
        (["leaderboard", "--results-dir", "{file}"], "is a file, not a directory"),
        (["run", "--preset", "quickstart", "--results-dir", "{file}"], "is a file, not a directory"),
        (["queue", "explode"], "unknown action 'explode'"),
        (["queue", "cancel"], "give the task id"),
        (["queue", "retry", "42", "--results-dir", "{dir}"], "no task with id 42"),
        (["worker", "--gpus", "zero", "--results-dir", "{dir}"], "--gpus 'zero'"),
    ],
)
def test_bad_paths_urls_and_queue_commands_exit_2_with_one_line(arguments, expected, tmp_path, monkeypatch, capsys):
    if "psycopg" in " ".join(arguments):
        pytest.importorskip("psycopg")
    places = {"dir": tmp_path / "a-dir", "binary": tmp_path / "model.pt", "file": tmp_path / "notes.txt"}
    places["dir"].mkdir()
    places["binary"].write_bytes(bytes(range(256)) * 4)
    places["file"].write_text("not a directory")
    before = {path: path.read_bytes() for path in (places["binary"], places["file"])}
    filled = [argument.format(**places) for argument in arguments]
    code, _, err = _cli(monkeypatch, capsys, *filled)
    assert code == 2 and expected.format(**places) in err, err
    assert err.strip().count("\n") == 0 and "Traceback" not in err
    assert {path: path.read_bytes() for path in before} == before  # nothing touched
