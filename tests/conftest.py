"""Shared fixtures: the embedded Redis (when REDIS_URL is not given), real processes, helpers."""
from __future__ import annotations

import os
import shutil
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from django.conf import settings

from config.embedded_redis import EmbeddedRedis
from tests import settings as test_settings
from tests.processes import ProcessGroup


@pytest.fixture(scope="session")
def broker() -> Iterator[str]:
    """The suite's Redis: an embedded one of its own unless REDIS_URL was given. Not autouse:
    the unit tier must run with no Redis at all; the integration and acceptance tiers request
    it for every test in their own conftest.py (one instance for the whole session)."""
    server = None
    if test_settings.EMBEDDED_REDIS_FOR_TESTS:
        sock = test_settings.TEST_REDIS_SOCKET
        server = EmbeddedRedis(socket_path=sock, workdir=sock.parent).start()
    _purge_queues()
    try:
        yield settings.CELERY_BROKER_URL
    finally:
        if server is not None:
            server.stop()


def _purge_queues() -> None:
    from config.celery import app

    with app.connection_for_write() as conn:
        for queue in ("default", settings.JOBS_SYSTEM_QUEUE):
            try:
                conn.default_channel.queue_purge(queue)
            except Exception:
                pass


@pytest.fixture
def processes(request: pytest.FixtureRequest, transactional_db: None, tmp_path: Path) -> Iterator[ProcessGroup]:
    """Start real workers and beat for one test; they are killed at teardown, and their logs
    are printed when the test failed."""
    _purge_queues()
    group = ProcessGroup(tmp_path / "logs")
    yield group
    group.stop_all()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(group.logs())


@pytest.hookimpl(tryfirst=True, wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None],
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    # each phase's report kept on the test item, so that `processes` can tell at teardown
    # whether the test failed
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session", autouse=True)
def _clean_test_var() -> Iterator[None]:
    yield
    if os.environ.get("CONVEYOR_TEST_VAR_DIR"):
        shutil.rmtree(test_settings.TEST_VAR_DIR / "redis", ignore_errors=True)
    else:
        shutil.rmtree(test_settings.TEST_VAR_DIR, ignore_errors=True)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A Redis of this test's own on a free loopback port, for tests that stop or restart it.

    The test process publishes to it while the fixture is active; workers get it through
    `env={"REDIS_URL": own_redis.url}`.
    """
    from config.celery import app
    from config.embedded_redis import free_port

    server = EmbeddedRedis(port=free_port(), workdir=tmp_path / "own-redis").start()
    previous = app.conf.broker_url
    _switch_broker(app, server.url)
    try:
        yield server
    finally:
        server.stop()
        _switch_broker(app, previous)


def _switch_broker(app, url: str) -> None:
    # the connection and producer pools are built lazily from broker_url and then cached, in
    # the app and in kombu's registry of pools (keyed by the URL: switching back must not
    # find the pool closed here)
    from kombu import pools

    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None
    app.conf.broker_url = url
