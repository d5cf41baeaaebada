"""One daphne instance on the real broker with a few users, shared by a module's socket tests."""

import re
import time
from dataclasses import dataclass

import httpx

from .harness import Deployment, TokenClient, UserSession

PASSWORD = "correct-horse-battery"
USERS_SCRIPT = f"""
from django.contrib.auth import get_user_model
for name in {{names!r}}:
    user, _ = get_user_model().objects.get_or_create(username=name)
    user.is_staff = user.is_superuser = name == "boss"
    user.set_password({PASSWORD!r})
    user.save()
"""
DEACTIVATE_SCRIPT = """
from django.contrib.auth import get_user_model
get_user_model().objects.filter(username={name!r}).update(is_active=False)
"""


@dataclass
class RobustService:
    """A deployment, its instance `a`, a publishing token, and signed-in sessions on demand."""

    deployment: Deployment
    token: str

    @property
    def a(self):
        return self.deployment.instances[0]

    def session(self, username: str) -> UserSession:
        return UserSession(self.a, username, PASSWORD).login()

    def publisher(self) -> TokenClient:
        return TokenClient(self.a, self.token)

    def deactivate(self, username: str) -> None:
        """Deactivate a user through the ORM, as the admin does."""
        self.deployment.manage("shell", "--no-imports", "-c", DEACTIVATE_SCRIPT.format(name=username))

    def metric(self, name: str) -> float:
        """Return one sample of the instance's /metrics (0 when absent)."""
        text = httpx.get(self.a.url + "/metrics", timeout=10, trust_env=False).text
        match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
        return float(match.group(1)) if match else 0.0


def start(deployment: Deployment, usernames: list[str]) -> RobustService:
    deployment.instance("A")
    deployment.manage("shell", "--no-imports", "-c", USERS_SCRIPT.format(names=[*usernames, "boss"]))
    return RobustService(deployment, deployment.create_service_token("worker", "publish", "broadcast"))


def publish_for(service: RobustService, username: str, title: str = "Export") -> dict:
    """Create a request for the user through the REST API (one `queued` event) and return it."""
    answer = service.publisher().post_json("/api/v1/requests/", {"title": title, "user": username})
    assert answer.status_code == 201, answer.text
    return answer.json()


def wait_until(condition, timeout: float, poll: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not true within {timeout}s"
        time.sleep(poll)
