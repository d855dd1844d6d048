"""The operators' console in real Chromium, on what `make run` starts (tests/browser_support.py).

An operator logs in, and the console shows a known set of jobs, moves a running job's progress
bar without a reload, finds a job by an input field, retries every failed job matching a filter
after a preview of how many, pauses a job type (the job page says why its job waits), resumes
it (the job completes), and finds each of those actions in the audit log under their name.
Screenshots of every page are kept in the test's folder (printed at the end).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser_support import Launcher
from tests.processes import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.workers, pytest.mark.timeout(600)]


def cell(page: Any, job_type: str, column: str) -> str:
    return page.locator(f'[data-live-region="types"] tr[data-type="{job_type}"] td[data-col="{column}"]').inner_text()


def test_an_operator_runs_the_platform_from_the_console(launcher: Launcher, chromium: Any, tmp_path: Path) -> None:
    launcher.start()
    (user, password), _ = launcher.logins()
    # the known set: three demo.sleep completed, two demo.flaky failed for good (customers 41, 42)
    for _ in range(3):
        launcher.enqueue("demo.sleep", {"seconds": 0.1, "steps": 1})
    failed = [launcher.enqueue("demo.flaky", {"permanent": True, "customer_id": n}, expect="failed") for n in (41, 42)]
    shots = tmp_path / "screenshots"
    shots.mkdir()
    context = chromium.new_context(viewport={"width": 1500, "height": 1100})
    page = context.new_page()

    page.goto(f"{launcher.web}/admin/login/")
    page.fill("#id_username", user)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{launcher.web}/admin/")
    page.screenshot(path=str(shots / "admin-index.png"), full_page=True)

    # the overview counts the known jobs (the per-minute buckets roll up every 15 s)
    page.click("a.console-entry-main")
    page.wait_for_url(f"{launcher.web}/admin/console/")

    def counted() -> bool:
        page.reload()
        return (cell(page, "demo.sleep", "completed_1h"), cell(page, "demo.flaky", "failed_1h")) == ("3", "2")

    wait_for(counted, timeout=90, interval=3, message="the overview to count 3 completed and 2 failed jobs")
    page.screenshot(path=str(shots / "overview.png"), full_page=True)

    # a running job's progress bar moves while the page stays loaded
    running = launcher.enqueue("demo.sleep", {"seconds": 16, "steps": 16}, wait=False)
    page.goto(f"{launcher.web}/admin/jobs/job/{running}/change/")
    page.evaluate("window.__sameDocument = true")
    bar = page.locator('[data-live-region="job-progress"] progress')
    wait_for(lambda: int(bar.get_attribute("value") or 0) > 0, timeout=60, message="the job to report progress")
    first = int(bar.get_attribute("value") or 0)
    wait_for(lambda: int(bar.get_attribute("value") or 0) >= first + 10, timeout=60,
             message="the progress bar to move without a reload")
    assert page.evaluate("window.__sameDocument") is True  # no navigation happened
    page.screenshot(path=str(shots / "job-page-running.png"), full_page=True)

    # a search by an input field finds exactly one job
    page.goto(f"{launcher.web}/admin/jobs/job/?q=input.customer_id%3D42")
    rows = page.locator('[data-live-region="job-rows"] tbody tr')
    assert rows.count() == 1 and failed[1][:8] in rows.first.inner_text()
    page.screenshot(path=str(shots / "job-list-search-input.png"), full_page=True)

    # bulk retry of every failed job matching a filter, after its preview count
    page.goto(f"{launcher.web}/admin/jobs/job/?q=status%3Afailed+type%3Ademo.flaky")
    page.click('a.job-bulk-link[data-bulk="retry"]')
    page.wait_for_url(re.compile(r".*/admin/jobs/job/bulk/retry/.*"))
    assert re.search(r"\b2\b\s+jobs?\s+match", page.locator("#content").inner_text())
    page.screenshot(path=str(shots / "bulk-retry-preview.png"), full_page=True)
    page.fill("textarea[name=reason], input[name=reason]", "customer records were fixed")
    page.click("form.job-bulk-form input[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/jobs/job/\?.*"))
    assert "2" in page.locator("ul.messagelist").inner_text()
    page.screenshot(path=str(shots / "bulk-retry-result.png"), full_page=True)

    # pause demo.sleep: a new job waits, and its page says why; resume: it completes
    page.goto(f"{launcher.web}/admin/jobs/pause/add/")
    page.select_option("#id_target", "type:demo.sleep")
    page.fill("#id_reason", "the sleep service is down")
    page.click("input[name=_save]")
    page.wait_for_url(f"{launcher.web}/admin/jobs/pause/")
    page.screenshot(path=str(shots / "pauses.png"), full_page=True)
    wait_for(lambda: launcher.manage("jobs", "show", running, "--json").count('"completed"') > 0, timeout=60,
             message="the running job to finish (a pause never stops one)")
    held = launcher.enqueue("demo.sleep", {"seconds": 0.5, "steps": 2}, wait=False)
    page.goto(f"{launcher.web}/admin/jobs/job/{held}/change/")
    why = page.locator('[data-live-region="job-why"] [data-reason="paused"]')
    why.wait_for(timeout=60_000)
    assert "the sleep service is down" in why.inner_text() and user in why.inner_text()
    page.screenshot(path=str(shots / "job-page-paused.png"), full_page=True)

    page.goto(f"{launcher.web}/admin/jobs/pause/")
    page.check("input[name=_selected_action]")
    page.select_option("select[name=action]", "resume_selected")
    page.click("button[name=index]")
    assert "Resumed" in page.locator("ul.messagelist").inner_text()
    page.goto(f"{launcher.web}/admin/jobs/job/{held}/change/")
    page.locator('[data-live-region="job-status"] .job-status-completed').wait_for(timeout=60_000)
    page.screenshot(path=str(shots / "job-page-completed.png"), full_page=True)

    # the audit log lists each action with the operator's name
    page.goto(f"{launcher.web}/admin/audit/auditentry/")
    text = page.locator("#result_list").inner_text()
    for action in ("bulk.retry", "retry", "pause", "resume"):
        assert re.search(rf"\b{re.escape(action)}\b", text), f"{action} missing from the audit log:\n{text}"
    assert user in text
    page.screenshot(path=str(shots / "audit-log.png"), full_page=True)
    page.goto(f"{launcher.web}/admin/console/failures/")
    page.screenshot(path=str(shots / "failure-groups.png"), full_page=True)
    context.close()
    print(f"screenshots in {shots}")
