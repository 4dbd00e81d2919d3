"""Pure ASGI middleware, one file each."""
