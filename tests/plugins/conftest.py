"""Plugin fixtures: a fresh data dir per test (as in tests/e2e), the e2e flows
and the server tests' helpers on sys.path."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from wdk.runtime import config

HERE = Path(__file__).resolve().parent
for _path in (HERE.parent / "e2e", HERE.parent / "server", HERE):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.delenv("WDK_SERVER_URL", raising=False)
    monkeypatch.setenv("WDK_BASE_URL", "http://testserver")
    config.reset()
    d = tmp_path / "wdk"
    config.configure(world="local", data_dir=d)
    yield d
    config.reset()
