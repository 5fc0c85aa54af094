"""Prometheus metrics at `GET /metrics` (wdk serve) and on `wdk worker
--metrics-port`, read with prometheus_client's parsers (the strict OpenMetrics
one too), whose counters match the runs done; and the same counters through
the OpenTelemetry metrics API."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import observe_flows
import pytest
from observe_support import HERE, ROOT

from wdk import WorkflowFailed
from wdk.api import configure, start
from wdk.runtime import metrics
from wdk.runtime.engine import get_runtime, shutdown_runtime
from wdk.server.app import start_server

CHECKOUT = "observe_flows:checkout"


def samples(text: str, *, openmetrics: bool = False) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value}, parsed by prometheus_client (strict for OpenMetrics)."""
    if openmetrics:
        from prometheus_client.openmetrics.parser import text_string_to_metric_families
    else:
        from prometheus_client.parser import text_string_to_metric_families
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(parsed: dict[Any, float], name: str, **labels: str) -> float:
    return parsed.get((name, tuple(sorted(labels.items()))), 0.0)


async def scrape(url: str, *, openmetrics: bool = False) -> tuple[str, str]:
    headers = {"accept": "application/openmetrics-text; version=1.0.0"} if openmetrics else {}
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as resp:
        assert resp.status == 200
        return resp.headers["content-type"], await resp.text()


async def test_wdk_serve_metrics_parse_and_count_the_runs_done() -> None:
    rt = await get_runtime()
    server = await start_server(port=0)
    try:
        _, text = await scrape(server.url + "/metrics")
        before = samples(text)
        done = [await start(observe_flows.checkout, f"o-{i}") for i in range(3)]
        bad = await start(observe_flows.refund, "o-9")
        nap = await start(observe_flows.nap)
        for run in done:
            await run.result(timeout=10)
        with pytest.raises(WorkflowFailed):
            await bad.result(timeout=10)
        while not await rt.world.list_waits(nap.id):
            await asyncio.sleep(0.02)
        await nap.cancel()

        content_type, text = await scrape(server.url + "/metrics")
        assert content_type.startswith("text/plain; version=0.0.4")
        after = samples(text)
        om_type, om_text = await scrape(server.url + "/metrics", openmetrics=True)
        assert om_type.startswith("application/openmetrics-text")
        strict = samples(om_text, openmetrics=True)
    finally:
        await server.close()
        await shutdown_runtime()

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("wdk_runs_started_total", workflow=CHECKOUT) == 3
    assert delta("wdk_runs_completed_total", workflow=CHECKOUT) == 3
    assert delta("wdk_runs_failed_total", workflow="observe_flows:refund") == 1
    assert delta("wdk_runs_cancelled_total", workflow="observe_flows:nap") == 1
    assert delta("wdk_step_attempts_total", step="observe_flows:charge", outcome="retrying") == 3
    assert delta("wdk_step_attempts_total", step="observe_flows:charge", outcome="completed") == 3
    assert delta("wdk_step_retries_total", step="observe_flows:charge") == 3
    assert delta("wdk_step_attempts_total", step="observe_flows:decline", outcome="failed") == 1
    assert delta("wdk_step_duration_seconds_count", step="observe_flows:reserve") == 3
    assert delta("wdk_queue_latency_seconds_count", kind="retry") == 3
    assert value(after, "wdk_step_duration_seconds_bucket", step="observe_flows:reserve", le="+Inf") == value(
        after, "wdk_step_duration_seconds_count", step="observe_flows:reserve"
    )
    assert {("wdk_queue_depth", (("state", s),)) for s in ("ready", "scheduled", "leased")} <= set(after)
    # The OpenMetrics rendering carries the same numbers.
    for key, number in after.items():
        if key[0].endswith("_total"):
            assert strict[key] == number, key


@pytest.mark.timeout(90)
async def test_worker_metrics_port_counts_what_that_worker_did(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("WDK_SERVER_URL", None)
    worker = subprocess.Popen(
        [sys.executable, "-m", "wdk", "worker", "--data-dir", str(data_dir), "--path", str(HERE),
         "--id", "metrics-1", "--metrics-port", "0"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        assert worker.stdout is not None
        banner = worker.stdout.readline().decode()
        assert banner.startswith("wdk worker"), banner
        match = re.search(r"metrics on (http://\S+/metrics)", worker.stdout.readline().decode())
        assert match, "no metrics line"
        url = match.group(1)
        configure(worker=False)
        await get_runtime()
        runs = [await start(observe_flows.checkout, f"w-{i}") for i in range(2)]
        for run in runs:
            await run.result(timeout=30)
        parsed = samples((await scrape(url))[1])
        strict = samples((await scrape(url, openmetrics=True))[1], openmetrics=True)
    finally:
        await shutdown_runtime()
        worker.terminate()
        worker.communicate(timeout=20)
    assert worker.returncode == 0
    for found in (parsed, strict):
        assert value(found, "wdk_runs_completed_total", workflow=CHECKOUT) == 2
        assert value(found, "wdk_runs_started_total", workflow=CHECKOUT) == 0  # started here, not there
        assert value(found, "wdk_step_attempts_total", step="observe_flows:charge", outcome="retrying") == 2
        assert value(found, "wdk_step_retries_total", step="observe_flows:charge") == 2
        assert value(found, "wdk_step_duration_seconds_count", step="observe_flows:ship") == 2
        assert ("wdk_leases_held", (("worker", "metrics-1"),)) in found
        assert value(found, "wdk_queue_depth", state="ready") == 0


async def test_the_counters_through_the_opentelemetry_metrics_api() -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    try:
        assert metrics.install_otel(provider)
        before = metrics.RUNS_COMPLETED.get(CHECKOUT)
        await get_runtime()
        try:
            run = await start(observe_flows.checkout, "m-1")
            await run.result(timeout=10)
        finally:
            await shutdown_runtime()
        data = reader.get_metrics_data()
        points: dict[str, list[Any]] = {}
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    points[metric.name] = list(metric.data.data_points)
        completed = {p.attributes["workflow"]: p.value for p in points["wdk.runs.completed"]}
        assert completed[CHECKOUT] == before + 1
        durations = {p.attributes["step"]: p.count for p in points["wdk.step.duration"]}
        assert durations["observe_flows:charge"] == 2  # mirrored since install: both attempts of this run
    finally:
        provider.shutdown()
        metrics.STEP_DURATION.otel = metrics.QUEUE_LATENCY.otel = None


def test_without_opentelemetry_installed_runs_and_metrics_work(data_dir: Path) -> None:
    """opentelemetry made unimportable (as when `wdk[otel]` is not installed):
    runs complete, nothing is traced, /metrics' text still counts them."""
    code = (
        "import sys; sys.modules['opentelemetry'] = None\n"  # `import opentelemetry` now raises ImportError
        "import asyncio, observe_flows\n"
        "from wdk.api import configure, start\n"
        "from wdk.runtime import metrics, tracing\n"
        "from wdk.runtime.engine import get_runtime, shutdown_runtime\n"
        f"configure(data_dir={str(data_dir)!r})\n"
        "async def main():\n"
        "    rt = await get_runtime()\n"
        "    run = await start(observe_flows.checkout, 'n-1')\n"
        "    assert await run.result(timeout=10) == ['reserved n-1', 'charged n-1', 'shipped n-1']\n"
        "    assert 'trace' not in (await rt.world.read_events(run.id, -1, 1))[0].payload\n"
        "    assert not tracing.active() and not metrics.install_otel()\n"
        "    await shutdown_runtime()\n"
        "asyncio.run(main())\n"
        "assert 'opentelemetry.trace' not in sys.modules\n"
        "print(metrics.render())\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT)])}
    env.pop("WDK_SERVER_URL", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    parsed = samples(out.stdout)
    assert value(parsed, "wdk_runs_completed_total", workflow=CHECKOUT) == 1
    assert value(parsed, "wdk_step_retries_total", step="observe_flows:charge") == 1
