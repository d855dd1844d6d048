"""Flower as Conveyor runs it: `python -m config.flower [Flower's options]` (the Procfile, deploy/).

It is `celery -A config flower` with four differences, each proven by tests/acceptance/test_flower.py:

- /metrics and /healthcheck ask for the same login as every other page (Flower registers them
  without one);
- the Broker tab and /api/queues/length list every queue a job can be published to, not only
  those that online workers consume: a queue that no worker takes is the one whose backlog
  matters. Each length is summed over the queue's priority lists, with the broker transport
  options of the settings (`sep`, `priority_steps`);
- persistent mode is on, its history in `var/flower/` (`--db`/FLOWER_DB elsewhere), saved every
  minute and when Flower stops;
- Flower enables the workers' task events only if CELERY_WORKER_SEND_TASK_EVENTS is on, and
  the Tasks tab shows args and kwargs (a run_job's job id and type).

FLOWER_* variables and the command line override those defaults. Without a login Flower
refuses to start. Run it as a module: as a script its own folder would shadow the `flower`
package.
"""
from __future__ import annotations

import os
import sys
from typing import Any

import django
import flower.urls  # type: ignore[import-untyped]
from celery.bin.celery import main as celery_main
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from flower.api.tasks import GetQueueLengths  # type: ignore[import-untyped]
from flower.views.broker import BrokerView  # type: ignore[import-untyped]
from flower.views.monitor import Healthcheck, Metrics  # type: ignore[import-untyped]
from tornado import web
from tornado.options import options

from config import env
from config.flower_options import all_queues, default_options, require_login, state_file, state_folder


class EveryQueueMixin:
    """Lists the queues the workers consume and every queue a job can be published to."""

    known_queues: tuple[str, ...] = ()

    def get_active_queue_names(self) -> list[str]:
        consumed = super().get_active_queue_names()  # type: ignore[misc]
        return sorted(set(consumed) | set(self.known_queues))


class EveryQueueBrokerView(EveryQueueMixin, BrokerView):
    pass


class EveryQueueLengths(EveryQueueMixin, GetQueueLengths):
    pass


class LoginMetrics(Metrics):
    @web.authenticated
    async def get(self) -> None:
        await super().get()


class LoginHealthcheck(Healthcheck):
    @web.authenticated
    async def get(self) -> None:
        await super().get()


REPLACEMENTS: dict[type, type] = {
    Metrics: LoginMetrics,
    Healthcheck: LoginHealthcheck,
    BrokerView: EveryQueueBrokerView,
    GetQueueLengths: EveryQueueLengths,
}


def install(handlers: list[Any], queues: list[str]) -> None:
    """Swap Flower's handlers for ours, in place: Flower's app builds its routes from this very
    list. Fails if a handler is missing, so that a Flower upgrade cannot silently leave
    /metrics open."""
    EveryQueueMixin.known_queues = tuple(queues)
    found = set()
    for index, entry in enumerate(handlers):
        if isinstance(entry, web.url):
            pattern, handler = entry.regex.pattern, entry.handler_class
        else:
            pattern, handler = entry[0], entry[1]
        replacement = REPLACEMENTS.get(handler)
        if replacement is None:
            continue
        found.add(handler)
        handlers[index] = (web.url(pattern, replacement, entry.kwargs, entry.name) if isinstance(entry, web.url)
                           else (pattern, replacement, *entry[2:]))
    missing = [cls.__name__ for cls in REPLACEMENTS if cls not in found]
    if missing:
        raise ImproperlyConfigured(f"Flower's URL table has no {', '.join(missing)}: this Flower is not the one "
                                   "config/flower.py was written for (see requirements.txt)")


def main(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    require_login(os.environ, argv)
    django.setup()
    folder = state_folder(os.environ, argv, state_file(env.VAR_DIR))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImproperlyConfigured(f"cannot create Flower's state folder {folder} ({exc.strerror}): set FLOWER_DB "
                                   "to a file in a writable folder") from None
    install(flower.urls.handlers, all_queues())
    for name, value in default_options(settings, env.VAR_DIR).items():
        setattr(options, name, value)  # before Flower reads FLOWER_* and its command line over them
    sys.argv = ["celery", "-A", "config", "flower", *argv]
    celery_main()


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except ImproperlyConfigured as exc:
        sys.exit(f"configuration error: {exc}")
