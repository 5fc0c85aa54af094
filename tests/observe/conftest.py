"""Operability fixtures: a fresh local world per test, the flows of
`observe_flows.py` on sys.path, and OpenTelemetry SDK providers whose spans
and metrics the tests read (in memory)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from wdk.runtime import config, tracing

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from observe_support import Traces  # noqa: E402 -- found through the path set just above


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.delenv("WDK_SERVER_URL", raising=False)
    config.reset()
    d = tmp_path / "wdk"
    config.configure(world="local", data_dir=d)
    yield d
    config.reset()


@pytest.fixture
def traces() -> Iterator[Traces]:
    """An SDK tracer provider exporting to memory, used by wdk (and by the
    flows' "instrumented HTTP client", observe_http) for this test."""
    import observe_http
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_provider(provider)
    observe_http.PROVIDER = provider
    try:
        yield Traces(provider, exporter)
    finally:
        tracing.use_provider(None)
        observe_http.PROVIDER = None
        provider.shutdown()
