"""The HTTP API: the FastAPI app, its routers and request limits."""
