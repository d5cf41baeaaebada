"""SSE names each event by its stored kind (PROTOCOL 4.4), whatever the order of its payload's keys."""

from .harness import UserSession
from .test_sse import PASSWORD, STREAM_PATH, RawStream, stream_client

ZERO_CURSOR = "0" * 24
# A row whose payload has a nested "kind" before its own: a scan of the text for the first kind key reads "nested".
REORDERED_EVENT_SCRIPT = """
from django.contrib.auth import get_user_model
from django.db import transaction
from notifications.models import Event
from notifications.store import streams
user = get_user_model().objects.get(username="ada")
with transaction.atomic():
    event = streams.append_event(kind="request.status", payload={"title": "x"}, user_id=user.pk)
payload = {"data": {"kind": "nested"}, "id": str(event.id), "kind": "request.status", "title": "Reordered"}
Event.objects.filter(pk=event.pk).update(payload=payload)
"""


async def test_a_replayed_event_is_named_by_its_kind_not_by_the_first_kind_key_of_its_text(deployment):
    """On a real instance, `event:` is `request.status` although a nested `kind` comes first in the data."""
    a = deployment.instance("A")
    deployment.create_user("ada", PASSWORD)
    deployment.manage("shell", "--no-imports", "-c", REORDERED_EVENT_SCRIPT)
    ada = UserSession(a, "ada", PASSWORD).login()
    async with (
        stream_client(ada, a) as client,
        client.stream("GET", STREAM_PATH, params={"cursor": ZERO_CURSOR}) as response,
    ):
        assert response.status_code == 200
        stream = RawStream(response)
        assert (await stream.message())["event"] == "welcome"
        event = await stream.message()
        assert event["event"] == "request.status"
        assert event["data"]["title"] == "Reordered" and event["data"]["data"] == {"kind": "nested"}
