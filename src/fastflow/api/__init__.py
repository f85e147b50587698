"""The HTTP interface: REST routers under /api, OpenAPI at /docs."""
