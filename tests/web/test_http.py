"""The HTTP side of the ASGI application: Django's middleware and views, one thread hop per request."""

import pytest
from channels.testing import HttpCommunicator

from project.http import SyncChainASGIHandler

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_page_is_served_through_the_middleware_chain():
    """The health check answers 200, with the headers the security middleware adds."""
    communicator = HttpCommunicator(SyncChainASGIHandler(), "GET", "/healthz", headers=[(b"host", b"localhost")])
    response = await communicator.get_response()
    assert response["status"] == 200
    headers = {name.decode().lower(): value.decode() for name, value in response["headers"]}
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"


async def test_a_form_post_without_csrf_token_is_refused():
    """The CSRF middleware runs in the synchronous chain: a cookie-less login POST answers 403."""
    communicator = HttpCommunicator(
        SyncChainASGIHandler(),
        "POST",
        "/accounts/login/",
        body=b"username=demo&password=demo",
        headers=[(b"content-type", b"application/x-www-form-urlencoded"), (b"host", b"localhost")],
    )
    response = await communicator.get_response()
    assert response["status"] == 403
