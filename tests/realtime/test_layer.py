"""The layer link's probe: a saturated read loop is "behind", a silent layer is "down"."""

import asyncio

from notifications.realtime.layer import LayerLink


class SilentLayer:
    """A layer whose sends succeed and whose messages never come back (the probe's own included)."""

    async def send(self, channel, message) -> None:
        pass


def probing_link() -> LayerLink:
    link = LayerLink()
    link.layer, link.channel = SilentLayer(), "specific.probe!me"
    return link


async def test_a_probe_that_nothing_overtakes_fails_after_its_timeout():
    """Nothing arrives at all: the layer is down, and the probe says so within its timeout."""
    link = probing_link()
    started = asyncio.get_running_loop().time()
    assert await link.probe(timeout=0.2) is False
    assert asyncio.get_running_loop().time() - started < 1
    assert "probe failed" in link.last_error


async def test_a_probe_queued_behind_messages_still_arriving_keeps_waiting_until_it_arrives():
    """Messages sent before the probe keep reaching the read loop: the layer works, this process is behind."""
    link = probing_link()
    probe = asyncio.ensure_future(link.probe(timeout=0.2))
    for _ in range(6):  # 0.6 s of a backlog the read loop works through, three timeouts' worth
        await asyncio.sleep(0.1)
        link.received += 1
    assert not probe.done(), "a working layer was declared down"
    link.probe_arrived({"type": "layer.probe", "number": link._probe_counter})
    assert await probe is True
    assert link.healthy
