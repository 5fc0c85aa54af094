"""Web framework integrations (docs/frameworks.md): `starlette` (FastAPI too),
`flask`, `django`, `aiohttp`. Each is imported on its own; none is imported by `wdk`."""
