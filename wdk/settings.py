"""wdk's configuration: one frozen `Settings`, read from the `WDK_*`
environment variables and what `wdk.api.configure()` set on top of them.

    settings = current_settings()     # the environment now, plus configure()
    settings.lease_seconds            # 10.0, or WDK_LEASE_SECONDS

A runtime takes the settings when it starts (once per event loop) and hands
them to what it builds (its world, its orchestrator): a new loop sees
changes made since. Nothing else in wdk reads a `WDK_*` variable.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

__all__ = ["DEFAULT_BASE_URL", "DivergencePolicy", "Settings", "current_settings", "generation", "secret_from_env"]

DEFAULT_BASE_URL = "http://127.0.0.1:3000"
# What a run whose history no longer replays becomes (docs/deploys.md).
DivergencePolicy = Literal["block", "fail"]


@dataclass(frozen=True)
class Settings:
    """Every setting, with its `WDK_*` variable and its default."""

    world: str = "local"  # WDK_WORLD: "local" or "postgres"
    data_dir: str = ".wdk"  # WDK_DATA_DIR: the local world's folder
    sqlite_synchronous: str | None = None  # WDK_SQLITE_SYNCHRONOUS: NORMAL (default) or FULL
    postgres_url: str | None = None  # WDK_POSTGRES_URL
    postgres_schema: str | None = None  # WDK_POSTGRES_SCHEMA (default "wdk")
    postgres_pool: int = 10  # WDK_POSTGRES_POOL: connections of a process's pool (besides LISTEN, leases)
    server_url: str | None = None  # WDK_SERVER_URL: wdk.api talks to that `wdk serve`
    worker: bool = True  # WDK_EMBEDDED_WORKER (0: this process only starts and follows runs)
    concurrency: int = 100  # WDK_CONCURRENCY: runs advanced at once
    warm_runs: int = 1000  # WDK_WARM_RUNS: live workflow instances kept per process
    step_threads: int | None = None  # WDK_STEP_THREADS: plain `def` steps at once (default cpus + 4, <= 32)
    lease_seconds: float = 10.0  # WDK_LEASE_SECONDS: how long a dead or frozen worker keeps its runs
    reconcile_seconds: float = 30.0  # WDK_RECONCILE_SECONDS: between passes of the reconciler
    load_retry: float = 2.0  # WDK_LOAD_RETRY: first retry of a run whose code cannot load
    max_recoveries: int = 20  # WDK_MAX_RECOVERIES: restarts of one attempt after its worker died
    secret: str | None = None  # WDK_SECRET: signs the flow and step endpoints
    base_url: str = DEFAULT_BASE_URL  # WDK_BASE_URL: where webhook URLs point
    webhook_max_bytes: int = 1 << 20  # WDK_WEBHOOK_MAX_BYTES
    webhook_response_timeout: float = 30.0  # WDK_WEBHOOK_RESPONSE_TIMEOUT: seconds for respond_with
    sandbox_passthrough: tuple[str, ...] = ()  # WDK_SANDBOX_PASSTHROUGH: "a,b": more importable modules
    schedules: bool = True  # WDK_SCHEDULES (0: a consuming runtime here fires no wdk.schedule)
    on_divergence: DivergencePolicy = "block"  # WDK_ON_DIVERGENCE: "block" (wait for code that replays) or "fail"
    api_token: str | None = None  # WDK_API_TOKEN: the JSON API's and the web UI's credential
    allowed_hosts: tuple[str, ...] = ()  # WDK_ALLOWED_HOSTS: "a.example.com,b": Host/Origin names served
    max_payload_bytes: int = 16 << 20  # WDK_MAX_PAYLOAD_BYTES: one argument list, result, payload or chunk
    encryption_keys: str | None = None  # WDK_ENCRYPTION_KEYS: "k2:<base64 32 bytes>,k1:...", first active
    webhook_guesses: int = 30  # WDK_WEBHOOK_GUESSES: unknown webhook tokens per client per minute
    otel: bool = True  # WDK_OTEL (0: no spans or OTel metrics even with opentelemetry set up)
    log_format: str = "text"  # WDK_LOG_FORMAT: "text" or "json" (the log lines of wdk's commands)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings the `WDK_*` variables give (unset or empty: the default)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            raw = env.get(_VARIABLES[field.name], "").strip()
            if raw:
                values[field.name] = _parse(field.name, raw)
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


_VARIABLES = {
    "world": "WDK_WORLD",
    "data_dir": "WDK_DATA_DIR",
    "sqlite_synchronous": "WDK_SQLITE_SYNCHRONOUS",
    "postgres_url": "WDK_POSTGRES_URL",
    "postgres_schema": "WDK_POSTGRES_SCHEMA",
    "postgres_pool": "WDK_POSTGRES_POOL",
    "server_url": "WDK_SERVER_URL",
    "worker": "WDK_EMBEDDED_WORKER",
    "concurrency": "WDK_CONCURRENCY",
    "warm_runs": "WDK_WARM_RUNS",
    "step_threads": "WDK_STEP_THREADS",
    "lease_seconds": "WDK_LEASE_SECONDS",
    "reconcile_seconds": "WDK_RECONCILE_SECONDS",
    "load_retry": "WDK_LOAD_RETRY",
    "max_recoveries": "WDK_MAX_RECOVERIES",
    "secret": "WDK_SECRET",
    "base_url": "WDK_BASE_URL",
    "webhook_max_bytes": "WDK_WEBHOOK_MAX_BYTES",
    "webhook_response_timeout": "WDK_WEBHOOK_RESPONSE_TIMEOUT",
    "sandbox_passthrough": "WDK_SANDBOX_PASSTHROUGH",
    "schedules": "WDK_SCHEDULES",
    "on_divergence": "WDK_ON_DIVERGENCE",
    "api_token": "WDK_API_TOKEN",
    "allowed_hosts": "WDK_ALLOWED_HOSTS",
    "max_payload_bytes": "WDK_MAX_PAYLOAD_BYTES",
    "encryption_keys": "WDK_ENCRYPTION_KEYS",
    "webhook_guesses": "WDK_WEBHOOK_GUESSES",
    "otel": "WDK_OTEL",
    "log_format": "WDK_LOG_FORMAT",
}
DIVERGENCE_POLICIES = ("block", "fail")
_INTS = {
    "concurrency", "warm_runs", "step_threads", "max_recoveries", "webhook_max_bytes", "postgres_pool",
    "max_payload_bytes", "webhook_guesses",
}
_FLOATS = {"lease_seconds", "reconcile_seconds", "load_retry", "webhook_response_timeout"}


def _parse(name: str, raw: str) -> Any:
    variable = _VARIABLES[name]
    if name in ("worker", "schedules", "otel"):
        return raw != "0"
    if name == "log_format":
        if raw.lower() not in ("text", "json"):
            raise ValueError(f"{variable} must be text or json, not {raw!r}")
        return raw.lower()
    if name == "world":
        return raw.lower()
    if name == "on_divergence":
        return check_divergence_policy(raw.lower(), variable)
    if name == "step_threads":
        return int(raw) or None  # 0: the default
    if name in ("sandbox_passthrough", "allowed_hosts"):
        return tuple(dict.fromkeys(n.strip() for n in raw.split(",") if n.strip()))
    try:
        if name in _INTS:
            return int(raw)
        if name in _FLOATS:
            return float(raw)
    except ValueError:
        kind = "an integer" if name in _INTS else "a number"
        raise ValueError(f"{variable} must be {kind}, not {raw!r}") from None
    return raw


def check_divergence_policy(value: str, where: str = "on_divergence") -> DivergencePolicy:
    if value not in DIVERGENCE_POLICIES:
        raise ValueError(f"{where} must be 'block' or 'fail', not {value!r}")
    return cast(DivergencePolicy, value)


# What `configure()` set (wdk.runtime.config), over the environment.
_overrides: dict[str, Any] = {}
_generation = 0


def current_settings() -> Settings:
    """The environment as it is now, with `configure()`'s values on top."""
    settings = Settings.from_env()
    return settings.replace(**_overrides) if _overrides else settings


def generation() -> int:
    """Changes whenever `configure()` does: what was chosen from older settings
    (the client of an event loop) is chosen again."""
    return _generation


def set_overrides(**values: Any) -> None:
    """Record `configure()`'s values (its caller checks their names and types)."""
    global _generation
    _generation += 1
    _overrides.update(values)


def clear_overrides() -> None:
    """Forget every `configure()` call (tests)."""
    global _generation
    _generation += 1
    _overrides.clear()


def secret_from_env(name: str) -> str | None:
    """A credential read when it is used (an AI model's API key, in its step):
    never kept in `Settings`, so never stored with a step's arguments or logged."""
    value = os.environ.get(name, "").strip()
    return value or None
