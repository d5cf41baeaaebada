"""The demo worker: a stand-in backend service that drives requests over the public REST API."""
