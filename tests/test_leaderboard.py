import csv
import io
import json

import pytest

from pruningbench.leaderboard import build_boards, format_duration, render
from tests.helpers import make_record


def test_boards_split_by_speedup_and_track_and_rank_best_first_with_ties():
    records = [
        make_record("MagnitudeL2", 71.0),
        make_record("FPGM", 72.5),
        make_record("LAMP", 71.0),
        make_record("Random", 60.0),
        make_record("MagnitudeL2", 50.0, target_speedup=8.0),
        make_record("MagnitudeL2", 73.0, regularizer="GroupNorm"),
    ]
    boards = build_boards(records)
    assert [(b.speedup, b.track) for b in boards] == [(2.0, "criteria"), (8.0, "criteria"), (2.0, "regularizer")]
    criteria = boards[0]
    assert [(r.importance, r.rank) for r in criteria.rows] == [("FPGM", 1), ("LAMP", 2), ("MagnitudeL2", 2), ("Random", 4)]
    assert boards[2].rows[0].regularizer == "GroupNorm" and boards[2].rows[0].rank == 1


def test_runs_under_other_prune_settings_get_their_own_board_never_pooled_as_seeds():
    def run(importance, pruned, **prune):
        return make_record(importance, pruned, run_key=f"{importance}-{prune}", config={"prune": {"speedup": 2, **prune}})

    boards = build_boards([
        run("MagnitudeL2", 70.0), run("FPGM", 71.0, protected_share=0.1, reconstruct="none"),
        run("MagnitudeL2", 60.0, attention="heads"), run("CP", 72.0, reconstruct="least_squares"),
        run("LAMP", 65.0, protected_share=0.3),
    ])
    assert [(b.setting, [r.importance for r in b.rows]) for b in boards] == [
        ("", ["FPGM", "MagnitudeL2"]), ("attention=heads", ["MagnitudeL2"]), ("protected_share=0.3", ["LAMP"]),
        ("reconstruct=least_squares", ["CP"]),
    ]
    assert boards[1].title == "resnet18_cifar on cifar100 · 2x · protected_global · attention=heads · criteria track"
    assert build_boards([make_record("LAMP", 65.0, scope="global", config={"prune": {"protected_share": 0.3}})])[0].setting == ""


def test_seeds_are_averaged_into_one_row():
    boards = build_boards([make_record("MagnitudeL2", 70.0, seed=0), make_record("MagnitudeL2", 72.0, seed=1)])
    (row,) = boards[0].rows
    assert row.prune == 71.0 and row.delta == -4.0 and row.seeds == 2


def test_several_seeds_give_a_delta_interval_and_overlapping_methods_share_a_rank_range():
    # ΔAcc over 3 seeds: A = -1, -2, -3 (mean -2, sd 1, t(0.975, 2) = 4.3027: ± 2.484); B = -2.5 ± 0.248 (sd 0.1);
    # C = -9 ± 0.248: A overlaps B, C overlaps neither
    runs = [make_record("A", 75.0 + d, seed=s) for s, d in enumerate([-1.0, -2.0, -3.0])]
    runs += [make_record("B", 75.0 + d, seed=s) for s, d in enumerate([-2.4, -2.5, -2.6])]
    runs += [make_record("C", 75.0 + d, seed=s) for s, d in enumerate([-8.9, -9.0, -9.1])]
    rows = build_boards(runs)[0].rows
    assert [r.importance for r in rows] == ["A", "B", "C"]
    assert rows[0].delta_ci == pytest.approx(4.302653 / 3**0.5, rel=1e-5)
    assert rows[1].delta_ci == pytest.approx(4.302653 * 0.1 / 3**0.5, rel=1e-4)
    assert [r.rank_label for r in rows] == ["1-2", "1-2", "3"]
    assert rows[0].cells()[5] == "-2.00 ± 2.48"


def test_cells_use_the_papers_formats():
    (row,) = build_boards([make_record("MagnitudeL2", 74.5)])[0].rows
    assert row.cells() == ["MagnitudeL2", "N/A", "1", "75.00", "74.50", "-0.50", "5.61 M (50.00%)", "0.136s", "N/A", "2.004x",
                           "5.00 ms (1.60x)", "12,800 img/s", "1"]
    assert format_duration(171) == "2m51s" and format_duration(3725) == "1h2m5s"


def test_exports_hold_every_row():
    boards = build_boards([make_record("FPGM", 72.0), make_record("LAMP", 71.0, target_speedup=4.0)])
    rows = list(csv.DictReader(io.StringIO(render(boards, "csv"))))
    assert [(r["Importance"], r["Target"], r["Rank"]) for r in rows] == [("FPGM", "2x", "1"), ("LAMP", "4x", "1")]
    assert [b["rows"][0]["importance"] for b in json.loads(render(boards, "json"))] == ["FPGM", "LAMP"]
    markdown = render(boards, "markdown")
    assert markdown.count("| Importance |") == 2 and "| FPGM | N/A | 1 | 75.00 | 72.00 |" in markdown


def test_the_latency_cell_carries_the_interval_and_flags_a_noisy_measurement():
    from pruningbench.leaderboard import build_boards

    steady = make_record("LAMP", 70.0, latency_ratio=1.26, latency_ratio_ci=(1.20, 1.31))
    noisy = make_record("FPGM", 69.0, latency_ratio=1.5, latency_ratio_ci=(0.9, 2.4))
    (board,) = build_boards([steady, noisy])
    cells = {row.importance: row.cells()[10] for row in board.rows}
    assert cells == {"LAMP": "5.00 ms (1.26x [1.20-1.31])", "FPGM": "5.00 ms (1.50x [0.90-2.40] noisy)"}
    older = make_record("Random", 60.0)  # stored before pairs were measured: base / pruned medians
    assert build_boards([older])[0].rows[0].cells()[10] == "5.00 ms (1.60x)"
