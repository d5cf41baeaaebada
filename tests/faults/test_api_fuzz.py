"""The REST API fuzzed on a live daphne instance: by schemathesis from our OpenAPI schema, and with raw bodies.

Every operation of /api/schema/ gets generated requests as a signed-in user
and as a service: no answer is a 5xx, and nothing a user is answered names
another user's request. Raw JSON text with lone surrogates, NUL, huge and
non-finite numbers, deep nesting and any type in any field never gets a 5xx
nor leaves a stored value that cannot be sent back.
"""

import json
import math
import secrets

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifications.protocol import jsonsafe
from tests.integration.harness import TokenClient, UserSession, of_type, recv_json, recv_until

from .load import create_request, create_users

PASSWORD = "fuzz-password"
EXAMPLES_PER_OPERATION = 25


@pytest.fixture
def api(make_deployment):
    """One instance (in-process layer), users ada and bob, bob's private request, a publish+broadcast token."""
    deployment = make_deployment(amqp_url="")
    instance = deployment.instance("A")
    create_users(deployment, ["ada", "bob"], PASSWORD)
    token = deployment.create_service_token("fuzzer", "publish", "broadcast")
    secret = "bob-private-" + secrets.token_hex(6)
    with TokenClient(instance, token) as service:
        bobs_request = create_request(service, "bob", secret)
    return instance, token, {"bob": bobs_request, "title": secret}


def run_operations(schema, base_url: str, headers: dict[str, str], forbidden: list[str], **fixed) -> list[str]:
    """Fuzz every operation with these credentials; return what went wrong (5xx answers, leaked markers)."""
    problems: list[str] = []
    fuzzed = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        parameters = {name: value for name, value in fixed.items() if f"{{{name}}}" in operation.path}
        if fixed and not parameters:
            continue

        @settings(
            max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        @given(case=operation.as_strategy(path_parameters=parameters or None))
        def check(case):
            response = case.call(base_url=base_url, headers=headers, timeout=15)
            if response.status_code >= 500:
                problems.append(f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:200]}")
            for marker in forbidden:
                if marker in response.text:
                    problems.append(f"{case.method} {case.formatted_path}: answer names {marker!r}")

        check()
        fuzzed += 1
    assert fuzzed, f"no operation takes {sorted(fixed)}"
    return problems


def test_the_api_answers_generated_requests_without_server_errors_or_leaks(api):
    """As ada (session) and as a service (token): no 5xx for any generated request; ada never sees bob's request."""
    instance, token, bobs = api
    schema = schemathesis.openapi.from_url(f"{instance.url}/api/schema/")
    ada = UserSession(instance, "ada", PASSWORD).login()
    as_ada = {"Cookie": ada.cookie_header(), "X-CSRFToken": ada.csrf_token, "Referer": instance.url + "/"}
    as_service = {"Authorization": f"Token {token}"}
    leaks = [bobs["bob"], bobs["title"]]

    problems = run_operations(schema, instance.url, as_ada, leaks)
    problems += run_operations(schema, instance.url, as_ada, leaks, id=bobs["bob"])
    problems += run_operations(schema, instance.url, as_service, [])
    assert problems == [], "\n".join(sorted(set(problems)))


# --- raw bodies ----------------------------------------------------------------------

RAW_EXAMPLES = 200


class Literal(str):
    """JSON text written as is: `1e400`, `NaN`, `-Infinity`, a 5,000-deep array."""


def to_json_text(value) -> str:
    """Return `value` as JSON text, with strings escaped (a lone surrogate becomes `\\ud800`) and Literals raw."""
    if isinstance(value, Literal):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(key)}:{to_json_text(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(to_json_text(item) for item in value) + "]"
    if isinstance(value, float) and not math.isfinite(value):
        return json.dumps(value)  # NaN, Infinity, -Infinity
    return json.dumps(value)


# Every code point, with the troublesome ones (lone surrogates, NUL) often enough to matter.
troublesome = st.sampled_from(["\ud800", "\udfff", "\udc00", "\x00", "\u2028", "\ufeff", "\U0010ffff"])
any_text = st.text(st.one_of(troublesome, st.characters(exclude_categories=())), max_size=20)
poison_numbers = st.sampled_from(["1e400", "-1e400", "NaN", "Infinity", "-Infinity", "1e-400", "9" * 400]).map(Literal)
deep = st.integers(min_value=30, max_value=5000).map(lambda depth: Literal("[" * depth + "]" * depth))
leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | any_text
    | poison_numbers
)
any_json = (
    st.recursive(
        leaves, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4), max_leaves=12
    )
    | deep
)


def field(valid):
    """Mostly a valid value (so that poison elsewhere would get stored), sometimes anything at all."""
    return st.one_of(valid, valid, any_json)


def status_body(request_id: str):
    optional = {
        "progress": field(st.just(100)),
        "message": field(any_text),
        "data": field(st.dictionaries(any_text, any_json, max_size=4)),
    }
    required = {"request": field(st.just(request_id)), "status": field(st.just("processing"))}
    return st.fixed_dictionaries(required, optional=optional)


def raw_bodies(request_id: str, username: str):
    """Yield (who, path, JSON text) triples: a body for one endpoint, as the service or the user sends it."""
    bodies = st.one_of(
        st.tuples(st.just("service"), st.just("/api/v1/events/"), status_body(request_id)),
        st.tuples(
            st.just("service"),
            st.just("/api/v1/events/batch/"),
            st.fixed_dictionaries({"events": field(st.lists(status_body(request_id), min_size=1, max_size=3))}),
        ),
        st.tuples(
            st.just("service"),
            st.just("/api/v1/requests/"),
            st.fixed_dictionaries({"title": field(any_text.filter(bool)), "user": field(st.just(username))}),
        ),
        st.tuples(
            st.just("service"),
            st.just("/api/v1/broadcasts/"),
            st.fixed_dictionaries({"title": field(any_text.filter(bool))}, optional={"body": field(any_text)}),
        ),
        st.tuples(st.just("user"), st.just("/api/v1/notifications/read/"), st.fixed_dictionaries({"up_to": any_json})),
        st.tuples(
            st.just("user"), st.just("/api/v1/ws-tickets/"), st.fixed_dictionaries({}, optional={"user": any_json})
        ),
        st.tuples(st.sampled_from(["service", "user"]), st.just("/api/v1/events/"), any_json),
    )
    return bodies.map(lambda case: (case[0], case[1], to_json_text(case[2])))


CHECK_STORED_SCRIPT = """
import json
from notifications.models import Event, TrackedRequest
from notifications.protocol import jsonsafe
for event in Event.objects.all():
    jsonsafe.check(event.payload)
    json.dumps(event.payload, allow_nan=False, ensure_ascii=False).encode("utf-8")
for tracked in TrackedRequest.objects.all():
    jsonsafe.check([tracked.title, tracked.message, tracked.external_id])
print(Event.objects.count())
"""


def check_answer(response, problems: list[str], label: str) -> None:
    """Record a 5xx, or an answer that is not strict UTF-8 JSON."""
    if response.status_code >= 500:
        problems.append(f"{label}: {response.status_code} {response.text[:200]}")
        return
    try:
        jsonsafe.loads(response.content.decode("utf-8"), max_depth=64)
    except (UnicodeDecodeError, jsonsafe.UnsafeJSON) as exc:
        problems.append(f"{label}: {response.status_code} answer is not safe JSON ({exc})")


@pytest.fixture
def fuzzed(make_deployment):
    """One instance (in-process layer) of a fresh deployment, user ada and a publish+broadcast token."""
    deployment = make_deployment(amqp_url="")
    instance = deployment.instance("A")
    create_users(deployment, ["ada"], PASSWORD)
    return deployment, instance, deployment.create_service_token("fuzzer", "publish", "broadcast")


async def test_raw_poison_bodies_never_get_a_server_error_nor_poison_the_store(fuzzed):
    """Raw bodies with lone surrogates, NUL, 1e400, NaN, deep nesting and any type in any field, on every
    endpoint that takes a body: never a 5xx, every answer strict JSON; afterwards every stored value encodes,
    the user's stream answers 200 and a fresh client is served over REST and a socket."""
    deployment, instance, token = fuzzed
    ada = UserSession(instance, "ada", PASSWORD).login()
    with TokenClient(instance, token) as service:
        request_id = create_request(service, "ada", "Fuzzed")
        clients = {"service": service.http, "user": ada.http}
        user_headers = {"X-CSRFToken": ada.csrf_token, "Referer": instance.url + "/"}
        problems: list[str] = []

        @settings(max_examples=RAW_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(case=raw_bodies(request_id, "ada"))
        def post(case):
            who, path, text = case
            headers = {"Content-Type": "application/json", **(user_headers if who == "user" else {})}
            response = clients[who].post(path, content=text.encode("utf-8", "surrogatepass"), headers=headers)
            check_answer(response, problems, f"{who} POST {path} {text[:120]!r}")

        post()
    assert problems == [], "\n".join(problems[:20])

    stored = int(deployment.manage("shell", "--no-imports", "-c", CHECK_STORED_SCRIPT).split()[-1])
    assert stored >= 1
    fresh = UserSession(instance, "ada", PASSWORD).login()
    for path in ("/api/v1/notifications/?page_size=200", f"/api/v1/requests/{request_id}/events/"):
        response = fresh.get(path)
        assert response.status_code == 200, response.text[:300]
        jsonsafe.loads(response.content.decode("utf-8"), max_depth=64)
    async with fresh.websocket() as ws:
        welcome = await recv_json(ws)
        assert welcome["type"] == "welcome"
        await ws.send(json.dumps({"type": "resume", "cursor": "0" * 24}))
        replayed = await recv_until(ws, of_type("replayed"), timeout=30)
        assert replayed["count"] >= 1
