"""The test PostgreSQL server: its URL, a reachability probe that skips with a
printed reason, and per-test schemas; and `private_cluster()`, a throwaway
server of its own for tests that stop or restart PostgreSQL (the shared one
must stay up for everybody else). Imported by name (`pg_support`) from the
worlds and e2e test folders; a conftest is never imported by name."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

DEFAULT_TEST_URL = "postgresql://postgres@127.0.0.1:5432/test"
_reachable: dict[str, str | None] = {}


def postgres_url() -> str:
    return (
        os.environ.get("WDK_TEST_POSTGRES_URL")
        or os.environ.get("WDK_POSTGRES_URL")
        or DEFAULT_TEST_URL
    )


def require_postgres() -> str:
    """The test server's URL, or skip the test with the reason it is unusable."""
    url = postgres_url()
    if url not in _reachable:
        # A thread of its own: the caller may be inside a running event loop.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            _reachable[url] = pool.submit(asyncio.run, _probe(url)).result()
    reason = _reachable[url]
    if reason is not None:
        print(f"\nskipping postgres tests: {reason}")
        pytest.skip(f"no postgres server: {reason}")
    return url


async def _probe(url: str) -> str | None:
    try:
        import asyncpg
    except ImportError:
        return "asyncpg is not installed (pip install 'wdk[postgres]')"
    from wdk.worlds.pg_connect import describe

    try:
        conn = await asyncpg.connect(url, timeout=3)
    except Exception as exc:
        return f"{describe(url)} unreachable ({type(exc).__name__}: {exc})"
    await conn.close()
    return None


def unique_schema() -> str:
    return f"wdk_test_{uuid.uuid4().hex[:12]}"


async def drop_schema(url: str, schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=10)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


# --- a private cluster ---------------------------------------------------------------


@dataclass(frozen=True)
class PrivateCluster:
    """A PostgreSQL server of one test's own: its data in a temporary folder,
    listening on 127.0.0.1 on a free port, trusting local users, database `test`.
    Stop and start it at will (`ctl("stop")`); `private_cluster()` removes it."""

    bin_dir: Path
    data_dir: Path
    port: int
    user: str | None  # who owns the data folder when this process is root

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/test"

    def command(self, program: str, *args: str) -> list[str]:
        """Argv to run one of the server's programs as the cluster's owner."""
        argv = [str(self.bin_dir / program), *args]
        return argv if self.user is None else ["runuser", "-u", self.user, "--", *argv]

    def ctl(self, action: str) -> list[str]:
        """`pg_ctl start|stop` for this cluster (stop is "fast": sessions are cut);
        run it with cwd=data_dir."""
        args = ["-D", str(self.data_dir), "-w", "-t", "60"]
        if action == "start":
            # -k: its own socket folder, so no system folder needs to be writable.
            options = f"-p {self.port} -h 127.0.0.1 -k {self.data_dir} -c fsync=off"
            args += ["-l", str(self.data_dir / "server.log"), "-o", options]
        elif action == "stop":
            args += ["-m", "fast"]
        return self.command("pg_ctl", *args, action)

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return (self.data_dir / "server.log").read_text(errors="replace")[-3000:]
        return ""


def find_postgres_bin() -> Path | None:
    """The folder of the installed server's initdb and pg_ctl (the newest version's)."""
    found = shutil.which("initdb")
    if found:  # often a link from /usr/local/bin: its siblings are where it points
        return Path(found).resolve().parent
    candidates = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    candidates.sort(key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _run(
    argv: list[str], what: str, cwd: Path | None = None, log: Callable[[], str] = str
) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=cwd)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({proc.returncode}): {proc.stdout}{proc.stderr}{log()}")


def _owner_when_root() -> str | None:
    """initdb refuses root: a root test process runs the server as `postgres`."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no `postgres` user to own a private cluster")
    if shutil.which("runuser") is None:
        pytest.skip("running as root without `runuser`: cannot start a private cluster")
    return "postgres"


@contextlib.contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    """Start a fresh cluster for the caller, or skip (printing why) when the
    PostgreSQL server programs are not installed; stopped and removed after."""
    bin_dir = find_postgres_bin()
    if bin_dir is None or not (bin_dir / "pg_ctl").exists():
        print("\nskipping: the PostgreSQL server programs (initdb, pg_ctl) are not installed")
        pytest.skip("initdb/pg_ctl not installed: no private PostgreSQL cluster")
    user = _owner_when_root()
    # Under /tmp, not pytest's tmp_path: that one is private to root.
    data_dir = Path(tempfile.mkdtemp(prefix="wdk-test-pg-"))
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(data_dir, entry.pw_uid, entry.pw_gid)
    cluster = PrivateCluster(bin_dir, data_dir, _free_port(), user)
    started = False
    try:
        init = ["-D", str(data_dir), "-U", "postgres", "--auth=trust", "--no-sync"]
        # Run from its folder: the caller's may be closed to the cluster's owner.
        initdb = cluster.command("initdb", *init, "-E", "UTF8", "--no-locale")
        _run(initdb, "initdb", cwd=data_dir)
        started = True  # from here on it may be running, even if start fails
        _run(cluster.ctl("start"), "pg_ctl start", cwd=data_dir, log=cluster.log)
        createdb = ["-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres", "test"]
        _run([str(bin_dir / "createdb"), *createdb], "createdb")
        yield cluster
    finally:
        if started:
            # "immediate": the test may have left it stopped, or mid-restart.
            stop = cluster.command("pg_ctl", "-D", str(data_dir), "-m", "immediate", "-w", "stop")
            subprocess.run(stop, capture_output=True, timeout=120, cwd=data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)
