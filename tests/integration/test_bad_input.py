"""Bad input through every door: the job services, POST /api/jobs and /api/jobs/bulk, and
`manage.py enqueue_job` (in process, and as a real command line for stdin and files).

Each refusal names the field (a 400 or 413 answer, a CommandError, a non-zero exit) and leaves
no Job row. The inputs are the ones that once went wrong: nesting that ended in RecursionError,
a NUL or a lone surrogate that PostgreSQL refused at the INSERT (a 500), a delay that overflowed
timedelta, a run time in the year 9999. SQLite would store some of them; they are refused the
same way on both databases.
"""
from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from datetime import timezone as dt_timezone
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from jobs import services
from jobs.errors import JobValidationError, PayloadTooLarge
from jobs.models import Job
from jobs.validation import MAX_DELAY_SECONDS, MAX_INPUT_DEPTH, validated_input
from scheduler import services as schedule_services
from scheduler.errors import ScheduleValidationError
from scheduler.models import ScheduledJob
from tests.api_support import client_for, make_person, relaxed_quotas  # noqa: F401
from tests.factories import make_membership, make_org
from tests.processes import BASE_DIR, child_environment

pytestmark = pytest.mark.usefixtures("relaxed_quotas")

UTC = UTC
DEEP = 1000  # deeper than json itself can parse or print on a default stack
ARG_MAX = 128 * 1024  # Linux's MAX_ARG_STRLEN: the most one command-line argument holds


def nested(levels: int) -> dict[str, Any]:
    """An object `levels` deep, the object itself being the first level (built without recursion)."""
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def nested_text(levels: int) -> str:
    """`nested(levels)` as JSON text (json.dumps itself would recurse too deep)."""
    return '{"a":' * (levels - 1) + "{}" + "}" * (levels - 1)


def post(client: Any, path: str, text: str) -> Any:
    """A raw JSON body: the escapes (\\ud800, \\u0000) reach the server as a client sent them."""
    return client.post(path, data=text, content_type="application/json")


def assert_refused(response: Any, status: int, field: str, *words: str) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["field"] == field and body["detail"].startswith(f"{field}: "), body
    for word in words:
        assert word in body["detail"], body
    assert Job.objects.count() == 0


def run(*args: str, stdin: Any = None) -> str:
    out = StringIO()
    extra = {"stdin": stdin} if stdin is not None else {}
    call_command("enqueue_job", *args, stdout=out, stderr=StringIO(), **extra)
    return out.getvalue()


# --- the services -----------------------------------------------------------------------------

DEPTH = f"nested more than {MAX_INPUT_DEPTH} levels deep"

BAD_CREATES = [
    ({"input": nested(DEEP)}, "input", DEPTH),
    ({"input": {"list": [[[nested(MAX_INPUT_DEPTH)]]]}}, "input", DEPTH),
    ({"input": {"text": "\ud800"}}, "input", "lone surrogate U+D800"),
    ({"input": {"a": [{"b": "x\udfff"}]}}, "input", "input.a[0].b is 'x\\udfff'"),
    ({"input": {"k\udc00": 1}}, "input", "a key of input is 'k\\udc00'"),
    ({"input": {"a": {"b\x00": 1}}}, "input", "NUL character (U+0000)"),
    ({"input": {"a": ["x" * 500 + "\x00"]}}, "input", "input.a[0] is ..."),
    ({"dedup_key": "a\x00b"}, "dedupKey", "NUL character (U+0000)"),
    ({"dedup_key": "a\ud800"}, "dedupKey", "lone surrogate U+D800"),
    ({"delay": 1e12}, "delay", "at most 31622400 seconds (366 days), got 1000000000000.0"),
    ({"delay": 10**400}, "delay", "at most 31622400 seconds"),
    ({"delay": MAX_DELAY_SECONDS + 1}, "delay", "366 days"),
    ({"run_at": timezone.now() + timedelta(days=367)}, "runAt", "at most 366 days ahead"),
    ({"run_at": datetime(9999, 12, 31, tzinfo=UTC)}, "runAt", "at most 366 days ahead, got 9999-12-31"),
    ({"run_at": datetime(1, 1, 1, tzinfo=dt_timezone(timedelta(hours=5)))}, "runAt", "out of range"),
    ({"run_at": "tomorrow"}, "runAt", "must be a date and time"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("kwargs", "field", "words"), BAD_CREATES)
def test_job_create_and_job_submit_refuse_naming_the_field(kwargs: dict[str, Any], field: str, words: str) -> None:
    for create in (services.job_create, lambda **kw: services.job_submit(user=make_person(), **kw)):
        with pytest.raises(JobValidationError) as caught:
            create(type="demo.sleep", **kwargs)
        assert caught.value.field == field, caught.value
        assert words in str(caught.value)
        assert "\x00" not in str(caught.value) and str(caught.value).encode("utf-8")  # printable as given
        assert Job.objects.count() == 0


@pytest.mark.django_db
def test_the_limits_themselves_are_accepted() -> None:
    services.job_create(type="demo.sleep", input=nested(MAX_INPUT_DEPTH))
    services.job_create(type="demo.sleep", delay=MAX_DELAY_SECONDS)
    services.job_create(type="demo.sleep", run_at=timezone.now() + timedelta(days=365))
    with pytest.raises(JobValidationError, match=DEPTH):
        services.job_create(type="demo.sleep", input=nested(MAX_INPUT_DEPTH + 1))
    assert Job.objects.count() == 3


@pytest.mark.django_db
def test_text_postgresql_can_store_is_kept_as_it_was_given() -> None:
    text = {"t": "é😀\u2028\\ud800 \\u0000", "ключ": ["値", {"emoji": "\U0001F680"}]}
    job = services.job_create(type="demo.sleep", input=text, dedup_key="clé-😀").job
    stored = Job.objects.get(pk=job.pk)
    assert stored.input == text and stored.dedup_key == "clé-😀"


@pytest.mark.django_db
def test_a_cycle_or_shared_sub_objects_end_the_walk_quickly(settings: Any) -> None:
    cycle: dict[str, Any] = {}
    cycle["self"] = cycle
    with pytest.raises(JobValidationError, match=DEPTH):
        services.job_create(type="demo.sleep", input=cycle)
    settings.JOBS_MAX_PAYLOAD_BYTES = 1000
    bomb: list[Any] = []
    for _ in range(60):  # 2**60 leaves as JSON, a few hundred bytes as Python objects
        bomb = [bomb, bomb]
    started = time.monotonic()
    with pytest.raises(PayloadTooLarge, match="payload is more than .* over the limit of 1000 bytes"):
        services.job_create(type="demo.sleep", input={"bomb": bomb})
    assert time.monotonic() - started < 1
    assert Job.objects.count() == 0


def test_the_size_is_that_of_compact_json_exactly() -> None:
    """One walk measures what json.dumps(value, separators=(",", ":")) would write."""
    rnd = random.Random(7)

    def text() -> str:
        return "".join(rnd.choice('a"\\\n\x01é€😀\u2028/ ') for _ in range(rnd.randint(0, 6)))

    def key() -> Any:
        return rnd.choice([text(), text(), 7, 2.5, True, None])

    def value(depth: int = 0) -> Any:
        roll = rnd.random()
        if depth < 5 and roll < 0.25:
            return {key(): value(depth + 1) for _ in range(rnd.randint(0, 4))}
        if depth < 5 and roll < 0.45:
            return [value(depth + 1) for _ in range(rnd.randint(0, 4))]
        return rnd.choice([text(), rnd.randint(-10**20, 10**20), rnd.random() * 10 ** rnd.randint(-30, 30), True,
                           False, None, -0.0, 1e16, (1, "x")])

    for _ in range(500):
        payload = {"v": value()}
        size = len(json.dumps(payload, separators=(",", ":"), allow_nan=False).encode())
        assert validated_input(payload, max_bytes=size) is payload
        with pytest.raises(PayloadTooLarge) as caught:
            validated_input(payload, max_bytes=size - 1)
        assert caught.value.size == size


@pytest.mark.django_db
def test_bulk_create_names_the_bad_item_and_stores_none() -> None:
    for bad in (nested(DEEP), {"t": "\ud800"}, {"t": "\x00"}):
        with pytest.raises(JobValidationError) as caught:
            services.jobs_create_bulk(type="demo.sleep", inputs=[{}, bad])
        assert caught.value.field == "inputs[1].input"
    assert Job.objects.count() == 0


def test_system_jobs_and_schedules_get_the_same_checks(db: None) -> None:
    with pytest.raises(JobValidationError, match=DEPTH):
        services.system_job_send(type="test.system", input=nested(DEEP))
    for bad, words in ((nested(DEEP), DEPTH), ({"t": "\ud800"}, "U+D800"), ({"t": "\x00"}, "NUL")):
        with pytest.raises(ScheduleValidationError) as caught:
            schedule_services.schedule_create(owner=make_person(), name="nightly", job_type="demo.sleep",
                                              frequency="daily", time_of_day="03:00", input=bad)
        assert caught.value.field == "input" and words in str(caught.value)
    assert not ScheduledJob.objects.exists()


# --- the API ----------------------------------------------------------------------------------

API_CASES = [
    # body, field, words: 400 unless said otherwise
    (f'{{"type": "demo.sleep", "input": {nested_text(DEEP)}}}', "input", DEPTH),  # json gives up: the parser
    (f'{{"type": "demo.sleep", "input": {nested_text(100)}}}', "input", DEPTH),   # parsed: the services
    ('{"type": "demo.sleep", "input": {"text": "\\ud800"}}', "input", "lone surrogate U+D800"),
    ('{"type": "demo.sleep", "input": {"a": {"\\udc00": 1}}}', "input", "a key of input.a"),
    ('{"type": "demo.sleep", "input": {"a": ["b\\u0000"]}}', "input", "NUL character (U+0000)"),
    ('{"type": "demo.sleep", "dedupKey": "a\\u0000b"}', "dedupKey", "Null characters are not allowed"),
    ('{"type": "demo.sleep", "dedupKey": "a\\ud800"}', "dedupKey", "Surrogate characters are not allowed"),
    ('{"type": "demo.sleep", "delaySeconds": 1e12}', "delaySeconds", "at most 31622400 seconds (366 days)"),
    ('{"type": "demo.sleep", "delaySeconds": 1e400}', "delaySeconds", ""),
    ('{"type": "demo.sleep", "runAt": "9999-12-31T00:00:00Z"}', "runAt", "at most 366 days ahead"),
    ('{"type": "demo.sleep", "\\ud800": 1}', "'\\ud800'", "unknown field '\\ud800'"),
]


@pytest.mark.parametrize(("body", "field", "words"), API_CASES)
def test_post_jobs_refuses_naming_the_field(db: None, body: str, field: str, words: str) -> None:
    assert_refused(post(client_for(make_person()), "/api/jobs", body), 400, field, words)


@pytest.mark.parametrize(("item", "field", "words"), [
    (nested_text(DEEP), "inputs[1]", DEPTH),
    (nested_text(100), "inputs[1].input", DEPTH),
    ('{"text": "\\ud800"}', "inputs[1].input", "U+D800"),
    ('{"text": "\\u0000"}', "inputs[1].input", "NUL"),
])
def test_post_jobs_bulk_refuses_naming_the_item(db: None, item: str, field: str, words: str) -> None:
    body = f'{{"type": "demo.sleep", "inputs": [{{}}, {item}]}}'
    assert_refused(post(client_for(make_person()), "/api/jobs/bulk", body), 400, field, words)


def test_an_organization_with_a_lower_payload_limit_checks_depth_first(db: None) -> None:
    user = make_person()
    org = make_org()
    org.max_payload_bytes = 1000
    org.save(update_fields=["max_payload_bytes"])
    make_membership(user, org)
    client = client_for(user)
    body = f'{{"type": "demo.sleep", "input": {nested_text(500)}}}'
    assert_refused(post(client, f"/api/v1/orgs/{org.pk}/jobs", body), 400, "input", DEPTH)
    body = f'{{"type": "demo.sleep", "orgId": {org.pk}, "inputs": [{nested_text(500)}]}}'
    assert_refused(post(client, "/api/jobs/bulk", body), 400, "inputs[0]", DEPTH)
    body = f'{{"type": "demo.sleep", "input": {{"d": "{"x" * 1000}"}}}}'
    assert_refused(post(client, f"/api/v1/orgs/{org.pk}/jobs", body), 413, "input", "over the limit of 1000 bytes")


def test_a_valid_surrogate_pair_is_one_character_and_is_kept(db: None) -> None:
    response = post(client_for(make_person()), "/api/jobs", '{"type": "demo.sleep", "input": {"t": "\\ud83d\\ude80"}}')
    assert response.status_code == 201, response.content
    assert Job.objects.get(pk=response.json()["id"]).input == {"t": "\U0001F680"}


# --- manage.py enqueue_job --------------------------------------------------------------------

COMMAND_CASES = [
    (["--input", nested_text(DEEP)], rf"^--input: is {DEPTH}"),
    (["--input", nested_text(100)], rf"^--input: is {DEPTH} \(.*\), at input\.a\.a"),
    (["--input", '{"t": "\\ud800"}'], r"^--input: must not contain the lone surrogate U\+D800 .*: input\.t is"),
    (["--input", '{"t": ["a\\u0000b"]}'], r"^--input: must not contain the NUL character \(U\+0000\).*input\.t\[0\]"),
    (["--dedup-key", "a\x00b"], r"^--dedup-key: must not contain the NUL character"),
    (["--dedup-key", "a\ud800"], r"^--dedup-key: must not contain the lone surrogate U\+D800"),
    (["--delay", "1e12"], r"^--delay: must be at most 31622400 seconds \(366 days\), got 1000000000000\.0$"),
    (["--delay", str(MAX_DELAY_SECONDS + 1)], r"^--delay: must be at most 31622400 seconds"),
    (["--input", "{}", "--input-file", "x.json"], r"argument --input-file: not allowed with argument --input"),
    (["--input", nested_text(100), "--count", "3"], rf"^--input: is {DEPTH}"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("args", "message"), COMMAND_CASES)
def test_enqueue_job_refuses_naming_the_option(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        run("demo.sleep", *args)
    assert Job.objects.count() == 0


FILE_CASES = [
    (None, r"^--input-file: no such file '.*missing\.json'$"),
    ("dir", r"^--input-file: '.*' is a directory, not a file$"),
    (b"", r"^--input-file: '.*' is empty"),
    (b'\xff\xfe{"a": 1}', r"^--input-file: '.*' is not UTF-8 text: byte 0xff at offset 0"),
    (b'{"a": 1,}', r"^--input-file is not valid JSON: .* line 1, column 9"),
    (b"[1, 2]", r"^--input-file must be a JSON object .*got an array"),
    (nested_text(DEEP).encode(), rf"^--input-file: is {DEPTH}"),
    (b'{"t": "\\ud800"}', r"^--input-file: must not contain the lone surrogate U\+D800"),
    (b'{"t": "\\u0000"}', r"^--input-file: must not contain the NUL character"),
    (b'{"d": "' + b"x" * 2000 + b'"}', r"^--input-file: payload is 2008 bytes, over the limit of 1000 bytes$"),
    (b" " * 16001 + b"{}", r"^--input-file: '.*' holds more than 16000 bytes; a job's input is at most 1000 bytes"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("contents", "message"), FILE_CASES)
def test_enqueue_job_input_file_errors(tmp_path: Path, settings: Any, contents: Any, message: str) -> None:
    settings.JOBS_MAX_PAYLOAD_BYTES = 1000
    path = tmp_path / "missing.json"
    if contents == "dir":
        path = tmp_path
    elif contents is not None:
        path = tmp_path / "input.json"
        path.write_bytes(contents)
    with pytest.raises(CommandError, match=message):
        run("demo.sleep", "--input-file", str(path))
    assert Job.objects.count() == 0


@pytest.mark.django_db
def test_enqueue_job_reads_stdin_and_files(tmp_path: Path) -> None:
    job = json.loads(run("demo.sleep", "--input", "-", "--json", stdin=StringIO('{"seconds": 0, "from": "stdin"}')))
    assert Job.objects.get(pk=job["id"]).input == {"seconds": 0, "from": "stdin"}
    job = json.loads(run("demo.sleep", "--input-file", "-", "--json", stdin=StringIO('{"seconds": 1}')))
    assert Job.objects.get(pk=job["id"]).input == {"seconds": 1}
    path = tmp_path / "input.json"
    path.write_bytes('\ufeff{\n  "seconds": 2,\n  "name": "é"\n}\n'.encode())  # a BOM, indented, not ASCII
    job = json.loads(run("demo.sleep", "--input-file", str(path), "--json"))
    assert Job.objects.get(pk=job["id"]).input == {"seconds": 2, "name": "é"}
    with pytest.raises(CommandError, match=r"^--input: must not contain the NUL character"):
        run("demo.sleep", "--input", "-", stdin=StringIO('{"t": "\\u0000"}'))
    assert Job.objects.count() == 3


def shell(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "manage.py", "enqueue_job", *args], input=stdin, cwd=BASE_DIR,
                          env=child_environment(), capture_output=True, text=True, timeout=120)


@pytest.mark.django_db(transaction=True)
def test_enqueue_job_from_the_shell_reads_stdin_and_a_file_beyond_one_argument(tmp_path: Path) -> None:
    done = shell("demo.sleep", "--input", "-", "--json", stdin='{"seconds": 0, "from": "a pipe"}')
    assert done.returncode == 0, done.stderr
    assert Job.objects.get(pk=json.loads(done.stdout)["id"]).input == {"seconds": 0, "from": "a pipe"}

    payload = {"seconds": 0, "name": "é", "rows": [{"id": n, "text": "x" * 200} for n in range(1000)]}
    path = tmp_path / "big.json"
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")
    compact = len(json.dumps(payload, separators=(",", ":")))
    # more than --input can carry, within the payload limit
    assert path.stat().st_size > ARG_MAX and ARG_MAX < compact < 1024 * 1024
    done = shell("demo.sleep", "--input-file", str(path), "--json")
    assert done.returncode == 0, done.stderr
    assert Job.objects.get(pk=json.loads(done.stdout)["id"]).input == payload

    done = shell("demo.sleep", "--input", "-", stdin=nested_text(DEEP))
    assert done.returncode == 1 and f"--input: is {DEPTH}" in done.stderr and "Traceback" not in done.stderr
    assert Job.objects.count() == 2
