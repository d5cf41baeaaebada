"""BrokerNodes: the node a broker link starts on, where it moves, how long it waits first."""

import asyncio
import socket

import pytest

from notifications import conf
from notifications.realtime import broker_nodes
from notifications.realtime.broker_nodes import BrokerNodes, address_of, answers_amqp
from notifications.realtime.layer import LayerLink


@pytest.fixture
async def fake_node():
    """Return the URL of a local server that answers the AMQP header as a broker does (one frame byte first)."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(8)
        writer.write(b"\x01\x00\x00")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    yield f"amqp://user:secret@127.0.0.1:{server.sockets[0].getsockname()[1]}/vhost"
    server.close()
    await server.wait_closed()


def closed_port_url() -> str:
    """Return the URL of a port nobody listens on (bound and released just now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"amqp://guest:guest@127.0.0.1:{port}/"


def test_the_address_of_a_node_never_shows_its_credentials_or_vhost():
    """`host:port` only, with AMQP's default ports when the URL has none."""
    assert address_of("amqp://user:secret@rabbit-2:5673/notify") == "rabbit-2:5673"
    assert address_of("amqp://user:secret@rabbit-2/notify") == "rabbit-2:5672"
    assert address_of("amqps://rabbit-2/") == "rabbit-2:5671"


def test_the_backoff_doubles_per_failed_move_up_to_its_cap_and_is_jittered():
    """The first move waits 0.25-0.5 s; failed moves double it, capped at MAX_BACKOFF_SECS; success resets it."""
    low, high = BrokerNodes(["amqp://a"], jitter=lambda: 0.0), BrokerNodes(["amqp://a"], jitter=lambda: 1.0)
    assert (low.backoff_secs(), high.backoff_secs()) == (0.25, 0.5)
    high.failures = 10
    assert high.backoff_secs() == broker_nodes.MAX_BACKOFF_SECS
    high.settled()
    assert high.backoff_secs() == 0.5


async def test_a_link_starts_on_the_first_listed_node_that_answers(fake_node):
    """A dead first node is skipped at start; with none answering, the first listed is used."""
    dead = closed_port_url()
    assert await answers_amqp(fake_node) and not await answers_amqp(dead)
    nodes = BrokerNodes([dead, fake_node])
    assert await nodes.first_reachable() == fake_node
    assert await BrokerNodes([dead, closed_port_url()]).first_reachable() == dead


async def test_a_move_goes_to_the_next_answering_node_after_the_current_one(fake_node, monkeypatch):
    """From the last node a move wraps around, skipping nodes that do not answer; each move is counted."""
    monkeypatch.setattr(broker_nodes, "FIRST_BACKOFF_SECS", 0.01)
    dead = closed_port_url()
    nodes = BrokerNodes([fake_node, dead, closed_port_url()])
    nodes.index = 2
    assert await nodes.move() == fake_node
    assert (nodes.moves, nodes.failures) == (1, 1)
    assert await nodes.move() == fake_node  # the only one answering: the link stays there
    assert nodes.advance() == dead


def test_the_setting_lists_nodes_comma_separated(settings):
    """Spaces and empty items are ignored; one URL is a one-node list; empty is no broker."""
    settings.NOTIFY_AMQP_URL = " amqp://a:5672/ , amqp://b:5672/,,"
    assert conf.amqp_urls() == ["amqp://a:5672/", "amqp://b:5672/"]
    settings.NOTIFY_AMQP_URL = ""
    assert conf.amqp_urls() == []


async def test_the_layer_link_builds_its_layer_on_the_answering_node_and_moves_when_replaced(
    fake_node, settings, monkeypatch
):
    """On RabbitMQ the link's layer uses the first answering node; a replacement moves it to the next that answers."""
    monkeypatch.setattr(broker_nodes, "FIRST_BACKOFF_SECS", 0.01)
    dead = closed_port_url()
    settings.NOTIFY_AMQP_URL = f"{dead},{fake_node}"
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_rabbitmq.core.RabbitmqChannelLayer", "CONFIG": {"host": dead}}
    }
    link = LayerLink()
    await link.open()  # channels-rabbitmq connects lazily: nothing is sent to the fake node
    assert (link.layer.host, link.node) == (fake_node, address_of(fake_node))
    first = link.layer
    await link.open()
    assert link.layer is not first and link.layer.host == fake_node and link.nodes.moves == 1
    await link.close()


async def test_the_in_process_layer_has_no_node():
    """Without NOTIFY_AMQP_URL the link reports no broker node (and /readyz shows `node: null`)."""
    link = LayerLink()
    await link.open()
    assert link.node is None
    await link.close()
