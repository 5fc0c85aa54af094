"""Server fixtures: a fresh data dir per test (as in tests/e2e), the e2e
flows on sys.path, and a real server on 127.0.0.1 at a free port that runs
in the test's own event loop (so `wdk.api` calls in the test share its runtime)."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from support import SECRET, TOKEN

from wdk.runtime import config
from wdk.server.app import Server, start_server

HERE = Path(__file__).resolve().parent
E2E = HERE.parent / "e2e"
for _path in (str(E2E), str(HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)



@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path) -> Iterator[Path]:
    config.reset()
    d = tmp_path / "wdk"
    config.configure(world="local", data_dir=d)
    yield d
    config.reset()


@pytest.fixture
async def server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Server]:
    monkeypatch.delenv("WDK_SERVER_URL", raising=False)
    monkeypatch.setenv("WDK_API_TOKEN", TOKEN)  # what this process's HttpClient sends
    srv = await start_server("127.0.0.1", 0, secret=SECRET, webhook_max_bytes=64 * 1024, api_token=TOKEN)
    monkeypatch.setenv("WDK_BASE_URL", srv.url)
    try:
        yield srv
    finally:
        await srv.close()


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(E2E), str(HERE), env.get("PYTHONPATH", "")) if p)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["WDK_API_TOKEN"] = TOKEN
    return env
