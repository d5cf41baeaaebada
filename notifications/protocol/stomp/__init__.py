"""STOMP 1.2 and 1.1 over WebSocket (PROTOCOL section 4.1): the wire format only, pure, no I/O.

`decoder` turns client bytes into frames, `frames.encode` turns frames into
bytes, `server_frames` builds what the server sends, `negotiation` agrees on
the version and the heart-beats. See docs/stomp.md.
"""
