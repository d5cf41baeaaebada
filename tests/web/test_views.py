"""The server-rendered pages: sign-in required, only the user's own requests, escaping."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from notifications.store import actions, escalations

XSS_TITLE = "<script>alert(1)</script>"


@pytest.fixture
def make_user(db):
    return lambda username: get_user_model().objects.create_user(username=username, password=None)


@pytest.fixture
def ada(make_user):
    return make_user("ada")


@pytest.fixture
def bob(make_user):
    return make_user("bob")


@pytest.fixture
def signed_in(client, ada):
    client.force_login(ada)
    return client


def detail_url(tracked) -> str:
    return reverse("pages:request-detail", args=[tracked.pk])


def test_the_dashboard_sends_an_anonymous_visitor_to_sign_in(client, db):
    """Without a session the dashboard redirects to the login page, coming back afterwards."""
    answer = client.get(reverse("pages:dashboard"))
    assert answer.status_code == 302
    assert answer["Location"] == "/accounts/login/?next=/"


def test_the_detail_page_sends_an_anonymous_visitor_to_sign_in(client, ada):
    """A request's page needs a session too."""
    tracked, _ = actions.do_create_request(ada, "Report")
    answer = client.get(detail_url(tracked))
    assert answer.status_code == 302 and answer["Location"].startswith("/accounts/login/")


def test_the_dashboard_lists_only_the_users_own_requests(signed_in, ada, bob):
    """Ada sees her requests, never Bob's, and the page carries her id for the socket client."""
    actions.do_create_request(ada, "Ada's export")
    actions.do_create_request(bob, "Bob's payroll")
    answer = signed_in.get(reverse("pages:dashboard"))
    assert answer.status_code == 200
    assert "Ada&#x27;s export" in answer.text
    assert "payroll" not in answer.text
    assert f'data-user-id="{ada.pk}"' in answer.text


def test_the_detail_page_shows_the_request_and_its_history(signed_in, ada):
    """The page of an own request shows its state and every event, oldest first."""
    tracked, first = actions.do_create_request(ada, "Import")
    second = actions.do_publish_status(tracked.pk, "processing", progress=30, message="Reading rows")
    answer = signed_in.get(detail_url(tracked))
    assert answer.status_code == 200
    assert answer.text.index(str(first.id)) < answer.text.index(str(second.id))
    assert "Reading rows" in answer.text and "processing 30 %" in answer.text


def test_the_detail_page_of_another_users_request_answers_404(signed_in, bob):
    """Bob's request does not exist for Ada: 404, not 403, so ids reveal nothing."""
    tracked, _ = actions.do_create_request(bob, "Bob's secret")
    assert signed_in.get(detail_url(tracked)).status_code == 404


def test_an_unknown_request_answers_404(signed_in):
    assert signed_in.get("/requests/00000000-0000-0000-0000-000000000000/").status_code == 404


def test_titles_and_messages_are_escaped_on_both_pages(signed_in, ada):
    """User-supplied text is rendered as text: no raw <script> reaches the page."""
    tracked, _ = actions.do_create_request(ada, XSS_TITLE)
    actions.do_publish_status(tracked.pk, "failed", message='<img src=x onerror="alert(2)">')
    for url in (reverse("pages:dashboard"), detail_url(tracked)):
        text = signed_in.get(url).text
        assert XSS_TITLE not in text and "<img src=x" not in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_the_login_page_renders_for_anonymous_visitors(client, db):
    """The sign-in form has labelled fields (the browser tests fill them by label)."""
    answer = client.get("/accounts/login/?next=/")
    assert answer.status_code == 200
    assert 'for="id_username"' in answer.text and 'for="id_password"' in answer.text


def test_the_settings_page_turns_the_unseen_e_mail_off_and_on(signed_in, ada):
    """On by default; unticking and saving turns it off; ticking turns it on again."""
    url = reverse("pages:settings")
    page = signed_in.get(url)
    assert page.status_code == 200
    assert b'name="email_when_unseen"' in page.content and b"checked" in page.content
    assert signed_in.post(url, {}).status_code == 302
    assert escalations.wants_email(ada.pk) is False
    assert b"checked" not in signed_in.get(url).content
    signed_in.post(url, {"email_when_unseen": "on"})
    assert escalations.wants_email(ada.pk) is True


def test_the_settings_page_needs_sign_in(client, db):
    answer = client.get(reverse("pages:settings"))
    assert answer.status_code == 302 and "/accounts/login/" in answer["Location"]
