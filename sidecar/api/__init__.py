"""The HTTP API (Litestar): app factory, routes, error mapping."""
