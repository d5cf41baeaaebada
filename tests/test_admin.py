"""The admin: every action goes through `actions`, so its effect shows live on connected sockets."""

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from notifications.models import Connection, Event, ServiceClient, TrackedRequest, UnseenEscalation
from notifications.store import actions, escalations, ledger, publishing, webhooks

from .sockets import live_socket, make_user, receive_until

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def staff_client() -> Client:
    from django.contrib.auth import get_user_model

    staff = get_user_model().objects.create_superuser("root", password="pw-root")
    client = Client()
    client.force_login(staff)
    return client


@database_sync_to_async
def admin_post(client: Client, url_name: str, data: dict, *args):
    response = client.post(reverse(url_name, args=args), data)
    return response, [str(m) for m in get_messages(response.wsgi_request)]


@database_sync_to_async
def admin_get(client: Client, url: str):
    return client.get(url)


async def a_request(owner, title="Export") -> TrackedRequest:
    tracked, _ = await database_sync_to_async(actions.do_create_request)(owner, title)
    return tracked


def action_data(action: str, *objects, **fields) -> dict:
    return {"action": action, "_selected_action": [str(o.pk) for o in objects], "index": "0", **fields}


async def test_set_status_publishes_an_event_the_owner_sees_live(hub):
    """The "set status" action stores a status event; the owner's open socket shows it at once."""
    ada, admin = await make_user("ada"), await staff_client()
    communicator = await live_socket(ada)
    tracked = await a_request(ada)
    assert (await communicator.receive_json_from(timeout=5))["request"]["status"] == "queued"
    data = action_data("set_status", tracked, status="processing", progress="40", message="Halfway")
    response, notes = await admin_post(admin, "admin:notifications_trackedrequest_changelist", data)
    assert response.status_code == 302, notes
    frame = await communicator.receive_json_from(timeout=5)
    assert frame["request"]["status"] == "processing" and frame["request"]["progress"] == 40
    assert frame["message"] == "Halfway"
    assert any("set to processing" in note for note in notes)
    await communicator.disconnect()


async def test_set_status_without_a_status_changes_nothing(hub):
    """Choosing the action but no status answers an error message and publishes nothing."""
    ada, admin = await make_user("ada"), await staff_client()
    tracked = await a_request(ada)
    _, notes = await admin_post(
        admin, "admin:notifications_trackedrequest_changelist", action_data("set_status", tracked)
    )
    assert any("Choose a status" in note for note in notes)
    assert await database_sync_to_async(Event.objects.filter(request=tracked).count)() == 1


async def test_cancel_publishes_cancelled_and_refuses_finished_requests(hub):
    """Cancel stores a `cancelled` event for an open request and explains why a finished one is skipped."""
    ada, admin = await make_user("ada"), await staff_client()
    communicator = await live_socket(ada)
    open_one, done = await a_request(ada, "Open"), await a_request(ada, "Done")
    await database_sync_to_async(actions.do_publish_status)(done.pk, "succeeded")
    await receive_until(communicator, "event")
    await receive_until(communicator, "event")
    await receive_until(communicator, "event")
    url = "admin:notifications_trackedrequest_changelist"
    _, notes = await admin_post(admin, url, action_data("cancel_requests", open_one, done))
    frame = await communicator.receive_json_from(timeout=5)
    assert frame["request"]["id"] == str(open_one.pk) and frame["request"]["status"] == "cancelled"
    assert any("Done: The request is already succeeded" in note for note in notes)
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_an_announcement_composed_in_the_admin_reaches_every_open_socket(hub):
    """Saving the announcement form broadcasts it through actions.do_broadcast."""
    admin = await staff_client()
    sockets = [await live_socket(await make_user(name)) for name in ("ada", "bob")]
    data = {"title": "Maintenance at 22:00", "body": "Ten minutes.", "level": "warning"}
    response, notes = await admin_post(admin, "admin:notifications_announcement_add", data)
    assert response.status_code == 302, response.content[:500]
    for communicator in sockets:
        frame = await communicator.receive_json_from(timeout=5)
        assert (frame["kind"], frame["title"], frame["body"], frame["level"]) == (
            "announcement",
            "Maintenance at 22:00",
            "Ten minutes.",
            "warning",
        )
        await communicator.disconnect()
    listing = await admin_get(admin, reverse("admin:notifications_announcement_changelist"))
    assert b"Maintenance at 22:00" in listing.content


@database_sync_to_async
def api_status(token: str) -> int:
    return Client().get(reverse("api:request-list"), HTTP_AUTHORIZATION=f"Token {token}").status_code


def token_in(notes: list[str]) -> str:
    [note] = [note for note in notes if "shown only this once" in note]
    return note.rsplit(": ", 1)[1]


async def test_service_client_token_is_shown_once_rotated_and_revoked():
    """Creating shows the token once; rotating kills the old one; revoking kills the current one at once."""
    admin = await staff_client()
    data = {"name": "billing", "can_publish": "on"}
    response, notes = await admin_post(admin, "admin:notifications_serviceclient_add", data)
    assert response.status_code == 302
    first = token_in(notes)
    assert await api_status(first) == 200
    client = await database_sync_to_async(ServiceClient.objects.get)(name="billing")
    assert client.can_publish and not client.can_broadcast and first not in client.token_hash
    shown = await admin_get(admin, response.url)
    assert first.encode() in shown.content
    page = await admin_get(admin, reverse("admin:notifications_serviceclient_change", args=[client.pk]))
    assert first.encode() not in page.content, "the token was shown twice"

    url = "admin:notifications_serviceclient_changelist"
    _, notes = await admin_post(admin, url, action_data("rotate_tokens", client))
    second = token_in(notes)
    assert await api_status(first) == 401 and await api_status(second) == 200

    await admin_post(admin, url, action_data("revoke_tokens", client))
    assert await api_status(second) == 401


async def test_presence_lists_sockets_and_disconnect_closes_them_with_4000(hub):
    """The presence page lists each socket with its instance; the action closes the user's sockets."""
    ada, admin = await make_user("ada"), await staff_client()
    communicator = await live_socket(ada)
    await hub.presence.flush()
    page = await admin_get(admin, reverse("admin:notifications_connection_changelist") + "?online=yes")
    assert b"ada" in page.content and hub.presence.instance.encode() in page.content
    row = await database_sync_to_async(Connection.objects.get)(user=ada)
    _, notes = await admin_post(
        admin, "admin:notifications_connection_changelist", action_data("disconnect_users", row)
    )
    assert any("1 user" in note for note in notes)
    output = await communicator.receive_output(timeout=5)
    assert output == {"type": "websocket.close", "code": 4000}


async def test_disconnect_from_a_process_without_a_hub_closes_at_the_next_heartbeat(hub, monkeypatch):
    """When the layer message cannot reach the holder, the presence marker still closes the socket."""
    monkeypatch.setattr(publishing, "_sink", None)
    ada = await make_user("ada")
    communicator = await live_socket(ada)
    await hub.presence.flush()
    assert await database_sync_to_async(actions.do_disconnect_user)(ada.pk) == 1
    assert await communicator.receive_nothing(timeout=0.3)
    hub.close_requested(await hub.presence.heartbeat())
    assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": 4000}


async def test_list_pages_filter_and_search(hub):
    """The request, event and presence lists answer with their filters and search in use."""
    ada, admin = await make_user("ada"), await staff_client()
    await a_request(ada, "Quarterly report")
    for url in (
        reverse("admin:notifications_trackedrequest_changelist") + "?status__exact=queued&q=ada",
        reverse("admin:notifications_trackedrequest_changelist") + "?q=Quarterly",
        reverse("admin:notifications_event_changelist") + "?kind__exact=request.status&delivery=stored",
        reverse("admin:notifications_event_changelist") + f"?user__id__exact={ada.pk}",
        reverse("admin:notifications_connection_changelist") + "?online=no",
        reverse("admin:notifications_announcement_add"),
    ):
        response = await admin_get(admin, url)
        assert response.status_code == 200, url
    tracked = await database_sync_to_async(TrackedRequest.objects.get)(title="Quarterly report")
    page = await admin_get(admin, reverse("admin:notifications_trackedrequest_change", args=[tracked.pk]))
    assert page.status_code == 200 and b"event history" in page.content.lower()


async def test_a_requests_page_shows_its_delivery_ledger(hub):
    """The change page lists each event with its sockets and protocols once the ledger recorded a delivery."""
    ada, admin = await make_user("ada"), await staff_client()
    tracked = await a_request(ada, "Ledgered")
    event = await database_sync_to_async(tracked.events.get)()
    await database_sync_to_async(ledger.add_deliveries)(
        [(ada.pk, event.seq, event.created_at, 3, ledger.PROTOCOL_BITS["mqtt"])]
    )
    page = await admin_get(admin, reverse("admin:notifications_trackedrequest_change", args=[tracked.pk]))
    html = page.content.decode()
    assert page.status_code == 200 and "Delivery ledger" in html
    assert "<td>queued</td>" in html and "<td>3</td><td>mqtt</td>" in html


async def test_the_unseen_escalations_page_shows_how_each_was_escalated(hub):
    """An escalated request lists e-mail and webhook, the service's delivery with its state, and the body posted."""

    @database_sync_to_async
    def escalate_one(owner) -> None:
        billing = ServiceClient.objects.create(name="billing", token_hash="b" * 64, can_publish=True)
        webhooks.save_endpoint("https://billing.example.org/hook", "s", [], billing)
        tracked, _ = actions.do_create_request(owner, "Payroll", publisher=billing)
        actions.do_publish_status(tracked.pk, "succeeded")
        UnseenEscalation.objects.update(due_at=timezone.now() - timedelta(seconds=1))
        escalations.settle(escalations.claim_due()[0], ["email"], "e-mail sent")

    await escalate_one(await make_user("ada"))
    client = await staff_client()
    listing = await admin_get(client, reverse("admin:notifications_unseenescalation_changelist"))
    assert listing.status_code == 200
    assert b"billing: pending" in listing.content and b"webhook" in listing.content
    item = await database_sync_to_async(UnseenEscalation.objects.get)()
    page = await admin_get(client, reverse("admin:notifications_unseenescalation_change", args=[item.pk]))
    assert page.status_code == 200 and b"request.unseen" in page.content
    deliveries = await admin_get(client, reverse("admin:notifications_webhookdelivery_changelist"))
    assert deliveries.status_code == 200 and b"request.unseen" in deliveries.content
