"""Flower and the admin in real Chromium, on what `make run` starts.

1. `python -m config.launcher` (what `make run` runs) with a var/ folder of the test's own:
   on the embedded defaults its own SQLite and Redis; on PostgreSQL the suite's database and
   Redis. Web, a worker, beat and Flower; the login details come from its banner.
2. Three jobs through `manage.py enqueue_job --wait`: two demo.sleep, and a test.flaky_fast
   that fails once (two deliveries, two tasks).
3. Chromium (Debian's, driven by Playwright): Flower's Tasks tab lists every run_job with its
   job id and type, and a search by job id finds a job's deliveries; the Broker tab lists every
   queue a job can be published to; the admin's job page links to the job's task in Flower,
   and that link opens it.
4. SIGINT stops the launcher; whatever happens, every process it started is killed.
Screenshots are kept in the test's folder (printed at the end).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from config.flower_options import all_queues
from tests.browser_support import Launcher
from tests.processes import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.workers, pytest.mark.timeout(480)]


def test_flower_lists_the_jobs_and_every_queue_and_the_admin_links_to_the_task(
    launcher: Launcher, chromium: Any, tmp_path: Path,
) -> None:
    launcher.start()
    (admin_user, admin_password), (flower_user, flower_password) = launcher.logins()
    jobs = {launcher.enqueue("demo.sleep", {"seconds": 0.2, "steps": 1}): "demo.sleep",
            launcher.enqueue("demo.sleep", {"seconds": 0.2, "steps": 1}): "demo.sleep"}
    flaky = launcher.enqueue("test.flaky_fast", {"failures": 1})
    jobs[flaky] = "test.flaky_fast"
    launcher.remember()
    shots = tmp_path / "screenshots"
    shots.mkdir()

    context = chromium.new_context(http_credentials={"username": flower_user, "password": flower_password},
                                   viewport={"width": 1600, "height": 1000})
    page = context.new_page()

    # the Tasks tab: every run_job with its job id (args) and type (kwargs)
    page.goto(f"{launcher.flower}/tasks")
    search = page.locator("#tasks-table_filter input")
    search.fill("name:jobs.run_job")
    for job_id, job_type in jobs.items():
        row = page.locator("#tasks-table tbody tr", has_text=job_id).first
        row.wait_for(timeout=30_000)
        assert "jobs.run_job" in row.inner_text() and job_type in row.inner_text()
    page.screenshot(path=str(shots / "flower-tasks.png"), full_page=True)
    # a job's deliveries, found by its id: the flaky job ran twice
    search.fill(flaky)
    rows = page.locator("#tasks-table tbody tr", has_text=flaky)
    wait_for(lambda: rows.count() == 2 and page.locator("#tasks-table tbody tr").count() == 2, timeout=30,
             message="Flower to show the flaky job's two deliveries")
    page.screenshot(path=str(shots / "flower-tasks-search-by-job-id.png"), full_page=True)

    # the Broker tab: every queue a job can be published to, consumed or not
    page.goto(f"{launcher.flower}/broker")
    listed = {cell.strip() for cell in page.locator("#queue-table tbody tr td:first-child").all_inner_texts()}
    expected = set(all_queues())
    assert expected <= listed, f"missing from the Broker tab: {expected - listed}"
    page.screenshot(path=str(shots / "flower-broker.png"), full_page=True)

    # the admin's job page links to the job's current task in Flower
    page.goto(f"{launcher.web}/admin/login/")
    page.fill("#id_username", admin_user)
    page.fill("#id_password", admin_password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{launcher.web}/admin/")
    page.goto(f"{launcher.web}/admin/jobs/job/{flaky}/change/")
    link = page.locator(".field-flower_task a")
    assert (link.get_attribute("href") or "").startswith(f"{launcher.flower}/task/")
    page.screenshot(path=str(shots / "admin-job-page.png"), full_page=True)
    with context.expect_page() as opened:
        link.click()
    task_page = opened.value
    task_page.wait_for_load_state()
    task_id = link.inner_text().strip()
    assert task_page.locator("#taskid").inner_text(timeout=30_000) == task_id
    details = task_page.locator("body").inner_text()
    assert flaky in details and "test.flaky_fast" in details and "jobs.run_job" in details
    assert "'attempt': 2" in details  # the current message: the delivery that completed the job
    task_page.screenshot(path=str(shots / "flower-task-from-admin.png"), full_page=True)
    context.close()
    print(f"screenshots in {shots}")
