"""The notification centre, announcements, the session's end and escaping, in a real browser."""

import re

from playwright.sync_api import expect

from .pages import create_request, expect_live, hidden_tab, report, row, sign_in

XSS_TITLE = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'
DELETE_SESSIONS = "from django.contrib.sessions.models import Session; Session.objects.all().delete()"


def test_marking_all_read_in_one_tab_clears_the_badge_in_the_other(service, context):
    """Two background tabs of one user: "Mark all read" in the first clears the badge in the second (`read` frame)."""
    first = sign_in(hidden_tab(context.new_page()), service.a, "ada")
    second = hidden_tab(context.new_page())
    second.goto(f"{service.b.url}/")
    expect_live(second)
    with service.publisher(service.a) as publisher:
        request_id = create_request(publisher, "ada", "Payroll")
        report(publisher, request_id, "processing", 50)
    for tab in (first, second):
        expect(tab.locator(".unread-count")).to_have_text("2")
    first.locator(".bell").click()
    first.get_by_role("button", name="Mark all read").click()
    expect(first.locator(".unread-count")).to_be_hidden()
    expect(second.locator(".unread-count")).to_be_hidden()


def test_events_a_background_tab_received_are_marked_read_when_it_is_shown(service, context):
    """Read means seen: the badge counts while the tab is hidden; showing the tab marks them read everywhere."""
    hidden = sign_in(hidden_tab(context.new_page()), service.a, "ada")
    other = hidden_tab(context.new_page())
    other.goto(f"{service.b.url}/")
    expect_live(other)
    with service.publisher(service.a) as publisher:
        request_id = create_request(publisher, "ada", "Invoice run")
        report(publisher, request_id, "succeeded")
    for tab in (hidden, other):
        expect(tab.locator(".unread-count")).to_have_text("2")
    other.wait_for_timeout(1500)  # longer than the marker's pause: nothing is marked while hidden
    expect(hidden.locator(".unread-count")).to_have_text("2")
    hidden.evaluate("window.showTab()")
    expect(hidden.locator(".unread-count")).to_be_hidden()
    expect(other.locator(".unread-count")).to_be_hidden()
    answer = service.session("ada").get("/api/v1/notifications/")
    assert answer.json()["unread"] == 0, answer.text


def test_an_announcement_shows_in_every_signed_in_page(service, make_context):
    """A broadcast appears in the banner of ada's dashboard on A, ada's request page on B, and bob's page."""
    ada = make_context()
    dashboard = sign_in(ada.new_page(), service.a, "ada")
    with service.publisher(service.a) as publisher:
        request_id = create_request(publisher, "ada", "Backup")
    detail = ada.new_page()
    detail.goto(f"{service.b.url}/requests/{request_id}/")
    bob = sign_in(make_context().new_page(), service.b, "bob")
    for page in (detail, bob):
        expect_live(page)
    with service.publisher(service.b) as publisher:
        answer = publisher.post_json("/api/v1/broadcasts/", {"title": "Maintenance at 22:00", "level": "warning"})
        assert answer.status_code == 202, answer.text
    for page in (dashboard, detail, bob):
        expect(page.locator("#announcement")).to_contain_text("Maintenance at 22:00")
        expect(page.locator("#announcement")).to_have_class(re.compile(r"\bwarning\b"))


def test_an_ended_session_shows_signed_out_and_sends_the_page_to_sign_in(service, context):
    """When the session is gone the server closes the socket with 4000: "Signed out", then the sign-in page."""
    page = sign_in(context.new_page(), service.a, "ada")
    service.deployment.manage("shell", "--no-imports", "-c", DELETE_SESSIONS)
    expect(page.locator("#connection")).to_have_attribute("data-state", "signed-out")
    expect(page.locator("#signed-out")).to_contain_text("signed out")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=%2F$"))
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()


def test_a_title_with_markup_is_shown_as_text_everywhere(service, context):
    """A title containing <script> shows literally on the dashboard, in the centre and on its page; nothing runs."""
    page = sign_in(context.new_page(), service.a, "ada")
    page.get_by_label("Title").fill(XSS_TITLE)
    page.get_by_role("button", name="Start").click()
    created = page.locator("tr[data-request-id]").first
    expect(created.locator("td.title")).to_have_text(XSS_TITLE)
    request_id = created.get_attribute("data-request-id")
    page.locator(".bell").click()
    expect(page.locator(".notification").first).to_contain_text(XSS_TITLE)
    assert page.evaluate("window.pwned") is None
    page.reload()
    expect(row(page, request_id).locator("td.title")).to_have_text(XSS_TITLE)
    page.goto(f"{service.a.url}/requests/{request_id}/")
    expect(page.locator("h1.request-title")).to_have_text(XSS_TITLE)
    assert page.evaluate("window.pwned") is None
