"""Agent fixtures: a fresh local world per test, the flows in `agent_flows.py`
on sys.path, a tool ledger, an API key in the environment, and `fake`: a
fake model server of either API (see wdk.ai.fake) on 127.0.0.1."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from wdk.ai.fake import FakeModelServer
from wdk.runtime import config

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from ai_support import API_KEY  # noqa: E402 - found through the path just set


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.delenv("WDK_SERVER_URL", raising=False)
    monkeypatch.setenv("FAKE_AI_KEY", API_KEY)
    monkeypatch.setenv("AI_LEDGER", str(tmp_path / "ledger.jsonl"))
    config.reset()
    d = tmp_path / "wdk"
    config.configure(world="local", data_dir=d)
    yield d
    config.reset()


@pytest.fixture
def ledger(tmp_path: Path) -> Any:
    """The tools that ran, in order: [{"tool": ..., args...}]."""

    def read() -> list[dict[str, Any]]:
        path = tmp_path / "ledger.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    return read


def _pg_support() -> Any:
    """tests/worlds/pg_support.py (shared with the e2e tests under its own name)."""
    if "pg_support" in sys.modules:
        return sys.modules["pg_support"]
    spec = importlib.util.spec_from_file_location("pg_support", HERE.parent / "worlds" / "pg_support.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["pg_support"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(params=["local", "postgres"])
async def runtime(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """This loop's runtime (it advances the runs), on each world: postgres in
    a schema of the test's own (skipped, saying why, without a server)."""
    from wdk.runtime.engine import get_runtime, shutdown_runtime

    url = schema = None
    if request.param == "postgres":
        pg = _pg_support()
        url, schema = pg.require_postgres(), pg.unique_schema()
        config.configure(world="postgres", url=url, schema=schema)
    rt = await get_runtime(consume=True)
    world = rt.world
    while hasattr(world, "inner"):  # the payload wrappers (blobs, encryption)
        world = world.inner
    assert type(world).__name__ == ("PostgresWorld" if url else "LocalWorld")
    try:
        yield rt
    finally:
        await shutdown_runtime()
        if url is not None:
            await _pg_support().drop_schema(url, schema)


class Fake:
    """Starts FakeModelServers and closes them after the test."""

    def __init__(self) -> None:
        self.servers: list[FakeModelServer] = []

    async def __call__(self, api: str, script: Any) -> tuple[FakeModelServer, str]:
        server = FakeModelServer(script)
        await server.start()
        self.servers.append(server)
        return server, (server.base_url if api == "openai" else server.url)


@pytest.fixture
async def fake() -> AsyncIterator[Fake]:
    made = Fake()
    try:
        yield made
    finally:
        for server in made.servers:
            await server.close()
