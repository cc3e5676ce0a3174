"""The platform through its HTTP interface (in-process): pages and their JSON mirrors, who may write, what is
refused and how, the form, the queue's actions, submissions and their verification."""

import io
import json
import zipfile

import pytest
import torch

from pruningbench.store import ResultStore
from pruningbench.submission import export_bundle
from tests.plugin import TINY_DATASET

HTML = {"accept": "text/html"}


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_every_page_renders_and_the_api_mirrors_it(platform):
    client, results, _, _ = platform
    records = ResultStore.in_dir(results).records()
    boards = client.get("/api/boards").json()
    at_2x = sorted((r for r in records if r.target_speedup == 2.0), key=lambda r: -r.pruned_metric)  # best first
    assert [(b["speedup"], b["track"]) for b in boards] == [(2.0, "criteria"), (4.0, "criteria")]
    assert [r["importance"] for r in boards[1]["rows"]] == ["MagnitudeL2"]
    ranked = [r["importance"] for r in boards[0]["rows"]]
    if at_2x[0].pruned_metric != at_2x[1].pruned_metric:  # tied accuracies share a rank: either order
        assert ranked == [r.importance for r in at_2x]
    assert sorted(ranked) == ["MagnitudeL2", "Random"]
    assert all(row["provenance"] == ["run here"] for board in boards for row in board["rows"])
    page = client.get("/boards", headers=HTML).text
    assert page.count('class="board-title"') == 2 and "<svg" in page and "Provenance" in page
    run = records[0]
    assert client.get(f"/api/runs/{run.run_id[:8]}").json()["pruned_metric"] == run.pruned_metric
    run_page = client.get(f"/runs/{run.run_id}", headers=HTML).text
    assert "Download the pruned model" in run_page and "seed: 0" in run_page and "<svg" in run_page
    model = client.get(f"/runs/{run.run_id}/model")
    assert model.status_code == 200
    assert torch.load(io.BytesIO(model.content), weights_only=True)["params_after" if False else "model"] == run.model
    compare = client.get("/api/compare", params={"ids": f"{records[0].run_id},{records[1].run_id}"}).json()
    differing = {row["key"] for row in compare["config"] if row["differs"]}
    assert "method.importance" in differing and "task.dataset" not in differing
    assert (
        'class="differs"'
        in client.get("/compare", params={"ids": f"{records[0].run_id},{records[1].run_id}"}, headers=HTML).text
    )
    for path in ("/runs", "/queue", "/tasks/new", "/tasks/new?suite=quickstart", "/submit", "/login", "/docs"):
        assert client.get(path, headers=HTML).status_code == 200, path
    fields = {field["name"]: field for field in client.get("/api/schema").json()["fields"]}
    assert "MagnitudeL2" in fields["method.importance"]["choices"] and fields["prune.speedup"]["range"] == "> 1, ≤ 1000"
    assert "task.data_root" not in fields and "results_dir" not in fields


def test_boards_filter_and_sort_by_any_column(platform):
    client, *_ = platform
    assert [b["speedup"] for b in client.get("/api/boards", params={"speedup": 4}).json()] == [4.0]
    rows = client.get("/api/boards", params={"speedup": 2, "sort": "Importance", "desc": True}).json()[0]["rows"]
    assert [row["importance"] for row in rows] == ["Random", "MagnitudeL2"]
    bad = client.get("/api/boards", params={"sort": "Colour"})
    assert bad.status_code == 422 and "sort: unknown column 'Colour'" in bad.json()["detail"]


def test_writes_need_a_token_and_the_right_scope(platform):
    client, _, admin, submit = platform
    body = {"preset": "quickstart", "values": {"task.dataset": TINY_DATASET}}
    assert client.post("/api/tasks", json=body).status_code == 401
    assert client.post("/api/tasks", json=body, headers=_bearer("pb_not-a-token")).status_code == 401
    created = client.post("/api/tasks", json=body, headers=_bearer(submit))
    assert created.status_code == 201
    (task_id,) = created.json()["tasks"]
    assert client.get("/api/tasks").json()[0]["submitted_by"] == "alice"
    latency = {**body["values"], "prune.target": "latency", "latency.engines": "onnxruntime, eager",
               "task.data_on_device": ""}  # a list of registered names, and "auto" for an optional switch
    (latency_task,) = client.post("/api/tasks", json={**body, "values": latency}, headers=_bearer(submit)).json()["tasks"]
    queued = next(task for task in client.get("/api/tasks").json() if task["id"] == latency_task)
    assert queued["config"]["latency"]["engines"] == ["onnxruntime", "eager"] and queued["config"]["prune"]["target"] == "latency"
    assert queued["config"]["task"]["data_on_device"] is None
    refused = client.post(f"/api/tasks/{task_id}/cancel", headers=_bearer(submit))
    assert refused.status_code == 403 and "this needs 'admin'" in refused.json()["detail"]
    assert client.post(f"/api/tasks/{task_id}/cancel", headers=_bearer(admin)).json()["state"] == "cancelled"
    assert client.post(f"/api/tasks/{task_id}/retry", headers=_bearer(admin)).json()["state"] == "queued"
    assert client.get("/api/whoami", headers=_bearer(submit)).json() == {"name": "alice", "scope": "submit"}


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"finetune.epochs": -1}, "finetune.epochs", "greater than or equal to 0"),
        ({"prune.speedup": "2,0.5"}, "prune.speedup", "greater than 1"),
        ({"method.importance": "MagnitudeL2,Magic"}, "method.importance", "unknown name 'Magic'"),
        ({"task.model": "gpt5"}, "task.model", "unknown name 'gpt5'"),
        ({"task.data_root": "/etc"}, "task.data_root", "not a field of this form"),
        ({"results_dir": "/tmp/elsewhere"}, "results_dir", "not a field of this form"),
        ({"prune.sped_up": 2}, "prune.sped_up", "not a field of this form"),
        ({"base_training.lr": "fast"}, "base_training.lr", "'fast' is not a number"),
        ({"latency.engines": "eager, tensorrt"}, "latency.engines", "unknown name 'tensorrt'"),
        ({"prune.target": "flops"}, "prune.target", "unknown name 'flops'; allowed: macs, latency"),
    ],
)
def test_a_bad_submission_is_422_with_the_field_named(platform, values, field, message):
    client, _, _, submit = platform
    response = client.post("/api/tasks", json={"preset": "quickstart", "values": values}, headers=_bearer(submit))
    assert response.status_code == 422
    assert response.json()["field"] == field and message in response.json()["detail"]
    assert client.get("/api/tasks").json() == []  # nothing queued


def test_the_form_needs_a_session_and_its_csrf_token_and_shows_errors_beside_fields(platform):
    client, results, _, submit = platform
    form = {
        "preset": "quickstart",
        "task.dataset": TINY_DATASET,
        "method.importance": "MagnitudeL1,LAMP",
        "prune.speedup": "2,4",
        "finetune.epochs": "1",
    }
    assert client.post("/tasks/new", data=form, headers=HTML).status_code == 401
    assert client.post("/login", data={"token": "wrong"}, headers=HTML).status_code == 401
    client.post("/login", data={"token": submit}, headers=HTML)
    assert client.post("/tasks/new", data=form, headers=HTML).status_code == 403  # no CSRF token
    page = client.get("/tasks/new", headers=HTML).text
    csrf = page.split('name="csrf" value="')[1].split('"')[0]
    bad = client.post("/tasks/new", data={**form, "csrf": csrf, "finetune.lr": "-1"}, headers=HTML)
    assert bad.status_code == 422 and 'id="error-finetune.lr"' in bad.text and "greater than 0" in bad.text
    done = client.post("/tasks/new", data={**form, "csrf": csrf}, headers=HTML, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/queue"
    tasks = client.get("/api/tasks").json()
    labels = sorted(task["label"] for task in tasks)
    assert len(labels) == 4 and labels[0] == "resnet8_quick · LAMP · 2x · seed 0"
    assert {task["config"]["results_dir"] for task in tasks} == {str(results)}  # the server's, never the form's


def test_a_token_s_queue_is_limited(platform):
    client, _, _, submit = platform
    body = {"preset": "quickstart", "values": {"task.dataset": TINY_DATASET, "seed": ",".join(map(str, range(21)))}}
    response = client.post("/api/tasks", json=body, headers=_bearer(submit))
    assert response.status_code == 429 and "may have 20 queued or running tasks" in response.json()["detail"]


def _bundle(results, record, tmp_path, **changes) -> bytes:
    path = export_bundle(record, results, tmp_path / "bundle.zip")
    if not changes:
        return path.read_bytes()
    with zipfile.ZipFile(path) as original:
        claimed = json.loads(original.read("record.json"))
        model = original.read("model.pt")
    claimed.update(changes)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("record.json", json.dumps(claimed))
        bundle.writestr("model.pt", model)
    return buffer.getvalue()


def test_a_submitted_bundle_is_verified_and_shown_with_its_provenance(platform, tmp_path):
    client, results, _, submit = platform
    record = ResultStore.in_dir(results).records()[0]
    honest = client.post(
        "/api/submissions", files={"bundle": ("b.zip", _bundle(results, record, tmp_path))}, headers=_bearer(submit)
    )
    assert honest.status_code == 201, honest.text
    checks = honest.json()["verification"]
    assert checks["status"] == "verified" and checks["checks"]["params_after"]["ok"] is True
    assert checks["checks"]["pruned_metric"]["ok"] is True  # the embedded data is on every server: re-evaluated
    inflated = _bundle(
        results, record, tmp_path, params_after=record.params_after // 2, achieved_speedup=8.0, seed=7, run_key="other"
    )
    claimed = client.post("/api/submissions", files={"bundle": ("b.zip", inflated)}, headers=_bearer(submit))
    assert claimed.status_code == 201 and claimed.json()["verification"]["status"] == "mismatch"
    shown = client.get(f"/runs/{claimed.json()['run_id']}", headers=HTML).text
    assert "submitted by alice (mismatch)" in shown and 'id="verification"' in shown
    rows = [row for board in client.get("/api/boards").json() for row in board["rows"]]
    provenance = {(row["submitter"], p) for row in rows for p in row["provenance"]}
    assert provenance >= {  # submissions are rows of their own, never pooled with the runs made here as extra seeds
        (None, "run here"), ("alice", "submitted by alice (verified, reproduced here)"),
        ("alice", "submitted by alice (mismatch)"),
    }
    assert all(row["seeds"] == 1 for row in rows if row["submitter"] is None)  # the local runs are not pooled


@pytest.mark.parametrize("problem", ["not a zip", "extra file", "pickled model", "too large"])
def test_bad_bundles_are_refused(platform, tmp_path, problem):
    client, results, _, submit = platform
    record = ResultStore.in_dir(results).records()[0]
    good = _bundle(results, record, tmp_path)
    if problem == "not a zip":
        data, status, expected = b"hello", 422, "not a zip file"
    elif problem == "extra file":
        buffer = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(good)) as source, zipfile.ZipFile(buffer, "w") as bundle:
            for name in source.namelist():
                bundle.writestr(name, source.read(name))
            bundle.writestr("evil.py", "import os")
        data, status, expected = buffer.getvalue(), 422, "must hold exactly model.pt, record.json"
    elif problem == "pickled model":
        buffer, pickled = io.BytesIO(), io.BytesIO()
        torch.save({"module": torch.nn.Linear(2, 2)}, pickled)
        with zipfile.ZipFile(io.BytesIO(good)) as source, zipfile.ZipFile(buffer, "w") as bundle:
            bundle.writestr("record.json", source.read("record.json"))
            bundle.writestr("model.pt", pickled.getvalue())
        data, status, expected = buffer.getvalue(), 422, "not in the safe format"
    else:
        client.app.state.settings = client.app.state.settings.__class__(
            **{**client.app.state.settings.__dict__, "max_upload_mb": 0.05}
        )
        data, status, expected = good, 413, "larger than the server's limit"
    response = client.post("/api/submissions", files={"bundle": ("b.zip", data)}, headers=_bearer(submit))
    assert response.status_code == status and expected in response.json()["detail"]
    assert len(ResultStore.in_dir(results).records()) == 3  # nothing stored


def test_export_run_writes_a_bundle_of_a_record_and_a_safe_model(platform, tmp_path, monkeypatch, capsys):
    from tests.test_cli import _cli

    _, results, _, _ = platform
    record = ResultStore.in_dir(results).records()[0]
    out = tmp_path / "mine.zip"
    code, printed, err = _cli(
        monkeypatch, capsys, "export-run", record.run_id[:8], "--results-dir", str(results), "--out", str(out)
    )
    assert code == 0, err
    with zipfile.ZipFile(out) as bundle:
        assert set(bundle.namelist()) == {"record.json", "model.pt"}
        assert json.loads(bundle.read("record.json"))["run_id"] == record.run_id
        assert torch.load(io.BytesIO(bundle.read("model.pt")), weights_only=True)["format"] == "pruningbench.pruned/1"


def test_a_private_server_needs_a_token_to_read(stored_runs, tmp_path):
    from fastapi.testclient import TestClient

    from pruningbench.store.tokens import TokenStore
    from pruningbench.web.app import ServerSettings, create_app

    store = ResultStore.in_dir(stored_runs)
    secret = TokenStore(store.database).create(f"reader-{tmp_path.name}", "submit")
    client = TestClient(create_app(ServerSettings(store.url, stored_runs, private=True, secret="s")))
    assert client.get("/api/boards").status_code == 401
    assert client.get("/boards", headers=HTML).status_code == 401
    assert client.get("/login", headers=HTML).status_code == 200
    assert client.get("/api/boards", headers=_bearer(secret)).status_code == 200


def test_tokens_are_created_listed_and_revoked_from_the_cli(platform, monkeypatch, capsys):
    from tests.test_cli import _cli

    client, results, _, _ = platform
    code, out, _ = _cli(monkeypatch, capsys, "token", "create", "bob", "--scope", "admin", "--results-dir", str(results))
    secret = out.strip()
    assert code == 0 and secret.startswith("pb_")
    assert client.get("/api/whoami", headers=_bearer(secret)).json() == {"name": "bob", "scope": "admin"}
    code, out, _ = _cli(monkeypatch, capsys, "token", "list", "--results-dir", str(results))
    assert "bob" in out and "admin" in out and secret not in out  # only digests are stored
    code, _, err = _cli(monkeypatch, capsys, "token", "create", "bob", "--results-dir", str(results))
    assert code == 2 and "exists already" in err
    assert _cli(monkeypatch, capsys, "token", "revoke", "bob", "--results-dir", str(results))[0] == 0
    assert client.get("/api/whoami", headers=_bearer(secret)).status_code == 401
    code, _, err = _cli(monkeypatch, capsys, "token", "create", "eve", "--scope", "root", "--results-dir", str(results))
    assert code == 2 and "scope must be one of submit, admin" in err


def test_a_submission_can_queue_its_reproduction(platform, tmp_path):
    client, results, _, submit = platform
    record = ResultStore.in_dir(results).records()[0]
    response = client.post(
        "/api/submissions", params={"reproduce": True}, files={"bundle": ("b.zip", _bundle(results, record, tmp_path))},
        headers=_bearer(submit),
    )
    assert response.status_code == 201
    (task,) = client.get("/api/tasks").json()
    assert task["run_key"] == record.run_key and task["submitted_by"] == "alice"
    assert task["config"]["results_dir"] == str(results)  # runs here, with this server's data and results
