import pytest

from jobs import services
from jobs.models import Job
from tests.processes import wait_for

pytestmark = pytest.mark.workers


def test_sleep_job_completes_on_a_real_worker(processes):
    processes.worker()
    job = services.job_create(type="demo.sleep", input={"seconds": 0.3, "steps": 3})
    wait_for(lambda: Job.objects.get(pk=job.pk).status == "completed", timeout=30, message="job to complete")
