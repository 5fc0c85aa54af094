"""End-to-end fixtures: every test runs once per world, with a fresh store and
a fresh runtime (the embedded runtime belongs to the test's event loop).

- local: its own data dir (`data_dir`).
- postgres: its own schema on the test server (see `tests/worlds/conftest.py`
  for the URL), dropped afterwards; skipped, saying why, without a server.
  WDK_WORLD / WDK_POSTGRES_URL / WDK_POSTGRES_SCHEMA are set, so child
  processes (`subprocess_env`) use the same schema, and the subprocess
  helpers' "open the local world on data_dir" opens that schema instead.

Markers: `local_only("why")` (the test opens the SQLite file, ...) and
`postgres_only` pick one world; `private_postgres` runs the postgres world on
a cluster of the test's own (`private_cluster` fixture, see
`pg_support.private_cluster`), for tests that stop or restart the server: the
shared one must stay up for the tests running beside them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import e2e_support
import pytest

from wdk.runtime import config
from wdk.worlds import World

HERE = Path(__file__).resolve().parent
WORLD_NAMES = ("local", "postgres")
# A SIGKILLed process's runs are leased this long on postgres (there is no
# dead-pid check there): short, so the tests that kill one do not wait 30 s.
CHILD_LEASE_SECONDS = "1.5"


def _pg_support() -> ModuleType:
    """tests/worlds/pg_support.py: the test server's URL, its probe, schema helpers
    (registered under its own name, so the worlds folder shares this copy)."""
    import sys

    if "pg_support" in sys.modules:
        return sys.modules["pg_support"]
    spec = importlib.util.spec_from_file_location("pg_support", HERE.parent / "worlds" / "pg_support.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["pg_support"] = module
    spec.loader.exec_module(module)
    return module


worlds = _pg_support()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "local_only(reason): run on the local world only")
    config.addinivalue_line("markers", "postgres_only: run on the postgres world only")
    config.addinivalue_line(
        "markers", "private_postgres: postgres on a cluster of the test's own (it stops it)"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "e2e_world" not in metafunc.fixturenames:
        return
    names: tuple[str, ...] = WORLD_NAMES
    if metafunc.definition.get_closest_marker("local_only"):
        names = ("local",)
    elif metafunc.definition.get_closest_marker("postgres_only"):
        names = ("postgres",)
    metafunc.parametrize("e2e_world", names, indirect=True)


def _in_thread(coro: Any) -> Any:
    # A thread of its own: pytest-asyncio's loop may still be around.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture(autouse=True)
def e2e_world(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The world this test runs on, configured for the process and its children."""
    name: str = request.param
    config.reset()
    if name == "local":
        config.configure(world="local", data_dir=tmp_path / "wdk")
        yield name
        config.reset()
        return
    if request.node.get_closest_marker("private_postgres"):
        url = request.getfixturevalue("private_cluster").url
    else:
        url = worlds.require_postgres()
    schema = worlds.unique_schema()
    monkeypatch.setenv("WDK_WORLD", "postgres")
    monkeypatch.setenv("WDK_POSTGRES_URL", url)
    monkeypatch.setenv("WDK_POSTGRES_SCHEMA", schema)
    monkeypatch.setenv("WDK_LEASE_SECONDS", CHILD_LEASE_SECONDS)
    # Small pools: a test may run several worker processes, beside the other
    # tests' on one server of 100 connections (every call takes one connection).
    monkeypatch.setenv("WDK_POSTGRES_POOL", os.environ.get("WDK_POSTGRES_POOL", "4"))
    monkeypatch.setattr(e2e_support, "create_world", _schema_world)
    config.configure(world="postgres", url=url, schema=schema)
    try:
        yield name
    finally:
        config.reset()
        _in_thread(worlds.drop_schema(url, schema))


@pytest.fixture
def private_cluster() -> Iterator[Any]:
    """A PostgreSQL cluster of this test's own (skipped, saying why, without initdb)."""
    with worlds.private_cluster() as cluster:
        yield cluster


def _schema_world(_name: str | None = None, **_options: Any) -> World:
    """The helpers' world: this test's postgres schema (from the environment)."""
    from wdk.worlds.postgres import PostgresWorld

    return PostgresWorld()


@pytest.fixture
def data_dir(e2e_world: str, tmp_path: Path) -> Path:
    """The local world's folder (on postgres, only a path the helpers pass along)."""
    return tmp_path / "wdk"


@pytest.fixture
def subprocess_env(e2e_world: str) -> dict[str, str]:
    """Environment for child processes that import the test flows (and use this test's world)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), env.get("PYTHONPATH", "")) if p)
    return env
