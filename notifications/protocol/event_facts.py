"""What adapters route an event by (its id, kind and request), read once per event instead of once per socket."""

import json
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EventFacts:
    """The fields of an event that STOMP, MQTT and SSE put in headers, topics and field names."""

    id: str
    kind: str
    request_id: str | None = None

    @property
    def is_announcement(self) -> bool:
        return self.kind == "announcement"


def facts_of(encoded_payload: str) -> EventFacts:
    """Return the facts of a payload encoded by `frames.encode_payload` (decoded here, once for every socket)."""
    payload = json.loads("{" + encoded_payload + "}")
    request = payload.get("request") if payload["kind"] == "request.status" else None
    return EventFacts(str(payload["id"]), payload["kind"], None if request is None else str(request["id"]))
