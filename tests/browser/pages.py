"""What the browser tests do on the pages and through the REST API, named for the tests' sentences."""

from playwright.sync_api import BrowserContext, Locator, Page, expect

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


RECORD_DISPATCHED_IDS = "window.notifyDispatchedIds = [];"
NO_SHARED_WORKER = "delete window.SharedWorker;"


def record_dispatched_ids(context: BrowserContext) -> None:
    """Make every page of `context` keep, from its first script on, the id of each event its client dispatches."""
    context.add_init_script(RECORD_DISPATCHED_IDS)


def dispatched_ids(page: Page) -> list[str]:
    return page.evaluate("window.notifyDispatchedIds")


def sharing(page: Page) -> str | None:
    """Return how the page reaches the browser's connection: shared-worker, leader, follower or own."""
    return page.evaluate("window.notify.client.sharing")


def request_event_ids(publisher: TokenClient, request_id: str) -> list[str]:
    """Return the ids of a request's events as stored, oldest first."""
    answer = publisher.get(f"/api/v1/requests/{request_id}/events/")
    assert answer.status_code == 200, answer.text
    return [event["id"] for event in answer.json()["results"]]


# A tab in the background, as the Page Visibility API reports it; `window.showTab()` brings it to the front.
HIDDEN_TAB = """
(() => {
  let state = "hidden";
  Object.defineProperty(Document.prototype, "visibilityState", { get: () => state, configurable: true });
  Object.defineProperty(Document.prototype, "hidden", { get: () => state !== "visible", configurable: true });
  window.showTab = () => {
    state = "visible";
    document.dispatchEvent(new Event("visibilitychange"));
  };
})();
"""


def hidden_tab(page: Page) -> Page:
    """Make `page` a background tab from its next navigation on (the pages mark events read only when shown)."""
    page.add_init_script(HIDDEN_TAB)
    return page
