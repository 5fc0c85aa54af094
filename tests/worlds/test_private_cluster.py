"""pg_support.private_cluster: a server a test may stop without stopping
anybody else's (the shared test server stays up)."""

from __future__ import annotations

import subprocess

import pytest
from pg_support import PrivateCluster, postgres_url, private_cluster, require_postgres

asyncpg = pytest.importorskip("asyncpg")


async def answers(url: str) -> bool:
    try:
        conn = await asyncpg.connect(url, timeout=5)
    except (OSError, asyncpg.PostgresError):
        return False
    try:
        return bool(await conn.fetchval("SELECT 1"))
    finally:
        await conn.close()


def ctl(cluster: PrivateCluster, action: str) -> None:
    proc = subprocess.run(
        cluster.ctl(action), capture_output=True, text=True, timeout=120, cwd=cluster.data_dir
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr + cluster.log()


async def test_a_private_cluster_stops_and_starts_alone() -> None:
    require_postgres()
    with private_cluster() as cluster:
        assert cluster.url != postgres_url() and cluster.port != 5432
        assert await answers(cluster.url)
        ctl(cluster, "stop")
        assert not await answers(cluster.url)
        assert await answers(postgres_url())  # the shared server did not go down with it
        ctl(cluster, "start")
        assert await answers(cluster.url)
        data_dir = cluster.data_dir
    assert not data_dir.exists()
    assert not await answers(cluster.url)


def test_without_initdb_it_skips_saying_why(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import pg_support

    monkeypatch.setattr(pg_support, "find_postgres_bin", lambda: None)
    with pytest.raises(pytest.skip.Exception, match="initdb"), private_cluster():
        pass
    assert "initdb" in capsys.readouterr().out
