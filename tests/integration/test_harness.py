"""The integration harness itself: the TCP proxy against an echo server, and daphne instances."""

import asyncio
import contextlib
import socket
import socketserver
import threading
from collections.abc import Iterator

import httpx
import pytest

from .harness import (
    ProxyClosedError,
    TcpProxy,
    UserSession,
    connect_ws,
    expect_close,
    free_port,
    handshake_status,
    of_type,
    recv_until,
)

pytestmark = pytest.mark.integration

IO_TIMEOUT_SECS = 5.0
SILENCE_SECS = 0.5


class _EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        with contextlib.suppress(ConnectionError):
            while data := self.request.recv(65536):
                self.request.sendall(data)


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture
def echo_server() -> Iterator[tuple[str, int]]:
    """Return the address of a TCP echo server running for this test."""
    server = _EchoServer(("127.0.0.1", 0), _EchoHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server.server_address
    server.shutdown()
    server.server_close()
    thread.join(IO_TIMEOUT_SECS)


@pytest.fixture
def proxy(echo_server: tuple[str, int]) -> Iterator[TcpProxy]:
    with TcpProxy(*echo_server) as proxy:
        yield proxy


def connect(proxy: TcpProxy) -> socket.socket:
    return socket.create_connection(proxy.address, timeout=IO_TIMEOUT_SECS)


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError(f"closed after {len(data)} of {size} bytes")
        data += chunk
    return data


def echo(sock: socket.socket, payload: bytes) -> bytes:
    sock.sendall(payload)
    return recv_exactly(sock, len(payload))


def assert_connection_dropped(sock: socket.socket) -> None:
    """Assert the peer closed or reset the connection (after at most IO_TIMEOUT_SECS)."""
    try:
        sock.sendall(b"x")
        assert sock.recv(1) == b""
    except ConnectionError:
        pass


def test_free_port_is_bindable() -> None:
    """free_port() returns a loopback port that can be listened on."""
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_forwards_both_ways(proxy: TcpProxy) -> None:
    """Bytes go through the proxy to the target and back, large payloads intact."""
    payload = bytes(range(256)) * 4096
    with connect(proxy) as sock:
        assert echo(sock, b"hello") == b"hello"
        assert echo(sock, payload) == payload
    assert proxy.connections_accepted == 1


def test_cut_drops_live_connections_and_refuses_new_ones(proxy: TcpProxy) -> None:
    """cut() resets open connections and refuses new ones; restore() accepts and forwards again."""
    with connect(proxy) as sock:
        assert echo(sock, b"before") == b"before"
        proxy.cut()
        assert_connection_dropped(sock)
    assert proxy.live_connections == 0
    with pytest.raises(ConnectionRefusedError):
        connect(proxy)
    proxy.restore()
    with connect(proxy) as sock:
        assert echo(sock, b"after") == b"after"


def test_stall_holds_bytes_until_resumed(proxy: TcpProxy) -> None:
    """stall() keeps the connection open but moves nothing; resume_forwarding() delivers what was held."""
    with connect(proxy) as sock:
        assert echo(sock, b"warm") == b"warm"
        proxy.stall()
        sock.sendall(b"held")
        sock.settimeout(SILENCE_SECS)
        with pytest.raises(TimeoutError):
            sock.recv(4)
        assert proxy.live_connections == 1
        proxy.resume_forwarding()
        sock.settimeout(IO_TIMEOUT_SECS)
        assert recv_exactly(sock, 4) == b"held"


def test_stall_accepts_new_connections_without_forwarding(proxy: TcpProxy) -> None:
    """A connection opened during a stall is accepted but silent until forwarding resumes."""
    proxy.stall()
    with connect(proxy) as sock:
        sock.sendall(b"late")
        sock.settimeout(SILENCE_SECS)
        with pytest.raises(TimeoutError):
            sock.recv(4)
        proxy.resume_forwarding()
        sock.settimeout(IO_TIMEOUT_SECS)
        assert recv_exactly(sock, 4) == b"late"


def test_restore_ends_a_stall(proxy: TcpProxy) -> None:
    """restore() brings the proxy back to healthy from a stall as well as from a cut."""
    proxy.stall()
    proxy.cut()
    proxy.restore()
    assert proxy.is_listening and proxy.is_forwarding
    with connect(proxy) as sock:
        assert echo(sock, b"ok") == b"ok"


def test_target_down_closes_the_client(make_proxy) -> None:
    """A client of a proxy whose target refuses is closed at once, not left hanging."""
    proxy = make_proxy("127.0.0.1", free_port())
    with connect(proxy) as sock:
        assert_connection_dropped(sock)
    assert proxy.live_connections == 0


def test_close_frees_the_port_and_refuses_further_use(echo_server: tuple[str, int]) -> None:
    """close() drops connections, releases the port and stops the thread; later calls raise."""
    proxy = TcpProxy(*echo_server)
    sock = connect(proxy)
    assert echo(sock, b"x") == b"x"
    proxy.close()
    proxy.close()
    with sock:
        assert_connection_dropped(sock)
    assert not proxy._thread.is_alive()
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(proxy.address)
    with pytest.raises(ProxyClosedError):
        proxy.cut()


def test_url_through_keeps_credentials_and_vhost(proxy: TcpProxy) -> None:
    """url_through() points a broker URL at the proxy, keeping user, password and vhost."""
    assert proxy.url_through("amqp://guest:guest@127.0.0.1:5672/vh") == f"amqp://guest:guest@127.0.0.1:{proxy.port}/vh"
    assert proxy.url_through("amqp://rabbit/") == f"amqp://127.0.0.1:{proxy.port}/"


async def test_usable_from_async_tests(proxy: TcpProxy) -> None:
    """An async test drives the proxy with the same calls while its own loop does the I/O."""
    reader, writer = await asyncio.open_connection(*proxy.address)
    try:
        writer.write(b"async")
        assert await asyncio.wait_for(reader.readexactly(5), IO_TIMEOUT_SECS) == b"async"
        proxy.cut()
        with contextlib.suppress(ConnectionResetError):
            assert await asyncio.wait_for(reader.read(), IO_TIMEOUT_SECS) == b""
    finally:
        writer.close()


def test_two_instances_on_the_shared_broker_answer_healthz(deployment) -> None:
    """Two daphne instances of one deployment start on the real broker and both answer /healthz."""
    first = deployment.instance("first")
    second = deployment.instance("second")
    for instance in (first, second):
        with httpx.Client(base_url=instance.url, timeout=IO_TIMEOUT_SECS, trust_env=False) as client:
            assert client.get("/healthz").status_code == 200
    assert first.port != second.port and first.is_running and second.is_running


async def test_a_session_signed_in_on_one_instance_opens_sockets_on_both(deployment) -> None:
    """UserSession signs in through the login form; its cookies open a socket on every instance."""
    first, second = deployment.instance("first"), deployment.instance("second")
    deployment.create_user("alice", "alice-password-1")
    with UserSession(first, "alice", "alice-password-1").login() as session:
        for instance in (first, second):
            async with session.websocket(instance=instance) as ws:
                welcome = await recv_until(ws, of_type("welcome"), timeout=IO_TIMEOUT_SECS)
                assert welcome["user"]["username"] == "alice"


async def test_socket_helpers_report_refusals_and_closes(deployment) -> None:
    """handshake_status() returns a refusal's HTTP status; expect_close() returns the close code."""
    instance = deployment.instance()
    assert await handshake_status(instance, origin="http://evil.example") == 403
    async with connect_ws(instance) as ws:
        assert await expect_close(ws, timeout=IO_TIMEOUT_SECS) == 4401


def test_killed_instance_restarts_on_its_port(deployment) -> None:
    """restart(kill=True) crashes the process and brings a new one up on the same port."""
    instance = deployment.instance()
    port, pid = instance.port, instance.pid
    instance.restart(kill=True)
    assert instance.port == port and instance.pid != pid and instance.starts == 2
    instance.kill()
    assert not instance.is_running
    with pytest.raises(httpx.TransportError), httpx.Client(timeout=IO_TIMEOUT_SECS, trust_env=False) as client:
        client.get(f"{instance.url}/healthz")


async def test_an_instance_reaches_the_broker_through_a_proxy(deployment, broker_proxy, amqp_url) -> None:
    """An instance given broker_proxy.url_through(amqp_url) talks to RabbitMQ through the proxy."""
    instance = deployment.instance(amqp_url=broker_proxy.url_through(amqp_url))
    deployment.create_user("bob", "bob-password-1")
    with UserSession(instance, "bob", "bob-password-1").login() as session:
        async with session.websocket() as ws:
            await recv_until(ws, of_type("welcome"), timeout=IO_TIMEOUT_SECS)
            assert broker_proxy.live_connections >= 1


USER_NAMES_SCRIPT = """
from django.contrib.auth import get_user_model
print(sorted(get_user_model().objects.values_list("username", flat=True)))
"""


def test_each_deployment_gets_a_fully_migrated_database_of_its_own(make_deployment) -> None:
    """Copies of the migrated template have no migration left to apply, and one's rows never show in another."""
    first, second = make_deployment(amqp_url=""), make_deployment(amqp_url="")
    assert first.database_url != second.database_url
    for deployment in (first, second):
        deployment.manage("migrate", "--check")  # exits non-zero when a migration is unapplied
    ids, token = first.provision({"ada": "pw-ada", "bob": "pw-bob"}, "worker", "publish")
    assert sorted(ids) == ["ada", "bob"] and ids["ada"] != ids["bob"] and token
    assert first.manage("shell", "--no-imports", "-c", USER_NAMES_SCRIPT).strip() == "['ada', 'bob']"
    assert second.manage("shell", "--no-imports", "-c", USER_NAMES_SCRIPT).strip() == "[]"
