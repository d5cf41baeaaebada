"""The REST calls a backend service makes, over plain HTTP with the stdlib (no extra dependency).

Deliberately outside Django: the demo worker must use the API exactly as any
external service would, with its token, so that it shows the real contract.
"""

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

HTTP_TIMEOUT_SECS = 10.0
MAX_LIST_PAGES = 20


class ServiceUnavailable(Exception):
    """The server could not be reached or answered 5xx/429: try again later."""


class ApiRefused(Exception):
    """The server answered a 4xx other than 429: retrying the same call will not help."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status


class ServiceApi:
    """`Authorization: Token <key>` calls to one server's /api/v1/."""

    def __init__(self, base_url: str, token: str, timeout: float = HTTP_TIMEOUT_SECS) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def queued_requests(self) -> list[dict]:
        """Return every queued request (of all users: a publishing service lists them all), oldest first."""
        found, url = [], f"{self.base_url}/api/v1/requests/"
        for _ in range(MAX_LIST_PAGES):
            page = self.call("GET", url)
            found += [request for request in page["results"] if request["status"] == "queued"]
            url = page.get("next")
            if not url:
                break
        return sorted(found, key=lambda request: request["created_at"])

    def publish(self, request_id: str, status: str, *, idempotency_key: str, **fields: Any) -> dict:
        """Publish a status event; the key makes a retried step count once."""
        body = {"request": request_id, "status": status, **fields}
        return self.call("POST", "/api/v1/events/", body, headers={"Idempotency-Key": idempotency_key})

    def call(self, method: str, path_or_url: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        """Return the decoded JSON answer; raise ServiceUnavailable or ApiRefused."""
        url = urllib.parse.urljoin(self.base_url + "/", path_or_url)
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method, headers=self.headers(headers, data))
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                return json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as error:
            raise self.error_of(error) from None
        except (urllib.error.URLError, OSError) as error:
            raise ServiceUnavailable(f"{method} {url}: {error}") from None

    def headers(self, extra: dict[str, str] | None, data: bytes | None) -> dict[str, str]:
        headers = {"Authorization": f"Token {self.token}", "Accept": "application/json", **(extra or {})}
        if data is not None:
            headers["Content-Type"] = "application/json"
        return headers

    @staticmethod
    def error_of(error: urllib.error.HTTPError) -> Exception:
        try:
            detail = json.loads(error.read() or b"{}").get("detail", "")
        except (ValueError, AttributeError):
            detail = ""
        if error.code >= 500 or error.code == 429:
            return ServiceUnavailable(f"server answered {error.code} {detail}".strip())
        return ApiRefused(error.code, str(detail) or error.reason)
