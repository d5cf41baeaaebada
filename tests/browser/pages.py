"""What the browser tests do on the pages and through the REST API, named for the tests' sentences."""

from playwright.sync_api import Locator, Page, expect

from tests.integration.conftest import Service
from tests.integration.harness import DaphneInstance, TokenClient


def sign_in(page: Page, instance: DaphneInstance, username: str, password: str = Service.PASSWORD) -> Page:
    """Sign in through the login form of `instance` and wait until the dashboard is live."""
    page.goto(f"{instance.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{instance.url}/")
    expect_live(page)
    return page


def expect_live(page: Page) -> None:
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")


def row(page: Page, request_id: str) -> Locator:
    return page.locator(f'tr[data-request-id="{request_id}"]')


def create_request(publisher: TokenClient, username: str, title: str) -> str:
    answer = publisher.post_json("/api/v1/requests/", {"title": title, "user": username})
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def report(publisher: TokenClient, request_id: str, status: str, progress: int | None = None, message: str = "") -> str:
    """Publish a status event as a backend service does; return the event id."""
    body = {"request": request_id, "status": status, "message": message}
    if progress is not None:
        body["progress"] = progress
    answer = publisher.post_json("/api/v1/events/", body)
    assert answer.status_code == 202, answer.text
    return answer.json()["id"]


def record_events(page: Page) -> None:
    """Make the page keep the id of every event its client hands over, to check "each once"."""
    page.evaluate("window.notify.client.addEventListener('event', (e) => (window.seenIds ||= []).push(e.detail.id))")


def seen_ids(page: Page) -> list[str]:
    return page.evaluate("window.seenIds || []")
