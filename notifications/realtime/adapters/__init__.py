"""Protocol adapters: each speaks one wire protocol and drives a transport-neutral `session.Session`."""
