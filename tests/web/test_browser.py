"""The platform as a user meets it: a real server process, a real worker, Debian's chromium driven by Playwright.

Every page visited is saved as a screenshot under the test's folder (and under ``$PRUNINGBENCH_SCREENSHOTS`` when
set, which is how the README's picture is made).
"""

import os
import shutil
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.plugin import TINY_DATASET


def _shoot(page: Page, folder: Path, name: str) -> None:
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("PRUNINGBENCH_SCREENSHOTS"):
        target = Path(os.environ["PRUNINGBENCH_SCREENSHOTS"])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target / path.name)


def test_compose_a_task_watch_it_run_live_and_find_it_on_its_board(live_server, start_worker, page: Page, tmp_path):
    shots = tmp_path / "screenshots"
    shots.mkdir()
    server = live_server()
    assert server.admin and server.admin.startswith("pb_")
    page.goto(f"{server.url}/boards")
    expect(page.locator("main")).to_contain_text("No stored runs match")
    _shoot(page, shots, "boards-empty")

    page.click("#login-link")
    page.fill("input[name=token]", server.admin)
    _shoot(page, shots, "login")
    page.click("button[type=submit]")
    expect(page.locator("#who")).to_have_text("admin (admin)")

    page.goto(f"{server.url}/tasks/new")
    page.select_option("#f-task\\.dataset", TINY_DATASET)
    page.fill("#f-method\\.importance", "MagnitudeL2,Random")
    page.fill("#f-prune\\.speedup", "2")
    page.fill("#f-base_training\\.epochs", "2")
    page.fill("#f-finetune\\.epochs", "-1")
    page.click("#queue-runs")
    expect(page.locator("#error-finetune\\.epochs")).to_contain_text("greater than or equal to 0")
    page.fill("#f-finetune\\.epochs", "4")
    _shoot(page, shots, "new-task")
    page.click("#queue-runs")
    expect(page).to_have_url(f"{server.url}/queue")
    expect(page.locator("#queue-table")).to_contain_text("resnet8_quick · MagnitudeL2 · 2x · seed 0")
    page.evaluate("window.notReloaded = true")

    start_worker(f"sqlite:///{server.results / 'pruningbench.db'}", tmp_path / "worker.log", "--idle-exit")
    expect(page.locator("#queue-table")).to_contain_text("running", timeout=120_000)
    expect(page.locator("#queue-table")).to_contain_text("finetune", timeout=120_000)
    _shoot(page, shots, "queue-running")
    expect(page.locator("#queue-table .state-done")).to_have_count(2, timeout=240_000)
    assert page.evaluate("window.notReloaded") is True  # the table was updated in place, over server-sent events
    _shoot(page, shots, "queue-done")

    page.goto(f"{server.url}/boards")
    expect(page.locator(".board-title").first).to_contain_text("resnet8_quick on fashion_mnist_tiny · 2x")
    expect(page.locator("table.board").first).to_contain_text("MagnitudeL2")
    expect(page.locator("table.board").first).to_contain_text("run here")
    _shoot(page, shots, "boards")

    page.goto(f"{server.url}/runs")
    boxes = page.locator("input[name=pick]")
    boxes.nth(0).check()
    boxes.nth(1).check()
    _shoot(page, shots, "runs")
    page.click("#compare")
    expect(page.locator("#config-diff tr.differs").first).to_contain_text("method.importance")
    _shoot(page, shots, "compare")

    page.locator("#config-diff").page.go_back()
    page.locator("table a").first.click()
    expect(page.locator("#config")).to_contain_text("fashion_mnist_tiny")
    expect(page.locator("#download")).to_be_visible()
    _shoot(page, shots, "run")

    page.goto(f"{server.url}/submit")
    _shoot(page, shots, "submit")

    page.goto(f"{server.url}/docs")  # Swagger UI from the package: no CDN
    expect(page.locator(".swagger-ui")).to_contain_text("/api/boards")
    _shoot(page, shots, "api-docs")
    assert len(list(shots.glob("*.png"))) == 11
