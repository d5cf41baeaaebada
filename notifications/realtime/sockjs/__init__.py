"""SockJS 0.3.3 (PROTOCOL section 4.2): the section-1 JSON and the STOMP protocols over SockJS sessions.

`endpoints` names the protocol behind each URL, `bridge` drives a protocol
adapter over a SockJS session, `sessions` holds the sessions of this
process, `relay` reaches a session held by another instance through the
channel layer, `http` serves the HTTP transports and `websocket` the
websocket one. docs/sockjs.md describes the design.
"""
