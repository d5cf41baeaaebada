"""The STOMP adapter's gateway: SEND to `/app/request`, answered on the `/user/queue/replies` subscription.

A SEND needs a subscription to the replies first (else ERROR, then close,
like any refused STOMP frame). A request STOMP cannot serve (a bad header, a
path outside /api/v1/, an unknown service, the ninth in flight) is answered
on that subscription with status 400, 403 or 429, so the connection stays.
"""

import uuid

from notifications.errors import FrameError
from notifications.protocol.gateway import Answer
from notifications.protocol.stomp import gateway as stomp_gateway
from notifications.protocol.stomp.frames import StompFrame
from notifications.realtime.adapters.stomp_subscriptions import Refused

# The status a refused request is answered with, by its FrameError code.
REFUSAL_STATUS = {"bad_request": 400, "forbidden": 403, "rate_limited": 429}


class StompGatewayMixin:
    """`on_send` for StompSocketConsumer: requests over STOMP, replies as MESSAGEs (PROTOCOL section 5.1)."""

    async def on_send(self, frame: StompFrame) -> None:
        self._require_connected(frame)
        destination = frame.get("destination")
        if destination != stomp_gateway.REQUEST_DESTINATION:
            raise Refused(f"SEND is not served here (destination {str(destination)[:80]!r})")
        if self._replies_subscription() is None:
            raise Refused(f"SEND to {destination} needs a subscription to {stomp_gateway.REPLIES_DESTINATION} first")
        correlation_id = stomp_gateway.correlation_id_of(frame)
        try:
            request = stomp_gateway.request_of(frame)
            self.session.gateway.submit(
                request, correlation_id, self._replier(correlation_id), overhead=stomp_gateway.REPLY_OVERHEAD_BYTES
            )
        except FrameError as exc:
            self.session.refused(exc.default_code)
            status = REFUSAL_STATUS.get(exc.default_code, 400)
            await self._replier(correlation_id)(Answer(status, {"detail": exc.detail, "code": exc.default_code}))
        await self._send_receipt(frame)

    def _replies_subscription(self):
        destination = stomp_gateway.REPLIES_DESTINATION
        return next((s for s in self.subscriptions.values() if s.destination == destination), None)

    def _replier(self, correlation_id: str | None):
        async def reply(answer: Answer) -> None:
            subscription = self._replies_subscription()
            if subscription is None:  # unsubscribed meanwhile: there is nowhere to answer
                return
            message_id = f"{stomp_gateway.REPLY_ID_PREFIX}{uuid.uuid4().hex}"
            await self._send_frame(stomp_gateway.reply(subscription.id, message_id, correlation_id, answer))

        return reply
