"""Stands in for an instrumented HTTP client: a span under whatever span is
current, made with the tracer provider the test (or the worker) set here.
A plain module (no directives): the flows' step code shares this one."""

from __future__ import annotations

from typing import Any

PROVIDER: Any = None


def post(path: str) -> None:
    if PROVIDER is not None:
        with PROVIDER.get_tracer("http-client").start_as_current_span(f"POST {path}"):
            pass
