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
