"""The cookie session of a WebSocket handshake, read only for a socket that may authenticate by it.

channels' `AuthMiddlewareStack` parses the cookies, builds the Django
session and reads its user (a thread hop) for every handshake, and each of
its layers keeps its own copy of the scope for as long as the socket lives.
A handshake that carries a ticket or a token never authenticates by its
cookie (`authentication.authenticate` tries the ticket, then the token, and
the session only without either), so it skips the stack.
"""

from notifications.realtime.authentication import carried_credential


class SessionUnlessCredential:
    """ASGI middleware: `session_stack(application)` for a handshake without a ticket or token, else `application`.

    It returns the awaitable of the one it picks, so an open socket keeps no frame of this layer.
    """

    _asgi_single_callable = True

    def __init__(self, application, session_stack):
        self.application = application
        self.with_session = session_stack(application)

    def __call__(self, scope, receive, send):
        if carried_credential(scope):
            return self.application(scope, receive, send)
        return self.with_session(scope, receive, send)
