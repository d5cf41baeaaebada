"""REST over the socket (PROTOCOL section 5.1): `request` frames run this service's views or call an upstream.

`dispatch.py` bounds and supervises one socket's requests; `local.py` runs a
view in process as the socket's user; `upstream.py` calls a configured
service over HTTP with a JWT from `signing.py`.
"""
