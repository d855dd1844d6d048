"""Handler policies held across several real worker processes sharing one Redis."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from jobs import services
from jobs.models import Job, JobAttempt
from tests.factories import make_org
from tests.processes import wait_for

pytestmark = [pytest.mark.workers, pytest.mark.slow]


def events(path: Path) -> list[tuple[str, str, float]]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        event, job_id, at = line.split()
        rows.append((event, job_id, float(at)))
    return rows


def max_overlap(rows: list[tuple[str, str, float]], ids: set[str] | None = None) -> int:
    """The most runs in progress at one moment (an end sorts before a start at the same time)."""
    timeline = sorted((at, 0 if event == "end" else 1) for event, job_id, at in rows if ids is None or job_id in ids)
    running = peak = 0
    for _, is_start in timeline:
        running += 1 if is_start else -1
        peak = max(peak, running)
    return peak


def all_final(jobs: list[Job], status: str = "completed", timeout: float = 120) -> None:
    ids = [j.pk for j in jobs]
    wait_for(lambda: Job.objects.filter(pk__in=ids, status=status).count() == len(ids), timeout=timeout,
             message=f"{len(ids)} jobs to be {status}")


def status_of(job: Job) -> str:
    return Job.objects.values_list("status", flat=True).get(pk=job.pk)


def test_global_concurrency_limits_hold_across_three_workers(processes, tmp_path):
    for _ in range(3):
        processes.worker(concurrency=2)
    one, four = tmp_path / "one.txt", tmp_path / "four.txt"
    jobs = [services.job_create(type="test.limited1", input={"path": str(one), "seconds": 0.05}).job
            for _ in range(40)]
    jobs += [services.job_create(type="test.limited4", input={"path": str(four), "seconds": 0.3}).job
             for _ in range(40)]
    all_final(jobs, timeout=240)
    assert len(events(one)) == 80 and len(events(four)) == 80
    assert max_overlap(events(one)) == 1
    assert 2 <= max_overlap(events(four)) <= 4
    # waiting for a slot spends no attempt
    assert set(Job.objects.filter(pk__in=[j.pk for j in jobs]).values_list("attempts", flat=True)) == {1}


def test_a_killed_worker_frees_its_slot_when_the_rescuer_takes_its_job_back(processes, tmp_path):
    marks = tmp_path / "marks.txt"
    holder = processes.worker(concurrency=1)
    stuck = services.job_create(type="test.limited1", input={"path": str(marks), "seconds": 4}).job
    wait_for(lambda: any(e == "start" for e, _, _ in events(marks)), message="the slot holder to start")
    waiting = services.job_create(type="test.limited1", input={"path": str(marks), "seconds": 0.1}).job
    holder.kill_group()
    killed_at = time.time()
    processes.worker(concurrency=1)
    time.sleep(2)
    assert status_of(stuck) == "running" and status_of(waiting) == "queued"  # the slot is still the dead run's
    processes.beat()  # the rescuer
    all_final([stuck, waiting], timeout=90)
    started = [at for e, job_id, at in events(marks) if e == "start" and job_id == str(waiting.pk)]
    assert started and started[0] - killed_at >= 2.5  # not before the 3 s heartbeat timeout
    assert max_overlap([e for e in events(marks) if not (e[0] == "start" and e[2] < killed_at)]) == 1
    assert list(JobAttempt.objects.filter(job=stuck).values_list("outcome", flat=True)) == ["lost", "completed"]


def test_a_limit_per_organization_lets_organizations_run_in_parallel(processes, tmp_path):
    processes.worker(concurrency=2)
    processes.worker(concurrency=2)
    marks = tmp_path / "marks.txt"
    org_a, org_b = make_org(), make_org()
    jobs_a = [services.job_create(type="test.per_org", input={"path": str(marks), "seconds": 0.4},
                                  organization=org_a).job
              for _ in range(4)]
    jobs_b = [services.job_create(type="test.per_org", input={"path": str(marks), "seconds": 0.4},
                                  organization=org_b).job
              for _ in range(4)]
    all_final(jobs_a + jobs_b)
    rows = events(marks)
    assert max_overlap(rows, {str(j.pk) for j in jobs_a}) == 1
    assert max_overlap(rows, {str(j.pk) for j in jobs_b}) == 1
    assert max_overlap(rows) == 2


def test_rate_limit_holds_across_workers(processes, tmp_path):
    for _ in range(3):
        processes.worker(concurrency=2)
    marks = tmp_path / "marks.txt"
    jobs = [services.job_create(type="test.rated", input={"path": str(marks), "seconds": 0}).job for _ in range(9)]
    all_final(jobs, timeout=60)
    starts = sorted(at for e, _, at in events(marks) if e == "start")
    # 3 per 2 s: any 4 consecutive starts span at least (almost) 2 s
    spans = [starts[i + 3] - starts[i] for i in range(len(starts) - 3)]
    assert min(spans) >= 1.9, spans


def test_debounce_is_trailing_and_a_trigger_during_the_run_gives_one_more_run(processes, tmp_path):
    processes.worker(concurrency=2)
    marks = tmp_path / "marks.txt"
    payload = {"item": 7, "path": str(marks), "seconds": 0.5}
    triggers = []
    for _ in range(5):
        triggers.append(time.time())
        services.job_create(type="test.debounced", input=payload)
        time.sleep(0.2)
    wait_for(lambda: len([e for e in events(marks) if e[0] == "start"]) == 1, message="the debounced run")
    first_start = [at for e, _, at in events(marks) if e == "start"][0]
    assert first_start - triggers[-1] >= 0.9  # a window after the *last* trigger
    services.job_create(type="test.debounced", input=payload)  # while it runs
    wait_for(lambda: len([e for e in events(marks) if e[0] == "end"]) == 2, timeout=30, message="a second run")
    time.sleep(1.5)  # nothing more comes
    assert len([e for e in events(marks) if e[0] == "start"]) == 2
    assert Job.objects.filter(type="test.debounced").count() == 2


def test_dedup_returns_the_same_job_until_it_completes(processes, tmp_path):
    marks = tmp_path / "marks.txt"
    payload = {"thing": "a-1", "path": str(marks), "seconds": 0}
    first = services.job_create(type="test.deduped", input=payload).job
    again = services.job_create(type="test.deduped", input=payload)
    assert again.job.pk == first.pk and again.deduplicated
    processes.worker()
    wait_for(lambda: status_of(first) == "completed", message="the job")
    later = services.job_create(type="test.deduped", input=payload)
    assert later.job.pk != first.pk and not later.deduplicated


def test_more_urgent_jobs_start_first_from_a_backlog(processes, tmp_path):
    marks = tmp_path / "marks.txt"
    processes.worker(concurrency=1)
    blocker = services.job_create(type="demo.sleep", input={"seconds": 2, "steps": 1}).job
    wait_for(lambda: status_of(blocker) == "running", message="the worker to be busy")
    priorities = [7, 2, 9, 5, 1, 10, 3, 6, 8, 4, 1, 9, 2, 5, 7, 3, 10, 6, 4, 8]
    jobs = {str(services.job_create(type="test.count", input={"path": str(marks)}, priority=p).job.pk): p
            for p in priorities}
    all_final([Job(pk=pk) for pk in jobs])
    order = [jobs[line.split()[0]] for line in marks.read_text().splitlines()]
    assert order == sorted(priorities), order


def test_soft_timeout_fails_the_attempt_and_retries(processes):
    processes.worker()
    job = services.job_create(type="test.soft_timeout").job
    wait_for(lambda: status_of(job) == "failed", timeout=60, message="the job to fail")
    row = Job.objects.get(pk=job.pk)
    assert row.attempts == 2 and "soft time limit of 0.5s exceeded" in row.error
    assert list(JobAttempt.objects.filter(job=job).values_list("outcome", flat=True)) == ["timeout", "timeout"]


def test_hard_timeout_kills_the_process_and_the_worker_keeps_serving(processes):
    processes.worker(concurrency=1)
    job = services.job_create(type="test.hard_timeout").job
    wait_for(lambda: status_of(job) == "failed", timeout=60, message="the job to be killed")
    row = Job.objects.get(pk=job.pk)
    assert "hard time limit of 1.0s exceeded" in row.error
    assert list(JobAttempt.objects.filter(job=job).values_list("outcome", flat=True)) == ["timeout"]
    after = services.job_create(type="demo.sleep", input={"seconds": 0.1, "steps": 1}).job
    wait_for(lambda: status_of(after) == "completed", timeout=60, message="the next job on the same worker")


@pytest.mark.parametrize("job_type", ["test.stubborn", "test.deaf"])
def test_forced_cancel_ends_cancelled_and_loses_no_other_job(processes, job_type):
    processes.worker(concurrency=2)
    victim = services.job_create(type=job_type, input={"seconds": 120}).job
    bystander = services.job_create(type="demo.sleep", input={"seconds": 6, "steps": 30}).job
    wait_for(lambda: status_of(victim) == "running" and status_of(bystander) == "running", message="both running")
    services.job_cancel(job_id=victim.pk)
    wait_for(lambda: status_of(victim) == "cancelled", timeout=60, message="the forced cancel")
    assert list(JobAttempt.objects.filter(job=victim).values_list("outcome", flat=True)) == ["cancelled"]
    wait_for(lambda: status_of(bystander) == "completed", timeout=60, message="the other job")
    after = services.job_create(type="demo.sleep", input={"seconds": 0.1, "steps": 1}).job
    wait_for(lambda: status_of(after) == "completed", timeout=60, message="a job after the cancel")


def test_a_system_job_runs_on_demand_and_on_schedule_without_a_job_row(processes, tmp_path):
    from django_celery_beat.models import IntervalSchedule, PeriodicTask
    from django_celery_results.models import TaskResult

    marks = tmp_path / "system.txt"
    worker = processes.worker()
    task_id = services.system_job_send(type="test.system", input={"path": str(marks)})
    wait_for(lambda: marks.exists() and f"system_{task_id}" in marks.read_text(), message="the on-demand run")
    every = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(name="test-system", task="jobs.run_system_job", interval=every,
                                args=json.dumps(["test.system", {"path": str(marks)}]))
    processes.beat()
    wait_for(lambda: len(marks.read_text().splitlines()) >= 3, timeout=30, message="scheduled runs")
    assert Job.objects.count() == 0
    assert TaskResult.objects.filter(task_name="jobs.run_system_job", status="SUCCESS").exists()
    assert f"system job system_{task_id} [test.system] progress 50% half way" in worker.log()
