"""Django settings for Conveyor. Every value comes from `config.env`."""
from __future__ import annotations

from datetime import timedelta

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config import env

BASE_DIR = env.BASE_DIR
VAR_DIR = env.VAR_DIR

DEV_SECRET_KEY = "conveyor-development-key-never-use-in-production"
SECRET_KEY = env.env_str("SECRET_KEY", DEV_SECRET_KEY)
DEBUG = env.env_bool("DEBUG", True)
ENVIRONMENT = env.env_str("CONVEYOR_ENV", "development")
if ENVIRONMENT == "production":
    if DEBUG:
        raise ImproperlyConfigured("CONVEYOR_ENV=production refuses DEBUG=1: set DEBUG=0.")
    if SECRET_KEY == DEV_SECRET_KEY or len(SECRET_KEY) < 32:
        raise ImproperlyConfigured(
            "CONVEYOR_ENV=production needs its own SECRET_KEY of at least 32 characters."
        )
ALLOWED_HOSTS = env.env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "django_celery_results",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "jobs",
    "handlers",
    "scheduler",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database ---------------------------------------------------------------------------
DATABASE_URL = env.database_url()
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=600, conn_health_checks=True)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # a server that does not answer (rather than refusing) must not hang a reconnect for the
    # OS's TCP timeout: workers retry with their own backoff while the database is away
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite locks the whole file for writes: WAL lets readers run beside the writer, and
    # IMMEDIATE transactions take the write lock up front instead of failing on upgrade.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Tests run real worker processes, which cannot see an in-memory database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "conveyor": {"handlers": ["console"], "level": env.env_str("LOG_LEVEL", "INFO"), "propagate": False},
    },
}

# --- Celery -------------------------------------------------------------------------------
REDIS_URL = env.redis_url()
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = "jobs.storage.result_backend:ResultBackend"  # django-celery-results, one upsert per result
CELERY_RESULT_EXTENDED = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_TRACK_STARTED = False
# Task events (received/started/succeeded per task, a Redis PUBLISH each) took half of the
# prefork main process's time per job, and that process is the worker's bottleneck. Every job
# is visible in the Job table and the admin; Flower still sees workers (their heartbeats) and
# queues. Turn events on to follow single Celery tasks in Flower.
CELERY_WORKER_SEND_TASK_EVENTS = env.env_bool("CELERY_WORKER_SEND_TASK_EVENTS", False)
# A "task-sent" event doubles the Redis work of every publish.
CELERY_TASK_SEND_SENT_EVENT = env.env_bool("CELERY_TASK_SEND_SENT_EVENT", False)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = 5
# A worker that lost Redis keeps running its handlers. Cancelling them (True) killed every
# running handler on a broker blip, and each such job ran again only after the heartbeat
# timeout; its message cannot come back before the visibility timeout (an hour), and if it
# does, the job's claim token makes that late delivery claim nothing. The outcome goes to the
# database, not to Redis, so a handler that ran through a Redis restart records it as usual.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# Reconnect to Redis for as long as it takes (Celery's default gives up after 100 tries, about
# 45 minutes, and the worker exits; under `make run` that stops the whole stack).
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=60),
    # Job priority 1 (most urgent) .. 10 maps onto broker priority 0 .. 9.
    "priority_steps": list(range(10)),
    "queue_order_strategy": "priority",
    "sep": ":",
    "socket_timeout": 10,
    "socket_connect_timeout": 5,
    "socket_keepalive": True,
    "health_check_interval": 25,
}
CELERY_RESULT_EXPIRES = None  # pruned by the platform's clean-up, not by celery.backend_cleanup
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Keep DB connections across tasks (Celery's Django fix-up otherwise closes them after each).
CELERY_DB_REUSE_MAX = env.env_int("CELERY_DB_REUSE_MAX", 1000, minimum=0)

# --- Conveyor's own settings (read through jobs.conf.jobs_settings) -------------------------
JOBS_MAX_PAYLOAD_BYTES = env.env_int("JOBS_MAX_PAYLOAD_BYTES", 1024 * 1024, minimum=1)
JOBS_DEFAULT_QUEUE = env.env_str("JOBS_DEFAULT_QUEUE", "default")
# Every queue a handler may name; a worker consumes some of them with -Q.
JOBS_QUEUES = env.env_list("JOBS_QUEUES", ["default", "attachments", "dossiers"])
JOBS_DEFAULT_PRIORITY = env.env_int("JOBS_DEFAULT_PRIORITY", 5, minimum=1, maximum=10)
JOBS_DEFAULT_MAX_ATTEMPTS = env.env_int("JOBS_DEFAULT_MAX_ATTEMPTS", 3, minimum=1, maximum=100)
JOBS_BACKOFF_BASE = env.env_float("JOBS_BACKOFF_BASE", 5.0, minimum=0)
JOBS_BACKOFF_FACTOR = env.env_float("JOBS_BACKOFF_FACTOR", 5.0, minimum=1)
JOBS_BACKOFF_MAX = env.env_float("JOBS_BACKOFF_MAX", 6 * 3600.0, minimum=0)
JOBS_BACKOFF_JITTER = env.env_bool("JOBS_BACKOFF_JITTER", False)
JOBS_BROKER_COUNTDOWN_MAX = env.env_float("JOBS_BROKER_COUNTDOWN_MAX", 300.0, minimum=0)
JOBS_HEARTBEAT_INTERVAL = env.env_float("JOBS_HEARTBEAT_INTERVAL", 5.0, minimum=0.1)
JOBS_HEARTBEAT_TIMEOUT = env.env_float("JOBS_HEARTBEAT_TIMEOUT", 30.0, minimum=0.5)
JOBS_RESCUE_INTERVAL = env.env_float("JOBS_RESCUE_INTERVAL", 15.0, minimum=0.5)
JOBS_MAX_RESCUES = env.env_int("JOBS_MAX_RESCUES", 3, minimum=0)
JOBS_SWEEP_INTERVAL = env.env_float("JOBS_SWEEP_INTERVAL", 15.0, minimum=0.5)
# A queued job whose message went out this long before one that a worker has since taken from
# the same queue and priority lost its message: the sweeper publishes it again.
JOBS_SWEEP_OVERTAKEN_AFTER = env.env_float("JOBS_SWEEP_OVERTAKEN_AFTER", 10.0, minimum=0.1)
# A due job unclaimed this long in a queue where nothing moves: the sweeper sends a probe
# through that queue to learn whether its message is still there.
JOBS_SWEEP_UNCLAIMED_AFTER = env.env_float("JOBS_SWEEP_UNCLAIMED_AFTER", 120.0, minimum=0.5)
JOBS_PROGRESS_MIN_INTERVAL = env.env_float("JOBS_PROGRESS_MIN_INTERVAL", 1.0, minimum=0)
JOBS_SHUTDOWN_GRACE = env.env_float("JOBS_SHUTDOWN_GRACE", 25.0, minimum=0)
# Workers' commits wait for the disk only when this is on; see jobs/storage/durability.py.
JOBS_WORKER_SYNCHRONOUS_COMMIT = env.env_bool("JOBS_WORKER_SYNCHRONOUS_COMMIT", False)
# A job's INSERT, the worker's claim and completion as prepared statements; see jobs/storage/prepared.py.
JOBS_PREPARED_STATEMENTS = env.env_bool("JOBS_PREPARED_STATEMENTS", True)
JOBS_PUBLISH_MAX_RETRIES = env.env_int("JOBS_PUBLISH_MAX_RETRIES", 2, minimum=0)
JOBS_HARD_TIMEOUT_GRACE = env.env_float("JOBS_HARD_TIMEOUT_GRACE", 30.0, minimum=0)
JOBS_CANCEL_GRACE = env.env_float("JOBS_CANCEL_GRACE", 10.0, minimum=0)
# "broker" publishes to Celery; tests of applications may use "inline" or "record"
# (see jobs.testing).
JOBS_DISPATCH_MODE = env.env_str("JOBS_DISPATCH_MODE", "broker")
JOBS_HANDLER_MODULES = env.env_list(
    "JOBS_HANDLER_MODULES", ["handlers.demo", "handlers.dossiers", "handlers.maintenance"]
)

FLOWER_BASIC_AUTH = env.env_str("FLOWER_BASIC_AUTH", "")

# The platform's own periodic tasks run on their own queue, so that a backlog of user jobs
# never delays the rescuer or the sweeper. Expiry drops ticks that no worker took in time.
JOBS_SYSTEM_QUEUE = env.env_str("JOBS_SYSTEM_QUEUE", "system")
CELERY_TASK_ROUTES = {
    "jobs.rescue_stale_jobs": {"queue": JOBS_SYSTEM_QUEUE},
    "jobs.sweep_unclaimed_jobs": {"queue": JOBS_SYSTEM_QUEUE},
    "jobs.admit_waiting": {"queue": JOBS_SYSTEM_QUEUE},
    "scheduler.fire_schedule": {"queue": JOBS_SYSTEM_QUEUE},
    "scheduler.fire_overdue_schedules": {"queue": JOBS_SYSTEM_QUEUE},
}
# Every periodic task, the rescuer and the sweeper included, is a system schedule declared in
# scheduler/system.py and synced into django-celery-beat's tables when beat starts (and by
# `manage.py sync_schedules`); nothing is scheduled from settings.
CELERY_BEAT_SCHEDULE: dict[str, dict] = {}

# --- schedules and retention (scheduler app, jobs:cleanup, storage:cleanup) ------------------
# Retention of finished jobs and of django-celery-results rows, in days (the dossier pipeline drops
# completed jobs and keeps failed ones for investigation); deleted in batches.
JOBS_KEEP_COMPLETED_DAYS = env.env_float("JOBS_KEEP_COMPLETED_DAYS", 7.0, minimum=0)
JOBS_KEEP_FAILED_DAYS = env.env_float("JOBS_KEEP_FAILED_DAYS", 30.0, minimum=0)
JOBS_CLEANUP_BATCH_SIZE = env.env_int("JOBS_CLEANUP_BATCH_SIZE", 1000, minimum=1, maximum=100_000)
# How often the safety net fires schedules whose tick passed without beat's message.
JOBS_SCHEDULE_CHECK_INTERVAL = env.env_float("JOBS_SCHEDULE_CHECK_INTERVAL", 60.0, minimum=1)
# A tick fired later than this after its time counts as missed (the catch-up policy decides).
JOBS_SCHEDULE_MISFIRE_GRACE = env.env_float("JOBS_SCHEDULE_MISFIRE_GRACE", 300.0, minimum=1)
# The shortest interval a user's schedule may have.
JOBS_SCHEDULE_MIN_INTERVAL = env.env_float("JOBS_SCHEDULE_MIN_INTERVAL", 60.0, minimum=1)
# System schedules switched off on this deployment (names from scheduler/system.py).
JOBS_SCHEDULES_DISABLED = env.env_list("JOBS_SCHEDULES_DISABLED", [])
# storage:cleanup deletes the files under this folder older than this many hours.
STORAGE_TEMP_DIR = env.env_str("STORAGE_TEMP_DIR", str(VAR_DIR / "tmp"))
STORAGE_TEMP_MAX_AGE_HOURS = env.env_float("STORAGE_TEMP_MAX_AGE_HOURS", 24.0, minimum=0)

# --- REST API (jobs.api) ------------------------------------------------------------------
# Quotas per user (per organization, the Organization's own fields override these); 0 means no
# limit of that kind. Staff are exempt unless JOBS_QUOTA_STAFF_EXEMPT=0.
JOBS_QUOTA_PER_MINUTE = env.env_int("JOBS_QUOTA_PER_MINUTE", 1, minimum=0)
JOBS_QUOTA_PER_HOUR = env.env_int("JOBS_QUOTA_PER_HOUR", 10, minimum=0)
JOBS_QUOTA_PER_DAY = env.env_int("JOBS_QUOTA_PER_DAY", 100, minimum=0)
JOBS_QUOTA_STAFF_EXEMPT = env.env_bool("JOBS_QUOTA_STAFF_EXEMPT", True)
# The largest JSON request body the API reads (413 beyond it): a full-size payload plus its
# envelope. Enforced by the API's own parser, since DRF's JSON parsing reads the stream
# without checking DATA_UPLOAD_MAX_MEMORY_SIZE.
JOBS_API_MAX_BODY_BYTES = env.env_int("JOBS_API_MAX_BODY_BYTES", JOBS_MAX_PAYLOAD_BYTES + 64 * 1024, minimum=1)
if JOBS_API_MAX_BODY_BYTES < JOBS_MAX_PAYLOAD_BYTES:
    raise ImproperlyConfigured(
        f"JOBS_API_MAX_BODY_BYTES={JOBS_API_MAX_BODY_BYTES} is below JOBS_MAX_PAYLOAD_BYTES={JOBS_MAX_PAYLOAD_BYTES}: "
        "a payload within the limit could never be sent."
    )
# How many jobs one bulk cancel/retry request may change.
JOBS_API_BULK_MAX = env.env_int("JOBS_API_BULK_MAX", 1000, minimum=1)
# The job lists count their matches exactly up to this many; beyond, `pagination.total` is
# PostgreSQL's estimate and `totalIsExact` false (an exact COUNT of a million rows costs more
# than the page). 0: always count exactly.
JOBS_API_EXACT_TOTAL_MAX = env.env_int("JOBS_API_EXACT_TOTAL_MAX", 10_000, minimum=0)
# Lifetime of the API tokens made by `manage.py create_api_token` (0: they never expire).
JOBS_API_TOKEN_DAYS = env.env_int("JOBS_API_TOKEN_DAYS", 90, minimum=0)

REST_FRAMEWORK = {
    # Token first: an anonymous request then gets 401 with `WWW-Authenticate: Bearer`.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["jobs.api.parsers.JobInputJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# API tokens are stored as SHA-512 digests (django-rest-knox); sent as `Authorization: Bearer <token>`.
REST_KNOX = {
    "AUTH_HEADER_PREFIX": "Bearer",
    "TOKEN_PREFIX": "cnv_",  # recognisable by secret scanners
    "TOKEN_TTL": timedelta(days=JOBS_API_TOKEN_DAYS) if JOBS_API_TOKEN_DAYS else None,
    "AUTO_REFRESH": False,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Conveyor API",
    "DESCRIPTION": "Background jobs: create, follow, cancel and retry them; job types, quotas.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api(/v1)?",
    "COMPONENT_SPLIT_REQUEST": True,
    # the docs page's assets come from this server, not from a CDN
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
