"""The plugins carry the caller's trace into a run: the Flask request
thread's current span (the runtime runs in another thread), and an aiohttp
request's `traceparent` header."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from flows import basic

import wdk.plugins.aiohttp
from wdk.api import get_run, start
from wdk.runtime import tracing

pytest.importorskip("flask")
pytest.importorskip("opentelemetry.sdk")

from flask import Flask

import wdk.plugins.flask as wdk_flask
from wdk.plugins._threaded import background


@pytest.fixture
def exporter() -> Iterator[Any]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracing.use_provider(provider)
    memory.provider = provider
    try:
        yield memory
    finally:
        tracing.use_provider(None)
        provider.shutdown()


def test_a_flask_handler_s_span_is_the_parent_of_the_run_it_starts(exporter: Any) -> None:
    app = Flask(__name__)
    wdk_flask.setup(app)
    spans: dict[str, Any] = {}

    @app.post("/add")
    def add() -> dict[str, object]:
        # What opentelemetry-instrumentation-flask does: a span current in the handler.
        with exporter.provider.get_tracer("flask").start_as_current_span("POST /add") as span:
            spans["request"] = span
            run_id = wdk_flask.start(basic.three_steps, 1)
        return {"run_id": run_id, "result": wdk_flask.result(run_id, timeout=10)}

    try:
        run_id = app.test_client().post("/add").get_json()["run_id"]
        created = background.run(get_run(run_id).events())[0]
    finally:
        wdk_flask.stop()
    request = spans["request"].get_span_context()
    assert created.payload["trace"]["parent_id"] == f"{request.span_id:016x}"
    assert created.payload["trace"]["trace_id"] == f"{request.trace_id:032x}"
    (run_span,) = [s for s in exporter.get_finished_spans() if s.name.startswith("run ")]
    assert run_span.parent.span_id == request.span_id
    steps = [s for s in exporter.get_finished_spans() if s.name.startswith("step ")]
    assert len(steps) == 3 and {s.parent.span_id for s in steps} == {run_span.context.span_id}


async def test_an_aiohttp_request_s_traceparent_is_the_parent_of_the_run_it_starts(exporter: Any) -> None:
    async def place(request: web.Request) -> web.Response:
        run = await start(basic.three_steps, 2)
        return web.json_response({"run_id": run.id, "result": await run.result(timeout=10)})

    app = web.Application()
    app.router.add_post("/orders", place)
    wdk.plugins.aiohttp.setup(app)
    trace_id, span_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    async with TestClient(TestServer(app)) as client:
        resp = await client.post("/orders", headers={"traceparent": f"00-{trace_id}-{span_id}-01"})
        body = await resp.json()
        created = (await get_run(body["run_id"]).events())[0]
    assert created.payload["trace"]["parent_id"] == span_id
    (run_span,) = [s for s in exporter.get_finished_spans() if s.name.startswith("run ")]
    assert f"{run_span.context.trace_id:032x}" == trace_id
    assert f"{run_span.parent.span_id:016x}" == span_id
