"""One socket's `request` frames: which target serves each, at most MAX_IN_FLIGHT at once, each a session task.

A request runs as a task of the session's `TaskSet` (cancelled when the
socket closes), so a slow view or upstream never holds up the socket's other
frames or its events. Every failure of a request becomes its answer (500,
logged), never the socket's failure; the adapter turns an answer into its
protocol's reply (`response` frame, STOMP `MESSAGE`).
"""

import logging
from collections.abc import Awaitable, Callable

from notifications import conf
from notifications.errors import BadFrame, FrameError, RateLimited
from notifications.ops import metrics
from notifications.protocol import jsonsafe
from notifications.protocol.gateway import Answer, GatewayRequest, parse_body
from notifications.realtime.gateway import local, upstream

logger = logging.getLogger(__name__)

MAX_IN_FLIGHT = 8
LOCAL_TARGET = "local"
INTERNAL_ERROR = 500

Reply = Callable[[Answer], Awaitable[None]]


class TooManyInFlight(RateLimited):
    default_detail = f"At most {MAX_IN_FLIGHT} requests may be in flight on one socket."


class Gateway:
    """The requests in flight on one socket (a `Session`), and where each goes."""

    def __init__(self, session):
        self.session = session
        self.in_flight = 0

    def submit(self, request: GatewayRequest, ref: str | None, reply: Reply, *, overhead: int = 0) -> None:
        """Start serving `request`; `reply` gets its answer. Raise a FrameError (with `ref`) to refuse it now.

        `overhead` is what the reply adds around the body, so an answer
        that would not fit in a frame becomes a 413.
        """
        try:
            target = self.check_target(request)
            if self.in_flight >= MAX_IN_FLIGHT:
                raise TooManyInFlight()
        except FrameError as exc:
            exc.ref = ref
            raise
        self.in_flight += 1
        self.session.tasks.spawn(self._serve(request, target, reply, overhead), "gateway-request")

    def check_target(self, request: GatewayRequest) -> str:
        """Return the target's name (`local` or a configured upstream); raise BadFrame for an unknown service."""
        if request.service is None:
            return LOCAL_TARGET
        if request.service not in conf.gateway_upstreams():
            raise BadFrame(f"unknown service {request.service!r}")
        return request.service

    async def _serve(self, request: GatewayRequest, target: str, reply: Reply, overhead: int) -> None:
        try:
            answer = fitted(await self._answer(request, target), conf.max_frame_bytes() - overhead)
        finally:
            self.in_flight -= 1
        metrics.record_gateway_request(target, answer.status)
        await reply(answer)

    async def _answer(self, request: GatewayRequest, target: str) -> Answer:
        try:
            if target == LOCAL_TARGET:
                return await self._local(request)
            return await upstream.call(request, conf.gateway_upstreams()[target], self._username(), _limit())
        except Exception:  # the boundary of one request: it answers 500, the socket and its events go on
            logger.exception("gateway request failed", extra={**self.session.log_context("gateway.failed")})
            return Answer.detail(INTERNAL_ERROR, "The request failed.")

    async def _local(self, request: GatewayRequest) -> Answer:
        response = await local.call_view(request, self.session.user, self.session.scope)
        return Answer(response.status_code, parse_body(response.content, response.get("Content-Type", "")))

    def _username(self) -> str:
        return self.session.user.get_username()


def _limit() -> int:
    return conf.max_frame_bytes()


def fitted(answer: Answer, room: int) -> Answer:
    """Return `answer`, or a 413 when its body, as compact JSON, needs more than `room` bytes."""
    if jsonsafe.encoded_size(answer.body) <= room:
        return answer
    return Answer.detail(
        upstream.TOO_LARGE, f"The response is larger than a frame may carry ({conf.max_frame_bytes()})"
    )
