"""The load generator's order checks (bench/loadgen.py): cursors for ours, per-stream sequence numbers for peers."""

from bench.loadgen import Client


def peer_message(stream: str, seq: int) -> dict:
    return {"id": f"{stream}:{seq}", "stream": stream, "seq": seq, "t": 1.0}


def test_each_stream_of_a_peer_socket_is_checked_on_its_own():
    """Streams interleave freely; a sequence number not above its own stream's last one is out of order."""
    client = Client({"url": "ws://x"}, {})
    for stream, seq in [("broadcast", 0), ("user.1", 0), ("broadcast", 1), ("user.1", 1), ("user.1", 3)]:
        client.record(peer_message(stream, seq), 2.0)
    assert client.out_of_order == 0
    client.record(peer_message("user.1", 2), 2.0)  # late: 3 came first
    client.record(peer_message("broadcast", 1), 2.0)  # again
    assert client.out_of_order == 2
    assert len(client.ids) == 7 and len(set(client.ids)) == 6
    assert client.latencies == [1.0] * 7


def test_our_cursors_are_checked_across_the_socket():
    """Ours: a cursor not greater than the socket's previous one is out of order, whatever the event."""
    client = Client({"url": "ws://x"}, {})
    for i, cursor in enumerate(["001", "002", "002", "001", "003"]):
        client.record({"id": str(i), "cursor": cursor}, 1.0)
    assert client.out_of_order == 2
