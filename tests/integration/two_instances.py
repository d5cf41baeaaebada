"""Two instances on the broker, users, and a raw STOMP socket whose server frames are decoded as they come."""

from .harness import Deployment, TokenClient, UserSession, connect_ws
from .harness.raw_stomp import RawStomp
from .harness.raw_stomp import stomp_frame as frame
from .robust_service import PASSWORD, USERS_SCRIPT

STOMP_PATH = "/ws/stomp/"
TIMEOUT_SECS = 10.0


class TwoInstances:
    """Instances A (sockets) and B (publishing and other sockets), users, a publish token."""

    def __init__(self, deployment: Deployment, usernames: list[str]):
        self.deployment = deployment
        self.a = deployment.instance("A")
        self.b = deployment.instance("B")
        deployment.manage("shell", "--no-imports", "-c", USERS_SCRIPT.format(names=[*usernames, "boss"]))
        self.token = deployment.create_service_token("worker", "publish", "broadcast")

    def session(self, username: str, instance=None) -> UserSession:
        return UserSession(instance or self.a, username, PASSWORD).login()

    def publisher(self) -> TokenClient:
        return TokenClient(self.b, self.token)


async def connected(service: TwoInstances, username: str, heart_beat: str = "0,0", instance=None) -> RawStomp:
    """Open a STOMP socket signed in as `username`, CONNECT with `heart-beat`, and read CONNECTED."""
    cookie = {"Cookie": service.session(username, instance).cookie_header()}
    ws = await connect_ws(instance or service.a, STOMP_PATH, headers=cookie)
    client = RawStomp(ws)
    await ws.send(frame("CONNECT", {"accept-version": "1.2", "host": "x", "heart-beat": heart_beat}))
    first = await client.next()
    assert first.command == "CONNECTED", first
    return client


def deployed(tmp_path_factory, amqp_url: str, name: str, usernames: list[str], extra_env: dict | None = None):
    """Yield TwoInstances of a fresh deployment, closed after (a module fixture's body); logs shown on failure."""
    deployment = Deployment(tmp_path_factory.mktemp(name), amqp_url=amqp_url, extra_env=extra_env)
    try:
        yield TwoInstances(deployment, usernames)
    except BaseException:
        print(deployment.log_report())
        raise
    finally:
        deployment.close()
