"""A Redis restart does not touch the handlers that are running, and the worker goes on.

Redis is a server of the test's own (`own_redis`), either restarted with nothing kept (every
message is lost, the running jobs' unacknowledged ones too), or left running while every
client connection is killed (a network blip: Redis keeps its data, and kombu puts the running
jobs' unacknowledged messages back in their queue as the connection drops, so that they are
delivered again at once). Either way the handlers must run on (the worker does not cancel
them on a connection loss), record their outcome in the database once, and the worker must
reconnect and take new jobs. A second delivery of a running job claims nothing.
"""
from __future__ import annotations

import time

import pytest
import redis

from jobs import services
from jobs.models import Job, JobAttempt
from tests.processes import wait_for

pytestmark = [pytest.mark.workers, pytest.mark.slow]


def attempts_of(job: Job) -> list[tuple[int, str]]:
    return list(JobAttempt.objects.filter(job=job).order_by("number").values_list("number", "outcome"))


def drop_connections(own_redis) -> None:
    """Kill every client connection; Redis and its data stay."""
    client = redis.Redis.from_url(own_redis.url)
    try:
        client.client_kill_filter(_type="normal", skipme=True)
        client.client_kill_filter(_type="pubsub")
    finally:
        client.close()


@pytest.mark.parametrize("blip", ["restart", "connections-killed"])
@pytest.mark.parametrize("pool", ["prefork", "solo"])
def test_a_redis_blip_leaves_running_handlers_alone_and_the_worker_consumes_after_it(processes, own_redis, pool,
                                                                                    blip):
    env = {"REDIS_URL": own_redis.url}
    concurrency = 2 if pool == "prefork" else 1
    worker = processes.worker(pool=pool, concurrency=concurrency, env=env)
    processes.beat(env=env)  # the rescuer would give a killed handler's job a second attempt
    jobs = [services.job_create(type="demo.sleep", input={"seconds": 6, "steps": 30}).job for _ in range(concurrency)]
    ids = [job.pk for job in jobs]
    wait_for(lambda: Job.objects.filter(pk__in=ids, status="running", progress__gt=0).count() == len(ids),
             timeout=60, message=f"{len(ids)} job(s) running")

    if blip == "restart":
        own_redis.stop()  # every message goes, the running jobs' unacked ones too
        time.sleep(1)
        own_redis.start()
    else:
        drop_connections(own_redis)

    for job in jobs:
        wait_for(lambda job=job: Job.objects.get(pk=job.pk).status in ("completed", "failed", "cancelled"),
                 timeout=120, message=f"job {job.pk} to finish")
    for job in jobs:
        done = Job.objects.get(pk=job.pk)
        assert (done.status, done.attempts, done.rescues) == ("completed", 1, 0), worker.log()[-3000:]
        assert attempts_of(job) == [(1, "completed")]

    if blip == "connections-killed" and pool == "prefork":
        # kombu put the running jobs' messages back as the connection dropped: delivered again,
        # they claimed nothing (a solo worker, busy in the handler, noticed the loss after it).
        # They wait for a free pool process, so they run just after the jobs complete.
        wait_for(lambda: "claims nothing (stale or duplicate)" in worker.log(), timeout=30,
                 message="the redelivered messages to claim nothing")

    # the worker reconnected and consumes: new jobs created after the blip run on it
    after = [services.job_create(type="demo.sleep", input={"seconds": 0.5, "steps": 2}).job for _ in range(concurrency)]
    for job in after:
        wait_for(lambda job=job: Job.objects.get(pk=job.pk).status == "completed", timeout=120,
                 message=f"job {job.pk}, created after the blip, to complete")
        done = Job.objects.get(pk=job.pk)
        assert done.attempts == 1 and done.worker.startswith(worker.name)
    assert worker.alive()
