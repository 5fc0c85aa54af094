"""`wdk worker` on a store it cannot use: one line saying what is wrong, never
a traceback; a database that drops the connection while the worker opens it
is retried with back-off until it answers."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit

import pytest

TESTS = Path(__file__).resolve().parent.parent


def _pg_support() -> ModuleType:
    """tests/worlds/pg_support.py (shared with the worlds and e2e folders)."""
    if "pg_support" in sys.modules:
        return sys.modules["pg_support"]
    spec = importlib.util.spec_from_file_location("pg_support", TESTS / "worlds" / "pg_support.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["pg_support"] = module
    spec.loader.exec_module(module)
    return module


def _worker(*args: str, env: dict[str, str] | None = None, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "wdk", "worker", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )


def _read_only_dir(tmp_path: Path) -> Path:
    """A folder this process cannot create files in (root ignores modes: /sys)."""
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o555)
        return folder / "wdk"
    if os.access("/sys", os.W_OK) and not _sysfs_refuses():
        pytest.skip("running as root with a writable /sys: no read-only folder to use")
    return Path("/sys/wdk-test-data-dir")


def _sysfs_refuses() -> bool:
    try:
        os.mkdir("/sys/wdk-test-probe")
    except OSError:
        return True
    os.rmdir("/sys/wdk-test-probe")
    return False


@pytest.mark.parametrize("case", ["read-only folder", "parent is a file", "store is a folder"])
def test_a_store_that_cannot_be_used_is_one_line(tmp_path: Path, case: str) -> None:
    if case == "read-only folder":
        data_dir = _read_only_dir(tmp_path)
        expected = f"wdk: error: cannot create the wdk data dir {data_dir}: "
    elif case == "parent is a file":
        (tmp_path / "a-file").write_text("")
        data_dir = tmp_path / "a-file" / "wdk"
        expected = f"wdk: error: cannot create the wdk data dir {data_dir}: Not a directory"
    else:
        data_dir = tmp_path / "wdk"
        (data_dir / "wdk.sqlite3").mkdir(parents=True)
        expected = f"wdk: error: cannot use {data_dir / 'wdk.sqlite3'}: it is a directory"
    proc = _worker("--data-dir", str(data_dir), cwd=tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert out == ""
    assert err.startswith(expected) and err.count("\n") == 1, err


class DroppingProxy:
    """A TCP proxy to the test PostgreSQL server that cuts its first `drops`
    connections right after the server's first reply (the worker is opening
    the store then), and passes every later one through."""

    def __init__(self, host: str, port: int, drops: int) -> None:
        self._target = (host, port)
        self._drops = drops
        self.dropped = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return  # closed
            upstream = socket.create_connection(self._target)
            self._sockets += [client, upstream]
            drop = self.dropped < self._drops
            self.dropped += drop
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, drop), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket, cut: bool) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
                if cut:
                    break
        except OSError:
            pass
        for sock in (source, sink) if cut else (sink,):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self._server.close()
        for sock in self._sockets:
            sock.close()


@pytest.fixture
def pg() -> Iterator[tuple[str, str]]:
    """(URL, schema) on the test server; the schema is dropped afterwards."""
    support = _pg_support()
    url = support.require_postgres()
    schema = support.unique_schema()
    yield url, schema
    asyncio.run(support.drop_schema(url, schema))


def _wait_for_line(stream: object, text: str, deadline: float) -> str:
    """The first line of `stream` that contains `text` (reading in a thread)."""
    found: list[str] = []

    def read() -> None:
        for line in stream:  # type: ignore[attr-defined]
            if text in line:
                found.append(line)
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(max(0.0, deadline - time.monotonic()))
    assert found, f"no line with {text!r} before the deadline"
    return found[0]


def test_a_connection_dropped_while_opening_is_retried(tmp_path: Path, pg: tuple[str, str]) -> None:
    url, schema = pg
    target = urlsplit(url)
    proxy = DroppingProxy(target.hostname or "127.0.0.1", target.port or 5432, drops=2)
    proxied = target._replace(netloc=f"{target.username or 'postgres'}@127.0.0.1:{proxy.port}").geturl()
    env = {"WDK_WORLD": "postgres", "WDK_POSTGRES_URL": proxied, "WDK_POSTGRES_SCHEMA": schema}
    proc = _worker(env=env, cwd=tmp_path)
    try:
        started = _wait_for_line(proc.stdout, "on the postgres world", time.monotonic() + 60)
        assert started.startswith("wdk worker ")
        assert proxy.dropped == 2
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        proxy.close()
    assert proc.returncode == 0, err
    lines = err.splitlines()
    assert 1 <= len(lines) <= 2, err  # one line per failed attempt, no traceback
    for line, delay in zip(lines, ("0.5", "1"), strict=False):
        assert line.startswith("wdk worker: postgres world: "), line
        assert line.endswith(f"; retrying in {delay} s"), line


def test_only_asyncpgs_abandoned_connect_warning_is_dropped(caplog: pytest.LogCaptureFixture) -> None:
    from wdk.cli.worker import _quiet_abandoned_connects

    loop = asyncio.new_event_loop()
    try:
        _quiet_abandoned_connects(loop)
        never = "Future exception was never retrieved"
        loop.call_exception_handler(
            {"message": never, "exception": ConnectionError("unexpected connection_lost() call")}
        )
        assert caplog.records == []
        loop.call_exception_handler({"message": never, "exception": ConnectionError("reset by peer")})
        assert [r.getMessage() for r in caplog.records] == [never]
    finally:
        loop.close()
