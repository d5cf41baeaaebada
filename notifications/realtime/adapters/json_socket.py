"""The JSON protocol of `/ws/notifications/` (PROTOCOL section 1), as an adapter over a `Session`.

Frames are parsed in `protocol/frames.py`; the stream, the limits and the
session's end live in `realtime/session.py`. This class turns frames into
session calls and the session's calls into frames, and turns a `FrameError`
into an `error` frame, here only.
"""

import logging

from notifications.errors import FrameError
from notifications.protocol import frames, gateway
from notifications.protocol.cursors import Cursor
from notifications.protocol.gateway import Answer
from notifications.realtime.adapters.guarded import GuardedSocketConsumer
from notifications.realtime.session import Session
from notifications.serving import rawframes

logger = logging.getLogger(__name__)

SUPPORTED_SUBPROTOCOLS = ("notify.v1.json",)


class JsonSocketConsumer(GuardedSocketConsumer):
    """One socket speaking section 1's JSON frames."""

    protocol_name = "json"

    async def connect(self) -> None:
        offered = self.scope.get("subprotocols") or []
        subprotocol = next((p for p in offered if p in SUPPORTED_SUBPROTOCOLS), None)
        if offered and subprotocol is None:
            await self.close()  # before accept: the handshake is refused
            return
        self.session = Session(self, self.scope, self.protocol_name)
        await self.session.authenticate()
        await self.accept(subprotocol)
        await self.session.start()

    async def disconnect(self, code) -> None:
        if self.session is not None:
            await self.session.end(code)

    # --- from the client -------------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None) -> None:
        if self.session is None or not self.session.is_open:
            return
        size = len(text_data.encode("utf-8", "surrogatepass")) if text_data is not None else len(bytes_data or b"")
        try:
            if not await self.session.admit(size):
                return
            if text_data is None:
                raise FrameError("frames must be UTF-8 JSON text, not binary")
            frame = frames.parse_client_frame(text_data)
            await getattr(self, "on_" + frame.type)(frame)
        except FrameError as exc:
            self.session.refused(exc.default_code)
            await self.send(text_data=frames.error(exc.default_code, exc.detail, frames.ref_of(exc)))

    async def on_resume(self, frame: frames.ClientFrame) -> None:
        self.session.do_resume(frame.fields["cursor"], frame.ref, frame.fields["coalesce"])

    async def on_ack(self, frame: frames.ClientFrame) -> None:
        await self.session.do_ack(frame.fields["id"], frame.ref)

    async def on_ping(self, frame: frames.ClientFrame) -> None:
        await self.send(text_data=frames.pong(frame.fields["ts"], frame.ref))

    async def on_refresh(self, frame: frames.ClientFrame) -> None:
        exp = await self.session.do_refresh(frame.fields["token"], frame.ref)
        if exp is not None:
            await self.send(text_data=frames.refreshed(exp, frame.ref))

    async def on_request(self, frame: frames.ClientFrame) -> None:
        ref = frame.ref

        async def reply(answer: Answer) -> None:
            if self.session.is_open:
                await self.send(text_data=gateway.response(ref, answer.status, answer.body))

        self.session.gateway.submit(frame.fields["request"], ref, reply, overhead=gateway.response_overhead(ref))

    # --- the session's Transport -------------------------------------------------------------

    async def send_welcome(self, session: Session) -> None:
        await self.send(text_data=session.welcome_frame())

    async def send_event(self, frame_text: str, cursor: Cursor) -> None:
        await self.send_fast(text_data=frame_text)

    def send_event_now(self, frame_text: str) -> bool:
        """Write an event frame before returning, if the fast path can (else False: `send_event` will)."""
        raw = rawframes.protocol_of(self.scope)
        return raw is not None and rawframes.send_text(raw, frame_text)

    async def send_replayed(self, count: int, cursor: Cursor, ref: str | None, coalesced: int | None = None) -> None:
        await self.send(text_data=frames.replayed(count, cursor, ref, coalesced))

    async def send_reset(self, reason: str, ref: str | None) -> None:
        await self.send(text_data=frames.reset(reason, ref))

    async def send_read(self, up_to: str, unread: int) -> None:
        await self.send(text_data=frames.read(up_to, unread))
