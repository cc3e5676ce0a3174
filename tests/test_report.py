"""The HTML report: every board and every figure, self-contained, and rendered by a real browser."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pruningbench.leaderboard import build_boards
from pruningbench.report import write_report
from tests.helpers import make_record


def _records():
    records = []
    for speedup in (2.0, 4.0):
        for seed in (0, 1):
            for offset, importance in enumerate(["MagnitudeL2", "FPGM", "Random", "Taylor"]):
                records.append(make_record(
                    importance, 74.0 - 2 * offset - speedup / 2 + 0.3 * seed, seed=seed, target_speedup=speedup,
                    step_time=0.01 * (offset + 1), channels_after={"conv1": 32 - 4 * offset},
                ))
            records.append(make_record(
                "BNScale", 72.0 - speedup / 2 + 0.3 * seed, regularizer="BNScale", seed=seed, target_speedup=speedup,
                reg_time=30.0,
            ))
            records.append(make_record(
                "MagnitudeL2", 73.0 - speedup / 2 + 0.3 * seed, regularizer="GroupNorm", seed=seed,
                target_speedup=speedup, reg_time=40.0,
            ))
    return records


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    records = _records()
    return write_report(records, out, "sqlite:///x.db"), records


def test_report_holds_every_board_every_figure_and_the_exports(report):
    path, records = report
    html = path.read_text()
    boards = build_boards(records)
    assert len(boards) == 4  # 2 speed-ups x 2 tracks
    for board in boards:
        assert f'<h3 class="board-title">{board.title}</h3>' in html
    figures = sorted((path.parent / "figures").glob("*.png"))
    names = {figure.name for figure in figures}
    assert {"00-resnet18-cifar-on-cifar100-protected_global-channels-2x.png", "critical-difference-criteria.png",
            "critical-difference-regularizer.png", "00-resnet18-cifar-on-cifar100-protected_global-step-time.png"} <= names
    assert all(figure.stat().st_size > 1000 for figure in figures)
    assert html.count("data:image/png;base64,") == len(figures)  # embedded: the HTML stands alone
    assert "Friedman p =" in html and "± " in html  # two seeds: intervals are shown
    for suffix in ("md", "csv", "json"):
        assert (path.parent / f"leaderboards.{suffix}").stat().st_size > 0


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it as root)")
def test_report_renders_in_headless_chromium(report, tmp_path):
    path, records = report
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([CHROMIUM, *flags, "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120,
                         check=True).stdout
    boards = build_boards(records)
    assert len(re.findall(r'<h3 class="board-title">', dom)) == len(boards)
    assert dom.count("<tr>") >= sum(len(b.rows) + 1 for b in boards)
    screenshot = tmp_path / "report.png"
    subprocess.run([CHROMIUM, *flags, "--window-size=1200,2000", f"--screenshot={screenshot}", path.as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert screenshot.stat().st_size > 10_000  # a real page was drawn, not a blank one


def test_runs_under_another_prune_setting_get_their_own_board_and_figures(tmp_path):
    heads = make_record("MagnitudeL2", 60.0, run_key="heads", config={"prune": {"attention": "heads"}})
    html = write_report([make_record("MagnitudeL2", 70.0), heads], tmp_path).read_text()
    assert "protected_global · attention=heads · criteria track" in html
    figures = sorted(path.name for path in (tmp_path / "figures").glob("*-channels-2x.png"))
    assert figures == ["00-resnet18-cifar-on-cifar100-protected_global-channels-2x.png",
                       "01-resnet18-cifar-on-cifar100-protected_global-attention-heads-channels-2x.png"]
