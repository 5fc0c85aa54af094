"""End-to-end fixtures: every test gets its own data dir and a fresh runtime
(the embedded runtime belongs to the test's event loop)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from wdk.runtime import config

HERE = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path) -> Iterator[Path]:
    config.reset()
    d = tmp_path / "wdk"
    config.configure(world="local", data_dir=d)
    yield d
    config.reset()


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """Environment for child processes that import the test flows."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), env.get("PYTHONPATH", "")) if p)
    return env
