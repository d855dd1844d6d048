"""Admin pages for system and user schedules: they render, pause / resume / run-now go through
the services and report what they refused, and no form saves a schedule."""
from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.test import Client, override_settings
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from jobs.models import Job
from jobs.testing import jobs_recorded
from scheduler import services
from scheduler.models import ScheduledJob
from tests.factories import make_user

pytestmark = pytest.mark.django_db

SYSTEM = reverse("admin:scheduler_systemscheduledjob_changelist")
USER = reverse("admin:scheduler_userscheduledjob_changelist")


@pytest.fixture(autouse=True)
def quiet_quotas_and_every_system_schedule_on():
    with override_settings(JOBS_QUOTA_PER_MINUTE=0, JOBS_QUOTA_PER_HOUR=0, JOBS_QUOTA_PER_DAY=0,
                           JOBS_SCHEDULES_DISABLED=[]):
        yield


@pytest.fixture
def client(django_user_model: Any) -> Client:
    client = Client()
    client.force_login(django_user_model.objects.create_superuser(username="ops", email="ops@example.com",
                                                                  password=None))
    return client


@pytest.fixture
def schedules() -> dict[str, ScheduledJob]:
    services.schedules_sync()
    alice = make_user("alice")
    mine = services.schedule_create(owner=alice, name="nightly export", job_type="demo.sleep", frequency="daily",
                                    time_of_day="02:30", timezone_name="Europe/Paris", input={"seconds": 0})
    return {"user": mine, "cleanup": ScheduledJob.objects.get(name="jobs:cleanup"),
            "maintenance": ScheduledJob.objects.get(name="process-attachments-maintenance")}


def messages_of(response: Any) -> list[tuple[str, str]]:
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


def act(client: Client, url: str, action: str, rows: list[ScheduledJob]) -> Any:
    return client.post(url, {"action": action, "_selected_action": [str(r.pk) for r in rows], "index": "0",
                             "select_across": "0"})


def test_the_pages_render(client: Client, schedules: dict[str, ScheduledJob]) -> None:
    system_page = client.get(SYSTEM).content.decode()
    for text in ("jobs:rescue-stale", "task jobs.rescue_stale_jobs", "every 1s", "cron 0 3 * * * UTC",
                 "Pause selected schedules", "Resume selected schedules", "Run selected schedules now"):
        assert text in system_page, text
    assert "nightly export" not in system_page
    user_page = client.get(USER).content.decode()
    assert "nightly export" in user_page and "alice" in user_page and "daily 02:30 Europe/Paris" in user_page
    assert "jobs:cleanup" not in user_page
    detail = client.get(reverse("admin:scheduler_userscheduledjob_change", args=[schedules["user"].pk]))
    page = detail.content.decode()
    assert detail.status_code == 200 and "Run now" in page and "Pause" in page and "user-schedule:" in page
    assert page.count("Z, ") >= 4  # the next five runs
    detail = client.get(reverse("admin:scheduler_systemscheduledjob_change", args=[schedules["cleanup"].pk]))
    assert detail.status_code == 200 and "Run now" in detail.content.decode()
    # nothing to add, and no form that saves
    assert client.get(reverse("admin:scheduler_userscheduledjob_add")).status_code == 403
    assert client.post(reverse("admin:scheduler_systemscheduledjob_change", args=[schedules["cleanup"].pk]),
                       {"name": "renamed"}).status_code == 403
    assert ScheduledJob.objects.get(pk=schedules["cleanup"].pk).name == "jobs:cleanup"


def test_pause_and_resume_actions(client: Client, schedules: dict[str, ScheduledJob]) -> None:
    response = act(client, SYSTEM, "pause_selected", [schedules["cleanup"], schedules["maintenance"]])
    assert response.status_code == 302
    assert ScheduledJob.objects.filter(paused=True).count() == 2
    assert not PeriodicTask.objects.get(name="jobs:cleanup").enabled
    assert ("success", "Done: paused 'jobs:cleanup'; paused 'process-attachments-maintenance'.") in \
        messages_of(client.get(response.url))
    act(client, SYSTEM, "resume_selected", [schedules["cleanup"]])
    assert not ScheduledJob.objects.get(pk=schedules["cleanup"].pk).paused
    assert PeriodicTask.objects.get(name="jobs:cleanup").enabled
    act(client, USER, "pause_selected", [schedules["user"]])
    assert ScheduledJob.objects.get(pk=schedules["user"].pk).paused


def test_run_now_action_reports_what_it_started_and_what_it_refused(
    client: Client, schedules: dict[str, ScheduledJob]
) -> None:
    response = act(client, USER, "run_selected", [schedules["user"]])
    job = Job.objects.get()
    assert job.created_by is not None and job.created_by.username == "alice"
    followed = client.get(response["Location"])
    assert any(level == "success" and f"started 'nightly export' (job {job.pk})" in text
               for level, text in messages_of(followed))
    response = act(client, USER, "run_selected", [schedules["user"]])
    errors = [text for level, text in messages_of(client.get(response["Location"])) if level == "error"]
    assert errors and f"job {job.pk} of its previous run is still queued" in errors[0]
    assert Job.objects.count() == 1
    with jobs_recorded() as sent:
        act(client, SYSTEM, "run_selected", [schedules["cleanup"]])
    assert [r.job_type for r in sent] == ["jobs:cleanup"]


def test_the_change_page_buttons_post_to_the_actions(client: Client, schedules: dict[str, ScheduledJob]) -> None:
    pk = schedules["maintenance"].pk
    assert client.get(reverse("admin:scheduler_systemscheduledjob_pause", args=[pk])).status_code == 405
    response = client.post(reverse("admin:scheduler_systemscheduledjob_pause", args=[pk]))
    assert response.status_code == 302 and response["Location"] == reverse("admin:scheduler_systemscheduledjob_change",
                                                                    args=[pk])
    assert ScheduledJob.objects.get(pk=pk).paused
    page = client.get(response["Location"]).content.decode()
    assert "Resume" in page
    client.post(reverse("admin:scheduler_systemscheduledjob_resume", args=[pk]))
    assert not ScheduledJob.objects.get(pk=pk).paused
    client.post(reverse("admin:scheduler_systemscheduledjob_run", args=[pk]))
    assert Job.objects.get().type == "process-attachments-maintenance"
    # a user schedule's id is not found on the system page
    missing = client.post(reverse("admin:scheduler_systemscheduledjob_pause", args=[schedules["user"].pk]))
    assert missing["Location"] == SYSTEM and not ScheduledJob.objects.get(pk=schedules["user"].pk).paused


def test_deleting_a_user_schedule_goes_through_its_service(client: Client, schedules: dict[str, ScheduledJob]) -> None:
    task_id = schedules["user"].periodic_task_id
    response = client.post(USER, {"action": "delete_selected", "_selected_action": [str(schedules["user"].pk)],
                                  "post": "yes"})
    assert response.status_code == 302
    assert not ScheduledJob.objects.filter(pk=schedules["user"].pk).exists()
    assert not PeriodicTask.objects.filter(pk=task_id).exists()
    # system schedules leave with the code's list only
    assert "delete_selected" not in client.get(SYSTEM).content.decode()


def test_viewing_without_the_operate_permission_hides_the_actions(schedules: dict[str, ScheduledJob]) -> None:
    viewer = make_user("viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_userscheduledjob"))
    client = Client()
    client.force_login(viewer)
    page = client.get(USER).content.decode()
    assert "nightly export" in page and "Run selected schedules now" not in page
    pk = schedules["user"].pk
    assert client.post(reverse("admin:scheduler_userscheduledjob_run", args=[pk])).status_code == 403
    act(client, USER, "run_selected", [schedules["user"]])
    assert not Job.objects.exists()
    detail = client.get(reverse("admin:scheduler_userscheduledjob_change", args=[pk])).content.decode()
    assert "Run now" not in detail
