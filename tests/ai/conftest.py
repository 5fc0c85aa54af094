"""Agent fixtures: a fresh local world per test, the flows in `agent_flows.py`
on sys.path, a tool ledger, an API key in the environment, and `fake`: a
fake model server of either API (see wdk.ai.fake) on 127.0.0.1."""

from __future__ import annotations

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


@pytest.fixture
async def runtime() -> AsyncIterator[Any]:
    from wdk.runtime.engine import get_runtime, shutdown_runtime

    rt = await get_runtime(consume=True)
    try:
        yield rt
    finally:
        await shutdown_runtime()


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
