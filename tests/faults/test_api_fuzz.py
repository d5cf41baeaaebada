"""The REST API under schemathesis, driven by our own OpenAPI schema, on a live daphne instance.

Every operation of /api/schema/ gets generated requests as a signed-in user
and as a service: no answer is a 5xx, and nothing a user is answered names
another user's request.
"""

import secrets

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.integration.harness import TokenClient, UserSession

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
