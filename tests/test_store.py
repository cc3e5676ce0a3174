from pathlib import Path

import pytest

from pruningbench.errors import UserError
from pruningbench.store import ResultStore
from tests.helpers import make_record


def test_records_round_trip(tmp_path: Path):
    store = ResultStore.in_dir(tmp_path)
    record = make_record(channels_after={"conv1": 12, "layers.0": 7})
    store.add(record)
    assert ResultStore.in_dir(tmp_path).records() == [record]  # a second connection sees the committed row
    assert store.find(record.run_key) == record
    assert store.get(record.run_id[:6]) == record


def test_same_run_key_replaces_the_earlier_record(tmp_path: Path):
    store = ResultStore.in_dir(tmp_path)
    store.add(make_record(pruned=60.0, run_id="a", run_key="k"))
    store.add(make_record(pruned=61.0, run_id="b", run_key="k"))
    assert [r.run_id for r in store.records()] == ["b"]


def test_unknown_run_id_is_a_clear_error(tmp_path: Path):
    with pytest.raises(UserError, match="no stored run matches id 'zzz'"):
        ResultStore.in_dir(tmp_path).get("zzz")


def test_a_file_that_is_not_a_database_is_reported(tmp_path: Path):
    (tmp_path / "pruningbench.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(UserError, match="cannot be opened"):
        ResultStore.in_dir(tmp_path)


def test_a_store_from_an_older_version_gains_the_new_columns_and_keeps_its_rows(tmp_path):
    import sqlalchemy

    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = make_record("FPGM", 71.0)
    ResultStore(url).add(old)
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:  # what a store written before latency was measured looks like
        for column in ("base_latency_ms", "latency_ms", "latency_device"):
            connection.execute(sqlalchemy.text(f"ALTER TABLE runs DROP COLUMN {column}"))
    (reopened,) = ResultStore(url).records()
    assert reopened.latency_ms is None and reopened.pruned_metric == 71.0 and reopened.run_id == old.run_id
    ResultStore(url).add(make_record("LAMP", 70.0))
    assert len(ResultStore(url).records()) == 2
