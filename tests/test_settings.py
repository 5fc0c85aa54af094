"""One frozen Settings: the WDK_* variables, with configure() on top, read
when a runtime starts and handed to what it builds."""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from wdk.api import configure
from wdk.runtime import config
from wdk.runtime.engine import get_runtime, shutdown_runtime
from wdk.settings import Settings, current_settings

ROOT = Path(__file__).resolve().parent.parent / "wdk"


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in list(__import__("os").environ):
        if name.startswith("WDK_"):
            monkeypatch.delenv(name)
    config.reset()
    yield
    config.reset()


def test_every_variable_is_read_with_its_type() -> None:
    env = {
        "WDK_WORLD": " Postgres ", "WDK_DATA_DIR": "/srv/wdk", "WDK_SQLITE_SYNCHRONOUS": "FULL",
        "WDK_POSTGRES_URL": "postgresql://h/db", "WDK_POSTGRES_SCHEMA": "tenant",
        "WDK_SERVER_URL": "http://h:3000", "WDK_EMBEDDED_WORKER": "0", "WDK_CONCURRENCY": "7",
        "WDK_WARM_RUNS": "3", "WDK_STEP_THREADS": "5", "WDK_LEASE_SECONDS": "2.5",
        "WDK_RECONCILE_SECONDS": "9", "WDK_LOAD_RETRY": "0.5", "WDK_MAX_RECOVERIES": "4",
        "WDK_SECRET": "s3", "WDK_BASE_URL": "https://app.example.com",
        "WDK_WEBHOOK_MAX_BYTES": "16", "WDK_WEBHOOK_RESPONSE_TIMEOUT": "1.5",
        "WDK_SANDBOX_PASSTHROUGH": " pydantic , httpx,pydantic", "WDK_ON_DIVERGENCE": "Fail",
        "WDK_API_TOKEN": "tok", "WDK_ALLOWED_HOSTS": "a.example, b", "WDK_MAX_PAYLOAD_BYTES": "1024",
        "WDK_ENCRYPTION_KEYS": "k1:AAAA", "WDK_WEBHOOK_GUESSES": "5",
        "WDK_OTEL": "0", "WDK_LOG_FORMAT": "JSON",
    }
    assert Settings.from_env(env) == Settings(
        world="postgres", data_dir="/srv/wdk", sqlite_synchronous="FULL", postgres_url="postgresql://h/db",
        postgres_schema="tenant", server_url="http://h:3000", worker=False, concurrency=7, warm_runs=3,
        step_threads=5, lease_seconds=2.5, reconcile_seconds=9.0, load_retry=0.5, max_recoveries=4,
        secret="s3", base_url="https://app.example.com", webhook_max_bytes=16,
        webhook_response_timeout=1.5, sandbox_passthrough=("pydantic", "httpx"), on_divergence="fail",
        api_token="tok", allowed_hosts=("a.example", "b"), max_payload_bytes=1024,
        encryption_keys="k1:AAAA", webhook_guesses=5,
        otel=False, log_format="json",
    )
    assert Settings.from_env({}) == Settings()
    assert Settings.from_env({"WDK_EMBEDDED_WORKER": "1", "WDK_STEP_THREADS": "0", "WDK_DATA_DIR": ""}) == Settings()
    with pytest.raises(ValueError, match="WDK_LEASE_SECONDS must be a number, not 'soon'"):
        Settings.from_env({"WDK_LEASE_SECONDS": "soon"})
    with pytest.raises(ValueError, match="WDK_ON_DIVERGENCE must be 'block' or 'fail'"):
        Settings.from_env({"WDK_ON_DIVERGENCE": "retry"})
    with pytest.raises(ValueError, match="WDK_LOG_FORMAT must be text or json"):
        Settings.from_env({"WDK_LOG_FORMAT": "xml"})


def test_settings_are_frozen_and_configure_takes_typed_keywords_only() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        current_settings().lease_seconds = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        configure(lease_secs=1.0)  # type: ignore[call-arg]  # a typo is an error, not an ignored option


def test_configure_is_over_the_environment_until_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WDK_LEASE_SECONDS", "12")
    monkeypatch.setenv("WDK_CONCURRENCY", "8")
    configure(lease_seconds=3.0, url="postgresql://h/db", schema="s", server_url="")
    now = current_settings()
    assert (now.lease_seconds, now.concurrency, now.postgres_url, now.postgres_schema) == (3.0, 8, "postgresql://h/db", "s")
    assert now.server_url == ""  # explicitly none: this process's runtime
    config.reset()
    assert current_settings().lease_seconds == 12.0


async def test_a_runtime_takes_the_settings_when_it_starts_and_hands_them_down(tmp_path: Path) -> None:
    configure(data_dir=tmp_path / "wdk", concurrency=3, warm_runs=2, lease_seconds=4.0, worker=False)
    rt = await get_runtime()
    try:
        assert rt.settings.data_dir == str(tmp_path / "wdk")
        assert (rt.concurrency, rt.orchestrator.cache_size, rt.orchestrator.settings) == (3, 2, rt.settings)
        assert str(getattr(rt.world, "data_dir", "")) == str(tmp_path / "wdk")
        assert rt.consumer_status()[0] is None  # worker=False: no queue consumer
        configure(concurrency=9)
        assert rt.settings.concurrency == 3  # this loop's runtime keeps what it started with
    finally:
        await shutdown_runtime()
    rt = await get_runtime()
    try:
        assert rt.concurrency == 9  # a new runtime reads afresh
    finally:
        await shutdown_runtime()


def _environment_reads(path: Path) -> list[int]:
    """Lines of `path` that read os.environ / os.getenv."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv") and \
                isinstance(node.value, ast.Name) and node.value.id == "os":
            lines.append(node.lineno)
    return lines


def test_no_module_but_settings_reads_the_environment() -> None:
    """Writes for child processes (`wdk dev`, `wdk serve`) are the only other uses."""
    allowed = {"settings.py", "cli/dev.py", "cli/serve.py"}
    found = {
        str(p.relative_to(ROOT)): lines
        for p in sorted(ROOT.rglob("*.py"))
        if str(p.relative_to(ROOT)) not in allowed and (lines := _environment_reads(p))
    }
    assert found == {}
    assert _environment_reads(ROOT / "settings.py")  # the control: the reader finds it there
