"""wdk's metrics: counted in process, exposed as Prometheus text and, with
`pip install wdk[otel]`, through the OpenTelemetry metrics API.

Counting costs a dict update, with or without OpenTelemetry: the counters
are this module's own, so `GET /metrics` works without any extra installed.
When an SDK meter provider is set, `install_otel()` registers observable
instruments that read these same counters at each collection (nothing on the
hot path) and mirrors histogram observations.

    metrics.RUNS_COMPLETED.inc("shop:checkout")
    text = metrics.render()            # Prometheus text format 0.0.4
    text = metrics.render(openmetrics=True)

Each process counts what it did: Prometheus sums the workers' series.
"""

from __future__ import annotations

import functools
import math
from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import Any

__all__ = [
    "LEASES_HELD",
    "QUEUE_DEPTH",
    "QUEUE_LATENCY",
    "RUNS_ACTIVE",
    "RUNS_CANCELLED",
    "RUNS_COMPLETED",
    "RUNS_FAILED",
    "RUNS_STARTED",
    "STEP_ATTEMPTS",
    "STEP_DURATION",
    "STEP_RETRIES",
    "Counter",
    "Gauge",
    "Histogram",
    "install_otel",
    "render",
    "short_name",
]

_Labels = tuple[str, ...]


class _Metric:
    kind = ""

    def __init__(self, name: str, help: str, labels: tuple[str, ...], otel_name: str, unit: str = "") -> None:
        self.name = name  # the Prometheus family name (a counter's samples add `_total`)
        self.help = help
        self.labels = labels
        self.otel_name = otel_name
        self.unit = unit
        _REGISTRY.append(self)

    def _attrs(self, values: _Labels) -> dict[str, str]:
        return dict(zip(self.labels, values, strict=True))


class Counter(_Metric):
    kind = "counter"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.values: dict[_Labels, float] = {}

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        self.values[labels] = self.values.get(labels, 0.0) + amount

    def get(self, *labels: str) -> float:
        return self.values.get(labels, 0.0)


class Gauge(_Metric):
    """A value read when collected: `sources` are called for (labels, value) pairs."""

    kind = "gauge"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sources: list[Callable[[], Iterable[tuple[_Labels, float]]]] = []
        self.last: dict[_Labels, float] = {}  # set by whoever measured last (the queue depth)

    def samples(self) -> dict[_Labels, float]:
        out = dict(self.last)
        for source in list(self.sources):
            for labels, value in source():
                out[labels] = out.get(labels, 0.0) + value
        return out


# Seconds: from a millisecond step to a step of minutes.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
_NBUCKETS = len(BUCKETS)  # observed once per step attempt: not counted each time


class Histogram(_Metric):
    kind = "histogram"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.values: dict[_Labels, list[float]] = {}  # per bucket counts, then sum, then count
        self.otel: Any = None  # the mirrored OTel histogram, once installed

    def observe(self, value: float, *labels: str) -> None:
        row = self.values.get(labels)
        if row is None:
            row = self.values[labels] = [0.0] * (_NBUCKETS + 2)
        i = bisect_left(BUCKETS, value)  # the first bound >= value
        if i < _NBUCKETS:
            row[i] += 1
        row[-2] += value
        row[-1] += 1
        if self.otel is not None:
            self.otel.record(value, self._attrs(labels))


_REGISTRY: list[_Metric] = []

RUNS_STARTED = Counter("wdk_runs_started", "Runs started (created) by this process.", ("workflow",), "wdk.runs.started")
RUNS_COMPLETED = Counter("wdk_runs_completed", "Runs this process completed.", ("workflow",), "wdk.runs.completed")
RUNS_FAILED = Counter("wdk_runs_failed", "Runs this process ended failed.", ("workflow",), "wdk.runs.failed")
RUNS_CANCELLED = Counter("wdk_runs_cancelled", "Runs this process cancelled.", ("workflow",), "wdk.runs.cancelled")
STEP_ATTEMPTS = Counter(
    "wdk_step_attempts", "Step attempts run here, by outcome (completed, retrying, failed).",
    ("step", "outcome"), "wdk.step.attempts",
)
STEP_RETRIES = Counter("wdk_step_retries", "Step attempts that failed and will be retried.", ("step",), "wdk.step.retries")
STEP_DURATION = Histogram(
    "wdk_step_duration_seconds", "How long step attempts ran.", ("step",), "wdk.step.duration", "s"
)
QUEUE_LATENCY = Histogram(
    "wdk_queue_latency_seconds",
    "From when work was due to when a worker began it: a new run (kind=run), a retry (kind=retry).",
    ("kind",), "wdk.queue.latency", "s",
)
QUEUE_DEPTH = Gauge(
    "wdk_queue_depth", "Runs in the queue now: ready, scheduled (sleeps, back-offs), leased.",
    ("state",), "wdk.queue.depth",
)
LEASES_HELD = Gauge("wdk_leases_held", "Run leases this worker holds now.", ("worker",), "wdk.leases.held")
RUNS_ACTIVE = Gauge("wdk_runs_active", "Runs this worker is advancing now.", ("worker",), "wdk.runs.active")


@functools.lru_cache(maxsize=4096)
def short_name(function_id: str) -> str:
    """`workflow//shop.orders//checkout` -> `shop.orders:checkout` (a label value)."""
    parts = function_id.split("//")
    return f"{parts[1]}:{parts[2]}" if len(parts) == 3 else function_id


# --- Prometheus text ----------------------------------------------------------------------


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(names: Iterable[str], values: Iterable[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _num(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def render(*, openmetrics: bool = False) -> str:
    """Every metric in the Prometheus text format (or OpenMetrics 1.0)."""
    lines: list[str] = []
    for metric in _REGISTRY:
        family = metric.name
        if metric.kind == "counter" and not openmetrics:
            family += "_total"
        lines.append(f"# HELP {family} {metric.help}")
        lines.append(f"# TYPE {family} {metric.kind}")
        if openmetrics and metric.unit == "s":
            lines.append(f"# UNIT {family} seconds")
        if isinstance(metric, Counter):
            for labels, value in sorted(metric.values.items()):
                lines.append(f"{metric.name}_total{_labels(metric.labels, labels)} {_num(value)}")
        elif isinstance(metric, Gauge):
            for labels, value in sorted(metric.samples().items()):
                lines.append(f"{metric.name}{_labels(metric.labels, labels)} {_num(value)}")
        elif isinstance(metric, Histogram):
            for labels, row in sorted(metric.values.items()):
                cumulative = 0.0
                for bound, count in zip((*BUCKETS, math.inf), [*row[: len(BUCKETS)], 0.0], strict=True):
                    cumulative += count
                    if math.isinf(bound):
                        cumulative = row[-1]
                    le = f'le="{_num(bound)}"'
                    lines.append(f"{metric.name}_bucket{_labels(metric.labels, labels, le)} {_num(cumulative)}")
                lines.append(f"{metric.name}_count{_labels(metric.labels, labels)} {_num(row[-1])}")
                lines.append(f"{metric.name}_sum{_labels(metric.labels, labels)} {_num(row[-2])}")
    if openmetrics:
        lines.append("# EOF")
    return "\n".join(lines) + "\n"


# --- OpenTelemetry ------------------------------------------------------------------------------

_otel_provider: Any = None


def install_otel(provider: Any = None) -> bool:
    """Publish these metrics through `provider` (default: the global OTel
    meter provider), once per provider. False when opentelemetry is missing
    or no SDK provider is set."""
    global _otel_provider
    try:
        from opentelemetry import metrics as otel_metrics
    except ImportError:
        return False
    if provider is None:
        provider = otel_metrics.get_meter_provider()
    if provider is _otel_provider:
        return True
    # The API's default provider (a proxy until an SDK is set) records nothing.
    if isinstance(provider, otel_metrics.NoOpMeterProvider) or type(provider).__name__ == "_ProxyMeterProvider":
        return False
    meter = provider.get_meter("wdk")
    for metric in _REGISTRY:
        if isinstance(metric, Counter):
            meter.create_observable_counter(
                metric.otel_name, callbacks=[_observe_counter(metric)], description=metric.help
            )
        elif isinstance(metric, Gauge):
            meter.create_observable_gauge(
                metric.otel_name, callbacks=[_observe_gauge(metric)], description=metric.help
            )
        elif isinstance(metric, Histogram):
            metric.otel = meter.create_histogram(metric.otel_name, unit=metric.unit, description=metric.help)
    _otel_provider = provider
    return True


def _observe_counter(metric: Counter) -> Callable[[Any], Iterable[Any]]:
    from opentelemetry.metrics import Observation

    def callback(_options: Any) -> Iterable[Any]:
        return [Observation(value, metric._attrs(labels)) for labels, value in list(metric.values.items())]

    return callback


def _observe_gauge(metric: Gauge) -> Callable[[Any], Iterable[Any]]:
    from opentelemetry.metrics import Observation

    def callback(_options: Any) -> Iterable[Any]:
        return [Observation(value, metric._attrs(labels)) for labels, value in metric.samples().items()]

    return callback
