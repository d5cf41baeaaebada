"""Three instances of one deployment on the private cluster, their users, a publisher and light sockets.

service = ClusterService(cluster_deployment, cluster)            # A on node 1, B on 2, C on 3
clients = await service.open_clients({service.a: 4, service.b: 4, service.c: 4})   # per user
publisher = service.publisher(count=200, rate=8)                  # single and batch events, announcements
"""

import asyncio
from concurrent.futures import ThreadPoolExecutor

from tests.faults.load import Publisher, create_request, create_users
from tests.integration.harness import TokenClient, UserSession

from .conftest import node_order
from .swarm import LightClient, open_all

PASSWORD = "cluster-test-password"
BATCH_EVERY = 4  # every fourth status POST is a batch (tests/faults/load.py BATCH_SIZE events)
OPEN_TIMEOUT_SECS = 120.0


class ClusterService:
    """Instances A, B, C, each first on another node (or on `urls`); users with one request each; a token."""

    def __init__(self, deployment, cluster, *, users: int = 30, urls: list[str] | None = None, env=None):
        self.cluster = cluster
        urls = urls or [node_order(cluster, n) for n in range(3)]
        self.instances = [
            deployment.instance(name, amqp_url=url, env=env, start=False)
            for name, url in zip(("A", "B", "C"), urls, strict=True)
        ]
        for instance in self.instances:  # started together: each start is mostly imports, on two cores
            instance.start()
        with ThreadPoolExecutor(len(self.instances)) as pool:
            list(pool.map(lambda instance: instance.wait_ready(), self.instances))
        self.names = [f"user{n}" for n in range(users)]
        create_users(deployment, self.names, PASSWORD)
        self.token = deployment.create_service_token("worker", "publish", "broadcast")
        self.tokens = [TokenClient(instance, self.token) for instance in self.instances]
        self.requests = {create_request(self.tokens[0], name, f"{name} import"): name for name in self.names}
        self.cookies: dict[str, str] = {}
        self._other_clients: list[TokenClient] = []

    @property
    def a(self):
        return self.instances[0]

    @property
    def b(self):
        return self.instances[1]

    @property
    def c(self):
        return self.instances[2]

    def publisher(self, count: int, rate: float, *, via=None, retries: int = 0) -> Publisher:
        """Return a publisher of single and batch events and announcements, through all three (or `via`)."""
        clients = self.tokens if via is None else [self.token_client(via)]
        return Publisher(clients, self.requests, count=count, rate=rate, batch_every=BATCH_EVERY, retries=retries)

    def token_client(self, target) -> TokenClient:
        """Return a client of the service's token on `target` (nginx, say), closed with the service."""
        client = TokenClient(target, self.token)
        self._other_clients.append(client)
        return client

    async def sign_in(self) -> dict[str, str]:
        """Sign every user in once (a session works on every instance); return their Cookie headers by name."""
        if not self.cookies:

            def login(name: str) -> str:
                with UserSession(self.a, name, PASSWORD) as session:
                    return session.login().cookie_header()

            cookies = await asyncio.gather(*(asyncio.to_thread(login, name) for name in self.names))
            self.cookies = dict(zip(self.names, cookies, strict=True))
        return self.cookies

    async def open_clients(self, per_user: dict, moves_to=None) -> list[LightClient]:
        """Open `per_user[target]` sockets per user on each target, in turn.

        A socket reconnects to the same target, or to `moves_to(target, n)()`
        (n: the socket's number) when that is given.
        """
        cookies = await self.sign_in()
        clients = []
        for target, sockets in per_user.items():
            for _ in range(sockets):
                for name in self.names:
                    pick = (lambda t=target: t) if moves_to is None else moves_to(target, len(clients))
                    clients.append(LightClient(name, cookies[name], pick))
        await open_all(clients, OPEN_TIMEOUT_SECS)
        return clients

    def close(self) -> None:
        for client in self.tokens + self._other_clients:
            client.close()


def fault_name(title: str, recovered_secs, clients, publisher: Publisher | None = None) -> str:
    """Return the FAULT line's name: the fault, each recovery's seconds, the clients' reconnects (and retries)."""
    secs = "/".join(f"{value:.1f}s" for value in recovered_secs)
    name = f"{title} recovered_in={secs} socket_reconnects={sum(c.reconnects for c in clients)}"
    return name + (f" publish_retries={publisher.retried}" if publisher is not None and publisher.retries else "")
