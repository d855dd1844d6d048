"""Django settings for Conveyor. Every value comes from `config.env`."""
from __future__ import annotations

from datetime import timedelta

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config import env, log_settings

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
        raise ImproperlyConfigured("CONVEYOR_ENV=production needs its own SECRET_KEY of at least 32 characters.")
ALLOWED_HOSTS = env.env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "console",  # first: its templates override the admin's index
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
    "observability",
    "notifications",
    "audit",
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

# Messages in the session, not in a cookie: the admin shows a new webhook secret once in one.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
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

# Logging (one handler, the running job on every line, plain or JSON): config/log_settings.py
LOG_LEVEL, LOG_FORMAT, LOGGING = log_settings.from_environment()

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
# Task events (received, started, succeeded, sent to Redis in batches by the worker's main
# process) let Flower list every run_job with its job id and type. Measured with `make bench`
# (docs/operations.md#flower): a prefork worker drained a third fewer jobs per second with
# them on, two solo workers a tenth fewer. Turn them off (0) where that matters more than
# following single tasks in Flower: jobs stay visible in the admin, Flower still shows
# workers and queues.
CELERY_WORKER_SEND_TASK_EVENTS = env.env_bool("CELERY_WORKER_SEND_TASK_EVENTS", True)
# A "task-sent" event doubles the Redis work of every publish (on the web's request path).
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
# django-celery-beat's DatabaseScheduler, recording its ticks for the liveness checks and /metrics
CELERY_BEAT_SCHEDULER = "scheduler.beat_scheduler:BeatScheduler"
# Keep DB connections across tasks (Celery's Django fix-up otherwise closes them after each).
CELERY_DB_REUSE_MAX = env.env_int("CELERY_DB_REUSE_MAX", 1000, minimum=0)

# --- Conveyor's own settings (read through jobs.conf.jobs_settings) -------------------------
JOBS_MAX_PAYLOAD_BYTES = env.env_int("JOBS_MAX_PAYLOAD_BYTES", 1024 * 1024, minimum=1)
JOBS_DEFAULT_QUEUE = env.env_str("JOBS_DEFAULT_QUEUE", "default")
# Every queue a handler may name; a worker consumes some of them with -Q.
JOBS_QUEUES = env.env_list("JOBS_QUEUES", ["default", "attachments", "dossiers", "notifications"])
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
    "JOBS_HANDLER_MODULES", ["handlers.demo", "handlers.dossiers", "handlers.maintenance", "notifications.deliveries"]
)

FLOWER_BASIC_AUTH = env.env_str("FLOWER_BASIC_AUTH", "")
# Flower's address as operators reach it: the admin's job page links each job's current Celery
# task there (`make run` sets it to the Flower it starts).
FLOWER_URL = env.env_str("FLOWER_URL", "http://127.0.0.1:5555").rstrip("/")
if not FLOWER_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(f"FLOWER_URL={FLOWER_URL!r} is not an http:// or https:// address.")

# --- observability (telemetry, observability, notifications) ---------------------------------
# /metrics asks for `Authorization: Bearer <METRICS_TOKEN>`; requests from the networks in
# METRICS_ALLOWED_NETWORKS (CIDRs, e.g. a Prometheus on a private network) need none, unless
# they came through a proxy (X-Forwarded-For). With neither set, /metrics answers 401.
METRICS_TOKEN = env.env_str("METRICS_TOKEN", "")
METRICS_ALLOWED_NETWORKS = env.env_networks("METRICS_ALLOWED_NETWORKS")
# How often each process moves its counters into Redis; how long one reading of the gauges serves.
JOBS_METRICS_FLUSH_INTERVAL = env.env_float("JOBS_METRICS_FLUSH_INTERVAL", 1.0, minimum=0.05)
JOBS_METRICS_CACHE_SECONDS = env.env_float("JOBS_METRICS_CACHE_SECONDS", 5.0, minimum=0)
# The operators' console (docs/console.md): one shared reading of the overview per interval,
# searches over unindexed fields bounded to the newest rows, bulk actions capped, the handler's
# last log lines kept per job in Redis.
JOBS_CONSOLE_REFRESH_SECONDS = env.env_float("JOBS_CONSOLE_REFRESH_SECONDS", 5.0, minimum=0)
JOBS_CONSOLE_SCAN_ROWS = env.env_int("JOBS_CONSOLE_SCAN_ROWS", 10_000, minimum=1)
JOBS_CONSOLE_BULK_MAX = env.env_int("JOBS_CONSOLE_BULK_MAX", 1_000, minimum=1)
JOBS_LOG_LINES_KEPT = env.env_int("JOBS_LOG_LINES_KEPT", 200, minimum=0)
JOBS_LOG_RETENTION_SECONDS = env.env_int("JOBS_LOG_RETENTION_SECONDS", 7 * 86400, minimum=1)
# The `version` label of conveyor_build_info: what a deployment runs (a release tag, a commit).
CONVEYOR_VERSION = env.env_str("CONVEYOR_VERSION", "unreleased")
# Failure notifications (the notifications app, docs/notifications.md). A webhook's URL is
# user input: one that resolves to a private, loopback, link-local or reserved address is
# refused, so that no rule can reach the platform's internal services, unless this is on (a
# receiver on the same private network; the tests' own on 127.0.0.1).
NOTIFICATIONS_ALLOW_PRIVATE_ADDRESSES = env.env_bool("NOTIFICATIONS_ALLOW_PRIVATE_ADDRESSES", False)
# A delivery is a job of its own on the `notifications` queue: its attempts, and the wait
# before retry n (NOTIFICATIONS_RETRY_BACKOFF * 3^(n-1) seconds, at most an hour).
NOTIFICATIONS_MAX_ATTEMPTS = env.env_int("NOTIFICATIONS_MAX_ATTEMPTS", 6, minimum=1, maximum=20)
NOTIFICATIONS_RETRY_BACKOFF = env.env_float("NOTIFICATIONS_RETRY_BACKOFF", 10.0, minimum=0)
# One request to a webhook (connect and answer) may take this long; a hung receiver must not
# hold a notifications worker.
NOTIFICATIONS_HTTP_TIMEOUT = env.env_float("NOTIFICATIONS_HTTP_TIMEOUT", 10.0, minimum=0.1, maximum=120)
# How often the conditions (backlog, no consumer, failure rate, missed schedules) are checked
# and the digests whose throttle window reopened are sent.
NOTIFICATIONS_EVALUATION_INTERVAL = env.env_float("NOTIFICATIONS_EVALUATION_INTERVAL", 30.0, minimum=1)
# After a webhook secret is rotated, the previous one still signs beside the new one this long,
# so that receivers can switch without losing a message.
NOTIFICATIONS_SECRET_OVERLAP_HOURS = env.env_float("NOTIFICATIONS_SECRET_OVERLAP_HOURS", 24.0, minimum=0)
# Sent events and deliveries (with their attempts) are deleted after this many days.
NOTIFICATIONS_KEEP_DAYS = env.env_float("NOTIFICATIONS_KEEP_DAYS", 30.0, minimum=1)
# The site's address as people reach it, for links in messages ("" : no links).
NOTIFICATIONS_SITE_URL = env.env_str("NOTIFICATIONS_SITE_URL", "")
# E-mail channels go through Django's e-mail backend: SMTP to EMAIL_HOST by default.
EMAIL_BACKEND = env.env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env.env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env.env_int("EMAIL_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = env.env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env.env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env.env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env.env_bool("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL are both on: choose one (STARTTLS or implicit TLS).")
EMAIL_TIMEOUT = env.env_float("EMAIL_TIMEOUT", 10.0, minimum=0.1)
DEFAULT_FROM_EMAIL = env.env_str("DEFAULT_FROM_EMAIL", "conveyor@localhost")
# Liveness (telemetry.liveness): every worker's main process and beat write a record to Redis
# and touch a file of their own in JOBS_LIVENESS_DIR every JOBS_LIVENESS_INTERVAL seconds; a
# record or file older than JOBS_LIVENESS_MAX_AGE is dead (`manage.py liveness`, /metrics).
JOBS_LIVENESS_INTERVAL = env.env_float("JOBS_LIVENESS_INTERVAL", 5.0, minimum=0.1)
JOBS_LIVENESS_MAX_AGE = env.env_float("JOBS_LIVENESS_MAX_AGE", 30.0, minimum=0.5)
if JOBS_LIVENESS_MAX_AGE < 2 * JOBS_LIVENESS_INTERVAL:
    raise ImproperlyConfigured(
        f"JOBS_LIVENESS_MAX_AGE={JOBS_LIVENESS_MAX_AGE} is below twice "
        f"JOBS_LIVENESS_INTERVAL={JOBS_LIVENESS_INTERVAL}: a live process would look dead between two of its writes."
    )
JOBS_LIVENESS_DIR = env.env_str("JOBS_LIVENESS_DIR", str(VAR_DIR / "liveness"))

# The platform's own periodic tasks run on their own queue, so that a backlog of user jobs
# never delays the rescuer or the sweeper. Expiry drops ticks that no worker took in time.
JOBS_SYSTEM_QUEUE = env.env_str("JOBS_SYSTEM_QUEUE", "system")
CELERY_TASK_ROUTES = {
    "jobs.rescue_stale_jobs": {"queue": JOBS_SYSTEM_QUEUE},
    "jobs.sweep_unclaimed_jobs": {"queue": JOBS_SYSTEM_QUEUE},
    "jobs.admit_waiting": {"queue": JOBS_SYSTEM_QUEUE},
    "scheduler.fire_schedule": {"queue": JOBS_SYSTEM_QUEUE},
    "scheduler.fire_overdue_schedules": {"queue": JOBS_SYSTEM_QUEUE},
    "console.rollup_minutes": {"queue": JOBS_SYSTEM_QUEUE},
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
