"""`wdk worker` in a process whose OpenTelemetry SDK writes each finished
span as one JSON line to $SPANS_FILE: how the tests see spans made in a
worker process. Arguments are `wdk`'s (`otel_worker.py worker --data-dir ...`)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult


class JsonLines(SpanExporter):
    def __init__(self, path: str) -> None:
        self.path = path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with open(self.path, "a", encoding="utf-8") as f:
            for span in spans:
                f.write(json.dumps(as_json(span)) + "\n")
        return SpanExportResult.SUCCESS


def as_json(span: ReadableSpan) -> dict[str, Any]:
    assert span.context is not None
    return {
        "name": span.name,
        "trace_id": f"{span.context.trace_id:032x}",
        "span_id": f"{span.context.span_id:016x}",
        "parent_id": f"{span.parent.span_id:016x}" if span.parent else None,
        "attributes": dict(span.attributes or {}),
        "start": span.start_time,
        "end": span.end_time,
        "status": span.status.status_code.name,
        "pid": os.getpid(),
    }


def main() -> int:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(JsonLines(os.environ["SPANS_FILE"])))
    trace.set_tracer_provider(provider)  # the global one: what wdk and instrumentations use

    import observe_http

    observe_http.PROVIDER = provider
    from wdk.cli.main import main as wdk_main

    return wdk_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
