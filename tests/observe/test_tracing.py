"""Traces with the OpenTelemetry SDK: a span per run (from start() to its end,
parented by the caller's span), a child span per step attempt, the step's
instrumented calls under its span; across processes and restarts, and no span
for replayed work."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import observe_flows
import pytest
from observe_support import HERE, ROOT, Traces

from wdk.api import configure, start
from wdk.runtime.engine import get_runtime, shutdown_runtime
from wdk.server.app import start_server


def _hex(value: int | None) -> str | None:
    return None if value is None else f"{value:016x}"


def _tree(spans: list[Any]) -> dict[str, Any]:
    """The spans as JSON-like dicts (the shape otel_worker.py writes)."""
    return {
        _hex(s.context.span_id): {
            "name": s.name,
            "trace_id": f"{s.context.trace_id:032x}",
            "span_id": _hex(s.context.span_id),
            "parent_id": _hex(s.parent.span_id) if s.parent else None,
            "attributes": dict(s.attributes or {}),
            "start": s.start_time,
            "end": s.end_time,
            "status": s.status.status_code.name,
        }
        for s in spans
    }


def check_checkout_tree(spans: list[dict[str, Any]], run_id: str, caller: dict[str, Any]) -> None:
    """One run span under `caller`; four step attempts under it (charge twice:
    a retried attempt, then a completed one); the HTTP call under `ship`."""
    runs = [s for s in spans if s["name"] == "run observe_flows:checkout"]
    assert len(runs) == 1, [s["name"] for s in spans]
    run = runs[0]
    assert run["parent_id"] == caller["span_id"]
    assert run["trace_id"] == caller["trace_id"]
    assert run["attributes"] == {
        "wdk.run_id": run_id, "wdk.workflow_id": "workflow//observe_flows//checkout", "wdk.status": "completed",
    }
    assert run["status"] == "UNSET"
    steps = sorted((s for s in spans if s["name"].startswith("step ")), key=lambda s: s["start"])
    got = [(s["name"], s["attributes"]["wdk.attempt"], s["attributes"]["wdk.outcome"]) for s in steps]
    assert got == [
        ("step observe_flows:reserve", 1, "completed"),
        ("step observe_flows:charge", 1, "retrying"),
        ("step observe_flows:charge", 2, "completed"),
        ("step observe_flows:ship", 1, "completed"),
    ]
    for step in steps:
        assert step["parent_id"] == run["span_id"], step
        assert step["trace_id"] == run["trace_id"]
        assert step["attributes"]["wdk.run_id"] == run_id
        assert step["attributes"]["wdk.workflow_id"] == "workflow//observe_flows//checkout"
        assert step["attributes"]["wdk.step_id"] == step["name"].replace("step observe_flows:", "step//observe_flows//")
        assert run["start"] <= step["start"] <= step["end"] <= run["end"]
    assert steps[1]["status"] == "ERROR" and steps[2]["status"] == "UNSET"
    assert steps[1]["attributes"]["wdk.correlation_id"] == steps[2]["attributes"]["wdk.correlation_id"]
    (http,) = [s for s in spans if s["name"] == "POST /shipments"]
    assert http["parent_id"] == steps[3]["span_id"]


async def test_three_steps_with_a_retry_make_one_tree_under_the_caller(traces: Traces) -> None:
    tracer = traces.provider.get_tracer("caller")
    await get_runtime()
    try:
        with tracer.start_as_current_span("POST /orders"):
            run = await start(observe_flows.checkout, "o-1")
        assert await run.result(timeout=10) == ["reserved o-1", "charged o-1", "shipped o-1"]
    finally:
        await shutdown_runtime()
    spans = _tree(traces.finished())
    (caller,) = [s for s in spans.values() if s["name"] == "POST /orders"]
    check_checkout_tree(list(spans.values()), run.id, caller)
    # The run span covers the run, from its creation (before the caller's span ended).
    created = (await _created(run.id))["at"]
    (run_span,) = [s for s in spans.values() if s["name"].startswith("run ")]
    assert run_span["start"] == int(created * 1e9)


async def _created(run_id: str) -> dict[str, Any]:
    rt = await get_runtime(consume=False)
    try:
        (event,) = await rt.world.read_events(run_id, -1, 1)
        return {"at": event.at, "payload": event.payload}
    finally:
        await shutdown_runtime()


async def test_a_failed_run_and_a_cancelled_run_end_their_spans_with_an_error(traces: Traces) -> None:
    rt = await get_runtime()
    try:
        bad = await start(observe_flows.refund, "o-2")
        nap = await start(observe_flows.nap)
        with pytest.raises(Exception, match="card declined"):
            await bad.result(timeout=10)
        while not await rt.world.list_waits(nap.id):
            await asyncio.sleep(0.02)
        await nap.cancel()
    finally:
        await shutdown_runtime()
    by_run = {s.attributes["wdk.run_id"]: s for s in traces.finished() if s.name.startswith("run ")}
    assert by_run[bad.id].attributes["wdk.status"] == "failed"
    assert by_run[bad.id].status.status_code.name == "ERROR"
    assert "card declined" in (by_run[bad.id].status.description or "")
    assert by_run[nap.id].attributes["wdk.status"] == "cancelled"
    assert by_run[nap.id].parent is None  # no caller span: a root


async def test_no_span_for_replayed_work(traces: Traces) -> None:
    """A run restarted mid-sleep replays its first step from the log: that
    step's span exists once, and one run span is emitted at the end."""
    await get_runtime()
    run = await start(observe_flows.pause, "o-3")
    rt = await get_runtime()
    while not await rt.world.list_waits(run.id):
        await asyncio.sleep(0.02)
    await shutdown_runtime()  # the next runtime replays the run from its log (a cold start)
    await get_runtime()
    try:
        assert await run.result(timeout=10) == ["reserved o-3", "shipped o-3"]
    finally:
        await shutdown_runtime()
    names = sorted(s.name for s in traces.finished() if s.attributes.get("wdk.run_id") == run.id)
    assert names == ["run observe_flows:pause", "step observe_flows:reserve", "step observe_flows:ship"]


async def test_traceparent_through_wdk_serve(traces: Traces, monkeypatch: pytest.MonkeyPatch) -> None:
    """A client of `wdk serve` sends its span as `traceparent`; the run is its child."""
    monkeypatch.setenv("WDK_API_TOKEN", "tracing-test-token")  # what this process's HttpClient sends
    await get_runtime()
    server = await start_server(port=0, api_token="tracing-test-token")
    try:
        configure(server_url=server.url)
        with traces.provider.get_tracer("caller").start_as_current_span("client") as span:
            run = await start(observe_flows.checkout, "o-4")
        await run.result(timeout=10)
        configure(server_url="")
    finally:
        await server.close()
        await shutdown_runtime()
    spans = _tree(traces.finished())
    caller = spans[_hex(span.get_span_context().span_id)]
    check_checkout_tree(list(spans.values()), run.id, caller)


async def test_without_a_tracer_provider_nothing_is_recorded_and_runs_carry_no_trace() -> None:
    await get_runtime()
    try:
        run = await start(observe_flows.checkout, "o-5")
        await run.result(timeout=10)
    finally:
        await shutdown_runtime()
    assert "trace" not in (await _created(run.id))["payload"]


@pytest.mark.timeout(90)
async def test_steps_in_a_worker_process_nest_under_the_run_started_here(
    traces: Traces, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """This process only starts the run (under its span); a `wdk worker`
    process runs every step and ends the run, exporting its spans to a file."""
    spans_file = tmp_path / "spans.jsonl"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "SPANS_FILE": str(spans_file),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("WDK_SERVER_URL", None)
    worker = subprocess.Popen(
        [sys.executable, str(HERE / "otel_worker.py"), "worker", "--data-dir", str(data_dir), "--path", str(HERE)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        assert worker.stdout is not None
        banner = worker.stdout.readline().decode()
        assert banner.startswith("wdk worker"), (banner, worker.stderr.read().decode() if worker.stderr else "")
        configure(worker=False)  # this process starts and follows the run; the worker runs it
        await get_runtime()
        with traces.provider.get_tracer("caller").start_as_current_span("POST /orders") as span:
            run = await start(observe_flows.checkout, "o-6")
        assert await run.result(timeout=30) == ["reserved o-6", "charged o-6", "shipped o-6"]
    finally:
        await shutdown_runtime()
        worker.terminate()
        worker.communicate(timeout=20)
    here = _tree(traces.finished())
    caller = here[_hex(span.get_span_context().span_id)]
    assert [s["name"] for s in here.values()] == ["POST /orders"]  # nothing ran here
    there = [json.loads(line) for line in spans_file.read_text().splitlines()]
    assert {s["pid"] for s in there} == {worker.pid}
    check_checkout_tree(there, run.id, caller)
