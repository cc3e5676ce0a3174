from pathlib import Path

import pytest

from pruningbench.errors import UserError
from pruningbench.store import ResultStore
from tests.helpers import make_record


def test_records_round_trip(store_url: str):
    store = ResultStore(store_url)
    record = make_record(channels_after={"conv1": 12, "layers.0": 7}, macs_before=4_100_000_000)  # past 2^31
    store.add(record)
    assert ResultStore(store_url).records() == [record]  # a second connection sees the committed row
    assert store.find(record.run_key) == record
    assert store.get(record.run_id[:6]) == record


def test_same_run_key_replaces_the_earlier_record(store_url: str):
    store = ResultStore(store_url)
    store.add(make_record(pruned=60.0, run_id="a", run_key="k"))
    store.add(make_record(pruned=61.0, run_id="b", run_key="k"))
    assert [(r.run_id, r.pruned_metric) for r in store.records()] == [("b", 61.0)]
    assert store.records(["k"]) == store.records() and store.records(["other"]) == []


def test_unknown_run_id_is_a_clear_error(tmp_path: Path):
    with pytest.raises(UserError, match="no stored run matches id 'zzz'"):
        ResultStore.in_dir(tmp_path).get("zzz")


def test_a_file_that_is_not_a_database_is_reported(tmp_path: Path):
    (tmp_path / "pruningbench.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(UserError, match="cannot be opened"):
        ResultStore.in_dir(tmp_path)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("not a url", "is not a database URL"),
        ("mysql://u@h/db", "runs on sqlite or postgresql, not 'mysql'"),
        ("postgresql+nodriver://u@h/db", "unknown driver"),
    ],
)
def test_bad_urls_are_one_line_errors(url: str, expected: str):
    with pytest.raises(UserError, match=expected):
        ResultStore(url)


def test_an_unreachable_postgresql_server_is_one_line(tmp_path: Path):
    pytest.importorskip("psycopg")
    with pytest.raises(UserError, match="cannot be reached") as error:
        ResultStore("postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=2")
    assert "\n" not in str(error.value)


def test_a_results_dir_that_is_a_file_is_named(tmp_path: Path):
    (tmp_path / "results").write_text("x")
    with pytest.raises(UserError, match="is a file, not a directory"):
        ResultStore.in_dir(tmp_path / "results")
