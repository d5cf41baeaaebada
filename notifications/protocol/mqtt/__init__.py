"""MQTT 3.1.1 over WebSocket (PROTOCOL section 4.3): the wire format only, pure, no I/O.

`decoder.Decoder` turns client bytes (split or packed across WebSocket
messages) into `packets`, `encoder` builds what the server sends, `errors`
says why client bytes were refused. See docs/mqtt.md.
"""
